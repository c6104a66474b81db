"""WebSocket load benchmark, /mlink/json and /mlink/jsonf side by side: a server process
(``run_server``, as ``openmlink serve``) and client processes on loopback, bounded in time.

Prints, for each transport:
  - updates delivered per second to 1, 10, 100 and 1,000 clients streaming at activeLatency 1
    while the server publishes as fast as it can (2,000 keys; every client sees the latest value
    per key per cycle), and the server's CPU time per 100k updates delivered;
  - p50/p99 publish-to-client latency at 2,000 and at 50,000 updates/s published (paced every
    millisecond), 10 clients; latency = client receive time of the WebSocket frame minus the
    record's srcTimestamp (set when published);
  - the time to stream a 1.5 million row snapshot to one client;
then the server memory with 1,000 idle connections, and the load average (the machine is
shared: figures are only comparable with the load they were taken under).
Usage: python bench/bench_ws.py [--quick] [--only json|jsonf]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import re
import socket
import subprocess
import sys
import time
from typing import Any

import numpy as np
from wsclient import cpu_s, free_port, load, rss_mib, send

KEY = "BENCH-0000-0000-0001"
QUOTE = '"mTyp":"StockBookQuote"'
SRC_TS = re.compile(rb'"srcTimestamp":(\d+)')


# ---------------------------------------------------------------- server process
def serve(port: int, keys: int, rate: float, snapshot_rows: int, tick_s: float = 0.001,
          wait_streams: int = 0) -> None:
    from aiohttp import web

    from openmlink.bus import ColumnBatch
    from openmlink.gateway import ApiKeys, Principal, make_app, run_server
    from openmlink.gateway._server import HUB
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

    def publish(i: int, batch: int) -> None:
        sel = np.arange(i, i + batch) % keys
        now = time.time_ns()
        plat.bus.publish(ColumnBatch(sbq, {
            "ticker.at": np.full(batch, eqt, np.int16),
            "ticker.ts": np.full(batch, nms, np.int16),
            "ticker.tk": names[sel],
            "bidPrice1": np.full(batch, (i % 10_000) / 100.0),
            "askPrice1": np.full(batch, (i % 10_000) / 100.0 + 0.01),
            "srcTimestamp": np.full(batch, now, np.int64),
        }, now))

    async def publisher(app: web.Application):  # type: ignore[no-untyped-def]
        async def run() -> None:
            # publishing starts once the clients' streams are open (connecting 1,000 clients
            # to a server already saturated by updates takes minutes), or after 120 s
            watchers = app[HUB]._watchers
            deadline = time.monotonic() + 120
            while len(watchers.get("StockBookQuote", ())) < wait_streams and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            i = 0
            if rate <= 0:  # as fast as it can, 100 records a batch
                while True:
                    publish(i, 100)
                    i += 100
                    await asyncio.sleep(0)
            t0 = time.perf_counter()
            while True:  # paced: every tick (1 ms), what the rate owes by now
                due = int((time.perf_counter() - t0) * rate) - i
                if due > 0:
                    publish(i, due)
                    i += due
                await asyncio.sleep(tick_s)
        task = asyncio.create_task(run()) if keys else None
        yield
        if task:
            task.cancel()

    app = make_app(plat.rest)
    app.cleanup_ctx.append(publisher)
    print("READY", flush=True)
    run_server(app, "127.0.0.1", port)


def start_server(keys: int, rate: float, snapshot_rows: int = 0, tick_s: float = 0.001,
                 wait_streams: int = 0) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    p = subprocess.Popen([sys.executable, __file__, "server", str(port), str(keys), str(rate),
                          str(snapshot_rows), str(tick_s), str(wait_streams)], stdout=subprocess.PIPE)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert b"READY" in line, line
    for _ in range(200):  # listening
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    return p, port


def stop(p: subprocess.Popen[bytes]) -> None:
    p.terminate()
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:  # still flushing to clients that went away
        p.kill()
        p.wait(20)


# ---------------------------------------------------------------- client processes
async def _connect(http, gate: asyncio.Semaphore, url: str, transport: str,  # type: ignore[no-untyped-def]
                   stream: dict[str, object]):
    async with gate:  # a few connects at a time: a burst of 500 overflows the listen backlog
        ws = await http.ws_connect(url, headers={"Authorization": f"Bearer {KEY}"}, max_msg_size=0,
                                   autoping=True)
    await send(ws, transport, "MLinkStream", **stream)
    while True:  # wait for the (empty: highwaterTs -1) snapshot to complete
        m = await ws.receive()
        data = m.data if isinstance(m.data, str) else m.data.decode()
        if '"Complete"' in data:
            return ws


async def _count(ws, seconds: float, counts: list[int], lat: list[float],  # type: ignore[no-untyped-def]
                 sample: bool) -> None:
    import aiohttp
    end = time.monotonic() + seconds
    n = 0
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        try:
            m = await ws.receive(timeout=left)
        except TimeoutError:
            break
        if m.type == aiohttp.WSMsgType.TEXT:
            data = m.data.encode()
        elif m.type == aiohttp.WSMsgType.BINARY:
            data = m.data
        else:
            break
        n += data.count(QUOTE.encode())
        if sample:
            t = time.time_ns()
            lat.extend((t - int(x)) / 1e6 for x in SRC_TS.findall(data))
    counts.append(n)


def clients_proc(url: str, transport: str, n: int, seconds: float, sample: bool,
                 stream: dict[str, object], q: mp.Queue, go: Any) -> None:  # type: ignore[type-arg]
    """``n`` clients: all connect and open their stream, say "ready" on ``q``, wait for ``go``
    (every process's clients are then connected), count for ``seconds``, send the counts, and
    close all connections at once. (Closing them one after the other took 180-200 s for 500
    json clients while the server was saturated: each close waits for the server's close reply
    behind what it is sending -- why the 1,000-client part timed out.)"""
    counts: list[int] = []
    lat: list[float] = []

    async def main() -> None:
        import aiohttp
        gate = asyncio.Semaphore(20)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                         timeout=aiohttp.ClientTimeout(total=None, sock_connect=120)) as http:
            wss = await asyncio.gather(*[_connect(http, gate, url, transport, stream) for _ in range(n)])
            q.put(("ready", n))
            while not go.is_set():  # the event loop keeps answering pings meanwhile
                await asyncio.sleep(0.01)
            await asyncio.gather(*[_count(ws, seconds, counts, lat, sample) for ws in wss])
            q.put(("counts", counts, lat))
            closing = asyncio.gather(*[ws.close() for ws in wss], return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing, 30)
    try:
        asyncio.run(main())
    except BaseException as e:  # the parent waits for the counts: tell it
        q.put(("failed", f"{type(e).__name__}: {e}"))
        raise


def run_clients(port: int, transport: str, n: int, seconds: float, sample: bool = False,
                procs: int = 1, server_pid: int = 0) -> tuple[list[int], list[float], float]:
    """Counts per client, latency samples, and the server's CPU seconds over the counting
    window (all clients connected and streaming)."""
    url = f"ws://127.0.0.1:{port}/mlink/{transport}"
    stream = {"msgName": "StockBookQuote", "activeLatency": 1, "view": "bidPrice1|askPrice1|srcTimestamp",
              "highwaterTs": -1}  # no snapshot: updates only
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    go = mp.Event()
    per = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    ps = [mp.Process(target=clients_proc, args=(url, transport, k, seconds, sample, stream, q, go))
          for k in per if k]
    for p in ps:
        p.start()
    counts: list[int] = []
    lat: list[float] = []
    cpu0 = cpu1 = 0.0
    try:
        for stage in ("ready", "counts"):
            for _ in ps:
                msg = q.get(timeout=seconds + 300)
                if msg[0] == "failed":
                    raise RuntimeError(f"client process failed: {msg[1]}")
                if msg[0] == "counts":
                    counts += msg[1]
                    lat += msg[2]
            if stage == "ready":
                cpu0 = cpu_s(server_pid) if server_pid else 0.0
                go.set()
            else:
                cpu1 = cpu_s(server_pid) if server_pid else 0.0
    finally:
        for p in ps:
            p.join(60)
            if p.is_alive():
                p.kill()
                p.join()
    return counts, lat, cpu1 - cpu0


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


async def _snapshot(port: int, transport: str) -> tuple[float, int]:
    import aiohttp
    async with aiohttp.ClientSession() as http, http.ws_connect(
            f"ws://127.0.0.1:{port}/mlink/{transport}", max_msg_size=0,
            headers={"Authorization": f"Bearer {KEY}"}) as ws:
        await ws.receive()
        t = time.perf_counter()
        await send(ws, transport, "MLinkStream", msgName="OptionNbboQuote", activeLatency=0)
        n = 0
        mark = b'"mTyp":"OptionNbboQuote"'
        while True:
            m = await ws.receive()
            data = m.data.encode() if isinstance(m.data, str) else m.data
            n += data.count(mark)
            if b'"Complete"' in data:
                return time.perf_counter() - t, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter runs, 150k-row snapshot")
    ap.add_argument("--only", choices=("json", "jsonf"), help="one transport only")
    ap.add_argument("--clients", default="1,10,100,1000", help="comma-separated client counts")
    ap.add_argument("--parts", default="clients,latency,snapshot,memory",
                    help="comma-separated subset of: clients,latency,snapshot,memory")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    secs = 2.0 if args.quick else 4.0
    transports = [args.only] if args.only else ["json", "jsonf"]
    print(f"machine: {os.cpu_count()} cores; server and clients share them; {load()}")

    # 1. throughput to 1, 10, 100, 1,000 clients (server publishes as fast as it can, 2,000 keys)
    for n in [int(x) for x in args.clients.split(",")] if "clients" in parts else ():
        line = []
        for tr in transports:
            srv, port = start_server(2000, 0, wait_streams=n)
            try:
                counts, _, cpu = run_clients(port, tr, n, secs, procs=1 if n < 100 else 2, server_pid=srv.pid)
                total = sum(counts)
                line.append(f"{tr:5s} {total / secs:10,.0f}/s (cpu {cpu / max(total, 1) * 1e5:.2f} s/100k)")
            finally:
                stop(srv)
        print(f"activeLatency 1, {n:4d} client(s): " + " | ".join(line) + f"  [{load()}]", flush=True)

    # 2. latency at stated publish rates, 10 clients
    for rate in (2000.0, 50_000.0) if "latency" in parts else ():
        line = []
        for tr in transports:
            srv, port = start_server(2000, rate, wait_streams=10)
            try:
                _, lat, _ = run_clients(port, tr, 10, secs, sample=True, procs=2)
                a = np.array(lat) if lat else np.zeros(1)
                line.append(f"{tr:5s} p50 {np.percentile(a, 50):6.2f} ms p99 {np.percentile(a, 99):6.2f} ms "
                            f"({len(lat):,})")
            finally:
                stop(srv)
        print(f"latency at {rate:7,.0f} updates/s, 10 clients: " + " | ".join(line) + f"  [{load()}]",
              flush=True)

    # 3. snapshot of 1.5 million rows to one client, 4. memory with 1,000 idle connections
    rows = 150_000 if args.quick else 1_500_000
    if "snapshot" in parts:
        snapshot(rows, transports)
    if "memory" in parts:
        memory()


def snapshot(rows: int, transports: list[str]) -> None:
    srv, port = start_server(0, 0, rows)
    try:
        line = []
        for tr in transports:
            c0, k0 = cpu_s(srv.pid), time.process_time()
            el, n = asyncio.run(_snapshot(port, tr))
            cpu, kcpu = cpu_s(srv.pid) - c0, time.process_time() - k0
            line.append(f"{tr:5s} {el:5.1f} s ({n:,} rows, {n / el:,.0f} rows/s; server cpu {cpu:.1f} s, "
                        f"client cpu {kcpu:.1f} s)")
        print(f"snapshot of {rows:,} OptionNbboQuote rows to one client: " + " | ".join(line)
              + f"  [{load()}]", flush=True)
    finally:
        stop(srv)


def memory() -> None:
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
        stop(srv)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "server":
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]),
              int(sys.argv[7]))
    else:
        main()
