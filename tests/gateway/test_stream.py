"""The WebSocket API through a real socket: sessions, MLinkStream, MLinkSignalReady,
MLinkSubscribe, malformed frames and back-pressure."""

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


def test_stream_matching_nothing_completes_its_empty_snapshot_and_stays_open(srv):
    async def go():
        async with connect(srv) as ws:
            await recv(ws)
            await ws.send(env("MLinkStream", msgName="SpdrParentBrkrState", activeLatency=900,
                              where="accnt:eq:T.MTL.VEN & spdrBrokerStatus:eq:ACTIVE"))
            msgs = await recv_until(ws, complete)
            assert [state(m) for m in msgs[1:]] == ["Begin", "Active", "Complete"]
            assert "numMessagesSent" not in msgs[2]["message"]
            await ws.send(env("MLinkSignalReady", readyScan="FullScan"))
            again = await recv_until(ws, complete)
            assert data(again, "SpdrParentBrkrState") == []
            # the socket is still serving: a second stream works
            await ws.send(env("MLinkStream", msgName="SymbolRiskSummaryV5", activeLatency=2500,
                              where="accnt:eq:T.TJ.VEN3 & tradeDate:eq:2025-06-05"))
            assert complete((await recv_until(ws, complete))[-1])
    run(go())


def test_two_streams_on_one_socket_and_replacement(srv):
    async def go():
        async with connect(srv) as ws:
            await recv(ws)
            await ws.send(env("MLinkStream", msgName="StockBookQuote", activeLatency=1, queryID=1,
                              where="ticker.tk:eq:SPY"))
            await recv_until(ws, complete)
            await ws.send(env("MLinkStream", msgName="SpanRiskCalculator", activeLatency=1, queryID=2))
            msgs = await recv_until(ws, complete)
            assert msgs[0]["message"]["queryID"] == 2
            # replacing the StockBookQuote stream: the old one gets Replaced
            await ws.send(env("MLinkStream", msgName="StockBookQuote", activeLatency=1, queryID=3,
                              where="ticker.tk:eq:QQQ"))
            msgs = await recv_until(ws, complete)
            assert state(msgs[0]) == "Replaced" and msgs[0]["message"]["queryID"] == 1
            assert [r["pkey"]["ticker"]["tk"] for r in data(msgs)] == ["QQQ"]
            srv.publish("StockBookQuote", quote("SPY", 1, 2))
            srv.publish("StockBookQuote", quote("QQQ", 3, 4))
            m = await recv(ws)
            assert m["message"]["pkey"]["ticker"]["tk"] == "QQQ"
            # unsubscribe: ack echoing Yes, then Terminated
            await ws.send(env("MLinkStream", msgName="StockBookQuote", unsubscribe="Yes"))
            msgs = await recv_until(ws, lambda m: state(m) == "Terminated")
            assert msgs[0]["message"]["unsubscribe"] == "Yes"
            srv.publish("StockBookQuote", quote("QQQ", 5, 6))
            assert await nothing_for(ws, 0.4)
    run(go())


def test_active_latency_zero_waits_for_signals_incremental_vs_fullscan(srv):
    async def go():
        async with connect(srv) as ws:
            await recv(ws)
            await ws.send(env("MLinkStream", msgName="StockBookQuote", activeLatency=0))
            snap = await recv_until(ws, complete)
            n_all = len(data(snap))
            assert n_all >= 4
            srv.publish("StockBookQuote", quote("MSFT", 10, 11))
            srv.publish("StockBookQuote", quote("MSFT", 12, 13))
            assert await nothing_for(ws, 0.3)  # nothing until signalled
            await ws.send(env("MLinkSignalReady", signalID=7, readyScan="Incremental"))
            batch = await recv_until(ws, complete)
            assert [r["bidPrice1"] for r in data(batch)] == [12]  # conflated: latest only
            assert batch[-1]["message"]["signalID"] == 7
            await ws.send(env("MLinkSignalReady", signalID=8))  # default: Incremental
            batch = await recv_until(ws, complete)
            assert data(batch) == [] and batch[-1]["message"]["signalID"] == 8
            await ws.send(env("MLinkSignalReady", signalID=9, readyScan="FullScan", sesionID=""))
            batch = await recv_until(ws, complete)
            assert len(data(batch)) == n_all and batch[-1]["message"]["signalID"] == 9
    run(go())


