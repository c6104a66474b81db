"""The MLink WebSocket protocol in process (sans-I/O ``MLinkSession`` + ``Hub`` on a simulated
clock): MLinkStream snapshots, timed and signalled updates, replacement and unsubscribe,
errors, MLinkSubscribe. What needs the socket (heartbeat timer, logon refusal closing it, one
client not disturbing another) is in test_stream.py."""

from __future__ import annotations

import itertools

import orjson
import pytest

from tests.conftest import API_KEY
from tests.support.sansio import LIMITED_KEY, SansIO, kinds, records


@pytest.fixture
def rig() -> SansIO:
    r = SansIO()
    for i, tk in enumerate(["AAPL", "MSFT", "SPY", "QQQ"]):
        r.stock(tk, 100 + i, 101 + i, bidSize1=10)
    return r


def _tks(msgs: list[dict]) -> list[str]:
    return [m["pkey"]["ticker"]["tk"] for m in records(msgs, "StockBookQuote")]


def test_stream_snapshot_then_live_updates_of_its_where_clause(rig):
    c = rig.client()
    c.send("MLinkStream", queryLabel="ExampleStockNbbo", activeLatency=1, msgName="StockBookQuote",
           view="ticker|bidprice1|askprice1", where="ticker:eq:AAPL-NMS-EQT")
    msgs = c.pull()
    assert kinds(msgs) == ["MLinkStreamAck", "Begin", "StockBookQuote", "Active", "Complete"]
    ack = msgs[0]["message"]
    assert ack["result"] == "OK" and ack["queryLabel"] == "ExampleStockNbbo"
    rec = records(msgs, "StockBookQuote")[0]
    assert set(rec) == {"pkey", "bidPrice1", "askPrice1"}  # the view, plus the pkey
    assert msgs[3]["message"]["numMessagesSent"] == 1
    rig.stock("MSFT", 1, 2)
    rig.stock("AAPL", 150.5, 150.75)
    rig.advance(1)
    got = records(c.pull(), "StockBookQuote")
    assert [(m["bidPrice1"], m["askPrice1"]) for m in got] == [(150.5, 150.75)]
    rig.advance(100)
    assert c.pull() == []


def test_stream_matching_nothing_completes_its_empty_snapshot_and_stays_open(rig):
    c = rig.client()
    c.send("MLinkStream", msgName="SpdrParentBrkrState", activeLatency=900,
           where="accnt:eq:T.MTL.VEN & spdrBrokerStatus:eq:ACTIVE")
    msgs = c.pull()
    assert kinds(msgs) == ["MLinkStreamAck", "Begin", "Active", "Complete"]
    assert "numMessagesSent" not in msgs[2]["message"]
    c.send("MLinkSignalReady", readyScan="FullScan")
    assert kinds(c.pull()) == ["Complete"]
    c.send("MLinkStream", msgName="SymbolRiskSummaryV5", activeLatency=2500,
           where="accnt:eq:T.TJ.VEN3 & tradeDate:eq:2025-06-05")
    assert kinds(c.pull())[-1] == "Complete"


def test_two_streams_on_one_socket_replacement_and_unsubscribe(rig):
    c = rig.client()
    c.send("MLinkStream", msgName="StockBookQuote", activeLatency=1, queryID=1,
           where="ticker.tk:eq:SPY")
    c.pull()
    c.send("MLinkStream", msgName="SpanRiskCalculator", activeLatency=1, queryID=2)
    assert c.pull()[0]["message"]["queryID"] == 2
    # replacing the StockBookQuote stream (same sessionID and type): the old one gets Replaced
    c.send("MLinkStream", msgName="StockBookQuote", activeLatency=1, queryID=3,
           where="ticker.tk:eq:QQQ")
    msgs = c.pull()
    assert kinds(msgs)[0] == "Replaced" and msgs[0]["message"]["queryID"] == 1
    assert _tks(msgs) == ["QQQ"]
    rig.stock("SPY", 1, 2)
    rig.stock("QQQ", 3, 4)
    rig.advance(1)
    assert _tks(c.pull()) == ["QQQ"]
    # unsubscribe: ack echoing Yes, then Terminated, then nothing
    c.send("MLinkStream", msgName="StockBookQuote", unsubscribe="Yes")
    msgs = c.pull()
    assert kinds(msgs) == ["MLinkStreamAck", "Terminated"]
    assert msgs[0]["message"]["unsubscribe"] == "Yes"
    rig.stock("QQQ", 5, 6)
    rig.advance(1)
    assert c.pull() == []


