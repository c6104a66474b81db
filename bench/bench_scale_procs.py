"""Scale-out benchmark, processes (issue 17): real ``openmlink serve`` processes on loopback
around a ``nats-server`` of their own.  Used by ``bench/bench_scale.py``; prints

* updates/s delivered to WebSocket clients by 1 vs 2 gateway processes (the same clients,
  streaming OptionNbboQuote, spread over the gateways, run by several client processes so
  that the clients are not the bottleneck), with each gateway's share of a core;
* publish -> WebSocket-client latency (p50/p99/max) of single OptionNbboQuote rows: published
  on a NATS bus by this process and delivered by a gateway process, vs published on the bus
  of an in-process platform serving the client itself (the client in its own process);
* the implied engine's first Loop pass over the universe with 1 vs 2 engine processes
  (``--partition 0/1`` vs ``0/2`` + ``1/2``: wall of the slower one, and their CPU seconds);
* failover: two leased engine processes, one SIGKILLed: seconds until every underlier it
  computed has a LiveImpliedQuote newer than the kill on a gateway;

each with the CPU seconds of the processes and the load average (a loaded host inflates the
wall figures: compare CPU seconds)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' helpers

from openmlink.bus import PARTITIONS, partition_of
from tests.conftest import free_port
from tests.support.serve import msgs, wait_for

KEY = "BENCH-0000-0000-0001"
TICK = os.sysconf("SC_CLK_TCK")


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
    """``pred()`` once truthy within ``timeout`` s, else None."""
    return wait_for(pred, timeout, every) or None


def rows(p: Proc, mtype: str) -> list[dict[str, Any]]:
    return msgs(p.get(cmd="getmsgs", msgType=mtype, limit=2_000_000), mtype)


def cpu_self() -> float:
    """CPU seconds of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def count(p: Proc, mtype: str) -> int:
    for e in p.get(cmd="getcount", msgType=mtype):
        if e.get("header", {}).get("mTyp") == "MLinkCount":
            return int(e["message"].get("count", 0))
    return 0


# ---------------------------------------------------------------------- clients
async def _frames(base: str, label: str, end: float) -> AsyncIterator[str]:
    """The text frames of one WebSocket client streaming every OptionNbboQuote (activeLatency
    1 ms) until the wall time ``end``."""
    async with aiohttp.ClientSession() as s, s.ws_connect(
            base.replace("http", "ws") + "/mlink/json",
            headers={"Authorization": f"Bearer {KEY}"}, max_msg_size=0) as ws:
        await ws.send_str(json.dumps({"header": {"mTyp": "MLinkStream"}, "message": {
            "queryLabel": label, "msgName": "OptionNbboQuote", "activeLatency": 1}}))
        while (left := end - time.time()) > 0:
            try:
                m = await ws.receive(timeout=left)
            except TimeoutError:
                return
            if m.type != aiohttp.WSMsgType.TEXT:
                return
            yield m.data


# ---------------------------------------------------------------------- gateways
def _count(data: str) -> int:
    # counted without parsing: the clients must not be the bottleneck being measured
    return data.count('"mTyp":"OptionNbboQuote"') + data.count('"mTyp": "OptionNbboQuote"')


async def _client(base: str, begin: float, end: float, counter: list[int], k: int) -> None:
    """One client of gateway ``k``: counts in ``counter[k]`` the updates received between the
    wall times ``begin`` and ``end``."""
    async for data in _frames(base, "q", end):
        if time.time() >= begin:
            counter[k] += _count(data)


def _client_proc(bases: list[str], n: int, first: int, begin: float, end: float,
                 out: Any) -> None:
    """A client process: ``n`` clients, client i on gateway ``(first + i) % len(bases)``;
    puts (updates counted per gateway, its CPU seconds) on ``out``."""
    counter = [0] * len(bases)

    async def run() -> None:
        await asyncio.gather(*(_client(bases[(first + i) % len(bases)], begin, end, counter,
                                       (first + i) % len(bases)) for i in range(n)))
    asyncio.run(run())
    t = os.times()
    out.put((counter, t.user + t.system))


