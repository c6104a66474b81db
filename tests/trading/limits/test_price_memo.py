"""compute_limits with a PriceMemo gives the limits it gives without one (the memo only skips
pricing rows whose every input it has seen), across calls whose markets partly change."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.trading.limits import (
    LIMIT_CLASS,
    LIMIT_TYPE,
    PRICE_TYPE,
    OrderLimits,
    PriceMemo,
    SeriesMarket,
    compute_limits,
    model_price,
)

_OUT = ("limit_price", "take_limit", "make_limit", "take_prob_limit", "make_prob_limit",
        "take_surf", "make_surf")
_ERR = ("limit_err", "take_err", "make_err")


def _market(rng: np.random.Generator, n: int, n_exp: int) -> SeriesMarket:
    m = SeriesMarket.blank(n)
    eu = rng.random(n) < 0.3
    m.u_prc[:] = np.where(eu, 4500.0, 450.0)
    m.u_bid[:], m.u_ask[:] = m.u_prc - 0.01, m.u_prc + 0.01
    m.u_off[:] = np.where(eu, 12.0, 0.0)
    m.strike[:] = m.u_prc * rng.uniform(0.8, 1.2, n)
    m.years[:] = rng.uniform(0.02, 1.0, n_exp)[rng.integers(0, n_exp, n)]
    m.rate[:] = 0.05
    m.sdiv[:] = np.where(eu, 0.05, 0.012)
    m.cp[:] = rng.choice([1, -1], n)
    m.american[:] = ~eu
    m.price_type[:] = np.where(eu, PRICE_TYPE["Future"], PRICE_TYPE["Equity"])
    m.s_vol[:] = rng.uniform(0.12, 0.45, n)
    m.s_prc[:] = model_price(m.s_vol, m)
    m.s_mark[:] = m.s_prc
    m.bid[:] = np.maximum(m.s_prc - 0.05, 0.0)
    m.ask[:] = m.s_prc + 0.05
    m.avg_width[:] = 0.1
    m.de[:], m.ga[:] = 0.5, 0.01
    return m


def _orders(rng: np.random.Generator, m: SeriesMarket) -> OrderLimits:
    n = len(m)
    o = OrderLimits.blank(n)
    o.side[:] = rng.choice([1, -1], n)
    o.limit_type[:] = LIMIT_TYPE["Vol"]
    o.vol_limit[:] = np.round(m.s_vol + rng.uniform(-0.02, 0.02, n), 3)
    o.take_class[:] = o.make_class[:] = LIMIT_CLASS["SurfProb"]
    o.take_prob[:], o.make_prob[:] = 0.1, 0.3
    o.take_surf_vol_off[:], o.make_surf_vol_off[:] = 0.02, 0.01
    return o


def _same(a: object, b: object) -> None:
    for f in _OUT:
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=0, atol=1e-6, err_msg=f)
    for f in _ERR:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 60), n_exp=st.integers(1, 4),
       moves=st.lists(st.sampled_from(["quote", "underlier", "vol", "none"]), min_size=1,
                      max_size=4))
def test_the_memo_changes_no_limit(seed: int, n: int, n_exp: int, moves: list[str]) -> None:
    rng = np.random.default_rng(seed)
    m = _market(rng, n, n_exp)
    o = _orders(rng, m)
    memo = PriceMemo(max_entries=3 * n)  # small: evictions happen too
    _same(compute_limits(o, m, memo=memo), compute_limits(o, m))
    for move in moves:
        if move == "quote":
            m.bid[:] += 0.01
            m.ask[:] += 0.01
        elif move == "underlier":
            m.u_prc[rng.random(n) < 0.5] += 0.5
        elif move == "vol":
            m.s_vol[:] += 0.005
        _same(compute_limits(o, m, memo=memo), compute_limits(o, m))
    assert len(memo) <= 3 * n


def test_a_quote_only_move_prices_nothing_again() -> None:
    rng = np.random.default_rng(3)
    m = _market(rng, 200, 200)  # no two rows share an expiry: every row priced on its own
    o = _orders(rng, m)
    memo = PriceMemo()
    compute_limits(o, m, memo=memo)
    misses = memo.misses
    m.bid[:] += 0.01
    m.ask[:] += 0.01
    compute_limits(o, m, memo=memo)
    assert memo.misses == misses and memo.hits > 0
    m.u_prc[:5] += 1.0  # five rows' underlier moved: only their prices are new
    compute_limits(o, m, memo=memo)
    assert 0 < memo.misses - misses <= 5 * 3


def test_memo_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PriceMemo(0)
