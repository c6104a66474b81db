"""Why a market source cannot start or stopped: one line naming the file, the place and the
reason (``openmlink.errors.StartupError`` subclasses; the command line prints them without a
traceback)."""

from __future__ import annotations

from pathlib import Path

from ..errors import StartupError

__all__ = ["ChainFormatError", "RecordingError", "SourceError"]


class SourceError(StartupError):
    """A market source cannot start (bad argument, unreadable file) or failed while running."""


class ChainFormatError(SourceError):
    """A Cboe chain file that is not in a layout the loader knows: names the file, the line
    (1-based, as an editor counts) and the column or field."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = f"{path} line {line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {reason}")


class RecordingError(SourceError):
    """A recording that cannot be replayed: names the file, the byte offset and the reason."""

    def __init__(self, path: str | Path, offset: int | None, reason: str) -> None:
        self.path = Path(path)
        self.offset = offset
        self.reason = reason
        where = f"{path} at byte {offset}" if offset is not None else f"{path}"
        super().__init__(f"{where}: {reason}")
