"""Soak: 1,000 WebSocket clients on loopback against one server process, for a set duration.

Client kinds (shares of ``--clients``):
  stream     MLinkStream StockBookQuote, a 20-ticker ``|`` chain, no view, activeLatency 1000
  view       the same with a view (bidPrice1|askPrice1|srcTimestamp), activeLatency 500
  subscribe  MLinkSubscribe of 10 StockBookQuote keys, activeLatency 500
  stalled    streams every StockBookQuote and never reads again (the server must conflate)
  storm      connects, streams, reads the snapshot, disconnects, reconnects at once (a storm)
  midsnap    streams the whole OptionNbboQuote table and disconnects after the first frame

A share of every kind (``--jsonf``, default 0.3) talks framed JSON on ``/mlink/jsonf`` (14-byte
frame headers, several messages per binary frame), the rest plain JSON on ``/mlink/json``.

The server publishes StockBookQuote updates at ``--rate`` per second in 10 batches a second
(``srcTimestamp`` = the publish time; latency includes the activeLatency conflation wait)
and holds ``--snapshot-rows`` OptionNbboQuote rows. Every ``--report-s`` seconds
it prints: server RSS and its trend over the last half of the run so far (MiB/min, a linear
fit), updates/s delivered to reading clients (all, and on json/jsonf), p50/p99
publish-to-client latency, errors of reading clients, reading clients that received nothing in
the interval ("starved"), reconnects of the storm/midsnap clients, one REST round trip, the
server's CPU seconds in the interval, the load average, and every client's errors by kind.
At the end: the RSS trend over the last half of the run ("flat" is under +0.5 MiB/min,
inferred), the errors and starved intervals of reading clients after the first interval
(which includes connecting), and ``soak: PASS`` or ``FAIL``; the exit status is 1 unless all
three pass. ``--kinds storm=0.5,stream=0.5`` replaces the mix of client kinds (to find which
one makes memory grow).
On a loaded machine the server and the client processes compete for CPU: the server falls
behind (latency and the REST round trip grow, delivered updates/s fall) -- read the server CPU
and load columns before the latency ones.

``--debug FILE``: every ``--report-s`` seconds the server appends to FILE the counts of what
should not outlive a connection (sessions, streams, subscriptions, asyncio tasks, hub watchers,
encoders, open connections), the object types whose number grew most, the encoder caches
(rows and bytes per type, view and framing), the tables, and glibc's heap (``mallinfo2``: bytes
in use -- growing while Python's objects and blocks stay flat is memory held below Python --
vs held free, which grows with fragmentation);
with ``--trace [FRAMES]`` also the largest allocation growths since the previous dump and since
the second one (tracemalloc, by line, and by traceback with FRAMES > 1; tracing slows the
server 2-3x, so use it on a short run with fewer clients).

Usage: python bench/soak.py [--minutes 10] [--clients 1000] [--procs 4] [--rate 500] [--jsonf 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import multiprocessing as mp
import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
from wsclient import cpu_s, envelopes, free_port, rss_mib, send

KEY = "SOAK-0000-0000-0001"
KINDS = {"stream": 0.40, "view": 0.30, "subscribe": 0.15, "stalled": 0.05, "storm": 0.05,
         "midsnap": 0.05}
READING = ("stream", "view", "subscribe")
#: the send cycle (activeLatency) each reading kind asks for: an update waits up to one cycle
ACTIVE_LATENCY_MS = {"stream": 1000, "view": 500, "subscribe": 500}


# ---------------------------------------------------------------- server process
def serve(port: int, tickers: int, rate: float, snapshot_rows: int, debug: str = "") -> None:
    from aiohttp import web

    from openmlink.bus import ColumnBatch
    from openmlink.gateway import ApiKeys, HttpLimits, Principal, ProtocolRunner, make_app
    from openmlink.gcpolicy import GcPolicy
    from openmlink.platform import build_platform
    from openmlink.schema._keys import key_member_names
    from openmlink.schema._values import datekey_from_text

    k = ApiKeys()
    k.add(Principal(KEY))
    plat = build_platform(k, analytics=False)
    sbq = plat.registry["StockBookQuote"]
    eqt = key_member_names("at").index("EQT")
    nms = key_member_names("ts").index("NMS")
    names = np.array([f"S{i:05d}" for i in range(tickers)], dtype=object)
    onq = plat.registry["OptionNbboQuote"]
    rng = np.random.default_rng(3)
    base = datekey_from_text("2026-12-18")
    for i in range(0, snapshot_rows, 100_000):
        m = min(100_000, snapshot_rows - i)
        idx = np.arange(i, i + m)
        plat.bus.publish(ColumnBatch(onq, {
            "okey.at": np.full(m, eqt, np.int16), "okey.ts": np.full(m, nms, np.int16),
            "okey.tk": np.array([f"U{j:04d}" for j in (idx // 2) % 1000], dtype=object),
            "okey.dt": (base + 7 * ((idx // 2000) % 50)).astype(np.int32),
            "okey.xx": 10.0 + 5.0 * (idx // 100_000), "okey.cp": (idx % 2).astype(np.int8),
            "bidPrice": rng.uniform(0, 50, m).round(2), "askPrice": rng.uniform(50, 60, m).round(2),
        }))

    async def main() -> None:
        app = make_app(plat.rest, limits=HttpLimits(max_connections=20_000))
        runner = ProtocolRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=runner.limits.listen_backlog).start()
        if debug:
            app._soak_gate = runner.gate  # type: ignore[attr-defined]
            asyncio.get_running_loop().create_task(_debug_dumps(debug, app))
        gc_task = asyncio.get_running_loop().create_task(policy.run())  # noqa: F841  (as serve)
        print(f"READY {os.getpid()}", flush=True)
        batch = max(1, int(rate / 10))  # 10 batches a second
        i = 0
        next_t = time.monotonic()
        while True:
            sel = rng.integers(0, tickers, batch)
            i += batch
            now = time.time_ns()
            px = (i % 10_000) / 100.0
            plat.bus.publish(ColumnBatch(sbq, {
                "ticker.at": np.full(batch, eqt, np.int16), "ticker.ts": np.full(batch, nms, np.int16),
                "ticker.tk": names[sel], "bidPrice1": np.full(batch, px),
                "askPrice1": np.full(batch, px + 0.01), "srcTimestamp": np.full(batch, now, np.int64),
            }, now))
            next_t += batch / rate
            await asyncio.sleep(max(0.0, next_t - time.monotonic()))

    if debug and TRACE:
        import tracemalloc
        tracemalloc.start(TRACE)
    if not os.environ.get("SOAK_NO_UVLOOP"):  # SOAK_NO_UVLOOP=1: asyncio's own loop (a bisection aid)
        try:
            import uvloop
            uvloop.install()
        except ImportError:
            pass
    policy = GcPolicy()  # the GC policy `openmlink serve` follows (openmlink/gcpolicy.py)
    policy.start()
    asyncio.run(main())


async def _debug_dumps(path: str, app: object) -> None:
    """Every ``DEBUG_EVERY_S``: the counts of per-connection objects, the object types whose
    number grew most since the last dump, and (with tracing) the largest allocation growths by
    line and traceback (see ``--debug``)."""
    import gc
    import linecache
    import tracemalloc

    from openmlink.gateway import _server
    from openmlink.gateway._session import MLinkSession
    from openmlink.gateway._streams import _Stream
    from openmlink.gateway._subscriptions import _Sub

    hub = app[_server.HUB]  # type: ignore[index]
    tracing = tracemalloc.is_tracing()
    prev = tracemalloc.take_snapshot() if tracing else None
    prev_types: collections.Counter[str] = collections.Counter()
    t0 = time.monotonic()
    n = 0
    while True:
        n += 1
        await asyncio.sleep(max(0.0, t0 + n * DEBUG_EVERY_S - time.monotonic()))
        gc.unfreeze()  # the server's GC policy froze them: get_objects lists only unfrozen ones
        gc.collect()
        objs = gc.get_objects()
        gc.freeze()
        types = collections.Counter(type(o).__name__ for o in objs)
        kinds = collections.Counter(type(o).__name__ for o in objs
                                    if isinstance(o, (MLinkSession, _Stream, _Sub)))
        # bytes waiting in the transports' buffers (clients slower than the server)
        bufs = [o.transport.get_write_buffer_size() for o in objs if isinstance(o, _server._Wire)
                and not o.transport.is_closing()]
        held = _held_line(objs)
        del objs
        watchers = {k: len(v) for k, v in hub._watchers.items() if v}
        gate = getattr(app, "_soak_gate", None)
        with open(path, "a") as f:
            f.write(f"=== dump {n} at {n * DEBUG_EVERY_S / 60:.1f} min: tasks {len(asyncio.all_tasks())}, "
                    f"objects {dict(kinds)}, watchers {watchers}, encoders {len(hub.encoders._enc)}, "
                    f"connections {gate.open if gate else '?'}, gc objects {sum(types.values())}, "
                    f"pymalloc blocks {sys.getallocatedblocks()}, write buffers {sum(bufs) / 2**20:.1f} MiB "
                    f"(max {max(bufs, default=0) / 1024:.0f} KiB, {sum(b > 65536 for b in bufs)} "
                    f"over 64 KiB), "
                    f"RSS {rss_mib(os.getpid()):.1f} MiB\n")
            f.write("  " + _caches_line(hub) + "\n")
            f.write("  " + held + "\n")
            f.write("  " + _malloc_line() + "\n")
            f.write("  " + _smaps_line() + "\n")
            from openmlink import gcpolicy
            if gcpolicy._ACTIVE:
                pol = gcpolicy._ACTIVE[0]
                f.write(f"  gc policy: {pol.majors} majors, {pol.trims} heap trims, "
                        f"last {pol.trim_ms:.2f} ms CPU\n")
            grew = sorted(((c - prev_types.get(t, 0), t) for t, c in types.items()), reverse=True)[:15]
            f.write("  types grown: " + ", ".join(f"{t} {d:+d} ({types[t]})" for d, t in grew if d > 0)
                    + "\n")
            prev_types = types
            if tracing:
                snap = tracemalloc.take_snapshot().filter_traces([
                    tracemalloc.Filter(False, tracemalloc.__file__),
                    tracemalloc.Filter(False, linecache.__file__)])
                cur, peak = tracemalloc.get_traced_memory()
                f.write(f"  traced {cur / 2**20:.1f} MiB (peak {peak / 2**20:.1f})\n")
                for d in snap.compare_to(prev, "lineno")[:25]:
                    f.write(f"  {d}\n")
                for d in (snap.compare_to(prev, "traceback")[:3] if TRACE > 1 else ()):
                    f.write(f"  -- {d.size_diff / 1024:+.0f} KiB, {d.count_diff:+d} blocks:\n")
                    for line in d.traceback.format()[-12:]:
                        f.write(f"     {line}\n")
                prev = snap
                if n == 2:
                    base = snap  # after the connecting and the first caches: growth is counted from here
                elif n > 2:
                    diffs = snap.compare_to(base, "lineno")
                    f.write(f"  since dump 2: {sum(d.size_diff for d in diffs) / 2**20:+.2f} MiB traced\n")
                    for d in diffs[:15]:
                        f.write(f"    {d}\n")


def _held_line(objs: list[object]) -> str:
    """Bytes held below Python's object counts, by holder: bytes and bytearrays over 512 bytes
    (malloc'd, not pymalloc blocks) and NumPy arrays owning their data (not gc-tracked), each
    counted once, under the type of the first container found referring to it (a dict under
    its key)."""
    import gc
    seen: set[int] = set()
    size: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()

    def take(r: object, label: str) -> None:
        if id(r) in seen:
            return
        if isinstance(r, (bytes, bytearray)):
            n = len(r)
            if n <= 512:
                return
        elif isinstance(r, np.ndarray) and r.base is None:
            n = r.nbytes
        else:
            return
        seen.add(id(r))
        size[label] += n
        count[label] += 1

    for o in objs:
        if isinstance(o, dict):
            for k, v in o.items():
                take(v, f"dict[{k!r:.30}]")
        else:
            label = type(o).__name__
            for r in gc.get_referents(o):
                take(r, label)
    top = size.most_common(12)
    return ("held below Python (bytes > 512 B, arrays' data) by holder: "
            + ", ".join(f"{k} {v / 2**20:.2f} MiB ({count[k]})" for k, v in top)
            + f"; total {sum(size.values()) / 2**20:.1f} MiB")


def _caches_line(hub: object) -> str:
    """The gateway's encoder caches (filled slots and bytes of cached frames, per type/view and
    framing) and the store's tables (rows, capacity, vocabulary words, change-log entries): what
    may fill slowly."""
    parts = []
    total = 0
    for (name, view), enc in hub.encoders._enc.items():  # type: ignore[attr-defined]
        for framing, c in enc._caches.items():
            nb = c.nbytes()
            total += nb
            parts.append(f"{name}{'' if view is None else '/view'}/{framing} {c.filled()}:{nb / 2**20:.1f}M")
    tables = []
    for name, t in hub.store._tables.items():  # type: ignore[attr-defined]
        words = sum(len(v.words) for v in t.vocabs.values())
        tables.append(f"{name} {t.n}/{t.capacity} w{words} log{len(t._log_rows)}")
    return (f"encoder caches {total / 2**20:.1f} MiB ({', '.join(parts)}); "
            f"tables {', '.join(tables)}")


def _malloc_line() -> str:
    """glibc's own figures (``gcpolicy.heap_info``): heap bytes in use vs held free -- free
    bytes that grow while the in-use ones stay flat are fragmentation, not a leak."""
    from openmlink.gcpolicy import heap_info

    i = heap_info()
    if i is None:
        return "malloc: mallinfo2 not available"
    mib = 2 ** 20
    return (f"malloc: in use {i['in_use'] / mib:.1f} MiB, free in heap {i['free'] / mib:.1f} MiB "
            f"({i['chunks']} chunks), heap {i['heap'] / mib:.1f} MiB, mmapped {i['mmapped'] / mib:.1f} MiB "
            f"({i['mmaps']}); MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', '-')}")


def _smaps_line() -> str:
    """Where the resident pages are (``/proc/self/smaps``): glibc's heap, anonymous mappings
    (pymalloc arenas, big NumPy arrays, thread stacks), file-backed ones (libraries), and
    pymalloc's arenas (``sys._debugmallocstats``): what of RSS grows."""
    kib: collections.Counter[str] = collections.Counter()
    n: collections.Counter[str] = collections.Counter()
    what = ""
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                path = head[5] if len(head) > 5 else ""
                what = "heap" if path == "[heap]" else "stack" if path.startswith("[stack") else \
                    "anon" if not path or path.startswith("[anon") else \
                    "[other]" if path.startswith("[") else "file"
                n[what] += 1
            elif head[0] == "Rss:":
                kib[what] += int(head[1])
    r, w = os.pipe()
    saved = os.dup(2)
    try:  # _debugmallocstats writes to C's stderr
        os.dup2(w, 2)
        os.close(w)
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    text = b""
    while chunk := os.read(r, 1 << 16):
        text += chunk
        if len(chunk) < 1 << 16:
            break
    os.close(r)
    stats = dict(re.findall(r"# (arenas allocated current|bytes in allocated blocks|bytes in available "
                            r"blocks) *= *([\d,]+)", text.decode()))
    return ("RSS by mapping: " + ", ".join(f"{k} {v / 1024:.1f} MiB ({n[k]})" for k, v in sorted(kib.items()))
            + "; pymalloc: " + ", ".join(f"{k} {v}" for k, v in stats.items()))