def gateways(nats_url: str, universe: str, clients: int, seconds: float,
             quote_rate: float = 0.2, client_procs: int = 4) -> dict[str, Any]:
    """Prints, and returns: ``rate`` [1 gateway, 2 gateways] (updates/s), ``per_cpu`` [the
    single gateway's, then each of the two's updates per CPU second], ``busy`` (share of a
    core of each gateway, per run)."""
    print(f"\nupdates/s delivered to {clients} WebSocket clients in {client_procs} client "
          f"processes (OptionNbboQuote streams, universe {universe}, market --quote-rate "
          f"{quote_rate:g}, {seconds:g} s each)")
    runs = [_gateways(nats_url, universe, clients, seconds, n, quote_rate, client_procs)
            for n in (1, 2)]
    rates = [r["rate"] for r in runs]
    if rates[0] > 0:
        print(f"  2 vs 1 gateway: {rates[1] / rates[0]:.2f}x (target >= 1.7x; meaningful only "
              "if the single gateway was busy ~100% of a core, the client processes were not, "
              "and the machine had a core to spare for the second gateway; if the per-client "
              "rate is the market's rate with one gateway, raise --clients or --quote-rate)")
    one, two = runs[0]["per_cpu"], runs[1]["per_cpu"]
    if one and two and one[0] > 0:
        eff = sum(two) / len(two) / one[0]
        print(f"  updates per gateway CPU second: 1 gateway {one[0]:,.0f}; 2 gateways "
              f"{' and '.join(f'{x:,.0f}' for x in two)} (mean {eff:.2f}x the single one's). "
              "The scaling evidence a machine without a spare core can give: near 1x, the work "
              "per update does not grow with a second gateway, so with a core each 2 gateways "
              f"would deliver ~{2 * eff:.1f}x what one CPU-bound gateway does; well below 1x, "
              "they spend CPU per update on something else (the shared bus, snapshots, a "
              "starved machine). Needs each gateway to have run for seconds of CPU: raise "
              "--clients / --seconds if the CPU seconds above are a few tenths")
    return {"rate": rates, "per_cpu": [*one, *two], "busy": [r["busy"] for r in runs]}


def _gateways(nats_url: str, universe: str, clients: int, seconds: float, n: int,
              quote_rate: float, client_procs: int) -> dict[str, Any]:
    with platform(nats_url) as (procs, logs):
        procs.append(Proc(nats_url, logs, "market", "--role", "market", "--universe",
                          universe, "--bus-prefix", f"g{n}", "--quote-rate", str(quote_rate)))
        gws = [Proc(nats_url, logs, f"gw{i}", "--role", "gateway", "--bus-prefix", f"g{n}")
               for i in range(n)]
        procs.extend(gws)
        want = count(procs[0], "OptionNbboQuote")
        wait(lambda: all(count(g, "OptionNbboQuote") >= want > 0 for g in gws), 300)
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        warm = 8.0 + clients / 20  # connected and past the streams' snapshots
        begin = time.time() + warm
        end = begin + seconds
        per = [clients // client_procs + (1 if i < clients % client_procs else 0)
               for i in range(client_procs)]
        first = np.concatenate(([0], np.cumsum(per)[:-1])).tolist()
        workers = [ctx.Process(target=_client_proc,
                               args=([g.base for g in gws], k, f, begin, end, out))
                   for k, f in zip(per, first, strict=True) if k]
        for w in workers:
            w.start()
        time.sleep(max(0.0, begin - time.time()))
        cpu0 = [p.cpu_s() for p in (*gws, procs[0])]
        time.sleep(max(0.0, end - time.time()))
        cpu1 = [p.cpu_s() for p in (*gws, procs[0])]
        got = [out.get(timeout=60 + warm) for _ in workers]
        for w in workers:
            w.join(30)
        per_gw = [sum(c[k] for c, _ in got) for k in range(n)]
        rate = sum(per_gw) / seconds
        gw_cpu = [b - a for a, b in zip(cpu0[:-1], cpu1[:-1], strict=True)]
        per_cpu = [u / c if c > 0 else float("nan") for u, c in zip(per_gw, gw_cpu, strict=True)]
        busy = [c / seconds for c in gw_cpu]
        # a client process's CPU over its life (connecting, snapshots, the window)
        cli = [c / (warm + seconds) for _, c in got]
        print(f"  {n} gateway(s): {rate:12,.0f} updates/s ({rate / clients:,.0f} per client); "
              f"{load()}")
        for k in range(n):
            print(f"    gateway {k}: {per_gw[k] / seconds:10,.0f} updates/s, "
                  f"{gw_cpu[k]:5.1f} CPU s in {seconds:g} s (busy {busy[k]:.0%} of a core"
                  f"{': CPU-bound' if busy[k] > 0.9 else ''}), "
                  f"{per_cpu[k]:,.0f} updates per CPU second")
        print(f"    market {cpu1[-1] - cpu0[-1]:.1f} CPU s ({(cpu1[-1] - cpu0[-1]) / seconds:.0%});"
              f" client processes {', '.join(f'{c:.0%}' for c in cli)} of a core; "
              f"{os.cpu_count()} CPUs")
        return {"rate": rate, "per_cpu": per_cpu, "busy": busy}


