"""marketSession (children only in the sessions it names, by the market calendar on the
injected clock) and progressExposeTime (post first; take only after that many seconds)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.trading import TradingRig, check_invariants

BS = "SpdrParentBrkrState"
HOUR_MS = 3_600_000


@pytest.fixture
def rig() -> TradingRig:  # the rig's clock starts at 11:00 New York on a Monday (Open)
    r = TradingRig()
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1, bsz=20, asz=20)
    return r


def status(rig: TradingRig, rec: dict[str, Any]) -> tuple[str, str]:
    return (rig.name(BS, "spdrOrderStatus", rec["spdrOrderStatus"]),
            rig.name(BS, "spdrBrokerStatus", rec["spdrBrokerStatus"]))


def _live(rig: TradingRig, pn: int) -> int:
    return sum(k.leaves for k in rig.engine.manager.venue.live_children(pn))


def _quote(rig: TradingRig) -> None:
    rig.option("AAPL", 200, "Put", 4.9, 5.1, bsz=20, asz=20)


def test_post_market_order_waits_for_the_after_hours_session_and_stops_at_its_end(
        rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=5.0, orderSize=6, parentBalanceHandling="PostWith",
                  marketSession="PostMkt")
    rig.advance(5, 5)
    pn = o["parentNumber"]
    st = rig.state(pn)
    assert status(rig, st) == ("New", "ActiveHold")
    assert "market session Open" in st["spdrComment"] and "AfterHours" in st["spdrComment"]
    assert _live(rig, pn) == 0
    rig.advance(5 * HOUR_MS)  # 16:00 New York: after hours
    _quote(rig)
    rig.advance(5, 5)
    st = rig.state(pn)
    assert status(rig, st) == ("New", "Active") and st["csz1"] == 6 and _live(rig, pn) == 6
    rig.advance(4 * HOUR_MS)  # 20:00: closed
    rig.advance(5, 5)
    st = rig.state(pn)
    assert status(rig, st) == ("New", "ActiveHold") and _live(rig, pn) == 0
    assert "market session Closed" in st["spdrComment"]
    check_invariants(rig)


def test_regular_session_order_pulls_its_children_at_the_close(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=5.0, orderSize=6, parentBalanceHandling="PostWith",
                  marketSession="RegMkt")
    rig.advance(5, 5)
    pn = o["parentNumber"]
    assert _live(rig, pn) == 6
    rig.advance(5 * HOUR_MS - 60_000)  # 15:59: still open
    rig.advance(5, 5)
    assert _live(rig, pn) == 6
    rig.advance(60_000)  # 16:00
    rig.advance(5, 5)
    assert _live(rig, pn) == 0 and status(rig, rig.state(pn)) == ("New", "ActiveHold")
    check_invariants(rig)


def test_no_market_session_means_no_restriction(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=5.0, orderSize=6, parentBalanceHandling="PostWith")
    rig.advance(9 * HOUR_MS + 60_000)  # 20:01: closed
    _quote(rig)
    rig.advance(5, 5)
    assert _live(rig, o["parentNumber"]) == 6


def test_progress_expose_time_posts_first_and_takes_only_after_it(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=5.2, orderSize=6, parentBalanceHandling="PostWith",
                  progressExposeTime=2)
    rig.advance(5, 5)
    pn = o["parentNumber"]
    assert rig.published("SpdrParentExecution") == []
    assert rig.state(pn)["cpx1"] == pytest.approx(4.9) and _live(rig, pn) == 6  # posted
    rig.advance(1500, 3)  # 1.5 s: still exposing
    assert rig.published("SpdrParentExecution") == []
    rig.advance(600, 3)  # past 2 s: the taker acts on the 5.10 offer
    rig.advance(5, 5)
    fills = rig.published("SpdrParentExecution")
    assert sum(f["fillQuantity"] for f in fills) == 6
    assert all(f["fillPrice"] == pytest.approx(5.1) for f in fills)
    assert {rig.name("SpdrParentExecution", "childMakerTaker", f["childMakerTaker"])
            for f in fills} == {"Taker"}
    check_invariants(rig, quiescent=True)


def test_without_progress_expose_time_a_marketable_order_takes_at_once(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=5.2, orderSize=6)
    rig.advance(5, 5)
    assert rig.state(o["parentNumber"])["cumFillQuantity"] == 6


def test_the_exposure_keeps_counting_across_a_restart(tmp_path: Any) -> None:
    from openmlink.clock import SimClock

    r1 = TradingRig(data_dir=tmp_path)
    r1.stock("AAPL", 199.9, 200.1)
    r1.option("AAPL", 200, "Put", 4.9, 5.1, bsz=20, asz=20)
    o = r1.order(orderPrcLimit=5.2, orderSize=6, parentBalanceHandling="PostWith",
                 progressExposeTime=2)
    r1.advance(1500, 3)  # posted at the first 0.5 s tick: exposed 1 s when the process dies
    assert r1.published("SpdrParentExecution") == []
    r2 = TradingRig(data_dir=tmp_path, clock=SimClock(r1.clock.time_ns() + 100_000_000))
    r2.stock("AAPL", 199.9, 200.1)
    r2.option("AAPL", 200, "Put", 4.9, 5.1, bsz=20, asz=20)
    r2.advance(1200, 6)  # 2.3 s after the exposure began (1.2 s after the restart): it takes
    r2.advance(5, 5)
    fills = r2.published("SpdrParentExecution")
    assert sum(f["fillQuantity"] for f in fills if f["parentNumber"] == o["parentNumber"]) == 6
