"""Python client figures against a real ``openmlink serve`` (small seeded universe, analytics on).

Prints:
  - REST getmsgs of N OptionNbboQuote records: seconds and records/s as dicts, and as a DataFrame
    with flattened keys;
  - a WebSocket snapshot of every LiveImpliedQuote through ``MLinkSocket.stream().snapshot()``:
    seconds and records/s;
  - live StockBookQuote + OptionNbboQuote updates per second through one MLinkSocket at
    activeLatency 1 over 10 s.
Usage: python bench/bench_client.py [--port P]   (starts its own server unless --port is given)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time

from openmlink.client import MLinkClient, MLinkSocket

KEY = "BENCH-0000-0000-0001"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "openmlink", "serve", "--port", str(port),
                             "--api-key", KEY, "--universe", "small", "--seed", "7", "--no-sql",
                             "--no-persist"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    ml = MLinkClient(f"http://127.0.0.1:{port}", KEY, timeout=5)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if ml.count("LiveImpliedQuote") > 0:
                return proc
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not publish LiveImpliedQuote within 300 s")


def rest(url: str) -> None:
    import pandas  # noqa: F401  (imported once here, not timed in the first DataFrame)

    ml = MLinkClient(url, KEY)
    for n in (1_000, 10_000):
        t = time.perf_counter()
        recs = ml.get_msgs("OptionNbboQuote", limit=n)
        dt = time.perf_counter() - t
        t = time.perf_counter()
        df = ml.get_msgs_df("OptionNbboQuote", limit=n)
        dtf = time.perf_counter() - t
        print(f"REST getmsgs {len(recs):>6} records: {dt:.3f} s ({len(recs) / dt:,.0f}/s) as dicts, "
              f"{dtf:.3f} s ({len(df) / dtf:,.0f}/s) as a {df.shape} DataFrame")


async def ws(url: str) -> None:
    async with MLinkSocket(url, KEY) as s:
        t = time.perf_counter()
        sub = await s.stream("LiveImpliedQuote", active_latency=0)
        snap = await sub.snapshot()
        dt = time.perf_counter() - t
        print(f"WebSocket snapshot {len(snap)} LiveImpliedQuote records: {dt:.3f} s "
              f"({len(snap) / dt:,.0f}/s)")
        await sub.close()
        a = await s.stream("OptionNbboQuote", active_latency=1)
        b = await s.stream("StockBookQuote", active_latency=1)
        await a.snapshot()
        await b.snapshot()
        n = 0
        t = time.perf_counter()

        async def count(sub):  # type: ignore[no-untyped-def]
            nonlocal n
            async for _ in sub.records():
                n += 1

        tasks = [asyncio.create_task(count(x)) for x in (a, b)]
        await asyncio.sleep(10)
        for x in tasks:
            x.cancel()
        dt = time.perf_counter() - t
        print(f"live updates through one MLinkSocket (activeLatency 1): {n / dt:,.0f}/s over {dt:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int)
    args = ap.parse_args()
    port = args.port or _free_port()
    proc = None if args.port else _start(port)
    url = f"http://127.0.0.1:{port}"
    try:
        rest(url)
        asyncio.run(ws(url))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(15)


if __name__ == "__main__":
    main()
