"""Scenario grid conventions, the Normal/Approx models and the package's public face."""

from __future__ import annotations

import math

import numpy as np
import pytest

import openmlink.analytics.span as span
from openmlink.analytics import price
from openmlink.analytics.span import (
    EXCH_DEFAULTS,
    PRC_SPAN_TYPES,
    VOL_SPAN_TYPES,
    SpanConfig,
    SpanModel,
    bachelier_price,
    scenario_grid,
    span_values,
)

F = np.array([0, 0, 1 / 3, 1 / 3, -1 / 3, -1 / 3, 2 / 3, 2 / 3, -2 / 3, -2 / 3, 1, 1, -1, -1, 3, -3])
D = np.array([1, -1] * 7 + [0, 0])


@pytest.mark.parametrize(("ptype", "want"), [
    ("Pct", lambda up, dn: 100 * (1 + F * np.where(F >= 0, up, dn))),
    ("Log", lambda up, dn: 100 * np.exp(F * np.where(F >= 0, up, dn))),
    ("Pts", lambda up, dn: 100 + F * np.where(F >= 0, up, dn)),
    ("SD1d", lambda up, dn: 100 * np.exp(F * np.where(F >= 0, up, dn) * 0.3 / math.sqrt(252))),
    ("None", lambda up, dn: np.full(16, 100.0)),
])
def test_price_span_types(ptype, want):
    S_s, _ = scenario_grid(100, 0.3, 0.5, PRC_SPAN_TYPES.index(ptype), 0.1, 0.2, 0, 0)
    np.testing.assert_allclose(S_s[0], want(0.1, 0.2), rtol=1e-14)


@pytest.mark.parametrize(("vtype", "want"), [
    ("Pct", 0.3 * (1 + D * 0.2)), ("Log", 0.3 * np.exp(D * 0.2)), ("Pts", 0.3 + D * 0.002),
    ("Abs", 0.3 + D * 0.2), ("vAnn", 0.3 + D * 0.2 * math.sqrt((30 / 365) / 0.5)),
    ("None", np.full(16, 0.3)),
])
def test_vol_span_types(vtype, want):
    _, V_s = scenario_grid(100, 0.3, 0.5, 1, 0.1, 0.1, VOL_SPAN_TYPES.index(vtype), 0.2)
    np.testing.assert_allclose(V_s[0], np.maximum(want, 1e-4), rtol=1e-14)


def test_extreme_scenarios_are_configurable():
    cfg = SpanConfig(extreme_mult=2.0, extreme_weight=0.5)
    S_s, _ = scenario_grid(100, 0.3, 0.5, 1, 0.1, 0.1, 1, 0.2, cfg)
    assert S_s[0, 14] == pytest.approx(120) and S_s[0, 15] == pytest.approx(80)
    v = span_values(100, 100, 0.5, 0.0, 0.0, 0.3, 1.0, S_s, np.full((1, 16), 0.3), 0, False,
                    SpanModel(), cfg)[0]
    p0 = float(price(100, 100, 0.5, 0.0, 0.0, 0.3, 1.0))
    assert v[14] == pytest.approx(0.5 * (float(price(120, 100, 0.5, 0.0, 0.0, 0.3, 1.0)) - p0))


def test_prices_never_go_negative():
    S_s, _ = scenario_grid(100, 0.3, 0.5, 1, 0.5, 0.5, 0, 0)
    assert S_s.min() > 0


def test_bachelier_matches_quantlib():
    ql = pytest.importorskip("QuantLib")
    S, K, t, r, q, vol = 100.0, 95.0, 0.5, 0.03, 0.01, 0.25
    fwd = S * math.exp((r - q) * t)
    for cp, typ in ((1.0, ql.Option.Call), (-1.0, ql.Option.Put)):
        want = ql.bachelierBlackFormula(typ, K, fwd, vol * fwd * math.sqrt(t), math.exp(-r * t))
        assert float(bachelier_price(S, K, t, r, q, vol, cp)) == pytest.approx(want, rel=1e-12)


def test_normal_and_approx_models():
    S_s, V_s = scenario_grid(100, 0.3, 0.5, 1, 0.15, 0.15, 1, 0.25)
    n = span_values(100, 90, 0.5, 0.03, 0.0, 0.3, -1.0, S_s, V_s, 0, False,
                    SpanModel.from_model_type("NormalExact", False, False))[0]
    b0 = bachelier_price(100, 90, 0.5, 0.03, 0, 0.3, -1.0)
    want = [float(bachelier_price(s, 90, 0.5, 0.03, 0, v, -1.0) - b0)
            for s, v in zip(S_s[0], V_s[0], strict=True)]
    np.testing.assert_allclose(n, np.array(want) * SpanConfig().weights(), atol=1e-12)
    a = span_values(100, 130, 0.5, 0.05, 0.0, 0.3, -1.0, S_s, V_s, 0, False,
                    SpanModel.from_model_type("LogNormalApprox", True, False))[0]
    euro = price(S_s[0], 130, 0.5, 0.05, 0, V_s[0], -1.0)
    base = max(float(price(100, 130, 0.5, 0.05, 0, 0.3, -1.0)), 30.0)
    np.testing.assert_allclose(a, (np.maximum(euro, 130 - S_s[0]) - base) * SpanConfig().weights())


def test_exch_defaults_are_documented_per_class():
    assert set(EXCH_DEFAULTS) == {"equity", "index", "future"}


def test_exports():
    assert sorted(span.__all__) == sorted(n for n in dir(span) if not n.startswith("_")
                                          and n not in ("annotations",) and not
                                          type(getattr(span, n)).__name__ == "module")
