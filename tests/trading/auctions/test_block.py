"""Block auctions in process (trading.md §3.2): 1 s trials on the injected clock, the status
sequence, limits through SpdrParentLimit, size conditions, nbboCap, delta-adjusted responses,
the underlier range, responses (cancel, reject after the end, sides), visibility."""

from __future__ import annotations

import itertools

import pytest

from openmlink.trading import AuctionConfig
from tests.support.auctions import AuctionRig
from tests.support.trading import check_invariants

BS, AS, AN, EX, NX = ("SpdrParentBrkrState", "AuctionState", "AuctionNotice",
                      "SpdrParentExecution", "NoticeExecReport")


def rig(**cfg: object) -> AuctionRig:
    cfg.setdefault("sim_responders", 0)
    r = AuctionRig(AuctionConfig(**cfg))  # type: ignore[arg-type]
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1, bsz=20, asz=20)
    return r


def block(r: AuctionRig, **fields: object) -> tuple[dict, int]:
    base = {"parentOrderHandling": "BlockAuction", "orderSide": "Sell", "orderPrcLimit": 4.9,
            "orderSize": 100, "takeReachRule": "AllOrNone", "atsVisibility": "SidePrice",
            "progressRule": "AllowImmediate", "activeDuration": 10}
    base.update(fields)
    o = r.order(**base)
    return o, r.notice_of(o["parentNumber"])


def secs(r: AuctionRig, n: int) -> None:
    """``n`` seconds, one timer tick per second."""
    for _ in range(n):
        r.advance(1000, 1)


def close_reason(r: AuctionRig, o: dict) -> str:
    st = r.state(o["parentNumber"])
    return r.name(BS, "spdrCloseReason", st["spdrCloseReason"])


def test_trials_every_second_with_a_rising_counter_then_cross_and_closed() -> None:
    r = rig()
    o, nn = block(r)
    secs(r, 1)
    secs(r, 1)
    assert r.respond(nn, rid="a", size=60, price=4.95) is None
    secs(r, 1)  # 60 < 100 AllOrNone: not actionable yet
    assert r.respond(nn, accnt="R2", firm="F2", rid="b", size=50, price=4.9) is None
    secs(r, 1)  # 110 at >= 4.90: crosses (AllowImmediate)
    states = r.auction_states(nn)
    assert [s["atsAuctionCounter"] for s in states] == [1, 2, 3, 4, 4, 4]
    assert r.status_names(nn) == ["Active", "Active", "Active", "FinalTrial", "Crossing", "Crossed"]
    ts = sorted({s["timestamp"] for s in states})
    assert [b - a for a, b in itertools.pairwise(ts)] == [1_000_000_000] * 3
    assert states[2]["BidSolution"] == ()
    sol = states[-1]["BidSolution"][0]
    assert (sol["matchPrice"], sol["matchSize"], sol["numResponders"]) == (4.9, 100, 2)
    # price priority: 60 @ 4.95 fill fully, the marginal 4.90 level gets the other 40
    reps = {x["responseId"]: x for x in r.published(NX) if x["cumFillQty"]}
    assert (reps["a"]["cumFillQty"], reps["b"]["cumFillQty"]) == (60, 40)
    assert {x["avgFillPrice"] for x in reps.values()} == {4.9}
    fills = [f for f in r.published(EX) if f["parentNumber"] == o["parentNumber"]]
    assert sum(f["fillQuantity"] for f in fills) == 100 and {f["fillPrice"] for f in fills} == {4.9}
    # the responders' executions: their accounts, the other side, the uniform price
    resp = {f["accnt"]: f for f in r.published(EX) if f["parentNumber"] != o["parentNumber"]}
    assert {k: (v["fillQuantity"], v["fillPrice"]) for k, v in resp.items()} == \
        {"R.ACCNT": (60, 4.9), "R2": (40, 4.9)}
    assert all(r.name(EX, "orderSide", f["orderSide"]) == "Buy" for f in resp.values())
    assert resp["R.ACCNT"]["parentNumber"] == reps["a"]["baseParentNumber"]
    assert close_reason(r, o) == "Filled"
    assert r.respond(nn, accnt="R3", firm="F3", rid="c", size=5, price=5.0) is not None
    secs(r, 1)
    assert r.status_names(nn)[-1] == "Closed"
    assert [n for n in r.published(AN) if n["noticeNumber"] == nn][-1]["auctionEvent"] == \
        r.reg[AN].field("auctionEvent").enum.names.index("End")  # type: ignore[union-attr]
    check_invariants(r, quiescent=True)


