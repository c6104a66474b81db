"""Every SPAN scenario of span_values against QuantLib (test-only oracle): calls and puts,
European and American, stock (Black-Scholes-Merton) and futures (Black-76) options, every
price span type, vol span type and calc type."""

from __future__ import annotations

import math

import numpy as np
import pytest

from openmlink.analytics.span import (
    CALC_TYPES,
    PRC_SPAN_TYPES,
    VOL_SPAN_TYPES,
    SpanConfig,
    SpanModel,
    scenario_grid,
    span_values,
)

ql = pytest.importorskip("QuantLib")

TODAY = ql.Date(2, 1, 2025)
DC = ql.Actual365Fixed()


def _ql_value(S: float, K: float, t: float, r: float, q: float, vol: float, cp: float,
              american: bool) -> float:
    """QuantLib NPV (European analytic; American FD, fine grid)."""
    ql.Settings.instance().evaluationDate = TODAY
    days = max(round(t * 365), 1)
    mat = TODAY + days
    tt = days / 365.0
    # rescale rates so that QuantLib's whole-day maturity has the same r*t, q*t, vol^2*t
    rr, qq, vv = r * t / tt, q * t / tt, vol * math.sqrt(t / tt)
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if cp > 0 else ql.Option.Put, K)
    ex = ql.AmericanExercise(TODAY, mat) if american else ql.EuropeanExercise(mat)
    opt = ql.VanillaOption(payoff, ex)
    proc = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(S)),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, qq, DC)),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, rr, DC)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(TODAY, ql.NullCalendar(), vv, DC)))
    if american:
        opt.setPricingEngine(ql.FdBlackScholesVanillaEngine(proc, 800, 800))
    else:
        opt.setPricingEngine(ql.AnalyticEuropeanEngine(proc))
    return float(opt.NPV())


T = 73 / 365.0  # whole days: QuantLib and the kernel see the same expiry
CASES = [  # (S, K, r, q, vol, cp, american, black76)
    (100.0, 105.0, 0.05, 0.01, 0.30, 1.0, False, False),
    (100.0, 95.0, 0.05, 0.01, 0.30, -1.0, False, False),
    (100.0, 105.0, 0.05, 0.02, 0.30, 1.0, True, False),
    (100.0, 110.0, 0.05, 0.00, 0.25, -1.0, True, False),
    (4000.0, 4100.0, 0.04, 0.04, 0.20, 1.0, False, True),
    (4000.0, 3900.0, 0.04, 0.04, 0.20, -1.0, True, True),
]
SPANS = [  # (prc type, up, dn, vol type, span)
    ("Pct", 0.15, 0.12, "Pct", 0.25),
    ("Log", 0.10, 0.12, "Log", 0.20),
    ("Pts", 8.0, 10.0, "Pts", 4.0),
    ("SD1d", 3.0, 3.0, "Abs", 0.05),
    ("Pct", 0.06, 0.08, "vAnn", 0.04),
]


def _grid(S: float, vol: float, span: tuple) -> tuple[np.ndarray, np.ndarray]:
    pt, up, dn, vt, vs = span
    scale = S / 100.0 if pt == "Pts" else 1.0
    return scenario_grid(S, vol, T, PRC_SPAN_TYPES.index(pt), up * scale, dn * scale,
                         VOL_SPAN_TYPES.index(vt), vs)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{'C' if c[5] > 0 else 'P'}-"
                         f"{'Am' if c[6] else 'Eu'}-{'fut' if c[7] else 'stk'}")
@pytest.mark.parametrize("span", SPANS, ids=lambda s: f"{s[0]}-{s[3]}")
def test_pnl_scenarios_match_quantlib(case, span):
    S, K, r, q, vol, cp, american, b76 = case
    qeff = r if b76 else q
    S_s, V_s = _grid(S, vol, span)
    got = span_values(S, K, T, r, q, vol, cp, S_s, V_s, 0, False, SpanModel(american, b76))[0]
    base = _ql_value(S, K, T, r, qeff, vol, cp, american)
    w = SpanConfig().weights()
    want = np.array([(_ql_value(S_s[0, j], K, T, r, qeff, V_s[0, j], cp, american) - base) * w[j]
                     for j in range(16)])
    tol = 2e-3 * S / 100.0 if american else 1e-8 * S
    np.testing.assert_allclose(got, want, atol=tol, rtol=0)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{'C' if c[5] > 0 else 'P'}-"
                         f"{'Am' if c[6] else 'Eu'}-{'fut' if c[7] else 'stk'}")
@pytest.mark.parametrize("calc", CALC_TYPES[1:])
def test_greek_calc_types_match_quantlib_bumps(case, calc):
    S, K, r, q, vol, cp, american, b76 = case
    qeff = r if b76 else q
    S_s, V_s = _grid(S, vol, SPANS[0])
    got = span_values(S, K, T, r, q, vol, cp, S_s, V_s, CALC_TYPES.index(calc), False,
                      SpanModel(american, b76))[0]
    want = np.empty(16)
    for j in range(16):
        s, v = S_s[0, j], V_s[0, j]
        f = lambda s_=s, v_=v, t_=T: _ql_value(s_, K, t_, r, qeff, v_, cp, american)  # noqa: E731
        h = 1e-3 * s if not american else 1e-2 * s
        if calc == "Delta":
            want[j] = (f(s + h) - f(s - h)) / (2 * h)
        elif calc == "Gamma":
            want[j] = (f(s + h) - 2 * f() + f(s - h)) / (h * h)
        elif calc == "Theta":
            want[j] = f(t_=T - 1 / 365) - f()
        else:
            vega = (f(v_=v + 0.005) - f(v_=v - 0.005))  # per vol point
            want[j] = {"Vega": vega, "WVega": vega * math.sqrt((30 / 365) / T),
                       "TVega": vega / math.sqrt(T), "WtVega": vega * (30 / 365) / T}[calc]
    # bump oracles carry O(h^2) error: relative tolerance plus a floor of the row's largest value
    rel = {"Theta": 0.06, "Gamma": 0.05}.get(calc, 0.01) if american else \
        {"Theta": 0.03, "Gamma": 0.002}.get(calc, 1e-3)
    floor = (5e-3 if american else 5e-4) * np.max(np.abs(want)) + 1e-9
    assert np.all(np.abs(got - want) <= rel * np.abs(want) + floor), (got, want)


def test_delta_hedged_pnl_is_pnl_minus_base_delta_times_move():
    S_s, V_s = _grid(100.0, 0.3, SPANS[0])
    args = (100.0, 100.0, T, 0.05, 0.0, 0.3, 1.0, S_s, V_s, 0)
    plain = span_values(*args, False)[0]
    hedged = span_values(*args, True)[0]
    de0 = span_values(100.0, 100.0, T, 0.05, 0.0, 0.3, 1.0, np.full((1, 16), 100.0),
                      np.full((1, 16), 0.3), 1, False)[0, 0]
    move = (S_s[0] - 100.0) * SpanConfig().weights()
    np.testing.assert_allclose(hedged, plain - de0 * move, atol=1e-9)