DEBUG_EVERY_S = 60.0
TRACE = 0  # frames kept per traced allocation (0: not tracing)


def _probe_ms(port: int) -> float:
    """Round trip of one REST getcount while the soak runs (the server's responsiveness)."""
    import urllib.request
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/rest/json?cmd=getcount&msgType=StockBookQuote"
                                    f"&apiKey={KEY}", timeout=30) as r:
            r.read()
    except OSError:
        return float("nan")
    return (time.perf_counter() - t) * 1000


# ---------------------------------------------------------------- client processes
class Stats:
    def __init__(self) -> None:
        self.updates: collections.Counter[str] = collections.Counter()  # by transport
        self.lat: list[float] = []
        self.over: list[float] = []  # latency less the client's activeLatency (the wait by design)
        self.errors: collections.Counter[str] = collections.Counter()
        self.reconnects = 0
        self.got: dict[int, int] = {}  # reading client id -> messages this interval

    def take(self, reading_ids: list[int]) -> dict[str, object]:
        starved = sum(1 for c in reading_ids if self.got.get(c, 0) == 0)
        out = {"updates": dict(self.updates), "lat": self.lat, "over": self.over, "errors": dict(self.errors),
               "reconnects": self.reconnects, "starved": starved, "reading": len(reading_ids)}
        self.updates, self.lat, self.over, self.errors, self.reconnects, self.got = (
            collections.Counter(), [], [], collections.Counter(), 0, {})
        return out


