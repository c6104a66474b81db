"""An in-process SQL endpoint for tests: registry, bus, store and history on an asyncio loop in
a thread (the loop owns the store, as in ``openmlink serve``), and clients that connect to it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from openmlink.bus import ColumnBatch, Event, InProcessBus
from openmlink.gateway import ApiKeys, Principal
from openmlink.schema import decode_record, registry
from openmlink.srse import TRADING_HISTORY, History
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
        self.history.attach(self.bus, self.store, [self.reg[n] for n in TRADING_HISTORY])
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

    def publish_columns(self, mtype: str, data: dict[str, Any], sent_ts: int = 0) -> None:
        """Publish a ColumnBatch (the engines' fast path) on the loop thread."""
        mt = self.reg[mtype]
        self.call(lambda: self.bus.publish(ColumnBatch(mt, data, sent_ts)))

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


def implied_quote_columns(n: int, tickers: tuple[str, ...] = ("AAPL", "MSFT", "SPY", "QQQ"),
                          seed: int = 1, t0_ns: int = 1_767_600_000_000_000_000) -> dict[str, Any]:
    """``n`` LiveImpliedQuote records by column (the engine's ColumnBatch form): distinct
    option keys over ``tickers``, 8 expiries, strikes 50..; NaN ask IVs on every 7th row."""
    import numpy as np

    from openmlink.schema import datekey_from_text, key_member_names

    rng = np.random.default_rng(seed)
    i = np.arange(n)
    per_ticker = -(-n // len(tickers))
    tk = np.array(tickers, dtype=object)[i // per_ticker]
    j = i % per_ticker
    dt = datekey_from_text("2026-01-16") + 7 * (j % 8)
    strike = 50.0 + (j // 16)
    cp = (j // 8) % 2
    at = key_member_names("at").index("EQT")
    ts = key_member_names("ts").index("NMS")
    bid_iv = rng.uniform(0.1, 0.6, n)
    ask_iv = bid_iv + 0.01
    ask_iv[::7] = np.nan
    return {
        "okey.at": np.full(n, at, np.int16), "okey.ts": np.full(n, ts, np.int16), "okey.tk": tk,
        "okey.dt": dt.astype(np.int32), "okey.xx": strike, "okey.cp": cp.astype(np.int8),
        "ticker.at": np.full(n, at, np.int16), "ticker.ts": np.full(n, ts, np.int16),
        "ticker.tk": tk, "uPrc": rng.uniform(90, 110, n), "oBid": rng.uniform(0, 5, n),
        "oAsk": rng.uniform(5, 10, n), "oBidIv": bid_iv, "oAskIv": ask_iv,
        "de": rng.uniform(-1, 1, n), "timestamp": np.full(n, t0_ns, np.int64),
    }
