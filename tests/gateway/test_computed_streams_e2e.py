"""Computed types stream through a real socket: an MLinkStream on LiveImpliedQuoteAdj and one
on OptionTheoVol (activeLatency 100) get updated records when the underlier moves, with no
MLinkSignalReady (the protocol details are tested in process: test_computed_streams.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets

from tests.conftest import API_KEY
from tests.support.wsutil import LiveServer, env, quote

EXPIRY = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
EKEY = f"AAPL-NMS-EQT-{EXPIRY}"


@pytest.fixture(scope="module")
def srv() -> Iterator[LiveServer]:
    s = LiveServer()
    s.publish("RootDefinition", {"pkey": {"root": "AAPL-NMS-EQT"}, "ticker": "AAPL-NMS-EQT",
                                 "exerciseType": "European", "pointValue": 100.0, "symbolRatio": 1.0})
    s.publish("StockBookQuote", quote("AAPL", 199.9, 200.1))
    for k in (190, 200, 210):
        s.publish("OptionNbboQuote", {"pkey": {"okey": f"{EKEY}-{k}-C"}, "bidPrice": 5.0,
                                      "askPrice": 5.4})
        s.publish("LiveImpliedQuote", {"pkey": {"okey": f"{EKEY}-{k}-C"}, "ticker": "AAPL-NMS-EQT",
                                       "uPrc": 200.0, "oBidIv": 0.25, "oAskIv": 0.27, "sVol": 0.26,
                                       "sPrc": 5.2, "de": 0.5, "ga": 0.02, "ve": 0.3, "years": 0.16})
    s.publish("SpdrTheoExpSurface", {"pkey": {"ekey": EKEY, "theoModel": "E2E", "clientFirm": "F1"},
                                     "skewFunc": "SVI", "theoStatus": "Auto", "refUPrcWeight": 0.0,
                                     "paramA": 0.01, "paramB": 0.05, "paramC": -0.5, "paramE": 0.1})
    yield s
    s.stop()


async def _records_until(ws: Any, name: str, pred: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Records of ``name`` received until one satisfies ``pred``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    out: list[dict[str, Any]] = []
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), max(0.0, deadline - loop.time())))
        assert m["header"]["mTyp"] != "MLinkStreamAck" or m["message"]["result"] == "OK", m
        if m["header"]["mTyp"] == name:
            out.append(m["message"])
            if pred(m["message"]):
                return out


@pytest.mark.parametrize(("name", "where"), [("LiveImpliedQuoteAdj", "okey.tk:eq:AAPL"),
                                             ("OptionTheoVol", "theoModel:eq:E2E")])
def test_computed_type_streams_the_moving_underlier(srv, name, where):
    async def go() -> None:
        async with websockets.connect(srv.url, additional_headers={"Authorization": f"Bearer {API_KEY}"},
                                      ping_timeout=None) as ws:
            await ws.send(env("MLinkStream", msgName=name, activeLatency=100, where=where))
            snap = await _records_until(ws, name, lambda m: True)
            start = snap[0]["uprc"]
            for px in (start + 2.0, start + 4.0):
                srv.publish("StockBookQuote", quote("AAPL", px - 0.1, px + 0.1))
                got = await _records_until(ws, name, lambda m, px=px: abs(m["uprc"] - px) < 1e-9)
                assert got[-1]["uprc"] == pytest.approx(px)

    asyncio.run(go())
