"""Journal commit stalls under a writer that never stops: the order journal's write pattern at
1,000 commits/s (a ~900-byte row per post; every 20th commit the tick's 20 broker rows and a
13 KB venue row) for ``--seconds``, paced, the journal's own checkpoint thread running.  Prints
commit wall p50/p99/p99.9/max, how many took over 2 and 5 ms, the WAL file's size and the
checkpointer's RESTART/TRUNCATE counts.  Prints figures; no thresholds.

    python bench/bench_journal_stalls.py [--seconds 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openmlink.srse import Journal


def run(seconds: float, rate: float) -> None:
    body, big = os.urandom(886), os.urandom(13_000)
    with tempfile.TemporaryDirectory() as d:
        j = Journal(f"{d}/journal.sqlite3")
        lat = []
        n = int(seconds * rate)
        t0 = time.perf_counter()
        for i in range(n):
            wait = t0 + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            t = time.perf_counter()
            if i % 20 == 19:
                j.commit([("broker", f"{k:08d}", body) for k in range(i - 19, i + 1)]
                         + [("vdelta", f"{i:08d}", big)])
            else:
                j.commit([("parent", f"{i:08d}", body)])
            lat.append(time.perf_counter() - t)
        a = np.array(lat) * 1e3
        cp = j.checkpointer
        print(f"{n} commits at {rate:,.0f}/s: p50 {np.percentile(a, 50):.3f} p99 "
              f"{np.percentile(a, 99):.3f} p99.9 {np.percentile(a, 99.9):.2f} max {a.max():.2f} ms; "
              f"> 2 ms {int((a > 2).sum())}, > 5 ms {int((a > 5).sum())}; WAL file "
              f"{cp.wal_bytes() / 1e6:.1f} MB; checkpoints {cp.checkpoints}, restarts "
              f"{cp.restarts} (truncates {getattr(cp, 'truncates', cp.restarts)}); "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
        j.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=1_000.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    for _ in range(args.runs):
        run(args.seconds, args.rate)


if __name__ == "__main__":
    main()
