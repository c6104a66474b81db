"""A durable key/value journal for engine state (the order manager's brokers, fills, events).

Rows are ``(ns, key) -> body`` (bytes).  ``commit`` writes a batch of puts and deletes in one
SQLite transaction: after it returns, the batch is in the WAL file (a ``kill -9`` loses
nothing that ``commit`` returned from); with ``fsync=True`` it is also fsynced
(``synchronous=FULL``: survives power loss), otherwise the WAL is fsynced at checkpoints only
(``synchronous=NORMAL``).  Either way a batch is all-or-nothing, so state and the fills that
produced it can never disagree after a crash.

Checkpoints (copying the WAL into the database file, with its fsyncs) are off the committing
thread: SQLite's automatic checkpoint is disabled and a background thread with its own
connection runs a PASSIVE checkpoint every ``checkpoint_s`` seconds (it never blocks a
commit).  The WAL stays bounded: once a checkpoint has copied every frame, the next commit
writes the WAL from its start again; should the WAL still pass ``wal_max_pages`` (the
checkpointer starved), the committing thread checkpoints itself, as SQLite would.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

__all__ = ["Journal"]

log = logging.getLogger("openmlink.srse")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    ns TEXT NOT NULL,
    k TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (ns, k)
) WITHOUT ROWID
"""


class Journal:
    def __init__(self, path: str | Path, *, fsync: bool = False, checkpoint_s: float = 0.5,
                 wal_max_pages: int = 16_384) -> None:
        """``checkpoint_s``: period of the background checkpointer (0: SQLite's automatic
        checkpoint on the committing thread instead); ``wal_max_pages``: WAL size (pages) at
        which a commit checkpoints itself."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._db.execute(_SCHEMA)
        self.commits = 0
        self.checkpoints = 0
        self.wal_max_pages = wal_max_pages
        self._page = int(self._db.execute("PRAGMA page_size").fetchone()[0])
        self._wal = self.path.with_name(self.path.name + "-wal")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if checkpoint_s > 0:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._thread = threading.Thread(target=self._checkpointer, args=(checkpoint_s,),
                                            name=f"journal-checkpoint {self.path.name}",
                                            daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._db.close()

    def commit(self, puts: Iterable[tuple[str, str, bytes]],
               deletes: Collection[tuple[str, str]] = ()) -> None:
        """Write ``puts`` (ns, key, body) and ``deletes`` (ns, key) atomically."""
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany("INSERT OR REPLACE INTO journal (ns, k, body) VALUES (?, ?, ?)", puts)
            if deletes:
                db.executemany("DELETE FROM journal WHERE ns = ? AND k = ?", deletes)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self.commits += 1
        if self._thread is not None and self.commits % 256 == 0 \
                and self._wal_frames() > self.wal_max_pages:
            # the checkpointer is starved (a loaded machine): the WAL never grows unbounded
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1

    def _wal_frames(self) -> int:
        """Frames in the WAL file (its size over the frame size; 0 when absent)."""
        try:
            size = self._wal.stat().st_size
        except OSError:
            return 0
        return max(0, size - 32) // (self._page + 24)

    def _checkpointer(self, period: float) -> None:
        """Background PASSIVE checkpoints on a connection of its own (SQLite releases the GIL
        while it copies and fsyncs)."""
        try:
            db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            log.exception("journal %s: the checkpointer could not open the file", self.path)
            return
        try:
            while not self._stop.wait(period):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error:
                    log.exception("journal %s: background checkpoint failed", self.path)
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            db.close()

    def items(self, ns: str) -> Iterator[tuple[str, bytes]]:
        """Every (key, body) of namespace ``ns``."""
        yield from self._db.execute("SELECT k, body FROM journal WHERE ns = ?", (ns,))

    def count(self, ns: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM journal WHERE ns = ?", (ns,)).fetchone()[0])
