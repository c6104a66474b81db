"""Records that must outlive a restart (client orders, limits, calculator inputs, client theo
surfaces), kept in a SQLite file and replayed onto the bus at start-up.

The store applies every record first (it subscribes to all types); this module then writes the
*stored* record, so a merged update persists whole. One row per (message type, pkey).

Where the bus runs on an event loop (a served platform), the SQLite work is not done on the
loop's thread: each change is encoded there and queued, and a writer thread of the store's own
writes everything queued in one transaction (sqlite3 releases the GIL while it steps and
commits, so the loop goes on meanwhile); ``settled()`` is a future done once every change
queued so far is committed -- the REST and WebSocket post paths answer a post only then, so an
``OK`` still means the record is in the file (issue 11 tenth pass).  Without a running loop
(in-process callers, tests) a change is written and committed at once, as before.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from ..bus import Bus, ColumnBatch, Event
from ..schema import MsgType, Registry, decode_record, pkey_of, pkey_text
from ..store import Store
from ._bodies import stored_bodies
from ._checkpoint import Checkpointer

__all__ = ["RecordStore"]

log = logging.getLogger("openmlink.srse")

_UPSERT = "INSERT OR REPLACE INTO records (msg, pkey, body, sent_ts) VALUES (?, ?, ?, ?)"
_DELETE = "DELETE FROM records WHERE msg = ? AND pkey = ?"

#: changes queued for the writer thread at most; a post that finds the queue full writes on
#: its own thread (bounded memory; the writer is behind only if the disk is)
PENDING_MAX = 65536

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
        # the writer thread (module docstring): ``_lock`` guards the queue and ``_last`` (the
        # future of the newest queued batch); ``_db_lock`` the connection
        self._lock = threading.Lock()
        self._db_lock = threading.Lock()
        self._wake = threading.Event()
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._futs: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._last: asyncio.Future[None] | None = None
        self._stopping = False
        self._writer: threading.Thread | None = None
        self.batches = 0  # transactions the writer thread committed

    def close(self) -> None:
        self._stopping = True
        if self._writer is not None:
            self._wake.set()
            self._writer.join()
            self._writer = None
        self.checkpointer.stop()
        with self._db_lock:
            self._write_pending()
            self._db.close()

    def settled(self) -> asyncio.Future[None] | None:
        """A future done once every change queued so far is committed (None: nothing is
        waiting).  Call on the event loop's thread."""
        last = self._last
        return None if last is None or last.done() else last

    def flush(self) -> None:
        """Commit every queued change now (on the caller's thread)."""
        with self._db_lock:
            self._write_pending()

    def _queue(self, op: str, args: tuple[Any, ...]) -> bool:
        """Queue a change for the writer thread (True), or False when the caller should write
        it itself: no running event loop on this thread, a closing store, a full queue."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if self._stopping or len(self._pending) >= PENDING_MAX:
            return False
        with self._lock:
            if not self._pending or self._last is None or self._last.done():
                self._last = loop.create_future()
                self._futs.append((loop, self._last))
            self._pending.append((op, args))
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name="srse-records",
                                            daemon=True)
            self._writer.start()
        self._wake.set()
        return True

    def _write_pending(self) -> None:
        """Write and commit every queued change in one transaction, then mark their futures
        done on their loops (call with ``_db_lock`` held)."""
        with self._lock:
            ops, self._pending = self._pending, []
            futs, self._futs = self._futs, []
        err: sqlite3.Error | None = None
        if ops:
            try:
                with self._db:
                    self._db.execute("BEGIN")
                    for op, args in ops:
                        self._db.execute(op, args)
                self.batches += 1
            except sqlite3.Error as e:  # the posts waiting are answered with the error
                log.error("srse: writing %d queued records failed: %s", len(ops), e)
                err = e
        for loop, fut in futs:
            try:
                loop.call_soon_threadsafe(_settle, fut, err)
            except RuntimeError:  # the loop closed: nobody waits
                pass

    def _write_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._db_lock:
                self._write_pending()
            if self._stopping:
                return

    def count(self, msg: str | None = None) -> int:
        with self._db_lock:
            self._write_pending()
            if msg is None:
                return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])
            return int(self._db.execute("SELECT COUNT(*) FROM records WHERE msg = ?",
                                        (msg,)).fetchone()[0])

    def load(self, reg: Registry, bus: Bus) -> int:
        """Publish every persisted record onto the bus; returns how many were loaded."""
        n = 0
        self.flush()  # (called before ``attach``: no writer thread runs meanwhile)
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
            args: tuple[Any, ...] = (mt.name, pkey_text(mt, pkey_of(mt, msg.rec)))
            if not self._queue(_DELETE, args):
                with self._db_lock:
                    self._write_pending()  # in order after what was queued
                    self._db.execute(_DELETE, args)
            return
        bodies = stored_bodies(store, mt, msg)
        if len(bodies) == 1:
            b = bodies[0]
            args = (mt.name, b.pkey, b.body, b.sent_ts)
            if not self._queue(_UPSERT, args):
                with self._db_lock:
                    self._write_pending()
                    self._db.execute(_UPSERT, args)
        elif bodies:  # a column batch: its rows in one transaction
            with self._db_lock:
                self._write_pending()
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany(_UPSERT, [(mt.name, b.pkey, b.body, b.sent_ts)
                                                   for b in bodies])


def _settle(fut: asyncio.Future[None], err: BaseException | None) -> None:
    if fut.done():
        return
    if err is None:
        fut.set_result(None)
    else:
        fut.set_exception(err)
