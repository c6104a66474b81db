"""Let's Be Rational implied vol: round trips, reference implementations, error codes."""

from __future__ import annotations

import math

import lets_be_rational as lbr_ref
import numpy as np
import pytest
import QuantLib as ql
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from openmlink.analytics import IvError, implied_vol, price
from openmlink.analytics._lbr import (
    normalised_black_call,
    normalised_implied_vol,
    normalised_vega,
    solve_normalised,
)

finite = {"allow_nan": False, "allow_infinity": False}


def _grid(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    s = 100.0 * np.exp(rng.uniform(-1.0, 1.0, n))
    t = np.exp(rng.uniform(np.log(1 / 365), np.log(5.0), n))
    r = rng.uniform(0.0, 0.08, n)
    q = rng.uniform(0.0, 0.06, n)
    vol = np.exp(rng.uniform(np.log(0.01), np.log(3.0), n))
    cp = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    return s, np.full(n, 100.0), t, r, q, vol, cp


@pytest.mark.parametrize("model", ["black_scholes", "black76"])
def test_round_trip_recovers_vol_to_1e10_where_conditioned(model: str) -> None:
    s, k, t, r, q, vol, cp = _grid(200_000, 1)
    p = price(s, k, t, r, q, vol, cp, model=model)
    iv, err = implied_vol(p, s, k, t, r, q, cp, model=model)
    qe = r if model == "black76" else q
    intrinsic = np.exp(-r * t) * np.maximum(cp * (s * np.exp((r - qe) * t) - k), 0.0)
    # Conditioned: the time value carries at least 1e-4 of the premium (vega per unit premium
    # not negligible) and the premium is a normal float.
    cond = ((p - intrinsic) > 1e-4 * p) & (p > 1e-250)
    assert cond.mean() > 0.5
    assert (err[cond] == IvError.OK).all()  # converges on 100% of valid inputs
    np.testing.assert_allclose(iv[cond], vol[cond], rtol=1e-10)
    assert np.isnan(iv[err != IvError.OK]).all()


def test_normalised_black_matches_lets_be_rational_reference() -> None:
    rng = np.random.default_rng(2)
    for _ in range(2000):
        x = -abs(rng.uniform(-20, 20)) * rng.random() ** 3
        sn = math.exp(rng.uniform(math.log(1e-3), math.log(10)))
        ref = lbr_ref.normalised_black_call(x, sn)
        assert normalised_black_call(x, sn) == pytest.approx(ref, rel=1e-13, abs=1e-300)


def test_normalised_round_trip_extreme_grid() -> None:
    for x in (-30.0, -5.0, -1.0, -0.1, -1e-4, 0.0):
        for sn in (0.005, 0.05, 0.3, 1.0, 3.0, 8.0):
            beta = normalised_black_call(x, sn)
            if beta <= 1e-290:
                continue
            assert normalised_implied_vol(beta, x) == pytest.approx(sn, rel=1e-12), (x, sn)


def test_agrees_with_lets_be_rational_and_quantlib_on_sample() -> None:
    s, k, t, r, q, vol, cp = _grid(500, 3)
    p = price(s, k, t, r, q, vol, cp)
    iv, err = implied_vol(p, s, k, t, r, q, cp)
    for i in np.flatnonzero(err == 0)[:300]:
        f = s[i] * math.exp((r[i] - q[i]) * t[i])
        undisc = p[i] * math.exp(r[i] * t[i])
        ref = lbr_ref.implied_volatility_from_a_transformed_rational_guess(
            undisc, f, k[i], t[i], cp[i])
        assert iv[i] == pytest.approx(ref, rel=1e-9)
        if vol[i] * math.sqrt(t[i]) > 0.05 and abs(math.log(f / k[i])) < 0.5:
            ql_sd = ql.blackFormulaImpliedStdDev(
                ql.Option.Call if cp[i] > 0 else ql.Option.Put, k[i], f, undisc, 1.0, 0.0,
                0.3 * math.sqrt(t[i]), 1e-12, 200)
            assert iv[i] * math.sqrt(t[i]) == pytest.approx(ql_sd, rel=1e-8)


def test_error_codes_for_each_class() -> None:
    s, k, t, r, q = 100.0, 100.0, 1.0, 0.05, 0.0
    call_fwd_disc = s * math.exp(-q * t)
    cases = [
        (5.0, s, k, t, r, q, 1, IvError.OK),
        (np.nan, s, k, t, r, q, 1, IvError.BAD_INPUT),
        (5.0, -1.0, k, t, r, q, 1, IvError.BAD_INPUT),
        (5.0, s, 0.0, t, r, q, 1, IvError.BAD_INPUT),
        (5.0, s, k, 0.0, r, q, 1, IvError.BAD_INPUT),
        (5.0, s, k, t, np.nan, q, 1, IvError.BAD_INPUT),
        (5.0, s, k, t, r, q, 0, IvError.BAD_INPUT),
        (-0.1, s, k, t, r, q, 1, IvError.BELOW_INTRINSIC),
        (1.0, 150.0, k, t, r, q, 1, IvError.BELOW_INTRINSIC),
        (call_fwd_disc, s, k, t, r, q, 1, IvError.ABOVE_MAX),
        (120.0, s, k, t, r, q, -1, IvError.ABOVE_MAX),
        (0.0, s, 150.0, t, r, q, 1, IvError.ZERO_TIME_VALUE),
        (150.0 - 100.0 * math.exp(-r * t), 150.0, k, t, r, q, 1, IvError.ZERO_TIME_VALUE),
    ]
    cols = list(zip(*cases, strict=True))
    iv, err = implied_vol(*[np.array(c, dtype=float) for c in cols[:7]])
    assert err.dtype == np.int8
    assert list(err) == [int(c) for c in cols[7]]
    assert np.isfinite(iv[0]) and np.isnan(iv[1:]).all()


def test_subnormal_premium_reports_no_convergence() -> None:
    iv, err = implied_vol(5e-323, 100.0, 200.0, 0.01, 0.0, 0.0, 1)
    assert err == IvError.NO_CONVERGENCE and np.isnan(iv)



@settings(max_examples=200, deadline=None)
@example(s=187.25, t=0.296875, r=0.0, q=0.0, vol=0.03, cp=-1, model="black_scholes")  # price < 0
@given(s=st.floats(50, 200, **finite), t=st.floats(7 / 365, 5, **finite),
       r=st.floats(0, 0.1, **finite), q=st.floats(0, 0.08, **finite),
       vol=st.floats(0.03, 2.5, **finite), cp=st.sampled_from([1, -1]),
       model=st.sampled_from(["black_scholes", "black76"]))
def test_iv_round_trip_property(s: float, t: float, r: float, q: float, vol: float, cp: int,
                                model: str) -> None:
    p = price(s, 100.0, t, r, q, vol, cp, model=model)
    iv, err = implied_vol(p, s, 100.0, t, r, q, cp, model=model)
    if err == IvError.OK:
        assert price(s, 100.0, t, r, q, iv, cp, model=model) == pytest.approx(p, rel=1e-9,
                                                                              abs=1e-12)
    else:  # only a premium with no resolvable time value may fail; a subnormal normalised
        # premium (undiscounted over sqrt(F K): p = 1.08e-307 at s = 85.6 is 1.2e-309) reports
        # NO_CONVERGENCE as in test_subnormal_premium_reports_no_convergence
        fwd = s if model == "black76" else s * np.exp((r - q) * t)
        b = p * np.exp(r * t) / np.sqrt(fwd * 100.0)
        assert err == IvError.ZERO_TIME_VALUE or (err == IvError.NO_CONVERGENCE
                                                  and b < 2.2250738585072014e-308)


def test_dense_normalised_grid_round_trip_including_extreme_wings() -> None:
    """|x| up to 10, s from 1e-4 to 10: 1e-10 round trip wherever b > 1e-300 and the
    vega per unit premium s*b'/b exceeds 1e-5 (below that a one-ulp premium moves s by more)."""
    xs = -np.concatenate([[0.0], np.geomspace(1e-8, 10.0, 140)])
    ss = np.geomspace(1e-4, 10.0, 160)
    checked = 0
    for x in xs:
        for sn in ss:
            b = normalised_black_call(x, sn)
            if not b > 1e-300 or sn * normalised_vega(x, sn) / b < 1e-5:
                continue
            checked += 1
            assert normalised_implied_vol(b, x) == pytest.approx(sn, rel=1e-10), (x, sn)
    assert checked > 15_000


def test_normalised_black_matches_mpmath_in_every_region() -> None:
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    rng = np.random.default_rng(7)
    for _ in range(400):
        x = -10.0 ** rng.uniform(-8, 1)
        sn = 10.0 ** rng.uniform(-4, 1)
        ref = (mp.exp(x / 2) * mp.ncdf(mp.mpf(x) / sn + mp.mpf(sn) / 2)
               - mp.exp(-x / 2) * mp.ncdf(mp.mpf(x) / sn - mp.mpf(sn) / 2))
        if ref < 1e-300:
            continue
        # conditioning of b in its inputs: (h^2 + t^2) ulps from the exponent
        tol = 4e-16 * (8.0 + (x / sn) ** 2 + sn * sn / 4.0)
        assert float(abs(normalised_black_call(x, sn) / ref - 1)) < tol, (x, sn)


def test_solver_takes_few_evaluations_on_typical_inputs() -> None:
    rng = np.random.default_rng(8)
    evals = []
    for _ in range(3000):
        x = -abs(rng.normal(0.0, 0.3))
        sn = rng.uniform(0.02, 1.0)
        b = normalised_black_call(x, sn)
        s_found, n_eval = solve_normalised(b, x)
        assert s_found == pytest.approx(sn, rel=1e-12)
        evals.append(n_eval)
    assert max(evals) <= 3 and np.mean(evals) <= 1.01  # table guess + one Householder(3) step


@settings(max_examples=300, deadline=None)
@given(x=st.floats(-12.0, 0.0, **finite), sn=st.floats(1e-4, 10.0, **finite))
def test_normalised_round_trip_property(x: float, sn: float) -> None:
    b = normalised_black_call(x, sn)
    assume(b > 1e-300 and sn * normalised_vega(x, sn) / b > 1e-5)
    assert normalised_implied_vol(b, x) == pytest.approx(sn, rel=1e-10)
