"""Snapshots of a busy ticker at most every ``min_age_s``: the ticker waits, is not lost, and a
ticker never snapshotted goes at once."""

from __future__ import annotations

import asyncio

import numpy as np

from openmlink.bus import ColumnBatch, NatsBus
from openmlink.schema import key_member_names, registry
from openmlink.store import Store
from tests.support.nats import NatsServer, nats_server

__all__ = ["nats_server"]

QUOTE = registry()["StockBookQuote"]


def _quotes(tks: list[str], bid: float) -> ColumnBatch:
    n = len(tks)
    return ColumnBatch(QUOTE, {
        "ticker.at": np.full(n, key_member_names("at").index("EQT"), np.int16),
        "ticker.ts": np.full(n, key_member_names("ts").index("NMS"), np.int16),
        "ticker.tk": np.array(tks, dtype=object),
        "bidPrice1": np.full(n, bid), "askPrice1": np.full(n, bid + 0.05)}, 7)


def test_a_young_snapshot_waits_for_its_age(nats_server: NatsServer) -> None:
    async def main() -> None:
        bus = NatsBus(nats_server.url)
        store = Store(registry())
        store.attach(bus)
        await bus.connect()
        bus.publish(_quotes(["SPY", "AAPL"], 100.0))
        assert bus.send_snapshots(store.ticker_batches, 0.5) == 2  # never snapshotted: now
        bus.publish(_quotes(["SPY"], 101.0))
        bus.publish(_quotes(["IBM"], 50.0))
        assert bus.send_snapshots(store.ticker_batches, 0.5) == 1  # IBM; SPY is too young
        assert bus.send_snapshots(store.ticker_batches, 0.5) == 0
        await asyncio.sleep(0.6)
        assert bus.send_snapshots(store.ticker_batches, 0.5) == 1  # SPY, kept until now
        assert bus.send_snapshots(store.ticker_batches, 0.5) == 0
        await bus.close()

    asyncio.run(main())
