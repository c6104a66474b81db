"""The engine's smile: raw SVI plus a smooth spline correction, butterfly-checked (NumPy).

Raw SVI (``_svi``) is too stiff for tight index markets: on the 2023-09-14 SPX chain its
errors wave by 0.1-0.3 vol points across the money, more than the bid/ask.  The smile is

    w(k) = w_svi(k) + sum_j c_j N((k - k_lo) / h - j),   j = 0 .. J-1,  h = (k_hi - k_lo) / (J + 3)

with N the uniform cubic B-spline on [0, 4): a correction that is zero, with zero slope and
curvature, at and beyond the fitted range [k_lo, k_hi] (the wings stay SVI's, with its moment
bounds).  Parameters, one row of ``SMILE_WIDTH`` per expiry (LiveSurfaceCurve skewC00..C28):
a, b, rho, m, sigma (SVI), k_lo, k_hi, J, c_0 .. c_{J-1} (J <= ``MAX_KNOTS``, unused zero).

Fit (``fit_correction``): the weighted residuals of the SVI fit, least squares on the J
coefficients with a second-difference roughness penalty, J from the points available.
Butterfly freedom: Durrleman's g(k) >= 0 is checked on a grid over the fitted range (a
corrected smile must keep g >= 2e-3 on the grid); where the corrected smile fails it, the
correction is scaled down (1, 1/2, 1/4, 1/8, 0: the largest scale that passes); if SVI itself
fails, the expiry is flagged (the second value of ``fit_correction`` False) so that the caller
reports it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from ._jit import JitOptions

__all__ = ["MAX_KNOTS", "SMILE_WIDTH", "durrleman_g", "fit_correction", "smile_total_variance",
           "smile_wk"]

MAX_KNOTS = 21
SMILE_WIDTH = 8 + MAX_KNOTS  # 29 = skewC00..skewC28
_GRID = 1281
_MARGIN = 2e-3
"""A scaled correction must keep g >= _MARGIN on the grid (not just >= 0): g can dip between
grid points (hypothesis found -1.4e-4 between points of a 641-point grid on SPXW 8 days)."""
_SCALES = (1.0, 0.5, 0.25, 0.125, 0.0)
_JIT: JitOptions = {"cache": True, "nogil": True, "error_model": "numpy"}


def _bspline(x: NDArray[np.float64], deriv: int) -> NDArray[np.float64]:
    """Uniform cubic B-spline N(x) on [0, 4) (0 outside) or its first/second derivative."""
    out = np.zeros_like(x)
    pieces = (
        (0.0, (0.0, 0.0, 0.0, 1.0 / 6.0)),                 # x^3/6
        (1.0, (4.0 / 6.0, -2.0, 2.0, -0.5)),               # (-3x^3 + 12x^2 - 12x + 4)/6
        (2.0, (-44.0 / 6.0, 10.0, -4.0, 0.5)),             # (3x^3 - 24x^2 + 60x - 44)/6
        (3.0, (64.0 / 6.0, -8.0, 2.0, -1.0 / 6.0)),        # (4 - x)^3/6
    )
    for lo, (c0, c1, c2, c3) in pieces:
        m = (x >= lo) & (x < lo + 1.0)
        xm = x[m]
        if deriv == 0:
            v = c0 + xm * (c1 + xm * (c2 + xm * c3))
        elif deriv == 1:
            v = c1 + xm * (2.0 * c2 + 3.0 * c3 * xm)
        else:
            v = 2.0 * c2 + 6.0 * c3 * xm
        out[m] = v
    return out


def _correction(k: NDArray[np.float64], p: NDArray[np.float64], deriv: int) -> NDArray[np.float64]:
    """The spline correction (or its k-derivative) per row: ``p`` (n, SMILE_WIDTH), ``k`` (n,)."""
    n = len(k)
    out = np.zeros(n)
    if p.shape[-1] < SMILE_WIDTH or n == 0:
        return out
    lo, hi, nj = p[:, 5], p[:, 6], p[:, 7]
    with np.errstate(all="ignore"):
        ok = np.isfinite(lo) & np.isfinite(hi) & (nj >= 1) & (hi > lo)
        h = np.where(ok, (hi - lo) / (nj + 3.0), 1.0)
        u = np.where(ok, (k - lo) / h, -1.0)
    i = np.floor(u)
    scale = h ** -deriv
    rows = np.arange(n)
    for o in range(4):
        j = i - o
        valid = ok & (u >= 0) & (u < nj + 3.0) & (j >= 0) & (j < nj)
        jj = np.where(valid, j, 0).astype(np.int64)
        c = p[rows, 8 + np.minimum(jj, MAX_KNOTS - 1)]
        out += np.where(valid, c * _bspline(np.where(valid, u - j, -1.0), deriv), 0.0)
    return out * scale


def smile_total_variance(k: NDArray[np.float64], params: NDArray[np.float64]) -> NDArray[np.float64]:
    """w(k) per row (``params`` (n, 5) raw SVI or (n, SMILE_WIDTH) with the correction)."""
    return smile_wk(k, params)[0]


def smile_wk(k: NDArray[np.float64], params: NDArray[np.float64], order: int = 0
             ) -> tuple[NDArray[np.float64], ...]:
    """(w, dw/dk, d2w/dk2)[: order + 1] per row."""
    p = np.atleast_2d(np.asarray(params, np.float64))
    kk = np.atleast_1d(np.asarray(k, np.float64))
    n = max(p.shape[0], kk.shape[0])
    p = np.broadcast_to(p, (n, p.shape[1]))
    kk = np.broadcast_to(kk, (n,))
    a, b, rho, m, sig = (p[:, i] for i in range(5))
    with np.errstate(all="ignore"):
        x = kk - m
        r = np.sqrt(x * x + sig * sig)
        out = [a + b * (rho * x + r) + _correction(kk, p, 0)]
        if order >= 1:
            out.append(b * (rho + x / r) + _correction(kk, p, 1))
        if order >= 2:
            out.append(b * sig * sig / r**3 + _correction(kk, p, 2))
    return tuple(out)


def durrleman_g(k: NDArray[np.float64], params: NDArray[np.float64]) -> NDArray[np.float64]:
    """Durrleman's g(k) (>= 0: a non-negative density) of the smile, per row."""
    w, w1, w2 = smile_wk(k, params, 2)
    kk = np.asarray(k, np.float64)
    with np.errstate(all="ignore"):
        return (1.0 - kk * w1 / (2.0 * w)) ** 2 - w1 * w1 / 4.0 * (1.0 / w + 0.25) + w2 / 2.0


