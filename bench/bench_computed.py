"""Computed-on-read benchmark: LiveImpliedQuoteAdj refreshes over N LiveImpliedQuote rows
(4,000 tickers, as bench_store.py).

Prints the cost of a refresh (what each stream send cycle and REST read of the Adj table runs
first) when: every row is new, nothing changed, one underlier moved, 100 underliers moved, a
batch of parents was rewritten with the same values; and the cost a StockBookQuote write pays
for marking the Adj table stale.
Usage: python bench/bench_computed.py [rows]
"""

from __future__ import annotations

import sys
import time

import numpy as np
from bench_store import make_columns

from openmlink.bus import ColumnBatch, Event
from openmlink.clock import LiveClock
from openmlink.gateway import ApiKeys, Principal
from openmlink.platform import build_platform
from openmlink.schema import TickerKey


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = np.random.default_rng(1)
    keys = ApiKeys()
    keys.add(Principal("BENCH"))
    plat = build_platform(keys, clock=LiveClock())  # registers the Adj table as the server does
    reg = plat.registry
    liq, adj_mt, sbq = reg["LiveImpliedQuote"], reg["LiveImpliedQuoteAdj"], reg["StockBookQuote"]
    cols = make_columns(n, rng)
    cols["uPrc"] = np.full(n, 100.0)
    cols["ga"] = np.abs(cols["ga"]) * 0.01
    cols["ve"] = np.abs(cols["ve"]) + 0.1
    cols["de"] = np.clip(cols["de"], -1, 1)
    for i in range(0, n, 250_000):
        plat.bus.publish(ColumnBatch(liq, {k: v[i:i + 250_000] for k, v in cols.items()}))
    tickers = sorted(set(cols["ticker.tk"][:50_000].tolist()))

    def stock(tk: str, px: float) -> None:
        plat.bus.publish(Event(sbq, "upsert", {"ticker": TickerKey("EQT", "NMS", tk),
                                               "bidPrice1": px - 0.01, "askPrice1": px + 0.01},
                               time.time_ns(), True))

    for tk in tickers:
        stock(tk, 100.0)
    store = plat.store
    adj = store.table(adj_mt)

    def timed(label: str, before: object = None, reps: int = 5) -> None:
        xs = []
        log0 = adj.log_count
        for _ in range(reps):
            if callable(before):
                before()
            t = time.perf_counter()
            store.prepare(adj_mt)
            xs.append(time.perf_counter() - t)
        xs.sort()
        rows = (adj.log_count - log0) / reps
        print(f"{label:<34}: median {xs[len(xs) // 2] * 1e3:8.2f} ms, max {xs[-1] * 1e3:8.2f} ms, "
              f"{rows:,.0f} Adj rows rewritten each")

    t = time.perf_counter()
    store.prepare(adj_mt)
    print(f"rows                              : {n:,} parents, {len(adj):,} Adj rows")
    print(f"first refresh (every row)         : {(time.perf_counter() - t) * 1e3:8.1f} ms")
    timed("nothing changed", reps=50)
    px = iter(np.linspace(100.1, 110, 10_000).tolist())
    timed("one underlier moved (SPY)", lambda: stock("SPY", next(px)), reps=20)
    timed("100 underliers moved", lambda: [stock(tk, next(px)) for tk in tickers[:100]], reps=5)
    same = {k: v[:10_000] for k, v in cols.items()}
    timed("10k parents rewritten, same values", lambda: plat.bus.publish(ColumnBatch(liq, same)), reps=5)
    m = 20_000
    t = time.perf_counter()
    for i in range(m):
        stock("AAPL", 100.0 + (i % 100) * 0.01)
    per = (time.perf_counter() - t) / m * 1e6
    print(f"StockBookQuote write (Adj marked stale, nobody streaming): {per:.1f} us each")


if __name__ == "__main__":
    main()
