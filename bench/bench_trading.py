"""Order-manager figures: post -> PostAck latency, sustained posts/s, re-pricing 10,000 working
orders after an underlier move, venue fills per second.  Prints figures; no thresholds.

    python bench/bench_trading.py [--orders 10000]
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openmlink.gateway import ApiKeys, Principal, RestApi
from openmlink.gcpolicy import GcPolicy
from openmlink.trading import TradingConfig
from tests.support.trading import EXPIRY, TradingRig

KEY = "BENCH-0000-0000-0001"


def _rig(data_dir: str | None, group_commit: bool = False, served: bool = False
         ) -> tuple[TradingRig, RestApi]:
    """The bare rig (bus, store, order engine), or with ``served`` the platform as
    ``openmlink serve`` builds it (record store, History, auctions, risk, auto-hedger)."""
    config = TradingConfig(key_rate=0, accnt_rate=0, group_commit=group_commit,
                           timer_s=TIMER_S[0])
    rig = TradingRig.served(data_dir, config) if served else TradingRig(data_dir=data_dir,
                                                                         config=config)
    rig.stock("AAPL", 199.9, 200.1)
    for k in range(40):
        rig.option("AAPL", 180 + k, "Put", 4.9, 5.1)
    if served:
        rig.platform.keys.add(Principal(KEY))
        return rig, rig.platform.rest
    keys = ApiKeys()
    keys.add(Principal(KEY))
    return rig, RestApi(rig.reg, rig.store, rig.bus, keys, rig.clock)


def _order(i: int, px: float = 4.8) -> bytes:
    return orjson.dumps([{"header": {"mTyp": "SpdrParentOrder"}, "message": {
        "secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": EXPIRY, "xx": 180 + i % 40,
                   "cp": "Put"}, "secType": "Option", "accnt": "B", "orderSide": "Buy",
        "spdrActionType": "Add", "orderSize": 5, "orderLimitType": "Prc", "orderPrcLimit": px,
        "groupingCode": "-".join(f"{i:016X}"[j:j + 4] for j in range(0, 16, 4)), "parentShape": "Single"}}])


def _close(rig: TradingRig) -> None:
    """Close what writes to the data directory (the journal, and served the History and the
    record store): their checkpoint threads outlive the bench's temporary directory else."""
    rig.engine.close()
    plat = getattr(rig, "platform", None)  # the served rig's
    if plat is not None:
        if plat.history is not None:
            plat.history.close()
        if plat.records is not None:
            plat.records.close()


def _load() -> str:
    """The 1-minute load average (the machine is shared: read every figure beside it)."""
    try:
        return f"load {os.getloadavg()[0]:.1f}"
    except OSError:
        return "load n/a"


class GcWatch:
    """Every cyclic-GC collection while installed: generation and CPU time of this thread."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, float]] = []
        self._t = 0.0

    def _cb(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t = time.thread_time()
        else:
            self.runs.append((info["generation"], time.thread_time() - self._t))

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._cb)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._cb)

    def text(self) -> str:
        out = []
        for g in range(3):
            ms = [t * 1e3 for gen, t in self.runs if gen == g]
            out.append(f"gen{g} {len(ms)}x max {max(ms, default=0.0):.2f} ms")
        return "GC (CPU): " + ", ".join(out)


#: the order manager's timer period (``TradingConfig.timer_s``; ``--timer-s``)
TIMER_S = [TradingConfig().timer_s]
#: the GC policy the benches follow: "policy" = the platform's (``gcpolicy.GcPolicy``: start-up
#: objects frozen, then a young collection and a freeze every interval), "startup" = only the
#: start-up freeze (before issue 11's fifth pass)
GC_MODE = ["policy"]
#: most new orders per step of the tick (--slice)
SLICE = [TradingConfig().tick_slice]
_END = object()


def _gc_start() -> GcPolicy | None:
    policy = GcPolicy()
    policy.start()
    return policy if GC_MODE[0] == "policy" else None


def _post(api: RestApi, body: bytes) -> None:
    _st, out = api.handle("POST", [("cmd", "postmsgs"), ("postaction", "I")],
                          {"Authorization": f"Bearer {KEY}"}, body)
    assert b'"OK"' in out, out


class CpuClock:
    """A clock that runs on this thread's CPU time and jumps over the waits: latencies on it
    are what the process would show with a core to itself (the development machine is
    shared; wall latencies there queue behind other processes)."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.thread_time() + self.skipped

    def sleep(self, s: float) -> None:
        self.skipped += s


