"""Soak: 1,000 WebSocket clients on loopback against one server process, for a set duration.

Client kinds (shares of ``--clients``):
  stream     MLinkStream StockBookQuote, a 20-ticker ``|`` chain, no view, activeLatency 1000
  view       the same with a view (bidPrice1|askPrice1|srcTimestamp), activeLatency 500
  subscribe  MLinkSubscribe of 10 StockBookQuote keys, activeLatency 500
  stalled    streams every StockBookQuote and never reads again (the server must conflate)
  storm      connects, streams, reads the snapshot, disconnects, reconnects at once (a storm)
  midsnap    streams the whole OptionNbboQuote table and disconnects after the first frame

The server publishes StockBookQuote updates at ``--rate`` per second in 10 batches a second
(``srcTimestamp`` = the publish time; latency includes the activeLatency conflation wait)
and holds ``--snapshot-rows`` OptionNbboQuote rows. Every ``--report-s`` seconds
it prints: server RSS, updates/s delivered to reading clients, p50/p99 publish-to-client
latency, reading clients that received nothing in the interval ("starved"), reconnects of the
storm/midsnap clients, one REST round trip, and errors by kind.
At the end: the RSS trend over the last half of the run.

Usage: python bench/soak.py [--minutes 10] [--clients 1000] [--procs 4] [--rate 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import subprocess
import sys
import time

import numpy as np

KEY = "SOAK-0000-0000-0001"
KINDS = {"stream": 0.40, "view": 0.30, "subscribe": 0.15, "stalled": 0.05, "storm": 0.05,
         "midsnap": 0.05}
READING = ("stream", "view", "subscribe")


# ---------------------------------------------------------------- server process
def serve(port: int, tickers: int, rate: float, snapshot_rows: int) -> None:
    from aiohttp import web

    from openmlink.bus import ColumnBatch
    from openmlink.gateway import ApiKeys, HttpLimits, Principal, ProtocolRunner, make_app
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
        print("READY", flush=True)
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

    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------- client processes
def _env(mtype: str, **message: object) -> str:
    return json.dumps({"header": {"mTyp": mtype}, "message": message})


class Stats:
    def __init__(self) -> None:
        self.updates = 0
        self.lat: list[float] = []
        self.errors: collections.Counter[str] = collections.Counter()
        self.reconnects = 0
        self.got: dict[int, int] = {}  # reading client id -> messages this interval

    def take(self, reading_ids: list[int]) -> dict[str, object]:
        starved = sum(1 for c in reading_ids if self.got.get(c, 0) == 0)
        out = {"updates": self.updates, "lat": self.lat, "errors": dict(self.errors),
               "reconnects": self.reconnects, "starved": starved, "reading": len(reading_ids)}
        self.updates, self.lat, self.errors, self.reconnects, self.got = 0, [], collections.Counter(), 0, {}
        return out


def _messages(data: object) -> list[dict]:
    if isinstance(data, bytes):
        data = data.decode()
    assert isinstance(data, str)
    return [json.loads(x) for x in data.splitlines() if x.strip()]


async def _reading(cid: int, kind: str, url: str, tickers: int, st: Stats, end: float) -> None:
    import aiohttp
    rnd = random.Random(cid)
    mine = [f"S{rnd.randrange(tickers):05d}" for _ in range(20)]
    while time.monotonic() < end:
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(
                    url, headers={"Authorization": f"Bearer {KEY}"}, max_msg_size=0, heartbeat=None) as ws:
                if kind == "subscribe":
                    await ws.send_str(_env("MLinkSubscribe", activeLatency=500, Subscribe=[
                        {"msgName": "StockBookQuote", "msgPKey": f"{t}-NMS-EQT"} for t in mine[:10]]))
                else:
                    where = " | ".join(f"ticker:eq:{t}-NMS-EQT" for t in mine)
                    extra = {"view": "bidPrice1|askPrice1|srcTimestamp", "activeLatency": 500} \
                        if kind == "view" else {"activeLatency": 1000}
                    await ws.send_str(_env("MLinkStream", msgName="StockBookQuote", where=where, **extra))
                while time.monotonic() < end:
                    try:
                        m = await ws.receive(timeout=max(0.1, min(5.0, end - time.monotonic())))
                    except TimeoutError:
                        continue
                    if m.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                  aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                        if time.monotonic() < end:
                            st.errors[f"{kind}: closed by server ({ws.close_code})"] += 1
                        break
                    t = time.time_ns()
                    for d in _messages(m.data):
                        mt = d["header"]["mTyp"]
                        body = d["message"]
                        if mt == "StockBookQuote":
                            st.updates += 1
                            st.got[cid] = st.got.get(cid, 0) + 1
                            ts = body.get("srcTimestamp")
                            if isinstance(ts, int) and st.updates % 10 == 0:
                                st.lat.append((t - ts) / 1e6)
                        elif mt.endswith("Ack"):
                            res = body.get("result", "OK")
                            if mt == "MLinkSubscribeAck":
                                bad = [i for i in body.get("Subscribe", [])
                                       if i.get("result") not in ("OK", None)]
                            else:
                                bad = [] if res == "OK" else [res]
                            if bad:
                                st.errors[f"{kind}: {mt} {bad[:1]}"] += 1
                if time.monotonic() >= end:
                    return
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            st.errors[f"{kind}: {type(e).__name__}"] += 1
        st.reconnects += 1
        await asyncio.sleep(1.0)


async def _stalled(cid: int, url: str, st: Stats, end: float) -> None:
    import aiohttp
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(
                url, headers={"Authorization": f"Bearer {KEY}"}, max_msg_size=0, heartbeat=None) as ws:
            await ws.send_str(_env("MLinkStream", msgName="StockBookQuote", activeLatency=1))
            await asyncio.sleep(max(0.0, end - time.monotonic()))  # never reads
    except (aiohttp.ClientError, OSError) as e:
        st.errors[f"stalled: {type(e).__name__}"] += 1


async def _churn(cid: int, kind: str, url: str, st: Stats, end: float) -> None:
    import aiohttp
    rnd = random.Random(cid)
    while time.monotonic() < end:
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(
                    url, headers={"Authorization": f"Bearer {KEY}"}, max_msg_size=0) as ws:
                if kind == "storm":
                    await ws.send_str(_env("MLinkStream", msgName="StockBookQuote",
                                           where=f"ticker:eq:S{rnd.randrange(100):05d}-NMS-EQT",
                                           activeLatency=100))
                    while True:
                        m = await ws.receive(timeout=30)
                        if m.type != aiohttp.WSMsgType.TEXT:
                            st.errors[f"storm: closed before Complete ({ws.close_code})"] += 1
                            break
                        if '"Complete"' in m.data:
                            break
                else:  # midsnap: the whole option table, gone after the first frame
                    await ws.send_str(_env("MLinkStream", msgName="OptionNbboQuote", activeLatency=100))
                    await ws.receive(timeout=30)
                    await ws.receive(timeout=30)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            st.errors[f"{kind}: {type(e).__name__}"] += 1
        st.reconnects += 1
        await asyncio.sleep(rnd.uniform(0.5, 2.0) if kind == "storm" else rnd.uniform(5.0, 10.0))


def clients_proc(url: str, ids: list[tuple[int, str]], tickers: int, seconds: float, report_s: float,
                 q: mp.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        st = Stats()
        end = time.monotonic() + seconds
        tasks = []
        for cid, kind in ids:
            if kind in READING:
                tasks.append(asyncio.create_task(_reading(cid, kind, url, tickers, st, end)))
            elif kind == "stalled":
                tasks.append(asyncio.create_task(_stalled(cid, url, st, end)))
            else:
                tasks.append(asyncio.create_task(_churn(cid, kind, url, st, end)))
            await asyncio.sleep(0.05)  # connect over a few seconds, not in one burst
        reading = [cid for cid, kind in ids if kind in READING]
        t0 = time.monotonic()
        n = 1
        while time.monotonic() < end:
            await asyncio.sleep(max(0.0, t0 + n * report_s - time.monotonic()))
            n += 1
            q.put(st.take(reading))
        await asyncio.gather(*tasks, return_exceptions=True)
        q.put(None)

    asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--procs", type=int, default=4, help="client processes")
    ap.add_argument("--tickers", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=500.0, help="StockBookQuote updates published per second")
    ap.add_argument("--snapshot-rows", type=int, default=20_000)
    ap.add_argument("--report-s", type=float, default=60.0)
    args = ap.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "server", str(port), str(args.tickers),
                               str(args.rate), str(args.snapshot_rows)], stdout=subprocess.PIPE)
    assert server.stdout is not None
    line = server.stdout.readline()
    assert b"READY" in line, line
    url = f"ws://127.0.0.1:{port}/mlink/json"
    kinds = [k for k, share in KINDS.items() for _ in range(round(share * args.clients))]
    ids = list(enumerate(kinds[: args.clients]))
    random.Random(1).shuffle(ids)
    seconds = args.minutes * 60
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    procs = [mp.Process(target=clients_proc, daemon=True,
                        args=(url, ids[i:: args.procs], args.tickers, seconds, args.report_s, q))
             for i in range(args.procs)]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on a kill too
    print(f"soak: {len(ids)} clients ({', '.join(f'{k} {kinds.count(k)}' for k in KINDS)}) in "
          f"{args.procs} processes, {args.rate:,.0f} updates/s published over {args.tickers} tickers, "
          f"{args.snapshot_rows:,} option rows, {args.minutes:g} min; server pid {server.pid}", flush=True)
    print(f"{'t(min)':>6} {'RSS MiB':>8} {'upd/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'starved':>8} "
          f"{'reconn':>6} {'REST ms':>7}  errors", flush=True)
    rss_series: list[tuple[float, float]] = []
    t0 = time.monotonic()
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
                rss = rss_mib(server.pid)
                probe = _probe_ms(port)
                rss_series.append((t_min, rss))
                upd = sum(int(r["updates"]) for r in rows) / args.report_s
                lat = np.concatenate([np.asarray(r["lat"], float) for r in rows]) if rows else np.zeros(0)
                p50, p99 = (np.percentile(lat, [50, 99]) if len(lat) else (float("nan"),) * 2)
                errs: collections.Counter[str] = collections.Counter()
                for r in rows:
                    errs.update(r["errors"])
                starved = sum(int(r["starved"]) for r in rows)
                reading = sum(int(r["reading"]) for r in rows)
                rec = sum(int(r["reconnects"]) for r in rows)
                err_text = ", ".join(f"{k}: {v}" for k, v in sorted(errs.items())) or "0"
                print(f"{t_min:6.1f} {rss:8.1f} {upd:8.0f} {p50:7.1f} {p99:7.1f} {starved:4d}/{reading:<3d} "
                      f"{rec:6d} {probe:7.1f}  {err_text}", flush=True)
        for p in procs:
            p.join(60)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    if len(rss_series) >= 2:
        half = [r for t, r in rss_series if t >= rss_series[-1][0] / 2]
        ts = [t for t, _ in rss_series if t >= rss_series[-1][0] / 2]
        slope = float(np.polyfit(ts, half, 1)[0]) if len(half) >= 2 else 0.0
        print(f"RSS over the last half: min {min(half):.1f} MiB, max {max(half):.1f} MiB, "
              f"trend {slope:+.2f} MiB/min")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "server":
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
    else:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        main()
