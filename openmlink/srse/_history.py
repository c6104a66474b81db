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
from ..schema import MsgType, Registry, decode_record, encode_message, pkey_of, pkey_text
from ..store import Store

__all__ = ["TRADING_HISTORY", "History", "Version"]

#: the types whose every version the platform keeps: orders, limits, cancels, broker states and
#: events, executions
TRADING_HISTORY = ("SpdrParentOrder", "SpdrParentLimit", "SpdrParentCancel", "SpdrParentBrkrState",
                   "SpdrParentBrkrEvent", "SpdrParentExecution")

log = logging.getLogger("openmlink.srse")

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
        self._lock = threading.Lock()  # appends on the loop thread, reads from SQL workers
        self._db = sqlite3.connect(":memory:" if self.path is None else str(self.path),
                                   isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._types = {m for (m,) in self._db.execute("SELECT DISTINCT msg FROM versions")}
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
        with self._lock:
            self._commit()
            self._db.close()

    def _commit(self) -> None:
        """Commit the open batch of appends (call with the lock held)."""
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    def _commit_every(self, period: float) -> None:
        while not self._stop.wait(period):
            try:
                with self._lock:
                    self._commit()
            except sqlite3.Error:
                log.exception("srse history: committing a batch of versions failed")

    def types(self) -> set[str]:
        """Names of the types that have (or are recorded into) a history."""
        return self._types | self.attached

    def append(self, mt: MsgType, rec: dict[str, Any], ts: int) -> int:
        """Store one version of ``rec`` (an internal record); returns its sequence number."""
        body = orjson.dumps(encode_message(mt, rec))
        firm = rec.get("clientFirm", "") if mt.field("clientFirm") is not None else ""
        pk = pkey_text(mt, pkey_of(mt, rec)) if mt.pkey else ""
        with self._lock:
            if self._batch and not self._db.in_transaction:
                self._db.execute("BEGIN")
            cur = self._db.execute(
                "INSERT INTO versions (msg, pkey, ts, client_firm, body) VALUES (?, ?, ?, ?, ?)",
                (mt.name, pk, int(ts), str(firm or ""), body))
        self._types.add(mt.name)
        return int(cur.lastrowid or 0)

    def count(self, mt: MsgType | None = None) -> int:
        with self._lock:
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
        with self._lock:
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
        t = store.table(mt)
        if isinstance(msg, ColumnBatch):
            rows = t.live_rows()
            for r in rows[t.row_seq[rows] == t.seq].tolist():  # the rows the batch just wrote
                self.append(mt, t.record(r), msg.sent_ts)
            return
        if msg.kind != "upsert":
            return
        stored = t.get(pkey_of(mt, msg.rec))
        if stored is not None:
            self.append(mt, stored, msg.sent_ts)