@njit(**_JIT)
def _g_min_kernel(p: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64],
                  scale: float, n_grid: int, out: NDArray[np.float64]) -> None:
    """Smallest Durrleman g over ``n_grid`` points of [lo, hi] per row of ``p`` with the
    correction scaled by ``scale`` (-inf where w <= 0 or g is not finite)."""
    for r in range(p.shape[0]):
        a, b, rho, m, sig = p[r, 0], p[r, 1], p[r, 2], p[r, 3], p[r, 4]
        k_lo, k_hi, nj = p[r, 5], p[r, 6], int(p[r, 7])
        h = (k_hi - k_lo) / (nj + 3.0) if nj > 0 and k_hi > k_lo else 1.0
        best = math.inf
        for i in range(n_grid):
            k = lo[r] + (hi[r] - lo[r]) * i / (n_grid - 1)
            x = k - m
            rr = math.sqrt(x * x + sig * sig)
            w = a + b * (rho * x + rr)
            w1 = b * (rho + x / rr)
            w2 = b * sig * sig / (rr * rr * rr)
            if nj > 0:
                u = (k - k_lo) / h
                if 0.0 <= u < nj + 3.0:
                    iu = math.floor(u)
                    t = u - iu
                    for o in range(4):
                        j = int(iu) - o
                        if 0 <= j < nj:
                            c = scale * p[r, 8 + j]
                            xx = o + t
                            if o == 0:
                                b0, b1, b2 = xx ** 3 / 6.0, 0.5 * xx * xx, xx
                            elif o == 1:
                                b0 = 4.0 / 6.0 + xx * (-2.0 + xx * (2.0 - 0.5 * xx))
                                b1 = -2.0 + xx * (4.0 - 1.5 * xx)
                                b2 = 4.0 - 3.0 * xx
                            elif o == 2:
                                b0 = -44.0 / 6.0 + xx * (10.0 + xx * (-4.0 + 0.5 * xx))
                                b1 = 10.0 + xx * (-8.0 + 1.5 * xx)
                                b2 = -8.0 + 3.0 * xx
                            else:
                                y = 4.0 - xx
                                b0, b1, b2 = y ** 3 / 6.0, -0.5 * y * y, y
                            w += c * b0
                            w1 += c * b1 / h
                            w2 += c * b2 / (h * h)
            if not (w > 0.0):
                best = -math.inf
                break
            g = (1.0 - k * w1 / (2.0 * w)) ** 2 - w1 * w1 / 4.0 * (1.0 / w + 0.25) + w2 / 2.0
            if not math.isfinite(g):
                best = -math.inf
                break
            best = min(best, g)
        out[r] = best


def _g_min(lo: NDArray[np.float64], hi: NDArray[np.float64], p: NDArray[np.float64],
           scale: float = 1.0) -> NDArray[np.float64]:
    """Smallest g over a ``_GRID``-point grid of [lo, hi] per expiry row of ``p``."""
    out = np.empty(len(lo))
    if len(lo):
        _g_min_kernel(np.ascontiguousarray(p, np.float64), np.ascontiguousarray(lo, np.float64),
                      np.ascontiguousarray(hi, np.float64), float(scale), _GRID, out)
    return out


