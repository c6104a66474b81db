"""A key bound to a client firm sees none of another firm's trading records (SpdrParentBrkrState,
SpdrParentBrkrEvent, SpdrParentExecution, RiskGroupCounter) on REST getmsgs, MLinkStream and
MLinkSubscribe, and cannot cancel another firm's orders -- in process (platform, Hub, REST)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from openmlink.gateway import Principal
from openmlink.schema._codec import pkey_of, pkey_text
from tests.support.sansio import Client, SansIO, kinds, records

EXPIRY = "2025-02-21"
ACME, BETA = "ACME-0000-0000-0001", "BETA-0000-0000-0001"
TYPES = ("SpdrParentBrkrState", "SpdrParentBrkrEvent", "SpdrParentExecution", "RiskGroupCounter")
FIRM_FIELD = {"RiskGroupCounter": "riskFirm"}


def _firm(name: str, rec: dict[str, Any]) -> str:
    f = FIRM_FIELD.get(name, "clientFirm")
    return str(rec.get("pkey", {}).get(f) or rec.get(f) or "")


def _option(rig: SansIO, strike: int, bid: float, ask: float) -> None:
    okey = f"AAPL-NMS-EQT-{EXPIRY}-{strike}-P"
    rig.put("OptionNbboQuote", {"pkey": {"okey": okey}, "bidPrice": bid, "askPrice": ask,
                                "bidSize": 50, "askSize": 50, "bidMask": 8, "askMask": 8})
    rig.put("LiveImpliedQuote", {"pkey": {"okey": okey}, "ticker": "AAPL-NMS-EQT", "uPrc": 200.0,
                                 "years": 0.126, "rate": 0.04, "sdiv": 0.0, "sVol": 0.25,
                                 "sPrc": 0.5 * (bid + ask), "sMark": 0.5 * (bid + ask),
                                 "de": -0.4, "ga": 0.02, "ve": 0.3, "priceType": "Equity"})


def _order(accnt: str, px: float, **f: Any) -> dict[str, Any]:
    return {"header": {"mTyp": "SpdrParentOrder"}, "message": {
        "secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": EXPIRY, "xx": 200, "cp": "Put"},
        "secType": "Option", "accnt": accnt, "orderSide": "Buy", "spdrActionType": "Add",
        "orderSize": 10, "orderLimitType": "Prc", "orderPrcLimit": px, "userName": "t",
        "groupingCode": "0000-0000-0000-0001", "parentShape": "Single", **f}}


def _post(rig: SansIO, key: str, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    st, reply = rig.rest_raw("POST", {"cmd": "postmsgs", "postaction": "I"},
                             {"Authorization": f"Bearer {key}"}, orjson.dumps(body))
    assert st == 200, reply
    return reply


def _tick(rig: SansIO, n: int = 5) -> None:
    assert rig.plat.orders is not None
    for _ in range(n):
        rig.advance(5)
        rig.plat.orders.tick()


@pytest.fixture
def rig() -> SansIO:
    r = SansIO(start="2025-01-02 15:00:00.000000")
    r.keys.add(Principal(ACME, user_name="ann", client_firm="ACME"))
    r.keys.add(Principal(BETA, user_name="bob", client_firm="BETA"))
    r.stock("AAPL", 199.9, 200.1, bidSize1=500, askSize1=500)
    _option(r, 200, 4.9, 5.1)
    # each firm: one order that fills at once (executions, counters), one that rests
    for key, accnt in ((ACME, "A.1"), (BETA, "B.1")):
        acks = _post(r, key, [_order(accnt, 5.2, orderSize=3),
                              _order(accnt, 4.9, groupingCode="0000-0000-0000-0002")])
        assert [a["message"]["result"] for a in acks[:-1]] == ["OK", "OK"], acks
    _tick(r)
    return r


def _rest(rig: SansIO, key: str, name: str) -> list[dict[str, Any]]:
    st, reply = rig.rest_raw("GET", {"cmd": "getmsgs", "msgType": name},
                             {"Authorization": f"Bearer {key}"})
    assert st == 200, reply
    return [m["message"] for m in reply if m["header"]["mTyp"] == name]


def test_each_type_has_records_of_both_firms_for_an_unbound_key(rig: SansIO) -> None:
    for name in TYPES:  # the test key is bound to no firm: it sees both
        got = {_firm(name, m["message"]) for m in rig.get(cmd="getmsgs", msgType=name)[:-1]}
        assert got == {"ACME", "BETA"}, (name, got)


@pytest.mark.parametrize("name", TYPES)
def test_rest_getmsgs_shows_a_firm_only_its_records(rig: SansIO, name: str) -> None:
    for key, firm in ((ACME, "ACME"), (BETA, "BETA")):
        got = _rest(rig, key, name)
        assert got, (name, firm)
        assert {_firm(name, m) for m in got} == {firm}


@pytest.mark.parametrize("name", TYPES)
def test_mlink_stream_shows_a_firm_only_its_records(rig: SansIO, name: str) -> None:
    c = rig.client(ACME)
    c.send("MLinkStream", msgName=name, activeLatency=100, queryID=1)
    msgs = c.pull()
    assert kinds(msgs)[0] == "MLinkStreamAck"
    got = records(msgs, name)
    assert got and {_firm(name, m) for m in got} == {"ACME"}
    # live updates: BETA's new activity never reaches ACME's stream
    _post(rig, BETA, [_order("B.1", 5.2, orderSize=2, groupingCode="0000-0000-0000-0003")])
    _tick(rig)
    rig.advance(200)
    later = records(c.pull(), name)
    assert all(_firm(name, m) == "ACME" for m in later), later


def _keys_of(rig: SansIO, name: str, firm: str) -> list[str]:
    mt = rig.reg[name]
    t = rig.plat.store.table(mt)
    out = []
    for r in t.live_rows():
        rec = t.record(int(r))
        if rec[FIRM_FIELD.get(name, "clientFirm")] == firm:
            out.append(pkey_text(mt, pkey_of(mt, rec)))
    return out


@pytest.mark.parametrize("name", ("SpdrParentBrkrState", "RiskGroupCounter"))
def test_mlink_subscribe_to_another_firms_key_sends_nothing(rig: SansIO, name: str) -> None:
    beta_keys = _keys_of(rig, name, "BETA")
    acme_keys = _keys_of(rig, name, "ACME")
    assert beta_keys and acme_keys
    c: Client = rig.client(ACME)
    c.send("MLinkSubscribe", activeLatency=100,
           Subscribe=[{"msgName": name, "msgPKey": k} for k in beta_keys + acme_keys])
    got = records(c.pull(), name)
    assert got and {_firm(name, m) for m in got} == {"ACME"}
    # BETA's records change (a fill, a cancel): still nothing of BETA's arrives
    _post(rig, BETA, [_order("B.1", 5.2, orderSize=2, groupingCode="0000-0000-0000-0003"),
                      _order("B.1", 4.9, groupingCode="0000-0000-0000-0002",
                             spdrActionType="Cancel")])
    _tick(rig)
    rig.advance(200)
    assert all(_firm(name, m) == "ACME" for m in records(c.pull(), name))


def _resting_acme(rig: SansIO) -> dict[str, Any]:
    t = rig.plat.store.table(rig.reg["SpdrParentBrkrState"])
    for r in t.live_rows():
        rec = t.record(int(r))
        if rec["clientFirm"] == "ACME" and rec["orderSize"] == 10:
            return rec
    raise AssertionError("no resting ACME order")


def test_another_firm_can_neither_cancel_by_parent_number_nor_by_broker_key(rig: SansIO) -> None:
    before = _resting_acme(rig)
    assert rig.plat.orders is not None
    names = rig.reg["SpdrParentBrkrState"].field("spdrOrderStatus").enum.names  # type: ignore
    assert names[before["spdrOrderStatus"]] == "New"
    pn = before["parentNumber"]
    # SpdrParentCancel naming ACME's parent and account, posted with BETA's key
    acks = _post(rig, BETA, [{"header": {"mTyp": "SpdrParentCancel"}, "message": {
        "parentNumber": f"{pn:016X}", "accnt": "A.1"}}])
    # the post may be refused or accepted; either way ACME's order keeps working
    # SpdrParentOrder Cancel with ACME's broker key fields (the firm is forced to BETA's)
    acks += _post(rig, BETA, [_order("A.1", 4.9, groupingCode="0000-0000-0000-0002",
                                     spdrActionType="Cancel")])
    # ... and naming ACME's firm outright is refused at the post
    acks += _post(rig, BETA, [_order("A.1", 4.9, groupingCode="0000-0000-0000-0002",
                                     spdrActionType="Cancel", clientFirm="ACME")])
    assert acks[-2]["message"]["result"] != "OK"
    assert "not your client firm" in acks[-2]["message"]["detail"]
    _tick(rig)
    after = _resting_acme(rig)
    assert after["parentNumber"] == pn
    assert names[after["spdrOrderStatus"]] == "New"
    assert rig.plat.orders.manager.venue.live_children(pn)


def test_a_firm_bound_key_posts_risk_group_controls_of_its_own_firm_only(rig: SansIO) -> None:
    def control(key: str, firm: str) -> dict[str, Any]:
        acks = _post(rig, key, [{"header": {"mTyp": "SpdrRiskGroupControl"}, "message": {
            "riskGroupId": "0000-0000-0000-0001", "accnt": "A.1", "riskFirm": firm,
            "isDisabled": "Yes"}}])
        return acks[0]["message"]

    bad = control(BETA, "ACME")  # another firm's group: refused, nothing stored
    assert bad["result"] == "AuthError" and "riskFirm: 'ACME' is not your client firm" in bad["detail"]
    assert not _rest(rig, ACME, "SpdrRiskGroupControl")
    ok = control(ACME, "")  # empty: the key's own firm
    assert ok["result"] == "OK", ok
    got = _rest(rig, ACME, "SpdrRiskGroupControl")
    assert len(got) == 1 and got[0]["pkey"]["riskFirm"] == "ACME"
    assert not _rest(rig, BETA, "SpdrRiskGroupControl")  # nor can BETA read it
