"""SRSE: what must outlive a restart, persisted (SQLite)."""

from ._persist import RecordStore

__all__ = ["RecordStore"]
