"""Order lifecycles through the order manager on an in-process bus (trading.md §1, §6.2)."""

from __future__ import annotations

import pytest

from tests.support.trading import ACCNT, TradingRig, check_invariants

BS = "SpdrParentBrkrState"
EX = "SpdrParentExecution"


@pytest.fixture
def rig() -> TradingRig:
    r = TradingRig()
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1, bsz=20, asz=20)
    return r


def status(rig: TradingRig, rec: dict) -> tuple[str, str]:
    return (rig.name(BS, "spdrOrderStatus", rec["spdrOrderStatus"]),
            rig.name(BS, "spdrBrokerStatus", rec["spdrBrokerStatus"]))


def test_marketable_order_fills_at_the_ask_and_closes_filled(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=5.2, orderSize=10)
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert status(rig, st) == ("Closed", "Closed")
    assert rig.name(BS, "spdrCloseReason", st["spdrCloseReason"]) == "Filled"
    assert st["cumFillQuantity"] == 10 and st["avgFillPrice"] == pytest.approx(5.1)
    fills = rig.published("SpdrParentExecution")
    assert sum(f["fillQuantity"] for f in fills) == 10
    assert all(f["fillPrice"] == pytest.approx(5.1) for f in fills)
    check_invariants(rig, quiescent=True)


def test_displayed_size_caps_a_take_and_the_rest_waits_for_the_next_quote(rig: TradingRig) -> None:
    rig.option("AAPL", 200, "Put", 4.9, 5.1, asz=4)
    o = rig.order(orderPrcLimit=5.2, orderSize=10)
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert st["cumFillQuantity"] == 4 and status(rig, st) == ("New", "Active")
    rig.option("AAPL", 200, "Put", 4.9, 5.1, asz=30)  # the quote refreshes
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert st["cumFillQuantity"] == 10 and status(rig, st) == ("Closed", "Closed")
    check_invariants(rig, quiescent=True)


def test_passive_order_rests_on_the_bid_and_fills_when_the_market_comes_to_it(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=5.0, orderSize=6, parentBalanceHandling="PostWith")
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert status(rig, st) == ("New", "Active")
    assert st["cpx1"] == pytest.approx(4.9) and st["csz1"] == 6 and st["cex1"] != 0
    assert rig.published("SpdrParentExecution") == []
    rig.option("AAPL", 200, "Put", 4.7, 4.85)  # the ask crosses our 4.90 bid
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert st["cumFillQuantity"] == 6
    fills = rig.published("SpdrParentExecution")
    assert all(rig.name("SpdrParentExecution", "childMakerTaker", f["childMakerTaker"]) == "Maker"
               for f in fills)
    assert all(f["fillPrice"] <= 4.9 + 1e-9 for f in fills)
    check_invariants(rig, quiescent=True)


def test_children_follow_the_market_when_the_bid_moves(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=5.0, orderSize=6, parentBalanceHandling="PostWith")
    rig.advance(5, 5)
    assert rig.state(o["parentNumber"])["cpx1"] == pytest.approx(4.9)
    rig.option("AAPL", 200, "Put", 4.95, 5.1)
    rig.advance(5, 5)
    assert rig.state(o["parentNumber"])["cpx1"] == pytest.approx(4.95)
    rig.option("AAPL", 200, "Put", 5.05, 5.2)  # the bid moves through our limit: cap at 5.00
    rig.advance(5, 5)
    assert rig.state(o["parentNumber"])["cpx1"] == pytest.approx(5.0)
    check_invariants(rig)


def test_cancel_stops_all_fills_and_closes_after_the_pull(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=5.0, orderSize=6)
    rig.advance(5, 5)
    rig.order(spdrActionType="Cancel", orderPrcLimit=5.0, orderSize=6)
    st = rig.state(o["parentNumber"])
    assert status(rig, st) == ("PendClose", "Closing")
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert status(rig, st) == ("Closed", "Closed")
    assert rig.name(BS, "spdrCloseReason", st["spdrCloseReason"]) == "UserCxl"
    assert st["leavesQuantity"] == 0 and st["cpx1"] == 0
    rig.option("AAPL", 200, "Put", 4.5, 4.6)  # would have filled the old child
    rig.advance(5, 5)
    assert rig.published("SpdrParentExecution") == []
    n = len(rig.published(BS))
    rig.order(spdrActionType="Cancel", orderPrcLimit=5.0, orderSize=6)  # idempotent
    rig.advance(5, 5)
    assert len(rig.published(BS)) == n  # no broker state change
    check_invariants(rig, quiescent=True)