def test_all_or_none_never_fills_partially_and_fails_at_the_end() -> None:
    r = rig()
    o, nn = block(r, activeDuration=3)
    r.respond(nn, size=99, price=5.0)
    secs(r, 3)
    secs(r, 1)
    assert r.status_names(nn) == ["Active", "Active", "FinalTrial", "CrossFailed", "Closed"]
    assert r.published(EX) == []
    assert close_reason(r, o) == "CrossFailed"
    rep = r.published(NX)[-1]
    assert rep["cumFillQty"] == 0 and r.name(NX, "responseResult", rep["responseResult"]) == \
        "DidNotTrade"


def test_up_to_qty_crosses_what_there_is_at_the_final_trial_without_allow_immediate() -> None:
    r = rig()
    o, nn = block(r, takeReachRule="UpToQty", progressRule="None", activeDuration=3)
    r.respond(nn, size=30, price=5.0)
    secs(r, 2)
    assert r.status_names(nn) == ["Active", "Active"]  # matched, but waits for the end
    secs(r, 1)
    assert r.status_names(nn) == ["Active", "Active", "FinalTrial", "Crossing", "Crossed"]
    assert r.state(o["parentNumber"])["cumFillQuantity"] == 30
    assert close_reason(r, o) == "AlgoClose"


def test_a_limit_change_takes_effect_at_the_next_trial() -> None:
    r = rig()
    _o, nn = block(r)
    r.respond(nn, size=100, price=4.8)
    secs(r, 1)
    assert r.auction_states(nn)[-1]["BidSolution"] == ()
    r.limit(orderSide="Sell", orderPrcLimit=4.8)
    secs(r, 1)
    assert r.status_names(nn)[-1] == "Crossed"
    assert r.auction_states(nn)[-1]["BidSolution"][0]["matchPrice"] == 4.8


def test_nbbo_cap_keeps_the_match_from_printing_through_the_ask() -> None:
    r = rig()
    _, nn = block(r, nbboCap="Nbbo")
    r.respond(nn, size=100, price=5.5)  # above the 5.10 ask
    secs(r, 1)
    assert r.auction_states(nn)[-1]["BidSolution"][0]["matchPrice"] == 5.1
    r2 = rig()
    _, nn2 = block(r2, nbboCap="NoCap")
    r2.respond(nn2, size=100, price=5.5)
    secs(r2, 1)
    assert r2.auction_states(nn2)[-1]["BidSolution"][0]["matchPrice"] == 5.5


def test_delta_adjusted_response_is_priced_at_the_trial_underlier_mid() -> None:
    r = rig()
    _, nn = block(r)
    # 4.70 at uPrc 199.60 with delta 0.5: 4.70 + 0.5 * (200 - 199.6) = 4.90 at uMid 200
    r.respond(nn, size=100, price=4.7, refUPrc=199.6, refDe=0.5, refGa=0.0, deltaAdj="OneWay")
    secs(r, 1)
    assert r.status_names(nn)[-1] == "Crossed"
    assert r.auction_states(nn)[-1]["BidSolution"][0]["matchPrice"] == 4.9


def test_a_response_outside_its_own_underlier_range_does_not_count() -> None:
    r = rig()
    _, nn = block(r, activeDuration=2)
    r.respond(nn, size=100, price=5.0, minUBid=200.5)  # uMid 200 is below its range
    secs(r, 3)
    assert "Crossed" not in r.status_names(nn)


def test_underlier_leaving_the_cxl_range_ends_the_auction() -> None:
    r = rig()
    o, nn = block(r, cxlUPrcRange="Yes", minUBid=-0.02, maxUAsk=0.02, minMaxType="Pct")
    secs(r, 1)
    r.stock("AAPL", 205.9, 206.1)  # +3 %
    r.option("AAPL", 200, "Put", 3.9, 4.1, uprc=206.0)
    secs(r, 1)
    assert r.status_names(nn)[-2:] == ["FinalTrial", "CrossFailed"]
    assert close_reason(r, o) == "UPrcRange"


def test_cancelling_the_order_ends_its_auction_without_fills() -> None:
    r = rig()
    o, nn = block(r, activeDuration=5)
    r.respond(nn, size=50, price=5.0)
    secs(r, 1)
    r.order(spdrActionType="Cancel", orderSide="Sell", orderSize=100, orderPrcLimit=4.9)
    secs(r, 1)
    assert r.status_names(nn)[-1] == "CrossFailed"
    assert close_reason(r, o) == "UserCxl" and r.published(EX) == []
    assert r.respond(nn, accnt="R9", rid="z", size=5, price=5.0) is not None


