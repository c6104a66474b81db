"""A client post is acknowledged OK only when every handler took it; a failing handler or a
refusing validator comes back in the poster's PostAck / MLinkDataAck, naming the handler and
the error, and other clients carry on. Background tasks never fail silently."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import websockets

from openmlink.bus import Event
from openmlink.errors import PostRejected
from openmlink.gateway import SessionConfig, log_task_failure, spawn
from tests.conftest import API_KEY
from tests.support.wsutil import LiveServer, env

ITEM = "TickerItemDef"


def _item(basket: int, tk: str = "AAPL") -> dict[str, Any]:
    return {"header": {"mTyp": ITEM},
            "message": {"pkey": {"ticker": f"{tk}-NMS-EQT", "basketNumber": basket,
                                 "userName": "dev"}}}


class Basket:
    """A downstream handler that fails on basket 13; a validator that refuses basket 66."""

    def __init__(self) -> None:
        self.origins: list[str] = []

    def on_item(self, msg: Any) -> None:
        if isinstance(msg, Event):
            self.origins.append(msg.origin)
            if msg.rec.get("basketNumber") == 13:
                raise RuntimeError("basket 13 is unlucky")

    @staticmethod
    def check(msg: Any) -> None:
        if isinstance(msg, Event) and msg.rec.get("basketNumber") == 66:
            raise PostRejected("basket 66 is closed to you", "AuthError")


@pytest.fixture(scope="module")
def srv() -> Iterator[tuple[LiveServer, Basket]]:
    s = LiveServer(SessionConfig(heartbeat_s=0.3))
    b = Basket()
    bus = s.platform.bus
    s.call(lambda: bus.subscribe(ITEM, b.on_item, name="basket-engine"))
    s.call(lambda: bus.add_validator(ITEM, b.check, name="basket-check"))
    yield s, b
    s.stop()


def _post(s: LiveServer, body: Any, **params: str) -> list[dict[str, Any]]:
    params = {"cmd": "postmsgs", "postaction": "I", **params}
    r = requests.post(s.rest, params=params, json=body, timeout=30,
                      headers={"Authorization": f"Bearer {API_KEY}"})
    return [m["message"] for m in r.json()]


def _baskets(s: LiveServer) -> set[int]:
    r = requests.get(s.rest, params={"cmd": "getmsgs", "msgType": ITEM, "apiKey": API_KEY},
                     timeout=30).json()
    return {m["message"]["pkey"]["basketNumber"] for m in r if m["header"]["mTyp"] == ITEM}


def test_rest_post_with_a_failing_handler_gets_an_exception_ack(srv) -> None:
    s, b = srv
    failures0 = s.platform.bus.failures
    *acks, qr = _post(s, [_item(1), _item(13), _item(2)])
    assert [a["result"] for a in acks] == ["OK", "Exception", "OK"], acks
    assert "basket-engine: RuntimeError: basket 13 is unlucky" in acks[1]["detail"]
    assert acks[1]["detail"].startswith("stored;")  # (inferred) the store keeps the record
    assert acks[1]["pkey"].startswith("AAPL-NMS-EQT|13")
    assert qr["result"] == "Ok"
    assert {1, 2, 13} <= _baskets(s)  # whole records, readable by everyone
    assert s.platform.bus.failures == failures0 + 1
    assert b.origins[-3:] == ["dev", "dev", "dev"]  # the poster's identity travels with the event


def test_rest_post_refused_by_a_validator_stores_nothing(srv) -> None:
    s, b = srv
    n = len(b.origins)
    *acks, _ = _post(s, [_item(66), _item(3)])
    assert [a["result"] for a in acks] == ["AuthError", "OK"]
    assert acks[0]["detail"] == "basket 66 is closed to you"
    assert 66 not in _baskets(s) and 3 in _baskets(s)
    assert len(b.origins) == n + 1  # the refused record reached no handler


def test_websocket_upload_with_a_failing_handler_gets_an_exception_data_ack(srv) -> None:
    s, _ = srv

    async def go() -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with websockets.connect(s.url, additional_headers=headers, ping_timeout=None) as ws, \
                websockets.connect(s.url, additional_headers=headers, ping_timeout=None) as other:
            await ws.send(env(ITEM, pkey={"ticker": "MSFT-NMS-EQT", "basketNumber": 13,
                                          "userName": "dev"}))
            await ws.send(env(ITEM, pkey={"ticker": "MSFT-NMS-EQT", "basketNumber": 66,
                                          "userName": "dev"}))
            acks = []
            while len(acks) < 2:
                m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if m["header"]["mTyp"] == "MLinkDataAck":
                    acks.append(m["message"])
            # another client is unaffected: its stream sees the stored record
            await other.send(env("MLinkStream", sessionID=1, queryID=1, msgName=ITEM,
                                 where="basketNumber:eq:13"))
            while True:
                m = json.loads(await asyncio.wait_for(other.recv(), 10))
                if m["header"]["mTyp"] == ITEM:
                    acks.append(m["message"])
                    return acks

    data13, data66, seen = asyncio.run(go())
    assert data13["result"] == "Exception"
    assert "basket-engine: RuntimeError: basket 13 is unlucky" in data13["detail"]
    assert data66["result"] == "AuthError" and "closed" in data66["detail"]
    assert seen["pkey"]["basketNumber"] == 13


def test_a_failing_session_task_closes_the_socket_and_is_logged(caplog) -> None:
    """A stream whose table refresh raises in the writer: the client is told (close 1011) and
    the failure is logged, instead of a socket that silently stops sending."""
    s = LiveServer(SessionConfig(heartbeat_s=30))
    calls = {"n": 0}

    def refresh(table: Any) -> None:
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("refresh broke")

    try:
        s.call(lambda: s.platform.store.computed_on_read(ITEM, refresh))

        async def go() -> int:
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with websockets.connect(s.url, additional_headers=headers,
                                          ping_timeout=None) as ws:
                await ws.send(env("MLinkStream", sessionID=1, queryID=1, msgName=ITEM,
                                  activeLatency=1))
                requests.post(s.rest, params={"cmd": "postmsgs", "postaction": "I",
                                              "apiKey": API_KEY}, json=_item(7), timeout=30)
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                except websockets.ConnectionClosed as e:
                    return e.rcvd.code if e.rcvd is not None else -1

        with caplog.at_level(logging.ERROR, logger="openmlink.gateway"):
            code = asyncio.run(go())
            s.call(lambda: None)  # the server loop has run the task's done-callback by now
        assert code == 1011
        assert any("ws-writer" in r.getMessage() and "refresh broke" in r.getMessage()
                   for r in caplog.records), [r.getMessage() for r in caplog.records]
    finally:
        s.stop()


def test_spawned_task_failures_are_logged(caplog) -> None:
    async def bad() -> None:
        raise ValueError("lost")

    async def go() -> None:
        t = spawn(bad(), "job-x")
        await asyncio.gather(t, return_exceptions=True)
        await asyncio.sleep(0)  # done-callbacks run on the next loop pass

    with caplog.at_level(logging.INFO, logger="openmlink.gateway"):
        asyncio.run(go())
    assert any(r.levelno == logging.ERROR and "job-x failed: ValueError: lost" in r.getMessage()
               for r in caplog.records)
    assert callable(log_task_failure)
