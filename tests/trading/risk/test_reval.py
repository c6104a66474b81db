"""Option slides by full revaluation: equal to an independent QuantLib repricing of each row
at its sticky-delta vol (SVI smile read at the shocked log-moneyness)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.analytics import svi_total_variance
from openmlink.trading.risk import SLIDES, RevalInputs, shocked_vols, slide_pnl

SVI = np.array([0.01, 0.08, -0.5, 0.02, 0.15])  # a, b, rho, m, sigma (total variance)
DAYS = 73  # t = 0.2 exactly on Act/365


def _inputs(strikes: list[float], cps: list[float], american: bool, spot: float = 100.0,
            r: float = 0.04, q: float = 0.01) -> RevalInputs:
    n = len(strikes)
    full = (lambda v: np.full(n, float(v)))  # noqa: E731
    return RevalInputs(full(spot), np.array(strikes, float), np.array(cps, float), full(DAYS / 365),
                       full(r), full(q), full(0.0), full(np.nan), np.full(n, american),
                       np.tile(SVI, (n, 1)), full(0.3))


def _ql_price(S: float, K: float, cp: float, r: float, q: float, vol: float, american: bool,
              model: str = "alo") -> float:
    today = ql.Date(2, 1, 2025)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    mat = today + DAYS
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if cp > 0 else ql.Option.Put, K)
    ex = ql.AmericanExercise(today, mat) if american else ql.EuropeanExercise(mat)
    opt = ql.VanillaOption(payoff, ex)
    proc = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(S)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, dc)))
    if not american:
        eng = ql.AnalyticEuropeanEngine(proc)
    elif model == "baw":
        eng = ql.BaroneAdesiWhaleyApproximationEngine(proc)
    else:  # Andersen-Lake-Offengelda, QuantLib's high-precision scheme
        eng = ql.QdFpAmericanEngine(proc, ql.QdFpAmericanEngine.highPrecisionScheme())
    opt.setPricingEngine(eng)
    return float(opt.NPV())


@pytest.mark.parametrize(("american", "model"), [(False, "alo"), (True, "alo"), (True, "baw")])
def test_slides_equal_quantlib_repricing_at_sticky_delta_vol(american: bool, model: str) -> None:
    strikes = [70.0, 90.0, 100.0, 110.0, 140.0, 100.0]
    cps = [-1.0, -1.0, 1.0, 1.0, 1.0, -1.0]
    inp = _inputs(strikes, cps, american)
    base, dpx = slide_pnl(inp, [s for _, s in SLIDES], model)  # type: ignore[arg-type]
    r, q, t = 0.04, 0.01, DAYS / 365
    for i, (K, cp) in enumerate(zip(strikes, cps, strict=True)):
        vol0 = math.sqrt(svi_total_variance(np.array([math.log(K / (100 * math.exp((r - q) * t)))]),
                                            SVI[None, :])[0] / t)
        ref0 = _ql_price(100.0, K, cp, r, q, vol0, american, model)
        tol = 1e-7 if not american else (2e-3 if model == "baw" else 1e-5)
        assert base[i] == pytest.approx(ref0, abs=tol, rel=tol)
        for j, (_, s) in enumerate(SLIDES):
            S1 = 100.0 * math.exp(s)
            F1 = S1 * math.exp((r - q) * t)
            vol = math.sqrt(svi_total_variance(np.array([math.log(K / F1)]), SVI[None, :])[0] / t)
            ref = _ql_price(S1, K, cp, r, q, vol, american, model) - ref0
            assert dpx[j, i] == pytest.approx(ref, abs=tol * max(1.0, abs(ref0)), rel=tol)


def test_sticky_delta_vol_moves_with_the_forward() -> None:
    """A strike K at spot S·e^s has the vol of strike K·e^-s at spot S (same moneyness)."""
    inp = _inputs([100.0], [1.0], False)
    shocked = shocked_vols(inp, np.array([100.0 * math.exp(0.15)]))
    same = shocked_vols(_inputs([100.0 * math.exp(-0.15)], [1.0], False), np.array([100.0]))
    assert shocked[0] == pytest.approx(same[0], rel=1e-12)
    assert shocked[0] != pytest.approx(shocked_vols(inp, np.array([100.0]))[0], rel=1e-6)


def test_rows_without_a_smile_keep_their_vol() -> None:
    inp = _inputs([100.0], [1.0], False)
    inp.params[:] = np.nan
    assert shocked_vols(inp, np.array([160.0]))[0] == 0.3


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(40, 250), st.sampled_from([1.0, -1.0]), st.booleans()),
                min_size=1, max_size=8))
def test_zero_move_is_zero_pnl_and_calls_gain_when_the_underlier_rises(
        rows: list[tuple[float, float, bool]]) -> None:
    for am in (False, True):
        inp = _inputs([k for k, _, _ in rows], [c for _, c, _ in rows], am)
        base, dpx = slide_pnl(inp, [0.0, 0.5, -0.5])
        assert np.all(np.isfinite(base)) and np.all(base >= 0)
        assert np.allclose(dpx[0], 0.0, atol=1e-12)
        calls = inp.cpf > 0
        assert np.all(dpx[1][calls] > -1e-9) and np.all(dpx[2][~calls] > -1e-9)


def test_empty_book() -> None:
    base, dpx = slide_pnl(_inputs([], [], False), [0.5, -0.5])
    assert base.shape == (0,) and dpx.shape == (2, 0)
