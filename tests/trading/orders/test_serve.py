"""Through a real ``openmlink serve``: seed example 5 (Parent Limit Order, three steps) with a
listed expiry, example 3's child-orders stream, order-rate limits, and kill -9 / restart."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import tempfile
import time

import pytest

from tests.conftest import Server, start_server, stop_server
from tests.support.serve import collect, listed_option, msgs, nbbo_of, wait_for

ACCNT = "T.MTL.VEN"


def _seed_order(okey: dict, i: int) -> dict:
    # seed example 5, step one, unchanged except the listed expiry/strike
    return {"header": {"mTyp": "SpdrParentOrder"}, "message": {
        "secKey": okey, "positionType": "Auto", "parentShape": "Single", "secType": "Option",
        "accnt": ACCNT, "orderSide": "Sell", "clientFirm": "SRCORE", "spdrActionType": "Add",
        "startType": 0, "orderSize": 50, "orderActiveSize": 7, "marketSession": "RegMkt",
        "parentOrderHandling": "PostOnly", "parentBalanceHandling": "PostLimit",
        "orderLimitType": "Aux", "takeLimitClass": "SurfProb", "makeLimitClass": "SurfProb",
        "takeProbability": 0.1, "makeProbability": 0.3, "takeAlphaType": "Static",
        "makeAlphaType": "Static", "takeReachRule": "None", "publicSize": "FullSizeR",
        "numMakeExchanges": 1, "autohedge": "None", "userName": "matt.leli",
        "maxGrpDayDDeltaLn": 100000.0, "maxGrpDayDDeltaSh": 100000.0,
        "maxGrpDayVegaLn": 100000.0, "maxGrpDayVegaSh": 100000.0, "orderDuration": -1,
        "maxExposureSize": -1, "spdrStageType": "None", "progressExposeTime": 0,
        "userData1": "Default", "userData2": "EXAMPLE_STRATEGY", "orderVolLimit": 0.24,
        "groupingCode": f"2137-1312-3867-{5309 + i}", "riskGroupId": f"4124-3534-5867-{5309 + i}"}}


def _seed_limit(okey: dict, code: str, active: int, vol: float) -> dict:
    return {"header": {"mTyp": "SpdrParentLimit"}, "message": {
        "secKey": okey, "positionType": "Auto", "parentShape": "Single", "secType": "Option",
        "accnt": ACCNT, "orderSide": "Sell", "groupingCode": code, "clientFirm": "SRCORE",
        "spdrActionType": "Replace", "orderLimitType": "Vol", "takeLimitClass": "SurfProb",
        "makeLimitClass": "SurfProb", "orderActiveSize": active, "orderVolLimit": vol,
        "takeAlphaType": "Static", "makeAlphaType": "Static", "takeProbability": 0.1,
        "makeProbability": 0.3, "takeSurfVolOffset": 0.1, "makeSurfVolOffset": 0.1,
        "maxGrpDayDDeltaLn": 100000.0, "maxGrpDayDDeltaSh": 100000.0,
        "maxGrpDayVegaLn": 100000.0, "maxGrpDayVegaSh": 100000.0, "addCumFillQuantity": "No",
        "spdrSource": "MLink"}}


def _states(s: Server) -> dict[str, dict]:
    return {m["parentNumber"]: m for m in msgs(
        s.get(cmd="getmsgs", msgType="SpdrParentBrkrState", where=f"accnt:eq:{ACCNT}"),
        "SpdrParentBrkrState")}


def _child_stream_request() -> dict:
    """Seed example 3's stream of the account's working brokers."""
    return {"header": {"mTyp": "MLinkStream"}, "message": {
        "queryLabel": "ExampleSymbolRiskSummary", "activeLatency": 900,
        "msgName": "SpdrParentBrkrState",
        "where": f"accnt:eq:{ACCNT} & spdrBrokerStatus:eq:ACTIVE"}}


@pytest.fixture(scope="module")
def srv():  # type: ignore[no-untyped-def]
    d = tempfile.mkdtemp(prefix="openmlink-trading-")
    # the seed's orders say marketSession RegMkt: a simulated market in the regular session
    # (10:00 New York on a Monday), whatever the time of day the test runs
    s = start_server("--seed", "11", "--order-rate", "50", "--start", "2026-11-23 15:00:00",
                     data_dir=d)
    s.data_dir = d  # type: ignore[attr-defined]
    yield s
    stop_server(s)


def test_seed_example_5_parent_limit_order_three_steps(srv: Server) -> None:
    okey = listed_option(srv, "Put")
    pns = []
    for i in range(10):
        acks = msgs(srv.post([_seed_order(okey, i)], postaction="I"), "PostAck")
        assert acks[0]["result"] == "OK", acks
        assert len(acks[0]["pkey"]) == 19 and acks[0]["pkey"].count("-") == 3  # XXXX-XXXX-...
        pns.append(acks[0]["pkey"])
    # accepted orders are PendNew until the order manager's next tick works them
    st = wait_for(lambda: (lambda x: x if all(p in x and x[p]["spdrBrokerStatus"] != "Updating"
                                           for p in pns) else None)(_states(srv)))
    for p in pns:  # Aux: nothing works before the limit record
        assert st[p]["spdrBrokerStatus"] == "ActiveHold" and st[p]["limitErr"] == "AuxLimit"
        assert "cpx1" not in st[p]
    codes = [f"2137-1312-3867-{5309 + i}" for i in range(10)]
    for c in codes:  # step two: postaction I
        a = msgs(srv.post([_seed_limit(okey, c, 27, 0.275)], postaction="I"), "PostAck")
        assert a[0]["result"] == "OK", a
    st = wait_for(lambda: (lambda x: x if all(x[p].get("orderActiveSize") == 27 and x[p].get("cpx1")
                                           for p in pns) else None)(_states(srv)))
    assert st, _states(srv)
    for p in pns:
        r = st[p]
        assert r["spdrBrokerStatus"] == "Active" and r["parentNumber"] == p
        assert r["numParentLimits"] == 1 and r["limitPrice"] > 0
        assert r["cpx1"] >= r["makeLimitPrice"] - 1e-9 and 0 < r["csz1"] <= 27 and r["cex1"] > 0
    vol1 = st[pns[0]]["limitPrice"]
    for c in codes:  # step three: postaction U
        a = msgs(srv.post([_seed_limit(okey, c, 44, 0.25)], postaction="U"), "PostAck")
        assert a[0]["result"] == "OK", a
    st = wait_for(lambda: (lambda x: x if all(x[p].get("orderActiveSize") == 44 for p in pns)
                        else None)(_states(srv)))
    assert st and st[pns[0]]["limitPrice"] < vol1 and st[pns[0]]["numParentLimits"] == 2
    # example 3: the child-orders stream shows them
    recs = asyncio.run(collect(srv.base, _child_stream_request(), "SpdrParentBrkrState",
                               seconds=10, limit=40, recv_timeout=2))
    # (a broker between pulling a child and sending its re-priced one shows no ladder)
    shown = [r for r in recs if r.get("cpx1")]
    assert shown and all(r.get("csz1") and r.get("cex1") for r in shown)
    assert all(r["spdrBrokerStatus"] == "Active" for r in recs)


def test_order_rate_limit_answers_a_postack_error() -> None:
    # a server of its own with a small per-key rate (1/s, burst 2): the bound below holds however
    # slowly a loaded machine works through the 200 posts
    s = start_server("--seed", "11", "--order-rate", "1", "--no-persist")
    try:
        okey = listed_option(s, "Put")
        body = [{"header": {"mTyp": "SpdrParentOrder"}, "message": {
            "secKey": okey, "secType": "Option", "accnt": "T.RATE", "orderSide": "Buy",
            "spdrActionType": "Cancel", "orderSize": 1, "groupingCode": f"0000-0000-0000-{i:04X}"}}
            for i in range(200)]
        t0 = time.monotonic()
        acks = msgs(s.post(body, postaction="I"), "PostAck")
        elapsed = time.monotonic() - t0
    finally:
        stop_server(s)
    bad = [a for a in acks if a["result"] != "OK"]
    assert len(acks) == 200
    assert bad and "order rate limit" in bad[0]["detail"]
    assert len(acks) - len(bad) <= 2 + math.ceil(elapsed)  # burst 2, then 1 per second


def test_kill_9_and_restart_keeps_every_order_and_fill() -> None:
    d = tempfile.mkdtemp(prefix="openmlink-kill-")
    s = start_server("--seed", "5", data_dir=d)
    try:
        okey = listed_option(s, "Put")
        q = msgs(s.get(cmd="getmsg", msgType="OptionNbboQuote",
                        pkey=f"AAPL-NMS-EQT-{okey['dt']}-{okey['xx']:g}-{okey['cp'][0]}"),
                  "OptionNbboQuote")[0]
        pns = []
        for i, (side, px) in enumerate((("Buy", q["askPrice"] + 0.5), ("Sell", q["bidPrice"] - 0.5),
                                        ("Buy", max(q["bidPrice"] - 0.3, 0.05)))):
            m = {"header": {"mTyp": "SpdrParentOrder"}, "message": {
                "secKey": okey, "secType": "Option", "accnt": ACCNT, "orderSide": side,
                "spdrActionType": "Add", "orderSize": 40, "orderLimitType": "Prc",
                "orderPrcLimit": round(px, 2), "groupingCode": f"0000-0000-0001-{i:04X}",
                "clientFirm": "F"}}
            pns.append(msgs(s.post([m], postaction="I"), "PostAck")[0]["pkey"])
        wait_for(lambda: msgs(s.get(cmd="getmsgs", msgType="SpdrParentExecution"),
                            "SpdrParentExecution"), 20)
        time.sleep(1.0)
        os.kill(s.proc.pid, signal.SIGKILL)
        s.proc.wait(10)
        before_fills = {f["pkey"]["fillNumber"]: f for f in msgs(
            _snapshot(d, "SpdrParentExecution"), "SpdrParentExecution")}
    finally:
        stop_server(s)
    s2 = start_server("--seed", "5", data_dir=d)
    try:
        def read_fills() -> dict[str, dict]:
            return {f["pkey"]["fillNumber"]: f for f in msgs(
                s2.get(cmd="getmsgs", msgType="SpdrParentExecution", limit=10000),
                "SpdrParentExecution")}

        # working orders resume and may fill again after the restart: compare states with a
        # set of fills that did not change while the states were read
        for _ in range(50):
            fills = read_fills()
            st = _states(s2)
            if read_fills().keys() == fills.keys():
                break
            time.sleep(0.1)
        assert before_fills and set(before_fills) <= set(fills)
        for fn, f in before_fills.items():
            assert fills[fn]["fillQuantity"] == f["fillQuantity"]
            assert fills[fn]["fillPrice"] == f["fillPrice"]
        for p in pns:
            assert p in st
            mine = [f for f in fills.values() if f["parentNumber"] == p]
            assert st[p].get("cumFillQuantity", 0) == sum(f["fillQuantity"] for f in mine)
        assert len(fills) == len({(f["clOrdId"], f["fillDttm"], f["fillQuantity"])
                                  for f in fills.values()})
    finally:
        stop_server(s2)


def _snapshot(data_dir: str, mtype: str) -> list[dict]:
    """The executions in the journal of a dead server (read straight from SQLite)."""
    import sqlite3

    db = sqlite3.connect(os.path.join(data_dir, "trading.sqlite3"))
    try:
        rows = db.execute("SELECT body FROM journal WHERE ns = 'fill'").fetchall()
    finally:
        db.close()
    return [{"header": {"mTyp": mtype}, "message": json.loads(b)} for (b,) in rows]




def test_a_posted_risk_group_control_symbol_limit_holds_the_groups_orders(srv: Server) -> None:
    """REST: a SpdrRiskGroupControl with a symbol $delta limit, then orders of its group: held
    (ActiveHold, riskLimitDesc naming the limit, the reason in spdrComment) while the limit
    stands; an order of another group works; the limit taken away releases the held one."""
    accnt, group = "T.RISK.SYM", "4124-3534-5867-0001"
    okey = listed_option(srv, "Put")
    q = nbbo_of(srv, okey)
    assert q is not None

    def control(limit: float) -> None:
        a = msgs(srv.post([{"header": {"mTyp": "SpdrRiskGroupControl"}, "message": {
            "riskGroupId": group, "accnt": accnt, "riskFirm": "SRCORE",
            "maxSymDayDDeltaLn": limit, "maxSymDayDDeltaSh": limit}}], postaction="I"), "PostAck")
        assert a[0]["result"] == "OK", a

    def order(code: str, rg: str) -> str:
        a = msgs(srv.post([{"header": {"mTyp": "SpdrParentOrder"}, "message": {
            "secKey": okey, "secType": "Option", "accnt": accnt, "clientFirm": "SRCORE",
            "orderSide": "Buy", "spdrActionType": "Add", "orderSize": 5, "orderLimitType": "Prc",
            "orderPrcLimit": round(max(q["bidPrice"] - 0.3, 0.05), 2), "groupingCode": code,
            "riskGroupId": rg, "publicSize": "FullSize"}}], postaction="I"), "PostAck")
        assert a[0]["result"] == "OK", a
        return str(a[0]["pkey"])

    def states() -> dict[str, dict]:
        return {m["parentNumber"]: m for m in msgs(srv.get(
            cmd="getmsgs", msgType="SpdrParentBrkrState", where=f"accnt:eq:{accnt}"),
            "SpdrParentBrkrState")}

    control(1.0)  # 1 $ of $delta: no put fits
    held = order("0000-0000-0009-0001", group)
    free = order("0000-0000-0009-0002", "4124-3534-5867-0002")
    # children are inserted one exchange latency after the broker goes Active: wait for all 5
    # (publicSize FullSize: the algo default, MktSize, shows min(5, the bid size then), below 5
    # in 23-40% of the simulator's quotes, and csz1 stayed there: a full-suite run under load
    # had the free order Active with one child of 2 until the wait ran out)
    st = wait_for(lambda: (lambda x: x if x.get(held, {}).get("spdrBrokerStatus") == "ActiveHold"
                           and x.get(free, {}).get("spdrBrokerStatus") == "Active"
                           and x[free].get("csz1") == 5 else None)(states()))
    assert st, states()
    h = st[held]
    assert h["riskLimitDesc"] == "SymDDeltaSh" and h.get("riskLimitSize", 0) == 0
    assert "maxSymDayDDeltaSh 1 (SpdrRiskGroupControl)" in h["spdrComment"]
    assert "cpx1" not in h and st[free].get("csz1") == 5
    control(0.0)  # no limit
    st = wait_for(lambda: (lambda x: x if x[held]["spdrBrokerStatus"] == "Active"
                           and x[held].get("csz1") == 5 else None)(states()))
    assert st and st[held]["csz1"] == 5, states()


def test_a_posted_account_day_limit_holds_and_a_limit_record_raises_it(srv: Server) -> None:
    """REST: an order with the older schema's account-day $delta limit (``maxAccDayDDeltaSh``)
    too tight for one put: held (ActiveHold, DayShDDelta, the account scope in the detail); a
    SpdrParentLimit raising it releases the order."""
    accnt, code = "T.RISK.ACC", "0000-0000-0009-0003"
    okey = listed_option(srv, "Put")
    q = nbbo_of(srv, okey)
    assert q is not None
    a = msgs(srv.post([{"header": {"mTyp": "SpdrParentOrder"}, "message": {
        "secKey": okey, "secType": "Option", "accnt": accnt, "clientFirm": "SRCORE",
        "orderSide": "Buy", "spdrActionType": "Add", "orderSize": 5, "orderLimitType": "Prc",
        "orderPrcLimit": round(max(q["bidPrice"] - 0.3, 0.05), 2), "groupingCode": code,
        "maxAccDayDDeltaSh": 1.0, "accDayDDeltaOffset": 0.0, "publicSize": "FullSize"}}],
        postaction="I"), "PostAck")
    assert a[0]["result"] == "OK", a
    pn = str(a[0]["pkey"])

    def state() -> dict:
        return {m["parentNumber"]: m for m in msgs(srv.get(
            cmd="getmsgs", msgType="SpdrParentBrkrState", where=f"accnt:eq:{accnt}"),
            "SpdrParentBrkrState")}.get(pn, {})

    st = wait_for(lambda: (lambda x: x if x.get("spdrBrokerStatus") == "ActiveHold" else None)(
        state()))
    assert st, state()
    assert st["riskLimitDesc"] == "DayShDDelta" and st.get("riskLimitSize", 0) == 0
    assert "maxAccDayDDeltaSh 1: account $delta" in st["riskLimitDetail"]
    a = msgs(srv.post([{"header": {"mTyp": "SpdrParentLimit"}, "message": {
        "secKey": okey, "secType": "Option", "accnt": accnt, "clientFirm": "SRCORE",
        "orderSide": "Buy", "groupingCode": code, "spdrSource": "MLink",
        "maxAccDayDDeltaSh": 1e9}}], postaction="I"), "PostAck")
    assert a[0]["result"] == "OK", a
    st = wait_for(lambda: (lambda x: x if x.get("spdrBrokerStatus") == "Active"
                           and x.get("csz1") == 5 else None)(state()))
    assert st and st["riskLimitDesc"] == "DayShDDelta", state()
