"""History: every version of chosen records (orders, broker states, executions...), kept in a
SQLite file so that it outlives a restart and SQL can read it.

Any engine appends versions with ``append`` (or lets ``attach`` record every change of some
types published on the bus, as stored after the store merged it). Readers take ``versions``:
the records appended after a sequence number, in append order, with their sequence number and
time. Records are stored as MLink JSON bodies, so a schema change never breaks a stored row.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..bus import Bus, ColumnBatch, Event
from ..schema import MsgType, Registry, decode_record, encode_message, fitted, pkey_of, pkey_text
from ..store import Store
from ._bodies import stored_bodies

__all__ = ["TRADING_HISTORY", "History", "Version"]

#: the types whose every version the platform keeps: orders, limits, cancels, broker states and
#: events, executions
TRADING_HISTORY = ("SpdrParentOrder", "SpdrParentLimit", "SpdrParentCancel", "SpdrParentBrkrState",
                   "SpdrParentBrkrEvent", "SpdrParentExecution")

log = logging.getLogger("openmlink.srse")

#: appends kept in memory at most before they are written (into the open transaction)
PENDING_MAX = 4096

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msg TEXT NOT NULL,
    pkey TEXT NOT NULL,
    ts INTEGER NOT NULL,
    client_firm TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS versions_by_msg ON versions (msg, seq);
"""


@dataclass(frozen=True, slots=True)
class Version:
    """One stored version: its sequence number (increasing over the file), the time it was
    appended (ns, the publisher's clock) and the internal record."""

    seq: int
    ts: int
    rec: dict[str, Any]


class History:
    """An append-only SQLite journal of record versions, by message type."""

    def __init__(self, path: str | Path | None, reg: Registry, *, commit_s: float = 0.02) -> None:
        """``path``: the SQLite file (None: in memory, for a server that persists nothing).
        ``commit_s``: appends share one transaction, committed by a background thread every
        ``commit_s`` seconds (0: each append commits at once)."""
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.registry = reg
        # ``_lock`` guards the appends not yet written (taken by appends on the loop thread:
        # only ever held for a list swap or an append); ``_db_lock`` the connection (the
        # committer thread, readers from SQL workers).  An append never waits for a commit.
        self._lock = threading.Lock()
        self._db_lock = threading.Lock()
        self._db = sqlite3.connect(":memory:" if self.path is None else str(self.path),
                                   isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._types = {m for (m,) in self._db.execute("SELECT DISTINCT msg FROM versions")}
        # the next sequence number (assigned here, so that appends wait for one executemany
        # per commit period); AUTOINCREMENT's own counter covers rows since deleted
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'versions'").fetchone()
        self._seq = int(row[0]) if row else 0
        self._pending: list[tuple[int, str, str, int, str, bytes]] = []
        self.attached: set[str] = set()
        self._batch = commit_s > 0
        self._stop = threading.Event()
        self._committer: threading.Thread | None = None
        if self._batch:
            self._committer = threading.Thread(target=self._commit_every, args=(commit_s,),
                                               name="history-commit", daemon=True)
            self._committer.start()

    def close(self) -> None:
        self._stop.set()
        if self._committer is not None:
            self._committer.join()
            self._committer = None
        with self._db_lock:
            self._commit()
            self._db.close()

    def _write(self) -> None:
        """Insert the appends not yet written (call with ``_db_lock`` held: the appends taken
        are written before any reader can query)."""
        with self._lock:
            rows, self._pending = self._pending, []
        if rows:
            if not self._db.in_transaction:
                self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO versions (seq, msg, pkey, ts, client_firm, body) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", rows)

    def _commit(self) -> None:
        """Write and commit the open batch of appends (call with ``_db_lock`` held)."""
        self._write()
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    def _commit_every(self, period: float) -> None:
        while not self._stop.wait(period):
            try:
                with self._db_lock:
                    self._commit()
            except sqlite3.Error:
                log.exception("srse history: committing a batch of versions failed")

    def types(self) -> set[str]:
        """Names of the types that have (or are recorded into) a history."""
        return self._types | self.attached

    def append(self, mt: MsgType, rec: dict[str, Any], ts: int) -> int:
        """Store one version of ``rec`` (an internal record); returns its sequence number."""
        firm = rec.get("clientFirm") or "" if mt.field("clientFirm") is not None else ""
        pk = pkey_text(mt, pkey_of(mt, rec)) if mt.pkey else ""
        return self.append_body(mt, pk, str(firm), fitted(orjson.dumps(encode_message(mt, rec))), ts)

    def append_body(self, mt: MsgType, pkey: str, firm: str, body: bytes, ts: int) -> int:
        """Store one version already encoded: its pkey text, ``clientFirm`` and MLink JSON body
        (``encode_message``); returns its sequence number."""
        with self._lock:
            self._seq += 1
            self._pending.append((self._seq, mt.name, pkey, int(ts), firm, body))
            seq = self._seq
            full = len(self._pending) >= PENDING_MAX
        if not self._batch:
            with self._db_lock:
                self._commit()
        elif full:  # the committer is late: bounded anyway
            with self._db_lock:
                self._write()
        self._types.add(mt.name)
        return seq

    def count(self, mt: MsgType | None = None) -> int:
        with self._db_lock:
            self._write()
            if mt is None:
                return int(self._db.execute("SELECT COUNT(*) FROM versions").fetchone()[0])
            return int(self._db.execute("SELECT COUNT(*) FROM versions WHERE msg = ?",
                                        (mt.name,)).fetchone()[0])

    def versions(self, mt: MsgType, after: int = 0, limit: int | None = None) -> list[Version]:
        """Versions of ``mt`` with a sequence number above ``after``, oldest first (at most
        ``limit``). An unreadable stored row is logged and left out."""
        sql = "SELECT seq, ts, body FROM versions WHERE msg = ? AND seq > ? ORDER BY seq"
        args: tuple[Any, ...] = (mt.name, after)
        if limit is not None:
            sql += " LIMIT ?"
            args = (*args, limit)
        with self._db_lock:
            self._write()
            rows = self._db.execute(sql, args).fetchall()
        out: list[Version] = []
        for seq, ts, body in rows:
            try:
                out.append(Version(int(seq), int(ts), decode_record(mt, orjson.loads(body))))
            except Exception as e:
                log.warning("srse history: skipping unreadable %s version %d: %s", mt.name, seq, e)
        return out

    def attach(self, bus: Bus, store: Store, types: Iterable[MsgType]) -> None:
        """Append every later upsert of ``types`` published on ``bus`` (the stored record, after
        ``store`` applied it; the store must be attached to the bus first)."""
        for mt in types:
            self.attached.add(mt.name)

            def handler(m: Event | ColumnBatch, mt: MsgType = mt) -> None:
                self._on_message(store, mt, m)
            bus.subscribe(mt.name, handler)

    def _on_message(self, store: Store, mt: MsgType, msg: Event | ColumnBatch) -> None:
        for b in stored_bodies(store, mt, msg):
            self.append_body(mt, b.pkey, b.firm, b.body, msg.sent_ts)
