"""Scale-out benchmark, processes (issue 17): real ``openmlink serve`` processes on loopback
around a ``nats-server`` of their own.  Used by ``bench/bench_scale.py``; prints

* updates/s delivered to WebSocket clients by 1 vs 2 gateway processes (the same clients,
  streaming OptionNbboQuote, spread over the gateways);
* the implied engine's first Loop pass over the universe with 1 vs 2 engine processes
  (``--partition 0/1`` vs ``0/2`` + ``1/2``: wall of the slower one, and their CPU seconds);
* failover: two leased engine processes, one SIGKILLed: seconds until every underlier it
  computed has a LiveImpliedQuote newer than the kill on a gateway;

each with the CPU seconds of the processes and the load average (a loaded host inflates the
wall figures: compare CPU seconds)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import requests

from openmlink.bus import PARTITIONS, partition_of

KEY = "BENCH-0000-0000-0001"
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """One ``openmlink serve`` process; its output goes to a log file."""

    def __init__(self, url: str, logdir: Path, name: str, *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = logdir / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "openmlink", "serve", "--port", str(self.port), "--api-key",
             KEY, "--bus", url, "--no-persist", "--no-sql", "--seed", "7", *args],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log.read_text()[-2000:]}")
            try:
                requests.get(f"{self.base}/health", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"{name} did not start")

    def cpu_s(self) -> float:
        """User + system CPU seconds of the process so far."""
        try:
            f = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / TICK
        except (OSError, IndexError):
            return float("nan")

    def health(self) -> dict[str, Any]:
        return requests.get(f"{self.base}/health", timeout=10).json()

    def get(self, **params: Any) -> list[dict[str, Any]]:
        return requests.get(f"{self.base}/rest/json", params={"apiKey": KEY, **params},
                            timeout=60).json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextmanager
def platform(nats_url: str) -> Iterator[tuple[list[Proc], Path]]:
    procs: list[Proc] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-logs-") as d:
        try:
            yield procs, Path(d)
        finally:
            for p in procs:
                p.stop()


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load {a:.1f}/{b:.1f}/{c:.1f}"


def wait(pred: Any, timeout: float, every: float = 0.5) -> Any:
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(every)
    return None


def rows(p: Proc, mtype: str) -> list[dict[str, Any]]:
    return [e["message"] for e in p.get(cmd="getmsgs", msgType=mtype, limit=2_000_000)
            if e.get("header", {}).get("mTyp") == mtype]


def count(p: Proc, mtype: str) -> int:
    for e in p.get(cmd="getcount", msgType=mtype):
        if e.get("header", {}).get("mTyp") == "MLinkCount":
            return int(e["message"].get("count", 0))
    return 0


# ---------------------------------------------------------------------- gateways
async def _client(base: str, seconds: float, counter: list[int]) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(
            base.replace("http", "ws") + "/mlink/json",
            headers={"Authorization": f"Bearer {KEY}"}, max_msg_size=0) as ws:
        await ws.send_str(json.dumps({"header": {"mTyp": "MLinkStream"}, "message": {
            "queryLabel": "q", "msgName": "OptionNbboQuote", "activeLatency": 100}}))
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                m = await ws.receive(timeout=left)
            except TimeoutError:
                break
            if m.type != aiohttp.WSMsgType.TEXT:
                break
            # counted without parsing: this one process reads every client's stream, it must
            # not be the bottleneck being measured
            counter[0] += m.data.count('"mTyp": "OptionNbboQuote"') + m.data.count(
                '"mTyp":"OptionNbboQuote"')


def gateways(nats_url: str, universe: str, clients: int, seconds: float,
             quote_rate: float = 0.2) -> None:
    print(f"\nupdates/s delivered to {clients} WebSocket clients (OptionNbboQuote streams, "
          f"universe {universe}, market --quote-rate {quote_rate:g}, {seconds:g} s each)")
    for n in (1, 2):
        _gateways(nats_url, universe, clients, seconds, n, quote_rate)


def _gateways(nats_url: str, universe: str, clients: int, seconds: float, n: int,
              quote_rate: float) -> None:
    with platform(nats_url) as (procs, logs):
        procs.append(Proc(nats_url, logs, "market", "--role", "market", "--universe",
                          universe, "--bus-prefix", f"g{n}", "--quote-rate", str(quote_rate)))
        gws = [Proc(nats_url, logs, f"gw{i}", "--role", "gateway", "--bus-prefix", f"g{n}")
               for i in range(n)]
        procs.extend(gws)
        wait(lambda: count(gws[-1], "OptionNbboQuote") > 0, 120)
        counter = [0]
        cpu0 = [p.cpu_s() for p in gws]

        async def run() -> None:
            await asyncio.gather(*(_client(gws[i % n].base, seconds, counter)
                                   for i in range(clients)))
        t0 = time.monotonic()
        asyncio.run(run())
        wall = time.monotonic() - t0
        cpu = sum(p.cpu_s() for p in gws) - sum(cpu0)
        print(f"  {n} gateway(s): {counter[0] / wall:10,.0f} updates/s  "
              f"(gateway CPU {cpu:.1f} s in {wall:.1f} s wall; {load()})")


# ---------------------------------------------------------------------- engines
_FIRST = re.compile(r"first Loop pass done: (\d+) series in ([0-9.]+) s")


def engines(nats_url: str, universe: str) -> None:
    print(f"\nimplied engine, first Loop pass over universe {universe}: 1 vs 2 processes")
    for n in (1, 2):
        _engines(nats_url, universe, n)


def _engines(nats_url: str, universe: str, n: int) -> None:
    with platform(nats_url) as (procs, logs):
        pre = f"e{n}"
        procs.append(Proc(nats_url, logs, "market", "--role", "market", "--universe",
                          universe, "--bus-prefix", pre))
        wait(lambda: count(procs[0], "OptionNbboQuote") > 0, 300)
        time.sleep(3)  # the market's first snapshot is in JetStream
        engs = [Proc(nats_url, logs, f"eng{k}", "--role", "engine", "implied",
                     "--partition", f"{k}/{n}", "--bus-prefix", pre) for k in range(n)]
        procs.extend(engs)

        def firsts() -> list[re.Match[str]] | None:
            ms = [_FIRST.search(e.log.read_text()) for e in engs]
            return [m for m in ms if m is not None] if all(ms) else None

        done = wait(firsts, 900, 1.0)
        if not done:
            print(f"  {n} process(es): no first Loop pass within 900 s")
            return
        series = sum(int(m.group(1)) for m in done)
        slow = max(float(m.group(2)) for m in done)
        cpu = sum(e.cpu_s() for e in engs)
        print(f"  {n} process(es): {series:,} series, Loop pass {slow:.1f} s wall (the "
              f"slower process); engine CPU since start {cpu:.1f} s incl. kernel load; "
              f"{load()}")


# ---------------------------------------------------------------------- failover
def failover(nats_url: str, universe: str) -> None:
    print(f"\nfailover: two leased engine processes (universe {universe}), one SIGKILLed")
    with platform(nats_url) as (procs, logs):
        pre = "fo"
        procs.append(Proc(nats_url, logs, "market", "--role", "market", "--universe", universe,
                          "--bus-prefix", pre))
        engs = [Proc(nats_url, logs, f"eng{k}", "--role", "engine", "implied", "--loop-seconds",
                     "5", "--bus-prefix", pre) for k in range(2)]
        procs.extend(engs)
        gw = Proc(nats_url, logs, "gw", "--role", "gateway", "--bus-prefix", pre)
        procs.append(gw)

        def owned(p: Proc) -> set[int]:
            return set(p.health()["partitions"]["owned"])

        if not wait(lambda: owned(engs[0]) and owned(engs[1]), 300):
            print("  the engines did not share the partitions")
            return
        if not wait(lambda: count(gw, "LiveImpliedQuote") >= count(gw, "OptionNbboQuote") > 0,
                    600, 2):
            print("  the gateway never had every LiveImpliedQuote")
            return
        unds = {r["ticker"]["tk"] for r in rows(gw, "LiveImpliedQuote")}
        mine = [{u for u in unds if partition_of(u, PARTITIONS) in owned(e)} for e in engs]
        v = 0 if len(mine[0]) >= len(mine[1]) else 1
        lost = mine[v]

        t0, ns = time.monotonic(), time.time_ns()
        first, every = asyncio.run(_watch_takeover(nats_url, pre, lost, ns, engs[v]))
        print(f"  {len(lost)} underliers of the dead engine: first LiveImpliedQuote computed "
              f"again {first:.2f} s after the SIGKILL, every one of them after {every:.2f} s "
              f"(lease 2 s; seen on NATS; survivor CPU {engs[1 - v].cpu_s():.1f} s since start; "
              f"{load()}; wall {time.monotonic() - t0:.1f} s)")


async def _watch_takeover(url: str, prefix: str, lost: set[str], kill_ns: int, victim: Proc
                          ) -> tuple[float, float]:
    """SIGKILL ``victim`` and watch ``<prefix>.c.LiveImpliedQuote.>`` (no gateway in the way):
    seconds until the first row, and until a row of every underlier in ``lost``, computed
    after the kill."""
    import nats
    import numpy as np

    from openmlink.bus import decode_message

    nc = await nats.connect(url)
    seen: dict[str, float] = {}
    t0 = time.monotonic()
    done = asyncio.Event()

    async def on(m: Any) -> None:
        _t, msg = decode_message(m.data)
        d = msg.data  # type: ignore[union-attr]
        new = np.asarray(d["timestamp"]) > kill_ns
        for u in set(np.asarray(d["ticker.tk"])[new].tolist()) & lost:
            seen.setdefault(u, time.monotonic() - t0)
        if set(seen) >= lost:
            done.set()

    await nc.subscribe(f"{prefix}.c.LiveImpliedQuote.>", cb=on)
    victim.proc.kill()
    try:
        await asyncio.wait_for(done.wait(), 180)
    except TimeoutError:
        pass
    await nc.close()
    if not seen:
        return float("nan"), float("nan")
    return min(seen.values()), max(seen.values()) if set(seen) >= lost else float("nan")
