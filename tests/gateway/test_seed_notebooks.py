"""The seed notebooks' WebSocket code, unchanged except URL and key, against `openmlink serve`
with its default simulated market, and against the gateway of a platform of three processes
joined over NATS (market, engines, gateway)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets

from tests.conftest import API_KEY, start_server, stop_server
from tests.support.nats import NatsServer, nats_server_binary


@pytest.fixture(scope="module", params=["one process", "market + engines + gateway on NATS"])
def live(request, tmp_path_factory):
    """``openmlink serve``; then a gateway of a platform of three processes (issue 17: the
    notebooks run unchanged against a gateway of a multi-process platform)."""
    if request.param == "one process":
        s = start_server("--seed", "11")
        yield s
        stop_server(s)
        return
    if nats_server_binary() is None:
        pytest.skip("nats-server not installed (the nats extra)")
    srv = NatsServer(tmp_path_factory.mktemp("jetstream"))
    procs = []
    try:
        for role in (("market",), ("engine", "all"), ("gateway",)):
            procs.append(start_server("--bus", srv.url, "--role", *role, "--no-persist",
                                      "--no-sql", "--universe", "small", "--seed", "11"))
        yield procs[-1]
    finally:
        for p in procs:
            stop_server(p)
        srv.stop()


def _stamp(msg: dict) -> str:
    t = time.time_ns()
    tstr = '.'.join([time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t / 1000000000)),
                     "%06d" % ((t / 1000) % 1000000)])  # noqa: UP031 - as the notebook writes it
    msg['header']['sTim'] = tstr
    msg['header']['encT'] = tstr
    return json.dumps(msg)


def test_aapl_firehose_notebook_prints_changing_nbbo(live):
    uri = live.base.replace("http", "ws") + "/mlink/json"
    rows: list[dict] = []

    async def query_mlink(authentication_key: str) -> None:
        headers = {"Authorization": f"Bearer {authentication_key}"}
        async with websockets.connect(uri, additional_headers=headers, ping_timeout=None) as websocket:
            msg = {"header": {"mTyp": "MLinkStream"},
                   "message": {"queryLabel": "ExampleStockNbbo", "activeLatency": 1,
                               "msgName": "StockBookQuote", "view": "ticker|bidprice1|askprice1",
                               "where": "ticker:eq:AAPL-NMS-EQT"}}
            await websocket.send(_stamp(msg))
            deadline = time.time() + 20
            while len(rows) < 3 and time.time() < deadline:
                result = json.loads(await asyncio.wait_for(websocket.recv(), 20))
                if isinstance(result, dict) and result.get("header", {}).get("mTyp") == "StockBookQuote":
                    m = result.get("message", {})
                    pkey = m.get("pkey", {}).get("ticker", {})
                    record = {"ticker": f"{pkey.get('tk')}-{pkey.get('ts')}-{pkey.get('at')}",
                              "bidPrice1": m.get("bidPrice1"), "askPrice1": m.get("askPrice1")}
                    if all(record.values()):
                        rows.append(record)

    asyncio.run(query_mlink(API_KEY))
    assert len(rows) == 3
    assert {r["ticker"] for r in rows} == {"AAPL-NMS-EQT"}
    assert all(0 < r["bidPrice1"] < r["askPrice1"] < 10 * r["bidPrice1"] for r in rows)
    assert len({(r["bidPrice1"], r["askPrice1"]) for r in rows[1:]}) >= 1


@pytest.mark.parametrize("stream", [
    {"queryLabel": "ExampleSymbolRiskSummary", "activeLatency": 900, "msgName": "SpdrParentBrkrState",
     "where": "accnt:eq:T.MTL.VEN & spdrBrokerStatus:eq:ACTIVE"},
    {"queryLabel": "ExampleSymbolRiskSummary", "activeLatency": 2500, "msgName": "SymbolRiskSummaryV5",
     "where": "accnt:eq:T.TJ.VEN3 & tradeDate:eq:2025-06-05"},
])
def test_order_and_risk_notebooks_complete_their_snapshot_and_stay_open(live, stream):
    uri = live.base.replace("http", "ws") + "/mlink/json"

    async def go() -> list[str]:
        seen = []
        async with websockets.connect(uri, additional_headers={"Authorization": f"Bearer {API_KEY}"},
                                      ping_timeout=None) as websocket:
            await websocket.send(_stamp({"header": {"mTyp": "MLinkStream"}, "message": stream}))
            while "Complete" not in seen:
                m = json.loads(await asyncio.wait_for(websocket.recv(), 10))
                seen.append(m["message"].get("state") or m["header"]["mTyp"])
            await websocket.send(_stamp({"header": {"mTyp": "MLinkSignalReady"},
                                         "message": {"readyScan": "FullScan"}}))
            m = json.loads(await asyncio.wait_for(websocket.recv(), 10))
            while m["header"]["mTyp"] == "MLinkHeartbeat":
                m = json.loads(await asyncio.wait_for(websocket.recv(), 10))
            seen.append(m["message"].get("state"))
        return seen

    seen = asyncio.run(go())
    assert seen == ["LoggedOn", "MLinkStreamAck", "Begin", "Active", "Complete", "Complete"]
