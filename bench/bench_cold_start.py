"""Cold start, two measures, each with an empty Numba cache (compiles) and then with the cache it
left (loads):

* kernels: seconds for a fresh process to import the analytics, price a row with greeks and
  slides and solve one implied vol;
* serve: seconds from starting ``openmlink serve`` (default universe, no persistence, no SQL)
  until its first LiveImpliedQuote rows are published (the "first ... pass done" line), and
  until the accurate values follow (the "kernels ready" line); every start-up line is printed
  with its time since the start and the CPU seconds of the server and of its finished kernel
  compiler processes by then (Linux /proc).  Process CPU seconds (user + system of the server and its
  children) are printed beside wall seconds: the machine is shared.  From them, the wall time
  of the first rows on a quiet two-core machine is estimated as max(server CPU, all CPU / 2)
  (the compiler processes run beside the server);
* ``--stages``: CPU seconds of each warm-up stage compiled alone in a fresh process on an
  empty cache (``python -m openmlink.analytics.warm --stage ...``: the first stage's parts, then
  the engine stage on the cache they left) and of the simulator's first snapshot;
* ``--quality``: what the preliminary rows contain: the default universe's preliminary pass
  against the accurate one (American rows: |difference| median / p95 / max of sVol, sPrc,
  delta; sPrc inside the market).

Usage: python bench/bench_cold_start.py [--no-serve] [--no-kernels] [--stages] [--quality]"""

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
FIRST = re.compile(r"analytics: first (?:preliminary |)(?:Loop )?pass done: [1-9]\d* series")
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


SIM = ("import time; t = time.process_time(); from openmlink.analytics import set_parallel; "
       "set_parallel(False); from openmlink.clock import LiveClock; "
       "from openmlink.market import MarketSimulator, SimConfig; s = MarketSimulator(SimConfig()); "
       "s.prepare(LiveClock()); s.snapshot(); print(time.process_time() - t)")


def _cpu_of(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of a child process run to its end."""
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    subprocess.run(args, env=env, check=True, timeout=1800, stdout=subprocess.DEVNULL)
    return _children_cpu() - cpu0, time.perf_counter() - t0


def stages() -> None:
    """Each warm-up stage alone on an empty cache (the engine stage on the first stage's)."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=str(Path(d) / "numba"), PYTHONPATH=str(ROOT))
        for st in ("first-rows", "first-iv", "first-fits", "engine"):
            cpu, wall = _cpu_of([sys.executable, "-m", "openmlink.analytics.warm", "--stage", st], env)
            print(f"  stage {st:10s}: {cpu:5.1f} s CPU ({wall:5.1f} s wall), load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=str(Path(d) / "numba"), PYTHONPATH=str(ROOT))
        cpu, wall = _cpu_of([sys.executable, "-c", SIM], env)
        print(f"  simulator's first snapshot (serial ALO kernels, in the server): {cpu:5.1f} s CPU "
              f"({wall:5.1f} s wall)")


def quality() -> None:
    """Preliminary against accurate rows of the default universe (in this process)."""
    import numpy as np

    from openmlink.bus import RecordingBus
    from openmlink.clock import SimClock
    from openmlink.engines.implied import EngineConfig, ImpliedQuoteEngine
    from openmlink.market import MarketSimulator, SimConfig
    from openmlink.schema._values import datetime_from_text

    start = datetime_from_text("2026-11-23 15:00:00")
    sim = MarketSimulator(SimConfig(seed=3), start_ns=start)
    bus = RecordingBus()
    eng = ImpliedQuoteEngine(bus, SimClock(start), EngineConfig(), master=lambda: sim.master)
    eng.attach()
    eng.ready = False
    for m in sim.snapshot():
        bus.publish(m)
    eng.ready = True

    def one(pre: bool) -> dict[str, np.ndarray]:
        eng.set_preliminary(pre)
        n0 = len(bus.published)
        eng.on_timer()
        liq = [m for m in bus.published[n0:] if m.mt.name == "LiveImpliedQuote"]
        d = {k: np.concatenate([np.asarray(b.data[k]) for b in liq]) for k in liq[0].data}
        o = np.lexsort((d["okey.cp"], d["okey.xx"], d["okey.dt"], d["okey.tk"].astype(str)))
        return {k: v[o] for k, v in d.items()}

    p, a = one(True), one(False)
    amer = p["calcSource"] == 0  # calcSource None: an American root valued as European
    same = all(np.array_equal(p[f][~amer], a[f][~amer], equal_nan=True) for f in ("sVol", "sPrc", "de"))
    print(f"quality: {len(amer)} rows, {int(amer.sum())} of American roots; calcErr set: "
          f"{int((p['calcErr'] != 0).sum())} preliminary, {int((a['calcErr'] != 0).sum())} accurate; "
          f"European roots: {'identical in both passes' if same else 'DIFFERENT in the two passes'}")
    near = np.abs(p["okey.xx"] / p["uPrc"] - 1.0) < 0.10
    for name, sel in (("American, all", amer), ("American, strike within 10% of spot", amer & near)):
        ok = sel & (p["calcErr"] == 0) & (a["calcErr"] == 0)
        line = [f"  {name} ({int(ok.sum())} rows), |preliminary - accurate|:"]
        for f in ("sVol", "sPrc", "de", "ga", "ve", "th"):
            dv = np.abs(p[f][ok] - a[f][ok])
            line.append(f"{f} {np.median(dv):.2g}/{np.percentile(dv, 95):.2g}/{dv.max():.2g}")
        print(" ".join(line) + " (median/p95/max)")
        liq = ok & (p["oBid"] > 0) & (p["oAsk"] > p["oBid"])
        ins = [float(((d["sPrc"][liq] >= d["oBid"][liq] - 1e-9)
                      & (d["sPrc"][liq] <= d["oAsk"][liq] + 1e-9)).mean()) for d in (p, a)]
        print(f"    sPrc inside the market: {ins[0]:.0%} preliminary, {ins[1]:.0%} accurate "
              f"({int(liq.sum())} two-sided rows)")


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
    first_cpu = (0.0, 0.0)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            dt = time.perf_counter() - t0
            own, kids = _proc_cpu(proc.pid)
            print(f"  {dt:6.1f} s wall, CPU {own:5.1f} s server + {kids:5.1f} s compiler processes  "
                  f"{line.rstrip()}")
            if FIRST.search(line) and first != first:
                first = dt
                first_cpu = (own, kids)
            if READY.search(line):
                ready = dt
            if (first == first and ready == ready) or dt > timeout:
                break
    finally:
        proc.terminate()
        proc.wait(30)
    own, kids = first_cpu
    print(f"  first rows: {own + kids:.1f} s CPU ({own:.1f} server + {kids:.1f} compiler processes): on a "
          f"quiet two-core machine about {max(own, (own + kids) / 2):.1f} s")
    return first, ready, _children_cpu() - cpu0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-serve", action="store_true")
    ap.add_argument("--no-kernels", action="store_true")
    ap.add_argument("--stages", action="store_true")
    ap.add_argument("--quality", action="store_true")
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    if a.stages:
        stages()
    if a.quality:
        quality()
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