def test_active_latency_zero_waits_for_signals_incremental_vs_fullscan(rig):
    c = rig.client()
    c.send("MLinkStream", msgName="StockBookQuote", activeLatency=0)
    n_all = len(records(c.pull(), "StockBookQuote"))
    assert n_all == 4
    rig.stock("MSFT", 10, 11)
    rig.stock("MSFT", 12, 13)
    rig.advance(1000)
    assert c.pull() == []  # nothing until signalled
    c.send("MLinkSignalReady", signalID=7, readyScan="Incremental")
    batch = c.pull()
    assert [r["bidPrice1"] for r in records(batch, "StockBookQuote")] == [12]  # latest only
    assert kinds(batch)[-1] == "Complete" and batch[-1]["message"]["signalID"] == 7
    c.send("MLinkSignalReady", signalID=8)  # default: Incremental
    batch = c.pull()
    assert records(batch, "StockBookQuote") == [] and batch[-1]["message"]["signalID"] == 8
    c.send("MLinkSignalReady", signalID=9, readyScan="FullScan", sesionID="")
    batch = c.pull()
    assert len(records(batch, "StockBookQuote")) == n_all and batch[-1]["message"]["signalID"] == 9


def test_timed_stream_sends_one_record_per_pkey_per_cycle(rig):
    c = rig.client()
    c.send("MLinkStream", msgName="StockBookQuote", activeLatency=400, where="ticker.tk:eq:MSFT")
    c.pull()
    sent_at: list[int] = []
    for i in range(50):  # a quote every 20 ms for a second
        rig.stock("MSFT", 200 + i, 300 + i)
        got = [r["bidPrice1"] for r in records(c.pull(), "StockBookQuote")]
        if got:
            assert got == [200 + i]  # the latest state, once
            sent_at.append(rig.clock.time_ns())
        rig.advance(20)
    assert len(sent_at) == 3 and all(b - a >= 400_000_000 for a, b in itertools.pairwise(sent_at))
    rig.advance(400)
    assert [r["bidPrice1"] for r in records(c.pull(), "StockBookQuote")] == [249]
    # a FullScan on a timed stream re-sends the matching set once
    c.send("MLinkSignalReady", readyScan="FullScan", signalID=3)
    assert [r["bidPrice1"] for r in records(c.pull(), "StockBookQuote")] == [249]


def test_stream_errors_are_acked_without_checkpoints(rig):
    c = rig.client()
    cases = [
        ({"msgName": "NoSuchType"}, "UnkwnMsgType", "unknown message type"),
        ({"msgName": "StockBookQuote", "where": "ticker:zz:1"}, "Error", "unknown operator"),
        ({"msgName": "StockBookQuote", "where": "(bidPrice1:gt:1"}, "Error", "unbalanced"),
        ({"msgName": "StockBookQuote", "view": "ticker|nope"}, "Error", "view: unknown field"),
        ({"msgName": "StockBookQuote", "where": "bidPrice1:gt:x"}, "Error", "not a number"),
    ]
    for msg, result, words in cases:
        c.send("MLinkStream", **msg)
        msgs = c.pull()
        assert kinds(msgs) == ["MLinkStreamAck"], msgs
        assert msgs[0]["message"]["result"] == result and words in msgs[0]["message"]["detail"]
    limited = rig.client(LIMITED_KEY)
    limited.send("MLinkStream", msgName="SpanRiskCalculator")
    assert limited.pull()[0]["message"]["result"] == "UnauthMsgType"
    limited.send("MLinkStream", msgName="StockBookQuote", where="ticker.tk:eq:AAPL")
    assert kinds(limited.pull())[-1] == "Complete"


def test_malformed_frames_get_a_data_ack_naming_the_problem(rig):
    c = rig.client()
    for frame, result, words in [
        ("{not json", "JsonError", "not valid JSON"),
        ("[1,2,3]", "JsonError", "header"),
        (orjson.dumps({"header": {"mTyp": "Nope"}, "message": {}}), "InvldMsgType", "Nope"),
        (orjson.dumps({"header": {"mTyp": "MLinkStream"}, "message": "x"}), "JsonError", "object"),
        (orjson.dumps({"header": {"mTyp": "MLinkStream"},
                       "message": {"msgName": "StockBookQuote", "activeLatency": "soon"}}),
         "OtherError", "activeLatency"),
    ]:
        c.raw(frame)
        msgs = c.pull()
        assert kinds(msgs) == ["MLinkDataAck"], msgs
        assert msgs[0]["message"]["result"] == result and words in msgs[0]["message"]["detail"]


