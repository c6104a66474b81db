"""The REST API in process (``RestApi.handle``, no socket): every command, post actions,
errors.  What needs HTTP (status codes on the wire, the body-size limit of the HTTP layer) is
in test_rest_e2e.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import API_KEY
from tests.support.sansio import SansIO

SPAN = "SpanRiskCalculator"


@pytest.fixture(scope="module")
def server() -> Iterator[SansIO]:
    """The platform the server runs (SPAN and theo engines, live tables), without sockets."""
    yield SansIO()


def _span(tk: str, xx: float, cp: str, user: str, vol: float, **f: object) -> dict:
    return {"header": {"mTyp": SPAN},
            "message": {"pkey": {"secKey": {"at": "EQT", "ts": "NMS", "tk": tk, "dt": "2026-01-16",
                                            "xx": xx, "cp": cp},
                                 "secType": "Option", "userName": user},
                        "vol": vol, "volSrc": "User", **f}}


def _result(reply: list[dict]) -> dict:
    assert reply[-1]["header"]["mTyp"] == "QueryResult"
    return reply[-1]["message"]


def _records(reply: list[dict], name: str) -> list[dict]:
    return [m["message"] for m in reply if m["header"]["mTyp"] == name]


def _seed_spans(server) -> None:
    body = [
        _span("AAPL", 200, "Put", "alice", 0.25, uPrc=190.5, divString="-1, 2026-02-09:0.26"),
        _span("AAPL", 210, "Call", "alice", 0.22, uPrc=190.5),
        _span("SPY", 500, "Call", "bob", 0.15, uPrc=505.0, prcSpanType="Pct", prcSpanUp=0.1),
        _span("SPY", 480, "Put", "bob", 0.18, uPrc=505.0, hedgeDeltaNeutral="Yes"),
        _span("CAKE", 62.5, "Call", "carol", 0.40, uPrc=61.0),
    ]
    reply = server.post(body, postaction="R")
    acks = _records(reply, "PostAck")
    assert [a["result"] for a in acks] == ["OK"] * 5, reply


def test_every_reply_ends_with_query_result_and_auth_is_required(server):
    status, reply = server.rest_raw("GET", {"cmd": "getcount", "msgType": SPAN})
    assert status == 401 and _result(reply)["result"] == "AuthError"
    status, reply = server.rest_raw("GET", {"cmd": "getcount", "msgType": SPAN, "apiKey": "NOPE"})
    assert _result(reply)["detail"] == "unknown API key"
    status, reply = server.rest_raw("GET", {"c": "getcount", "mt": SPAN},
                                    {"Authorization": f"Bearer {API_KEY}"})
    assert status == 200 and _result(reply)["result"] == "Ok"
    # parameter names are case-insensitive
    status, reply = server.rest_raw("GET", {"CMD": "getcount", "MsgType": SPAN, "APIKEY": API_KEY})
    assert _result(reply)["result"] == "Ok"


def test_getmsgtypes_lists_every_type_with_its_number(server):
    reply = server.get(cmd="getmsgtypes", view="name|mNum")
    descs = {d["name"]: d.get("mNum") for d in _records(reply, "MsgDesc")}
    assert descs["StockBookQuote"] == 3000
    assert descs["LiveImpliedQuote"] == 1015
    assert descs[SPAN] == 5060
    assert len(descs) >= 50
    full = _records(server.get(cmd="getmsgtypes", where="name:eq:SpdrParentOrder"), "MsgDesc")
    assert full[0]["autoAssignedPkey"] == "Yes"
    assert full[0]["actions"] == "Select,Insert"
    assert full[0]["topic"] == "3985-parent-orders"


def test_getschema_returns_one_field_desc_per_field(server):
    fds = _records(server.get(cmd="getschema", msgType="SpdrAutoHedgeState"), "FieldDesc")
    names = [f["name"] for f in fds]
    assert names[:5] == ["accnt", "riskGroupId", "hedgeSecKey", "hedgeSecType", "clientFirm"]
    assert all(f["isPkey"] == "Yes" for f in fds[:5])
    assert fds[0]["sLen"] == 16
    assert len(fds) == 60
    auction = _records(server.get(cmd="getschema", msgType="AuctionState"), "FieldDesc")
    assert any(f.get("inRepeater") == "BidSolution" for f in auction)


def test_postmsgs_then_every_read_command(server):
    _seed_spans(server)
    # getmsgs with where, view, order, limit
    reply = server.get(cmd="getmsgs", msgType=SPAN, where="secKey.tk:eq:AAPL",
                       view="vol|uPrc", order="vol:DESC")
    recs = _records(reply, SPAN)
    assert [r["vol"] for r in recs] == [0.25, 0.22]
    assert all(set(r) == {"pkey", "vol", "uPrc"} for r in recs)
    assert recs[0]["pkey"]["secKey"] == {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2026-01-16",
                                         "xx": 200, "cp": "Put"}
    assert _result(reply)["numMessagesSent"] == 2
    # limit cuts after ordering
    reply = server.get(cmd="getmsgs", msgType=SPAN, order="vol:ASC", l=2, v="vol")
    assert [r["vol"] for r in _records(reply, SPAN)] == [0.15, 0.18]
    assert "limit 2" in _result(reply)["detail"]
    # getmsg by flat composite pkey
    pk = "CAKE-NMS-EQT-2026-01-16-62.5-C|Option|carol"
    got = _records(server.get(cmd="getmsg", msgType=SPAN, pkey=pk), SPAN)
    assert got[0]["vol"] == 0.4 and got[0]["pkey"]["userName"] == "carol"
    assert _records(server.get(cmd="getmsg", msgType=SPAN, pkey=pk, where="vol:gt:1"), SPAN) == []
    # getmsgs with a partial pkey filter
    got = _records(server.get(cmd="getmsgs", msgType=SPAN, pkey="SPY-NMS-EQT-2026-01-16"), SPAN)
    assert len(got) == 2
    # getcount
    cnt = _records(server.get(cmd="getcount", msgType=SPAN, where="userName:eq:bob"), "MLinkCount")
    assert cnt == [{"count": 2}]
    # enums, defaults and the text of stored values
    bob = _records(server.get(cmd="getmsgs", msgType=SPAN, where="prcSpanType:eq:pct"), SPAN)
    assert len(bob) == 1 and bob[0]["prcSpanType"] == "Pct" and bob[0]["prcSpanUp"] == 0.1
    assert _records(server.get(cmd="getmsgs", msgType=SPAN, where="divString:cv:0.26"), SPAN)[0][
        "divString"] == "-1, 2026-02-09:0.26"


def test_getaggregate_groups_and_measures(server):
    _seed_spans(server)
    reply = server.get(cmd="getaggregate", msgType=SPAN, measure="vol|volSrc",
                       group="pkey.userName")
    counts = {c["key1"]: c["recCount"] for c in _records(reply, "AggregateCount")}
    assert counts == {"alice": 2, "bob": 2, "carol": 1}
    nums = {n["key1"]: n for n in _records(reply, "AggregateNumeric")}
    assert nums["alice"]["cnt"] == 2
    assert abs(nums["alice"]["sum"] - 0.47) < 1e-12 and nums["alice"]["max"] == 0.25
    assert nums["bob"]["min"] == 0.15 and abs(nums["bob"]["avg"] - 0.165) < 1e-12
    strs = _records(reply, "AggregateString")
    assert strs[0]["Value"] == [{"value": "User", "cnt": strs[0]["recCount"]}]
    # ranged groups emit BucketRange rows
    reply = server.get(cmd="getaggregate", msgType=SPAN, measure="vol", group="vol:RANGE:2")
    ranges = _records(reply, "BucketRange")
    assert [r["cnt"] for r in ranges] == [4, 1] and ranges[0]["key"] == "key1"
    reply = server.get(cmd="getaggregate", msgType=SPAN, measure="vol", group="userName:top:1")
    assert [c["key1"] for c in _records(reply, "AggregateCount")] in (["alice"], ["bob"])
    reply = server.get(cmd="getaggregate", msgType=SPAN, measure="vol",
                       group="userName:top:1:vol:max")
    assert [c["key1"] for c in _records(reply, "AggregateCount")] == ["carol"]
    reply = server.get(cmd="getaggregate", msgType=SPAN, measure="vol", group="vol:Q:2")
    assert sum(c["recCount"] for c in _records(reply, "AggregateCount")) == 5
    # no group: one bucket with every record
    reply = server.get(cmd="getaggregate", msgType=SPAN, measure="vol")
    assert _records(reply, "AggregateCount") == [{"recCount": 5}]
    # more than four group terms: grouped by four, the rest named in the detail
    reply = server.get(cmd="getaggregate", msgType=SPAN, measure="vol",
                       group="volSrc|uPrcSrc|yearsSrc|sdivSrc|rateSrc")
    assert "ignored: rateSrc" in _result(reply)["detail"]


def test_post_actions_update_merge_and_delete(server):
    # every input is User-sourced, so the SPAN engine keeps them as posted
    base = _span("MSFT", 400, "Call", "dave", 0.3, uPrc=410.0, uPrcSrc="User")
    assert _records(server.post(base, postaction="I"), "PostAck")[0]["result"] == "OK"
    pk = "MSFT-NMS-EQT-2026-01-16-400-C|Option|dave"
    # U merges by default: uPrc and its source kept, vol changed
    upd = _span("MSFT", 400, "Call", "dave", 0.35)
    ack = _records(server.post(upd, postaction="U"), "PostAck")[0]
    assert ack["result"] == "OK" and ack["pkey"] == pk and ack["msgType"] == 5060 and ack["sendTs"] > 0
    rec = _records(server.get(cmd="getmsg", msgType=SPAN, pkey=pk), SPAN)[0]
    assert rec["vol"] == 0.35 and rec["uPrc"] == 410.0 and rec["uPrcSrc"] == "User"
    # R with postmerge=N writes the whole record: the fields it lacks are back to their defaults
    ack = _records(server.post(upd, postaction="R", postmerge="N"), "PostAck")[0]
    rec = _records(server.get(cmd="getmsg", msgType=SPAN, pkey=pk), SPAN)[0]
    assert "uPrcSrc" not in rec and rec["vol"] == 0.35 and rec["volSrc"] == "User"
    # D removes it; a second D and an U of a missing record fail per message
    assert _records(server.post(upd, postaction="D"), "PostAck")[0]["result"] == "OK"
    assert _records(server.get(cmd="getmsg", msgType=SPAN, pkey=pk), SPAN) == []
    again = _records(server.post([upd, upd], postaction="D"), "PostAck")
    assert [a["result"] for a in again] == ["OtherError", "OtherError"]
    assert "to delete" in again[0]["detail"]
    assert _records(server.post(upd, postaction="U"), "PostAck")[0]["result"] == "OtherError"


def test_server_assigns_parent_numbers_and_refuses_server_only_types(server):
    order = {"header": {"mTyp": "SpdrParentOrder"},
             "message": {"secKey": {"at": "EQT", "ts": "NMS", "tk": "CAKE", "dt": "2026-07-17",
                                    "xx": 62.5, "cp": "Call"},
                         "secType": "Option", "accnt": "T.MTL.VEN", "orderSide": "Sell",
                         "orderSize": 100, "groupingCode": "4968-D169-C69A-8150"}}
    acks = _records(server.post([order, order], postaction="I", postmerge="Y"), "PostAck")
    assert [a["result"] for a in acks] == ["OK", "OK"]
    assert acks[0]["msgType"] == 4095
    assert len(acks[0]["pkey"]) == 19 and acks[0]["pkey"].count("-") == 3
    assert acks[0]["pkey"] != acks[1]["pkey"]
    rec = _records(server.get(cmd="getmsg", msgType="SpdrParentOrder", pkey=acks[0]["pkey"]),
                   "SpdrParentOrder")[0]
    assert rec["pkey"]["parentNumber"] == acks[0]["pkey"]
    assert rec["groupingCode"] == "4968-D169-C69A-8150"
    quote = {"header": {"mTyp": "StockBookQuote"},
             "message": {"pkey": {"ticker": "AAPL-NMS-EQT"}, "bidPrice1": 1.0}}
    ack = _records(server.post(quote, postaction="I"), "PostAck")[0]
    assert ack["result"] == "AuthError" and "published by the server" in ack["detail"]
    assert _records(server.get(cmd="getcount", msgType="StockBookQuote",
                               where="bidPrice1:eq:1"), "MLinkCount") == [{"count": 0}]


def test_malformed_input_gets_a_clear_error_and_changes_nothing(server):
    _seed_spans(server)

    def count() -> int:
        return _records(server.get(cmd="getcount", msgType=SPAN), "MLinkCount")[0]["count"]

    before = count()
    bad_reads = [
        ({"cmd": "nosuch"}, "unknown command"),
        ({}, "cmd: required"),
        ({"cmd": "getmsgs"}, "msgType: required"),
        ({"cmd": "getmsgs", "msgType": "NoSuchType"}, "unknown message type"),
        ({"cmd": "getmsgs", "msgType": SPAN, "where": "nosuch:eq:1"}, "unknown field 'nosuch'"),
        ({"cmd": "getmsgs", "msgType": SPAN, "where": "vol:zz:1"}, "unknown operator 'zz'"),
        ({"cmd": "getmsgs", "msgType": SPAN, "where": "vol:eq:abc"}, "'abc' is not a number"),
        ({"cmd": "getmsgs", "msgType": SPAN, "where": "(vol:eq:1"}, "unbalanced parentheses"),
        ({"cmd": "getmsgs", "msgType": SPAN, "view": "vol|nosuch"}, "view: unknown field"),
        ({"cmd": "getmsgs", "msgType": SPAN, "order": "vol:SIDEWAYS"}, "not ASC or DESC"),
        ({"cmd": "getmsgs", "msgType": SPAN, "limit": "many"}, "limit: 'many'"),
        ({"cmd": "getmsg", "msgType": SPAN, "pkey": "ReplaceThisValueForTheQueryToWork"},
         "pkey: SpanRiskCalculator pkey has 3 parts"),
        ({"cmd": "getmsg", "msgType": "LiveImpliedQuote", "pkey": "ReplaceThisValueForTheQueryToWork"},
         "pkey.okey"),
        ({"cmd": "getaggregate", "msgType": SPAN}, "measure: required"),
        ({"cmd": "getaggregate", "msgType": SPAN, "measure": "vol", "group": "vol:RANGE:x"},
         "not a count"),
    ]
    for params, words in bad_reads:
        res = _result(server.get(**params))
        assert res["result"] == "Error", (params, res)
        assert words in res["detail"], (params, res)

    def post_raw(data: bytes | None, **params: str) -> list[dict]:
        params = {"cmd": "postmsgs", "postaction": "I", "apiKey": API_KEY, **params}
        return server.rest_raw("POST", params, {}, data)[1]

    assert "invalid JSON" in _result(post_raw(b"[{not json"))["detail"]
    assert "postaction: required" in _result(post_raw(b"[]", postaction=""))["detail"]
    assert "not I, U, R or D" in _result(post_raw(b"[]", postaction="X"))["detail"]
    big = post_raw(None)  # the HTTP layer refused to read a body over the limit
    assert "exceeds the limit" in _result(big)["detail"]

    bad_posts = [
        ({"header": {"mTyp": "NoSuch"}, "message": {}}, "InvldMsgType", "unknown message type"),
        ({"message": {}}, "ParseError", "header.mTyp: required"),
        (_span("AAPL", 1, "Call", "x", "high"), "ParseError", "$[0].message.vol: 'high' is not a number"),
        (_span("AAPL", 1, "Call", "x", 0.2, volSrc="Sometimes"), "ParseError",
         "volSrc: 'Sometimes' is not a value of enum FieldSrc"),
        (_span("AAPL", 1, "Call", "x" * 30, 0.2), "ParseError", "exceeds the maximum 24"),
        ({"header": {"mTyp": SPAN}, "message": {"pkey": {"secKey": "AAPL-NMS-EQT-2026-13-01-1-C",
                                                          "userName": "x"}}},
         "ParseError", "not a valid date"),
        ({"header": {"mTyp": SPAN}, "message": {"vol": 1}}, "ParseError", "missing key field(s) secKey"),
        ({"header": {"mTyp": SPAN}, "message": [1, 2]}, "ParseError", "must be an object"),
    ]
    for body, result, words in bad_posts:
        ack = _records(server.post([body], postaction="I"), "PostAck")[0]
        assert ack["result"] == result, (body, ack)
        assert words in ack["detail"], (body, ack)
    assert count() == before
    # a good message beside a bad one is still stored; the reply stays Ok
    reply = server.post([_span("IBM", 100, "Put", "erin", 0.3), bad_posts[2][0]], postaction="I")
    assert [a["result"] for a in _records(reply, "PostAck")] == ["OK", "ParseError"]
    assert _result(reply)["result"] == "Ok"
    assert count() == before + 1


def test_unknown_inbound_fields_are_ignored_and_names_are_case_insensitive(server):
    body = _span("ORCL", 150, "Call", "fred", 0.31)
    body["message"]["sesionID"] = ""
    body["message"]["UPRC"] = 150.5
    body["message"]["secType"] = 3  # an ordinal is accepted too (flat pkey field)
    ack = _records(server.post(body, postaction="I"), "PostAck")[0]
    assert ack["result"] == "OK", ack
    rec = _records(server.get(cmd="getmsgs", msgType=SPAN, where="pkey.userName:eq:fred"), SPAN)[0]
    assert rec["uPrc"] == 150.5