def test_timed_stream_conflates_to_one_record_per_pkey_per_cycle(srv):
    async def go():
        async with connect(srv) as ws:
            await recv(ws)
            await ws.send(env("MLinkStream", msgName="StockBookQuote", activeLatency=400,
                              where="ticker.tk:eq:MSFT"))
            await recv_until(ws, complete)
            for i in range(50):
                srv.publish("StockBookQuote", quote("MSFT", 200 + i, 300 + i))
            got = []
            while True:
                try:
                    m = await recv(ws, 0.8)
                except TimeoutError:
                    break
                if mtyp(m) == "StockBookQuote":
                    got.append(m["message"]["bidPrice1"])
            assert got[-1] == 249
            assert len(got) <= 3  # at most one per 400 ms cycle
            # a FullScan on a timed stream re-sends the matching set once
            await ws.send(env("MLinkSignalReady", readyScan="FullScan", signalID=3))
            batch = await recv_until(ws, complete)
            assert [r["bidPrice1"] for r in data(batch)] == [249]
    run(go())


def test_stream_errors_are_acked_without_checkpoints(srv):
    async def go():
        async with connect(srv) as ws:
            await recv(ws)
            cases = [
                ({"msgName": "NoSuchType"}, "UnkwnMsgType", "unknown message type"),
                ({"msgName": "StockBookQuote", "where": "ticker:zz:1"}, "Error", "unknown operator"),
                ({"msgName": "StockBookQuote", "where": "(bidPrice1:gt:1"}, "Error", "unbalanced"),
                ({"msgName": "StockBookQuote", "view": "ticker|nope"}, "Error", "view: unknown field"),
                ({"msgName": "StockBookQuote", "where": "bidPrice1:gt:x"}, "Error", "not a number"),
            ]
            for msg, result, words in cases:
                await ws.send(env("MLinkStream", **msg))
                ack = await recv(ws)
                assert mtyp(ack) == "MLinkStreamAck"
                assert ack["message"]["result"] == result and words in ack["message"]["detail"], ack
            assert await nothing_for(ws, 0.3)
        async with connect(srv, "LIMITED-KEY") as ws:
            await recv(ws)
            await ws.send(env("MLinkStream", msgName="SpanRiskCalculator"))
            assert (await recv(ws))["message"]["result"] == "UnauthMsgType"
            await ws.send(env("MLinkStream", msgName="StockBookQuote", where="ticker.tk:eq:AAPL"))
            assert complete((await recv_until(ws, complete))[-1])
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


def test_highwater_minus_one_skips_the_snapshot(srv):
    async def go():
        async with connect(srv) as ws:
            await recv(ws)
            await ws.send(env("MLinkStream", msgName="StockBookQuote", activeLatency=1, highwaterTs=-1))
            msgs = await recv_until(ws, complete)
            assert data(msgs) == []
            srv.publish("StockBookQuote", quote("SPY", 7, 8))
            m = await recv(ws)
            while mtyp(m) == "MLinkHeartbeat":
                m = await recv(ws)
            assert m["message"]["bidPrice1"] == 7
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


