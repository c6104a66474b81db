"""Durability: state and fills are journaled before they are published; a process that dies
(no close, no flush) restarts with every order and fill, none lost or duplicated."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from openmlink.clock import SimClock
from openmlink.trading import TradingConfig
from openmlink.trading.orders._slots import MKT_NAMES
from openmlink.trading.venue import VenueConfig
from tests.support.trading import TradingRig, check_invariants

BS, EX = "SpdrParentBrkrState", "SpdrParentExecution"


def _market(r: TradingRig) -> None:
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1, asz=3)


def _table(r: TradingRig, name: str, key: str) -> dict:
    t = r.store.table(r.reg[name])
    return {rec[key]: rec for rec in (t.record(int(i)) for i in t.live_rows())}


def test_restart_resumes_working_orders_with_their_fills(tmp_path: Path) -> None:
    r1 = TradingRig(data_dir=tmp_path)
    _market(r1)
    a = r1.order(orderPrcLimit=5.2, orderSize=10)  # takes 3 (displayed), keeps working
    b = r1.order(orderPrcLimit=4.95, orderSize=4, groupingCode="0000-0000-0000-0002")
    c = r1.order(orderPrcLimit=5.2, orderSize=2, groupingCode="0000-0000-0000-0003",
                 orderSide="Sell", secKey={"at": "EQT", "ts": "NMS", "tk": "AAPL",
                                           "dt": "2025-07-18", "xx": 200, "cp": "Put"})
    r1.advance(5, 5)
    states1 = {k: v for k, v in _table(r1, BS, "parentNumber").items()}
    fills1 = _table(r1, EX, "fillNumber")
    assert states1[a["parentNumber"]]["cumFillQuantity"] == 3
    assert fills1
    check_invariants(r1)
    # the process dies here: nothing is closed or flushed
    r2 = TradingRig(data_dir=tmp_path)
    states2 = _table(r2, BS, "parentNumber")
    fills2 = _table(r2, EX, "fillNumber")
    assert set(fills2) == set(fills1)
    for fn, f in fills1.items():
        for k in ("fillQuantity", "fillPrice", "parentNumber", "clOrdId", "cumFillQuantity"):
            assert fills2[fn][k] == f[k], (fn, k)
    assert set(states2) == set(states1)
    for pn, s in states1.items():
        for k in ("cumFillQuantity", "avgFillPrice", "spdrOrderStatus", "spdrBrokerStatus",
                  "orderSize", "baseParentNumber", "numUpdates"):
            assert states2[pn][k] == pytest.approx(s[k]), (pn, k)
    # working orders resume: a fresh quote lets order a take more; fill numbers continue
    _market(r2)
    r2.option("AAPL", 200, "Put", 4.9, 5.1, asz=50)
    r2.advance(5, 5)
    s = r2.state(a["parentNumber"])
    assert s["cumFillQuantity"] == 10
    fills3 = _table(r2, EX, "fillNumber")
    assert set(fills1) < set(fills3)
    assert sum(f["fillQuantity"] for f in fills3.values() if f["parentNumber"] == a["parentNumber"]) == 10
    assert r2.state(b["parentNumber"])["cpx1"] == pytest.approx(4.9)
    assert c["parentNumber"] in states2


def test_replayed_orders_are_not_worked_twice(tmp_path: Path) -> None:
    r1 = TradingRig(data_dir=tmp_path)
    _market(r1)
    a = r1.order(orderPrcLimit=5.2, orderSize=3)
    r1.advance(5, 5)
    assert r1.state(a["parentNumber"])["cumFillQuantity"] == 3
    r2 = TradingRig(data_dir=tmp_path)
    _market(r2)
    # the record store replays the client's SpdrParentOrder at start (no origin) and a client
    # may even re-post the same parentNumber: neither creates a second broker or fill
    r2.engine.manager.on_order(dict(r1.store.table(r1.reg["SpdrParentOrder"]).get(
        (a["parentNumber"],))), set(a))
    r2.advance(5, 5)
    assert len(_table(r2, EX, "fillNumber")) == len(_table(r1, EX, "fillNumber"))
    assert r2.state(a["parentNumber"])["cumFillQuantity"] == 3


def test_a_modify_waiting_for_its_pull_survives_a_restart(tmp_path: Path) -> None:
    r1 = TradingRig(data_dir=tmp_path)
    _market(r1)
    o = r1.order(orderPrcLimit=4.95, orderSize=6, parentBalanceHandling="PostWith")
    r1.advance(5, 5)
    pn = o["parentNumber"]
    assert r1.state(pn)["csz1"] == 6
    # a cut below what is out: the children are pulled first, the Modify waits for that
    r1.order(spdrActionType="Modify", orderPrcLimit=4.95, orderSize=2,
             parentBalanceHandling="PostWith")
    m1 = r1.engine.manager
    assert m1.brokers[m1.parents[pn]].pending is not None
    # the process dies before the venue confirms the pull: the restarted venue still holds
    # the children and the cancels in flight; the Modify applies once they are confirmed
    r2 = TradingRig(data_dir=tmp_path, clock=SimClock(r1.clock.time_ns()))
    m2 = r2.engine.manager
    assert set(m2.brokers[m2.parents[pn]].children) == set(m1.brokers[m1.parents[pn]].children)
    assert m2.brokers[m2.parents[pn]].pending is not None
    _market(r2)
    r2.advance(5, 5)
    s = r2.state(pn)
    assert s["orderSize"] == 2 and s["cumFillQuantity"] == 0
    assert s["csz1"] + s["csz2"] <= 2 and s["csz1"] > 0
    modifies = [e for e in r2.published("SpdrParentBrkrEvent")
                if r2.name("SpdrParentBrkrEvent", "recType", e["recType"]) == "Modify"]
    assert len(modifies) == 1


def test_a_cancel_of_a_replace_waiting_for_its_pull_survives_a_restart(tmp_path: Path) -> None:
    """A Replace waits for the old parent's children to be pulled; a Cancel then cancels the
    replace with it.  The process dies before the pull is confirmed: the restart must not
    bring the replace back (it would open once the pull is confirmed, and work)."""
    r1 = TradingRig(data_dir=tmp_path)
    _market(r1)
    o = r1.order(orderPrcLimit=4.95, orderSize=6)
    r1.advance(5, 5)
    pn = o["parentNumber"]
    assert r1.state(pn)["csz1"] == 6
    new = r1.order(spdrActionType="Replace", orderPrcLimit=4.9, orderSize=8)
    r1.order(spdrActionType="Cancel")
    m1 = r1.engine.manager
    b1 = m1.brokers[m1.parents[pn]]
    assert b1.pending is None and b1.close_reason == "UserCxl" and b1.children
    # the process dies before the venue confirms the pull
    r2 = TradingRig(data_dir=tmp_path, clock=SimClock(r1.clock.time_ns()))
    m2 = r2.engine.manager
    b2 = m2.brokers[m2.parents[pn]]
    assert b2.pending is None and b2.close_reason == "UserCxl"
    _market(r2)
    r2.advance(5, 5)
    s = r2.state(pn)
    assert r2.name(BS, "spdrOrderStatus", s["spdrOrderStatus"]) == "Closed"
    assert r2.name(BS, "spdrCloseReason", s["spdrCloseReason"]) == "UserCxl"
    assert s["parentNumber"] == pn and new["parentNumber"] not in m2.brokers[b2.key].children
    assert not any(st["parentNumber"] == new["parentNumber"] for st in r2.published(BS))


def test_a_fill_the_venue_made_inside_a_post_survives_a_kill_before_the_next_tick(
        tmp_path: Path) -> None:
    """A post's venue call (here a cancel) first runs the venue's actions due since the last
    tick: a child arrives and takes, and its fill waits for the next tick's ``advance``.  The
    post's commit journals the venue with that fill done; the process dies before the tick:
    the restart must still report the fill (the venue's undelivered events are journaled with
    it), exactly as the run that was not killed does."""
    def run(r: TradingRig, kill: bool, tmp: Path) -> TradingRig:
        _market(r)
        r.order(orderPrcLimit=4.8, orderSize=5, groupingCode="0000-0000-0000-0002")
        r.advance(5, 5)
        a = r.order(orderPrcLimit=5.2, orderSize=2)  # marketable: takes at the ask
        r.advance(20, 1)  # the tick sends its child (arrives 0.3 ms later)
        r.clock.advance_to(r.clock.time_ns() + 1_000_000)
        r.order(spdrActionType="Cancel", groupingCode="0000-0000-0000-0002")
        m = r.engine.manager
        assert m.venue.fills >= 1 and not any(f["parentNumber"] == a["parentNumber"]
                                              for f in r.published(EX))
        if kill:  # the process dies here, before the next tick
            pn = r._pn
            r = TradingRig(data_dir=tmp, clock=SimClock(r.clock.time_ns()))
            r._pn = pn
            _market(r)
        r.advance(20, 4)
        return r

    straight = run(TradingRig(data_dir=tmp_path / "a"), False, tmp_path / "a")
    r1 = TradingRig(data_dir=tmp_path / "b")
    r2 = run(r1, True, tmp_path / "b")
    want = _table(straight, EX, "fillNumber")
    assert sum(f["fillQuantity"] for f in want.values()) == 2
    got = _table(r2, EX, "fillNumber")
    key = ("parentNumber", "fillQuantity", "fillPrice", "timestamp")
    assert {n: tuple(f[k] for k in key) for n, f in got.items()} == \
        {n: tuple(f[k] for k in key) for n, f in want.items()}


def test_a_modify_restored_without_children_waits_for_the_market(tmp_path: Path) -> None:
    """A journal without venue rows (none survived) holds a Modify waiting for its pull: the
    restore applies it, but works the broker -- and every other open broker -- only at the
    first tick, with the market (the restarted store has none: children were sent at no
    market, their risk NaN, and a NaN risk counter then failed the next restore)."""
    r1 = TradingRig(data_dir=tmp_path)
    _market(r1)
    r1.order(orderPrcLimit=4.95, orderSize=2, groupingCode="0000-0000-0000-0002")
    o = r1.order(orderPrcLimit=4.95, orderSize=6, parentBalanceHandling="PostWith")
    r1.advance(5, 5)
    r1.order(spdrActionType="Modify", orderPrcLimit=4.95, orderSize=2,
             parentBalanceHandling="PostWith")
    j = r1.engine.journal
    assert j is not None
    j.commit([], [("venue", "state"), *(("vdelta", k) for k, _ in j.items("vdelta"))])
    r2 = TradingRig(data_dir=tmp_path, clock=SimClock(r1.clock.time_ns()))
    m2 = r2.engine.manager
    assert not m2.venue.held_ids()  # nothing sent before the market is read
    b2 = m2.brokers[m2.parents[o["parentNumber"]]]
    assert b2.pending is None and b2.order_size == 2
    _market(r2)
    r2.advance(5, 5)
    s = r2.state(o["parentNumber"])
    assert s["orderSize"] == 2 and s["cpx1"] == pytest.approx(4.9) and s["csz1"] == 2
    assert all(x == x for g in m2.risk.groups.values()
               for x in (g.dd_bot, g.dd_sld, g.ve_bot, g.ve_sld))
    TradingRig(data_dir=tmp_path, clock=SimClock(r2.clock.time_ns()))  # restores again


def test_orders_opened_just_before_a_crash_are_rebuilt_from_their_post(tmp_path: Path) -> None:
    """A plain open journals only its post (the broker body waits for the next tick's
    commit); dying before that tick, the restart rebuilds the broker from the post row: as it
    was published, at its original time and arrival quote, and worked once the market is in."""
    r1 = TradingRig(data_dir=tmp_path)
    _market(r1)
    old = r1.order(orderPrcLimit=4.95, orderSize=2, groupingCode="0000-0000-0000-0003")
    r1.advance(5, 5)
    r1.order(spdrActionType="Cancel", groupingCode="0000-0000-0000-0003")
    r1.advance(5, 5)
    assert r1.name(BS, "spdrOrderStatus", r1.state(old["parentNumber"])["spdrOrderStatus"]) \
        == "Closed"
    bodies = r1.engine.journal.count("broker")
    r1.clock.advance_to(r1.clock.time_ns() + 1_000_000)
    a = r1.order(orderPrcLimit=4.95, orderSize=4)
    b = r1.order(orderPrcLimit=4.9, orderSize=3, groupingCode="0000-0000-0000-0002",
                 orderDuration=60)
    again = r1.order(orderPrcLimit=4.95, orderSize=5, groupingCode="0000-0000-0000-0003")
    assert r1.engine.journal.count("broker") == bodies  # owed: only the posts are journaled
    states1 = _table(r1, BS, "parentNumber")
    pns = (a["parentNumber"], b["parentNumber"], again["parentNumber"])
    assert all(r1.name(BS, "spdrOrderStatus", states1[pn]["spdrOrderStatus"]) == "PendNew"
               for pn in pns)
    # the process dies here, before the tick that would work them
    r2 = TradingRig(data_dir=tmp_path)
    states2 = _table(r2, BS, "parentNumber")
    for pn in pns:
        for k in ("spdrOrderStatus", "spdrBrokerStatus", "orderSize", "numUpdates",
                  "baseParentNumber", "limitPrice", "accnt"):
            assert states2[pn][k] == states1[pn][k], (pn, k)
    assert not r2.published("SpdrParentBrkrEvent")  # their New events went out before the crash
    m2 = r2.engine.manager
    bb = m2.brokers[m2.parents[b["parentNumber"]]]
    assert bb.start_ns == r1.engine.manager.brokers[bb.key].start_ns  # expiry counts from then
    assert bb.arrive_bid == pytest.approx(4.9)
    _market(r2)
    r2.advance(5, 5)
    for pn, size in zip(pns, (4, 3, 5), strict=True):
        s = r2.state(pn)
        assert r2.name(BS, "spdrOrderStatus", s["spdrOrderStatus"]) == "New", pn
        assert s["cpx1"] == pytest.approx(4.9) and s["csz1"] == size  # resting on the bid
    assert r2.engine.journal.count("broker") == bodies + 2  # a's and b's; the old one rewritten
    check_invariants(r2)


def _strikes(r: TradingRig, bid: float, strikes: tuple[int, ...] = (195, 200, 205)) -> None:
    for k in strikes:
        r.option("AAPL", k, "Put", bid, bid + 0.2, uprc=200 + bid)


def test_re_priced_orders_restart_with_their_numupdates_after_many_passes(tmp_path: Path) -> None:
    """Fast re-pricing passes (one packed ``pxp`` journal row each, compacted every 16 passes)
    and a fill, then ``kill -9``: the restart shows every re-priced order as last published
    (numUpdates, fills) and re-prices it again; a second restart after the first one's
    commit still agrees (the restore rewrote the bodies and deleted the packed rows)."""
    r1 = TradingRig(data_dir=tmp_path)
    r1.stock("AAPL", 199.9, 200.1)
    _strikes(r1, 4.9)
    sec = {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2025-07-18", "cp": "Put"}
    orders = [r1.order(orderPrcLimit=5.0, orderSize=4, parentBalanceHandling="PostWith",
                       groupingCode=f"0000-0000-0000-{i + 1:04d}", secKey={**sec, "xx": k})
              for i, k in enumerate((195, 200, 205, 195, 200, 205))]
    r1.advance(5, 5)
    j = r1.engine.journal
    assert j is not None
    for step in range(40):  # 40 moves: every child follows the bid by a venue modify; the
        # 205 puts stop moving after 20 (their last numUpdates then only in a compacted row)
        _strikes(r1, 4.85 if step % 2 else 4.95, (195, 200, 205) if step < 20 else (195, 200))
        r1.advance(5, 5)
        assert j.count("pxp") <= 17  # bounded: 16 delta rows and one that holds them all
        assert j.count("px") == 0
    assert j.count("pxp") > 0  # the passes took the fast path
    # one order fills (a full pass publishes it: its body is journaled again)
    r1.option("AAPL", 195, "Put", 4.7, 4.85, asz=1, uprc=199.8)
    r1.advance(5, 5)
    states1 = _table(r1, BS, "parentNumber")
    fills1 = _table(r1, EX, "fillNumber")
    assert fills1
    for o in orders:
        assert states1[o["parentNumber"]]["numUpdates"] > (40 if o["secKey"].xx != 205 else 20)
    check_invariants(r1)
    # kill -9: nothing flushed or closed
    r2 = TradingRig(data_dir=tmp_path)
    states2 = _table(r2, BS, "parentNumber")
    assert set(_table(r2, EX, "fillNumber")) == set(fills1)
    for o in orders:
        pn = o["parentNumber"]
        for k in ("numUpdates", "cumFillQuantity", "spdrOrderStatus", "orderSize"):
            assert states2[pn][k] == states1[pn][k], (pn, k)
    j2 = r2.engine.journal
    assert j2 is not None and j2.count("pxp") == 0  # the restore's commit superseded them
    # the second process dies at once: the third sees the same
    r3 = TradingRig(data_dir=tmp_path)
    states3 = _table(r3, BS, "parentNumber")
    for o in orders:
        assert states3[o["parentNumber"]]["numUpdates"] == states1[o["parentNumber"]]["numUpdates"]
    r3.stock("AAPL", 199.9, 200.1)
    _strikes(r3, 4.75)
    r3.advance(5, 5)
    _strikes(r3, 4.8)
    r3.advance(5, 5)
    for o in orders:
        st = r3.state(o["parentNumber"])
        if r3.name(BS, "spdrOrderStatus", st["spdrOrderStatus"]) != "Closed":
            assert st["numUpdates"] > states1[o["parentNumber"]]["numUpdates"]
            assert st["cpx1"] == pytest.approx(4.8)


# ------------------------------------------------------------------ the venue across a restart
_VENUE = VenueConfig(jitter_ns=150_000, prob_fill_on_limit=0.5, prob_slippage=0.3,
                     partial_fill_max_pieces=3)
_CFG = TradingConfig(key_rate=0, accnt_rate=0, seed=7)


def _steps() -> list:
    """A seeded scenario: takers, makers resting at the touch (probabilistic maker fills),
    re-pricing modifies in flight, partial fills and slippage (every RNG of the venue used)."""
    sk = {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2025-07-18", "xx": 200, "cp": "Put"}

    def quotes(bid: float, ask: float, bsz: int, asz: int):
        def step(r: TradingRig) -> None:
            r.stock("AAPL", 199.9, 200.1)
            r.option("AAPL", 200, "Put", bid, ask, bsz=bsz, asz=asz)
            r.option("AAPL", 205, "Call", bid - 1, ask - 1, bsz=bsz, asz=asz)
        return step

    def orders(r: TradingRig) -> None:
        r.order(orderPrcLimit=5.2, orderSize=12)
        r.order(orderPrcLimit=4.95, orderSize=9, groupingCode="0000-0000-0000-0002")
        r.order(orderPrcLimit=4.8, orderSize=7, orderSide="Sell", secKey=sk,
                groupingCode="0000-0000-0000-0003")
        r.order(orderPrcLimit=4.2, orderSize=8, groupingCode="0000-0000-0000-0004",
                secKey={**sk, "xx": 205, "cp": "Call"})

    def wait(ms: float, steps: int):
        return lambda r: r.advance(ms, steps)

    return [quotes(4.9, 5.1, 20, 3), orders, wait(0.25, 1), wait(5, 5),
            quotes(4.95, 5.05, 6, 4), wait(0.2, 1),  # modifies and new children in flight
            quotes(4.95, 5.05, 6, 4),  # the split re-posts the market: so does the straight run
            wait(0.15, 1), quotes(4.9, 4.95, 8, 5), wait(0.3, 3), quotes(5.0, 5.1, 9, 9),
            wait(5, 5), quotes(4.85, 4.95, 4, 12), wait(5, 5), quotes(5.05, 5.2, 7, 7),
            wait(20, 10)]


def _fills(rigs: list[TradingRig]) -> list[tuple]:
    seen: dict[int, tuple] = {}
    for r in rigs:
        for f in r.published(EX):
            seen.setdefault(f["fillNumber"], (f["fillNumber"], f["parentNumber"],
                                              f["fillQuantity"], f["fillPrice"],
                                              f["fillExch"], f["childMakerTaker"], f["childPrice"],
                                              f["childDttm"], f["timestamp"]))
    return sorted(seen.values())


def test_the_venue_continues_exactly_across_a_restart(tmp_path: Path) -> None:
    steps, split = _steps(), 6
    straight = TradingRig(data_dir=tmp_path / "a", config=_CFG, venue=_VENUE)
    for st in steps:
        st(straight)
    r1 = TradingRig(data_dir=tmp_path / "b", config=_CFG, venue=_VENUE)
    for st in steps[:split]:
        st(r1)
    held = {c for b in r1.engine.manager.brokers.values() for c in b.children}
    assert held and r1.engine.manager.venue.next_due_ns() is not None  # actions in flight
    # the process dies here (no flush, no close); the restart runs on from the same time
    r2 = TradingRig(data_dir=tmp_path / "b", config=_CFG, venue=_VENUE,
                    clock=SimClock(r1.clock.time_ns()))
    r2._pn = r1._pn
    assert {c for b in r2.engine.manager.brokers.values() for c in b.children} == held
    _run_on_and_compare(r1, r2, steps, split, straight)  # the market again first


def test_a_crash_between_two_slices_of_a_tick_loses_no_order(tmp_path: Path) -> None:
    """A tick worked in slices (``OrderEngine.tick_steps``) that dies after its first slice:
    the worked orders restart from their bodies, the others are rebuilt from their posts."""
    r1 = TradingRig(data_dir=tmp_path)
    _market(r1)
    r1.advance(5)  # the market's step (it would journal the orders' owed bodies) is done
    pns = [r1.order(orderPrcLimit=4.95, orderSize=2, groupingCode=f"0000-0000-0000-{i:04X}"
                    )["parentNumber"] for i in range(7)]
    r1.clock.advance_to(r1.clock.time_ns() + 20_000_000)
    next(r1.engine.tick_steps(3))  # the process dies after the first slice
    assert r1.engine.journal.count("broker") == 3
    states1 = _table(r1, BS, "parentNumber")
    r2 = TradingRig(data_dir=tmp_path)
    states2 = _table(r2, BS, "parentNumber")
    for pn in pns:
        for k in ("spdrOrderStatus", "spdrBrokerStatus", "orderSize", "limitPrice"):
            assert states2[pn][k] == states1[pn][k], (pn, k)
    _market(r2)
    r2.advance(5, 5)
    for pn in pns:
        s = r2.state(pn)
        assert r2.name(BS, "spdrOrderStatus", s["spdrOrderStatus"]) == "New", pn
        assert s["cpx1"] == pytest.approx(4.9) and s["csz1"] == 2
    assert r2.engine.journal.count("broker") == 7
    check_invariants(r1)  # r2 republishes restored states without their history: not checked


def _broker_steps(risk: bool = False) -> list:
    """Several brokers of several accounts and risk groups working at once on three series,
    opened in an order unlike their keys' (accounts Z, A, M), one cancelled and opened again
    (it moves to the end of its series) and a series whose first broker closed: a restart must
    work them (send children, draw the venue's chances) in the order the straight run does.
    ``risk``: some carry risk limits that cap them (group contracts, the account's $delta), so
    the fills of the other orders of their group/account hold, release and top them up."""
    def sk(xx: float, cp: str) -> dict:
        return {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2025-07-18", "xx": xx, "cp": cp}

    def quotes(off: float, bsz: int, asz: int):
        def step(r: TradingRig) -> None:
            r.stock("AAPL", 199.9, 200.1)
            r.option("AAPL", 205, "Call", 3.9 + off, 4.0 + off, bsz=bsz, asz=asz)
            r.option("AAPL", 200, "Put", 4.9 + off, 5.0 + off, bsz=bsz, asz=asz)
            r.option("AAPL", 195, "Put", 5.9 + off, 6.0 + off, bsz=bsz, asz=asz)
        step.__name__ = "quotes"  # a restart may come before it (it posts the whole market)
        return step

    def order(accnt: str, group: int, xx: float, cp: str, px: float, size: int,
              side: str = "Buy", action: str = "Add", **lim: float):
        def step(r: TradingRig) -> None:
            r.order(accnt=accnt, riskGroupId=group, secKey=sk(xx, cp), orderPrcLimit=px,
                    orderSize=size, orderSide=side, spdrActionType=action,
                    groupingCode="0000-0000-0000-0007", **(lim if risk else {}))
        return step

    def wait(ms: float, steps: int):
        return lambda r: r.advance(ms, steps)

    return [quotes(0.0, 20, 4),
            order("Z.ACC", 3, 205, "Call", 3.9, 9),  # the first broker of the Call: closes
            order("Z.ACC", 3, 200, "Put", 4.95, 12),
            order("A.ACC", 1, 200, "Put", 4.95, 8, maxGrpDayContractsLn=3),
            order("M.ACC", 2, 195, "Put", 5.95, 11, maxAccDayDDeltaSh=50000.0),
            order("A.ACC", 1, 195, "Put", 6.05, 7, side="Sell"),
            wait(0.25, 1), wait(5, 5), quotes(0.0, 20, 4),
            order("B.ACC", 4, 205, "Call", 3.95, 10),
            order("Z.ACC", 3, 205, "Call", 3.9, 9, action="Cancel"),
            order("Z.ACC", 3, 200, "Put", 4.95, 12, action="Cancel"),
            wait(5, 5), quotes(0.0, 20, 4),
            order("Z.ACC", 3, 200, "Put", 4.95, 14),  # opened again: last of its series
            order("M.ACC", 2, 205, "Call", 3.95, 6, maxAccDayDDeltaSh=50000.0),
            wait(0.2, 1), quotes(0.0, 20, 4), wait(5, 5),
            quotes(0.05, 6, 5), wait(0.2, 1),  # modifies and new children in flight
            quotes(0.05, 6, 5),  # the split re-posts the market: so does the straight run
            wait(0.15, 1), quotes(0.0, 8, 5), wait(0.3, 3), quotes(0.1, 9, 9),
            wait(5, 5), quotes(-0.05, 4, 12), wait(5, 5), quotes(0.15, 7, 7),
            wait(20, 10)]


@pytest.mark.parametrize("risk", [False, True])
@pytest.mark.parametrize("split", [8, 13, 17, 19, 21])
def test_several_brokers_continue_exactly_across_a_restart(tmp_path: Path, split: int,
                                                          risk: bool) -> None:
    """Brokers of several accounts and risk groups: the restarted manager holds them, and
    their series, in the order the straight run does (not the journal's key order), so the
    fills after the restart are the straight run's, fill for fill -- also with risk limits
    capping some of them (re-worked and topped up as the others fill)."""
    steps = _broker_steps(risk)
    assert steps[split].__name__ == "quotes"  # the restart's first step posts the market
    straight = TradingRig(data_dir=tmp_path / "a", config=_CFG, venue=_VENUE)
    for st in steps:
        st(straight)
    r1 = TradingRig(data_dir=tmp_path / "b", config=_CFG, venue=_VENUE)
    for st in steps[:split]:
        st(r1)
    m1 = r1.engine.manager
    order1 = list(m1.brokers)
    series1 = {s: list(bs) for s, bs in m1.by_series.items()}
    # the process dies here (no flush, no close); the restart runs on from the same time
    r2 = TradingRig(data_dir=tmp_path / "b", config=_CFG, venue=_VENUE,
                    clock=SimClock(r1.clock.time_ns()))
    r2._pn = r1._pn
    m2 = r2.engine.manager
    assert list(m2.brokers) == order1
    assert list(m2.by_series) == list(series1)
    assert {s: list(bs) for s, bs in m2.by_series.items()} == series1
    _run_on_and_compare(r1, r2, steps, split, straight)


def test_broker_bodies_of_the_older_layout_still_restore(tmp_path: Path) -> None:
    """A broker body names its parent row (``parentRow``) and writes the market as a list; a
    journal written before (the parent record in the body, the market as a dict, no sequence
    numbers) restores the same brokers."""
    r1 = TradingRig(data_dir=tmp_path)
    _market(r1)
    pns = [r1.order(orderPrcLimit=4.95, orderSize=3 + i, groupingCode=f"0000-0000-0000-000{i}"
                    )["parentNumber"] for i in range(3)]
    r1.advance(5, 5)
    j = r1.engine.journal
    assert j is not None
    parents = dict(j.items("parent"))
    puts = []
    for k, body in j.items("broker"):
        d = orjson.loads(body)
        row = orjson.loads(parents[f"{d.pop('parentRow'):016X}"])
        row.pop("_opened", None)
        d["parent"] = row
        d["mkt"] = dict(zip(MKT_NAMES, d["mkt"], strict=True))
        del d["seq"]
        puts.append(("broker", k, orjson.dumps(d)))
    assert len(puts) == 3
    j.commit(puts)
    r2 = TradingRig(data_dir=tmp_path, clock=SimClock(r1.clock.time_ns()))
    s1, s2 = _table(r1, BS, "parentNumber"), _table(r2, BS, "parentNumber")
    for pn in pns:
        for k in ("spdrOrderStatus", "orderSize", "limitPrice", "nbboBid", "cpx1", "csz1"):
            assert s2[pn][k] == s1[pn][k], (pn, k)
    _market(r2)
    r2.advance(5, 5)
    assert [r2.state(pn)["csz1"] for pn in pns] == [3, 4, 5]


def _run_on_and_compare(r1: TradingRig, r2: TradingRig, steps: list[Callable[[TradingRig], None]],
                        split: int, straight: TradingRig) -> None:
    """The restarted rig ``r2`` runs the steps from ``split`` on (the split step again: the
    restarted store is empty); the fills of both halves equal the uninterrupted run's."""
    steps[split](r2)
    for st in steps[split + 1:]:
        st(r2)
    want = _fills([straight])
    assert len(want) > 8
    assert _fills([r1, r2]) == want
    check_invariants(straight)