_CLOSED = ("CLOSE", "CLOSED", "CLOSING", "ERROR")


async def _reading(cid: int, kind: str, transport: str, url: str, tickers: int, st: Stats,
                   end: float) -> None:
    import aiohttp
    rnd = random.Random(cid)
    mine = [f"S{rnd.randrange(tickers):05d}" for _ in range(20)]
    name = f"{kind}/{transport}"
    cycle_ms = ACTIVE_LATENCY_MS[kind]
    while time.monotonic() < end:
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(
                    url, headers={"Authorization": f"Bearer {KEY}"}, max_msg_size=0, heartbeat=None) as ws:
                if kind == "subscribe":
                    await send(ws, transport, "MLinkSubscribe", activeLatency=cycle_ms, Subscribe=[
                        {"msgName": "StockBookQuote", "msgPKey": f"{t}-NMS-EQT"} for t in mine[:10]])
                else:
                    where = " | ".join(f"ticker:eq:{t}-NMS-EQT" for t in mine)
                    extra = {"view": "bidPrice1|askPrice1|srcTimestamp", "activeLatency": cycle_ms} \
                        if kind == "view" else {"activeLatency": cycle_ms}
                    await send(ws, transport, "MLinkStream", msgName="StockBookQuote", where=where, **extra)
                while time.monotonic() < end:
                    try:
                        m = await ws.receive(timeout=max(0.1, min(5.0, end - time.monotonic())))
                    except TimeoutError:
                        continue
                    if m.type.name in _CLOSED:
                        if time.monotonic() < end:
                            st.errors[f"{name}: closed by server ({ws.close_code})"] += 1
                        break
                    t = time.time_ns()
                    try:
                        docs = envelopes(m.data, transport)
                    except (ValueError, AssertionError) as e:
                        st.errors[f"{name}: bad frame ({str(e)[:60]})"] += 1
                        continue
                    for d in docs:
                        mt = d["header"]["mTyp"]
                        body = d["message"]
                        if mt == "StockBookQuote":
                            st.updates[transport] += 1
                            st.got[cid] = st.got.get(cid, 0) + 1
                            ts = body.get("srcTimestamp")
                            if isinstance(ts, int) and rnd.random() < 0.1:
                                st.lat.append((t - ts) / 1e6)
                                st.over.append((t - ts) / 1e6 - cycle_ms)
                        elif mt.endswith("Ack"):
                            res = body.get("result", "OK")
                            if mt == "MLinkSubscribeAck":
                                bad = [i for i in body.get("Subscribe", [])
                                       if i.get("result") not in ("OK", None)]
                            else:
                                bad = [] if res == "OK" else [res]
                            if bad:
                                st.errors[f"{name}: {mt} {bad[:1]}"] += 1
                if time.monotonic() >= end:
                    return
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            st.errors[f"{name}: {type(e).__name__}"] += 1
        st.reconnects += 1
        await asyncio.sleep(1.0)


