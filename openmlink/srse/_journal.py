"""A durable key/value journal for engine state (the order manager's brokers, fills, events).

Rows are ``(ns, key) -> body`` (bytes).  ``commit`` writes a batch of puts and deletes in one
SQLite transaction: after it returns, the batch is in the WAL file (a ``kill -9`` loses
nothing that ``commit`` returned from); with ``fsync=True`` it is also fsynced
(``synchronous=FULL``: survives power loss), otherwise the WAL is fsynced at checkpoints only
(``synchronous=NORMAL``).  Either way a batch is all-or-nothing, so state and the fills that
produced it can never disagree after a crash.  WAL checkpoints run on a thread of their own
(``_checkpoint.Checkpointer``), never inside ``commit``.

The connection's page cache holds ``cache_mib`` MiB (SQLite's default is 2 MiB): a commit
rewrites rows spread over the whole table (the order manager's broker bodies), and with the
default cache a journal of a few thousand working orders no longer fits, so every commit read
its pages back from the WAL or the file: a 20 ms tick's commit of 20 broker rows cost 0.5 ms
with 1,200 working orders and 3 ms with 7,200 (issue 11).  Pages are allocated as they are
first read, so a small journal takes what it uses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from ._checkpoint import Checkpointer, begin_write, busy_retry

__all__ = ["Journal", "JournalStore"]


class JournalStore(Protocol):
    """What an engine journals through: ``Journal`` (SQLite, this process's disk) or a
    replicated one (``bus.StreamJournal``: a NATS platform's JetStream)."""

    def commit(self, puts: Iterable[tuple[str, str, bytes]],
               deletes: Collection[tuple[str, str]] = ()) -> None: ...

    def items(self, ns: str) -> Iterator[tuple[str, bytes]]: ...

    def count(self, ns: str) -> int: ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    ns TEXT NOT NULL,
    k TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (ns, k)
) WITHOUT ROWID
"""


_PUT = "INSERT OR REPLACE INTO journal (ns, k, body) VALUES (?, ?, ?)"


class Journal:
    def __init__(self, path: str | Path, *, fsync: bool = False, checkpoint_s: float = 1.0,
                 cache_mib: int = 64) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._db.execute(_SCHEMA)
        self._db.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")  # KiB when negative
        self.commits = 0
        self.checkpointer = Checkpointer(self.path, self._db, self, every_s=checkpoint_s)

    def close(self) -> None:
        self.checkpointer.stop()
        self._db.close()

    def commit(self, puts: Iterable[tuple[str, str, bytes]],
               deletes: Collection[tuple[str, str]] = ()) -> None:
        """Write ``puts`` (ns, key, body) and ``deletes`` (ns, key) atomically."""
        db = self._db
        if not deletes:
            if not isinstance(puts, list):
                puts = list(puts)
            if len(puts) == 1:  # one statement, its own transaction (a post's one row)
                busy_retry(db, _PUT, puts[0])
                self.commits += 1
                self.checkpointer.after_commit(db)
                return
        begin_write(db)
        try:
            db.executemany(_PUT, puts)
            if deletes:
                db.executemany("DELETE FROM journal WHERE ns = ? AND k = ?", deletes)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self.commits += 1
        self.checkpointer.after_commit(db)

    def items(self, ns: str) -> Iterator[tuple[str, bytes]]:
        """Every (key, body) of namespace ``ns``."""
        yield from self._db.execute("SELECT k, body FROM journal WHERE ns = ?", (ns,))

    def count(self, ns: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM journal WHERE ns = ?", (ns,)).fetchone()[0])
