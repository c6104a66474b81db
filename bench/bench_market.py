"""Market benchmark: simulator quote rate on the full-market universe and recorder size.

Run: ``python bench/bench_market.py [--universe full] [--steps 20] [--quote-rate 0.02]``.
Prints the universe build time, the snapshot and the sustained requote rate of
``MarketSimulator.step`` (CPU time of this one process, NumPy single-threaded for element-wise
work), the store's ingest rate of those batches, and the recorder's bytes per quote.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from openmlink.bus import ColumnBatch, InProcessBus
from openmlink.clock import SimClock
from openmlink.market import MarketSimulator, Recorder, SimConfig
from openmlink.schema import registry
from openmlink.schema._values import datetime_from_text
from openmlink.store import Store

START = datetime_from_text("2026-11-23 15:00:00")
STEP_NS = 250_000_000


def _quotes(msgs: list) -> int:
    return sum(len(m.data["bidPrice"]) for m in msgs
               if isinstance(m, ColumnBatch) and m.mt.name == "OptionNbboQuote")


def run(universe: str = "full", steps: int = 20, quote_rate: float = 0.02,
        record_steps: int = 10, ingest: bool = True) -> dict[str, float]:
    out: dict[str, float] = {}
    t = time.process_time()
    sim = MarketSimulator(SimConfig(seed=1, universe=universe, quote_rate=quote_rate),
                          start_ns=START)
    out["series"] = len(sim.master.series)
    out["underliers"] = len(sim.master.underliers)
    out["build_s"] = time.process_time() - t

    t = time.process_time()
    snap = sim.snapshot()
    out["snapshot_quotes_per_s"] = _quotes(snap) / (time.process_time() - t)

    t = time.process_time()
    n = 0
    batches: list = []
    for _ in range(steps):
        msgs = sim.step(STEP_NS)
        n += _quotes(msgs)
        batches.append(msgs)
    cpu = time.process_time() - t
    out["quotes_per_step"] = n / steps
    out["sustained_quotes_per_s"] = n / cpu
    out["step_ms"] = 1000 * cpu / steps

    if ingest:
        store = Store(registry())
        bus = InProcessBus()
        store.attach(bus)
        for m in snap:
            bus.publish(m)
        t = time.process_time()
        for msgs in batches:
            for m in msgs:
                bus.publish(m)
        out["store_ingest_quotes_per_s"] = n / (time.process_time() - t)

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.oml"
        clock = SimClock(sim.now_ns)
        rec = Recorder(path, clock)
        q = 0
        t = time.process_time()
        for _ in range(record_steps):
            msgs = sim.step(STEP_NS)
            clock.advance_to(sim.now_ns)
            for m in msgs:
                rec.on_message(m)
            q += _quotes(msgs)
        rec.close()
        out["recorder_quotes_per_s"] = q / (time.process_time() - t)
        out["recorder_bytes_per_quote"] = os.path.getsize(path) / q
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--universe", default="full")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--quote-rate", type=float, default=0.02)
    ap.add_argument("--no-ingest", action="store_true")
    a = ap.parse_args()
    r = run(a.universe, a.steps, a.quote_rate, ingest=not a.no_ingest)
    print(f"universe {a.universe}: {int(r['series']):,} series on {int(r['underliers']):,} "
          f"underliers, built in {r['build_s']:.2f} s CPU")
    print(f"snapshot (every series priced once): {r['snapshot_quotes_per_s']:,.0f} quotes/s")
    print(f"simulator sustained: {r['sustained_quotes_per_s']:,.0f} quotes/s on one core "
          f"({r['quotes_per_step']:,.0f} quotes per step, {r['step_ms']:.1f} ms CPU per step, "
          f"incl. underlier moves, stock quotes and prints)")
    if "store_ingest_quotes_per_s" in r:
        print(f"store ingest of those batches: {r['store_ingest_quotes_per_s']:,.0f} quotes/s")
    print(f"recorder: {r['recorder_bytes_per_quote']:.1f} bytes per option quote (zstd), "
          f"{r['recorder_quotes_per_s']:,.0f} quotes/s incl. simulation")


if __name__ == "__main__":
    main()
