"""The headroom of trading.md §1.9 per scope (``_risk``): the limits table, offsets, abs
limits, the order and the control side by side (the tighter wins), counters and the EMA-cancel
flows, checked against the formulas worked by hand."""

from __future__ import annotations

import math

import pytest

from openmlink.trading.orders._risk import (
    EMA_TAU_NS,
    Counter,
    M,
    RiskBook,
    compile_limits,
    ema_breach,
    headroom_grew,
    per_unit,
    risk_limit_size,
)

# a put bought: delta -0.4, uPrc 200, 100 per contract, vega 0.3, vol 0.25, 0.126 years
PER = per_unit(1, -0.4, 200.0, 100.0, 0.3, 0.25, 0.126, (0.5, 0, 0, 0, 0, 0.2, 0.1))
WT = 0.3 * 0.25 / math.sqrt(max(0.1, 4 * 0.126)) * 100.0  # wtVega per contract


def _lims(order: dict[str, float] | None = None, control: dict[str, float] | None = None):
    o = order or {}
    return compile_limits(o.get, frozenset(o), control)


def _size(caps, nets=None):
    z = [0.0] * M
    return risk_limit_size(caps, PER, nets or (z, z, z, z))


def test_per_contract_metrics() -> None:
    assert PER[0] == pytest.approx(-8000.0) and PER[1] == pytest.approx(30.0)
    assert PER[2] == 1.0 and PER[3] == pytest.approx(WT)
    assert PER[4] == pytest.approx(50.0) and PER[9] == pytest.approx(20.0)
    assert PER[10] == pytest.approx(10.0)  # rMetric7 0.1 per share x 100
    sold = per_unit(-1, -0.4, 200.0, 100.0, 0.3, 0.25, 0.126)
    assert len(sold) == 4  # no rMetric set: the tail is left off (counts 0)
    assert len(per_unit(1, -0.4, 200.0, 100.0, 0.3, 0.25, 0.126, (0.5, 0, 0, 0, 0, 0, 0))) == 5
    assert sold[0] == pytest.approx(8000.0) and sold[1] == pytest.approx(-30.0) and sold[2] == -1
    stock = per_unit(-1, 1.0, 200.0, 1.0, 0.0, 0.0, 0.0, stock=True)
    assert stock[:4] == (-200.0, 0.0, 0.0, 0.0)


def test_the_account_scope_with_its_offsets() -> None:
    z = [0.0] * M
    acc = list(z)
    acc[0], acc[3] = -20000.0, 2 * WT  # the account's other groups: 2.5 puts bought
    nets = (z, z, z, acc)
    # short $delta: 40000 + (-20000 - 0) = 20000 of room, 8000 per put -> 2
    assert _size(_lims({"maxAccDayDDeltaSh": 40000.0}).caps, nets)[:2] == (2, "DayShDDelta")
    # the offset is the target position: 40000 + (-20000 - (-8000)) -> 3
    assert _size(_lims({"maxAccDayDDeltaSh": 40000.0, "accDayDDeltaOffset": -8000.0}).caps,
                 nets)[:2] == (3, "DayShDDelta")
    size, desc, detail = _size(_lims({"maxAccDayWtVegaLn": 5 * WT}).caps, nets)
    assert (size, desc) == (3, "DayLnWtVe") and "account wtVega" in detail
    # a child moving away from the limit is not held by it
    assert _size(_lims({"maxAccDayWtVegaSh": 1.0}).caps, nets)[:2] == (-1, "None")


def test_future_contract_limits_bind_a_future_child_only() -> None:
    fut = per_unit(1, 1.0, 5000.0, 50.0, 0.0, 0.0, 0.0, future=True)
    assert fut[0] == pytest.approx(250000.0) and fut[1:4] == (0.0, 0.0, 0.0) and fut[-1] == 1.0
    assert len(fut) == M
    z = [0.0] * M
    grp = list(z)
    grp[M - 1] = 3.0  # three future contracts bought
    lims = _lims({"maxGrpDayFutContractsLn": 5, "maxGrpDayFutContractsAbs": 4})
    assert risk_limit_size(lims.caps, fut, (grp, z, z, z))[:2] == (1, "DayFutCnAbs")
    sold = per_unit(-1, 1.0, 5000.0, 50.0, 0.0, 0.0, 0.0, future=True)
    assert risk_limit_size(lims.caps, sold, (grp, z, z, z))[:2] == (7, "DayFutCnAbs")
    assert risk_limit_size(_lims({"maxGrpDayFutContractsSh": 2}).caps, sold,
                           (grp, z, z, z))[:2] == (5, "DayFutCnSld")
    # an option child carries no future contract: the limit never holds it
    assert _size(lims.caps, (grp, z, z, z)) == (-1, "None", "")


