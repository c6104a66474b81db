"""Cold start, two measures, each with an empty Numba cache (compiles) and then with the cache it
left (loads):

* kernels: seconds for a fresh process to import the analytics, price a row with greeks and
  slides and solve one implied vol;
* serve: seconds from starting ``openmlink serve`` (default universe, no persistence, no SQL)
  until its first LiveImpliedQuote rows are published (the "first ... pass done" line), and
  until the accurate values follow (the "kernels ready" line); every start-up line is printed
  with its time since the start and the CPU seconds of the server and of its finished kernel
  compiler processes by then (Linux /proc).  Process CPU seconds (user + system of the server and its
  children) are printed beside wall seconds: the machine is shared.

Usage: python bench/bench_cold_start.py [--no-serve] [--no-kernels]"""

from __future__ import annotations

import argparse
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ("import time; t = time.perf_counter(); import openmlink.analytics as a; "
        "a.price_greeks_slides(100., 100., 1., .05, .0, .2, 1); "
        "v, e = a.implied_vol(5., 100., 100., 1., .05, .0, 1); assert e == 0; "
        "print(time.perf_counter() - t)")
FIRST = re.compile(r"analytics: first (?:preliminary |)(?:Loop )?pass done")
READY = re.compile(r"analytics: kernels ready in")


def run(cache_dir: Path) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env,
                         check=True, timeout=600)
    return float(out.stdout.strip().splitlines()[-1])


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _proc_cpu(pid: int) -> tuple[float, float]:
    """(CPU seconds of the process, of its reaped children) from /proc (0, 0 elsewhere)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    return (int(f[11]) + int(f[12])) / hz, (int(f[13]) + int(f[14])) / hz


def serve(cache_dir: Path, timeout: float = 300.0) -> tuple[float, float, float]:
    """(seconds to the first LiveImpliedQuote rows, seconds to accurate kernels, CPU seconds of
    the server and its children) of one ``openmlink serve`` start."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "openmlink", "serve", "--port", str(_port()),
                             "--no-persist", "--no-sql"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    first = ready = float("nan")
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            dt = time.perf_counter() - t0
            own, kids = _proc_cpu(proc.pid)
            print(f"  {dt:6.1f} s wall, CPU {own:5.1f} s server + {kids:5.1f} s compiler processes  "
                  f"{line.rstrip()}")
            if FIRST.search(line) and first != first:
                first = dt
            if READY.search(line):
                ready = dt
            if (first == first and ready == ready) or dt > timeout:
                break
    finally:
        proc.terminate()
        proc.wait(30)
    return first, ready, _children_cpu() - cpu0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-serve", action="store_true")
    ap.add_argument("--no-kernels", action="store_true")
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    if not a.no_kernels:
        with tempfile.TemporaryDirectory() as d:
            cold = run(Path(d) / "numba")
            warm = run(Path(d) / "numba")
        print(f"kernels: cold start (empty Numba cache): {cold:.1f} s; warm start (cache loaded): "
              f"{warm:.1f} s (target: cold < 10 s, warm < 3 s)")
    if not a.no_serve:
        with tempfile.TemporaryDirectory() as d:
            print("serve, empty Numba cache:")
            f1, r1, c1 = serve(Path(d) / "numba")
            print("serve, cache loaded:")
            f2, r2, c2 = serve(Path(d) / "numba")
        print(f"serve: first LiveImpliedQuote rows {f1:.1f} s (cold) / {f2:.1f} s (warm); accurate "
              f"kernels ready {r1:.1f} s / {r2:.1f} s; server CPU {c1:.1f} s / {c2:.1f} s; "
              f"load average {os.getloadavg()[0]:.2f} (target: first rows < 10 s cold)")


if __name__ == "__main__":
    main()
