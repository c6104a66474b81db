"""Arbitrage-aware raw-SVI smile fits, many expiries per call (Numba, pure array functions).

Raw SVI (Gatheral 2004) gives the total implied variance w = vol^2 * t_years of one expiry as a
function of the log-moneyness k = ln(K/F) (F the expiry's forward):

    w(k) = a + b * (rho * (k - m) + sqrt((k - m)^2 + sigma^2))

Constraints kept by the fit (the usual no-arbitrage conditions on the parameters):
    b >= 0, |rho| < 1, sigma > 0                      (a proper smile)
    a + b * sigma * sqrt(1 - rho^2) >= 0              (w >= 0 everywhere: the minimum of w)
    b * (1 + |rho|) <= 2                              (Roger Lee's moment bound on both wings)
Butterfly freedom (Durrleman's g(k) >= 0) is not imposed on the parameters; ``svi_durrleman_g``
evaluates it so that callers and tests can check a fit.

Fit (quasi-explicit, Zeliade 2009).  With y = (k - m)/sigma, w = a + d*y + c*sqrt(y^2 + 1) is
linear in (a, d, c) = (a, b*rho*sigma, b*sigma): for each (m, sigma) a weighted 3x3 least-squares
solve gives (a, d, c), projected onto the constraint set (0 <= c, |d| <= c, c + |d| <= 2 sigma,
a >= -sqrt(c^2 - d^2)).  The outer 2-D problem in (m, ln sigma) is started from a coarse grid and
polished by Nelder-Mead.  Weights are the caller's (the engine uses 1 / spread^2 of the quote in
total-variance units: tight, high-vega quotes count most).  Groups with fewer than 5 points get a
flat smile (b = 0, a = weighted mean of w); groups without points get NaN parameters.

Parameters are returned as rows (a, b, rho, m, sigma); ``rmse`` is the weighted RMS error in
total variance.  Tested: tests/engines/implied/test_engine_units.py.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from ._jit import JitOptions
from ._parallel import parallel_enabled

__all__ = [
    "SVI_PARAMS",
    "fit_svi",
    "svi_constraints_ok",
    "svi_durrleman_g",
    "svi_total_variance",
]

SVI_PARAMS: tuple[str, ...] = ("a", "b", "rho", "m", "sigma")
_JIT: JitOptions = {"cache": True, "nogil": True, "error_model": "numpy"}
_PJIT: JitOptions = {**_JIT, "parallel": True}
_SIG_MIN = 1e-3
_SIG_MAX = 2.0


@njit(**_JIT)
def _inner(k: NDArray[np.float64], w: NDArray[np.float64], wt: NDArray[np.float64], lo: int,
           hi: int, m: float, sig: float, out: NDArray[np.float64]) -> float:
    """Weighted LS for (a, d, c) at fixed (m, sigma), projected on the constraints; returns
    the weighted squared error and writes (a, d, c) into out[0:3]."""
    s00 = s01 = s02 = s11 = s12 = s22 = r0 = r1 = r2 = 0.0
    for i in range(lo, hi):
        y = (k[i] - m) / sig
        z = math.sqrt(y * y + 1.0)
        q = wt[i]
        s00 += q
        s01 += q * y
        s02 += q * z
        s11 += q * y * y
        s12 += q * y * z
        s22 += q * z * z
        r0 += q * w[i]
        r1 += q * w[i] * y
        r2 += q * w[i] * z
    # Cramer's rule on the symmetric 3x3 system
    det = (s00 * (s11 * s22 - s12 * s12) - s01 * (s01 * s22 - s12 * s02)
           + s02 * (s01 * s12 - s11 * s02))
    a = d = c = math.nan
    if abs(det) > 1e-300:
        a = (r0 * (s11 * s22 - s12 * s12) - s01 * (r1 * s22 - s12 * r2)
             + s02 * (r1 * s12 - s11 * r2)) / det
        d = (s00 * (r1 * s22 - s12 * r2) - r0 * (s01 * s22 - s12 * s02)
             + s02 * (s01 * r2 - r1 * s02)) / det
        c = (s00 * (s11 * r2 - r1 * s12) - s01 * (s01 * r2 - r1 * s02)
             + r0 * (s01 * s12 - s11 * s02)) / det
    ok = (math.isfinite(a) and c >= 0.0 and abs(d) <= c and c + abs(d) <= 2.0 * sig
          and a >= -math.sqrt(max(c * c - d * d, 0.0)))
    if not ok:
        # project (c, d) on the feasible set, then re-fit a alone (1-D weighted LS)
        if not math.isfinite(c) or c < 0.0:
            c = 0.0
        if not math.isfinite(d):
            d = 0.0
        c = min(c, 2.0 * sig)
        if abs(d) > c:
            d = math.copysign(c, d)
        if c + abs(d) > 2.0 * sig:
            d = math.copysign(2.0 * sig - c, d)
        num = 0.0
        for i in range(lo, hi):
            y = (k[i] - m) / sig
            num += wt[i] * (w[i] - d * y - c * math.sqrt(y * y + 1.0))
        a = num / s00 if s00 > 0.0 else 0.0
        a = max(a, -math.sqrt(max(c * c - d * d, 0.0)))
    err = 0.0
    for i in range(lo, hi):
        y = (k[i] - m) / sig
        e = a + d * y + c * math.sqrt(y * y + 1.0) - w[i]
        err += wt[i] * e * e
    out[0] = a
    out[1] = d
    out[2] = c
    return err


@njit(**_JIT)
def _obj(k: NDArray[np.float64], w: NDArray[np.float64], wt: NDArray[np.float64], lo: int,
         hi: int, m: float, lsig: float, tmp: NDArray[np.float64]) -> float:
    sig = math.exp(min(max(lsig, math.log(_SIG_MIN)), math.log(_SIG_MAX)))
    return _inner(k, w, wt, lo, hi, m, sig, tmp)


@njit(**_JIT)
def _fit_group(k: NDArray[np.float64], w: NDArray[np.float64], wt: NDArray[np.float64],
               lo: int, hi: int, out: NDArray[np.float64]) -> float:
    n = hi - lo
    tmp = np.empty(3)
    wsum = 0.0
    wmean = 0.0
    for i in range(lo, hi):
        wsum += wt[i]
        wmean += wt[i] * w[i]
    if n == 0 or wsum <= 0.0:
        out[:] = math.nan
        return math.nan
    wmean /= wsum
    if n < 5:
        out[0] = wmean
        out[1] = 0.0
        out[2] = 0.0
        out[3] = 0.0
        out[4] = 0.1
        err = 0.0
        for i in range(lo, hi):
            err += wt[i] * (w[i] - wmean) ** 2
        return math.sqrt(err / wsum)
    kmin = k[lo]
    kmax = k[lo]
    for i in range(lo, hi):
        kmin = min(kmin, k[i])
        kmax = max(kmax, k[i])
    span = max(kmax - kmin, 1e-4)
    # coarse grid in (m, ln sigma)
    best = math.inf
    bm = 0.0
    bl = math.log(0.1 * span)
    for im in range(7):
        m = kmin + span * (0.15 + 0.7 * im / 6.0)
        for js in range(6):
            ls = math.log(max(span * 0.02 * 2.2 ** js, _SIG_MIN))
            e = _obj(k, w, wt, lo, hi, m, ls, tmp)
            if e < best:
                best = e
                bm = m
                bl = ls
    # Nelder-Mead polish on (m, ln sigma)
    px = np.empty((3, 2))
    fx = np.empty(3)
    px[0, 0] = bm
    px[0, 1] = bl
    px[1, 0] = bm + 0.1 * span
    px[1, 1] = bl
    px[2, 0] = bm
    px[2, 1] = bl + 0.5
    for j in range(3):
        fx[j] = _obj(k, w, wt, lo, hi, px[j, 0], px[j, 1], tmp)
    for _it in range(120):
        # order
        for a_ in range(3):
            for b_ in range(2 - a_):
                if fx[b_] > fx[b_ + 1]:
                    t0 = fx[b_]
                    fx[b_] = fx[b_ + 1]
                    fx[b_ + 1] = t0
                    for c_ in range(2):
                        t1 = px[b_, c_]
                        px[b_, c_] = px[b_ + 1, c_]
                        px[b_ + 1, c_] = t1
        if abs(fx[2] - fx[0]) <= 1e-12 * (abs(fx[0]) + 1e-300) + 1e-300:
            break
        c0 = 0.5 * (px[0, 0] + px[1, 0])
        c1 = 0.5 * (px[0, 1] + px[1, 1])
        r0 = c0 + (c0 - px[2, 0])
        r1 = c1 + (c1 - px[2, 1])
        fr = _obj(k, w, wt, lo, hi, r0, r1, tmp)
        if fr < fx[0]:
            e0 = c0 + 2.0 * (c0 - px[2, 0])
            e1 = c1 + 2.0 * (c1 - px[2, 1])
            fe = _obj(k, w, wt, lo, hi, e0, e1, tmp)
            if fe < fr:
                px[2, 0], px[2, 1], fx[2] = e0, e1, fe
            else:
                px[2, 0], px[2, 1], fx[2] = r0, r1, fr
        elif fr < fx[1]:
            px[2, 0], px[2, 1], fx[2] = r0, r1, fr
        else:
            k0 = c0 + 0.5 * (px[2, 0] - c0)
            k1 = c1 + 0.5 * (px[2, 1] - c1)
            fk = _obj(k, w, wt, lo, hi, k0, k1, tmp)
            if fk < fx[2]:
                px[2, 0], px[2, 1], fx[2] = k0, k1, fk
            else:
                for j in (1, 2):
                    px[j, 0] = px[0, 0] + 0.5 * (px[j, 0] - px[0, 0])
                    px[j, 1] = px[0, 1] + 0.5 * (px[j, 1] - px[0, 1])
                    fx[j] = _obj(k, w, wt, lo, hi, px[j, 0], px[j, 1], tmp)
    jb = 0
    for j in range(3):
        if fx[j] < fx[jb]:
            jb = j
    m = px[jb, 0]
    sig = math.exp(min(max(px[jb, 1], math.log(_SIG_MIN)), math.log(_SIG_MAX)))
    err = _inner(k, w, wt, lo, hi, m, sig, tmp)
    a, d, c = tmp[0], tmp[1], tmp[2]
    out[0] = a
    out[1] = c / sig
    out[2] = d / c if c > 0.0 else 0.0
    out[3] = m
    out[4] = sig
    return math.sqrt(err / wsum)


@njit(**_PJIT)
def _fit_all(k: NDArray[np.float64], w: NDArray[np.float64], wt: NDArray[np.float64],
             offsets: NDArray[np.int64], params: NDArray[np.float64],
             rmse: NDArray[np.float64]) -> None:
    for g in prange(offsets.shape[0] - 1):
        rmse[g] = _fit_group(k, w, wt, offsets[g], offsets[g + 1], params[g])


@njit(**_JIT)
def _fit_all_serial(k: NDArray[np.float64], w: NDArray[np.float64], wt: NDArray[np.float64],
                    offsets: NDArray[np.int64], params: NDArray[np.float64],
                    rmse: NDArray[np.float64]) -> None:
    for g in range(offsets.shape[0] - 1):
        rmse[g] = _fit_group(k, w, wt, offsets[g], offsets[g + 1], params[g])


_PAR_MIN_POINTS = 2048
"""Fits over fewer points run serially: a parallel region can cost a scheduler slice (~5 ms)
when the other core is busy, more than a few small fits take."""


def fit_svi(k: NDArray[np.float64], w: NDArray[np.float64], weight: NDArray[np.float64],
            offsets: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fit one raw-SVI smile per group; rows ``offsets[g]:offsets[g+1]`` belong to group g.

    ``k`` log-moneyness ln(K/F), ``w`` total implied variance vol^2*t_years, ``weight`` >= 0.
    Returns (params (n_groups, 5) as (a, b, rho, m, sigma), weighted RMS error in w).
    """
    kk = np.ascontiguousarray(k, dtype=np.float64)
    ww = np.ascontiguousarray(w, dtype=np.float64)
    wt = np.ascontiguousarray(weight, dtype=np.float64)
    off = np.ascontiguousarray(offsets, dtype=np.int64)
    ng = max(len(off) - 1, 0)
    params = np.empty((ng, 5))
    rmse = np.empty(ng)
    if ng:
        par = ng > 1 and len(kk) >= _PAR_MIN_POINTS and parallel_enabled()
        (_fit_all if par else _fit_all_serial)(kk, ww, wt, off, params, rmse)
    return params, rmse


