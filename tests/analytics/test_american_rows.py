"""American rows of the engine (price, greeks, slides over ALO boundary tables) against
QuantLib's QD+ fixed-point engine (high-precision scheme), greeks by QuantLib repricing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from openmlink.analytics import GREEK_KEYS, SLIDE_KEYS, SLIDE_MOVES, price_greeks_slides
from openmlink.analytics._american_grouped import BoundaryTables
from openmlink.analytics._american_rows import american_rows

KEYS = ("price", *GREEK_KEYS, *SLIDE_KEYS)
TOL = 1e-4  # per share (strike 100), price and greeks in LiveImpliedQuote units (the price: no
# share of it added since issue 16's quadrature; 3e-5 of it was before, a 2-year near-the-money put
# at r 7.8%, vol 13.7% being 1.0e-4 below QD+ high precision)
SLIDE_TOL = 2e-4  # a slide is the difference of two prices, each within TOL
SECOND_ORDER = ("ga", "va", "vo", "deDecay")  # jump across the early-exercise boundary
AT_EXERCISE = 1e-5  # a row in QD+'s exercise region or less than this above exercise value in
# ours lies at the boundary (within sqrt(2e-5/gamma) of it, ~0.03-0.045 of spot for gammas
# 0.01-0.02): there the two models' boundaries differ by up to ~4e-4 of spot (a 988-day put at
# vol 45%: QD+ exercises at s 35.113, ours is 7e-6 above exercise value with gamma 0.021),
# QD+'s own values carry up to 8.6e-6 (above exercise value in its exercise region, a 1278-day
# call at vol 6.3%), not smooth in spot or vol, and its quotients miss second derivatives by ~2%
# (a 746-day put at time value 8.5e-6: gamma 0.02991, ours 0.02939, our scheme at 4x the points
# by repricing 0.02949): second-order greeks are not compared there; th/ve/ro/ph (continuous,
# O(distance) from 0 at the boundary) get 5 x TOL: a known limit, ours are up to 2.5e-4 off
# there (a 1092-day call at r 2.4%, q 2.2%, vol 11%, time value 1.1e-6: rho 0.001952 vs QD+
# 0.002192, our 4x scheme 0.002198); they are not compared for a row that exactly one model
# exercises (QD+ has no value on our side: a 782-day put at vol 7.1% that QD+ exercises, ours
# 2e-7 above exercise value with vega 7.1e-4, rho -4.31e-4 vs -4.35e-4 by our 4x scheme)
AT_BOUNDARY = ("th", "ve", "ro", "ph")
GREEK_RTOL = 3e-3  # plus this share of a greek: the ALO scheme before issue 16 (16, 4, 10, 48) was
# ~5e-5 off in price just above the boundary of low-vol high-rate puts, ~1e-4 (0.16%) in rho there,
# 5e-4 (0.25%) for a 2-year put at r 6.25%, vol 9.4%
FAR, NEAR, EXERCISED = 0, 1, 2  # a price's side of the exercise boundary: time value above 1e-3
Point = tuple[float, int]  # a price and its side


def _deriv(g: Callable[[float], Point], h: float, order: int) -> float:
    """d^order g/dx^order at 0 (order 1 or 2) from points on g(0)'s side of the exercise boundary
    (value, delta, theta, vega, rho and phi are continuous across it, the second derivatives
    jump; near it the value varies on the scale of the distance to it): the central quotient
    at h where g(0), g(+-h) are FAR from it, or where g(+-h), g(+-2h) are on g(0)'s side; else
    Richardson's extrapolation of the quotients at h/2^j and h/2^(j-1) for the first j <= 6
    where those points are, else one-sided (second order in h/2^6) away from the boundary."""
    f0, s0 = g(0.0)

    def central(hh: float) -> float:
        fp, fm = g(hh)[0], g(-hh)[0]
        return (fp - fm) / (2 * hh) if order == 1 else (fp - 2 * f0 + fm) / hh ** 2

    if s0 == FAR and g(h)[1] == g(-h)[1] == FAR:
        return central(h)
    for j in range(7):
        hj = h / 2 ** j
        if all((g(m * hj)[1] == EXERCISED) == (s0 == EXERCISED) for m in (-2.0, -1.0, 1.0, 2.0)):
            return central(h) if j == 0 else (4 * central(hj) - central(2 * hj)) / 3
    for sg in (1.0, -1.0):
        f1, f2, f3 = (g(sg * m * hj) for m in (1.0, 2.0, 3.0))
        if all((f[1] == EXERCISED) == (s0 == EXERCISED) for f in (f1, f2, f3)):
            return (sg * (-3 * f0 + 4 * f1[0] - f2[0]) / (2 * hj) if order == 1
                    else (2 * f0 - 5 * f1[0] + 4 * f2[0] - f3[0]) / hj ** 2)
    return np.nan


def _ql_rows(market: Any, s: float, k: float, days: int, r: float, q: float, vol: float,
             cp: int) -> dict[str, float]:
    """Price, greeks and slides by repricing with QuantLib QD+ high precision. A greek's
    difference quotient takes points on the row's own side of the exercise boundary
    (``_deriv``)."""
    engine = ql.QdFpAmericanEngine(market.process, ql.QdFpAmericanEngine.highPrecisionScheme())
    opt = market.option(cp, k, days, american=True)
    opt.setPricingEngine(engine)
    memo: dict[tuple[float, ...], Point] = {}
    h_ex = 5e-5 * s

    def p(ds: float = 0.0, dv: float = 0.0, dr: float = 0.0, dq: float = 0.0,
          dt: float = 0.0) -> Point:
        # the value depends on r t, q t and vol^2 t only: a time to expiry of days + dt
        # (continuous dt) is the same expiry with rates and variance scaled
        key = (ds, dv, dr, dq, dt)
        if key not in memo:
            c = 1.0 + dt / days
            market.set(s + ds, (r + dr) * c, (q + dq) * c, (vol + dv) * c ** 0.5)
            v = opt.NPV()
            tv = v - max(cp * (s + ds - k), 0.0)
            side = FAR if tv > 1e-3 else NEAR
            if tv < 1e-4:
                # QD+ sits above exercise value in its exercise region (1.6e-7 for a 681-day
                # call, 8.6e-6 for a 1278-day call at vol 6.3%, q 6.2%, nearly flat in spot):
                # there a step deeper into it adds the step to the value, within 1e-7 (at a gap
                # g outside it the step adds gamma g h_ex less)
                market.set(s + ds + cp * h_ex, (r + dr) * c, (q + dq) * c, (vol + dv) * c ** 0.5)
                side = EXERCISED if abs(opt.NPV() - v - h_ex) < 1e-7 else NEAR
            memo[key] = (v, side)
        return memo[key]

    hs, hv, hr, ht = 2e-4 * s, 2e-4, 1e-5, 0.05  # hr: 1e-4 straddled r = q (a kink)

    def de(dv: float = 0.0, dt: float = 0.0) -> Point:
        return _deriv(lambda x: p(ds=x, dv=dv, dt=dt), hs, 1), p(dv=dv, dt=dt)[1]

    out = {
        "price": p()[0],
        "de": de()[0],
        "ga": _deriv(lambda x: p(ds=x), hs, 2),
        "th": -_deriv(lambda x: p(dt=x), ht, 1),  # -d/dt per calendar day
        "ve": _deriv(lambda x: p(dv=x), hv, 1) / 100,
        "va": _deriv(lambda x: de(dv=x), hv, 1) / 100,
        "vo": _deriv(lambda x: p(dv=x), hv, 2) / 1e4,
        "ro": _deriv(lambda x: p(dr=x), hr, 1) / 100,
        "ph": _deriv(lambda x: p(dq=x), hr, 1) / 100,
        "deDecay": -_deriv(lambda x: de(dt=x), ht, 1),
    }
    for key, m in zip(SLIDE_KEYS, SLIDE_MOVES, strict=True):
        out[key] = p(ds=s * m)[0] - out["price"]
    out["exercised"] = float(p()[1] == EXERCISED)
    return out


def _ours(s: np.ndarray, k: float, days: int, r: float, q: float, vol: np.ndarray,
          cp: np.ndarray) -> dict[str, np.ndarray]:
    n = len(s)
    f = np.full
    res = american_rows(BoundaryTables(min_rows=1), s, f(n, k), f(n, days / 365.0), f(n, r),
                        f(n, q), vol, cp, SLIDE_MOVES)
    return dict(zip(KEYS, res, strict=True))


def _compare(market: Any, s: np.ndarray, days: int, r: float, q: float, vols: np.ndarray,
             cp: np.ndarray) -> None:
    """Every row's price, greeks and slides (strike 100, one expiry) within tolerance of QD+."""
    ours = _ours(s, 100.0, days, r, q, vols, cp)
    for i in range(len(s)):
        ref = _ql_rows(market, float(s[i]), 100.0, days, r, q, float(vols[i]), int(cp[i]))
        tol = {key: SLIDE_TOL if key in SLIDE_KEYS  # the difference of two prices
               else TOL + (GREEK_RTOL * abs(ref[key]) if key in GREEK_KEYS else 0.0) for key in KEYS}
        intrinsic = max(cp[i] * (s[i] - 100.0), 0.0)
        tv = ours["price"][i] - intrinsic
        skip: tuple[str, ...] = ()
        if ref["exercised"] or tv < AT_EXERCISE:
            skip = SECOND_ORDER
            tol.update({key: 5 * tol[key] for key in AT_BOUNDARY})
        ours_ex = tv <= 0.0 and ours["ga"][i] == ours["ve"][i] == 0.0  # (the value alone is
        # floored at exercise value, which it also reaches just outside a steep boundary)
        if bool(ref["exercised"]) != ours_ex:  # between the two models' boundaries
            skip = SECOND_ORDER + AT_BOUNDARY
        bad = {key: (float(ours[key][i]), ref[key]) for key in KEYS
               if key not in skip and not abs(ours[key][i] - ref[key]) <= tol[key]}
        assert not bad, f"row {i} (s={s[i]}, vol={vols[i]}, cp={cp[i]}): {bad}"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# rows at or within a gap of 1e-4 of the exercise boundary, where QuantLib's difference quotients
