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

__all__ = ["main", "warm"]


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


def main() -> int:
    print(f"openmlink.analytics kernels compiled and cached in {warm():.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
