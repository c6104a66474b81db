"""SRSE: what must outlive a restart, persisted (SQLite), and the history of chosen records."""

from ._history import History, Version
from ._persist import RecordStore

__all__ = ["History", "RecordStore", "Version"]