def fit_correction(k: NDArray[np.float64], w: NDArray[np.float64], wt: NDArray[np.float64],
                   offsets: NDArray[np.int64], svi: NDArray[np.float64], penalty: float = 3e-2,
                   per_knot: int = 3) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """SVI rows (G, 5) -> smile rows (G, SMILE_WIDTH) with the spline correction fitted to the
    weighted residuals of group g's points (rows ``offsets[g]:offsets[g+1]``); and per group
    whether the published smile is free of butterfly arbitrage over its fitted range."""
    off = np.asarray(offsets, np.int64)
    ng = len(off) - 1
    out = np.zeros((ng, SMILE_WIDTH))
    out[:, :5] = svi
    out[:, 5:8] = np.nan, np.nan, 0.0
    if ng == 0:
        return out, np.ones(0, bool)
    sizes = np.diff(off)
    grp = np.repeat(np.arange(ng), sizes)
    kmin = np.full(ng, np.inf)
    kmax = np.full(ng, -np.inf)
    np.minimum.at(kmin, grp, k)
    np.maximum.at(kmax, grp, k)
    nj = np.clip(sizes // per_knot - 3, 0, MAX_KNOTS)
    fin = np.all(np.isfinite(svi), axis=1) & (kmax > kmin) & np.isfinite(kmin)
    nj = np.where(fin, nj, 0)
    out[:, 5] = np.where(fin, kmin, np.nan)
    out[:, 6] = np.where(fin, kmax, np.nan)
    # residuals of SVI at the points
    base = svi[grp]
    res = w - smile_total_variance(k, base)
    fitg = np.flatnonzero(nj >= 4)
    if len(fitg):
        jmax = MAX_KNOTS
        h = np.where(nj > 0, (kmax - kmin) / (nj + 3.0), 1.0)
        u = (k - kmin[grp]) / h[grp]
        i = np.floor(u)
        a_flat = np.zeros(ng * jmax * jmax)
        rhs_flat = np.zeros(ng * jmax)
        cols = []
        for o in range(4):
            j = i - o
            v = (j >= 0) & (j < nj[grp]) & (u < nj[grp] + 3.0) & (nj[grp] >= 4)
            bv = np.where(v, _bspline(np.where(v, u - j, -1.0), 0), 0.0)
            cols.append((np.where(v, j, 0).astype(np.int64), bv))
        for ja, ba in cols:
            rhs_flat += np.bincount(grp * jmax + ja, wt * ba * res, ng * jmax)
            for jb, bb in cols:
                a_flat += np.bincount((grp * jmax + ja) * jmax + jb, wt * ba * bb, ng * jmax * jmax)
        a = a_flat.reshape(ng, jmax, jmax)
        rhs = rhs_flat.reshape(ng, jmax)
        # roughness: second differences of the coefficients, scaled to the data's weight
        scale = penalty * np.maximum(np.einsum("gii->g", a) / np.maximum(nj, 1), 1e-300)
        d2 = np.zeros((jmax - 2, jmax))
        idx = np.arange(jmax - 2)
        d2[idx, idx], d2[idx, idx + 1], d2[idx, idx + 2] = 1.0, -2.0, 1.0
        pen = d2.T @ d2
        act = np.arange(jmax)[None, :] < nj[:, None]
        mask2 = act[:, :, None] & act[:, None, :]
        a = a + scale[:, None, None] * pen[None, :, :] * mask2
        a = np.where(mask2, a, 0.0) + np.where(mask2, 0.0, np.eye(jmax)[None, :, :])
        a = a + 1e-12 * scale[:, None, None] * np.eye(jmax)[None, :, :]
        coef = np.linalg.solve(a[fitg], rhs[fitg][:, :, None])[:, :, 0]
        coef = np.where(act[fitg], coef, 0.0)
        out[fitg, 7] = nj[fitg]
        out[fitg, 8:] = coef
    # butterfly: largest scale of the correction whose smile passes g >= 0 over the range
    ok = np.zeros(ng, bool)
    lo_, hi_ = np.nan_to_num(kmin, posinf=0.0), np.nan_to_num(kmax, neginf=0.0)
    corr = out[:, 8:].copy()
    chosen = np.full(ng, -1.0)
    for s in _SCALES:
        todo = np.flatnonzero((chosen < 0) & fin)
        if not len(todo):
            break
        g_ok = _g_min(lo_[todo], hi_[todo], out[todo], s) >= (_MARGIN if s > 0 else 0.0)
        chosen[todo[g_ok]] = s
    ok = chosen >= 0
    out[:, 8:] = corr * np.where(ok, chosen, 0.0)[:, None]
    out[~fin, 7] = 0.0
    return out, ok | ~fin