# at the default steps straddle it (``_deriv`` takes them on the row's side):
@example(days=681, r=0.03125, q=0.0546875, vol=0.1796875, moneyness=0.2890625,
         seed=738)  # a call in both exercise regions (QD+ 1.6e-7 above exercise value there)
@example(days=683, r=0.03125, q=0.0546875, vol=0.1796875, moneyness=0.2890625,
         seed=738)  # the same call 1.5e-6 above both boundaries: volga 0.08101 on its side
@example(days=691, r=0.03125, q=0.0546875, vol=0.1796875, moneyness=0.2890625,
         seed=738)  # time value 1.1e-4: gamma 0.010103 vs 0.011026 before the near rule
@example(days=470, r=0.002, q=0.05078125, vol=0.05078125, moneyness=0.017578125,
         seed=0)  # at both boundaries, QuantLib's central vega quotient leaves it
@example(days=454, r=0.00390625, q=0.05078125, vol=0.05078125, moneyness=0.017578125,
         seed=0)  # steep call (s 17.6) near its boundary: gamma 0.56% off before the near rule
@example(days=85, r=0.025390625, q=0.05859375, vol=0.080078125, moneyness=0.080078125,
         seed=87)  # a call just in the exercise region: QuantLib's vanna quotient straddles it
@example(days=776, r=0.078125, q=0.0, vol=0.125, moneyness=0.0, seed=0)  # price 1.0e-4 off
@example(days=436, r=0.078125, q=0.0, vol=0.09375, moneyness=0.0, seed=0)  # slides 2.0e-4 off
@example(days=746, r=0.0625, q=0.0, vol=0.09375, moneyness=0.0, seed=0)  # rho 0.25% off
@example(days=255, r=0.078125, q=0.0, vol=0.0859375, moneyness=0.0, seed=0)  # a put 2e-7 above
# exercise value in QuantLib, at it in ours: QuantLib's vanna 1.6e-4 is the continuation side's
# steep exercise boundaries, s = (r - q) t / vol^2 of the put (of the call: q - r) above 6, where
# the scheme before issue 16 (the phi form of the fixed point alone) did not converge:
@example(days=1100, r=0.08, q=0.0, vol=0.08, moneyness=0.0, seed=0)  # s 38: 1.4856 vs 1.4267
@example(days=1178, r=0.085, q=0.0, vol=0.077, moneyness=0.0, seed=1)  # s 46: 0.059 off
@example(days=1000, r=0.005, q=0.08, vol=0.07, moneyness=0.05, seed=2)  # calls, high q: s 42
@example(days=700, r=0.01, q=0.1, vol=0.12, moneyness=-0.1, seed=3)  # calls, s 12
@example(days=1300, r=0.1, q=0.02, vol=0.05, moneyness=0.02, seed=4)  # s 114, 3.6 years
@example(days=380, r=0.06, q=0.01, vol=0.1, moneyness=0.0, seed=5)  # s 5.2: both forms blended
@given(days=st.integers(1, 1300), r=st.floats(0.002, 0.1), q=st.floats(0.0, 0.08),
       vol=st.floats(0.05, 1.0), moneyness=st.floats(-0.4, 0.4), seed=st.integers(0, 2**16))
