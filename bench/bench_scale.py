"""Scale-out benchmark (issue 17), first part: the NATS bus against the in-process bus.

Starts its own ``nats-server -js`` (the ``nats`` extra) on a free port with a temporary store,
and two ``NatsBus`` in this process (a sender and a receiver, each with its store attached),
then prints:

* publish -> stored-at-the-receiver latency of single records (p50, p99), in-process vs
  NATS (records go through JetStream: each is acknowledged);
* the same for one option-quote column batch of one ticker (``rows`` rows);
* column-batch throughput through NATS: option-quote rows per second delivered into the
  receiver's table, batches of ``rows`` rows spread over 50 tickers.

Then, with real ``openmlink serve`` processes on the same server (``bench_scale_procs.py``):
publish -> WebSocket-client latency through a NATS gateway process vs an in-process platform;
updates/s delivered to WebSocket clients (in several client processes) by 1 vs 2 gateway
processes; the implied engine's first Loop pass with 1 vs 2 engine processes
(``--partition``, universe ``--engine-universe``: full by default); failover time of leased
engine processes (one SIGKILLed), and of the order manager (``bench_scale_trading.py``: the
holder of the trading lease SIGKILLed).  Every figure is printed with CPU seconds and the load
average: on a loaded host, wall figures are inflated.

Usage: python bench/bench_scale.py [records] [rows] [--universe U] [--clients C]
       [--client-procs P] [--quote-rate R] [--seconds S] [--engine-universe U]
       [--only latency|gateways|engines|failover]

On a quiet machine with at least 8 cores (the lead's run):
    python bench/bench_scale.py --universe default --clients 64 --client-procs 4
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from openmlink.bus import ColumnBatch, Event, InProcessBus, NatsBus
from openmlink.schema import TickerKey, key_member_names, registry
from openmlink.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' helpers
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scale_procs as bp

from tests.support.nats import NatsServer

REG = registry()
ITEM = REG["TickerItemDef"]
NBBO = REG["OptionNbboQuote"]


def _quotes(tks: list[str], rows: int, price: float) -> ColumnBatch:
    n = rows
    tk = np.array([tks[i % len(tks)] for i in range(n)], dtype=object)
    return ColumnBatch(NBBO, {
        "okey.at": np.full(n, key_member_names("at").index("EQT"), np.int16),
        "okey.ts": np.full(n, key_member_names("ts").index("NMS"), np.int16),
        "okey.tk": tk, "okey.dt": np.full(n, 20_600, np.int32),
        "okey.xx": np.arange(n, dtype=np.float64) // len(tks) + 1.0,
        "okey.cp": np.zeros(n, np.int8),
        "bidPrice": np.full(n, price), "askPrice": np.full(n, price + 0.1),
        "bidSize": np.full(n, 10, np.int64), "askSize": np.full(n, 12, np.int64)}, 1)


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q))


def _inprocess(records: int, rows: int) -> tuple[list[float], list[float]]:
    bus = InProcessBus()
    Store(REG).attach(bus)
    ev, cb = [], []
    for i in range(records):
        rec = {"ticker": TickerKey("EQT", "NMS", f"T{i % 50}"), "basketNumber": i,
               "userName": "u"}
        t0 = time.perf_counter()
        bus.publish(Event(ITEM, "upsert", rec, i))
        ev.append((time.perf_counter() - t0) * 1e6)
    for i in range(max(20, records // 20)):
        b = _quotes(["SPY"], rows, 1.0 + i)
        t0 = time.perf_counter()
        bus.publish(b)
        cb.append((time.perf_counter() - t0) * 1e6)
    return ev, cb


async def _nats(url: str, records: int, rows: int) -> tuple[list[float], list[float], float]:
    a, b = NatsBus(url), NatsBus(url)
    Store(REG).attach(a)
    store_b = Store(REG)
    store_b.attach(b)
    arrived: dict[Any, float] = {}

    def mark(msg: Any) -> None:
        arrived[len(arrived)] = time.perf_counter()

    b.subscribe(None, mark)
    await a.connect()
    await b.connect()
    ev: list[float] = []
    for i in range(records):  # one at a time: each waits for its arrival
        rec = {"ticker": TickerKey("EQT", "NMS", f"T{i % 50}"), "basketNumber": i,
               "userName": "u"}
        n0 = len(arrived)
        t0 = time.perf_counter()
        a.publish(Event(ITEM, "upsert", rec, i))
        while len(arrived) == n0:
            await asyncio.sleep(0)
        ev.append((arrived[n0] - t0) * 1e6)
    cb: list[float] = []
    for i in range(max(20, records // 20)):
        n0 = len(arrived)
        t0 = time.perf_counter()
        a.publish(_quotes(["SPY"], rows, 1.0 + i))
        while len(arrived) == n0:
            await asyncio.sleep(0)
        cb.append((arrived[n0] - t0) * 1e6)
    # throughput: 200 batches of ``rows`` rows over 50 tickers, as fast as they go
    tks = [f"U{i}" for i in range(50)]
    batches = [_quotes(tks, rows, 2.0 + i) for i in range(200)]
    n0 = len(arrived)
    want = n0 + 200 * 50
    t0 = time.perf_counter()
    for bt in batches:
        a.publish(bt)
        await asyncio.sleep(0)
    await a.flush(60)
    while len(arrived) < want and time.perf_counter() - t0 < 60:
        await asyncio.sleep(0.001)
    rate = (len(arrived) - n0) / 50 * rows / (time.perf_counter() - t0)
    await a.close()
    await b.close()
    return ev, cb, rate


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("records", nargs="?", type=int, default=2000)
    ap.add_argument("rows", nargs="?", type=int, default=1000)
    ap.add_argument("--universe", default="default",
                    help="simulator universe of the market (gateways and failover parts)")
    ap.add_argument("--clients", type=int, default=64, help="WebSocket clients (gateways part)")
    ap.add_argument("--client-procs", type=int, default=4,
                    help="processes running the clients (gateways part)")
    ap.add_argument("--engine-universe", default="full",
                    help="simulator universe of the engines part (Loop 1 vs 2 processes)")
    ap.add_argument("--samples", type=int, default=2000,
                    help="rows of the publish -> WebSocket client latency (at 200/s)")
    ap.add_argument("--quote-rate", type=float, default=0.2,
                    help="the market's --quote-rate (gateways part: enough to load a gateway)")
    ap.add_argument("--seconds", type=float, default=20.0, help="streaming seconds per run")
    ap.add_argument("--only", choices=("latency", "gateways", "engines", "failover"))
    a = ap.parse_args()
    records, rows = a.records, a.rows
    print(f"bench_scale: {os.cpu_count()} CPUs, {bp.load()} at start")
    t_cpu = time.process_time()
    fig: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as d:
        srv = NatsServer(Path(d))
        url = srv.url
        try:
            if a.only in (None, "latency"):
                ev_i, cb_i = _inprocess(records, rows)
                ev_n, cb_n, rate = asyncio.run(_nats(url, records, rows))
                _latency(records, rows, ev_i, cb_i, ev_n, cb_n, rate)
                print(f"  (this process: {time.process_time() - t_cpu:.1f} CPU s; {bp.load()})")
                fig["latency"] = bp.latency(url, a.samples)
            if a.only in (None, "gateways"):
                fig["gateways"] = bp.gateways(url, a.universe, a.clients, a.seconds,
                                              a.quote_rate, a.client_procs)
            if a.only in (None, "engines"):
                fig["engines"] = bp.engines(url, a.engine_universe)
            if a.only in (None, "failover"):
                fig["failover"] = bp.failover(url, a.universe)
                import bench_scale_trading

                fig["trading"] = bench_scale_trading.trading_failover(url)
        finally:
            srv.stop()
    _summary(fig)


def _summary(fig: dict[str, Any]) -> None:
    """The issue's four figures of this run, together (NaN: that part did not get there)."""
    print(f"\nsummary (issue 17; {os.cpu_count()} CPUs, {bp.load()} at the end)")
    if (g := fig.get("gateways")) is not None:
        r1, r2 = g["rate"]
        ratio = r2 / r1 if r1 > 0 else float("nan")
        per = ", ".join(f"{x:,.0f}" for x in g["per_cpu"])
        busy = "; ".join("/".join(f"{b:.0%}" for b in run) for run in g["busy"])
        print(f"  updates/s, 1 vs 2 gateways:        {r1:,.0f} vs {r2:,.0f} = {ratio:.2f}x "
              f"(target >= 1.7x); updates per gateway CPU s (1 gw | 2 gws): {per}; "
              f"gateways busy {busy} of a core")
    if (e := fig.get("engines")) is not None:
        (w1, c1), (w2, c2) = e
        print(f"  engine Loop, 1 vs 2 processes:     {w1:.1f} vs {w2:.1f} s wall "
              f"({w1 / w2 if w2 > 0 else float('nan'):.2f}x); Loop CPU {c1:.1f} vs {c2:.1f} s")
    if (lat := fig.get("latency")) is not None:
        print(f"  publish -> client p99:             in-process {lat['inprocess']:.2f} ms, "
              f"NATS {lat['nats']:.2f} ms")
    if (f := fig.get("failover")) is not None:
        trading = fig.get("trading", float("nan"))
        print(f"  failover after a SIGKILL:          implied engine: first {f[0]:.2f} s, every "
              f"underlier {f[1]:.2f} s; order manager: lease taken {trading:.2f} s")


def _latency(records: int, rows: int, ev_i: list[float], cb_i: list[float], ev_n: list[float],
             cb_n: list[float], rate: float) -> None:
    print(f"records ({records}): publish -> stored, microseconds")
    print(f"  in-process      p50 {_pct(ev_i, 50):9.1f}   p99 {_pct(ev_i, 99):9.1f}")
    print(f"  NATS JetStream  p50 {_pct(ev_n, 50):9.1f}   p99 {_pct(ev_n, 99):9.1f}")
    print(f"column batch ({rows} rows, one ticker): publish -> stored, microseconds")
    print(f"  in-process      p50 {_pct(cb_i, 50):9.1f}   p99 {_pct(cb_i, 99):9.1f}")
    print(f"  NATS core       p50 {_pct(cb_n, 50):9.1f}   p99 {_pct(cb_n, 99):9.1f}")
    print(f"column-batch throughput through NATS: {rate:,.0f} option-quote rows/s "
          f"(batches of {rows} rows over 50 tickers)")


if __name__ == "__main__":
    main()