def test_a_vega_ratio_moves_the_neutral_point_of_the_group_vega_limits() -> None:
    c = Counter()
    c.add(1, PER, 4)  # 120 vega bought
    c.add(-1, per_unit(-1, -0.4, 200.0, 100.0, 0.3, 0.25, 0.126), 1)  # 30 sold
    z = [0.0] * M
    nets = (c.net(), z, z, z)
    sold = per_unit(-1, -0.4, 200.0, 100.0, 0.3, 0.25, 0.126)
    plain = _lims({"maxGrpDayVegaLn": 150.0, "maxGrpDayVegaSh": 30.0})
    assert risk_limit_size(plain.caps, PER, nets, c, 1)[:2] == (2, "GrpVegaLn")  # 150 - 90
    assert risk_limit_size(plain.caps, sold, nets, c, -1)[:2] == (4, "GrpVegaSh")  # 30 + 90
    # ratio 2: neutral is bot = 2 x sld, the limits see 120 - 2 x 30 = 60, a sale moves 60
    rat = _lims({"maxGrpDayVegaLn": 150.0, "maxGrpDayVegaSh": 30.0, "grpDayVegaRatio": 2.0})
    assert rat.ratios and not plain.ratios
    assert risk_limit_size(rat.caps, PER, nets, c, 1)[:2] == (3, "GrpVegaLn")  # 90 / 30
    size, desc, detail = risk_limit_size(rat.caps, sold, nets, c, -1)
    assert (size, desc) == (1, "GrpVegaSh")  # (30 + 60) / 60
    assert "bot - 2 x sld" in detail
    # abs 100 of |60|: a buy has 40 of room (one of 30), a sale 160 (two of 60)
    ab = _lims({"maxGrpDayVegaAbs": 100.0, "grpDayVegaRatio": 2.0})
    assert risk_limit_size(ab.caps, PER, nets, c, 1)[:2] == (1, "GrpVegaAbs")
    assert risk_limit_size(ab.caps, sold, nets, c, -1)[:2] == (2, "GrpVegaAbs")
    # the ratio applies to the group vega and rMetric1 limits only, from the same source
    assert [cap.ratio for cap in _lims({"maxGrpDayVegaLn": 1.0, "maxSymDayVegaLn": 1.0,
                                        "grpDayVegaRatio": 2.0}).caps] == [2.0, 1.0]
    assert [cap.ratio for cap in _lims({"maxGrpDayRMetric1Ln": 1.0, "grpDayRMetric1Ratio": 0.5},
                                       {"maxGrpDayVegaLn": 1.0}).caps] == [0.5, 1.0]


def test_nothing_set_compiles_to_no_limits() -> None:
    lims = _lims({"orderSize": 5})
    assert not lims.caps and not lims.emas
    assert _size(lims.caps) == (-1, "None", "")
    # 0 and -1 are no limit
    assert not _lims({"maxSymDayVegaLn": 0.0, "maxSymDayVegaSh": -1.0}).caps


@pytest.mark.parametrize("fields, size, desc", [
    ({"maxSymDayDDeltaSh": 20000.0}, 2, "SymDDeltaSh"),          # 20000 / 8000
    ({"maxSymDayDDeltaSh": 20000.0, "symDayDDeltaOffset": -8000.0}, 3, "SymDDeltaSh"),
    ({"maxSymDayVegaLn": 100.0}, 3, "SymVegaLn"),                 # 100 / 30
    ({"maxSymDayWtVegaLn": 50.0}, 4, "SymWtVegaLn"),              # 50 / 10.57
    ({"maxSymDayRMetric7Ln": 35.0}, 3, "SymRm7Ln"),
    ({"maxExpDayWtVegaLn": 25.0}, 2, "ExpWtVegaLn"),
    ({"maxExpDayWtVegaLn": 25.0, "expDayWtVegaOffset": 20.0}, 4, "ExpWtVegaLn"),
    ({"maxExpDayRMetric6Ln": 70.0}, 3, "ExpRm6Ln"),
    ({"maxGrpDayRMetric1Ln": 120.0}, 2, "GrpRm1Ln"),
    ({"maxGrpDayRMetric1Abs": 160.0}, 3, "GrpRm1Abs"),
    ({"maxGrpDayDDeltaSh": 9000.0, "maxSymDayVegaLn": 100.0}, 1, "GrpDdSh"),
])
def test_headroom_of_each_scope(fields: dict[str, float], size: int, desc: str) -> None:
    got = _size(_lims(fields).caps)
    assert got[:2] == (size, desc), got


