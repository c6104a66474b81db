"""Errors shared across packages.

``StartupError`` and its subclasses stop ``openmlink serve`` before it serves: the command line
prints them as one line (``openmlink: <Class>: <message>``) and exits with status 2.  Market
sources raise the subclasses ``SourceError``, ``ChainFormatError`` and ``RecordingError``
(``openmlink.market``); a finite source failing while the server runs is reported the same way
(status 1).
``PostRejected`` is raised by a bus validator to refuse a posted record before anything is
stored; the gateway answers it in the poster's ``PostAck``/``MLinkDataAck``.
"""

from __future__ import annotations

__all__ = ["ConfigError", "PostRejected", "StartupError"]


class StartupError(Exception):
    """The platform cannot start; the message says what to fix."""

    def one_line(self) -> str:
        """``ClassName: message`` on one line (newlines in the message folded)."""
        text = " ".join(str(self).split("\n"))
        return f"{type(self).__name__}: {text}"


class ConfigError(StartupError):
    """A configuration file or value is invalid; the message names the file, the entry and
    the field."""


class PostRejected(Exception):
    """A validator refused a posted record: nothing was stored and no handler ran.

    ``detail`` goes to the client verbatim; ``result`` is the ``PostAckResult`` name the
    acknowledgement carries (``OtherError`` unless the validator knows better, e.g.
    ``AuthError`` for a firm check).  ``result`` ``OK``: the validator carried the post out
    itself and published its outcome (an operator's bust: trading ``_adapter``); the record
    as posted is not stored, and the acknowledgement says OK."""

    def __init__(self, detail: str, result: str = "OtherError") -> None:
        super().__init__(detail)
        self.detail = detail
        self.result = result