def bench_posts(n: int, data_dir: str | None, rate: float, group_commit: bool = False,
                served: bool = False, cpu_clock: bool = False) -> None:
    """Open loop: post ``i`` is due at ``i / rate`` s and the order manager's timer ticks every
    ``timer_s`` on the same thread (as on the server's event loop), so a post that arrives
    while a tick runs waits for it.  Latency = PostAck time - due time.  ``rate`` 0 = back to
    back (sustained posts/s, ticks still every ``timer_s`` of elapsed time).  ``cpu_clock``:
    time is ``CpuClock`` (the thread's CPU time, waits skipped), not the wall clock."""
    rig, api = _rig(data_dir, group_commit, served)
    bodies = [_order(i) for i in range(n)]
    policy = _gc_start()  # as the served platform does (runtime.py, gateway/_server.py)
    timer_s = rig.engine.config.timer_s
    clock0 = rig.clock.time_ns()
    lat, ticks = [], []
    watch = GcWatch().__enter__()
    cc = CpuClock()
    clock, sleep = (cc, cc.sleep) if cpu_clock else (time.perf_counter, time.sleep)
    t0 = clock()
    c0 = time.process_time()
    next_tick = t0 + timer_s
    steps: Iterator[None] | None = None
    step_all: list[float] = []
    gate = 0.0
    next_gc = t0 + (policy.interval_s if policy is not None else math.inf)
    i = 0
    while i < n:
        due = t0 + i / rate if rate > 0 else clock()
        now = clock()
        if policy is not None and next_gc <= due and next_gc <= now:  # its task on the loop
            policy.step()
            next_gc += policy.interval_s
            continue
        if steps is not None and not (due <= gate):
            # the tick's next step, once the posts that arrived before the last step ended
            # are answered (asyncio.sleep(0) puts the timer's task behind the ready I/O)
            rig.clock.advance_to(clock0 + int((now - t0) * 1e9))
            t = clock()
            more = next(steps, _END) is not _END
            gate = clock()
            dt_step = gate - t
            ticks[-1] += dt_step
            step_all.append(dt_step)
            if not more:
                steps = None
            continue
        if steps is None and next_tick <= due and next_tick <= now:
            # the runtime's timer (runtime._stepped): the loop answers the posts that are due
            # between two steps (slices of new orders) of the tick
            ticks.append(0.0)
            steps = rig.engine.tick_steps(SLICE[0])
            gate = now
            next_tick += timer_s
            continue
        wake = min(due, next_tick if steps is None else now, next_gc)
        if wake > now:
            sleep(wake - now)
            continue
        rig.clock.advance_to(clock0 + int((now - t0) * 1e9))
        _post(api, bodies[i])
        lat.append(clock() - due)
        i += 1
    for _ in steps or ():
        pass
    dt = clock() - t0
    rig.clock.advance_to(clock0 + int((dt + 1) * 1e9))
    rig.engine.tick()
    cpu = (time.process_time() - c0) / n * 1e3
    watch.__exit__()
    m = rig.engine.manager
    working = sum(1 for b in m.brokers.values() if b.status[0] == "New")
    a = np.array(lat) * 1e3
    tk = np.array(ticks or [0.0]) * 1e3
    st = np.array(step_all or [0.0]) * 1e3
    what = ("journal, group commit" if group_commit else "journal") if data_dir else "no journal"
    if served:
        what = f"served: record store + History, {what}"
    how = f"at {rate:,.0f} posts/s" if rate > 0 else "back to back"
    if cpu_clock:
        how += ", on the thread's CPU clock (a core to itself)"
    print(f"post->PostAck ({what}, {how}): n={n} p50={np.percentile(a, 50):.3f} ms "
          f"p99={np.percentile(a, 99):.3f} ms max={a.max():.2f} ms; {n / dt:,.0f} posts/s "
          f"sustained; timer ticks {len(ticks)} (p50 {np.percentile(tk, 50):.2f} ms, "
          f"max {tk.max():.2f} ms; slices of {SLICE[0]} new orders: steps p50 "
          f"{np.percentile(st, 50):.2f} p99 {np.percentile(st, 99):.2f} max {st.max():.2f} ms); "
          f"{working} orders working; CPU {cpu:.3f} ms per order "
          f"(post + its share of the ticks); {watch.text()}; {_load()}")
    _close(rig)


