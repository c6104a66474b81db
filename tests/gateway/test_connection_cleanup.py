"""Connections that end in every way the soak's clients end (closed after a stream or a
subscription, dropped mid-snapshot, dropped while the server is blocked writing to a client
that stopped reading), on /mlink/json and /mlink/jsonf, leave nothing behind on the server:
no session, no asyncio task, no watcher on the hub, no connection counted by the gate."""

from __future__ import annotations

import asyncio
import gc
import time

import numpy as np
import websockets

from openmlink.bus import ColumnBatch
from openmlink.gateway._session import MLinkSession
from openmlink.schema._keys import key_member_names
from tests.conftest import API_KEY
from tests.support.wsutil import LiveServer, env

HDR = {"Authorization": f"Bearer {API_KEY}"}
ROWS = 3000


def _publish(srv: LiveServer, price: float) -> None:
    mt = srv.platform.registry["StockBookQuote"]
    srv.platform.bus.publish(ColumnBatch(mt, {
        "ticker.at": np.full(ROWS, key_member_names("at").index("EQT"), np.int16),
        "ticker.ts": np.full(ROWS, key_member_names("ts").index("NMS"), np.int16),
        "ticker.tk": np.array([f"C{i:05d}" for i in range(ROWS)], dtype=object),
        "bidPrice1": np.full(ROWS, price), "askPrice1": np.full(ROWS, price + 0.5),
    }, srv.platform.clock.time_ns()))


def _framed(text: str) -> bytes:
    b = text.encode()
    return b"\r\nJ00000%06d" % len(b) + b


def _server_state(srv: LiveServer) -> tuple[int, int, int, int]:
    """(live sessions, tasks on the server loop besides this probe, hub watchers, open
    connections)."""
    def probe() -> tuple[int, int, int, int]:
        gc.collect()
        # type(), not isinstance(): gc.get_objects() can hold weakref proxies, and isinstance()
        # on a proxy whose referent died raises ReferenceError (it asks the referent's class)
        sessions = sum(1 for o in gc.get_objects() if issubclass(type(o), MLinkSession))
        watchers = sum(len(w) for w in srv.hub._watchers.values())
        return sessions, len(asyncio.all_tasks()) - 1, watchers, srv.runner.gate.open
    return srv.call(probe)  # type: ignore[no-any-return]


async def _cycle(srv: LiveServer, path: str, kind: str, i: int) -> None:
    url = srv.url.replace("/mlink/json", path)
    send = (lambda t: t) if path == "/mlink/json" else _framed
    async with websockets.connect(url, additional_headers=HDR, ping_timeout=None, max_size=None,
                                  max_queue=1) as ws:
        await ws.recv()  # MLinkAdmin
        if kind == "midsnap":  # the whole table, dropped after the first frames
            await ws.send(send(env("MLinkStream", msgName="StockBookQuote", activeLatency=100)))
            await ws.recv()
            ws.transport.abort()
        elif kind == "stalled":  # stops reading while updates pour in, then vanishes
            await ws.send(send(env("MLinkStream", msgName="StockBookQuote", activeLatency=1)))
            for r in range(4):
                srv.call(lambda r=r: _publish(srv, 10.0 + i + r / 10))
                await asyncio.sleep(0.02)
            ws.transport.abort()
        elif kind == "subscribe":
            await ws.send(send(env("MLinkSubscribe", activeLatency=50, Subscribe=[
                {"msgName": "StockBookQuote", "msgPKey": f"C{k:05d}-NMS-EQT"} for k in range(5)])))
            await ws.recv()
        else:  # a stream read to its Complete checkpoint, then a clean close
            await ws.send(send(env("MLinkStream", msgName="StockBookQuote", activeLatency=100,
                                   where="ticker:eq:C00001-NMS-EQT | ticker:eq:C00002-NMS-EQT",
                                   view="bidPrice1")))
            while b"Complete" not in (m if isinstance(m := await ws.recv(), bytes) else m.encode()):
                pass


def _settled(srv: LiveServer, want: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The server state once it stops changing toward ``want`` (closing takes a few loops)."""
    end = time.monotonic() + 20
    state = _server_state(srv)
    while state != want and time.monotonic() < end:
        time.sleep(0.2)
        state = _server_state(srv)
    return state


def test_connections_ending_every_way_leave_nothing_behind():
    srv = LiveServer()
    try:
        srv.call(lambda: _publish(srv, 1.0))
        before = _server_state(srv)
        assert before[0] == before[2] == before[3] == 0

        async def go() -> None:
            for i in range(3):
                await asyncio.gather(*(_cycle(srv, path, kind, i)
                                       for path in ("/mlink/json", "/mlink/jsonf")
                                       for kind in ("stream", "subscribe", "midsnap", "stalled")))

        asyncio.run(go())
        assert _settled(srv, before) == before
    finally:
        srv.stop()
