"""Seed examples 6 (block auction: order, SQL for the noticeNumber, MLinkSubscribe to
AuctionState) and 7 (flash auction) through a real ``openmlink serve``, unchanged except the
URL, key, MySQL host/port/user/password and a listed series; a real responder over MLink."""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import mysql.connector
import pytest
import requests

from tests.conftest import API_KEY, Server, free_port, start_server, stop_server
from tests.support.serve import collect, msgs

KEYS = """
[[key]]
key = "RESP-0000-0000-0001"
userName = "rita"
clientFirm = "RESPFIRM"

[[key]]
key = "OTHR-0000-0000-0001"
userName = "otto"
clientFirm = "OTHERFIRM"
"""
RESP, OTHER = "RESP-0000-0000-0001", "OTHR-0000-0000-0001"
BLOCK_TRIAL_S = 5.0


def _call(s: Server, key: str, method: str = "GET", body: object = None,
          **params: str) -> list[dict]:
    h = {"Authorization": f"Bearer {key}"}
    if method == "POST":
        return requests.post(s.rest, params={"cmd": "postmsgs", **params}, json=body, headers=h,
                             timeout=30).json()
    return requests.get(s.rest, params=params, headers=h, timeout=30).json()


@pytest.fixture(scope="module")
def served(tmp_path_factory):  # type: ignore[no-untyped-def]
    kf = tmp_path_factory.mktemp("keys") / "keys.toml"
    kf.write_text(KEYS)
    port = free_port()
    # block trials every 5 s (default 1 s): seed 6's first cross comes 5 s after the post, so
    # its SQL lookup and MLinkSubscribe are live before it even on a loaded machine (with 1 s
    # the auction could be Closed before the subscription started)
    s = start_server("--seed", "11", "--sql-port", str(port), "--sim-responders", "20",
                     "--keys-file", str(kf), "--block-trial-seconds", str(BLOCK_TRIAL_S))
    yield s, port
    stop_server(s)


def _listed(s: Server) -> dict[str, Any]:
    """A listed AAPL series (more than ~3 weeks out, with a surface) whose bid is now just above
    the seeds' limits: a seller's auction limit must be at mid or better, and a limit more than
    max(50% of mid, 1.00) through the bid is refused (LmtCollar).  Picked from the live NBBO
    the order manager checks against (a LiveImpliedQuote row can lag a jump of the simulated
    underlier)."""
    deadline = time.time() + 90
    horizon = (datetime.now(UTC) + timedelta(days=21)).date().isoformat()
    while time.time() < deadline:
        have_surface = {json.dumps(q["pkey"]["okey"], sort_keys=True) for q in msgs(
            s.get(cmd="getmsgs", msgType="LiveImpliedQuote", view="sVol",
                  where="okey:eq:AAPL-NMS-EQT & sVol:gt:0 & oBid:cb:5.5$6.5", limit=5000),
            "LiveImpliedQuote")}
        qs = msgs(s.get(cmd="getmsgs", msgType="OptionNbboQuote", view="bidPrice|askPrice",
                         where="okey:eq:AAPL-NMS-EQT & bidPrice:cb:5.5$6.5", limit=5000),
                   "OptionNbboQuote")
        c = [q for q in qs if q["pkey"]["okey"]["dt"] > horizon
             and json.dumps(q["pkey"]["okey"], sort_keys=True) in have_surface]
        if c:
            return min(c, key=lambda q: q["bidPrice"])["pkey"]["okey"]
        time.sleep(1)
    raise AssertionError("no AAPL surface within 90 s")


def _seed6_order(okey: dict) -> dict:
    return {"header": {"mTyp": "SpdrParentOrder"}, "message": {
        "spdrActionType": "AddReplace", "parentShape": "Single", "secKey": okey,
        "secType": "Option", "accnt": "T.MTL.VEN", "clientFirm": "SRCORE",
        "spdrSource": "SpdrTicket", "groupingCode": "4968-D169-C69A-8150", "orderSide": "Sell",
        "orderSize": 100, "orderActiveSize": -1, "progressRule": "AllowImmediate",
        "atsVisibility": "SidePrice", "cxlUPrcRange": "Yes", "minUBid": -0.02, "maxUAsk": 0.02,
        "minMaxType": "Pct", "marketSession": "RegMkt", "activeDuration": 900,
        "parentOrderHandling": "BlockAuction", "orderLimitType": "Prc",
        "takeReachRule": "AllOrNone", "orderPrcLimit": 4.75, "hedgeInstrument": "Default",
        "hedgeSession": "RegMkt", "positionType": "Closing", "includeSRNetwork": "Include"}}