def test_fill_racing_a_cancel_arrives_before_the_closed_record(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=5.0, orderSize=6)
    rig.advance(5, 5)
    rig.order(spdrActionType="Cancel", orderPrcLimit=5.0, orderSize=6)
    rig.option("AAPL", 200, "Put", 4.5, 4.6)  # crosses the resting child inside the latency
    rig.engine.tick()  # the quote arrives before the cancel reached the venue
    rig.advance(5, 5)
    recs = [(mt, rec) for mt, rec in rig.messages() if mt.name in (BS, "SpdrParentExecution")]
    fills = [i for i, (mt, _rec) in enumerate(recs) if mt.name == "SpdrParentExecution"]
    closed = [i for i, (mt, rec) in enumerate(recs) if mt.name == BS
              and status(rig, rec) == ("Closed", "Closed")]
    assert fills and closed and max(fills) < min(closed)
    st = rig.state(o["parentNumber"])
    assert st["cumFillQuantity"] == 6
    check_invariants(rig, quiescent=True)


def test_replace_closes_the_old_parent_replaced_and_works_the_new_one(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=4.8, orderSize=6)
    rig.advance(5, 5)
    n = rig.order(spdrActionType="Replace", orderPrcLimit=4.95, orderSize=8)
    rig.advance(5, 5)
    st = rig.state(n["parentNumber"])
    assert status(rig, st) == ("New", "Active")
    assert st["baseParentNumber"] == o["parentNumber"] and st["orderSize"] == 8
    assert st["cpx1"] == pytest.approx(4.9)
    olds = [r for r in rig.published(BS) if r["parentNumber"] == o["parentNumber"]]
    assert rig.name(BS, "spdrCloseReason", olds[-1]["spdrCloseReason"]) == "Replaced"
    assert status(rig, olds[-1]) == ("Closed", "Closed")
    ev = [e for e in rig.published("SpdrParentBrkrEvent") if e["parentNumber"] == n["parentNumber"]]
    assert [rig.name("SpdrParentBrkrEvent", "recType", e["recType"]) for e in ev] == ["Replace"]
    assert ev[0]["prevParentNumber"] == o["parentNumber"]
    check_invariants(rig)


def test_modify_changes_size_in_place(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=4.95, orderSize=6)
    rig.advance(5, 5)
    m = rig.order(spdrActionType="Modify", orderSize=3, orderPrcLimit=4.95)
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert st["modifyNumber"] == m["parentNumber"] and st["orderSize"] == 3
    assert st["csz1"] == 3
    check_invariants(rig)


@pytest.mark.parametrize(("fields", "reason", "word"), [
    ({"orderSize": 0}, "BadSize", "orderSize"),
    ({"orderSide": "None"}, "BadSide", "orderSide"),
    ({"accnt": ""}, "InvldAccnt", "accnt"),
    ({"orderLimitType": "Vol", "orderVolLimit": 12.0}, "BadVolPx", "orderVolLimit"),
    ({"orderPrcLimit": 25.0}, "LmtCollar", "through the ask"),
    ({"orderPrcLimit": -1.0}, "BadLimit", "orderPrcLimit"),
    ({"orderLimitType": "NoLimit"}, "BadLmtType", "orderLimitType"),
    ({"parentOrderHandling": "BlockAuction"}, "BadOrdType", "parentOrderHandling"),
    ({"secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2025-07-18", "xx": 999,
                 "cp": "Put"}}, "UnknwnOpt", "not a listed option"),
    ({"secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2024-01-19", "xx": 200,
                 "cp": "Put"}}, "Expired", "expired"),
])
def test_bad_orders_end_rejected_with_a_reason(rig: TradingRig, fields: dict, reason: str,
                                               word: str) -> None:
    o = rig.order(**fields)
    st = rig.state(o["parentNumber"])
    assert status(rig, st) == ("Rejected", "Rejected")
    assert rig.name(BS, "spdrRejectReason", st["spdrRejectReason"]) == reason
    assert word in st["spdrComment"]
    ev = rig.published("SpdrParentBrkrEvent")[-1]
    assert rig.name("SpdrParentBrkrEvent", "recType", ev["recType"]) == "Reject"
    assert rig.published("SpdrParentExecution") == []
    check_invariants(rig)


def test_duplicate_add_is_rejected_and_leaves_the_working_order_alone(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=4.95, orderSize=6)
    rig.advance(5, 5)
    before = rig.state(o["parentNumber"])
    d = rig.order(orderPrcLimit=4.95, orderSize=6)
    ev = rig.published("SpdrParentBrkrEvent")[-1]
    assert ev["parentNumber"] == d["parentNumber"]
    assert rig.name("SpdrParentBrkrEvent", "spdrRejectReason", ev["spdrRejectReason"]) == "DupOrdNum"
    after = rig.state(o["parentNumber"])
    assert status(rig, after) == ("New", "Active") and after["csz1"] == before["csz1"]
    check_invariants(rig)