def test_limits_the_child_moves_away_from_do_not_bind() -> None:
    # buying a put makes $delta shorter and vega longer: the long $delta and short vega limits
    # do not cap it
    assert _size(_lims({"maxSymDayDDeltaLn": 1.0, "maxSymDayVegaSh": 1.0}).caps)[0] == -1


def test_counters_per_scope_and_offsets() -> None:
    z = [0.0] * M
    sym = [0.0] * M
    sym[0] = -16000.0  # two puts already bought in the symbol
    caps = _lims({"maxSymDayDDeltaSh": 30000.0}).caps
    assert _size(caps, (z, sym, z))[0] == 1  # 30000 - 16000 = 14000 -> 1
    assert _size(caps, (sym, z, z))[0] == 3  # the group's counter is not the symbol's
    caps = _lims({"maxSymDayDDeltaSh": 30000.0, "symDayDDeltaOffset": -16000.0}).caps
    assert _size(caps, (z, sym, z))[0] == 3  # the offset is the target: 30000 + 0


def test_abs_limit_moves_with_the_sign() -> None:
    z = [0.0] * M
    g = [0.0] * M
    g[4] = -100.0  # rMetric1 net short 100: buying (+50 each) has 160 + 100 of room
    size, desc, _ = _size(_lims({"maxGrpDayRMetric1Abs": 160.0}).caps, (g, z, z))
    assert (size, desc) == (5, "GrpRm1Abs")


def test_order_and_control_both_apply_the_tighter_wins() -> None:
    caps = _lims({"maxSymDayVegaLn": 200.0}, {"maxSymDayVegaLn": 100.0}).caps
    size, desc, detail = _size(caps)
    assert (size, desc) == (3, "SymVegaLn") and "SpdrRiskGroupControl" in detail
    caps = _lims({"maxSymDayVegaLn": 60.0}, {"maxSymDayVegaLn": 100.0}).caps
    size, desc, detail = _size(caps)
    assert size == 2 and "SpdrRiskGroupControl" not in detail
    # each with its own offset: the control's offset does not move the order's limit
    caps = _lims({"maxSymDayVegaLn": 100.0},
                 {"maxSymDayVegaLn": 100.0, "symDayVegaOffset": 90.0}).caps
    assert _size(caps)[0] == 3


def test_unknown_greeks_hold_when_a_limit_needs_them() -> None:
    per = per_unit(1, math.nan, 200.0, 100.0, math.nan, 0.25, 0.126)
    z = [0.0] * M
    size, desc, detail = risk_limit_size(_lims({"maxSymDayVegaLn": 100.0}).caps, per, (z, z, z))
    assert (size, desc) == (0, "SymVegaLn") and "unknown" in detail
    # contracts need no greeks
    assert risk_limit_size(_lims({"maxGrpDayContractsLn": 4}).caps, per, (z, z, z))[0] == 4


def test_counter_sides_and_body_round_trip() -> None:
    c = Counter()
    c.add(1, PER, 2)
    c.add(-1, per_unit(-1, -0.4, 200.0, 100.0, 0.3, 0.25, 0.126), 1)
    assert c.dd_bot == pytest.approx(-16000.0) and c.dd_sld == pytest.approx(-8000.0)
    assert c.qty_bot == 2 and c.qty_sld == 1 and c.net()[2] == 1
    assert c.bot[3] == pytest.approx(2 * WT) and c.sld[3] == pytest.approx(WT)
    back = Counter.from_body(c.body())
    assert back.bot == c.bot and back.sld == c.sld and back.counter == 2
    # a journal row of the three-metric counter restores
    old = Counter.from_body({"dd_bot": 1.0, "dd_sld": 2.0, "ve_bot": 3.0, "ve_sld": 4.0,
                             "qty_bot": 5.0, "qty_sld": 6.0, "counter": 7})
    assert old.net()[:3] == [-1.0, -1.0, -1.0] and old.counter == 7
    # an unknown metric (no greeks when the child was sent) counts nothing
    c.add(1, (math.nan, math.inf, 1.0, 0.0), 1)
    assert c.dd_bot == pytest.approx(-16000.0) and c.qty_bot == 3
    # a child journaled with the three-metric vector charges those three
    old.add(1, (10.0, 1.0, 1.0), 1)
    assert old.bot[:4] == [11.0, 4.0, 6.0, 0.0]


