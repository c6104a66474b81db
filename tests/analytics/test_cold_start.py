"""Cold start: with an empty Numba cache a fresh process must price within 10 s."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = ("import time; t = time.perf_counter(); import openmlink.analytics as a; "
        "a.price_greeks_slides(100., 100., 1., .05, .0, .2, 1); "
        "v, e = a.implied_vol(5., 100., 100., 1., .05, .0, 1); assert e == 0; "
        "print(time.perf_counter() - t)")


def _run(cache_dir: Path) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env,
                         check=True, timeout=120)
    return float(out.stdout.strip().splitlines()[-1])


def test_european_row_and_iv_within_10s_from_an_empty_cache(tmp_path: Path) -> None:
    cold = _run(tmp_path / "numba")
    assert cold < 10.0, f"cold start {cold:.1f} s"
    warm = _run(tmp_path / "numba")  # second process loads the cache
    assert warm < cold and warm < 3.0