def bench_cpu(n: int, data_dir: str, served: bool, per_tick: int = 20) -> float:
    """CPU per order with a timer tick every ``per_tick`` posts (as at 1,000 posts/s with the
    20 ms timer), whatever the wall time: unlike the timed runs, a loaded machine does not
    add ticks.  Returns ms per order (every thread of the process: the History commits too)."""
    rig, api = _rig(data_dir, served=served)
    bodies = [_order(i) for i in range(n)]
    policy = _gc_start()
    step = int(rig.engine.config.timer_s * 1e9)
    per_gc = round(policy.interval_s / rig.engine.config.timer_s) if policy else 0
    c0 = time.process_time()
    tick = 0.0  # the ticks' CPU time on this thread
    for i, body in enumerate(bodies):
        _post(api, body)
        if i % per_tick == per_tick - 1:
            rig.clock.advance_to(rig.clock.time_ns() + step)
            t = time.thread_time()
            rig.engine.tick()
            tick += time.thread_time() - t
            if policy is not None and (i // per_tick) % per_gc == per_gc - 1:
                policy.step()
    _close(rig)  # the History's last commit counted
    cpu = (time.process_time() - c0) / n * 1e3
    what = "served: record store + History, journal" if served else "bare rig, journal"
    print(f"CPU per order ({what}; {n} posts, a tick per {per_tick}): {cpu:.3f} ms, of which "
          f"the timer ticks {tick / n * 1e3:.3f} ms per new order; {_load()}")
    return cpu


def bench_reprice(n: int, px: float, what: str, data_dir: str | None = None) -> None:
    rig, api = _rig(data_dir)
    if data_dir:
        what += ", journal"
    policy = _gc_start()
    for i in range(n):
        _post(api, _order(i, px))
        if policy is not None and i % 100 == 99:  # its step every 0.1 s at 1,000 posts/s
            policy.step()
    rig.advance(5, 5)
    if policy is not None:
        policy.step()
    m = rig.engine.manager
    print(f"working orders: {sum(1 for b in m.brokers.values() if b.status[0] == 'New')} "
          f"(buy limit {px}, PostWith, bid 4.90)")
    for move in (0.5, -0.5, 0.3):
        for k in range(40):  # the underlier moves: every surface point and quote changes
            rig.option("AAPL", 180 + k, "Put", 4.9 + move / 10, 5.1 + move / 10,
                       uprc=200 + move)
        sent = m.child_seq
        with GcWatch() as watch:
            t, c = time.perf_counter(), time.process_time()
            rig.engine.tick()
            dt, cpu = time.perf_counter() - t, time.process_time() - c
        mods = sum(1 for b in m.brokers.values() for c in b.children.values() if c.mod is not None)
        t = time.perf_counter()
        rig.advance(5, 5)  # the venue confirms the modifies (or the pulls; new children)
        dt2 = time.perf_counter() - t
        if policy is not None:
            policy.step()
        prices = {round(c.price, 4) for b in m.brokers.values() for c in b.children.values()}
        print(f"re-price {n} working orders after an underlier move ({what}): {dt * 1e3:.1f} ms "
              f"(CPU {cpu * 1e3:.1f} ms); "
              f"{mods} modifies, {m.child_seq - sent} children sent; the next 5 ticks (venue "
              f"confirmations) {dt2 * 1e3:.1f} ms; child prices now {sorted(prices)[:3]}; "
              f"the move's {watch.text()}; {_load()}")
    _close(rig)


def bench_fills(n: int) -> None:
    rig, api = _rig(None)
    for i in range(n):
        api.handle("POST", [("cmd", "postmsgs"), ("postaction", "I")],
                   {"Authorization": f"Bearer {KEY}"}, _order(i, px=5.3))
    t = time.perf_counter()
    rig.advance(5, 5)
    for _ in range(5):
        for k in range(40):
            rig.option("AAPL", 180 + k, "Put", 4.9, 5.1, asz=500)
        rig.advance(5, 5)
    dt = time.perf_counter() - t
    nf = rig.engine.manager.fills_published
    print(f"venue fills through the order manager: {nf} fills in {dt:.2f} s = {nf / dt:,.0f} "
          f"fills/s (journaled and published); {_load()}")


# ---------------------------------------------------------------- a real server on a socket
def _future_expiry(days: int = 60) -> str:
    """A Friday about ``days`` ahead of today (the socket bench's server runs on the live
    clock: its series must not have expired)."""
    import datetime as _dt

    d = _dt.date.today() + _dt.timedelta(days=days)
    return (d + _dt.timedelta(days=(4 - d.weekday()) % 7)).isoformat()


def _market_recording(path: str, expiry: str) -> None:
    """The bench's market (AAPL at 200, 40 puts quoted 4.90/5.10 with a surface) as a bus
    recording, for ``openmlink serve --replay``."""
    from openmlink.bus import Event, InProcessBus
    from openmlink.clock import SimClock
    from openmlink.market import Recorder
    from openmlink.schema import decode_record, registry

    reg, bus, clock = registry(), InProcessBus(), SimClock(time.time_ns())
    rec = Recorder(path, clock, note="bench_trading --only socket")
    rec.attach(bus)

    def put(name: str, msg: dict[str, object]) -> None:
        bus.publish(Event(reg[name], "upsert", decode_record(reg[name], msg), clock.time_ns()))
    put("StockBookQuote", {"pkey": {"ticker": "AAPL-NMS-EQT"}, "bidPrice1": 199.9,
                           "askPrice1": 200.1, "bidSize1": 500, "askSize1": 500})
    for k in range(40):
        okey = f"AAPL-NMS-EQT-{expiry}-{180 + k}-P"
        put("OptionNbboQuote", {"pkey": {"okey": okey}, "bidPrice": 4.9, "askPrice": 5.1,
                                "bidSize": 20, "askSize": 20, "bidMask": 8, "askMask": 8})
        put("LiveImpliedQuote", {"pkey": {"okey": okey}, "ticker": "AAPL-NMS-EQT", "uPrc": 200.0,
                                 "years": 0.16, "rate": 0.04, "sdiv": 0.0, "sVol": 0.25,
                                 "sPrc": 5.0, "sMark": 5.0, "de": -0.4, "ga": 0.02, "ve": 0.3,
                                 "priceType": "Equity", "oBid": 4.9, "oAsk": 5.1})
    rec.close()


def _proc_cpu_s(pid: int, which: slice = slice(11, 13), thread: bool = False) -> float:
    """CPU seconds (user + system, every thread; ``which`` slice(11, 12): user only) of
    process ``pid`` so far (``thread``: of its main thread only, the event loop's)."""
    with open(f"/proc/{pid}/task/{pid}/stat" if thread else f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in parts[which]) / os.sysconf("SC_CLK_TCK")


def _socket_client(url: str, key: str, bodies: list[bytes], rate: float, conns: int,
                   out: object, ws_url: str = "") -> None:
    """Post ``bodies`` open loop at ``rate`` posts/s over ``conns`` keep-alive connections
    (aiohttp; REST ``postmsgs``, or with ``ws_url`` data messages over that many WebSocket
    sessions, each answered by an MLinkDataAck); puts (latencies in s from each post's due
    time, errors, client CPU s) on the queue ``out``.  Runs in a process of its own: its CPU
    is not the server's."""
    import asyncio

    import aiohttp

    async def run_ws(sess: aiohttp.ClientSession) -> tuple[list[float], list[str]]:
        lat: list[float] = [0.0] * len(bodies)
        errs: list[str] = []
        loop = asyncio.get_running_loop()
        socks = []
        for _ in range(conns):
            ws = await sess.ws_connect(ws_url, headers={"Authorization": f"Bearer {key}"})
            await ws.send_str(orjson.dumps({"header": {"mTyp": "MLinkLogon"},
                                            "message": {"apiKey": key}}).decode())
            m = await ws.receive()
            if "LoggedOn" not in str(m.data):
                raise RuntimeError(f"WebSocket logon refused: {m.data!r}")
            socks.append(ws)
        due: list[list[tuple[int, float]]] = [[] for _ in socks]  # acks come back in order

        async def read(k: int) -> None:
            async for m in socks[k]:
                if "MLinkDataAck" in m.data:
                    i, t = due[k].pop(0)
                    lat[i] = loop.time() - t
                    if '"OK"' not in m.data:
                        errs.append(m.data[:300])
        readers = [asyncio.ensure_future(read(k)) for k in range(conns)]
        t0 = loop.time() + 0.05
        for i, body in enumerate(bodies):
            t = t0 + i / rate
            if t > loop.time():
                await asyncio.sleep(t - loop.time())
            due[i % conns].append((i, t))
            await socks[i % conns].send_str(orjson.dumps(orjson.loads(body)[0]).decode())
        while any(due):
            await asyncio.sleep(0.01)
        for ws in socks:
            await ws.close()
        await asyncio.gather(*readers, return_exceptions=True)
        return lat, errs

    async def run() -> tuple[list[float], list[str]]:
        lat: list[float] = [0.0] * len(bodies)
        errs: list[str] = []
        params = {"cmd": "postmsgs", "postaction": "I"}
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns)) as sess:
            if ws_url:
                return await run_ws(sess)
            loop = asyncio.get_running_loop()

            async def post(i: int, due: float) -> None:
                async with sess.post(url, params=params, data=bodies[i], headers=headers) as r:
                    body = await r.read()
                lat[i] = loop.time() - due
                if b'"OK"' not in body:
                    errs.append(body[:300].decode(errors="replace"))
            # warm the connections (not timed)
            await asyncio.gather(*(sess.get(url, params={"cmd": "getcount",
                                                         "msgType": "SpdrParentOrder"},
                                            headers=headers) for _ in range(conns)))
            tasks = []
            t0 = loop.time() + 0.05
            for i in range(len(bodies)):
                due = t0 + i / rate
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                tasks.append(asyncio.ensure_future(post(i, due)))
            await asyncio.gather(*tasks)
        return lat, errs
    c0 = time.process_time()
    lat, errs = asyncio.run(run())
    out.put((lat, errs, time.process_time() - c0))  # type: ignore[attr-defined]