# ---------------------------------------------------------------------- latency
def _latency_client(base: str, seconds: float, ready: Any, out: Any) -> None:
    """A client process: streams OptionNbboQuote (activeLatency 1 ms), says ``ready`` once
    its stream is live, then puts [(bidPrice, receive wall ns)] of every update on ``out``."""
    got: list[tuple[float, int]] = []

    async def run() -> None:
        async for data in _frames(base, "lat", time.time() + seconds):
            now = time.time_ns()
            d = json.loads(data)
            for env in d if isinstance(d, list) else [d]:
                typ = env.get("header", {}).get("mTyp")
                body = env.get("message", {})
                if typ == "OptionNbboQuote":
                    got.append((float(body["bidPrice"]), now))
                elif typ == "MLinkStreamCheckPt" and body.get("state") == "Complete":
                    ready.set()
    asyncio.run(run())
    out.put(got)


def _sample(seq: int) -> Any:
    """One OptionNbboQuote row of the synthetic underlier LATX, ``bidPrice`` = ``seq`` (its
    strike cycles over 100 keys: no conflation by the stream's activeLatency)."""
    from openmlink.bus import ColumnBatch
    from openmlink.schema import key_member_names, registry

    return ColumnBatch(registry()["OptionNbboQuote"], {
        "okey.at": np.array([key_member_names("at").index("EQT")], np.int16),
        "okey.ts": np.array([key_member_names("ts").index("NMS")], np.int16),
        "okey.tk": np.array(["LATX"], dtype=object), "okey.dt": np.array([20_600], np.int32),
        "okey.xx": np.array([float(seq % 100 + 1)]), "okey.cp": np.zeros(1, np.int8),
        "bidPrice": np.array([float(seq)]), "askPrice": np.array([float(seq) + 0.5]),
        "bidSize": np.array([1], np.int64), "askSize": np.array([1], np.int64)}, time.time_ns())


async def _paced(publish: Any, samples: int, rate: float) -> dict[int, int]:
    """Publish ``samples`` rows at ``rate`` per second; seq -> publish wall ns."""
    sent: dict[int, int] = {}
    t0 = time.monotonic()
    for i in range(samples):
        await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        batch = _sample(i + 1)
        sent[i + 1] = time.time_ns()
        publish(batch)
    return sent


def _latencies(sent: dict[int, int], got: list[tuple[float, int]]) -> np.ndarray:
    seen: dict[int, int] = {}
    for price, ns in got:
        seen.setdefault(int(price), ns)
    return np.array([(seen[k] - t) / 1e6 for k, t in sent.items() if k in seen])