def _seed7_order(okey: dict) -> dict:
    return {"header": {"mTyp": "SpdrParentOrder"}, "message": {
        "sysEnvironment": "Saturn", "runStatus": "Prod", "spdrActionType": "AddReplace",
        "parentShape": "Single", "secKey": okey, "secType": "Option", "accnt": "T.MTLV8",
        "clientFirm": "SRCORE", "groupingCode": "1235-E91C-5A3A-B08F", "userName": "matt.leli",
        "orderSide": "Sell", "orderSize": 100, "orderActiveSize": -1,
        "progressRule": "AutoComplete", "atsVisibility": "SidePrice", "cxlUPrcRange": "Yes",
        "minUBid": -0.02, "maxUAsk": 0.02, "minMaxType": "Pct", "marketSession": "RegMkt",
        "parentOrderHandling": "FlashAuction", "orderLimitType": "Prc",
        "takeReachRule": "UpToQty", "orderPrcLimit": 4.25, "hedgeInstrument": "Default",
        "hedgeSession": "RegMkt", "positionType": "Closing", "includeSRNetwork": "Include"}}


def _post_order(s: Server, order: dict) -> str:
    reply = s.post([order], postaction="I", postmerge="Y")
    ack = msgs(reply, "PostAck")[0]
    assert ack["result"] == "OK" and ack["msgType"] == 4095, reply
    return str(ack["pkey"])


def _notice_numbers(port: int, parent: str) -> list[Any]:
    # seed example 6, step 2: the query unchanged
    cnx = mysql.connector.connect(host="127.0.0.1", port=port, user="dev", password=API_KEY)
    cur = cnx.cursor()
    cur.execute(f"""
select noticeNumber from srtrade.msgsrparentbrkrstate where parentNumber = '{parent}';
""")
    rows = cur.fetchall()
    cur.close()
    cnx.close()
    return [row[0] for row in rows]


async def _subscribe(base: str, notices: list[Any], view: bool, until: float) -> list[dict]:
    msg: dict[str, Any] = {"header": {"mTyp": "MLinkSubscribe"}, "message": {
        "activeLatency": 1, "doReset": "No",
        "Subscribe": [{"msgName": "AuctionState", "msgPKey": n} for n in notices]}}
    if view:  # the seed's View
        msg["message"]["View"] = [{"msgName": "AuctionState", "view": "noticeNumber|BidSolution|"
                                   "tradeDate|auctionType|atsAuctionStatus|custSide|custQty|"
                                   "custPrc|uBid|uAsk|nbboBid|nbboAsk|surfacePrc|surfaceVol"}]
    left = max(0.1, until - time.time())
    return await collect(base, msg, "AuctionState", seconds=left, recv_timeout=left,
                         stop=lambda m: m.get("atsAuctionStatus") == "Closed")


async def _stream_auction_states(base: str, until: float) -> list[dict]:
    """Every AuctionState an MLinkStream over all auctions delivers until the first flash
    auction's (or ``until``: on a loaded machine the post alone can take seconds)."""
    left = max(0.1, until - time.time())
    return await collect(base, {"header": {"mTyp": "MLinkStream"}, "message": {
        "queryLabel": "auctions", "activeLatency": 1, "msgName": "AuctionState"}},
        "AuctionState", seconds=left, recv_timeout=left,
        stop=lambda m: m.get("auctionType") == "Flash")


def test_seed_example_6_block_auction(served) -> None:  # type: ignore[no-untyped-def]
    s, port = served
    okey = _listed(s)
    parent = _post_order(s, _seed6_order(okey))
    assert len(parent) == 19 and parent.count("-") == 3
    notices = _notice_numbers(port, parent)
    assert len(notices) == 1 and notices[0] not in (None, 0, "0000-0000-0000-0000"), json.dumps((
        okey, s.get(cmd="getmsgs", msgType="SpdrParentBrkrState", where=f"parentNumber:eq:{parent}"),
        s.get(cmd="getmsgs", msgType="SpdrParentBrkrEvent")))

    async def both() -> tuple[list[dict], list[dict]]:
        until = time.time() + 120
        return await asyncio.gather(_subscribe(s.base, notices, True, until),  # type: ignore[return-value]
                                    _subscribe(s.base, notices, False, until))
    seed_view, full = asyncio.run(both())
    statuses = [m["atsAuctionStatus"] for m in seed_view]
    assert statuses[-1] == "Closed", statuses
    assert statuses[-2] in ("Crossed", "CrossFailed"), statuses  # Closed comes 1 s later
    assert "atsAuctionCounter" not in seed_view[0]  # the seed's View leaves it out
    outcome = [m["atsAuctionStatus"] for m in full if m["atsAuctionStatus"] in
               ("Crossed", "CrossFailed")]
    assert len(outcome) == 1
    counters = [m["atsAuctionCounter"] for m in full]
    assert counters == sorted(counters) and counters[-1] >= 1
    actives = [m for m in full if m["atsAuctionStatus"] == "Active"]
    assert len({m["atsAuctionCounter"] for m in actives}) == len(actives)  # one per trial
    state = msgs(s.get(cmd="getmsgs", msgType="SpdrParentBrkrState",
                        where="accnt:eq:T.MTL.VEN"), "SpdrParentBrkrState")
    mine = next(m for m in state if m["parentNumber"] == parent)
    assert mine["noticeNumber"] == notices[0] and mine["spdrBrokerStatus"] == "Closed"
    if outcome == ["Crossed"]:
        sol = next(m for m in full if m["atsAuctionStatus"] == "Crossed")["BidSolution"][0]
        fills = [f for f in msgs(s.get(cmd="getmsgs", msgType="SpdrParentExecution"),
                                  "SpdrParentExecution") if f["parentNumber"] == parent]
        assert sum(f["fillQuantity"] for f in fills) == sol["matchSize"] == 100  # AllOrNone
        assert {f["fillPrice"] for f in fills} == {sol["matchPrice"]}
        assert sol["matchPrice"] >= 4.75


