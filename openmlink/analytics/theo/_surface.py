"""Client theo surface evaluation (pure arrays): theo vols with surface dynamics, buy/sell vols.

Dynamics (SpdrTheoExpSurface page):

* ``adjRefUPrc = w * refUPrc + (1 - w) * uPrc`` with w = ``refUPrcWeight``; the skew's
  moneyness is taken against the forward of ``adjRefUPrc`` (w = 1 sticky strike: a strike
  keeps its vol as the underlier moves; w = 0 sticky delta: the smile moves with uPrc);
* ``theoVolAdj = theoVol + tvSlope * (uPrc - refUPrc) + w' * (liveSRAtm - refSRAtm)`` with
  w' = ``refSRAtmWeight``: this shift is added to the whole curve.

Skew functions: SVI (``_curves``); TheoSpline / ICurve from the linked 2-point curve (y are
vols; with ``theoVol`` > 0 the curve is re-levelled so that its atm value is theoVol);
SRDynCurve = ``theoVol`` + (SR surface vol - SR atm vol) at each strike; None = flat theoVol.

Buy/sell (``buySellConvention``; X is Opn or Cls, vol inputs bXVol/sXVol, edges bXEdge/sXEdge):

============  =================================================================
None          buy vol = sell vol = theo vol
Minimum       bVol = min(tvol, bXVol), sVol = max(tvol, sXVol) (X vol <= 0: unset)
BSSpread      bVol = tvol - bXVol, sVol = tvol + sXVol         (vol units, 0.01 = 1 pt)
BSPctSprd     bVol = tvol * (1 - bXVol), sVol = tvol * (1 + sXVol)
BSOffsetPts   prices: bPrc = tprc - bXVol, sPrc = tprc + sXVol (premium points)
BSOffsetPct   prices: bPrc = tprc * (1 - bXVol), sPrc = tprc * (1 + sXVol)
============  =================================================================

then buy prices = price(bVol) - bXEdge (floored at 0) and sell prices = price(sVol) + sXEdge;
for the price-offset conventions the reported buy/sell vols are tvol -/+ offset / vega.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ._curves import curve_points, spline_eval, svi_problem, svi_total_variance, x_axis

__all__ = ["BUY_SELL_CONVENTIONS", "SKEW_FUNCS", "SurfaceSpec", "buy_sell_vols", "surface_problem",
           "theo_vols"]

SKEW_FUNCS: tuple[str, ...] = ("None", "ICurve", "SRDynCurve", "TheoSpline", "SVI")
BUY_SELL_CONVENTIONS: tuple[str, ...] = ("None", "Minimum", "BSSpread", "BSPctSprd", "BSOffsetPts",
                                         "BSOffsetPct")


@dataclass(slots=True)
class SurfaceSpec:
    """The numbers of one SpdrTheoExpSurface (+ linked curve) needed to evaluate it."""

    skew_func: str = "None"
    params: tuple[float, ...] = (0.0,) * 10
    theo_vol: float = 0.0
    ref_uprc: float = 0.0
    ref_uprc_weight: float = 0.0
    ref_sr_atm: float = 0.0
    ref_sr_atm_weight: float = 0.0
    tv_slope: float = 0.0
    curve_axis: str = "None"
    axis_vol: float = 0.0
    curve_x: tuple[float, ...] = ()
    curve_y: tuple[float, ...] = ()
    extra: dict[str, float] = field(default_factory=dict)


def surface_problem(spec: SurfaceSpec, has_curve: bool) -> str:
    """'' when the surface can be evaluated, else a clear reason."""
    for name, w in (("refUPrcWeight", spec.ref_uprc_weight),
                    ("refSRAtmWeight", spec.ref_sr_atm_weight)):
        if not (math.isfinite(w) and 0.0 <= w <= 1.0):
            return f"{name} must be in [0, 1]"
    sf = spec.skew_func
    if sf == "SVI":
        return svi_problem(*spec.params[:5])
    if sf in ("TheoSpline", "ICurve"):
        if not has_curve:
            return f"{sf} needs a SpdrTheoExp2PtCurve"
        return curve_points(spec.curve_x, spec.curve_y)[2]
    if sf == "SRDynCurve" and not spec.theo_vol > 0:
        return "SRDynCurve needs theoVol > 0"
    if sf == "None" and not spec.theo_vol > 0:
        return "skewFunc None needs theoVol > 0"
    return ""


def theo_vols(spec: SurfaceSpec, K: NDArray[np.float64], uprc: float, carry: float,
              t_vol: float, live_sr_atm: float = math.nan,
              sr_skew: NDArray[np.float64] | None = None
              ) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """(theo vol per strike, xAxis per strike, atm theo vol).

    ``carry`` = F / uPrc (forward factor); ``t_vol`` years in the surface's time units;
    ``sr_skew`` = SR surface vol - SR atm vol per strike (SRDynCurve).  The spec must be
    valid (``surface_problem``).  Tested: tests/theo/test_theo_kernel.py.
    """
    w = spec.ref_uprc_weight
    ref = spec.ref_uprc if spec.ref_uprc > 0 else uprc
    adj_ref = w * ref + (1.0 - w) * uprc
    F = adj_ref * carry
    shift = spec.tv_slope * (uprc - ref)
    if spec.ref_sr_atm > 0 and math.isfinite(live_sr_atm):
        shift += spec.ref_sr_atm_weight * (live_sr_atm - spec.ref_sr_atm)
    T = max(t_vol, 1e-9)
    sf = spec.skew_func
    k = np.log(K / F)
    if sf == "SVI":
        a, b, rho, m, sig = spec.params[:5]
        tv = np.sqrt(np.maximum(svi_total_variance(k, a, b, rho, m, sig), 0.0) / T)
        atm = float(np.sqrt(max(float(svi_total_variance(0.0, a, b, rho, m, sig)), 0.0) / T))
        return tv + shift, k, atm + shift
    if sf in ("TheoSpline", "ICurve"):
        xp, yp, _ = curve_points(spec.curve_x, spec.curve_y)
        av = spec.theo_vol if spec.curve_axis.startswith("T") and spec.theo_vol > 0 else spec.axis_vol
        x = x_axis(spec.curve_axis, K, F, T, av)
        y = spline_eval(xp, yp, x, sf)
        y_atm = float(spline_eval(xp, yp, x_axis(spec.curve_axis, np.array([F]), F, T, av), sf)[0])
        if spec.theo_vol > 0:
            return spec.theo_vol + (y - y_atm) + shift, x, spec.theo_vol + shift
        return y + shift, x, y_atm + shift
    skew = np.zeros_like(K) if (sf != "SRDynCurve" or sr_skew is None) else np.nan_to_num(sr_skew)
    return spec.theo_vol + skew + shift, k, spec.theo_vol + shift


def buy_sell_vols(conv: str, tvol: NDArray[np.float64], b_vol: float, s_vol: float
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Buy and sell vols of a vol convention (price-offset conventions return tvol)."""
    if conv == "Minimum":
        bv = np.minimum(tvol, b_vol) if b_vol > 0 else tvol
        sv = np.maximum(tvol, s_vol) if s_vol > 0 else tvol
    elif conv == "BSSpread":
        bv, sv = tvol - b_vol, tvol + s_vol
    elif conv == "BSPctSprd":
        bv, sv = tvol * (1.0 - b_vol), tvol * (1.0 + s_vol)
    else:
        bv, sv = tvol, tvol
    return np.maximum(bv, 1e-4), np.maximum(sv, 1e-4)