async def _measure(base: str, samples: int, rate: float, publish: Any
                   ) -> tuple[np.ndarray, int]:
    ctx = mp.get_context("spawn")
    ready, out = ctx.Event(), ctx.Queue()
    client = ctx.Process(target=_latency_client,
                         args=(base, samples / rate + 25.0, ready, out))
    client.start()
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, ready.wait, 60):
        client.kill()
        raise RuntimeError(f"the latency client's stream on {base} did not start")
    await asyncio.sleep(0.5)
    warm = max(20, samples // 20)  # the first rows (connections, caches warming) not counted
    sent = await _paced(publish, samples + warm, rate)
    got = await loop.run_in_executor(None, out.get, True, samples / rate + 60)
    await loop.run_in_executor(None, client.join, 30)
    return _latencies({k: v for k, v in sent.items() if k > warm}, got), samples


def latency(nats_url: str, samples: int = 2000, rate: float = 200.0) -> dict[str, float]:
    """Prints, and returns the p99 (ms) ``inprocess`` and ``nats``."""
    print(f"\npublish -> WebSocket client latency, ms ({samples} OptionNbboQuote rows at "
          f"{rate:g}/s, one client process, activeLatency 1 ms, no other traffic)")
    from openmlink.bus import InProcessBus, NatsBus
    from openmlink.gateway import ApiKeys, Principal, ProtocolRunner, make_app
    from openmlink.platform import build_platform

    def show(name: str, ms: np.ndarray, n: int, cpu: float) -> float:
        if not len(ms):
            print(f"  {name:<26} nothing received")
            return float("nan")
        print(f"  {name:<26} p50 {np.percentile(ms, 50):7.2f}  p99 {np.percentile(ms, 99):7.2f}"
              f"  max {ms.max():7.2f}  ({len(ms)}/{n} received; {cpu:.1f} CPU s; {load()})")
        return float(np.percentile(ms, 99))

    # in-process: the bus, the store and the WebSocket server of one platform, in this process
    async def inprocess() -> tuple[np.ndarray, int]:
        keys = ApiKeys()
        keys.add(Principal(KEY, user_name="bench"))
        plat = build_platform(keys, bus=InProcessBus(), engines=frozenset(), analytics=False)
        runner = ProtocolRunner(make_app(plat.rest), access_log=None)
        await runner.setup()
        port = free_port()
        from aiohttp import web

        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            return await _measure(f"http://127.0.0.1:{port}", samples, rate, plat.bus.publish)
        finally:
            await runner.cleanup()
    c0 = cpu_self()
    ms, n = asyncio.run(inprocess())
    out = {"inprocess": show("in-process", ms, n, cpu_self() - c0)}

    # NATS: published on the bus by this process, served by a gateway process
    with platform(nats_url) as (procs, logs):
        gw = Proc(nats_url, logs, "gw", "--role", "gateway", "--bus-prefix", "lat")
        procs.append(gw)

        async def nats() -> tuple[np.ndarray, int]:
            bus = NatsBus(nats_url, prefix="lat")
            await bus.connect()
            try:
                return await _measure(gw.base, samples, rate, bus.publish)
            finally:
                await bus.close()
        c0, g0 = cpu_self(), gw.cpu_s()
        ms, n = asyncio.run(nats())
        out["nats"] = show("NATS (gateway process)", ms, n, cpu_self() - c0 + gw.cpu_s() - g0)
    return out


# ---------------------------------------------------------------------- engines
_FIRST = re.compile(r"first Loop pass done: (\d+) series in ([0-9.]+) s")
_READY = "analytics: kernels ready"


def engines(nats_url: str, universe: str) -> list[tuple[float, float]]:
    """Prints, and returns (Loop wall s of the slower process, Loop CPU s of all) for 1 and
    2 processes."""
    print(f"\nimplied engine, first Loop pass over universe {universe}: 1 vs 2 processes")
    return [_engines(nats_url, universe, n) for n in (1, 2)]


def _engines(nats_url: str, universe: str, n: int) -> tuple[float, float]:
    with platform(nats_url) as (procs, logs):
        pre = f"e{n}"
        procs.append(Proc(nats_url, logs, "market", "--role", "market", "--universe",
                          universe, "--bus-prefix", pre))
        wait(lambda: count(procs[0], "OptionNbboQuote") > 0, 300)
        time.sleep(3)  # the market's first snapshot is in JetStream
        engs = [Proc(nats_url, logs, f"eng{k}", "--role", "engine", "implied",
                     "--partition", f"{k}/{n}", "--bus-prefix", pre) for k in range(n)]
        procs.extend(engs)

        # each process's CPU seconds when its kernels are ready (the Loop pass starts) and
        # when its first Loop pass is done: the pass's CPU, within the 0.2 s polling
        ready: dict[int, float] = {}
        found: dict[int, tuple[re.Match[str], float]] = {}

        def firsts() -> list[re.Match[str]] | None:
            for k, e in enumerate(engs):
                if k in found:
                    continue
                text = e.log.read_text()
                if k not in ready and _READY in text:
                    ready[k] = e.cpu_s()
                if (m := _FIRST.search(text)) is not None:
                    found[k] = (m, e.cpu_s())
            return [found[k][0] for k in range(n)] if len(found) == n else None

        done = wait(firsts, 900, 0.2)
        if not done:
            print(f"  {n} process(es): no first Loop pass within 900 s")
            return float("nan"), float("nan")
        series = sum(int(m.group(1)) for m in done)
        slow = max(float(m.group(2)) for m in done)
        loop_cpu = [found[k][1] - ready.get(k, float("nan")) for k in range(n)]
        cpu = sum(e.cpu_s() for e in engs)
        print(f"  {n} process(es): {series:,} series, Loop pass {slow:.1f} s wall (the "
              f"slower process), its CPU {' + '.join(f'{c:.1f}' for c in loop_cpu)} s; engine "
              f"CPU since start {cpu:.1f} s incl. kernel load; {load()}")
        return slow, sum(loop_cpu)


# ---------------------------------------------------------------------- failover
def failover(nats_url: str, universe: str) -> tuple[float, float]:
    """Prints, and returns (seconds to the first, to every) LiveImpliedQuote of the dead
    engine's underliers computed again."""
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
            return float("nan"), float("nan")
        if not wait(lambda: count(gw, "LiveImpliedQuote") >= count(gw, "OptionNbboQuote") > 0,
                    600, 2):
            print("  the gateway never had every LiveImpliedQuote")
            return float("nan"), float("nan")
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
        return first, every


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
