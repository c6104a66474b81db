"""Limit kernels against hand-computed values: primary limits per orderLimitType, limit
classes, errors, tick rounding, make-child prices per balance handling, public sizes."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.analytics import price
from openmlink.trading.limits import (
    BALANCE,
    LIMIT_CLASS,
    LIMIT_ERR,
    LIMIT_TYPE,
    PRICE_TYPE,
    PUBLIC_SIZE,
    LimitModel,
    OrderLimits,
    SeriesMarket,
    child_prices,
    child_size,
    child_sizes,
    compute_limits,
    model_price,
    round_to_tick,
    split_size,
    split_sizes,
    tick_sizes,
)

E = LIMIT_ERR


def _market(n: int = 1, **cols: float) -> SeriesMarket:
    m = SeriesMarket.blank(n)
    base = dict(bid=1.00, ask=1.10, bid_size=10, ask_size=20, u_bid=99.99, u_ask=100.01,
                u_prc=100.0, s_vol=0.25, s_prc=1.05, s_mark=1.05, de=0.4, ga=0.05, years=0.25,
                rate=0.05, sdiv=0.01, strike=105.0, avg_width=0.10)
    base.update(cols)
    for k, v in base.items():
        getattr(m, k)[:] = v
    return m


def _orders(n: int = 1, limit_type: str = "Prc", side: int = 1, **cols: object) -> OrderLimits:
    o = OrderLimits.blank(n)
    o.side[:] = side
    o.limit_type[:] = LIMIT_TYPE[limit_type]
    for k, v in cols.items():
        a = getattr(o, k)
        a[:] = LIMIT_CLASS[v] if k.endswith("_class") else v
    return o


def _one(o: OrderLimits, m: SeriesMarket, model: LimitModel | None = None) -> dict[str, float]:
    r = compute_limits(o, m) if model is None else compute_limits(o, m, model)
    return {f: getattr(r, f)[0].item() for f in r.__dataclass_fields__}


# ---------------------------------------------------------------- primary limits
def test_prc_limit_with_offset_is_more_aggressive_for_either_side() -> None:
    m = _market()
    buy = _one(_orders(prc_limit=1.02, prc_offset=0.01), m)
    sell = _one(_orders(side=-1, prc_limit=1.02, prc_offset=0.01), m)
    assert buy["limit_price"] == pytest.approx(1.03)
    assert sell["limit_price"] == pytest.approx(1.01)
    assert buy["take_limit"] == buy["make_limit"] == pytest.approx(1.03)  # Simple class
    assert buy["limit_err"] == E["None"]


def test_prc_limit_missing_is_an_error_not_a_price() -> None:
    r = _one(_orders(prc_limit=np.nan), _market())
    assert math.isnan(r["limit_price"]) and math.isnan(r["take_limit"]) and math.isnan(r["make_limit"])
    assert r["limit_err"] == r["take_err"] == r["make_err"] == E["LmtPrcErr"]


def test_prcde_moves_the_limit_with_the_underlier() -> None:
    # P = 1.00 + 0.4 (101 - 100) + 0.5 * 0.05 * 1^2 with the underlier mid at 101
    m = _market(u_bid=100.99, u_ask=101.01)
    r = _one(_orders(limit_type="PrcDe", prc_limit=1.00, ref_uprc=100.0), m)
    assert r["limit_price"] == pytest.approx(1.00 + 0.4 + 0.025)
    # explicit reference delta/gamma win over the live greeks
    r = _one(_orders(limit_type="PrcDe", prc_limit=1.00, ref_uprc=100.0, ref_delta=0.5,
                     ref_gamma=0.0), m)
    assert r["limit_price"] == pytest.approx(1.50)
    # X variant: a sell references the underlier bid
    r = _one(_orders(limit_type="PrcDeX", side=-1, prc_limit=1.00, ref_uprc=100.0, ref_gamma=0.0), m)
    assert r["limit_price"] == pytest.approx(1.00 + 0.4 * 0.99)
    r = _one(_orders(limit_type="PrcDe", prc_limit=1.00), m)
    assert r["limit_err"] == E["RefUPrcErr"]


def test_market_limit_is_ticks_through_the_opposite_side() -> None:
    m = _market(bid=2.95, ask=3.10)
    assert _one(_orders(limit_type="Market"), m)["limit_price"] == pytest.approx(3.10 + 3 * 0.05)
    assert _one(_orders(limit_type="Market", side=-1), m)["limit_price"] == pytest.approx(2.92)
    no_ask = _market(bid=1.0, ask=0.0)
    assert _one(_orders(limit_type="Market"), no_ask)["limit_err"] == E["NoOptNbbo"]
    crossed = _market(bid=1.2, ask=1.1)
    assert _one(_orders(limit_type="Market"), crossed)["limit_err"] == E["CrossOptNbbo"]
    wide = _market(bid=0.05, ask=5.0)
    assert _one(_orders(limit_type="RelMid"), wide)["limit_err"] == E["WideOptNbbo"]


def test_market_arrival_and_relative_limits() -> None:
    m = _market()
    assert _one(_orders(limit_type="MarketArrival", arrive_ask=1.2, arrive_bid=0.9), m)[
        "limit_price"] == pytest.approx(1.2)
    assert _one(_orders(limit_type="MarketArrival", side=-1, arrive_ask=1.2, arrive_bid=0.9), m)[
        "limit_price"] == pytest.approx(0.9)
    assert _one(_orders(limit_type="MarketArrival"), m)["limit_err"] == E["NoOptNbbo"]
    assert _one(_orders(limit_type="RelMid", prc_offset=0.01), m)["limit_price"] == pytest.approx(1.06)
    assert _one(_orders(limit_type="RelJoin", side=-1), m)["limit_price"] == pytest.approx(1.10)
    assert _one(_orders(limit_type="RelCross"), m)["limit_price"] == pytest.approx(1.10)


def test_aux_without_a_limit_record_holds_with_auxlimit() -> None:
    m = _market()
    r = _one(_orders(limit_type="Aux", vol_limit=0.24), m)
    assert r["limit_err"] == E["AuxLimit"] and math.isnan(r["limit_price"])
    # with a record still typed Aux: its price, else its vol
    r = _one(_orders(limit_type="Aux", has_aux=True, prc_limit=1.01), m)
    assert r["limit_price"] == pytest.approx(1.01)
    r = _one(_orders(limit_type="Aux", has_aux=True, vol_limit=0.25), m)
    assert r["limit_price"] == pytest.approx(model_price([0.25], m)[0])
    r = _one(_orders(limit_type="Aux", has_aux=True), m)
    assert r["limit_err"] == E["AuxLimit"]


def test_unsupported_limit_type_is_badlmttype() -> None:
    assert _one(_orders(limit_type="PkgNeutral", prc_limit=1.0), _market())["limit_err"] == E["BadLmtType"]


# ---------------------------------------------------------------- vol limits and the model
def test_vol_limit_european_equals_black76_on_the_forward() -> None:
    m = _market(u_off=0.7)
    m.price_type[:] = PRICE_TYPE["Future"]
    m.american[:] = False
    r = _one(_orders(limit_type="Vol", vol_limit=0.3), m)
    ref = price(100.7, 105.0, 0.25, 0.05, 0.05, 0.3, 1, model="black76")
    assert r["limit_price"] == pytest.approx(float(ref), abs=1e-10)


def test_vol_limit_american_is_close_to_the_reference_american_price() -> None:
    # the limits use the engine's Barone-Adesi-Whaley (so Vol = sVol gives sPrc exactly);
    # analytics.price(american) is the accurate ALO engine: BAW is within half a percent
    m = _market(strike=110.0, cp=-1, ddiv=0.5)
    r = _one(_orders(limit_type="Vol", vol_limit=0.3), m)
    ref = float(price(99.5, 110.0, 0.25, 0.05, 0.01, 0.3, -1, exercise="american"))
    euro = float(price(99.5, 110.0, 0.25, 0.05, 0.01, 0.3, -1))
    assert r["limit_price"] > euro + 0.05  # early exercise premium is there
    assert r["limit_price"] == pytest.approx(ref, rel=0.005)


def test_vol_limit_out_of_range_and_no_underlier() -> None:
    assert _one(_orders(limit_type="Vol", vol_limit=12.0), _market())["limit_err"] == E["BadVolLmt"]
    assert _one(_orders(limit_type="Vol", vol_limit=0.001), _market())["limit_err"] == E["BadVolLmt"]
    m = _market(u_prc=np.nan)
    assert _one(_orders(limit_type="Vol", vol_limit=0.2), m)["limit_err"] == E["NoUPrc"]
    m = _market(u_bid=np.nan)
    assert _one(_orders(limit_type="VolX", side=-1, vol_limit=0.2), m)["limit_err"] == E["NoUPrc"]


def test_volx_prices_a_buy_at_the_underlier_ask() -> None:
    m = _market()
    r = _one(_orders(limit_type="VolX", vol_limit=0.3), m)
    assert r["limit_price"] == pytest.approx(model_price([0.3], m, u=[100.01])[0])


# ---------------------------------------------------------------- limit classes
def test_surface_class_binds_when_more_protective() -> None:
    # doc example (section 2.1): buy, primary 1.00, fair 0.95, offset +0.01 -> 0.96
    m = _market(s_prc=0.95)
    r = _one(_orders(prc_limit=1.00, take_class="Surface", take_surf_prc_off=0.01), m)
    assert r["take_limit"] == pytest.approx(0.96)
    assert r["make_limit"] == pytest.approx(1.00)  # make side stays Simple
    sell = _one(_orders(side=-1, prc_limit=0.90, take_class="Surface", take_surf_prc_off=0.01), m)
    assert sell["take_limit"] == pytest.approx(0.94)


def test_surface_vol_and_width_offsets() -> None:
    m = _market(avg_width=0.2)
    o = _orders(prc_limit=50.0, make_class="Surface", make_surf_vol_off=0.02,
                make_surf_width_off=-1.0)
    r = _one(o, m)
    # buy: price at sVol + 0.02, minus half the average width
    assert r["make_limit"] == pytest.approx(model_price([0.27], m)[0] - 0.1)
    # sell: the vol offset is also taken in the order's direction (sVol - 0.02)
    o = _orders(side=-1, prc_limit=0.01, make_class="Surface", make_surf_vol_off=0.02)
    assert _one(o, m)["make_limit"] == pytest.approx(model_price([0.23], m)[0])
    # vol points unit
    pts = LimitModel(vol_offset_unit=0.01)
    o = _orders(prc_limit=50.0, make_class="Surface", make_surf_vol_off=2.0)
    assert _one(o, m, pts)["make_limit"] == pytest.approx(model_price([0.27], m)[0])


def test_surface_class_without_surface_is_nosurface() -> None:
    m = _market(s_vol=np.nan, s_prc=np.nan)
    r = _one(_orders(prc_limit=1.0, take_class="SurfProb", take_prob=0.2), m)
    assert r["take_err"] == E["NoSurface"] and math.isnan(r["take_limit"])
    assert r["make_limit"] == pytest.approx(1.0) and r["limit_err"] == E["None"]


def test_probability_limit_matches_the_normal_quantile() -> None:
    m = _market(s_mark=1.05, avg_width=0.10)
    z = NormalDist().inv_cdf(0.9)
    r = _one(_orders(prc_limit=2.0, take_class="Probability", take_prob=0.1,
                     make_class="Probability", make_prob=0.5), m)
    assert r["take_limit"] == pytest.approx(1.05 + 0.5 * 0.10 * z)
    assert r["make_limit"] == pytest.approx(1.05)
    assert r["take_prob_limit"] == pytest.approx(0.1)
    s = _one(_orders(side=-1, prc_limit=0.5, take_class="Probability", take_prob=0.1), m)
    assert s["take_limit"] == pytest.approx(1.05 - 0.5 * 0.10 * z)
    bad = _one(_orders(prc_limit=2.0, take_class="Probability", take_prob=1.5), m)
    assert bad["take_err"] == E["ProbRng"]


def test_surfprob_takes_the_most_protective_of_three() -> None:
    m = _market(s_prc=1.02, s_mark=1.05, avg_width=0.1)
    o = _orders(2, prc_limit=1.10, take_class="SurfProb", take_prob=0.3)
    o.side[1] = -1
    o.prc_limit[1] = 0.90
    r = compute_limits(o, m.take(np.array([0, 0])))
    pp = 1.05 + 0.05 * NormalDist().inv_cdf(0.7)
    assert r.take_limit[0] == pytest.approx(min(1.10, 1.02, pp))
    assert r.take_limit[1] == pytest.approx(max(0.90, 1.02, 1.05 - 0.05 * NormalDist().inv_cdf(0.7)))


def test_seed_example_aux_then_vol_sell_put() -> None:
    """Seed 000 example 5: Sell put, Aux -> Vol 0.275, SurfProb take 0.1 / make 0.3,
    surf vol offset 0.1 on both sides."""
    m = _market(cp=-1, strike=200.0, u_prc=210.0, u_bid=209.99, u_ask=210.01, s_vol=0.26,
                years=0.5, avg_width=0.10)
    m.s_prc[:] = model_price(m.s_vol, m)
    m.s_mark[:] = m.s_prc
    m.bid[:] = m.s_prc - 0.05
    m.ask[:] = m.s_prc + 0.05
    step1 = _orders(limit_type="Aux", side=-1, take_class="SurfProb", make_class="SurfProb",
                    take_prob=0.1, make_prob=0.3, vol_limit=0.24)
    assert _one(step1, m)["limit_err"] == E["AuxLimit"]
    step2 = _orders(limit_type="Vol", side=-1, has_aux=True, vol_limit=0.275, take_class="SurfProb",
                    make_class="SurfProb", take_prob=0.1, make_prob=0.3, take_surf_vol_off=0.1,
                    make_surf_vol_off=0.1)
    r = _one(step2, m)
    p = model_price([0.275], m)[0]
    assert r["limit_price"] == pytest.approx(p)
    # the sell is protected by the Vol limit (above the surface and both probability prices)
    assert r["take_limit"] == pytest.approx(p) and r["make_limit"] == pytest.approx(p)
    assert r["take_surf"] == pytest.approx(model_price([0.16], m)[0])


def test_malformed_columns_raise_value_error() -> None:
    o = _orders(2)
    with pytest.raises(ValueError, match="rows"):
        compute_limits(o, _market(1))
    o.side[0] = 0
    with pytest.raises(ValueError, match="side"):
        compute_limits(o, _market(2))
    o = _orders(2)
    o.prc_limit = np.ones(3)
    with pytest.raises(ValueError, match="prc_limit"):
        compute_limits(o, _market(2))


# ---------------------------------------------------------------- ticks
def test_round_to_tick_is_client_favourable() -> None:
    r = round_to_tick([1.234, 1.234, 3.02, 3.02, 2.999, 2.999], [1, -1, 1, -1, 1, -1], 0.01, 0.05,
                      passive=True)
    assert r.tolist() == [1.23, 1.24, 3.00, 3.05, 2.99, 3.00]
    r = round_to_tick([1.234, 1.234], [1, -1], 0.01, 0.05, passive=False)
    assert r.tolist() == [1.24, 1.23]
    assert round_to_tick([1.15], [1], 0.05, 0.10, passive=True).tolist() == [1.15]
    assert tick_sizes("SPY", False) == (0.01, 0.01)
    assert tick_sizes("SPXW", True) == (0.05, 0.10)
    assert tick_sizes("AAPL", True) == (0.01, 0.05)
    assert tick_sizes("CAKE", False) == (0.05, 0.10)


@settings(max_examples=300, deadline=None)
@given(p=st.floats(0.001, 50.0), side=st.sampled_from([1, -1]),
       ticks=st.sampled_from([(0.01, 0.05), (0.05, 0.10), (0.01, 0.01)]))
def test_round_to_tick_property(p: float, side: int, ticks: tuple[float, float]) -> None:
    lo, hi = ticks
    r = float(round_to_tick([p], [side], lo, hi, passive=True)[0])
    assert (r - p) * side <= 1e-9  # never through the price
    t = lo if r < 3.0 else hi
    assert abs(r / t - round(r / t)) < 1e-6 or r == 0.0  # on the grid
    step = lo if p < 3.0 else hi
    assert abs(r - p) < step + 1e-9  # the nearest such price


# ---------------------------------------------------------------- child prices
B = BALANCE


@pytest.mark.parametrize(("handling", "side", "limit", "expect"), [
    ("PostWith", 1, 1.20, 1.00), ("PostWith", -1, 0.90, 1.10),
    ("PostImprove", 1, 1.20, 1.01), ("PostImprove", -1, 0.90, 1.09),
    ("PostLimit", 1, 1.053, 1.05), ("PostLimit", -1, 1.053, 1.06),
    ("PostTurn", 1, 1.20, 1.09), ("PostTurn", -1, 0.90, 1.01),
    ("PostWith", 1, 0.95, 0.95), ("PostImprove", -1, 1.15, 1.15),  # limit binds
    ("PostLimit", 1, 1.30, 1.09), ("PostLimit", -1, 0.80, 1.01),  # never crosses
    ("None", 1, 1.20, 1.00),
])
def test_child_price_per_balance_handling(handling: str, side: int, limit: float, expect: float) -> None:
    px = child_prices([limit], [side], [1.00], [1.10], [B[handling]], 0.01, 0.05)
    assert px[0] == pytest.approx(expect)


def test_child_price_edges() -> None:
    # no own side: join / improve post at the limit; no opposite side: only the limit caps
    assert child_prices([1.05], [1], [0.0], [1.10], [B["PostWith"]], 0.01, 0.05)[0] == pytest.approx(1.05)
    assert child_prices([1.05], [-1], [0.0], [1.10], [B["PostTurn"]], 0.01, 0.05)[0] == pytest.approx(1.05)
    # the tick below the 3.00 step is a penny; above it a nickel
    assert child_prices([9.0], [1], [2.9], [3.00], [B["PostTurn"]], 0.01, 0.05)[0] == pytest.approx(2.99)
    assert child_prices([0.0], [-1], [2.99], [3.2], [B["PostTurn"]], 0.01, 0.05)[0] == pytest.approx(3.00)
    # no limit, a handling we do not post with, a buy limit below one tick: no child
    assert np.isnan(child_prices([np.nan], [1], [1.0], [1.1], [B["PostWith"]], 0.01, 0.05)[0])
    assert np.isnan(child_prices([1.0], [1], [1.0], [1.1], [B["PostFlash"]], 0.01, 0.05)[0])
    assert np.isnan(child_prices([0.004], [1], [0.0], [0.05], [B["PostLimit"]], 0.01, 0.05)[0])


@settings(max_examples=300, deadline=None)
@given(lim=st.floats(0.01, 20.0), side=st.sampled_from([1, -1]), bid=st.floats(0.0, 10.0),
       width=st.floats(0.01, 2.0), handling=st.sampled_from(["PostWith", "PostImprove", "PostLimit",
                                                             "PostTurn"]))
def test_child_price_never_crosses_and_never_through_the_limit(lim: float, side: int, bid: float,
                                                                width: float, handling: str) -> None:
    bid = float(round_to_tick([bid], [1], 0.01, 0.05, passive=True)[0])
    ask = float(round_to_tick([bid + width], [-1], 0.01, 0.05, passive=True)[0])
    px = float(child_prices([lim], [side], [bid], [ask], [B[handling]], 0.01, 0.05)[0])
    if math.isnan(px):
        return
    assert (px - lim) * side <= 1e-9
    assert px > 0
    if side > 0:
        assert px < ask - 1e-9
    elif bid > 0:
        assert px > bid + 1e-9


# ---------------------------------------------------------------- sizes
P = PUBLIC_SIZE


def test_child_sizes_per_public_size() -> None:
    names = ["FullSize", "MktSize", "MktSizeA", "None", "Max25Pct", "Max50Pct", "Max75Pct",
             "NoSize"]
    got = child_sizes([50] * len(names), [P[k] for k in names], [7.0] * len(names),
                      np.random.default_rng(0))
    assert got.tolist() == [50, 7, 7, 7, 13, 25, 38, 0]
    # unknown market size: the default; W below the market size caps it
    got = child_sizes([50, 3], [P["MktSize"]] * 2, [np.nan, 7.0], np.random.default_rng(0))
    assert got.tolist() == [10, 3]


def test_random_sizes_are_seeded_and_in_range() -> None:
    w = np.arange(1, 200)
    a = child_sizes(w, np.full(len(w), P["FullSizeR"]), 7.0, np.random.default_rng(5))
    b = child_sizes(w, np.full(len(w), P["FullSizeR"]), 7.0, np.random.default_rng(5))
    assert np.array_equal(a, b)
    assert np.all(a >= np.ceil(0.8 * w - 1e-9)) and np.all(a <= w)
    assert len(np.unique(a[100:] - w[100:])) > 3  # it does vary
    r = child_sizes(w, np.full(len(w), P["Randomize"]), 7.0, np.random.default_rng(5))
    assert np.all(r >= 1) and np.all(r <= np.minimum(w, 7))
    assert child_sizes([0], [P["FullSizeR"]], 7.0, np.random.default_rng(0)).tolist() == [0]


def test_split_sizes_even_with_remainder_first() -> None:
    assert split_sizes([10, 7, 3, 5], [3, 1, 4, 9]).tolist() == [
        [4, 3, 3, 0], [7, 0, 0, 0], [1, 1, 1, 0], [2, 1, 1, 1]]


@settings(max_examples=300, deadline=None)
@given(w=st.integers(-3, 500), ps=st.sampled_from(sorted(PUBLIC_SIZE.values())),
       avg=st.one_of(st.just(math.nan), st.floats(-5.0, 400.0)), seed=st.integers(0, 2**32 - 1),
       nex=st.integers(-1, 6))
def test_one_order_sizes_equal_the_array_kernels(w: int, ps: int, avg: float, seed: int,
                                                 nex: int) -> None:
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    one = child_size(w, ps, avg, a)
    assert one == int(child_sizes(np.array([w]), np.array([ps]), np.array([avg]), b)[0])
    assert a.random() == b.random()  # one draw each
    k = min(max(nex, 1), 4)
    assert split_size(one, nex) == split_sizes(np.array([one]), np.array([nex]))[0][:k].tolist()


# ---------------------------------------------------------------- batches
_ROW = st.tuples(
    st.sampled_from(sorted(LIMIT_TYPE)), st.sampled_from([1, -1]),
    st.sampled_from(sorted(LIMIT_CLASS)), st.sampled_from(sorted(LIMIT_CLASS)),
    st.sampled_from([math.nan, 0.5, 1.02, 1.5]), st.sampled_from([math.nan, 0.0, 0.2, 0.3, 9.0]),
    st.sampled_from([0.0, 0.02, -0.01]), st.sampled_from([math.nan, 0.3, 0.7]),
    st.booleans(), st.sampled_from([math.nan, 1.00, 1.08]), st.sampled_from([math.nan, 100.0]),
    st.sampled_from([(1.00, 1.10, 0.25), (0.0, 1.10, math.nan), (1.2, 1.1, 0.25),
                     (0.5, 3.0, 0.3)]))


@given(rows=st.lists(_ROW, min_size=1, max_size=8))
@settings(max_examples=60, deadline=None)
def test_a_batch_gives_each_order_the_limits_it_gets_alone(rows: list[tuple]) -> None:
    """compute_limits skips the blocks of limit types and classes no row of a batch has (the
    order manager's small ticks): every row of a mixed batch must get exactly the limits and
    errors it gets in a batch of its own."""
    n = len(rows)
    o, m = _orders(n), _market(n)
    for i, (lt, side, tc, mc, prc, vol, off, prob, aux, arr, ref, (bid, ask, svol)) in \
            enumerate(rows):
        o.limit_type[i], o.side[i] = LIMIT_TYPE[lt], side
        o.take_class[i], o.make_class[i] = LIMIT_CLASS[tc], LIMIT_CLASS[mc]
        o.prc_limit[i], o.vol_limit[i], o.prc_offset[i] = prc, vol, off
        o.take_prob[i] = o.make_prob[i] = prob
        o.take_surf_vol_off[i] = o.make_surf_vol_off[i] = off
        o.has_aux[i], o.arrive_bid[i], o.arrive_ask[i], o.ref_uprc[i] = aux, arr, arr, ref
        m.bid[i], m.ask[i], m.s_vol[i] = bid, ask, svol
    whole = compute_limits(o, m)
    for i in range(n):
        alone = compute_limits(o.take([i]), m.take([i]))
        for f in whole.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(whole, f)[i:i + 1], getattr(alone, f),
                                          err_msg=f"{f} of row {i} ({rows[i][0]})")
