"""Skew curves of client theo surfaces (pure arrays): raw SVI and the 2-point spline curve.

SVI (``skewFunc`` SVI): ``paramA``..``paramE`` are Gatheral's raw SVI a, b, rho, m, sigma of
the *total implied variance* w(k) = a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2)) in the
log-moneyness k = ln(K / F) (F the adjusted reference forward), so vol(k) = sqrt(w(k) / T)
with T in the surface's ``volTimeUnits``.

2-point curve (``SpdrTheoExp2PtCurve``, skewFunc TheoSpline or ICurve): up to 15 (x, y)
points, y a vol, x in the curve's ``xAxisType``; TheoSpline interpolates with a natural cubic
spline, ICurve with a shape-preserving (PCHIP) cubic; both are flat beyond the end points.
Points with y <= 0 are unused; the used x must strictly increase.

x axes (m = K / F, T in years, v = axisVol, or theoVol for the T* axes):

===============  ==========================  ===============  ========================
Strike           K                           RTMoney          (m - 1) / sqrt(T)
SimpleMoney      m                           VolRTMoney       (m - 1) / (v sqrt(T))
LogStdMoney      ln(m) / (v sqrt(T))         TVolRTMoney      (m - 1) / (v sqrt(T))
TLogStdMoney     ln(m) / (v sqrt(T))         None             ln(m)
===============  ==========================  ===============  ========================
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["X_AXIS_TYPES", "curve_points", "spline_eval", "svi_problem", "svi_total_variance",
           "x_axis"]

X_AXIS_TYPES: tuple[str, ...] = ("None", "Strike", "SimpleMoney", "RTMoney", "VolRTMoney",
                                 "TVolRTMoney", "LogStdMoney", "TLogStdMoney")


def svi_total_variance(k: ArrayLike, a: float, b: float, rho: float, m: float, sigma: float
                       ) -> NDArray[np.float64]:
    """Raw SVI total variance w(k).  Tested: tests/theo/test_theo_kernel.py."""
    x = np.asarray(k, dtype=np.float64) - m
    return a + b * (rho * x + np.sqrt(x * x + sigma * sigma))


def svi_problem(a: float, b: float, rho: float, m: float, sigma: float) -> str:
    """'' when the raw SVI parameters are admissible, else the reason."""
    if not all(np.isfinite([a, b, rho, m, sigma])):
        return "SVI params must be finite"
    if b < 0:
        return "SVI paramB (b) must be >= 0"
    if not -1.0 < rho < 1.0:
        return "SVI paramC (rho) must be in (-1, 1)"
    if sigma <= 0:
        return "SVI paramE (sigma) must be > 0"
    if a + b * sigma * np.sqrt(1.0 - rho * rho) < 0:
        return "SVI gives negative variance"
    return ""


def curve_points(xs: ArrayLike, ys: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], str]:
    """Used points (y > 0) of a 2-point curve and '' or the reason they are unusable."""
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    used = np.isfinite(x) & np.isfinite(y) & (y > 0)
    x, y = x[used], y[used]
    if x.size < 2:
        return x, y, "2-point curve needs >= 2 points"
    if np.any(np.diff(x) <= 0):
        return x, y, "2-point curve x must increase"
    return x, y, ""


def x_axis(axis: str, K: ArrayLike, F: ArrayLike, t_years: ArrayLike, axis_vol: float
           ) -> NDArray[np.float64]:
    """x of strikes K on a curve axis (see the module table)."""
    k = np.asarray(K, dtype=np.float64)
    m = k / np.asarray(F, dtype=np.float64)
    rt = np.sqrt(np.maximum(np.asarray(t_years, dtype=np.float64), 1e-9))
    v = axis_vol if axis_vol > 0 else 0.2
    if axis == "Strike":
        return k * 1.0
    if axis == "SimpleMoney":
        return m
    if axis == "RTMoney":
        return (m - 1.0) / rt
    if axis in ("VolRTMoney", "TVolRTMoney"):
        return (m - 1.0) / (v * rt)
    if axis in ("LogStdMoney", "TLogStdMoney"):
        return np.log(m) / (v * rt)
    return np.log(m)


def spline_eval(x_pts: NDArray[np.float64], y_pts: NDArray[np.float64], x: ArrayLike,
                kind: str = "TheoSpline") -> NDArray[np.float64]:
    """Curve value at x: natural cubic spline (TheoSpline) or PCHIP (ICurve), flat outside."""
    from scipy.interpolate import CubicSpline, PchipInterpolator

    xq = np.clip(np.asarray(x, dtype=np.float64), x_pts[0], x_pts[-1])
    if x_pts.size == 2:
        return np.interp(xq, x_pts, y_pts)
    if kind == "ICurve":
        return np.asarray(PchipInterpolator(x_pts, y_pts)(xq))
    return np.asarray(CubicSpline(x_pts, y_pts, bc_type="natural")(xq))
