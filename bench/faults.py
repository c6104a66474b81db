"""Faults against a real ``openmlink serve`` process, while a probe client measures how the
server serves everyone else (a REST getcount and a WebSocket stream's first answer):

  garbage    a client sends 100 MB of random bytes on a raw TCP connection
  body       a POST declaring a 100 MB body; a 100 MB WebSocket message
  slowloris  200 connections sending a WebSocket upgrade head one line a second, never ending it
  idle       10,000 TCP connections that never speak (the server's --max-connections is 10,000:
             the oldest silent ones are closed to make room for the probe)

Usage: python bench/faults.py [--idle 10000] [--garbage-mb 100] [--idle-timeout 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.request

KEY = "FAULT-0000-0000-0001"
CRLF = b"\r\n"
CRLF2 = b"\r\n\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rest_ms(port: int) -> tuple[float, str]:
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/rest/json?cmd=getcount&msgType=StockBookQuote"
                                    f"&apiKey={KEY}", timeout=30) as r:
            doc = json.loads(r.read())
        return (time.perf_counter() - t) * 1000, doc[-1]["message"]["result"]
    except OSError as e:
        return float("nan"), type(e).__name__


async def _ws_once(port: int) -> float:
    import aiohttp
    t = time.perf_counter()
    async with aiohttp.ClientSession() as http, http.ws_connect(
            f"ws://127.0.0.1:{port}/mlink/json", headers={"Authorization": f"Bearer {KEY}"}) as ws:
        await ws.send_str(json.dumps({"header": {"mTyp": "MLinkStream"},
                                      "message": {"msgName": "StockBookQuote", "activeLatency": 1}}))
        while True:
            m = await ws.receive(timeout=30)
            if m.type != aiohttp.WSMsgType.TEXT or "MLinkStreamAck" in m.data:
                break
    return (time.perf_counter() - t) * 1000


def ws_ms(port: int) -> float:
    try:
        return asyncio.run(_ws_once(port))
    except Exception as e:  # report, do not stop the run
        print(f"    ws probe failed: {type(e).__name__}: {e}")
        return float("nan")


def probe(port: int, label: str) -> None:
    r, res = rest_ms(port)
    print(f"  probe {label}: REST {r:.1f} ms ({res}), WebSocket stream ack {ws_ms(port):.1f} ms", flush=True)


def garbage(port: int, mb: int) -> None:
    chunk = os.urandom(1 << 20)
    sent = 0
    answer = b""
    t = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        try:
            for _ in range(mb):
                c.sendall(chunk)
                sent += len(chunk)
        except OSError as e:
            why = type(e).__name__
        else:
            why = "all sent"
        try:
            while d := c.recv(65536):
                answer += d
        except OSError:
            pass
    head = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    body = answer.partition(b"\r\n\r\n")[2][:160].decode(errors="replace")
    print(f"  garbage: {sent / 2**20:.0f} of {mb} MiB sent before the server closed ({why}) in "
          f"{time.perf_counter() - t:.2f} s; answer: {head!r} {body!r}", flush=True)


def big_body(port: int, mb: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        c.sendall(f"POST /rest/json?cmd=postmsgs&postAction=I&apiKey={KEY} HTTP/1.1\r\nHost: x\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {mb << 20}\r\n\r\n".encode())
        c.sendall(b"[" * 65536)
        answer = c.recv(65536)
    head, _, body = answer.partition(CRLF2)
    print(f"  {mb} MB POST body: {head.split(CRLF, 1)[0].decode()!r} "
          f"{body[:160].decode(errors='replace')!r}", flush=True)

    async def ws_big() -> str:
        import aiohttp
        async with aiohttp.ClientSession() as http, http.ws_connect(
                f"ws://127.0.0.1:{port}/mlink/json", headers={"Authorization": f"Bearer {KEY}"}) as ws:
            try:
                await ws.send_str("x" * (mb << 20))
            except OSError as e:
                return f"send failed: {type(e).__name__}"
            while (await ws.receive(timeout=60)).type == aiohttp.WSMsgType.TEXT:
                pass
            return f"closed with code {ws.close_code}"
    print(f"  {mb} MB WebSocket message: {asyncio.run(ws_big())}", flush=True)


def slowloris(port: int, n: int, seconds: float) -> None:
    conns = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"GET /mlink/json HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
        conns.append(c)
    t0 = time.monotonic()
    closed_at: dict[int, float] = {}
    while time.monotonic() - t0 < seconds and len(closed_at) < n:
        for i, c in enumerate(conns):
            if i in closed_at:
                continue
            try:
                c.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed_at[i] = time.monotonic() - t0
        time.sleep(1.0)
    for c in conns:
        c.close()
    times = sorted(closed_at.values())
    print(f"  slowloris: {len(closed_at)} of {n} connections closed by the server within {seconds:.0f} s"
          + (f" (after {times[0]:.1f}-{times[-1]:.1f} s)" if times else ""), flush=True)


def idle(port: int, n: int) -> list[socket.socket]:
    conns = []
    t = time.perf_counter()
    for i in range(n):
        try:
            conns.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        except OSError as e:
            print(f"  idle: connection {i} failed: {e}")
            break
    print(f"  idle: {len(conns)} silent connections open in {time.perf_counter() - t:.1f} s", flush=True)
    return conns


def count_closed(conns: list[socket.socket]) -> int:
    closed = 0
    for c in conns:
        c.setblocking(False)
        try:
            if c.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=int, default=10_000)
    ap.add_argument("--garbage-mb", type=int, default=100)
    ap.add_argument("--idle-timeout", type=float, default=10.0)
    ap.add_argument("--slowloris", type=int, default=200)
    ap.add_argument("--only", choices=("idle",), help="run only this fault")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.idle + args.slowloris + 100
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    server = subprocess.Popen([sys.executable, "-m", "openmlink", "serve", "--port", str(port),
                               "--api-key", KEY, "--no-persist", "--no-sql", "--no-analytics",
                               "--universe", "small", "--idle-timeout", str(args.idle_timeout),
                               "--max-connections", "10000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and rest_ms(port)[1] != "Ok":
            time.sleep(0.5)
        print(f"server pid {server.pid}, port {port}, --idle-timeout {args.idle_timeout:g} s, "
              f"--max-connections 10000")
        probe(port, "before")
        for name, fn in () if args.only else (("garbage", lambda: garbage(port, args.garbage_mb)),
                         ("body", lambda: big_body(port, args.garbage_mb)),
                         ("slowloris", lambda: slowloris(port, args.slowloris, args.idle_timeout + 10))):
            print(f"{name}:", flush=True)
            th = threading.Thread(target=fn)
            th.start()
            time.sleep(0.5)
            probe(port, f"during {name}")
            th.join()
            probe(port, f"after {name}")
        print("idle:", flush=True)
        conns = idle(port, args.idle)
        for i in range(3):
            probe(port, f"{i + 1} with {len(conns)} silent connections")
            time.sleep(1.0)
        print(f"  idle: {count_closed(conns)} of {len(conns)} closed by the server so far "
              "(to make room, or idle longer than --idle-timeout)", flush=True)
        time.sleep(args.idle_timeout + 5)
        print(f"  idle: {count_closed(conns)} of {len(conns)} closed after the idle timeout", flush=True)
        for c in conns:
            c.close()
        probe(port, "after idle")
        print(f"server still running: {server.poll() is None}")
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
