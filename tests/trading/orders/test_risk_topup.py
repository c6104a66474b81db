"""The account-day scope (``maxAccDay*``), the group bot/sld ratio (``grpDayVegaRatio``), the
future-contract limits, and resting children topped up when the headroom grows (a fill on the
other side, a bust, a limit raised), through the order manager (trading.md §1.9)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tests.support.trading import ACCNT, ORIGIN, TradingRig, check_invariants
from tests.trading.orders.test_risk_scopes import AUG, BS, WT, _key, _rig  # the same market


def _st(r: TradingRig, o: dict[str, Any]) -> tuple[str, str, int, int, str]:
    """(broker status, riskLimitDesc, riskLimitSize, working child size, spdrComment)."""
    s = r.state(o["parentNumber"])
    assert s is not None
    return (r.name(BS, "spdrBrokerStatus", s["spdrBrokerStatus"]),
            r.name(BS, "riskLimitDesc", s["riskLimitDesc"]), s["riskLimitSize"],
            s["csz1"] + s["csz2"], s["spdrComment"])


def _venue(r: TradingRig, o: dict[str, Any]) -> list[tuple[int, int]]:
    """(child id, leaves) of the order's children the venue holds."""
    return [(c.child.child_id, c.leaves)
            for c in r.engine.manager.venue.live_children(o["parentNumber"])]


def _sell(r: TradingRig, code: str, qty: int, group: str = "0000-0000-0000-0000",
          sec: dict[str, Any] | None = None, accnt: str = ACCNT) -> dict[str, Any]:
    """A marketable sale of ``qty`` puts that fills and closes."""
    o = r.order(orderSide="Sell", orderPrcLimit=4.0, orderSize=qty, groupingCode=code,
                riskGroupId=group, secKey=sec or _key("AAPL", AUG), accnt=accnt)
    r.advance(5, 5)
    s = r.state(o["parentNumber"])
    assert s is not None and s["cumFillQuantity"] == qty
    return o


def test_a_fill_on_the_other_side_tops_up_the_resting_child() -> None:
    r = _rig()
    b = r.order(orderPrcLimit=4.95, orderSize=10, maxGrpDayContractsLn=3)
    r.advance(5, 5)
    assert _st(r, b)[:4] == ("Active", "GrpOptQtyLn", 3, 3)
    before = _venue(r, b)
    assert [q for _c, q in before] == [3]
    # a sale of 2 in the same group: the group's net contracts -2, headroom 3 + 2 = 5; the
    # resting child grows in place (a venue modify of its size), with no market move
    _sell(r, "0000-0000-0000-0009", 2)
    assert _st(r, b)[:4] == ("Active", "GrpOptQtyLn", 5, 5)
    assert _venue(r, b) == [(before[0][0], 5)]
    # a purchase in the group takes room: the capped order is not worked for it (its child
    # stays until the order is next worked)
    n = len(r.published(BS))
    r.order(orderPrcLimit=5.2, orderSize=1, groupingCode="0000-0000-0000-0006")
    r.advance(5, 5)
    assert _venue(r, b) == [(before[0][0], 5)]
    pns = [s["parentNumber"] for s in r.published(BS)[n:]]
    assert b["parentNumber"] not in pns and pns
    # a sale in another account's group 0 does not move this account's counter
    _sell(r, "0000-0000-0000-0008", 2, accnt="T.MTL.OTHER")
    assert _st(r, b)[:4] == ("Active", "GrpOptQtyLn", 5, 5)
    assert _venue(r, b) == [(before[0][0], 5)]
    check_invariants(r, quiescent=True)
    # cancelled: the next move of the account's counters forgets it
    m = r.engine.manager
    assert m._bound[(ACCNT, "SRCORE")] == {m.parents[b["parentNumber"]]}
    r.order(spdrActionType="Cancel", orderPrcLimit=4.95, orderSize=10)
    r.advance(5, 5)
    _sell(r, "0000-0000-0000-0007", 1)
    assert (ACCNT, "SRCORE") not in m._bound


def test_a_held_order_is_released_by_a_fill_on_the_other_side() -> None:
    r = _rig()
    long_ = r.order(orderPrcLimit=5.2, orderSize=2, groupingCode="0000-0000-0000-0007")
    r.advance(5, 5)  # 2 bought: net +2
    b = r.order(orderPrcLimit=4.95, orderSize=10, maxGrpDayContractsLn=2)
    r.advance(5, 5)
    st, desc, size, csz, why = _st(r, b)
    assert (st, desc, size, csz) == ("ActiveHold", "GrpOptQtyLn", 0, 0)
    assert "maxGrpDayContractsLn 2" in why and long_["parentNumber"]
    assert not _venue(r, b)
    _sell(r, "0000-0000-0000-0009", 3)  # net -1: 3 of room
    assert _st(r, b)[:4] == ("Active", "GrpOptQtyLn", 3, 3)
    assert [q for _c, q in _venue(r, b)] == [3]
    check_invariants(r, quiescent=True)


