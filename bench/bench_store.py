"""Live-table benchmark: 1.5 million LiveImpliedQuote-shaped rows.

Prints resident memory after loading, the load rate, and REST latencies measured through the
sans-I/O REST handler (the server's own work, without HTTP):
  - getmsgs for a ticker + delta-band where clause with a view and limit 500 (median, p99),
  - getcount over the whole table (median, p99), and with a where clause.
Usage: python bench/bench_store.py [rows]
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np

from openmlink.bus import ColumnBatch
from openmlink.clock import LiveClock
from openmlink.gateway import ApiKeys, Principal
from openmlink.platform import build_platform
from openmlink.schema._keys import key_member_names
from openmlink.schema._values import datekey_from_text


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_columns(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n_tk = 4000
    tickers = np.array([f"T{i:04d}" for i in range(n_tk)], dtype=object)
    tickers[:3] = ["SPY", "AAPL", "QQQ"]
    tk = tickers[rng.integers(0, n_tk, n)]
    base = datekey_from_text("2026-11-27")
    dt = (base + 7 * rng.integers(0, 60, n)).astype(np.int32)
    xx = np.round(rng.uniform(5, 600, n), 1)
    cp = rng.integers(0, 2, n).astype(np.int8)
    # keys must be unique: make strikes unique per row cheaply
    xx = xx + np.arange(n) * 1e-6
    eqt = key_member_names("at").index("EQT")
    nms = key_member_names("ts").index("NMS")
    de = np.where(cp == 0, rng.uniform(0, 1, n), -rng.uniform(0, 1, n))
    cols: dict[str, np.ndarray] = {
        "okey.at": np.full(n, eqt, np.int16), "okey.ts": np.full(n, nms, np.int16),
        "okey.tk": tk, "okey.dt": dt, "okey.xx": xx, "okey.cp": cp,
        "ticker.at": np.full(n, eqt, np.int16), "ticker.ts": np.full(n, nms, np.int16),
        "ticker.tk": tk, "de": de,
    }
    for name in ("uPrc", "uOff", "years", "xAxis", "rate", "sdiv", "ddiv", "oBid", "oAsk",
                 "oBidIv", "oAskIv", "atmVol", "sVol", "sPrc", "sMark", "veSlope", "ga", "th",
                 "ve", "va", "vo", "ro", "ph", "deDecay", "up50", "dn50", "up15", "dn15",
                 "up06", "dn08", "synSpot"):
        cols[name] = rng.standard_normal(n)
    cols["calcSource"] = rng.integers(1, 3, n).astype(np.int16)
    cols["timestamp"] = np.full(n, time.time_ns(), np.int64)
    return cols


def timeit(fn, reps: int) -> tuple[float, float]:
    xs = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t)
    xs.sort()
    return xs[len(xs) // 2] * 1e3, xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1e3


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_500_000
    rng = np.random.default_rng(1)
    keys = ApiKeys()
    keys.add(Principal("BENCH"))
    plat = build_platform(keys, clock=LiveClock())
    mt = plat.registry["LiveImpliedQuote"]
    rss0 = rss_mib()
    cols = make_columns(n, rng)
    t = time.perf_counter()
    step = 250_000
    for i in range(0, n, step):
        plat.bus.publish(ColumnBatch(mt, {k: v[i:i + step] for k, v in cols.items()}))
    load_s = time.perf_counter() - t
    del cols
    table = plat.store.table(mt)
    print(f"rows loaded            : {len(table):,} in {load_s:.1f} s ({len(table) / load_s:,.0f} rows/s)")
    print(f"resident memory        : {rss_mib():,.0f} MiB (table and process; {rss0:,.0f} MiB before)")
    h = {"Authorization": "Bearer BENCH"}
    where = "ticker:eq:SPY-NMS-EQT & ((de:cb:-0.60$-0.40) | (de:cb:0.40$0.60))"
    q = [("cmd", "getmsgs"), ("msgType", "LiveImpliedQuote"), ("where", where),
         ("view", "uPrc|oBid|oAsk|oBidIv|oAskIv|sVol|de|ga|th|ve"), ("limit", "500")]
    status, body = plat.rest.handle("GET", q, h, b"")
    assert status == 200 and b'"result":"Ok"' in body, body[-300:]
    med, p99 = timeit(lambda: plat.rest.handle("GET", q, h, b""), 50)
    print(f"getmsgs ticker+delta   : median {med:.1f} ms, p99 {p99:.1f} ms (view, limit 500; "
          f"the same query again: rows served from the encode-once cache)")
    shifts = iter(range(10_000))

    def fresh() -> None:
        k = next(shifts) * 0.0007  # a different delta band each time: every row encoded anew
        w = (f"ticker:eq:SPY-NMS-EQT & ((de:cb:{-0.60 - k:.4f}$-0.40) | (de:cb:0.40${0.60 + k:.4f}))")
        plat.rest.handle("GET", [*q[:2], ("where", w), *q[3:]], h, b"")
        for enc in plat.rest.encoders._enc.values():
            enc._cache.clear()
    med, p99 = timeit(fresh, 50)
    print(f"getmsgs, cold encode   : median {med:.1f} ms, p99 {p99:.1f} ms (cache cleared each time)")
    c = [("cmd", "getcount"), ("msgType", "LiveImpliedQuote")]
    med, p99 = timeit(lambda: plat.rest.handle("GET", c, h, b""), 50)
    print(f"getcount whole table   : median {med:.3f} ms, p99 {p99:.3f} ms")
    cw = [*c, ("where", "de:gt:0.5 & years:lt:1")]
    med, p99 = timeit(lambda: plat.rest.handle("GET", cw, h, b""), 20)
    print(f"getcount where (scan)  : median {med:.1f} ms, p99 {p99:.1f} ms (de:gt:0.5 & years:lt:1)")


if __name__ == "__main__":
    main()
