"""Cold start: with an empty Numba cache a fresh process compiles, prices and solves an implied
vol, and writes the cache that a second process then loads (the cold and warm times are
printed by bench/bench_cold_start.py, not asserted here: the machine is shared)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = ("import openmlink.analytics as a; "
        "p = a.price_greeks_slides(100., 100., 1., .05, .0, .2, 1); "
        "v, e = a.implied_vol(5., 100., 100., 1., .05, .0, 1); assert e == 0; "
        "print(float(v))")


def _run(cache_dir: Path) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env,
                         check=True, timeout=300)
    return float(out.stdout.strip().splitlines()[-1])


def test_a_fresh_process_prices_from_an_empty_cache_and_leaves_it_filled(tmp_path: Path) -> None:
    cache = tmp_path / "numba"
    cold = _run(cache)
    assert 0.01 < cold < 0.1  # the implied vol of a 5.00 ATM call, 1 year, r = 5% (about 3.5%)
    index = sorted(p.name for p in cache.rglob("*.nbi"))
    assert index, "no Numba cache index was written"
    assert _run(cache) == cold  # the second process loads the cache: same answer
    assert sorted(p.name for p in cache.rglob("*.nbi")) == index  # nothing recompiled anew
