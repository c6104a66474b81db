"""takeReachRule AtMost25 / AtMost50 on an auction order (trading.md §3.2 step 3): each
response counts, and fills, for at most 25 / 50 % of the initiator's size; the size
condition is UpToQty."""

from __future__ import annotations

import pytest

from openmlink.trading import AuctionConfig
from tests.support.auctions import AuctionRig
from tests.support.trading import check_invariants

AS, AN, NX = "AuctionState", "AuctionNotice", "NoticeExecReport"


def rig() -> AuctionRig:
    r = AuctionRig(AuctionConfig(sim_responders=0))
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1, bsz=20, asz=20)
    return r


@pytest.mark.parametrize(("rule", "cap"), [("AtMost25", 25), ("AtMost50", 50)])
def test_one_response_takes_at_most_its_share(rule: str, cap: int) -> None:
    r = rig()
    o = r.order(parentOrderHandling="BlockAuction", orderSide="Sell", orderPrcLimit=4.9,
                orderSize=100, takeReachRule=rule, progressRule="None", activeDuration=3)
    nn = r.notice_of(o["parentNumber"])
    assert r.name(AN, "custQtyCond", r.published(AN)[0]["custQtyCond"]) == "UpToQty"
    assert r.respond(nn, accnt="R1", firm="F1", rid="a", size=100, price=5.0) is None
    assert r.respond(nn, accnt="R2", firm="F2", rid="b", size=100, price=4.95) is None
    r.advance(1000, 1)
    assert r.auction_states(nn)[-1]["BidSolution"][0]["matchSize"] == cap  # best level only
    r.advance(3000, 3)
    a = r.auctions.manager.finished[nn]
    assert r.status_names(nn) == ["Active", "Active", "FinalTrial", "Crossing", "Crossed", "Closed"]
    # the match is the price where the capped sizes last satisfy the size: UpToQty takes the
    # best level; R1 fills its share at 5.00 and no more
    assert [(acc, q, px) for acc, _f, q, px in a.fills] == [("R1", cap, 5.0)]
    rep = {x["accnt"]: x for x in r.published(NX)}["R1"]
    assert rep["cumFillQty"] == cap and rep["respSize"] == 100
    check_invariants(r, quiescent=True)


def test_several_responses_fill_the_whole_size_each_within_its_share() -> None:
    r = rig()
    o = r.order(parentOrderHandling="FlashAuction", orderSide="Sell", orderPrcLimit=4.9,
                orderSize=100, takeReachRule="AtMost50")
    nn = r.notice_of(o["parentNumber"])
    for i in range(3):
        assert r.respond(nn, accnt=f"R{i}", firm=f"F{i}", rid=f"r{i}", size=80, price=4.95) is None
    r.advance(30, 1)
    a = r.auctions.manager.finished[nn]
    got = sorted(q for *_, q, _px in a.fills)
    assert sum(got) == 100 and max(got) <= 50 and len(got) == 3  # pro-rata over 50 each
    assert r.auction_states(nn)[-1]["BidSolution"][0]["matchSize"] == 100
    check_invariants(r, quiescent=True)
