"""Trading kernels benchmark (in process).

Prints:
  - compute_limits on N orders (default 10,000; half American equity, half European index),
    three mixes: Prc + Simple (no model prices), Vol + Simple (one model price per order), and
    the seed's Vol + SurfProb with different take/make surface vol offsets (three model
    prices per order) -- median and best of several runs, ms;
    each also on a listed chain (12 expiries: rows of an expiry share one exercise-boundary
    table) and after a quote-only move with the order manager's PriceMemo (nothing to price
    again); wall and process CPU time (CPU is what the order manager's thread spends when the
    machine is shared);
  - SimVenue sustained fills per second: a loop of submit (takers and makers) +
    market_changed (every quote refreshes) + advance over 200 series.
Usage: python bench/bench_trading_kernels.py [orders] [venue_steps]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np

from openmlink.trading.limits import (
    LIMIT_CLASS,
    LIMIT_TYPE,
    PRICE_TYPE,
    OrderLimits,
    PriceMemo,
    SeriesMarket,
    compute_limits,
    model_price,
)
from openmlink.trading.venue import ChildOrder, Nbbo, SimVenue, VenueConfig


def _market(n: int, rng: np.random.Generator, n_exp: int = 0) -> SeriesMarket:
    """``n_exp`` 0: every row its own expiry (the worst case: no boundary table shared)."""
    m = SeriesMarket.blank(n)
    eu = np.arange(n) % 2 == 1
    m.u_prc[:] = np.where(eu, 4500.0, 450.0)
    m.u_bid[:], m.u_ask[:] = m.u_prc - 0.01, m.u_prc + 0.01
    m.u_off[:] = np.where(eu, 12.0, 0.0)
    m.strike[:] = m.u_prc * rng.uniform(0.8, 1.2, n)
    m.years[:] = rng.uniform(0.01, 1.5, n) if not n_exp else \
        rng.uniform(0.01, 1.5, n_exp)[rng.integers(0, n_exp, n)]
    m.rate[:] = 0.05
    m.sdiv[:] = np.where(eu, 0.05, 0.012)
    m.cp[:] = rng.choice([1, -1], n)
    m.american[:] = ~eu
    m.price_type[:] = np.where(eu, PRICE_TYPE["Future"], PRICE_TYPE["Equity"])
    m.s_vol[:] = rng.uniform(0.12, 0.45, n)
    m.s_prc[:] = model_price(m.s_vol, m)
    m.s_mark[:] = m.s_prc
    m.bid[:] = np.maximum(m.s_prc - 0.05, 0.0)
    m.ask[:] = m.s_prc + 0.05
    m.avg_width[:] = 0.1
    m.de[:], m.ga[:] = 0.5, 0.01
    return m


def _orders(n: int, kind: str, m: SeriesMarket, rng: np.random.Generator) -> OrderLimits:
    o = OrderLimits.blank(n)
    o.side[:] = rng.choice([1, -1], n)
    if kind == "prc":
        o.prc_limit[:] = m.s_prc
        return o
    o.limit_type[:] = LIMIT_TYPE["Vol"]
    o.vol_limit[:] = m.s_vol + rng.uniform(-0.02, 0.02, n)
    if kind == "surfprob":
        o.take_class[:] = o.make_class[:] = LIMIT_CLASS["SurfProb"]
        o.take_prob[:], o.make_prob[:] = 0.1, 0.3
        o.take_surf_vol_off[:], o.make_surf_vol_off[:] = 0.02, 0.01
    return o


def _timed(fn: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return wall, cpu


def bench_limits(n: int) -> None:
    for n_exp, where in ((0, "every row its own expiry"), (12, "listed chain, 12 expiries")):
        rng = np.random.default_rng(1)
        m = _market(n, rng, n_exp)
        for kind, label in (("prc", "Prc + Simple"), ("vol", "Vol + Simple (1 model price/order)"),
                            ("surfprob", "Vol + SurfProb, 2 surface offsets (3 model prices/order)")):
            o = _orders(n, kind, m, rng)
            compute_limits(o, m)  # compile / warm
            wall, cpu = _timed(lambda o=o, m=m: compute_limits(o, m), 5)
            print(f"compute_limits {n:,} orders, {label}, {where}: median {np.median(wall):.1f} ms "
                  f"(CPU {np.median(cpu):.1f} ms), best {min(wall):.1f} ms")
            if kind == "prc":
                continue
            memo = PriceMemo()
            compute_limits(o, m, memo=memo)

            def quote_move(o: OrderLimits = o, m: SeriesMarket = m, memo: PriceMemo = memo) -> None:
                m.bid[:] += 0.01  # the NBBO moves; surface and underlier do not
                m.ask[:] += 0.01
                compute_limits(o, m, memo=memo)
            wall, cpu = _timed(quote_move, 5)
            print(f"  ... after a quote-only move, with the order manager's PriceMemo: median "
                  f"{np.median(wall):.1f} ms (CPU {np.median(cpu):.1f} ms)")


def bench_venue(steps: int) -> None:
    n_series = 200
    book: dict[int, Nbbo] = {}
    rng = np.random.default_rng(2)
    mid = np.full(n_series, 2.0)
    for s in range(n_series):
        book[s] = Nbbo(1.95, 2.05, 50, 50, 1 << 3, 1 << 4, 0)
    v = SimVenue(book.get, VenueConfig(prob_fill_on_limit=0.5, partial_fill_max_pieces=2), seed=3)
    now = 0
    cid = 0
    fills = 0
    events = 0
    t0 = time.perf_counter()
    for step in range(steps):
        now += 1_000_000
        s = int(rng.integers(n_series))
        q = book[s]
        cid += 1
        side = 1 if cid % 2 else -1
        if cid % 3 == 0:  # taker
            px, tif, po = (q.ask if side > 0 else q.bid), "IOC", False
        else:  # maker at the own side
            px, tif, po = (q.bid if side > 0 else q.ask), "Day", True
        v.submit(ChildOrder(cid, cid % 50, s, side, px, int(rng.integers(1, 20)), "", tif, po), now)
        # the quote of a random live series moves by one tick: makers on it get touched
        mid[s] = max(0.5, mid[s] + 0.05 * rng.choice([-1, 1]))
        book[s] = Nbbo(round(mid[s] - 0.05, 2), round(mid[s] + 0.05, 2), 50, 50, 1 << 3, 1 << 4, step + 1)
        v.market_changed([s], now)
        evs = v.advance(now)
        events += len(evs)
        fills += sum(1 for e in evs if e.kind == "fill")
    dt = time.perf_counter() - t0
    print(f"SimVenue: {steps:,} submit + market_changed + advance steps in {dt:.2f} s: "
          f"{fills / dt:,.0f} fills/s sustained ({fills:,} fills, {events:,} events, "
          f"{steps / dt:,.0f} steps/s, {len(v.live_series())} series live at the end)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    bench_limits(n)
    bench_venue(steps)


if __name__ == "__main__":
    main()
