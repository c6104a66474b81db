"""Engine benchmark: SVI fits/s, one full SPX chain NBBO -> LiveImpliedQuote, Loop over a universe.

    python bench/bench_engine.py [--universe full|default|N] [--chain PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from openmlink.analytics._svi import fit_svi, svi_total_variance
from openmlink.analytics.engine import EngineConfig, ImpliedQuoteEngine, RateCurve, warm_up
from openmlink.bus import InProcessBus, RecordingBus
from openmlink.clock import SimClock
from openmlink.market import MarketSimulator, SimConfig, load_chain


def bench_fits() -> None:
    k = np.linspace(-0.4, 0.3, 80)
    w = svi_total_variance(k, np.array([0.01, 0.2, -0.6, 0.05, 0.15]))
    g = 2000
    kk, ww = np.tile(k, g), np.tile(w, g) * (1 + 0.01 * np.random.default_rng(0).standard_normal(80 * g))
    t0 = time.perf_counter()
    fit_svi(kk, ww, np.ones_like(kk), np.arange(0, 80 * g + 1, 80))
    print(f"SVI fits: {g / (time.perf_counter() - t0):,.0f} per second (80 quotes each, 2 threads)")


def bench_chain(path: Path) -> None:
    snap = load_chain(path)
    msgs = snap.messages()
    for _rep in range(3):
        bus = RecordingBus()
        eng = ImpliedQuoteEngine(bus, SimClock(snap.valuation_ns), EngineConfig(), RateCurve.flat(0.053))
        eng.attach()
        for m in msgs[:-2]:
            bus.publish(m)
        t0 = time.perf_counter()
        bus.publish(msgs[-2])  # the OptionNbboQuote batch
        dt = time.perf_counter() - t0
    print(f"full {snap.underlier} chain ({len(snap)} series, fits of every expiry included): "
          f"{dt * 1e3:.0f} ms NBBO -> LiveImpliedQuote published (target 50 ms)")


def bench_loop(universe: str) -> None:
    sim = MarketSimulator(SimConfig(universe=universe), start_ns=1_760_000_000_000_000_000)
    bus = InProcessBus()
    eng = ImpliedQuoteEngine(bus, SimClock(sim.now_ns), EngineConfig(loop_chunk_rows=200_000),
                             master=lambda: sim.master)
    eng.ready = False
    eng.attach()
    for m in sim.snapshot():
        bus.publish(m)
    eng.ready = True
    t0 = time.perf_counter()
    n = eng.on_timer()
    dt = time.perf_counter() - t0
    print(f"Loop over {n:,} series ({universe} universe): {dt:.1f} s "
          f"({dt / max(n, 1) * 1e6:.1f} us per series; target 30 s for 1.5 M)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--universe", default="full")
    ap.add_argument("--chain", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"
                                           / "cboe" / "spx_2023-09-14.csv"))
    a = ap.parse_args()
    warm_up()
    bench_fits()
    if Path(a.chain).exists():
        bench_chain(Path(a.chain))
    bench_loop(a.universe)


if __name__ == "__main__":
    main()