def test_seed_example_7_flash_auction(served) -> None:  # type: ignore[no-untyped-def]
    s, _ = served
    okey = _listed(s)

    async def post_while_streaming() -> tuple[str, list[dict]]:
        stream = asyncio.create_task(_stream_auction_states(s.base, time.time() + 30.0))
        await asyncio.sleep(0.5)
        parent = await asyncio.to_thread(_post_order, s, _seed7_order(okey))
        return parent, await stream
    parent, streamed = asyncio.run(post_while_streaming())
    st = next(m for m in msgs(s.get(cmd="getmsgs", msgType="SpdrParentBrkrState",
                                 where="accnt:eq:T.MTLV8"), "SpdrParentBrkrState")
          if m["parentNumber"] == parent)
    notice = st["noticeNumber"]
    states = [m for m in streamed if m["pkey"]["noticeNumber"] == notice]
    assert len(states) == 1, streamed  # sent once, at the end of the window
    assert states == msgs(s.get(cmd="getmsgs", msgType="AuctionState",
                                 where=f"noticeNumber:eq:{notice}"), "AuctionState")
    a = states[0]
    assert a["auctionType"] == "Flash" and a["atsAuctionCounter"] == 1
    assert a["atsAuctionStatus"] in ("Crossed", "CrossFailed")
    fills = [f for f in msgs(s.get(cmd="getmsgs", msgType="SpdrParentExecution"),
                              "SpdrParentExecution") if f["parentNumber"] == parent]
    if a["atsAuctionStatus"] == "Crossed":
        sol = a["BidSolution"][0]
        assert sum(f["fillQuantity"] for f in fills) == sol["matchSize"] == st["cumFillQuantity"]
        assert {f["fillPrice"] for f in fills} == {sol["matchPrice"]}
    else:
        assert fills == []
    notices = msgs(s.get(cmd="getmsgs", msgType="AuctionNotice",
                          where=f"noticeNumber:eq:{notice}"), "AuctionNotice")
    assert notices and notices[0]["auctionEvent"] == "End" and notices[0]["auctionDuration"] == 20


def test_real_responder_over_mlink_wins_at_a_better_price_and_sees_only_its_report(served
                                                                                   ) -> None:  # type: ignore[no-untyped-def]
    s, port = served
    okey = _listed(s)
    order = _seed6_order(okey)
    order["message"].update({"groupingCode": "4968-D169-C69A-8151", "progressRule": "None",
                             "activeDuration": 3})
    parent = _post_order(s, order)
    notice = _notice_numbers(port, parent)[0]
    spx = msgs(s.get(cmd="getmsgs", msgType="LiveImpliedQuote",
                      where=f"okey:eq:{okey['tk']}-NMS-EQT-{okey['dt']}-{okey['xx']}-"
                            f"{okey['cp'][0]}"), "LiveImpliedQuote")[0]["sPrc"]
    # on the 0.05 tick above fair: above every simulated responder, no rounding of the match
    price = round(math.ceil((spx + 0.01) / 0.05) * 0.05, 2)
    resp = {"header": {"mTyp": "NoticeResponse"}, "message": {
        "pkey": {"noticeNumber": notice, "accnt": "R.RITA", "clientFirm": "RESPFIRM",
                 "responseId": "rita-1"},
        "respSide": "Buy", "respSize": 100, "respPrice": price}}
    ack = msgs(_call(s, RESP, "POST", [resp], postaction="I"), "PostAck")[0]
    assert ack["result"] == "OK", ack
    bad = dict(resp, message={**resp["message"], "respSide": "Sell"})
    ack = msgs(_call(s, RESP, "POST", [bad], postaction="I"), "PostAck")[0]
    assert ack["result"] != "OK" and "respSide" in ack["detail"]
    deadline = time.time() + 30
    rep: dict = {}
    while time.time() < deadline:
        reps = msgs(_call(s, RESP, cmd="getmsgs", msgType="NoticeExecReport"),
                     "NoticeExecReport")
        done = [r for r in reps if r.get("responseResult") not in (None, "Pending")]
        if done:
            rep = done[0]
            break
        time.sleep(0.3)
    assert rep.get("responseResult") == "FullSize", rep
    assert rep["cumFillQty"] == 100 and rep["avgFillPrice"] == pytest.approx(price)
    assert msgs(_call(s, OTHER, cmd="getmsgs", msgType="NoticeExecReport"),
                 "NoticeExecReport") == []
    late = msgs(_call(s, RESP, "POST", [resp], postaction="I"), "PostAck")[0]
    assert late["result"] != "OK" and "ended" in late["detail"]