def test_risk_limit_caps_children_and_holds_at_zero(rig: TradingRig) -> None:
    # a put has delta -0.4: buying it is short $delta of 0.4*200*100 = 8000 per contract
    o = rig.order(orderPrcLimit=4.95, orderSize=10, maxGrpDayDDeltaSh=20000.0,
                  riskGroupId="0000-0000-0000-0042")
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert st["riskLimitSize"] == 2 and st["csz1"] == 2
    assert rig.name(BS, "riskLimitDesc", st["riskLimitDesc"]) == "GrpDdSh"
    o2 = rig.order(orderPrcLimit=4.95, orderSize=10, maxGrpDayDDeltaSh=1000.0,
                   groupingCode="0000-0000-0000-0002", riskGroupId="0000-0000-0000-0042")
    rig.advance(5, 5)
    st2 = rig.state(o2["parentNumber"])
    assert status(rig, st2) == ("New", "ActiveHold") and st2["riskLimitSize"] == 0
    assert "maxGrpDayDDeltaSh" in st2["spdrComment"] and st2["leavesQuantity"] == 0
    check_invariants(rig)


def test_aux_order_waits_for_its_limit_record_then_works_at_the_vol_limit(rig: TradingRig) -> None:
    o = rig.order(orderLimitType="Aux", orderSide="Sell", orderActiveSize=7, orderSize=50,
                  parentOrderHandling="PostOnly", parentBalanceHandling="PostLimit",
                  takeLimitClass="SurfProb", makeLimitClass="SurfProb", takeProbability=0.1,
                  makeProbability=0.3, publicSize="FullSizeR", orderVolLimit=0.24)
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert status(rig, st) == ("New", "ActiveHold")
    assert rig.name(BS, "limitErr", st["limitErr"]) == "AuxLimit" and st["numNewOrders"] == 0
    rig.limit(orderSide="Sell", orderLimitType="Vol", orderActiveSize=27, orderVolLimit=0.275,
              takeLimitClass="SurfProb", makeLimitClass="SurfProb", takeProbability=0.1,
              makeProbability=0.3, takeSurfVolOffset=0.1, makeSurfVolOffset=0.1)
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert status(rig, st) == ("New", "Active") and st["orderActiveSize"] == 27
    assert st["numParentLimits"] == 1 and st["parentNumber"] == o["parentNumber"]
    assert st["cpx1"] > 0 and 0 < st["csz1"] <= 27
    assert st["cpx1"] >= st["makeLimitPrice"] - 1e-9  # a sell child never below its limit
    rig.limit(merge=True, orderSide="Sell", orderActiveSize=44, orderVolLimit=0.25)
    rig.advance(5, 5)
    st2 = rig.state(o["parentNumber"])
    assert st2["orderActiveSize"] == 44 and st2["numParentLimits"] == 2
    assert st2["limitPrice"] < st["limitPrice"]  # a lower vol is a lower price
    rig.limit(merge=True, orderSide="Sell", orderActiveSize=0)
    rig.advance(5, 5)
    st3 = rig.state(o["parentNumber"])
    assert st3["leavesQuantity"] == 0 and status(rig, st3)[1] in ("Active", "ActiveHold")
    check_invariants(rig)


def test_cancel_by_parent_number_needs_the_same_firm(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=4.95, orderSize=6)
    rig.advance(5, 5)
    rig.put("SpdrParentCancel", {"accnt": ACCNT, "parentNumber": o["parentNumber"],
                                 "clientFirm": "OTHER"}, origin="K2")
    rig.advance(5, 5)
    assert status(rig, rig.state(o["parentNumber"])) == ("New", "Active")
    rig.put("SpdrParentCancel", {"accnt": ACCNT, "parentNumber": o["parentNumber"],
                                 "clientFirm": "SRCORE"}, origin="K1")
    rig.advance(5, 5)
    assert status(rig, rig.state(o["parentNumber"])) == ("Closed", "Closed")
    check_invariants(rig, quiescent=True)


def test_order_duration_expires_the_order(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=4.95, orderSize=6, orderDuration=2)
    rig.advance(1000, 2)
    assert status(rig, rig.state(o["parentNumber"]))[0] == "New"
    rig.advance(1500, 3)
    st = rig.state(o["parentNumber"])
    assert status(rig, st) == ("Closed", "Closed")
    assert rig.name(BS, "spdrCloseReason", st["spdrCloseReason"]) == "Expired"


