"""New orders priced in one batch on the next timer tick, and re-pricing passes that leave
unchanged brokers alone (trading.md §2; issue 11 speed targets)."""

from __future__ import annotations

from typing import Any

import pytest

from openmlink.trading.orders import _manager
from tests.support.trading import TradingRig, check_invariants

BS = "SpdrParentBrkrState"


@pytest.fixture
def rig() -> TradingRig:
    r = TradingRig()
    r.stock("AAPL", 199.9, 200.1)
    for k in (195, 200, 205):
        r.option("AAPL", k, "Put", 4.9, 5.1, bsz=20, asz=20)
    return r


def status(rig: TradingRig, rec: dict[str, Any]) -> tuple[str, str]:
    return (rig.name(BS, "spdrOrderStatus", rec["spdrOrderStatus"]),
            rig.name(BS, "spdrBrokerStatus", rec["spdrBrokerStatus"]))


def _key(strike: int) -> dict[str, Any]:
    return {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2025-07-18", "xx": strike, "cp": "Put"}


def _count_limits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = _manager.compute_limits

    def counting(orders: Any, mkt: Any, *a: Any, **k: Any) -> Any:
        calls.append(len(orders))
        return real(orders, mkt, *a, **k)

    monkeypatch.setattr(_manager, "compute_limits", counting)
    return calls


def test_orders_wait_pend_new_then_the_next_tick_prices_them_in_one_call(
        rig: TradingRig, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_limits(monkeypatch)
    pns = [rig.order(secKey=_key(k), orderPrcLimit=5.0, orderSize=6,
                     parentBalanceHandling="PostWith", groupingCode=f"0000-0000-0000-000{i}"
                     )["parentNumber"] for i, k in enumerate((195, 200, 205), start=1)]
    for pn in pns:  # acknowledged, not yet worked: no limit, no child
        st = rig.state(pn)
        assert st is not None and status(rig, st) == ("PendNew", "Updating")
        assert st["csz1"] == 0 and rig.engine.manager.venue.live_children(pn) == []
    assert calls == []
    rig.advance(5, 1)
    assert calls == [3]  # one compute_limits over the three new orders
    for pn in pns:
        st = rig.state(pn)
        assert status(rig, st) == ("New", "Active")
        assert st["limitPrice"] == pytest.approx(5.0) and st["cpx1"] == pytest.approx(4.9)
        assert st["csz1"] == 6
    check_invariants(rig)


def test_cancel_before_the_first_tick_closes_the_order_without_a_fill(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=5.2, orderSize=10)  # marketable once worked
    rig.order(spdrActionType="Cancel", orderPrcLimit=5.2, orderSize=10)
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert status(rig, st) == ("Closed", "Closed")
    assert rig.name(BS, "spdrCloseReason", st["spdrCloseReason"]) == "UserCxl"
    # the order was worked (an IOC may have been sent) and then cancelled: whatever filled is
    # accounted for, and nothing fills after the Closed record
    check_invariants(rig, quiescent=True)


def test_modify_before_the_first_tick_is_what_the_first_tick_works(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=5.2, orderSize=10)  # would take at the ask
    rig.order(spdrActionType="Modify", orderPrcLimit=5.2, orderSize=10,
              parentOrderHandling="PostOnly")
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert status(rig, st) == ("New", "Active") and st["cumFillQuantity"] == 0
    assert rig.published("SpdrParentExecution") == []
    kids = rig.engine.manager.venue.live_children(o["parentNumber"])
    assert kids and all(k.child.tif == "Day" and k.child.post_only for k in kids)
    check_invariants(rig)


def test_a_move_that_changes_nothing_publishes_nothing_and_keeps_the_children(
        rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=4.8, orderSize=6, parentBalanceHandling="PostWith")
    rig.advance(5, 5)
    pn = o["parentNumber"]
    before = rig.engine.manager.venue.live_children(pn)
    assert [k.child.price for k in before] == [pytest.approx(4.8)]
    n_states = len(rig.published(BS))
    rig.option("AAPL", 200, "Put", 4.95, 5.15, uprc=200.5)  # the bid moves; our 4.80 stays
    rig.advance(5, 5)
    after = rig.engine.manager.venue.live_children(pn)
    assert [k.child.child_id for k in after] == [k.child.child_id for k in before]
    assert len(rig.published(BS)) == n_states
    # the broker's market view did move (fills would report it)
    assert rig.engine.manager.brokers[rig.engine.manager.parents[pn]].mkt["bid"] == 4.95
    # a move through the limit re-prices: the child follows the bid down
    rig.option("AAPL", 200, "Put", 4.7, 4.9, uprc=199.5)
    rig.advance(5, 5)
    st = rig.state(pn)
    assert st["cpx1"] == pytest.approx(4.7) and st["csz1"] == 6
    check_invariants(rig)


def test_a_fill_makes_the_next_move_rework_the_broker(rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=4.9, orderSize=6, parentBalanceHandling="PostWith")
    rig.advance(5, 5)
    pn = o["parentNumber"]
    rig.option("AAPL", 200, "Put", 4.7, 4.9, asz=2)  # the ask touches our bid: a maker fill
    rig.advance(5, 5)
    st = rig.state(pn)
    assert 0 < st["cumFillQuantity"] < 6
    rig.option("AAPL", 200, "Put", 4.7, 5.0, asz=20)
    rig.advance(5, 5)
    st = rig.state(pn)
    # the leaves are re-posted at the new bid (capped by the limit) for what is left
    assert st["cpx1"] == pytest.approx(4.7)
    assert st["csz1"] + st["cumFillQuantity"] == 6
    check_invariants(rig)


def test_a_child_the_venue_cancels_is_sent_again_though_the_price_did_not_change(
        rig: TradingRig) -> None:
    o = rig.order(orderPrcLimit=4.8, orderSize=6, parentBalanceHandling="PostWith")
    rig.advance(5, 5)
    pn = o["parentNumber"]
    m = rig.engine.manager
    okey = m.brokers[m.parents[pn]].okey
    first = m.venue.live_children(pn)
    assert len(first) == 1
    m.venue.halt(okey, rig.clock.time_ns())  # the venue cancels the resting child
    m.venue.resume(okey, rig.clock.time_ns())
    rig.advance(5, 5)
    rig.option("AAPL", 200, "Put", 4.95, 5.1)  # the make price stays 4.80
    rig.advance(5, 5)
    again = m.venue.live_children(pn)
    assert len(again) == 1 and again[0].child.child_id != first[0].child.child_id
    assert again[0].child.price == pytest.approx(4.8) and again[0].leaves == 6
    check_invariants(rig)


def test_a_tick_with_more_new_orders_than_a_slice_works_them_in_steps(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime's timer runs a tick as steps (``OrderEngine.tick_steps``): slices of new
    orders, lowest parentNumbers first, each journaled and published before the next; a post
    between two slices that acts on an order not worked yet works that order first."""
    rig = TradingRig(data_dir=tmp_path)
    rig.stock("AAPL", 199.9, 200.1)
    for k in (195, 200, 205):
        rig.option("AAPL", k, "Put", 4.9, 5.1, bsz=20, asz=20)
    rig.advance(5)  # the market's step (it would journal the orders' owed bodies) is done
    calls = _count_limits(monkeypatch)
    pns = [rig.order(secKey=_key((195, 200, 205)[i % 3]), orderPrcLimit=4.95, orderSize=3,
                     groupingCode=f"0000-0000-0000-{i:04X}")["parentNumber"] for i in range(12)]
    bodies = rig.engine.journal.count("broker")
    rig.clock.advance_to(rig.clock.time_ns() + 20_000_000)
    steps = rig.engine.tick_steps(5)
    next(steps)
    assert calls == [5]
    worked = sorted(pns)[:5]
    for pn in pns:  # the first slice is published (and journaled) before the next runs
        want = ("New", "Active") if pn in worked else ("PendNew", "Updating")
        assert status(rig, rig.state(pn)) == want, pn
    assert rig.engine.journal.count("broker") == bodies + 5
    late = sorted(pns)[8]
    rig.order(spdrActionType="Cancel", secKey=_key((195, 200, 205)[pns.index(late) % 3]),
              groupingCode=f"0000-0000-0000-{pns.index(late):04X}")
    assert calls == [5, 1]  # worked first, then cancelled
    assert status(rig, rig.state(late))[0] == "PendClose"
    assert list(steps) == [None]  # one more slice of 5, then the tick's rest (the last one)
    assert calls == [5, 1, 5, 1]
    rig.advance(5, 5)
    assert status(rig, rig.state(late)) == ("Closed", "Closed")
    for pn in pns:
        if pn != late:
            st = rig.state(pn)
            assert status(rig, st) == ("New", "Active") and st["csz1"] == 3, pn
    check_invariants(rig)
