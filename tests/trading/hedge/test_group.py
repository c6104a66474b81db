"""HedgeGroup (trading.md §4.2, §6.2 invariant 12): seed-001 counters and formulas recomputed
from the raw fills, HedgeToZero with instant hedge fills, no hedge while InBand, states."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.trading.hedge import SECONDS_PER_YEAR, BandControl, HedgeGroup

S = 1_000_000_000

fills = st.lists(st.tuples(st.sampled_from([1, -1]), st.integers(1, 50),
                           st.floats(-1.0, 1.0, allow_nan=False), st.floats(50, 150),
                           st.booleans()), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(fills)
def test_net_delta_and_ddelta_equal_the_seed_formulas_from_raw_fills(raw: list) -> None:
    g = HedgeGroup(dd_mult=1.0)
    d = dd = 0.0
    bot = sld = 0.0
    for i, (side, qty, de, u, is_hedge) in enumerate(raw):
        if is_hedge:
            g.hedge_fill(side, qty, u, i * S)
            d += side * qty
            dd += side * qty * u
        else:
            c = g.option_fill(side, qty, de, 100, u, i * S)
            assert c == pytest.approx(side * qty * de * 100)
            d += c
            dd += math.copysign(abs(c) * u, c)
            bot, sld = bot + max(c, 0), sld + max(-c, 0)
    assert g.netDelta == pytest.approx(d, abs=1e-6)
    assert g.netDDelta == pytest.approx(dd, abs=1e-4)
    assert g.grpDeltaBot == pytest.approx(bot) and g.grpDeltaSld == pytest.approx(sld)
    # the open/close split accounts for every unit exactly once
    total = sum(qty if h else abs(qty * de * 100) for _, qty, de, _, h in raw)
    assert g.opnDeltaBot + g.opnDeltaSld + g.clsDeltaBot + g.clsDeltaSld == pytest.approx(total)
    # and what stays open is the net
    assert (g.opnDeltaBot - g.clsDeltaSld) - (g.opnDeltaSld - g.clsDeltaBot) == \
        pytest.approx(d, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, -1]), st.integers(1, 30),
                          st.floats(0.05, 0.95), st.floats(80, 120)), min_size=1, max_size=30))
def test_hedge_to_zero_with_instant_fills_keeps_net_delta_under_one_lot(raw: list) -> None:
    g = HedgeGroup()
    ctl = BandControl("HedgeToZero", min_ddelta=-1.0, max_ddelta=1.0, lot=1)
    for i, (side, qty, de, u) in enumerate(raw):
        g.option_fill(side, qty, de, 100, u, i * S)
        t = g.target(ctl, u)
        if t:
            g.hedge_fill(1 if t > 0 else -1, abs(t), u, i * S + S // 2)
        assert abs(g.netDelta) < 1.0


def test_no_hedge_orders_while_in_band_and_hedge_to_band_stops_at_the_edge() -> None:
    g = HedgeGroup()
    ctl = BandControl("HedgeToBand", min_ddelta=-50_000, max_ddelta=50_000)
    g.option_fill(1, 4, 0.5, 100, 100.0, 0)  # +200 shares = $20,000
    assert g.state(ctl, 100.0) == "InBand" and g.target(ctl, 100.0) == 0
    g.option_fill(1, 10, 0.5, 100, 100.0, S)  # +700 shares = $70,000: long, sell
    assert g.state(ctl, 100.0) == "BandLn"
    assert g.target(ctl, 100.0) == -200  # back to the $50,000 edge
    ctl.hedge_target = "HedgeToZero"
    assert g.target(ctl, 100.0) == -700
    ctl.order_size = 300
    assert g.target(ctl, 100.0) == -300
    g.option_fill(-1, 30, 0.5, 100, 100.0, 2 * S)  # -800 shares: short, buy
    assert g.state(ctl, 100.0) == "BandSh" and g.target(ctl, 100.0) == 300


def test_slippage_and_open_hedge_time_from_a_worked_example() -> None:
    g = HedgeGroup()
    g.option_fill(-1, 1, 0.5, 100, 100.0, 0)  # sold calls: short 50 shares at uMid 100
    assert (g.opnDeltaSld, g.opnDDeltaSld) == (50, 5000)
    g.hedge_fill(1, 30, 101.0, 10 * S)  # bought 30 at 101 after 10 s
    g.hedge_fill(1, 20, 102.0, 20 * S)  # and 20 at 102 after 20 s
    assert g.netDelta == 0 and g.clsDeltaBot == 50
    cls_prc_bot = (30 * 101 + 20 * 102) / 50
    assert g.slippagePnL == pytest.approx(50 * (100 - cls_prc_bot))
    assert g.slippageUnitPnL == pytest.approx(g.slippagePnL / 50)
    assert g.openHedgeTime == pytest.approx((30 * 10 + 20 * 20) / 50)
    rng = 100.0 * 0.3 * math.sqrt(g.openHedgeTime / SECONDS_PER_YEAR)
    assert g.expected_prc_range(0.3) == pytest.approx(rng)
    assert g.slippage_norm(0.3) == pytest.approx(g.slippageUnitPnL / rng)


def test_states() -> None:
    g = HedgeGroup()
    ctl = BandControl()
    assert g.state(None, 100.0) == "NoHedgeCtrl"
    assert g.state(ctl, 100.0) == "Init"
    assert g.state(ctl, 0.0) == "UPrcErr"
    assert g.state(ctl, 100.0, underliers_per_cn=0) == "UndPerCnErr"
    assert HedgeGroup(dd_mult=0.0).state(ctl, 100.0) == "DDMultErr"
    g.option_fill(1, 1, 0.5, 100, 100.0, 0)
    assert g.state(ctl, 100.0) == "BandLn" and g.target(ctl, 100.0) == -50
    assert g.target(ctl, math.nan) == 0  # no price: no order


def test_hedge_to_band_lands_inside_the_band_and_an_exact_edge_is_in_band() -> None:
    """Regression (found by the random invariant-12 test): 3 puts at delta -0.4 are
    -120.00000000000001 shares; hedged to the -$20,000 edge at 200 the group must read InBand,
    not BandSh with a zero target (stuck: nothing to send, never in the band)."""
    g = HedgeGroup()
    ctl = BandControl("HedgeToBand", -20_000.0, 20_000.0)
    g.option_fill(1, 3, -0.4, 100, 200.0, 0)
    assert g.state(ctl, 200.0) == "BandSh" and g.target(ctl, 200.0) == 20
    g.hedge_fill(1, 20, 200.0, 1)
    assert g.state(ctl, 200.0) == "InBand" and g.target(ctl, 200.0) == 0
    g.option_fill(1, 1, -0.0125, 100, 200.0, 2)  # -1.25 shares more: 1.25 outside -> buy 2
    assert g.state(ctl, 200.0) == "BandSh" and g.target(ctl, 200.0) == 2