def test_highwater_minus_one_skips_the_snapshot(rig):
    c = rig.client()
    c.send("MLinkStream", msgName="StockBookQuote", activeLatency=1, highwaterTs=-1)
    assert records(c.pull(), "StockBookQuote") == []
    rig.stock("SPY", 7, 8)
    rig.advance(1)
    assert [r["bidPrice1"] for r in records(c.pull(), "StockBookQuote")] == [7]


def test_logon_on_the_socket_and_a_wrong_key(rig):
    c = rig.client(None, logged_on=False)
    assert c.pull()[0]["message"]["state"] == "WaitingLogon"
    c.send("MLinkStream", msgName="StockBookQuote")
    ack = c.pull()[0]
    assert ack["header"]["mTyp"] == "MLinkDataAck" and ack["message"]["result"] == "AuthError"
    c.send("MLinkLogon", apiKey="WRONG")
    assert c.pull()[0]["message"]["state"] == "LogonFailed" and c.session.closed
    c = rig.client(None, logged_on=False)
    c.pull()
    c.send("MLinkLogon", apiKey=API_KEY)
    assert c.pull()[0]["message"]["state"] == "LoggedOn"
    c.send("MLinkStream", msgName="StockBookQuote")
    assert kinds(c.pull())[-1] == "Complete"
    wrong = rig.client("WRONG-KEY", logged_on=False)
    assert wrong.pull()[0]["message"]["state"] == "LogonFailed" and wrong.session.closed


def test_subscribe_by_pkey_with_views_compression_reset_and_unknown_keys(rig):
    c = rig.client()
    c.send("MLinkSubscribe", activeLatency=1, doReset="No", subscribeID=5,
           View=[{"msgName": "StockBookQuote", "view": "bidPrice1|askPrice1"}],
           Subscribe=[{"msgName": "StockBookQuote", "msgPKey": "AAPL-NMS-EQT"},
                      {"msgName": "StockBookQuote",
                       "msgPKey": {"ticker": {"at": "EQT", "ts": "NMS", "tk": "NEWCO"}}},
                      {"msgName": "StockBookQuote", "msgPKey": "garbage"},
                      {"msgName": "StockBookQuote"},
                      {"msgName": "Nope", "msgPKey": "x"}])
    msgs = c.pull()
    assert kinds(msgs) == ["MLinkSubscribeAck", "Begin", "StockBookQuote", "Active"]
    a = msgs[0]["message"]
    assert a["subscribeID"] == 5 and a["numActiveSubscriptions"] == 2
    assert [s["result"] for s in a["Subscribe"]] == ["OK", "OK", "InvldPKey", "MissingPKey",
                                                    "UnkwnMsgType"]
    assert a["succeeded"] == "No" and a["View"][0]["result"] == "OK"
    recs = records(msgs, "StockBookQuote")
    assert _tks(msgs) == ["AAPL"]  # NEWCO does not exist yet
    assert set(recs[0]) == {"pkey", "bidPrice1", "askPrice1"}
    # a key that did not exist starts flowing when its record appears
    rig.stock("NEWCO", 5, 6)
    rig.advance(1)
    got = records(c.pull(), "StockBookQuote")
    assert [(r["pkey"]["ticker"]["tk"], r["bidPrice1"]) for r in got] == [("NEWCO", 5)]
    # FieldChangesOnly: unchanged fields are left out
    c.send("MLinkSubscribe", activeLatency=1, compression="FieldChangesOnly",
           Subscribe=[{"msgName": "StockBookQuote", "msgPKey": "NEWCO-NMS-EQT"}])
    c.pull()
    rig.stock("NEWCO", 5, 7)
    rig.advance(1)
    assert records(c.pull(), "StockBookQuote") == [
        {"pkey": {"ticker": {"at": "EQT", "ts": "NMS", "tk": "NEWCO"}}, "askPrice1": 7}]
    # unsubscribe one key, then doReset drops everything
    c.send("MLinkSubscribe", Unsubscribe=[{"msgName": "StockBookQuote", "msgPKey": "NEWCO-NMS-EQT"}])
    assert c.pull()[0]["message"]["numActiveSubscriptions"] == 1
    c.send("MLinkSubscribe", doReset="Yes")
    ack = c.pull()[0]["message"]
    assert ack["didReset"] == "Yes" and "numActiveSubscriptions" not in ack
    rig.stock("AAPL", 1, 2)
    rig.advance(1)
    assert c.pull() == []