def test_rows_match_quantlib_qd_plus(market: Any, days: int, r: float, q: float, vol: float,
                                     moneyness: float, seed: int) -> None:
    """Expiries to 3.6 years, rates to 10%, yields to 8%, vols from 5% (x exp(-+0.2) per row),
    flat and steep boundaries, rows near and in the exercise region: every value checked."""
    rng = np.random.default_rng(seed)
    n = 4  # calls and puts of one expiry: one table per side, vols spread around ``vol``
    s = 100.0 * np.exp(moneyness + rng.uniform(-0.05, 0.05, n))
    vols = vol * np.exp(rng.uniform(-0.2, 0.2, n))
    _compare(market, s, days, r, q, vols, np.array([1.0, -1.0, 1.0, -1.0]))


@pytest.mark.parametrize(("days", "r", "q", "vol", "s", "cp"), [
    (3, 0.0634, 0.0115, 0.8673, 81.116, -1),  # theta 1.6e-3 vs 1.26e-3 by t +- 0.25 day tables
    (10, 0.039, 0.051, 0.58, 129.4, 1),  # deDecay 1.23e-3 vs 1.37e-3 (the old short-expiry gap)
    (28, 0.0263, 0.0319, 0.4653, 139.639, 1),  # deDecay -4.5e-3 vs 5.9e-4 by the plain time
    # derivative of the quadrature sum: the integrand peaks like a delta near the boundary
    (1, 0.05, 0.0, 0.3, 97.0, -1), (2, 0.08, 0.0, 0.15, 99.0, -1), (1, 0.01, 0.07, 0.5, 104.0, 1),
])
def test_short_expiries_near_the_boundary(market: Any, days: int, r: float, q: float, vol: float,
                                          s: float, cp: int) -> None:
    """Short expiries just outside the exercise region: theta and deDecay (time derivatives of
    the premium integral) within tolerance of QuantLib QD+, with every other value."""
    _compare(market, np.array([s]), days, r, q, np.array([vol]), np.array([float(cp)]))
    ref = _ql_rows(market, s, 100.0, days, r, q, vol, cp)
    assert not np.isnan(ref["th"]) and not np.isnan(ref["deDecay"])  # compared, not left out


