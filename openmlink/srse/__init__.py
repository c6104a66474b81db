"""SRSE: what must outlive a restart, persisted (SQLite), and the history of chosen records."""

from ._history import TRADING_HISTORY, History, Version
from ._journal import Journal, JournalStore
from ._persist import RecordStore

__all__ = ["TRADING_HISTORY", "History", "Journal", "JournalStore", "RecordStore", "Version"]