def svi_total_variance(k: NDArray[np.float64], params: NDArray[np.float64]) -> NDArray[np.float64]:
    """w(k) for rows of parameters (broadcast: ``params[..., 0..4]`` against ``k``)."""
    p = np.asarray(params, dtype=np.float64)
    a, b, rho, m, sig = (p[..., i] for i in range(5))
    x = np.asarray(k, dtype=np.float64) - m
    return a + b * (rho * x + np.sqrt(x * x + sig * sig))


def svi_constraints_ok(params: NDArray[np.float64], tol: float = 1e-9) -> NDArray[np.bool_]:
    """The parameter constraints of the module docstring, per row of parameters."""
    p = np.atleast_2d(np.asarray(params, dtype=np.float64))
    a, b, rho, _m, sig = (p[:, i] for i in range(5))
    return ((b >= -tol) & (np.abs(rho) < 1.0) & (sig > 0.0)
            & (a + b * sig * np.sqrt(np.maximum(1.0 - rho * rho, 0.0)) >= -tol)
            & (b * (1.0 + np.abs(rho)) <= 2.0 + tol))


def svi_durrleman_g(k: NDArray[np.float64], params: NDArray[np.float64]) -> NDArray[np.float64]:
    """Durrleman's butterfly function g(k) (>= 0 means a non-negative implied density)."""
    p = np.asarray(params, dtype=np.float64)
    a, b, rho, m, sig = (p[..., i] for i in range(5))
    x = np.asarray(k, dtype=np.float64) - m
    r = np.sqrt(x * x + sig * sig)
    w = a + b * (rho * x + r)
    w1 = b * (rho + x / r)
    w2 = b * sig * sig / r**3
    kk = np.asarray(k, dtype=np.float64)
    return (1.0 - kk * w1 / (2.0 * w)) ** 2 - w1 * w1 / 4.0 * (1.0 / w + 0.25) + w2 / 2.0