def test_rows_equal_row_by_row_alo_bump_greeks() -> None:
    """The table kernel's analytic greeks equal bump greeks of row-by-row ALO (the public
    ``price_greeks_slides(..., exercise='american')``), every row of a mixed chain."""
    rng = np.random.default_rng(3)
    n = 60
    s = 100.0 * rng.uniform(0.6, 1.4, n)
    k = np.full(n, 100.0)
    t = np.full(n, 0.7)
    r = np.full(n, 0.05)
    q = np.full(n, 0.03)
    v = rng.uniform(0.1, 0.6, n)
    cp = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    res = american_rows(BoundaryTables(min_rows=1), s, k, t, r, q, v, cp, SLIDE_MOVES)
    ref = price_greeks_slides(s, k, t, r, q, v, cp, exercise="american")
    scale = {"ga": 1e-6, "va": 1e-6, "deDecay": 1e-7}
    for j, key in enumerate(KEYS):
        np.testing.assert_allclose(res[j], ref[key], atol=scale.get(key, 2e-5), rtol=3e-4,
                                   err_msg=key)  # rtol: the bump greeks' truncation


def test_rows_without_tables_and_bad_rows() -> None:
    """Keys with too few rows are priced row by row (same values); bad rows are NaN."""
    s = np.array([90.0, 110.0, 100.0, -1.0])
    k = np.full(4, 100.0)
    t = np.array([0.5, 0.5, 0.5, 0.5])
    r = np.full(4, 0.05)
    q = np.full(4, 0.01)
    v = np.array([0.3, 0.3, 0.0, 0.3])
    cp = np.array([-1.0, 1.0, -1.0, -1.0])
    few = american_rows(BoundaryTables(min_rows=50), s, k, t, r, q, v, cp, SLIDE_MOVES)
    many = american_rows(BoundaryTables(min_rows=1), s, k, t, r, q, v, cp, SLIDE_MOVES)
    np.testing.assert_allclose(few[:, :3], many[:, :3], atol=2e-5)
    assert np.isnan(few[:, 3]).all() and np.isnan(many[:, 3]).all()
    assert few[0, 2] == max(100.0 - 100.0, 0.0) or few[0, 2] >= 0.0  # zero vol: a value


