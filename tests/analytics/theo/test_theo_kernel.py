"""Theo surface kernels: SVI, spline curves, surface dynamics, buy/sell conventions, checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

import openmlink.analytics.theo as theo
from openmlink.analytics.theo import (
    SurfaceSpec,
    buy_sell_vols,
    curve_points,
    spline_eval,
    surface_problem,
    svi_total_variance,
    theo_vols,
)
from openmlink.engines.theo import surface_error

SVI = (0.01, 0.05, -0.5, 0.0, 0.1)
K = np.array([80.0, 90.0, 100.0, 110.0, 120.0])


def _svi(w: float = 0.0, **kw) -> SurfaceSpec:
    return SurfaceSpec(skew_func="SVI", params=SVI + (0.0,) * 5, ref_uprc=100.0,
                       ref_uprc_weight=w, **kw)


def test_svi_vol_is_root_total_variance_over_time():
    tv, x, atm = theo_vols(_svi(), K, 100.0, 1.0, 0.5)
    k = np.log(K / 100.0)
    a, b, rho, m, s = SVI
    np.testing.assert_allclose(x, k)
    np.testing.assert_allclose(tv, np.sqrt((a + b * (rho * (k - m) + np.sqrt((k - m) ** 2 + s * s))) / 0.5))
    assert atm == pytest.approx(math.sqrt(float(svi_total_variance(0.0, *SVI)) / 0.5))


def test_sticky_strike_keeps_strike_vols_when_the_underlier_moves():
    before = theo_vols(_svi(1.0), K, 100.0, 1.0, 0.5)[0]
    after = theo_vols(_svi(1.0), K, 110.0, 1.0, 0.5)[0]
    np.testing.assert_allclose(after, before, rtol=1e-14)


def test_sticky_delta_moves_the_smile_with_the_underlier():
    before = theo_vols(_svi(0.0), K, 100.0, 1.0, 0.5)[0]
    after = theo_vols(_svi(0.0), K * 1.1, 110.0, 1.0, 0.5)[0]
    np.testing.assert_allclose(after, before, rtol=1e-14)  # same moneyness, same vol
    assert not np.allclose(theo_vols(_svi(0.0), K, 110.0, 1.0, 0.5)[0], before)


def test_half_weight_blends_the_reference_price():
    half = theo_vols(_svi(0.5), K, 110.0, 1.0, 0.5)[0]
    at_105 = theo_vols(_svi(0.0), K, 105.0, 1.0, 0.5)[0]
    np.testing.assert_allclose(half, at_105, rtol=1e-14)


def test_tv_slope_and_sr_atm_shift_the_curve():
    spec = _svi(1.0, tv_slope=0.001, ref_sr_atm=0.2, ref_sr_atm_weight=0.5)
    base = theo_vols(_svi(1.0), K, 110.0, 1.0, 0.5)[0]
    got = theo_vols(spec, K, 110.0, 1.0, 0.5, live_sr_atm=0.24)[0]
    np.testing.assert_allclose(got - base, 0.001 * 10 + 0.5 * 0.04, rtol=1e-12)


def test_spline_curves_pass_through_their_points_and_are_flat_outside():
    x = np.array([-0.2, -0.1, 0.0, 0.1, 0.2])
    y = np.array([0.30, 0.25, 0.22, 0.21, 0.215])
    for kind in ("TheoSpline", "ICurve"):
        np.testing.assert_allclose(spline_eval(x, y, x, kind), y, rtol=1e-12)
        assert spline_eval(x, y, np.array([-1.0, 1.0]), kind).tolist() == [0.30, 0.215]
    spec = SurfaceSpec(skew_func="TheoSpline", curve_axis="None", curve_x=tuple(x), curve_y=tuple(y),
                       ref_uprc=100.0)
    tv, _xs, _atm = theo_vols(spec, 100.0 * np.exp(x), 100.0, 1.0, 0.5)
    np.testing.assert_allclose(tv, y, rtol=1e-12)
    spec.theo_vol = 0.30  # re-levelled: atm becomes theoVol, skew kept
    tv2 = theo_vols(spec, 100.0 * np.exp(x), 100.0, 1.0, 0.5)[0]
    np.testing.assert_allclose(tv2 - tv, 0.30 - 0.22, rtol=1e-12)


def test_sr_dyn_curve_is_client_atm_plus_sr_skew():
    spec = SurfaceSpec(skew_func="SRDynCurve", theo_vol=0.25, ref_uprc=100.0)
    skew = np.array([0.05, 0.02, 0.0, -0.01, -0.01])
    np.testing.assert_allclose(theo_vols(spec, K, 100.0, 1.0, 0.5, sr_skew=skew)[0], 0.25 + skew)


@pytest.mark.parametrize(("spec", "has_curve", "msg"), [
    (SurfaceSpec(skew_func="None"), False, "skewFunc None needs theoVol > 0"),
    (SurfaceSpec(skew_func="SVI", params=(0.01, -1, 0, 0, 0.1) + (0,) * 5), False, "SVI paramB"),
    (SurfaceSpec(skew_func="SVI", params=(0.01, 0.1, 1.5, 0, 0.1) + (0,) * 5), False, "SVI paramC"),
    (SurfaceSpec(skew_func="SVI", params=(-0.1, 0.1, 0, 0, 0.1) + (0,) * 5), False, "negative variance"),
    (SurfaceSpec(skew_func="SVI", params=SVI + (0,) * 5, ref_uprc_weight=1.5), False,
     "refUPrcWeight must be in [0, 1]"),
    (SurfaceSpec(theo_vol=0.2, ref_sr_atm_weight=-0.1), False, "refSRAtmWeight must be in [0, 1]"),
    (SurfaceSpec(skew_func="TheoSpline"), False, "TheoSpline needs a SpdrTheoExp2PtCurve"),
    (SurfaceSpec(skew_func="ICurve", curve_x=(0.1, 0.0, 0.2), curve_y=(0.2, 0.2, 0.2)), True,
     "2-point curve x must increase"),
    (SurfaceSpec(skew_func="SRDynCurve"), False, "SRDynCurve needs theoVol > 0"),
])
def test_surface_problems_are_named(spec, has_curve, msg):
    assert msg in surface_problem(spec, has_curve)


def test_surface_error_checks_u_bounds():
    assert surface_error({"theoVol": 0.2, "minUBid": 110.0, "maxUAsk": 100.0}, None) == \
        "minUBid must be <= maxUAsk"
    assert surface_error({"theoVol": 0.2}, None) == ""


def test_curve_points_skip_unset_points():
    x, _y, err = curve_points([-0.1, 0.0, 0.1, 0.0], [0.3, 0.2, 0.25, 0.0])
    assert err == "" and x.tolist() == [-0.1, 0.0, 0.1]


@pytest.mark.parametrize(("conv", "b", "s"), [
    ("None", [0.20, 0.30], [0.20, 0.30]),
    ("Minimum", [0.20, 0.28], [0.25, 0.30]),
    ("BSSpread", [0.18, 0.28], [0.25, 0.35]),
    ("BSPctSprd", [0.20 * 0.82, 0.30 * 0.82], [0.20 * 1.25, 0.30 * 1.25]),
    ("BSOffsetPts", [0.20, 0.30], [0.20, 0.30]),
])
def test_buy_sell_vol_conventions(conv, b, s):
    tv = np.array([0.20, 0.30])
    bv, sv = buy_sell_vols(conv, tv, {"Minimum": 0.28, "BSPctSprd": 0.18}.get(conv, 0.02),
                           {"Minimum": 0.25, "BSPctSprd": 0.25}.get(conv, 0.05))
    np.testing.assert_allclose(bv, b, rtol=1e-12)
    np.testing.assert_allclose(sv, s, rtol=1e-12)


def test_exports():
    assert sorted(theo.__all__) == sorted(n for n in dir(theo) if not n.startswith("_")
                                          and type(getattr(theo, n)).__name__ != "module"
                                          and n != "annotations")
