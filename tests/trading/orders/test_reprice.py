"""Re-pricing by venue modify: resting children follow the make price in place (same child id,
queue priority lost at the venue), and quiet brokers' states go out as one column batch equal
to the records the full path builds (issue 11: 10,000 orders re-priced < 100 ms)."""

from __future__ import annotations

from typing import Any

import pytest

from openmlink.bus import ColumnBatch
from openmlink.trading.orders._records import state_record
from tests.support.trading import EXPIRY, TradingRig, check_invariants

BS, EX = "SpdrParentBrkrState", "SpdrParentExecution"
STRIKES = (195, 200, 205)


@pytest.fixture
def rig() -> TradingRig:
    r = TradingRig()
    r.stock("AAPL", 199.9, 200.1)
    for k in STRIKES:
        r.option("AAPL", k, "Put", 4.9, 5.1)
    return r


def _orders(rig: TradingRig, n: int = 6) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        out.append(rig.order(orderPrcLimit=5.0, orderSize=4, parentBalanceHandling="PostWith",
                             groupingCode=f"0000-0000-0000-{i + 1:04d}",
                             secKey={"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": EXPIRY,
                                     "xx": STRIKES[i % 3], "cp": "Put"}))
    rig.advance(5, 5)  # worked, children acknowledged
    return out


def _move(rig: TradingRig, bid: float, ask: float, asz: int = 20) -> None:
    for k in STRIKES:
        rig.option("AAPL", k, "Put", bid, ask, asz=asz, uprc=200.5)


def _children(rig: TradingRig) -> dict[int, tuple[int, float]]:
    """child id -> (parentNumber, venue price) of every child live at the venue."""
    m = rig.engine.manager
    return {lc.child.child_id: (pn, lc.child.price) for pn in
            (b.parent_number for b in m.brokers.values()) for lc in m.venue.live_children(pn)}


def test_a_move_modifies_every_child_in_place_and_publishes_one_batch(rig: TradingRig) -> None:
    orders = _orders(rig)
    before = _children(rig)
    assert len(before) == len(orders) and {px for _pn, px in before.values()} == {4.9}
    n0 = len(rig.bus.published)
    _move(rig, 4.95, 5.15)
    rig.engine.tick()
    batches = [m for m in rig.bus.published[n0:] if isinstance(m, ColumnBatch)
               and m.mt.name == BS]
    assert len(batches) == 1 and len(batches[0].data["timestamp"]) == len(orders)
    for o in orders:  # the state shows the new price at once, the venue not yet
        assert rig.state(o["parentNumber"])["cpx1"] == pytest.approx(4.95)
    assert {px for _pn, px in _children(rig).values()} == {4.9}
    rig.advance(5, 5)
    after = _children(rig)
    assert set(after) == set(before)  # the same children: modified, not cancelled and re-sent
    assert {px for _pn, px in after.values()} == {4.95}
    m = rig.engine.manager
    assert all(b.num_new_orders == 1 for b in m.brokers.values())
    check_invariants(rig)


def test_the_batched_state_equals_the_record_the_full_path_builds(rig: TradingRig) -> None:
    _orders(rig)
    _move(rig, 4.95, 5.15)
    rig.engine.tick()
    m = rig.engine.manager
    now = rig.clock.time_ns()
    for b in m.brokers.values():
        stored = rig.state(b.parent_number)
        assert stored is not None
        built = state_record(b, now)
        diff = {k: (stored[k], v) for k, v in built.items() if stored[k] != pytest.approx(v)}
        assert not diff, diff


def test_a_fill_racing_a_modify_reports_the_price_the_venue_filled_at(rig: TradingRig) -> None:
    orders = _orders(rig, 3)
    _move(rig, 4.95, 5.15)
    rig.engine.tick()  # modifies to 4.95 in flight
    # the ask drops onto the children's old price before the modifies reach the venue
    for k in STRIKES:
        rig.option("AAPL", k, "Put", 4.85, 4.9, asz=2, uprc=200.5)
    rig.engine.tick()
    rig.advance(5, 5)
    fills = rig.published(EX)
    # fills before a modify landed report the old price; after it, the new one (and take)
    raced = [f for f in fills if f["childPrice"] == pytest.approx(4.9)]
    assert raced and all(f["fillPrice"] <= f["childPrice"] + 1e-9 for f in fills)
    assert {round(f["childPrice"], 2) for f in fills} <= {4.9, 4.95}
    for o in orders:
        st = rig.state(o["parentNumber"])
        assert st["cumFillQuantity"] + st["leavesQuantity"] <= 4
    check_invariants(rig)