def test_subscribe_by_pkey_with_views_compression_reset_and_unknown_keys(srv):
    async def go():
        async with connect(srv) as ws:
            await recv(ws)
            await ws.send(env("MLinkSubscribe", activeLatency=1, doReset="No", subscribeID=5,
                              View=[{"msgName": "StockBookQuote", "view": "bidPrice1|askPrice1"}],
                              Subscribe=[{"msgName": "StockBookQuote", "msgPKey": "AAPL-NMS-EQT"},
                                         {"msgName": "StockBookQuote",
                                          "msgPKey": {"ticker": {"at": "EQT", "ts": "NMS", "tk": "NEWCO"}}},
                                         {"msgName": "StockBookQuote", "msgPKey": "garbage"},
                                         {"msgName": "StockBookQuote"},
                                         {"msgName": "Nope", "msgPKey": "x"}]))
            ack = await recv(ws)
            assert mtyp(ack) == "MLinkSubscribeAck"
            a = ack["message"]
            assert a["subscribeID"] == 5 and a["numActiveSubscriptions"] == 2
            assert [s["result"] for s in a["Subscribe"]] == ["OK", "OK", "InvldPKey", "MissingPKey",
                                                            "UnkwnMsgType"]
            assert a["succeeded"] == "No" and a["View"][0]["result"] == "OK"
            msgs = await recv_until(ws, lambda m: state(m) == "Active")
            assert state(msgs[0]) == "Begin"
            recs = data(msgs)
            assert [r["pkey"]["ticker"]["tk"] for r in recs] == ["AAPL"]  # NEWCO does not exist yet
            assert set(recs[0]) == {"pkey", "bidPrice1", "askPrice1"}
            # a key that did not exist starts flowing when its record appears
            srv.publish("StockBookQuote", quote("NEWCO", 5, 6))
            m = await recv(ws)
            assert m["message"]["pkey"]["ticker"]["tk"] == "NEWCO" and m["message"]["bidPrice1"] == 5
            # FieldChangesOnly: unchanged fields are left out
            await ws.send(env("MLinkSubscribe", activeLatency=1, compression="FieldChangesOnly",
                              Subscribe=[{"msgName": "StockBookQuote", "msgPKey": "NEWCO-NMS-EQT"}]))
            await recv_until(ws, lambda m: state(m) == "Active")
            srv.publish("StockBookQuote", quote("NEWCO", 5, 7))
            m = await recv(ws)
            assert m["message"] == {"pkey": {"ticker": {"at": "EQT", "ts": "NMS", "tk": "NEWCO"}},
                                    "askPrice1": 7}
            # unsubscribe one key, then doReset drops everything
            await ws.send(env("MLinkSubscribe", Unsubscribe=[{"msgName": "StockBookQuote",
                                                              "msgPKey": "NEWCO-NMS-EQT"}]))
            ack = await recv(ws)
            assert ack["message"]["numActiveSubscriptions"] == 1
            await recv_until(ws, lambda m: state(m) == "Active")
            await ws.send(env("MLinkSubscribe", doReset="Yes"))
            ack = await recv(ws)
            assert ack["message"]["didReset"] == "Yes" and "numActiveSubscriptions" not in ack["message"]
            await recv_until(ws, lambda m: state(m) == "Active")
            srv.publish("StockBookQuote", quote("AAPL", 1, 2))
            assert await nothing_for(ws, 0.3)
    run(go())


def test_auction_subscribe_as_in_the_seed_notebook(srv):
    srv.publish("AuctionState", {"noticeNumber": "1A2B-3C4D-5E6F-7081", "tradeDate": "2026-02-04",
                                 "auctionType": 1, "custQty": 100,
                                 "BidSolution": [{"numResponders": 2, "matchPrice": 4.75, "matchSize": 50}]})

    async def go():
        async with connect(srv) as ws:
            await recv(ws)
            await ws.send(env("MLinkSubscribe", activeLatency=1, doReset="No",
                              View=[{"msgName": "AuctionState",
                                     "view": "noticeNumber|BidSolution|tradeDate|auctionType|"
                                             "atsAuctionStatus|custSide|custQty|custPrc|uBid|uAsk|"
                                             "nbboBid|nbboAsk|surfacePrc|surfaceVol"}],
                              Subscribe=[{"msgName": "AuctionState", "msgPKey": "1A2B-3C4D-5E6F-7081"}]))
            await recv(ws)
            msgs = await recv_until(ws, lambda m: state(m) == "Active")
            rec = data(msgs, "AuctionState")[0]
            assert rec["pkey"]["noticeNumber"] == "1A2B-3C4D-5E6F-7081"
            assert rec["BidSolution"][0] == {"numResponders": 2, "matchPrice": 4.75, "matchSize": 50}
            await ws.send(env("MLinkSignalReady", readyScan="FullScan", signalID=4))
            msgs = await recv_until(ws, lambda m: state(m) == "Active")
            assert msgs[-1]["message"]["signalID"] == 4
    run(go())