def test_response_cancel_and_replace() -> None:
    r = rig()
    _, nn = block(r)
    r.respond(nn, rid="a", size=100, price=4.5)
    r.respond(nn, rid="b", size=100, price=4.6)  # a new responseId replaces the pair's response
    secs(r, 1)
    assert r.auction_states(nn)[-1]["BidSolution"] == ()
    r.respond(nn, rid="c", size=0)  # cancel
    rep = r.published(NX)[-1]
    assert rep["responseId"] == "c" and rep["respActiveSize"] == 0
    assert r.name(NX, "respStatus", rep["respStatus"]) == "Closed"
    r.limit(orderSide="Sell", orderPrcLimit=4.6)
    secs(r, 1)
    assert "Crossed" not in r.status_names(nn)  # the cancelled 4.60 does not trade
    assert len({x["baseParentNumber"] for x in r.published(NX)}) == 1


@pytest.mark.parametrize(("fields", "reason"), [
    ({"respSide": "Sell"}, "respSide: Sell is the initiator's side"),
    ({"respPrice": 4.12345}, "respPrice: 4.12345 has more than 4 decimals"),
    ({"respPrice": -1.0}, "respPrice: -1 must be a positive price"),
    ({"respSize": -5}, "respSize: -5"),
    ({"accnt": "T.MTL.VEN"}, "accnt: an account cannot respond to its own auction"),
])
def test_bad_responses_get_a_reason_naming_the_field(fields: dict, reason: str) -> None:
    r = rig()
    _, nn = block(r)
    args = {"side": "Buy", "size": 10, "price": 5.0, "accnt": "R.ACCNT"}
    args.update({"side": fields.get("respSide", "Buy"), "size": fields.get("respSize", 10),
                 "price": fields.get("respPrice", 5.0), "accnt": fields.get("accnt", "R.ACCNT")})
    why = r.respond(nn, **args)
    assert why is not None and why.startswith(reason), why
    assert r.published(NX) == []


def test_unknown_notice_is_rejected() -> None:
    r = rig()
    why = r.respond(0x1234, size=10, price=5.0)
    assert why is not None and why.startswith("noticeNumber: ")


def test_directed_counterparty_keeps_other_firms_out() -> None:
    r = rig()
    _, nn = block(r, DirectedCounterParty=[{"clientFirm": "GOOD", "inclExcl": "Include"}])
    assert r.respond(nn, firm="OTHER", size=10, price=5.0) is not None
    assert r.respond(nn, firm="GOOD", size=10, price=5.0) is None


@pytest.mark.parametrize(("vis", "side", "prc", "has"), [
    ("Neither", "None", 0.0, "No"), ("Side", "Sell", 0.0, "No"),
    ("SidePrice", "Sell", 4.9, "Yes")])
def test_visibility_decides_what_responders_see(vis: str, side: str, prc: float, has: str) -> None:
    r = rig()
    _, nn = block(r, atsVisibility=vis)
    r.respond(nn, size=10, price=5.0)
    secs(r, 1)
    for mt, rec in ((AN, r.published(AN)[0]), (AS, r.auction_states(nn)[-1])):
        assert r.name(mt, "custSide", rec["custSide"]) == side
        assert rec["custPrc"] == prc and r.name(mt, "hasCustPrc", rec["hasCustPrc"]) == has
    st = r.auction_states(nn)[-1]
    if vis == "Neither":  # the side is hidden: a same-side response is taken, both books shown
        assert r.respond(nn, accnt="R5", firm="F5", size=7, price=5.05, side="Sell") is None
        secs(r, 1)
        st = r.auction_states(nn)[-1]
        assert st["AskSolution"][0]["matchSize"] == 7
    else:
        assert st["AskSolution"] == ()


def test_limit_must_be_at_least_mid_market() -> None:
    r = rig()
    o = r.order(parentOrderHandling="BlockAuction", orderSide="Sell", orderPrcLimit=5.05,
                orderSize=100, takeReachRule="AllOrNone")
    st = r.state(o["parentNumber"])
    assert r.name(BS, "spdrOrderStatus", st["spdrOrderStatus"]) == "Rejected"
    ev = r.published("SpdrParentBrkrEvent")[-1]
    assert r.name("SpdrParentBrkrEvent", "spdrRejectReason", ev["spdrRejectReason"]) == "BadLimit"
    assert "mid-market" in ev["spdrComment"]
    assert r.published(AN) == []


def test_block_duration_is_capped_at_five_minutes() -> None:
    r = rig()
    _, _nn = block(r, activeDuration=900)
    assert r.published(AN)[0]["auctionDuration"] == 300_000


def test_deleting_a_response_cancels_it() -> None:
    r = rig()
    _, nn = block(r, activeDuration=2)
    assert r.respond(nn, size=100, price=5.0) is None
    assert r.respond(nn, delete=True) is None
    rep = r.published(NX)[-1]
    assert r.name(NX, "respStatus", rep["respStatus"]) == "Closed" and rep["respActiveSize"] == 0
    secs(r, 3)
    assert "Crossed" not in r.status_names(nn) and r.published(EX) == []