def bench_socket(n: int, rate: float, conns: int = 8, warm: int = 500, ws: bool = False) -> None:
    """``openmlink serve`` (replaying the bench's market, no analytics, journal and record
    store in a temporary data directory) on loopback; a client process posts ``warm`` orders,
    then ``n`` paced at ``rate`` posts/s over keep-alive HTTP (``ws``: as data messages over
    WebSocket sessions, /mlink/json).  Prints PostAck (MLinkDataAck) p50/p99 from each post's
    due time and the server's CPU per order (every thread, from /proc; its user part)."""
    import multiprocessing as mp

    import requests

    from tests.conftest import end_process, free_port, launch_serve

    with tempfile.TemporaryDirectory() as d:
        expiry = _future_expiry()
        _market_recording(f"{d}/market.omlrec", expiry)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc, log = launch_serve(base, [
            "--port", str(port), "--api-key", KEY, "--data-dir", f"{d}/data", "--no-analytics",
            "--no-sql", "--replay", f"{d}/market.omlrec", "--fast", "--keep-serving",
            "--order-rate", "0", "--accnt-order-rate", "0"], timeout=120)
        try:
            url = f"{base}/rest/json"
            for _ in range(200):  # the replay published the market
                got = requests.get(url, params={"cmd": "getcount", "msgType": "OptionNbboQuote"},
                                   headers={"Authorization": f"Bearer {KEY}"}).json()
                if got and got[0]["message"].get("count") == 40:
                    break
                time.sleep(0.1)
            ctx = mp.get_context("spawn")

            def orders(lo: int, hi: int) -> list[bytes]:
                return [_order(i).replace(EXPIRY.encode(), expiry.encode()) for i in range(lo, hi)]
            for what, bodies in (("warm-up", orders(0, warm)), ("paced", orders(warm, warm + n))):
                q = ctx.Queue()
                ws_url = f"ws://127.0.0.1:{port}/mlink/json" if ws else ""
                client = ctx.Process(target=_socket_client,
                                     args=(url, KEY, bodies, rate, conns, q, ws_url))
                idle0 = _proc_cpu_s(proc.pid)
                time.sleep(1.0)
                idle = _proc_cpu_s(proc.pid) - idle0
                c0, u0 = _proc_cpu_s(proc.pid), _proc_cpu_s(proc.pid, slice(11, 12))
                m0 = _proc_cpu_s(proc.pid, thread=True)
                client.start()
                lat, errs, ccpu = q.get(timeout=600)
                client.join()
                time.sleep(0.1)  # the last posts' timer tick
                cpu = _proc_cpu_s(proc.pid) - c0
                user = _proc_cpu_s(proc.pid, slice(11, 12)) - u0
                main = _proc_cpu_s(proc.pid, thread=True) - m0
                if what == "warm-up":
                    continue
                a = np.array(lat) * 1e3
                dt = len(bodies) / rate
                how = (f"{conns} WebSocket sessions, MLinkDataAck" if ws
                       else f"{conns} keep-alive connections")
                print(f"socket post->PostAck (openmlink serve on loopback, journal + record store "
                      f"+ History, {how}, client in its own process) "
                      f"at {rate:,.0f} posts/s: n={len(bodies)} p50={np.percentile(a, 50):.2f} ms "
                      f"p90={np.percentile(a, 90):.2f} ms p99={np.percentile(a, 99):.2f} ms "
                      f"max={a.max():.1f} ms; errors {len(errs)}{' ' + errs[0] if errs else ''}; "
                      f"server CPU {cpu / len(bodies) * 1e3:.3f} ms per order "
                      f"(user {user / len(bodies) * 1e3:.3f}; event-loop thread "
                      f"{main / len(bodies) * 1e3:.3f}) "
                      f"(idle server {idle * 1e3:.0f} ms CPU/s, so "
                      f"{(cpu - idle * (dt + 0.15)) / len(bodies) * 1e3:.3f} ms per order above "
                      f"idle); client CPU {ccpu / len(bodies) * 1e3:.3f} ms per post; {_load()}")
        finally:
            end_process(proc)
            os.unlink(log)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=10_000)
    ap.add_argument("--posts", type=int, default=3_000)
    ap.add_argument("--rate", type=float, default=1_000.0, help="paced posts per second")
    ap.add_argument("--timer-s", type=float, default=TIMER_S[0],
                    help="the order manager's timer period (TradingConfig.timer_s)")
    ap.add_argument("--slice", type=int, default=TradingConfig().tick_slice,
                    help="most new orders a step of the timer tick works (TradingConfig."
                         "tick_slice; 0 = the whole tick in one step)")
    ap.add_argument("--gc", choices=("policy", "startup"), default="policy",
                    help="policy: the platform's GC policy (gcpolicy.GcPolicy); startup: only "
                         "the start-up freeze (the policy before issue 11's fifth pass)")
    ap.add_argument("--only", choices=("posts", "served", "socket", "reprice", "fills"),
                    default=None,
                    help="served: the bare rig (journal) beside the served platform, paced and "
                         "back to back; socket: a real openmlink serve on loopback, paced posts "
                         "from a client process over HTTP")
    ap.add_argument("--conns", type=int, default=8,
                    help="keep-alive connections of the socket bench's client")
    ap.add_argument("--ws", action="store_true",
                    help="socket bench: post over WebSocket sessions (/mlink/json data "
                         "messages) instead of REST postmsgs")
    args = ap.parse_args()
    GC_MODE[0] = args.gc
    TIMER_S[0] = args.timer_s
    SLICE[0] = args.slice
    print(f"GC policy: {args.gc}; order timer {args.timer_s * 1e3:g} ms, slices of {args.slice}")
    if args.only in (None, "posts"):
        for rate in (args.rate, 0.0):
            bench_posts(args.posts, None, rate)
            for group in (False, True):
                with tempfile.TemporaryDirectory() as d:
                    bench_posts(args.posts, d, rate, group)
        for served in (False, True):
            with tempfile.TemporaryDirectory() as d:
                bench_posts(args.posts, d, args.rate, served=served, cpu_clock=True)
    if args.only in (None, "served"):
        for _ in range(2):
            for served in (False, True):
                with tempfile.TemporaryDirectory() as d:
                    bench_cpu(args.posts, d, served)
        for rate in (args.rate, 0.0):
            for served in (False, True):
                with tempfile.TemporaryDirectory() as d:
                    bench_posts(args.posts, d, rate, served=served)
    if args.only in (None, "socket"):
        bench_socket(args.posts, args.rate, args.conns, ws=args.ws)
    if args.only in (None, "reprice"):
        bench_reprice(args.orders, 4.8, "limit binds: no price changes")
        bench_reprice(args.orders, 5.0, "every child follows the bid")
        with tempfile.TemporaryDirectory() as d:
            bench_reprice(args.orders, 5.0, "every child follows the bid", d)
    if args.only in (None, "fills"):
        bench_fills(min(args.orders, 2000))


if __name__ == "__main__":
    main()
