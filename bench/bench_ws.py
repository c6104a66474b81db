"""WebSocket load benchmark: a server process and client processes on loopback, bounded in time.

Prints:
  - updates delivered per second to 1, 10 and 100 clients streaming at activeLatency 1 while the
    server publishes as fast as it can (every client sees the latest value per key per cycle);
  - p50/p99 publish-to-client latency at a stated publish rate;
  - the time to stream a 1.5 million row snapshot to one client;
  - server memory with 1,000 idle connections.
Usage: python bench/bench_ws.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time

import numpy as np

KEY = "BENCH-0000-0000-0001"


# ---------------------------------------------------------------- server process
def serve(port: int, keys: int, rate: float, snapshot_rows: int) -> None:
    from aiohttp import web

    from openmlink.bus import ColumnBatch
    from openmlink.gateway import ApiKeys, Principal, make_app
    from openmlink.platform import build_platform
    from openmlink.schema._keys import key_member_names
    from openmlink.schema._values import datekey_from_text

    k = ApiKeys()
    k.add(Principal(KEY))
    plat = build_platform(k)
    sbq = plat.registry["StockBookQuote"]
    eqt = key_member_names("at").index("EQT")
    nms = key_member_names("ts").index("NMS")
    names = np.array([f"S{i:05d}" for i in range(keys)], dtype=object)
    if snapshot_rows:
        onq = plat.registry["OptionNbboQuote"]
        rng = np.random.default_rng(3)
        step = 250_000
        base = datekey_from_text("2026-12-18")
        for i in range(0, snapshot_rows, step):
            m = min(step, snapshot_rows - i)
            idx = np.arange(i, i + m)
            plat.bus.publish(ColumnBatch(onq, {
                "okey.at": np.full(m, eqt, np.int16), "okey.ts": np.full(m, nms, np.int16),
                "okey.tk": np.array([f"U{j:04d}" for j in (idx // 2) % 3000], dtype=object),
                "okey.dt": (base + 7 * ((idx // 6000) % 50)).astype(np.int32),
                "okey.xx": 10.0 + 5.0 * (idx // 300_000), "okey.cp": (idx % 2).astype(np.int8),
                "bidPrice": rng.uniform(0, 50, m).round(2), "askPrice": rng.uniform(50, 60, m).round(2),
                "bidSize": rng.integers(1, 500, m), "askSize": rng.integers(1, 500, m),
            }))

    async def publisher(app: web.Application):  # type: ignore[no-untyped-def]
        async def run() -> None:
            batch = 100
            i = 0
            while True:
                sel = np.arange(i, i + batch) % keys
                i += batch
                now = time.time_ns()
                plat.bus.publish(ColumnBatch(sbq, {
                    "ticker.at": np.full(batch, eqt, np.int16),
                    "ticker.ts": np.full(batch, nms, np.int16),
                    "ticker.tk": names[sel],
                    "bidPrice1": np.full(batch, (i % 10_000) / 100.0),
                    "askPrice1": np.full(batch, (i % 10_000) / 100.0 + 0.01),
                    "srcTimestamp": np.full(batch, now, np.int64),
                }, now))
                await asyncio.sleep(batch / rate if rate > 0 else 0)
        task = asyncio.create_task(run()) if keys else None
        yield
        if task:
            task.cancel()

    app = make_app(plat.rest)
    app.cleanup_ctx.append(publisher)
    print("READY", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(keys: int, rate: float, snapshot_rows: int = 0) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    p = subprocess.Popen([sys.executable, __file__, "server", str(port), str(keys), str(rate),
                          str(snapshot_rows)], stdout=subprocess.PIPE)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert b"READY" in line, line
    time.sleep(0.5)
    return p, port


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------- client processes
def _stream_msg(**kw: object) -> str:
    return json.dumps({"header": {"mTyp": "MLinkStream"}, "message": kw})


async def _client(url: str, seconds: float, counts: list[int], lat: list[float], sample: int,
                  stream: dict[str, object]) -> None:
    import aiohttp
    async with aiohttp.ClientSession() as http, http.ws_connect(
            url, headers={"Authorization": f"Bearer {KEY}"}, max_msg_size=0, autoping=True) as ws:
        await ws.send_str(_stream_msg(**stream))
        while True:  # wait for the snapshot to complete
            m = await ws.receive_str()
            if '"Complete"' in m:
                break
        end = time.monotonic() + seconds
        n = 0
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            try:
                m = await ws.receive_str(timeout=left)
            except TimeoutError:
                break
            n += 1
            if sample and n % sample == 0:
                t = time.time_ns()
                d = json.loads(m)["message"]
                if "srcTimestamp" in d:
                    lat.append((t - d["srcTimestamp"]) / 1e6)
        counts.append(n)


def clients_proc(url: str, n: int, seconds: float, sample: int, stream: dict[str, object],
                 q: mp.Queue) -> None:  # type: ignore[type-arg]
    counts: list[int] = []
    lat: list[float] = []

    async def main() -> None:
        await asyncio.gather(*[_client(url, seconds, counts, lat, sample, stream) for _ in range(n)])
    asyncio.run(main())
    q.put((counts, lat))


def run_clients(port: int, n: int, seconds: float, sample: int = 0, procs: int = 1,
                stream: dict[str, object] | None = None) -> tuple[list[int], list[float]]:
    url = f"ws://127.0.0.1:{port}/mlink/json"
    stream = stream or {"msgName": "StockBookQuote", "activeLatency": 1,
                        "view": "bidPrice1|askPrice1|srcTimestamp"}
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    per = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    ps = [mp.Process(target=clients_proc, args=(url, k, seconds, sample, stream, q)) for k in per if k]
    for p in ps:
        p.start()
    counts: list[int] = []
    lat: list[float] = []
    for _ in ps:
        c, lt = q.get(timeout=seconds + 120)
        counts += c
        lat += lt
    for p in ps:
        p.join(30)
    return counts, lat


async def _idle(url: str, n: int, hold: float) -> int:
    import websockets
    conns = []
    for _ in range(n):
        conns.append(await websockets.connect(url, additional_headers={"Authorization": f"Bearer {KEY}"},
                                              ping_timeout=None))
    for c in conns:
        await c.recv()
    await asyncio.sleep(hold)
    ok = len(conns)
    for c in conns:
        await c.close()
    return ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter runs, 150k-row snapshot")
    args = ap.parse_args()
    secs = 2.0 if args.quick else 5.0
    print(f"machine: {os.cpu_count()} cores; server and clients share them")

    # 1. throughput to 1, 10, 100 clients (server publishes as fast as it can, 2,000 keys)
    for n in (1, 10, 100):
        srv, port = start_server(2000, 0)
        try:
            counts, _ = run_clients(port, n, secs, procs=1)
            total = sum(counts)
            print(f"activeLatency 1, {n:3d} client(s): {total / secs:10,.0f} updates/s delivered "
                  f"({total / secs / n:,.0f} per client)")
        finally:
            srv.terminate()
            srv.wait(10)

    # 2. latency at a stated publish rate
    rate = 2000.0
    srv, port = start_server(2000, rate)
    try:
        _, lat = run_clients(port, 10, secs, sample=1, procs=2)
        a = np.array(lat)
        print(f"publish-to-client latency at {rate:,.0f} updates/s, 10 clients: "
              f"p50 {np.percentile(a, 50):.2f} ms, p99 {np.percentile(a, 99):.2f} ms ({len(a):,} samples)")
    finally:
        srv.terminate()
        srv.wait(10)

    # 3. snapshot of 1.5 million rows to one client
    rows = 150_000 if args.quick else 1_500_000
    srv, port = start_server(0, 0, rows)
    try:
        import aiohttp

        async def snap() -> tuple[float, int]:
            async with aiohttp.ClientSession() as http, http.ws_connect(
                    f"ws://127.0.0.1:{port}/mlink/json", max_msg_size=0,
                    headers={"Authorization": f"Bearer {KEY}"}) as ws:
                await ws.receive_str()
                t = time.perf_counter()
                await ws.send_str(_stream_msg(msgName="OptionNbboQuote", activeLatency=0))
                n = 0
                while True:
                    m = await ws.receive_str()
                    if m.startswith('{"header":{"mTyp":"OptionNbboQuote"'):
                        n += 1
                    elif '"Complete"' in m:
                        return time.perf_counter() - t, n
        el, n = asyncio.run(snap())
        print(f"snapshot of {n:,} OptionNbboQuote rows to one client: {el:.1f} s ({n / el:,.0f} rows/s)")
    finally:
        srv.terminate()
        srv.wait(10)

    # 4. memory with 1,000 idle connections
    srv, port = start_server(0, 0)
    try:
        before = rss_mib(srv.pid)
        q: mp.Queue = mp.Queue()  # type: ignore[type-arg]

        def idle_proc() -> None:
            q.put(asyncio.run(_idle(f"ws://127.0.0.1:{port}/mlink/json", 1000, 3.0)))
        p = mp.Process(target=idle_proc)
        p.start()
        time.sleep(2.5)
        during = rss_mib(srv.pid)
        ok = q.get(timeout=120)
        p.join(30)
        print(f"server memory: {before:,.0f} MiB idle, {during:,.0f} MiB with {ok:,} idle connections "
              f"({(during - before) * 1024 / max(ok, 1):,.1f} KiB per connection)")
    finally:
        srv.terminate()
        srv.wait(10)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "server":
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