@pytest.mark.parametrize(("days", "r", "q", "vol", "s", "cp"), [
    (1100, 0.08, 0.0, 0.08, 100.0, -1),  # issue 16: ours was 1.48562, QD+ 1.42665, FD 1.42608
    (1100, 0.0, 0.08, 0.08, 100.0, 1),  # the same by put-call symmetry
    (1081, 0.0603, 0.0, 0.0728, 102.9, -1),  # s 34: 2.1e-3 off before
    (776, 0.0939, 0.0, 0.0849, 101.3, -1),  # s 28: 2.0e-2 off before
    (1023, 0.0358, 0.079, 0.0734, 104.5, 1),  # a call at q 7.9%, r 3.6%: s 22, 2.7e-4 off before
    (436, 0.1162, 0.0, 0.1266, 98.2, -1),  # s 8.7, just above the band
])
def test_steep_boundary(market: Any, days: int, r: float, q: float, vol: float, s: float,
                        cp: int) -> None:
    """Steep exercise boundaries, s = (r - q) t / vol^2 of the put-equivalent well above 6 (the
    scheme before issue 16 failed from s ~ 8.7): price, greeks and slides within tolerance of
    QuantLib QD+ high precision (the price within 1e-4 of it)."""
    _compare(market, np.array([s]), days, r, q, np.array([vol]), np.array([float(cp)]))