async def _stalled(cid: int, transport: str, url: str, st: Stats, end: float) -> None:
    import aiohttp
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(
                url, headers={"Authorization": f"Bearer {KEY}"}, max_msg_size=0, heartbeat=None) as ws:
            await send(ws, transport, "MLinkStream", msgName="StockBookQuote", activeLatency=1)
            await asyncio.sleep(max(0.0, end - time.monotonic()))  # never reads
    except (aiohttp.ClientError, OSError) as e:
        st.errors[f"stalled/{transport}: {type(e).__name__}"] += 1


async def _churn(cid: int, kind: str, transport: str, url: str, st: Stats, end: float) -> None:
    import aiohttp
    rnd = random.Random(cid)
    name = f"{kind}/{transport}"
    while time.monotonic() < end:
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(
                    url, headers={"Authorization": f"Bearer {KEY}"}, max_msg_size=0) as ws:
                if kind == "storm":
                    await send(ws, transport, "MLinkStream", msgName="StockBookQuote",
                               where=f"ticker:eq:S{rnd.randrange(100):05d}-NMS-EQT", activeLatency=100)
                    while True:
                        m = await ws.receive(timeout=30)
                        if m.type.name in _CLOSED:
                            st.errors[f"{name}: closed before Complete ({ws.close_code})"] += 1
                            break
                        if any(d["message"].get("state") == "Complete" for d in envelopes(m.data, transport)):
                            break
                else:  # midsnap: the whole option table, gone after the first frames
                    await send(ws, transport, "MLinkStream", msgName="OptionNbboQuote", activeLatency=100)
                    await ws.receive(timeout=30)
                    await ws.receive(timeout=30)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as e:
            st.errors[f"{name}: {type(e).__name__}"] += 1
        st.reconnects += 1
        await asyncio.sleep(rnd.uniform(0.5, 2.0) if kind == "storm" else rnd.uniform(5.0, 10.0))


