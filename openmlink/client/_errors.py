"""What the client raises."""

from __future__ import annotations

__all__ = ["MLinkConnectionError", "MLinkError"]


class MLinkError(Exception):
    """The server answered with an error record: ``result`` is its result enum name
    (``QueryResult.result``, ``MLinkStreamAck.result``, ...), ``detail`` its text."""

    def __init__(self, result: str, detail: str, record: str = "QueryResult") -> None:
        super().__init__(f"{record} {result}: {detail}" if detail else f"{record} {result}")
        self.result = result
        self.detail = detail
        self.record = record


class MLinkConnectionError(ConnectionError):
    """The endpoint could not be reached or its reply was not MLink JSON."""
