"""A client that stops reading while 100k updates are published: the server's memory stays
bounded (conflation to the latest record per pkey) and the client gets the latest values when it
resumes; another client is not held up meanwhile."""

from __future__ import annotations

import asyncio
import json
import resource

import numpy as np
import websockets

from openmlink.bus import ColumnBatch
from openmlink.schema._keys import key_member_names
from tests.conftest import API_KEY
from tests.support.sansio import SansIO
from tests.support.wsutil import LiveServer, env

N_KEYS = 1000
ROUNDS = 100  # 100 x 1000 = 100k updates


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _batch(srv: LiveServer, round_no: int) -> None:
    mt = srv.platform.registry["StockBookQuote"]
    tk = np.array([f"K{i:04d}" for i in range(N_KEYS)], dtype=object)
    data = {
        "ticker.at": np.full(N_KEYS, key_member_names("at").index("EQT"), np.int16),
        "ticker.ts": np.full(N_KEYS, key_member_names("ts").index("NMS"), np.int16),
        "ticker.tk": tk,
        "bidPrice1": np.full(N_KEYS, float(round_no)),
        "askPrice1": np.full(N_KEYS, float(round_no) + 0.5),
        "bidSize1": np.arange(N_KEYS, dtype=np.int64),
    }
    srv.platform.bus.publish(ColumnBatch(mt, data, srv.platform.clock.time_ns()))


def test_slow_client_is_conflated_memory_stays_flat_and_it_gets_the_latest_values():
    srv = LiveServer()
    try:
        srv.call(lambda: _batch(srv, 0))

        async def go() -> None:
            hdr = {"Authorization": f"Bearer {API_KEY}"}
            async with websockets.connect(srv.url, additional_headers=hdr, ping_timeout=None,
                                          max_queue=4, max_size=None) as slow, \
                    websockets.connect(srv.url, additional_headers=hdr, ping_timeout=None,
                                       max_size=None) as fast:
                for ws in (slow, fast):
                    await ws.recv()
                await slow.send(env("MLinkStream", msgName="StockBookQuote", activeLatency=1,
                                    where="ticker.tk:sw:K"))
                await fast.send(env("MLinkStream", msgName="StockBookQuote", activeLatency=1,
                                    where="ticker.tk:eq:K0007", view="bidPrice1"))
                # the slow client now stops reading; 100k updates are published
                rss0 = _rss_mib()
                peak = rss0
                fast_seen: list[float] = []
                for r in range(1, ROUNDS + 1):
                    srv.call(lambda r=r: _batch(srv, r))
                    if r % 10 == 0:
                        peak = max(peak, _rss_mib())
                        await asyncio.sleep(0.01)
                    # the fast client keeps up all along
                    while True:
                        try:
                            m = json.loads(await asyncio.wait_for(fast.recv(), 0.001))
                        except TimeoutError:
                            break
                        if m["header"]["mTyp"] == "StockBookQuote":
                            fast_seen.append(m["message"].get("bidPrice1", 0.0))
                deadline = asyncio.get_running_loop().time() + 5
                while (not fast_seen or fast_seen[-1] != ROUNDS) and \
                        asyncio.get_running_loop().time() < deadline:
                    m = json.loads(await asyncio.wait_for(fast.recv(), 5))
                    if m["header"]["mTyp"] == "StockBookQuote":
                        fast_seen.append(m["message"].get("bidPrice1", 0.0))
                assert fast_seen[-1] == ROUNDS
                # server-side state of the slow session is bounded
                sessions = {w.owner for ws_set in srv.hub._watchers.values() for w in ws_set}
                assert sessions
                for s in sessions:
                    assert len(s._out) < 100
                    for st in s.streams.by_key.values():
                        assert sum(len(sc.rows) - sc.pos for sc in st.scans) <= N_KEYS
                assert peak - rss0 < 60, (rss0, peak)  # flat: no per-update backlog
                # resume reading: every key arrives with its latest value
                latest: dict[str, float] = {}
                deadline = asyncio.get_running_loop().time() + 20
                received = 0
                while asyncio.get_running_loop().time() < deadline:
                    if len(latest) == N_KEYS and all(v == ROUNDS for v in latest.values()):
                        break
                    m = json.loads(await asyncio.wait_for(slow.recv(), 10))
                    if m["header"]["mTyp"] == "StockBookQuote":
                        received += 1
                        latest[m["message"]["pkey"]["ticker"]["tk"]] = m["message"].get("bidPrice1", 0.0)
                assert len(latest) == N_KEYS
                assert all(v == ROUNDS for v in latest.values())
                assert received < 40 * N_KEYS  # conflated: far fewer than the 101k published

        asyncio.run(go())
    finally:
        srv.stop()


def test_a_client_that_does_not_read_has_one_heartbeat_waiting_not_one_per_interval():
    """Heartbeats queued for a client that stopped reading (its writer waits for the socket to
    drain) are not piled up: 50 such clients grew the soak's heap by ~1.2 MiB a minute
    (bench/soak.py, ``stalled``). The one waiting is sent when the client reads again, and
    ``seqNum`` goes on from it without a gap."""
    rig = SansIO()
    c = rig.client()  # logged on, its LoggedOn pulled
    s = c.session
    for _ in range(1000):  # ~3 hours of 10-second heartbeats, none pulled
        rig.advance(10_000)
        s.heartbeat(rig.clock.time_ns())
    assert s.wants_input
    got = c.pull(heartbeats=True)
    assert [(m["header"]["mTyp"], m["message"]["seqNum"]) for m in got] == [("MLinkHeartbeat", 1)]
    for seq in (2, 3):  # a client that reads gets every one
        rig.advance(10_000)
        s.heartbeat(rig.clock.time_ns())
        assert [m["message"]["seqNum"] for m in c.pull(heartbeats=True)] == [seq]
