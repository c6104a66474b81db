"""The symbol and expiry risk scopes, the rMetric limits, SpdrRiskGroupControl limit fields and
EMA-cancel through the order manager (trading.md §1.9, §6.2 invariant 9)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from openmlink.schema import OptionKey
from tests.support.trading import ACCNT, ORIGIN, TradingRig, check_invariants

BS = "SpdrParentBrkrState"
AUG = "2025-08-15"
DD_PUT = -0.4 * 200.0 * 100.0  # $delta of one put bought
WT = 0.3 * 0.25 / math.sqrt(4 * 0.126) * 100.0  # wtVega of one put bought


def _rig(data_dir: Path | None = None) -> TradingRig:
    r = TradingRig(data_dir=data_dir)
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1, bsz=20, asz=20)
    r.option("AAPL", 200, "Put", 5.9, 6.1, bsz=20, asz=20, expiry=AUG)
    r.stock("MSFT", 399.9, 400.1)
    r.option("MSFT", 400, "Put", 4.9, 5.1, uprc=400.0)
    return r


def _key(tk: str = "AAPL", dt: str = "2025-07-18", xx: float = 200) -> dict[str, Any]:
    return {"at": "EQT", "ts": "NMS", "tk": tk, "dt": dt, "xx": xx, "cp": "Put"}


def _control(r: TradingRig, group: str, **limits: Any) -> None:
    r.put("SpdrRiskGroupControl", {"riskGroupId": group, "accnt": ACCNT, "riskFirm": "SRCORE",
                                   **limits}, origin=ORIGIN)


def _st(r: TradingRig, o: dict[str, Any]) -> tuple[str, str, str, int, int, str]:
    s = r.state(o["parentNumber"])
    assert s is not None
    return (r.name(BS, "spdrOrderStatus", s["spdrOrderStatus"]),
            r.name(BS, "spdrBrokerStatus", s["spdrBrokerStatus"]),
            r.name(BS, "riskLimitDesc", s["riskLimitDesc"]), s["riskLimitSize"], s["csz1"],
            s["spdrComment"])


def _fill_two(r: TradingRig, code: str, group: str, sec: dict[str, Any] | None = None,
              px: float = 5.2) -> dict[str, Any]:
    """A marketable buy of 2 puts that fills and closes."""
    o = r.order(orderPrcLimit=px, orderSize=2, groupingCode=code, riskGroupId=group,
                secKey=sec or _key())
    r.advance(5, 5)
    assert _st(r, o)[:2] == ("Closed", "Closed")
    return o


def test_a_control_symbol_limit_counts_every_group_of_the_account_in_the_symbol() -> None:
    r = _rig()
    _fill_two(r, "0000-0000-0000-0009", "0000-0000-0000-0007")  # group 7: -16000 $delta
    _control(r, "0000-0000-0000-0008", maxSymDayDDeltaSh=20000.0)
    b = r.order(orderPrcLimit=4.95, orderSize=5, riskGroupId="0000-0000-0000-0008")
    m = r.order(orderPrcLimit=4.95, orderSize=5, riskGroupId="0000-0000-0000-0008",
                secKey=_key("MSFT", xx=400), groupingCode="0000-0000-0000-0003")
    r.advance(5, 5)
    st, bst, desc, size, csz, why = _st(r, b)
    assert (st, bst, desc, size, csz) == ("New", "ActiveHold", "SymDDeltaSh", 0, 0)
    assert "maxSymDayDDeltaSh 20000 (SpdrRiskGroupControl)" in why and "symbol" in why
    assert not r.engine.manager.venue.live_children(b["parentNumber"])
    s = r.state(b["parentNumber"])
    assert r.name(BS, "riskLimitLevel", s["riskLimitLevel"]) == "RiskGroup"
    # another symbol has its own counter: 20000 / 16000 per MSFT put -> 1
    assert _st(r, m)[1:5] == ("Active", "SymDDeltaSh", 1, 1)
    # the control's limit raised: the order works again, capped by the new headroom
    _control(r, "0000-0000-0000-0008", maxSymDayDDeltaSh=40000.0)
    r.advance(5, 5)
    assert _st(r, b)[1:5] == ("Active", "SymDDeltaSh", 3, 3)
    # and taken away: no limit at all; the resting child is topped up to the whole order (a
    # venue modify of its size: the same child, now 5 at the venue)
    kids = r.engine.manager.venue.live_children(b["parentNumber"])
    _control(r, "0000-0000-0000-0008", maxSymDayDDeltaSh=0.0)
    r.advance(5, 5)
    assert _st(r, b)[1:5] == ("Active", "None", -1, 5)
    after = r.engine.manager.venue.live_children(b["parentNumber"])
    assert [c.child.child_id for c in after] == [c.child.child_id for c in kids]
    assert [c.leaves for c in after] == [5]
    check_invariants(r, quiescent=False)


def test_the_order_and_the_control_both_apply_the_tighter_wins() -> None:
    r = _rig()
    _control(r, "0000-0000-0000-0008", maxSymDayVegaLn=100.0)
    loose = r.order(orderPrcLimit=4.95, orderSize=10, riskGroupId="0000-0000-0000-0008",
                    maxSymDayVegaLn=200.0)
    tight = r.order(orderPrcLimit=4.95, orderSize=10, riskGroupId="0000-0000-0000-0008",
                    maxSymDayVegaLn=60.0, groupingCode="0000-0000-0000-0002")
    r.advance(5, 5)
    assert _st(r, loose)[1:5] == ("Active", "SymVegaLn", 3, 3)  # the control's 100 / 30
    assert _st(r, tight)[1:5] == ("Active", "SymVegaLn", 2, 2)  # its own 60 / 30


def test_the_expiry_scope_counts_its_expiration_only() -> None:
    r = _rig()
    _fill_two(r, "0000-0000-0000-0009", "0000-0000-0000-0007")  # July: 2 WT of wtVega
    jul = r.order(orderPrcLimit=4.95, orderSize=10, maxExpDayWtVegaLn=40.0)
    aug = r.order(orderPrcLimit=5.95, orderSize=10, maxExpDayWtVegaLn=40.0, secKey=_key(dt=AUG),
                  groupingCode="0000-0000-0000-0002")
    r.advance(5, 5)
    assert _st(r, jul)[2:5] == ("ExpWtVegaLn", math.floor((40 - 2 * WT) / WT), 1)
    assert _st(r, aug)[2:5] == ("ExpWtVegaLn", math.floor(40 / WT), 3)


def test_rmetric_limits_follow_the_reference_value_of_the_limit_record() -> None:
    r = _rig()
    o = r.order(orderPrcLimit=4.95, orderSize=10, maxGrpDayRMetric1Ln=120.0, orderRefRMetric1=0.5)
    r.advance(5, 5)
    assert _st(r, o)[2:5] == ("GrpRm1Ln", 2, 2)  # 120 / (0.5 x 100)
    r.limit(orderRefRMetric1=0.25)
    r.advance(5, 5)
    # the headroom doubles: the resting child is topped up to it
    assert _st(r, o)[2:5] == ("GrpRm1Ln", 4, 4)
    # fills count rMetric1 in RiskGroupCounter
    r.option("AAPL", 200, "Put", 4.9, 4.95, bsz=20, asz=20)
    r.advance(5, 10)
    g = r.published("RiskGroupCounter")[-1]
    s = r.state(o["parentNumber"])
    assert s["cumFillQuantity"] > 0
    assert g["rm1BotIocFilled"] == pytest.approx(25.0 * s["cumFillQuantity"])
    assert g["wtVeBotIocFilled"] == pytest.approx(WT * s["cumFillQuantity"])


def test_scope_counters_equal_the_fills_after_a_restart(tmp_path: Path) -> None:
    r1 = _rig(tmp_path)
    _fill_two(r1, "0000-0000-0000-0009", "0000-0000-0000-0007")
    _fill_two(r1, "0000-0000-0000-000A", "0000-0000-0000-0008", _key(dt=AUG), px=6.2)
    risk1 = r1.engine.manager.risk
    syms1 = {k: c.net() for k, c in risk1.syms.items()}
    exps1 = {k: c.net() for k, c in risk1.exps.items()}
    check_invariants(r1, quiescent=True)
    r2 = TradingRig(data_dir=tmp_path)  # the first process died without closing
    risk2 = r2.engine.manager.risk
    assert {k: c.net() for k, c in risk2.syms.items()} == syms1
    assert {k: c.net() for k, c in risk2.exps.items()} == exps1
    okey = OptionKey("EQT", "NMS", "AAPL", "2025-07-18", 200.0, "Put")
    assert syms1[(ACCNT, "SRCORE", okey.ticker)][0] == pytest.approx(4 * DD_PUT)
    assert exps1[(ACCNT, "SRCORE", okey.expiry)][0] == pytest.approx(2 * DD_PUT)


def test_an_ema_breach_pulls_every_option_child_of_the_symbol_until_the_flow_decays(
        tmp_path: Path) -> None:
    r = _rig(tmp_path)
    watcher = r.order(orderPrcLimit=4.95, orderSize=5, symEmaCxlDDeltaSh=10000.0)
    plain = r.order(orderPrcLimit=5.95, orderSize=5, secKey=_key(dt=AUG),
                    groupingCode="0000-0000-0000-0002")
    other = r.order(orderPrcLimit=4.95, orderSize=5, secKey=_key("MSFT", xx=400),
                    groupingCode="0000-0000-0000-0003")
    stock = r.order(secKey={"at": "EQT", "ts": "NMS", "tk": "AAPL"}, secType="Stock",
                    orderPrcLimit=199.0, orderSize=100, groupingCode="0000-0000-0000-0004")
    r.advance(5, 5)
    for o in (watcher, plain, other, stock):
        assert _st(r, o)[1] == "Active" and _st(r, o)[4] > 0
    # 2 puts bought: 60 s EMA of $delta -16000, beyond the watcher's short 10000
    _fill_two(r, "0000-0000-0000-0009", "0000-0000-0000-0007")
    venue = r.engine.manager.venue
    for o in (watcher, plain):  # every option order in AAPL: children pulled, held
        _, bst, desc, size, csz, why = _st(r, o)
        assert (bst, desc, size, csz) == ("ActiveHold", "SymEmaDdSh", 0, 0), why
        assert "symEmaCxlDDeltaSh 10000" in why and not venue.live_children(o["parentNumber"])
    assert _st(r, other)[1] == "Active" and _st(r, other)[4] > 0  # another symbol
    assert _st(r, stock)[1] == "Active" and _st(r, stock)[4] > 0  # not an option
    check_invariants(r, quiescent=False)
    # the hold outlives a restart (the flow and the breach are journaled)
    r = TradingRig(data_dir=tmp_path)
    r.stock("AAPL", 199.9, 200.1)
    r.advance(5, 5)
    assert _st(r, watcher)[1:3] == ("ActiveHold", "SymEmaDdSh")
    # back within the limit after 60 s ln(16000 / 10000) = 28.2 s: both work again
    r.advance(27_000, 27)
    assert _st(r, plain)[1] == "ActiveHold"
    r.advance(2_000, 2)
    for o in (watcher, plain):
        assert _st(r, o)[1:5] == ("Active", "None", -1, 5)


def test_a_control_account_ema_limit_pulls_the_option_children_of_every_symbol() -> None:
    r = _rig()
    _control(r, "0000-0000-0000-0008", accEmaCxlDDeltaSh=10000.0)
    aapl = r.order(orderPrcLimit=4.95, orderSize=5, riskGroupId="0000-0000-0000-0008")
    msft = r.order(orderPrcLimit=4.95, orderSize=5, secKey=_key("MSFT", xx=400),
                   groupingCode="0000-0000-0000-0003")
    r.advance(5, 5)
    assert _st(r, aapl)[1] == "Active" and _st(r, msft)[1] == "Active"
    _fill_two(r, "0000-0000-0000-0009", "0000-0000-0000-0007")  # the account: -16000
    for o in (aapl, msft):
        _, bst, desc, size, csz, why = _st(r, o)
        assert (bst, desc, size, csz) == ("ActiveHold", "AccEmaDdSh", 0, 0), why
        assert "accEmaCxlDDeltaSh 10000 (SpdrRiskGroupControl)" in why and "account" in why
    check_invariants(r, quiescent=False)


def test_a_bust_takes_its_decayed_flow_off_the_ema_cancel_flows() -> None:
    """Two puts bought (-16,000 $delta of flow, under a 20,000 limit) then busted: the watched
    symbol and account flows lose what is left of them (0), so a third fill's -16,000 does
    not breach; without the reversal the flows would hold -32,000 (a breach)."""
    r = _rig()
    _control(r, "0000-0000-0000-0008", accEmaCxlDDeltaSh=20000.0)
    watcher = r.order(orderPrcLimit=4.95, orderSize=5, symEmaCxlDDeltaSh=20000.0,
                      riskGroupId="0000-0000-0000-0008")
    r.advance(5, 5)
    o = _fill_two(r, "0000-0000-0000-0009", "0000-0000-0000-0008")
    m = r.engine.manager
    keys = m._ema_keys(m.brokers[m.parents[o["parentNumber"]]])
    now = r.clock.time_ns()
    assert [m.risk.ema_values(k, now)[0] for k in keys] == pytest.approx(  # type: ignore[index]
        [2 * DD_PUT] * 2, rel=1e-3)
    fills = [f["fillNumber"] for f in r.published("SpdrParentExecution")
             if f["parentNumber"] == o["parentNumber"]]
    r.advance(2_000, 2)  # 2 s later: the flow decayed by exp(-2/60)
    for fn in dict.fromkeys(fills):
        assert m.adjust_fill(fn, None) is None
    now = r.clock.time_ns()
    for k in keys:  # (within 1e-4 of the fills' flow: decayed from fillDttm, counted at the
        # step's time, which is up to a tick later)
        assert m.risk.ema_values(k, now)[0] == pytest.approx(0, abs=2.0)  # type: ignore[index]
    _fill_two(r, "0000-0000-0000-000A", "0000-0000-0000-0008")
    assert _st(r, watcher)[1] == "Active"
    check_invariants(r, quiescent=False)
