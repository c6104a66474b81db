"""Auction orders across a restart, and auction orders with no auction engine."""

from __future__ import annotations

from pathlib import Path

from openmlink.trading import AuctionConfig
from tests.support.auctions import AuctionRig
from tests.support.trading import TradingRig

BS = "SpdrParentBrkrState"


def test_an_auction_order_found_in_the_journal_is_closed_crossfailed_not_worked(
        tmp_path: Path) -> None:
    r = AuctionRig(AuctionConfig(sim_responders=0), data_dir=tmp_path)
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1)
    o = r.order(parentOrderHandling="BlockAuction", orderSide="Sell", orderPrcLimit=4.9,
                orderSize=10, takeReachRule="AllOrNone", activeDuration=30)
    r.advance(1000, 1)
    nn = r.notice_of(o["parentNumber"])
    assert r.respond(nn, accnt="R.LATE", firm="RF", rid="q", size=4, price=4.95) is None
    r.engine.close()
    # the process dies; a new one restores the journal (market first, as the sources would)
    t = r.store.table(r.reg["NoticeResponse"])
    kept = [("NoticeResponse", t.record(int(i))) for i in t.live_rows()]
    r2 = AuctionRig(AuctionConfig(sim_responders=0), data_dir=tmp_path, replay=kept)
    r2.stock("AAPL", 199.9, 200.1)
    r2.option("AAPL", 200, "Put", 5.0, 5.1)  # a plain sell at 4.90 would hit this bid at once
    r2.advance(5, 5)
    st = r2.state(o["parentNumber"])
    assert r2.name(BS, "spdrBrokerStatus", st["spdrBrokerStatus"]) == "Closed"
    assert r2.name(BS, "spdrCloseReason", st["spdrCloseReason"]) == "CrossFailed"
    assert st["noticeNumber"] != 0 and st["cumFillQuantity"] == 0
    assert r2.published("SpdrParentExecution") == []
    # subscribers by noticeNumber and the responder see the auction end
    assert r2.status_names(nn) == ["CrossFailed", "Closed"]
    ends = [n for n in r2.published("AuctionNotice") if n["noticeNumber"] == nn]
    assert [r2.name("AuctionNotice", "auctionEvent", n["auctionEvent"]) for n in ends] == ["End"]
    reps = [x for x in r2.published("NoticeExecReport") if x["noticeNumber"] == nn]
    assert [(x["accnt"], r2.name("NoticeExecReport", "responseResult", x["responseResult"]),
             x["cumFillQty"]) for x in reps] == [("R.LATE", "DidNotTrade", 0)]


def test_without_an_auction_engine_an_auction_order_is_rejected() -> None:
    r = TradingRig()
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1)
    o = r.order(parentOrderHandling="FlashAuction", orderSide="Sell", orderPrcLimit=4.9)
    st = r.state(o["parentNumber"])
    assert r.name(BS, "spdrOrderStatus", st["spdrOrderStatus"]) == "Rejected"
    ev = r.published("SpdrParentBrkrEvent")[-1]
    assert r.name("SpdrParentBrkrEvent", "spdrRejectReason", ev["spdrRejectReason"]) == \
        "BadOrdType"
    assert r.published("SpdrParentExecution") == []
