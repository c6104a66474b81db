"""An in-process SQL endpoint for tests: registry, bus, store and history on an asyncio loop in
a thread (the loop owns the store, as in ``openmlink serve``), and clients that connect to it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from openmlink.bus import Event, InProcessBus
from openmlink.gateway import ApiKeys, Principal
from openmlink.schema import decode_record, registry
from openmlink.srse import History
from openmlink.srse.sql import EngineLimits, SqlConfig, SqlServer
from openmlink.store import Store

T = TypeVar("T")

#: keys of the tests: an unbound development key and two firms' keys
DEV = Principal("DEV0-0000-0000-0001", "dev")
ACME = Principal("ACME-0000-0000-0001", "ann", "ACME")
ZETA = Principal("ZETA-0000-0000-0001", "zed", "ZETA")
ACME_MD = Principal("ACME-0000-0000-0002", "ann", "ACME", frozenset({"OptAnalytics"}))


class SqlHarness:
    """A running SQL endpoint over a fresh store; ``call`` runs a function on its loop."""

    def __init__(self, data_dir: Path, limits: EngineLimits | None = None,
                 keys: Iterable[Principal] = (DEV, ACME, ZETA, ACME_MD)) -> None:
        self.reg = registry()
        self.bus = InProcessBus()
        self.store = Store(self.reg)
        self.store.attach(self.bus)
        self.history = History(data_dir / "history.sqlite3", self.reg)
        self.keys = ApiKeys({p.key: p for p in keys})
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        cfg = SqlConfig(port=0, limits=limits or EngineLimits(time_cap_s=20.0))
        self.server: SqlServer = self.call(
            lambda: SqlServer(self.reg, self.store, self.keys.principals, self.history, cfg))
        self.port = asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)

    def call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(60)

    def publish(self, mtype: str, message: dict[str, Any], sent_ts: int = 0) -> dict[str, Any]:
        """Publish one record (MLink JSON body) on the bus, on the loop thread."""
        mt = self.reg[mtype]
        rec = decode_record(mt, message)
        self.call(lambda: self.bus.publish(Event(mt, "upsert", rec, sent_ts, True)))
        return rec

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
        self.history.close()

    def connect_mysql(self, who: Principal = DEV, **kw: Any) -> Any:
        import mysql.connector
        return mysql.connector.connect(host="127.0.0.1", port=self.port, user=who.user_name,
                                       password=who.key, **kw)

    def connect_pymysql(self, who: Principal = DEV, **kw: Any) -> Any:
        import pymysql
        return pymysql.connect(host="127.0.0.1", port=self.port, user=who.user_name,
                               password=who.key, **kw)