@pytest.mark.parametrize(("days", "r", "q", "vol", "s", "cp"), [
    (454, 0.00390625, 0.05078125, 0.057560426269356466, 103.17684727015497, 1),  # s 17.6,
    # time value 8e-4: gamma 0.26802 (0.56% off), vanna -0.26563 (0.58%) before the near rule
    (691, 0.03125, 0.0546875, 0.205330352906262, 137.9246719564385, 1),  # time value 1.1e-4:
    # gamma 0.010103 vs 0.011026 (9%), volga 0.07423 vs 0.08104 before the near rule
])
def test_second_order_greeks_near_the_boundary(market: Any, days: int, r: float, q: float,
                                               vol: float, s: float, cp: int) -> None:
    """Just outside the exercise region the premium's spot and vol derivatives peak at
    sqrt(t) ~ ln(S/B)/vol (``_american_rows``' near rule): gamma, vanna, volga within 1e-4 plus
    GREEK_RTOL of QuantLib (checked by _compare) and within 1e-4 of it in absolute terms."""
    _compare(market, np.array([s]), days, r, q, np.array([vol]), np.array([float(cp)]))
    ours = _ours(np.array([s]), 100.0, days, r, q, np.array([vol]), np.array([float(cp)]))
    ref = _ql_rows(market, s, 100.0, days, r, q, vol, cp)
    for key in ("ga", "va", "vo"):
        assert abs(ours[key][0] - ref[key]) <= TOL, key


@pytest.mark.parametrize(("days", "r", "q", "vol", "s", "cp"), [
    (970, 0.08877152166690078, 0.007924593176100671, 0.09394532451678342, 94.95088433100327, -1),
    # steep put (s 24) at time value 2.6e-5: vanna 0.19969 vs QD+ 0.19966 on its side (a central
    # quotient at vol +-2e-4 straddles the boundary: 0.1624)
    (927, 0.0026209858413106363, 0.07277992560187849, 0.12045364161321727, 109.63579932867866, 1),
    # between the boundaries: QD+ exercises, ours 2e-7 above exercise value (AT_EXERCISE)
    (1278, 0.006711588136617914, 0.06185087496714841, 0.06347057918740452, 103.61373299803823, 1),
    # in both exercise regions, QD+ 8.6e-6 above exercise value there (vega 3.7e-4 by its
    # quotients when that was read as the continuation side)
    (988, 0.036001035055613646, 0.027959555340144455, 0.449225542764172, 35.11322101795932, -1),
    # QD+ exercises, ours just above its boundary with gamma 0.021 (AT_EXERCISE)
    (782, 0.09425257828484519, 0.04170976745319141, 0.07142473665270148, 95.6955212694156, -1),
    # QD+ exercises, ours vega 7.1e-4 (AT_EXERCISE)
    (1092, 0.02377570758055271, 0.02191766154650957, 0.11001773506763354, 139.82015047835023, 1),
    # time value 1.1e-6, r ~ q: rho 2.4e-4 off (AT_EXERCISE, known limit)
    (746, 0.03720851617368387, 0.02002992620141142, 0.16105649676156777, 75.9816759009061, -1),
    # time value 8.5e-6: QD+'s gamma quotient 1.7% off our 4x scheme (AT_EXERCISE)
    (8, 0.08761402509406532, 0.009683437524253762, 0.6093586490534434, 81.77810764097559, -1),
    # an 8-day put at time value 4.2e-6: deDecay -0.005886 vs -0.005382 before the near rule's
    # moving model boundary (-0.005381 now)
])
def test_rows_at_the_boundary(market: Any, days: int, r: float, q: float, vol: float, s: float,
                              cp: int) -> None:
    """Rows within ~4e-4 of spot of the exercise boundary (found by a sweep that places spot at
    log-uniform distances from our boundary): every value within tolerance of QD+ on the row's
    side, as AT_EXERCISE says."""
    _compare(market, np.array([s]), days, r, q, np.array([vol]), np.array([float(cp)]))