def test_a_refused_modify_pulls_the_child_and_sends_a_new_one(rig: TradingRig) -> None:
    o = _orders(rig, 1)[0]
    (cid,) = _children(rig)
    m = rig.engine.manager
    b = m.brokers[m.parents[o["parentNumber"]]]
    # the venue refuses: the child vanished there (as if a modify found it done)
    m._modify_refused(b, b.children[cid], rig.clock.time_ns())
    rig.advance(5, 5)
    rig.advance(5, 5)
    kids = _children(rig)
    assert cid not in kids and len(kids) == 1
    assert rig.state(o["parentNumber"])["csz1"] == 4
    check_invariants(rig)


def test_a_broker_with_a_group_risk_limit_takes_the_full_path(rig: TradingRig) -> None:
    rig.order(orderPrcLimit=5.0, orderSize=4, parentBalanceHandling="PostWith",
              maxGrpDayContractsLn=100)
    rig.advance(5, 5)
    n0 = len(rig.bus.published)
    _move(rig, 4.95, 5.15)
    rig.engine.tick()
    new = rig.bus.published[n0:]
    assert not any(isinstance(m, ColumnBatch) and m.mt.name == BS for m in new)
    rig.advance(5, 5)
    assert {px for _pn, px in _children(rig).values()} == {4.95}
    check_invariants(rig)


def test_group_commit_journals_and_publishes_a_period_of_posts_in_one_commit(tmp_path) -> None:
    from openmlink.trading import TradingConfig

    r = TradingRig(data_dir=tmp_path, config=TradingConfig(key_rate=0, accnt_rate=0,
                                                           group_commit=True))
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1)
    r.engine.tick()  # the market is read: the next tick only has the posts to work
    j = r.engine.journal
    assert j is not None
    c0 = j.commits
    orders = [r.order(orderPrcLimit=4.8, groupingCode=f"0000-0000-0000-{i + 1:04d}")
              for i in range(5)]
    orders.append(r.order(orderPrcLimit=4.8, orderSize=0, groupingCode="0000-0000-0000-0099"))
    assert j.commits == c0 and not r.published(BS)  # nothing visible before it is journaled
    r.engine.tick()
    assert j.commits == c0 + 1  # every post of the period, and its work, in one transaction
    for o in orders[:-1]:
        assert r.state(o["parentNumber"]) is not None
    assert r.name(BS, "spdrOrderStatus", r.state(orders[-1]["parentNumber"])["spdrOrderStatus"]) \
        == "Rejected"
    assert j.count("parent") == len(orders)
    check_invariants(r)


def test_a_restart_continues_numupdates_after_fast_passes(tmp_path) -> None:
    r1 = TradingRig(data_dir=tmp_path)
    r1.stock("AAPL", 199.9, 200.1)
    for k in STRIKES:
        r1.option("AAPL", k, "Put", 4.9, 5.1)
    orders = _orders(r1, 3)
    for bid in (4.95, 4.85, 4.95):
        _move(r1, bid, bid + 0.2)
        r1.advance(5, 5)
    assert any(isinstance(m, ColumnBatch) for m in r1.bus.published)
    last = {o["parentNumber"]: r1.state(o["parentNumber"])["numUpdates"] for o in orders}
    # the process dies here; the restart republishes every broker's state
    r2 = TradingRig(data_dir=tmp_path)
    for pn, n in last.items():
        assert r2.state(pn)["numUpdates"] >= n
    r2.stock("AAPL", 199.9, 200.1)
    for k in STRIKES:
        r2.option("AAPL", k, "Put", 4.85, 5.05)
    r2.advance(5, 5)
    for pn, n in last.items():
        st = r2.state(pn)
        assert st["numUpdates"] > n and st["cpx1"] == pytest.approx(4.85)