def test_a_replace_without_a_duration_no_longer_expires(rig: TradingRig) -> None:
    """Only brokers with an expiry are looked at each tick; a replace that drops the
    duration drops the broker from them, one that keeps it is still expired."""
    a = rig.order(orderPrcLimit=4.95, orderSize=6, orderDuration=2)
    b = rig.order(orderPrcLimit=4.95, orderSize=6, orderDuration=2,
                  groupingCode="0000-0000-0000-0002")
    rig.advance(5, 5)
    ra = rig.order(spdrActionType="Replace", orderPrcLimit=4.9, orderSize=6)
    rb = rig.order(spdrActionType="Replace", orderPrcLimit=4.9, orderSize=6, orderDuration=2,
                   groupingCode="0000-0000-0000-0002")
    rig.advance(3000, 6)
    assert rig.state(a["parentNumber"]) is None  # the broker's state is its new parent's
    assert status(rig, rig.state(ra["parentNumber"])) == ("New", "Active")
    st = rig.state(rb["parentNumber"])
    assert status(rig, st) == ("Closed", "Closed")
    assert rig.name(BS, "spdrCloseReason", st["spdrCloseReason"]) == "Expired"
    assert rig.state(b["parentNumber"]) is None
    check_invariants(rig)


def test_an_order_duration_still_expires_the_order_after_a_restart(tmp_path) -> None:
    r1 = TradingRig(data_dir=tmp_path)
    r1.stock("AAPL", 199.9, 200.1)
    r1.option("AAPL", 200, "Put", 4.9, 5.1)
    o = r1.order(orderPrcLimit=4.95, orderSize=6, orderDuration=2)
    r1.advance(500, 5)
    assert status(r1, r1.state(o["parentNumber"])) == ("New", "Active")
    r2 = TradingRig(data_dir=tmp_path, clock=r1.clock)  # r1 dies (kill -9)
    r2.stock("AAPL", 199.9, 200.1)
    r2.option("AAPL", 200, "Put", 4.9, 5.1)
    r2.advance(500, 5)
    assert status(r2, r2.state(o["parentNumber"])) == ("New", "Active")
    r2.advance(1500, 5)
    st = r2.state(o["parentNumber"])
    assert status(r2, st) == ("Closed", "Closed")
    assert r2.name(BS, "spdrCloseReason", st["spdrCloseReason"]) == "Expired"


def test_a_taker_child_in_flight_when_a_modify_makes_the_order_post_only(rig: TradingRig) -> None:
    """Found by the stateful test: the IOC sent before a Modify to PostOnly fills after it; its
    execution reports the handling it was sent under (not PostOnly), so invariant 8 holds."""
    o = rig.order(orderPrcLimit=5.2, orderSize=10)
    rig.advance(0.5)  # priced and the IOC sent; the venue has not answered yet
    t_modify = rig.clock.time_ns()
    rig.order(spdrActionType="Modify", orderSize=10, orderPrcLimit=5.2,
              parentOrderHandling="PostOnly")
    rig.advance(5, 5)
    fills = rig.published("SpdrParentExecution")
    late = [f for f in fills if f["fillDttm"] > t_modify
            and rig.name(EX, "childMakerTaker", f["childMakerTaker"]) == "Taker"]
    assert late, "the scenario needs a taker fill that arrives after the Modify"
    assert all(rig.name(EX, "parentOrderHandling", f["parentOrderHandling"]) != "PostOnly"
               for f in late)
    assert rig.state(o["parentNumber"])["cumFillQuantity"] == sum(f["fillQuantity"] for f in fills)
    check_invariants(rig, quiescent=True)


def test_a_replace_below_fills_that_raced_the_pull_is_refused_and_the_broker_never_overfills(
        rig: TradingRig) -> None:
    """Found by the stateful test: an IOC in flight fills 2 while a replace to size 1 waits for
    the pull; the replace is refused (TooLateToReduce) and no state shows cum > orderSize."""
    o = rig.order(orderPrcLimit=5.2, orderSize=2)
    rig.order(spdrActionType="AddReplace", orderSize=1, orderPrcLimit=4.9)
    rig.advance(0.3)
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert st is not None and st["cumFillQuantity"] <= st["orderSize"]
    events = [e for e in rig.published("SpdrParentBrkrEvent")
              if rig.name("SpdrParentBrkrEvent", "spdrRejectReason", e["spdrRejectReason"])
              == "TooLateToReduce"]
    fills = sum(f["fillQuantity"] for f in rig.published("SpdrParentExecution"))
    assert fills == 2 and len(events) == 1
    check_invariants(rig, quiescent=True)
