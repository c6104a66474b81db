"""Records that must outlive a restart (client orders, limits, calculator inputs, client theo
surfaces), kept in a SQLite file and replayed onto the bus at start-up.

The store applies every record first (it subscribes to all types); this module then writes the
*stored* record, so a merged update persists whole. One row per (message type, pkey).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import orjson

from ..bus import Bus, ColumnBatch, Event
from ..schema import MsgType, Registry, decode_record, pkey_of, pkey_text
from ..store import Store
from ._bodies import stored_bodies
from ._checkpoint import Checkpointer, begin_write, busy_retry

__all__ = ["RecordStore"]

log = logging.getLogger("openmlink.srse")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    msg TEXT NOT NULL,
    pkey TEXT NOT NULL,
    body BLOB NOT NULL,
    sent_ts INTEGER NOT NULL,
    PRIMARY KEY (msg, pkey)
)
"""


class RecordStore:
    """A SQLite file of the latest record per pkey of the persistent message types."""

    def __init__(self, path: str | Path, *, checkpoint_s: float = 1.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        # every client post commits here on the event loop: its WAL checkpoints (a copy and
        # an fsync every ~1,000 pages) run on a thread of their own, never inside a post
        self.checkpointer = Checkpointer(self.path, self._db, self, every_s=checkpoint_s)

    def close(self) -> None:
        self.checkpointer.stop()
        self._db.close()

    def count(self, msg: str | None = None) -> int:
        if msg is None:
            return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM records WHERE msg = ?", (msg,)).fetchone()[0])

    def load(self, reg: Registry, bus: Bus) -> int:
        """Publish every persisted record onto the bus; returns how many were loaded."""
        n = 0
        for msg, body, sent_ts in self._db.execute("SELECT msg, body, sent_ts FROM records"):
            mt = reg.get(msg)
            if mt is None:
                log.warning("srse: skipping records of unknown type %s", msg)
                continue
            try:
                rec = decode_record(mt, orjson.loads(body))
            except Exception as e:
                log.warning("srse: skipping an unreadable %s record: %s", msg, e)
                continue
            bus.publish(Event(mt, "upsert", rec, int(sent_ts), False))
            n += 1
        return n

    def attach(self, bus: Bus, store: Store, types: Iterable[MsgType]) -> None:
        """Persist every later change of ``types`` (as stored, after the store applied it)."""
        for mt in types:
            def handler(m: Event | ColumnBatch, mt: MsgType = mt) -> None:
                self._on_message(store, mt, m)
            bus.subscribe(mt.name, handler, name="srse")

    def _on_message(self, store: Store, mt: MsgType, msg: Event | ColumnBatch) -> None:
        if isinstance(msg, Event) and msg.kind == "delete":
            self._write("DELETE FROM records WHERE msg = ? AND pkey = ?",
                        [(mt.name, pkey_text(mt, pkey_of(mt, msg.rec)))])
            return
        bodies = stored_bodies(store, mt, msg)
        if bodies:  # a column batch: its rows in one transaction
            self._write(
                "INSERT OR REPLACE INTO records (msg, pkey, body, sent_ts) VALUES (?, ?, ?, ?)",
                [(mt.name, b.pkey, b.body, b.sent_ts) for b in bodies])

    def _write(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        """``sql`` for each of ``rows``, one transaction (``begin_write``: the checkpointer's
        RESTART may hold the write lock for a few ms)."""
        db = self._db
        if len(rows) == 1:  # one statement, its own transaction
            busy_retry(db, sql, rows[0])
        else:
            begin_write(db)
            try:
                db.executemany(sql, rows)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        self.checkpointer.after_commit(db)