def test_a_limit_record_raising_the_limit_tops_up_and_a_lower_one_cuts() -> None:
    r = _rig()
    b = r.order(orderPrcLimit=4.95, orderSize=10, orderLimitType="Prc", maxGrpDayVegaLn=60.0)
    r.advance(5, 5)
    assert _st(r, b)[:4] == ("Active", "GrpVegaLn", 2, 2)  # 60 / 30
    cid = _venue(r, b)[0][0]
    r.limit(maxGrpDayVegaLn=200.0)
    r.advance(5, 5)
    assert _st(r, b)[:4] == ("Active", "GrpVegaLn", 6, 6)
    assert _venue(r, b) == [(cid, 6)]
    # lowered: more out than the headroom -- pulled and sent again at the new cap
    r.limit(maxGrpDayVegaLn=90.0)
    r.advance(5, 5)
    assert _st(r, b)[:4] == ("Active", "GrpVegaLn", 3, 3)
    assert [q for _c, q in _venue(r, b)] == [3]
    check_invariants(r, quiescent=False)


def test_a_bust_of_a_fill_gives_the_headroom_back() -> None:
    r = _rig()
    _long = r.order(orderPrcLimit=5.2, orderSize=3, groupingCode="0000-0000-0000-0007")
    r.advance(5, 5)
    b = r.order(orderPrcLimit=4.95, orderSize=10, maxGrpDayContractsLn=4)
    r.advance(5, 5)
    assert _st(r, b)[:4] == ("Active", "GrpOptQtyLn", 1, 1)
    fills = r.published("SpdrParentExecution")
    assert len(fills) >= 1
    m = r.engine.manager
    for f in fills:
        assert m.adjust_fill(f["fillNumber"], None) is None
    r.advance(5, 5)
    assert _st(r, b)[:4] == ("Active", "GrpOptQtyLn", 4, 4)
    check_invariants(r, quiescent=True)


def test_the_account_scope_counts_every_group_of_the_account() -> None:
    r = _rig()
    # group 7 buys 2 July puts: account $delta -16000, wtVega 2 WT
    r.order(orderPrcLimit=5.2, orderSize=2, groupingCode="0000-0000-0000-0007",
            riskGroupId="0000-0000-0000-0007")
    r.advance(5, 5)
    b = r.order(orderPrcLimit=4.95, orderSize=10, riskGroupId="0000-0000-0000-0008",
                maxAccDayDDeltaSh=40000.0)
    w = r.order(orderPrcLimit=5.95, orderSize=10, riskGroupId="0000-0000-0000-0008",
                secKey=_key("AAPL", AUG), groupingCode="0000-0000-0000-0002",
                maxAccDayWtVegaLn=5 * WT, accDayWtVegaOffset=WT)
    other = r.order(orderPrcLimit=4.95, orderSize=10, accnt="T.MTL.OTHER",
                    maxAccDayDDeltaSh=40000.0, groupingCode="0000-0000-0000-0003")
    r.advance(5, 5)
    # (40000 - 16000) / 8000 = 3 puts
    assert _st(r, b)[:4] == ("Active", "DayShDDelta", 3, 3)
    assert "maxAccDayDDeltaSh 40000: account $delta -16,000.00" in r.state(
        b["parentNumber"])["riskLimitDetail"]
    # wtVega: 5 WT - (2 WT - WT) = 4 WT of room; an August put's wtVega (0.3 vega, 0.21 y)
    aug_wt = 0.3 * 0.25 / math.sqrt(4 * _years(r, w)) * 100.0
    assert _st(r, w)[1:4] == ("DayLnWtVe", math.floor(4 * WT / aug_wt + 1e-9),
                              math.floor(4 * WT / aug_wt + 1e-9))
    # another account has its own counter: 40000 / 8000
    assert _st(r, other)[1:4] == ("DayShDDelta", 5, 5)
    # a sale in a third group of the account gives back $delta room: 2 sold -> -16000 + 16000
    _sell(r, "0000-0000-0000-0009", 2, group="0000-0000-0000-0009", sec=_key())
    assert _st(r, b)[1:4] == ("DayShDDelta", 5, 5)
    check_invariants(r, quiescent=True)


def _years(r: TradingRig, o: dict[str, Any]) -> float:
    s = r.state(o["parentNumber"])
    assert s is not None
    return float(s["cnYrs"])


def test_a_vega_ratio_recentres_the_group_vega_limit() -> None:
    r = _rig()
    # group 7: 2 July puts bought (60 vega) and 1 August put sold (30 vega)
    r.order(orderPrcLimit=5.2, orderSize=2, groupingCode="0000-0000-0000-0007",
            riskGroupId="0000-0000-0000-0007")
    _sell(r, "0000-0000-0000-0009", 1, group="0000-0000-0000-0007")
    plain = r.order(orderPrcLimit=4.95, orderSize=10, riskGroupId="0000-0000-0000-0007",
                    maxGrpDayVegaLn=150.0)
    ratio = r.order(orderPrcLimit=4.95, orderSize=10, riskGroupId="0000-0000-0000-0007",
                    maxGrpDayVegaLn=150.0, grpDayVegaRatio=2.0,
                    groupingCode="0000-0000-0000-0002")
    r.advance(5, 5)
    assert _st(r, plain)[1:4] == ("GrpVegaLn", 4, 4)  # 150 - (60 - 30) = 120 of room
    # neutral is bot = 2 x sld: the limit sees 60 - 2 x 30 = 0, 150 of room
    assert _st(r, ratio)[1:4] == ("GrpVegaLn", 5, 5)
    detail = r.state(ratio["parentNumber"])["riskLimitDetail"]
    assert "vega (bot - 2 x sld) 0.00" in detail
    check_invariants(r, quiescent=False)


