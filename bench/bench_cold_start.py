"""Cold start: seconds for a fresh process to import the analytics, price a row with greeks and
slides and solve one implied vol, with an empty Numba cache (compiles) and then with the cache
it left (loads).  Usage: python bench/bench_cold_start.py"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ("import time; t = time.perf_counter(); import openmlink.analytics as a; "
        "a.price_greeks_slides(100., 100., 1., .05, .0, .2, 1); "
        "v, e = a.implied_vol(5., 100., 100., 1., .05, .0, 1); assert e == 0; "
        "print(time.perf_counter() - t)")


def run(cache_dir: Path) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env,
                         check=True, timeout=600)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as d:
        cold = run(Path(d) / "numba")
        warm = run(Path(d) / "numba")
    print(f"cold start (empty Numba cache): {cold:.1f} s; warm start (cache loaded): {warm:.1f} s "
          "(target: cold < 10 s, warm < 3 s)")


if __name__ == "__main__":
    main()
