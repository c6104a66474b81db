"""The WebSocket API end to end through a real socket: the seed notebook's firehose stream,
the heartbeat timer and logon (a refused key closes the socket), and a client sending garbage
not disturbing another.  The protocol itself is tested in process (test_session.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets

from openmlink.gateway import SessionConfig
from tests.conftest import API_KEY
from tests.support.wsutil import LiveServer, env, quote


@pytest.fixture(scope="module")
def srv() -> Iterator[LiveServer]:
    s = LiveServer(SessionConfig(heartbeat_s=0.3))
    for i, tk in enumerate(["AAPL", "MSFT", "SPY", "QQQ"]):
        s.publish("StockBookQuote", quote(tk, 100 + i, 101 + i, bidSize1=10))
    yield s
    s.stop()


@asynccontextmanager
async def connect(srv: LiveServer, key: str | None = API_KEY) -> AsyncIterator[Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with websockets.connect(srv.url, additional_headers=headers, ping_timeout=None,
                                  max_size=None) as ws:
        yield ws


async def recv(ws: Any, timeout: float = 5.0, heartbeats: bool = False) -> dict[str, Any]:
    """The next message within ``timeout`` seconds (heartbeats skipped unless asked for)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), max(0.0, deadline - loop.time())))
        if heartbeats or m["header"]["mTyp"] != "MLinkHeartbeat":
            return m


async def recv_until(ws: Any, pred, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Messages up to and including the first that satisfies ``pred``."""
    out = []
    while True:
        m = await recv(ws, timeout)
        out.append(m)
        if pred(m):
            return out


async def nothing_for(ws: Any, seconds: float, skip_heartbeats: bool = True) -> bool:
    """True when no message (heartbeats aside) arrives within ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            m = await recv(ws, left)
        except TimeoutError:
            return True
        if not (skip_heartbeats and mtyp(m) == "MLinkHeartbeat"):
            return False
    return True


def mtyp(m: dict[str, Any]) -> str:
    return m["header"]["mTyp"]


def state(m: dict[str, Any]) -> str | None:
    return m["message"].get("state") if mtyp(m).endswith("CheckPt") else None


def complete(m: dict[str, Any]) -> bool:
    return state(m) == "Complete"


def data(msgs: list[dict[str, Any]], name: str = "StockBookQuote") -> list[dict[str, Any]]:
    return [m["message"] for m in msgs if mtyp(m) == name]


def run(coro):
    return asyncio.run(coro)


def test_admin_first_then_firehose_stream_as_in_the_seed_notebook(srv):
    async def go():
        async with connect(srv) as ws:
            first = await recv(ws)
            assert first == {"header": {"mTyp": "MLinkAdmin"}, "message": {"state": "LoggedOn"}}
            await ws.send(env("MLinkStream", queryLabel="ExampleStockNbbo", activeLatency=1,
                              msgName="StockBookQuote", view="ticker|bidprice1|askprice1",
                              where="ticker:eq:AAPL-NMS-EQT"))
            msgs = await recv_until(ws, complete)
            kinds = [mtyp(m) if not state(m) else state(m) for m in msgs]
            assert kinds == ["MLinkStreamAck", "Begin", "StockBookQuote", "Active", "Complete"]
            ack = msgs[0]["message"]
            assert ack["result"] == "OK" and ack["queryLabel"] == "ExampleStockNbbo"
            assert ack["msgName"] == "StockBookQuote" and ack["querySendTs"] > 0
            rec = data(msgs)[0]
            assert set(rec) == {"pkey", "bidPrice1", "askPrice1"}  # the view, plus the pkey
            assert rec["pkey"]["ticker"] == {"at": "EQT", "ts": "NMS", "tk": "AAPL"}
            assert msgs[3]["message"]["numMessagesSent"] == 1
            # live updates: only AAPL, the latest state
            srv.publish("StockBookQuote", quote("MSFT", 1, 2))
            srv.publish("StockBookQuote", quote("AAPL", 150.5, 150.75))
            m = await recv(ws)
            while mtyp(m) == "MLinkHeartbeat":
                m = await recv(ws)
            assert m["message"]["bidPrice1"] == 150.5 and m["message"]["askPrice1"] == 150.75
            assert await nothing_for(ws, 0.4)
    run(go())


def test_malformed_frames_get_a_data_ack_and_do_not_disturb_other_clients(srv):
    async def go():
        async with connect(srv) as good, connect(srv) as bad:
            await recv(good)
            await recv(bad)
            await good.send(env("MLinkStream", msgName="StockBookQuote", activeLatency=1,
                                where="ticker.tk:eq:AAPL"))
            await recv_until(good, complete)
            for frame, result, words in [
                ("{not json", "JsonError", "not valid JSON"),
                ("[1,2,3]", "JsonError", "header"),
                (json.dumps({"header": {"mTyp": "Nope"}, "message": {}}), "InvldMsgType", "Nope"),
                (json.dumps({"header": {"mTyp": "MLinkStream"}, "message": "x"}), "JsonError", "object"),
                (json.dumps({"header": {"mTyp": "MLinkStream"},
                             "message": {"msgName": "StockBookQuote", "activeLatency": "soon"}}),
                 "OtherError", "activeLatency"),
            ]:
                await bad.send(frame)
                ack = await recv(bad)
                assert mtyp(ack) == "MLinkDataAck", ack
                assert ack["message"]["result"] == result and words in ack["message"]["detail"], ack
            srv.publish("StockBookQuote", quote("AAPL", 99, 100))
            m = await recv(good)
            while mtyp(m) == "MLinkHeartbeat":
                m = await recv(good)
            assert m["message"]["bidPrice1"] == 99
    run(go())


def test_heartbeats_and_logon(srv):
    async def go():
        async with connect(srv) as ws:
            await recv(ws)
            hb = [await recv(ws, 2, True), await recv(ws, 2, True)]
            assert [mtyp(h) for h in hb] == ["MLinkHeartbeat", "MLinkHeartbeat"]
            assert hb[1]["message"]["seqNum"] == hb[0]["message"]["seqNum"] + 1
        async with connect(srv, None) as ws:
            first = await recv(ws)
            assert first["message"]["state"] == "WaitingLogon"
            await ws.send(env("MLinkStream", msgName="StockBookQuote"))
            ack = await recv(ws)
            assert mtyp(ack) == "MLinkDataAck" and ack["message"]["result"] == "AuthError"
            await ws.send(env("MLinkLogon", apiKey=API_KEY))
            assert (await recv(ws))["message"]["state"] == "LoggedOn"
            await ws.send(env("MLinkStream", msgName="StockBookQuote"))
            assert complete((await recv_until(ws, complete))[-1])
        async with connect(srv, "WRONG-KEY") as ws:
            first = await recv(ws)
            assert first["message"]["state"] == "LogonFailed"
            with pytest.raises(websockets.ConnectionClosed):
                await recv(ws)
    run(go())