def test_future_contract_limits_are_accepted_and_do_not_hold_option_orders() -> None:
    r = _rig()
    o = r.order(orderPrcLimit=4.95, orderSize=4, maxGrpDayFutContractsLn=1,
                maxGrpDayFutContractsAbs=1)
    r.put("SpdrRiskGroupControl", {"riskGroupId": "0000-0000-0000-0000", "accnt": ACCNT,
                                   "riskFirm": "SRCORE", "maxGrpDayFutContractsSh": 1},
          origin=ORIGIN)
    r.advance(5, 5)
    assert _st(r, o)[:4] == ("Active", "None", -1, 4)
    lims = r.engine.manager.brokers[next(iter(r.engine.manager.brokers))].risk_lims
    assert sorted(c.name for c in lims.caps) == ["DayFutCnAbs", "DayFutCnBot", "DayFutCnSld"]
    # no future is listed here: a Future order is refused as before
    f = r.order(secType="Future", secKey=_key(), orderSize=1, groupingCode="0000-0000-0000-0005")
    r.advance(5, 5)
    s = r.state(f["parentNumber"])
    assert s is not None and r.name(BS, "spdrRejectReason", s["spdrRejectReason"]) == "UnknwnFut"


def test_the_account_counter_and_a_top_up_survive_a_restart(tmp_path: Path) -> None:
    r = _rig(tmp_path)
    r.order(orderPrcLimit=5.2, orderSize=2, groupingCode="0000-0000-0000-0007",
            riskGroupId="0000-0000-0000-0007")
    r.advance(5, 5)
    b = r.order(orderPrcLimit=4.95, orderSize=10, maxAccDayDDeltaSh=40000.0)
    r.advance(5, 5)
    assert _st(r, b)[1:4] == ("DayShDDelta", 3, 3)
    acc = r.engine.manager.risk.accs[(ACCNT, "SRCORE")].net()
    r.engine.close()
    r2 = _rig(tmp_path)
    r2.advance(5, 5)
    assert r2.engine.manager.risk.accs[(ACCNT, "SRCORE")].net() == acc
    assert _st(r2, b)[1:4] == ("DayShDDelta", 3, 3)
    # the restarted manager still tops the child up when a sale gives room back
    r2._pn = 0x2000  # (the rig numbers its parents from 0x1001 again)
    _sell(r2, "0000-0000-0000-0009", 2, sec=_key())
    assert _st(r2, b)[1:4] == ("DayShDDelta", 5, 5)
    assert [q for _c, q in _venue(r2, b)] == [5]


def test_a_top_up_racing_a_fill_of_the_whole_old_size() -> None:
    """The venue fills the child's whole old size while its size modify is in flight: the child
    ends there (the modify then finds nothing to change and is ignored), nothing is left stuck
    and the broker works on with new children; no overfill."""
    r = _rig()
    b = r.order(orderPrcLimit=4.9, orderSize=10, maxGrpDayContractsLn=3,
                parentOrderHandling="PostOnly")
    r.advance(5, 5)
    assert _st(r, b)[:4] == ("Active", "GrpOptQtyLn", 3, 3)
    m = r.engine.manager
    bb = m.brokers[m.parents[b["parentNumber"]]]
    (cid, _), = _venue(r, b)
    r.order(orderSide="Sell", orderPrcLimit=4.0, orderSize=2, groupingCode="0000-0000-0000-0009",
            secKey=_key("AAPL", AUG))
    for _ in range(20):  # until the sale fills and the top-up is sent (0.1 ms steps)
        r.advance(0.1)
        c = bb.children.get(cid)
        if c is not None and c.mod is not None:
            break
    c = bb.children[cid]
    assert c.mod is not None and len(c.mod) == 6 and c.mod[5] == 5 and c.size == 3
    assert _st(r, b)[3] == 5  # the ladder shows the new size at once
    # before the modify lands the ask comes down through the child: its 3 fill at the venue
    r.option("AAPL", 200, "Put", 4.7, 4.85, bsz=20, asz=20)
    r.advance(0.05)  # (the engine takes the quote at its next tick)
    assert cid not in bb.children and bb.cum == 3
    r.option("AAPL", 200, "Put", 4.7, 4.95, bsz=20, asz=20)  # back: nothing to take
    r.advance(50, 10)
    assert bb.cum == 3 and all(not x.cancelling and x.mod is None for x in bb.children.values())
    # net +1 (3 bought, 2 sold): 2 of room, a new child rests with them
    assert _st(r, b)[:4] == ("Active", "GrpOptQtyLn", 2, 2)
    assert [q for _c, q in _venue(r, b)] == [2]
    check_invariants(r, quiescent=False)