def clients_proc(base_url: str, ids: list[tuple[int, str, str]], tickers: int, seconds: float,
                 report_s: float, q: mp.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        st = Stats()
        end = time.monotonic() + seconds
        tasks = []
        for cid, kind, transport in ids:
            url = base_url + transport
            if kind in READING:
                tasks.append(asyncio.create_task(_reading(cid, kind, transport, url, tickers, st, end)))
            elif kind == "stalled":
                tasks.append(asyncio.create_task(_stalled(cid, transport, url, st, end)))
            else:
                tasks.append(asyncio.create_task(_churn(cid, kind, transport, url, st, end)))
            await asyncio.sleep(0.05)  # connect over a few seconds, not in one burst
        reading = [cid for cid, kind, _ in ids if kind in READING]
        t0 = time.monotonic()
        n = 1
        while t0 + n * report_s <= end + 1.0:  # whole intervals only
            await asyncio.sleep(max(0.0, t0 + n * report_s - time.monotonic()))
            n += 1
            q.put(st.take(reading))
        await asyncio.gather(*tasks, return_exceptions=True)
        q.put(None)

    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--procs", type=int, default=4, help="client processes")
    ap.add_argument("--tickers", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=500.0, help="StockBookQuote updates published per second")
    ap.add_argument("--snapshot-rows", type=int, default=20_000)
    ap.add_argument("--report-s", type=float, default=60.0)
    ap.add_argument("--jsonf", type=float, default=0.3, help="share of clients on /mlink/jsonf")
    ap.add_argument("--debug", default="", metavar="FILE",
                    help="per-connection object counts and growing object types of the server to FILE")
    ap.add_argument("--trace", type=int, default=0, const=1, nargs="?", metavar="FRAMES",
                    help="with --debug: also trace allocations (tracemalloc, FRAMES frames each, default 1; "
                         "slows the server 2-3x, more with more frames: use fewer clients)")
    ap.add_argument("--kinds", default="", metavar="KIND=SHARE,...",
                    help="client kinds and their shares instead of the default mix "
                         "(e.g. storm=0.5,stream=0.5: isolate what makes memory grow)")
    args = ap.parse_args()
    port = free_port()
    # SOAK_SERVER_PREFIX="heaptrack -o FILE": the server runs under a memory profiler (its own
    # session, so that stopping it stops the profiler's child too)
    prefix = os.environ.get("SOAK_SERVER_PREFIX", "").split()
    server = subprocess.Popen([*prefix, sys.executable, __file__, "server", str(port), str(args.tickers),
                               str(args.rate), str(args.snapshot_rows), args.debug, str(args.report_s),
                               str(args.trace)],
                              stdout=subprocess.PIPE, start_new_session=True)
    assert server.stdout is not None
    while not (line := server.stdout.readline()).startswith(b"READY") and line:
        pass
    assert line.startswith(b"READY"), line
    spid = int(line.split()[1])  # the server's own process (not the profiler's)
    base_url = f"ws://127.0.0.1:{port}/mlink/"
    shares = _shares(args.kinds) if args.kinds else KINDS
    kinds = [k for k, share in shares.items() for _ in range(round(share * args.clients))][: args.clients]
    # every kind split between the transports in the same proportion
    seen: collections.Counter[str] = collections.Counter()
    ids: list[tuple[int, str, str]] = []
    for cid, kind in enumerate(kinds):
        seen[kind] += 1
        share_before = int((seen[kind] - 1) * args.jsonf)
        ids.append((cid, kind, "jsonf" if int(seen[kind] * args.jsonf) > share_before else "json"))
    random.Random(1).shuffle(ids)
    seconds = args.minutes * 60
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    procs = [mp.Process(target=clients_proc, daemon=True,
                        args=(base_url, ids[i:: args.procs], args.tickers, seconds, args.report_s, q))
             for i in range(args.procs)]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on a kill too
    n_jsonf = sum(1 for _, _, t in ids if t == "jsonf")
    mix = ", ".join(f"{k} {kinds.count(k)}" for k in shares)
    print(f"soak: {len(ids)} clients ({mix}; {n_jsonf} of them on jsonf) in {args.procs} processes, "
          f"{args.rate:,.0f} updates/s published over {args.tickers} "
          f"tickers, {args.snapshot_rows:,} option rows, {args.minutes:g} min; server pid {spid}"
          + (f"; debug dumps{' with tracemalloc' if args.trace else ''} to {args.debug}"
             if args.debug else ""), flush=True)
    print(f"{'t(min)':>6} {'RSS MiB':>8} {'MiB/min':>7} {'upd/s':>7} {'json':>6} {'jsonf':>6} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'p99-cyc':>7} {'rd err':>6} {'starved':>8} {'reconn':>6} {'REST ms':>7} "
          f"{'srv CPU':>7} {'load1':>5}  errors (all clients)", flush=True)
    rss_series: list[tuple[float, float]] = []
    reading_errors = 0
    starved_total = 0
    t0 = time.monotonic()
    cpu0 = cpu_s(spid)
    try:
        for p in procs:
            p.start()
        done = 0
        pending: dict[int, list[dict]] = collections.defaultdict(list)
        got = 0
        while done < len(procs):
            r = q.get(timeout=seconds + 300)
            if r is None:
                done += 1
                continue
            got += 1
            pending[(got - 1) // len(procs)].append(r)
            if got % len(procs) == 0:
                rows = pending.pop((got - 1) // len(procs))
                t_min = (time.monotonic() - t0) / 60
                rss = rss_mib(spid)
                cpu1 = cpu_s(spid)
                cpu, cpu0 = cpu1 - cpu0, cpu1
                probe = _probe_ms(port)
                rss_series.append((t_min, rss))
                by_tr: collections.Counter[str] = collections.Counter()
                for r in rows:
                    by_tr.update(r["updates"])
                upd = sum(by_tr.values()) / args.report_s
                lat = np.concatenate([np.asarray(r["lat"], float) for r in rows]) if rows else np.zeros(0)
                p50, p99 = (np.percentile(lat, [50, 99]) if len(lat) else (float("nan"),) * 2)
                over = np.concatenate([np.asarray(r["over"], float) for r in rows]) if rows else np.zeros(0)
                over99 = float(np.percentile(over, 99)) if len(over) else float("nan")
                errs: collections.Counter[str] = collections.Counter()
                for r in rows:
                    errs.update(r["errors"])
                rd_err = sum(v for k, v in errs.items() if k.split("/")[0] in READING)
                reading_errors += rd_err
                starved = sum(int(r["starved"]) for r in rows)
                if t_min > 1.5 * args.report_s / 60:  # the first interval includes the connecting
                    starved_total += starved
                reading = sum(int(r["reading"]) for r in rows)
                rec = sum(int(r["reconnects"]) for r in rows)
                err_text = ", ".join(f"{k}: {v}" for k, v in sorted(errs.items())) or "0"
                per = {k: v / args.report_s for k, v in by_tr.items()}
                slope = half_slope(rss_series)[0]
                print(f"{t_min:6.1f} {rss:8.1f} {slope:+7.2f} {upd:7.0f} {per.get('json', 0):6.0f} "
                      f"{per.get('jsonf', 0):6.0f} "
                      f"{p50:7.1f} {p99:7.1f} {over99:7.1f} {rd_err:6d} {starved:4d}/{reading:<3d} "
                      f"{rec:6d} {probe:7.1f} {cpu:6.1f}s {os.getloadavg()[0]:5.1f}  {err_text}", flush=True)
        for p in procs:
            p.join(60)
    finally:
        os.kill(spid, signal.SIGTERM)  # a profiler wrapping it then ends by itself
        try:
            server.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    slope, lo, hi = half_slope(rss_series)
    flat = slope < FLAT_MIB_PER_MIN
    print(f"RSS over the last half: min {lo:.1f} MiB, max {hi:.1f} MiB, trend {slope:+.2f} MiB/min "
          f"({'flat' if flat else 'GROWING'}: flat is under {FLAT_MIB_PER_MIN:+.1f})")
    print(f"reading clients: {reading_errors} errors, {starved_total} client-intervals without an update "
          f"(after the first interval)")
    ok = flat and not reading_errors and not starved_total
    print("soak: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def _shares(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        kind, _, share = part.partition("=")
        if kind not in KINDS:
            raise SystemExit(f"--kinds: unknown kind {kind!r}; known: {', '.join(KINDS)}")
        out[kind] = float(share)
    return out


#: (inferred) "no growth over the last half": a linear fit of RSS under this slope
FLAT_MIB_PER_MIN = 0.5


def half_slope(series: list[tuple[float, float]]) -> tuple[float, float, float]:
    """The RSS trend (MiB/min, a linear fit) over the last half of ``series`` (minute, MiB) so
    far, with the min and max RSS there; a slope of 0 until the half holds two samples."""
    if not series:
        return 0.0, float("nan"), float("nan")
    half = [(t, r) for t, r in series if t >= series[-1][0] / 2]
    rs = [r for _, r in half]
    slope = float(np.polyfit([t for t, _ in half], rs, 1)[0]) if len(half) >= 2 else 0.0
    return slope, min(rs), max(rs)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "server":
        DEBUG_EVERY_S = float(sys.argv[7])
        TRACE = int(sys.argv[8])
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    else:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        sys.exit(main())