def test_risk_book_charges_symbol_and_expiry_but_not_a_stock_expiry() -> None:
    r = RiskBook()
    g, s, e = ("A", "F", 1), ("A", "F", "AAPL"), ("A", "F", "AAPL-2025-07-18")
    r.charge(g, s, e, 1, PER, 3)
    r.charge(g, s, None, 1, per_unit(1, 1.0, 200.0, 1.0, 0, 0, 0, stock=True), 100)
    nets = r.nets(g, s, e, acc=True)
    assert nets[0][0] == pytest.approx(-24000 + 20000) == nets[1][0] == nets[3][0]
    assert nets[2][0] == pytest.approx(-24000.0)
    assert r.nets(g, s, e)[3] == [0.0] * len(nets[3])  # the account counter read only if asked
    # the account counter (accnt, clientFirm) is every group's of the account
    r.charge(("A", "F", 2), s, e, 1, PER, 1)
    assert r.nets(g, s, e, acc=True)[3][0] == pytest.approx(-24000 + 20000 - 8000)
    assert r.nets(g, s, e, acc=True)[0][0] == pytest.approx(-24000 + 20000)
    assert r.dirty == {("sym", s), ("exp", e), ("acc", ("A", "F"))}


def test_the_book_notes_which_way_each_accounts_nets_moved() -> None:
    r = RiskBook()
    g, s, e = ("A", "F", 1), ("A", "F", "AAPL"), ("A", "F", "AAPL-2025-07-18")
    r.charge(g, s, e, 1, PER, 1)  # a put bought: $delta down, vega/contracts/wtVega/rm up
    m = r.moved[("A", "F")]
    assert headroom_grew("GrpDdLn", m) and not headroom_grew("GrpDdSh", m)
    assert headroom_grew("GrpOptQtySh", m) and not headroom_grew("GrpOptQtyLn", m)
    assert headroom_grew("GrpVegaAbs", m) and headroom_grew("DayShWtVe", m)
    assert not headroom_grew("DayLnWtVe", m) and not headroom_grew("SymRm7Ln", m)
    r.moved.clear()
    r.charge(g, s, e, 1, PER, -1)  # that fill busted: every net back the other way
    m = r.moved[("A", "F")]
    assert headroom_grew("GrpOptQtyLn", m) and not headroom_grew("GrpOptQtySh", m)
    # holds that are not headroom limits (an EMA-cancel breach) are always looked at again
    assert headroom_grew("SymEmaDdSh", 0)


def test_ema_decays_and_a_breach_lasts_until_the_flow_is_back_within() -> None:
    r = RiskBook()
    key = ("sym", "A", "F", "AAPL")
    lims = _lims({"symEmaCxlDDeltaSh": 10000.0, "symEmaCxlWtVegaLn": 1e9}).emas
    assert [e.name for e in lims] == ["SymEmaDdSh", "SymEmaWvLn"]
    r.ema_fill((key,), PER, 1, 0)
    v = r.ema_values(key, 0)
    assert v is not None and v[0] == pytest.approx(-8000.0)
    assert ema_breach(lims, (v, None)) is None
    t = 2 * EMA_TAU_NS
    r.ema_fill((key,), PER, 1, t)  # two minutes later the first fill counts 1/e^2
    v = r.ema_values(key, t)
    assert v is not None and v[0] == pytest.approx(-8000.0 * (1 + math.exp(-2)))
    assert ema_breach(lims, (v, None)) is None  # -9083 is within -10000
    r.ema_fill((key,), PER, 1, t)
    v = r.ema_values(key, t)
    hit = ema_breach(lims, (v, None))
    assert hit is not None and hit[0].name == "SymEmaDdSh"
    until = r.breach(key, hit[0], hit[1], t)
    # back within at 60 s ln(|E| / limit)
    assert until - t == pytest.approx(EMA_TAU_NS * math.log(abs(hit[1]) / 10000.0),
                                               abs=2)
    assert r.held((key,), until - 1) is not None
    assert abs(r.ema_values(key, until)[0]) <= 10000.0  # type: ignore[index]
    assert r.held((key,), until) is None and key not in r.breaches