def test_auction_subscribe_as_in_the_seed_notebook(rig):
    rig.put("AuctionState", {"noticeNumber": "1A2B-3C4D-5E6F-7081", "tradeDate": "2026-02-04",
                             "auctionType": 1, "custQty": 100,
                             "BidSolution": [{"numResponders": 2, "matchPrice": 4.75, "matchSize": 50}]})
    c = rig.client()
    c.send("MLinkSubscribe", activeLatency=1, doReset="No",
           View=[{"msgName": "AuctionState",
                  "view": "noticeNumber|BidSolution|tradeDate|auctionType|atsAuctionStatus|custSide|"
                          "custQty|custPrc|uBid|uAsk|nbboBid|nbboAsk|surfacePrc|surfaceVol"}],
           Subscribe=[{"msgName": "AuctionState", "msgPKey": "1A2B-3C4D-5E6F-7081"}])
    rec = records(c.pull(), "AuctionState")[0]
    assert rec["pkey"]["noticeNumber"] == "1A2B-3C4D-5E6F-7081"
    assert rec["BidSolution"][0] == {"numResponders": 2, "matchPrice": 4.75, "matchSize": 50}
    c.send("MLinkSignalReady", readyScan="FullScan", signalID=4)
    msgs = c.pull()
    assert kinds(msgs)[-1] == "Active" and msgs[-1]["message"]["signalID"] == 4


def test_ending_one_stream_keeps_the_others_on_the_same_type_live(rig):
    c = rig.client()
    c.send("MLinkStream", msgName="StockBookQuote", activeLatency=1, sessionID=1, where="ticker.tk:eq:AAPL")
    c.send("MLinkStream", msgName="StockBookQuote", activeLatency=1, sessionID=2, where="ticker.tk:eq:MSFT")
    c.send("MLinkSubscribe", activeLatency=1, Subscribe=[{"msgName": "StockBookQuote",
                                                          "msgPKey": "SPY-NMS-EQT"}])
    c.pull()
    c.send("MLinkStream", msgName="StockBookQuote", sessionID=1, unsubscribe="Yes")
    assert kinds(c.pull()) == ["MLinkStreamAck", "Terminated"]
    rig.advance(1)
    rig.stock("MSFT", 50, 51)
    rig.stock("SPY", 60, 61)
    rig.advance(1)
    assert sorted(_tks(c.pull())) == ["MSFT", "SPY"]  # the other stream and the subscription
    c.send("MLinkStream", msgName="StockBookQuote", sessionID=2, unsubscribe="Yes")
    c.pull()
    rig.advance(1)
    rig.stock("SPY", 62, 63)
    rig.advance(1)
    assert _tks(c.pull()) == ["SPY"]  # the subscription still


def test_an_idle_timed_session_asks_for_no_wake_up_until_something_changes(rig):
    """The shell sleeps until ``next_due_ns`` or a change: an idle stream or subscription must
    not report a due time (one in the past made every idle session's writer spin)."""
    c = rig.client()
    c.send("MLinkStream", msgName="StockBookQuote", activeLatency=5, where="ticker.tk:eq:MSFT")
    c.send("MLinkSubscribe", activeLatency=5, Subscribe=[{"msgName": "StockBookQuote",
                                                          "msgPKey": "AAPL-NMS-EQT"}])
    c.pull()
    s = c.session
    for _ in range(3):  # idle: nothing to send, nothing due
        rig.advance(10)
        c.pull()
        now = rig.clock.time_ns()
        assert not s.has_work(now) and s.next_due_ns() is None
    rig.stock("MSFT", 7, 8)  # a change inside the cycle: due at the cycle's end, not before
    rig.stock("AAPL", 9, 10)
    got = c.pull()
    assert {r["pkey"]["ticker"]["tk"] for r in records(got, "StockBookQuote")} == {"MSFT", "AAPL"}
    rig.stock("MSFT", 7.5, 8)
    c.pull()
    due = s.next_due_ns()
    assert due is not None and due > rig.clock.time_ns()
    rig.advance(5)
    assert [r["bidPrice1"] for r in records(c.pull(), "StockBookQuote")] == [7.5]
    rig.advance(10)
    c.pull()
    assert s.next_due_ns() is None
