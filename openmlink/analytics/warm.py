"""Compile (and cache) every analytics kernel ahead of first use.

Run at install / CI / container-build time:  python -m openmlink.analytics.warm
Numba writes the machine code to its cache (NUMBA_CACHE_DIR, else __pycache__ next to the
sources), so later processes load it in well under a second instead of compiling (a cold
European row + implied vol compiles in about 5 s; the American, dividend and greek kernels add
about 10 s more).  Without warming, kernels still compile lazily on first use: each public call
compiles only the kernels it dispatches to.
"""

from __future__ import annotations

import sys
import time

__all__ = ["main", "warm", "warm_up"]


def warm(american: bool = True) -> float:
    """Call each public entry point once on a tiny input; returns the seconds spent."""
    t0 = time.perf_counter()
    from . import _api as a

    a.price_greeks_slides(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, 1)
    a.price(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, 1)
    a.implied_vol(5.0, 100.0, 100.0, 1.0, 0.05, 0.0, 1)
    if american:
        divs = ([0.5], [1.0])
        a.price(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, -1, exercise="american")
        a.implied_vol(6.0, 100.0, 100.0, 1.0, 0.05, 0.0, -1, exercise="american")
        a.greeks(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, -1, exercise="american")
        a.price(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, -1, exercise="american", dividends=divs)
        a.implied_vol(6.0, 100.0, 100.0, 1.0, 0.05, 0.0, -1, exercise="american",
                      dividends=divs)
        a.greeks(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, -1, exercise="american", dividends=divs)
        a.price_greeks_slides(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, 1, dividends=divs)
    return time.perf_counter() - t0


def warm_up() -> None:
    """Compile (or load from the Numba cache) every kernel the implied-quote engine uses, on a
    tiny input, so that a server can do it in a background thread before the engine computes.
    (The ALO greek rows of ``EngineConfig.american_greeks = "alo"``, off by default, compile on
    first use.)"""
    import numpy as np

    from . import SLIDE_MOVES, implied_vol, price, price_greeks_slides
    from ._american_grouped import BoundaryTables, american_prices
    from ._baw import baw_deamericanised_iv, baw_price, baw_rows
    from ._quote_rows import amer_deam_iv, american_parity_forward, b76_implied_vol, b76_rows, parity_forward
    from ._svi import fit_svi

    s = np.array([100.0, 100.0])
    k = np.array([95.0, 105.0])
    t = np.array([0.1, 0.1])
    r = np.array([0.04, 0.04])
    v = np.array([0.2, 0.2])
    c = np.array([1.0, -1.0])
    p = price(s, k, t, r, r, v, c)
    implied_vol(p, s, k, t, r, r, c)
    implied_vol(p, s, k, t, r, r, c, model="black76")
    price_greeks_slides(s, k, t, r, r, v, c, model="black76")
    baw_price(s, k, t, r, r * 0, v, c)
    baw_rows(s, k, t, r, r * 0, v, c, SLIDE_MOVES)
    baw_deamericanised_iv(p, s, k, t, r, r * 0, c, v)
    b76_implied_vol(p, s, k, t, r, c)
    b76_rows(s, k, t, r, v, c, SLIDE_MOVES)
    # the parallel twins of the kernels above (batches of at least _PAR_MIN rows)
    big = 5000
    sb, kb, tb, rb, vb, cb = (np.resize(a, big) for a in (s, k, t, r, v, c))
    pb = np.resize(p, big)
    b76_implied_vol(pb, sb, kb, tb, rb, cb)
    b76_rows(sb, kb, tb, rb, vb, cb, SLIDE_MOVES)
    baw_price(sb, kb, tb, rb, rb * 0, vb, cb)
    baw_rows(sb, kb, tb, rb, rb * 0, vb, cb, SLIDE_MOVES)
    baw_deamericanised_iv(pb, sb, kb, tb, rb, rb * 0, cb, vb)
    # American values of the engine (boundary tables, the row-by-row twin for small groups)
    american_prices(s, k, t, r, r * 0, v, c, np.zeros(2, np.int64))
    for m in (40, 2100):  # serial and parallel twins
        many = np.linspace(90.0, 110.0, m)
        tt = np.repeat([0.1, 0.2, 0.3], m // 3 + 1)[:m]
        BoundaryTables(max_tables=8).prices(np.full(m, 100.0), many, tt, np.full(m, 0.04),
                                            np.full(m, 0.01), np.linspace(0.2, 0.3, m),
                                            np.where(many > 100.0, 1.0, -1.0))
    amer_deam_iv(p, s, k, t, r, r * 0, c, v)
    american_parity_forward(np.array([100.0, 100.0]), np.array([0, 1], np.int8), np.array([2.0, 1.9]),
                            np.array([2.1, 2.0]), np.array([0, 2]), np.array([0.99]), np.array([100.0]),
                            np.array([0.25]), np.array([100.5]))
    kk = np.tile(np.linspace(-0.2, 0.2, 8), 300)
    fit_svi(kk, 0.01 + 0.1 * kk * kk, np.ones(len(kk)), np.arange(0, len(kk) + 1, 8))
    strikes = np.repeat(np.arange(big // 2, dtype=np.float64) + 50.0, 2)
    parity_forward(strikes, np.tile(np.array([0, 1], np.int8), big // 2), np.full(big, 2.0),
                   np.full(big, 2.1), np.array([0, big]), np.array([0.99]))
    kk = np.linspace(-0.2, 0.2, 8)
    fit_svi(kk, 0.01 + 0.1 * kk * kk, np.ones(8), np.array([0, 8]))
    parity_forward(np.array([100.0, 100.0]), np.array([0, 1], np.int8), np.array([2.0, 1.9]),
                   np.array([2.1, 2.0]), np.array([0, 2]), np.array([0.99]))


def main() -> int:
    print(f"openmlink.analytics kernels compiled and cached in {warm():.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
