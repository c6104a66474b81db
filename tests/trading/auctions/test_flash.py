"""Flash auctions in process (trading.md §3.3): one trial at the end of the window, one
AuctionState, initiator fills = the published solution, the residual's fate."""

from __future__ import annotations

import pytest

from openmlink.trading import AuctionConfig
from tests.support.auctions import AuctionRig
from tests.support.trading import check_invariants

BS, AS, EX, NX = "SpdrParentBrkrState", "AuctionState", "SpdrParentExecution", "NoticeExecReport"


def rig(**cfg: object) -> AuctionRig:
    r = AuctionRig(AuctionConfig(**cfg))  # type: ignore[arg-type]
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1, bsz=20, asz=20)
    return r


def flash(r: AuctionRig, **fields: object) -> dict:
    base = {"parentOrderHandling": "FlashAuction", "orderSide": "Sell", "orderPrcLimit": 4.9,
            "orderSize": 100, "takeReachRule": "UpToQty", "atsVisibility": "SidePrice",
            "progressRule": "AutoComplete"}
    base.update(fields)
    return r.order(**base)


def test_flash_publishes_one_auction_state_at_the_window_end_and_fills_the_solution() -> None:
    r = rig(sim_responders=0)
    o = flash(r)
    st = r.state(o["parentNumber"])
    assert r.name(BS, "spdrBrokerStatus", st["spdrBrokerStatus"]) == "Active"
    nn = r.notice_of(o["parentNumber"])
    assert nn != 0
    notices = r.published("AuctionNotice")
    assert [n["noticeNumber"] for n in notices] == [nn]
    assert r.respond(nn, size=30, price=5.0) is None
    r.advance(19, 1)
    assert r.auction_states(nn) == []  # nothing before the end of the 20 ms window
    r.advance(1, 1)
    states = r.auction_states(nn)
    assert len(states) == 1
    s = states[0]
    assert r.status_names(nn) == ["Crossed"]
    assert s["timestamp"] - o_time(r, o) <= 100_000_000
    sol = s["BidSolution"][0]
    assert (sol["matchPrice"], sol["matchSize"], sol["numResponders"]) == (5.0, 30, 1)
    fills = [f for f in r.published(EX) if f["parentNumber"] == o["parentNumber"]]
    assert sum(f["fillQuantity"] for f in fills) == sol["matchSize"]
    resp = [f for f in r.published(EX) if f["parentNumber"] != o["parentNumber"]]
    assert [(f["accnt"], f["fillQuantity"], f["fillPrice"]) for f in resp] == [("R.ACCNT", 30, 5.0)]
    assert all(f["fillPrice"] == sol["matchPrice"] for f in fills)
    st = r.state(o["parentNumber"])
    assert st["cumFillQuantity"] == 30
    assert r.name(BS, "spdrCloseReason", st["spdrCloseReason"]) == "AlgoClose"
    rep = r.published(NX)[-1]
    assert (rep["cumFillQty"], rep["avgFillPrice"], rep["leavesQty"]) == (30, 5.0, 0)
    assert r.name(NX, "responseResult", rep["responseResult"]) == "FullSize"
    check_invariants(r, quiescent=True)


def o_time(r: AuctionRig, o: dict) -> int:
    return min(m.sent_ts for m in r.bus.published if getattr(m, "mt", None) is not None
               and m.mt.name == "SpdrParentOrder")


def test_flash_with_no_liquidity_at_the_limit_fails_and_closes_crossfailed() -> None:
    r = rig(sim_responders=0)
    o = flash(r)
    nn = r.notice_of(o["parentNumber"])
    assert r.respond(nn, size=30, price=4.5) is None  # below the seller's 4.90 limit
    r.advance(25, 1)
    assert r.status_names(nn) == ["CrossFailed"]
    assert r.auction_states(nn)[0]["BidSolution"] == ()
    assert r.published(EX) == []
    st = r.state(o["parentNumber"])
    assert r.name(BS, "spdrCloseReason", st["spdrCloseReason"]) == "CrossFailed"
    rep = r.published(NX)[-1]
    assert r.name(NX, "responseResult", rep["responseResult"]) == "DidNotTrade"


def test_flash_residual_keeps_working_when_a_balance_handling_is_given() -> None:
    r = rig(sim_responders=0)
    o = flash(r, parentBalanceHandling="PostWith", orderPrcLimit=4.95)
    nn = r.notice_of(o["parentNumber"])
    r.respond(nn, size=30, price=5.0)
    r.advance(25, 1)
    r.advance(5, 5)
    st = r.state(o["parentNumber"])
    assert st["cumFillQuantity"] == 30
    assert r.name(BS, "spdrBrokerStatus", st["spdrBrokerStatus"]) == "Active"
    # the residual rests with the ask (PostWith), never below the 4.95 limit
    assert st["leavesQuantity"] > 0 and st["cpx1"] == pytest.approx(5.1)
    check_invariants(r)


def test_simulated_responders_replay_exactly_for_a_seed() -> None:
    outs = []
    for _ in range(2):
        r = rig(seed=7, sim_responders=20)
        o = flash(r)
        r.advance(25, 1)
        s = r.auction_states(r.notice_of(o["parentNumber"]))
        outs.append((s[0]["BidSolution"], [f["fillQuantity"] for f in r.published(EX)]))
    assert outs[0] == outs[1]
    assert outs[0][0], "20 simulated responders at fair 5.00 found no bid at or above 4.90"


def test_a_real_responder_at_a_better_price_wins_against_simulated_ones() -> None:
    r = rig(seed=3, sim_responders=20)
    o = flash(r, orderPrcLimit=4.8)
    nn = r.notice_of(o["parentNumber"])
    sims = r.auctions.manager.live[nn].sims
    best = max(s.price for s in sims)
    assert r.respond(nn, size=100, price=round(best + 0.05, 2)) is None
    r.advance(25, 1)
    rep = r.published(NX)[-1]
    assert rep["cumFillQty"] == 100 and rep["avgFillPrice"] == pytest.approx(best + 0.05)
    a = r.auctions.manager.finished[nn]
    assert [f[0] for f in a.fills] == ["R.ACCNT"]
