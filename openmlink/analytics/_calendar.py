"""Calendar-spread check of fitted smiles: total implied variance non-decreasing in time.

A surface without calendar arbitrage has, at every forward log-moneyness k = ln(K / F(t)),
w(k, t1) <= w(k, t2) for t1 < t2 (Gatheral & Jacquier, "Arbitrage-free SVI volatility
surfaces", 2014, Lemma 2.1; exact for proportional dividends).  The check compares each expiry's
smile with the previous expiry's on the k range both fitted (a grid) and reports whether the
later one's total variance falls below the earlier one's by more than a tolerance;
``calendar_short`` tests rows at their own k.  Pure: smiles in, arrays out.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._smile import smile_total_variance

__all__ = ["CAL_GRID", "CAL_TOL_ABS", "CAL_TOL_REL", "calendar_check", "calendar_short"]

CAL_GRID = 81
"""Grid points per expiry pair over the common k range."""
CAL_TOL_REL = 2e-3
"""A shortfall counts above CAL_TOL_REL * w_prev(k) + CAL_TOL_ABS: 0.1% of the vol (at 20% vol
and one month, about 0.02 vol points), well inside a quote's bid/ask vol spread."""
CAL_TOL_ABS = 1e-7


def calendar_short(k: NDArray[np.float64], params: NDArray[np.float64],
                   params_prev: NDArray[np.float64], tol_rel: float = CAL_TOL_REL,
                   tol_abs: float = CAL_TOL_ABS) -> NDArray[np.bool_]:
    """Per row: does the smile ``params`` fall below ``params_prev`` (the previous expiry's) at
    ln(K/F) = k by more than tol_rel * w_prev(k) + tol_abs?"""
    w = smile_total_variance(k, params)
    w_p = smile_total_variance(k, params_prev)
    with np.errstate(invalid="ignore"):
        return (w_p - w) > tol_rel * w_p + tol_abs


def calendar_check(params: NDArray[np.float64], k_lo: NDArray[np.float64],
                   k_hi: NDArray[np.float64], prev: NDArray[np.int64], n_grid: int = CAL_GRID,
                   tol_rel: float = CAL_TOL_REL, tol_abs: float = CAL_TOL_ABS
                   ) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64],
                              NDArray[np.float64]]:
    """Per expiry i (smile ``params[i]``, ``analytics._smile`` layout; fitted range
    [k_lo[i], k_hi[i]] in ln(K / F_i)) with ``prev[i] >= 0`` the index of the previous expiry
    of the same underlier: (shortfall, violated, lo, hi).

    [lo, hi] = the common range of the pair (NaN without a previous expiry or an overlap);
    ``shortfall`` = max over n_grid points of it of (w_prev(k) - w_i(k)) / w_prev(k) (<= 0:
    none); ``violated``: some grid point falls short by more than the tolerance
    (``calendar_short``; the engine then tests each row at its own k).
    Tested: tests/analytics/test_calendar.py.
    """
    n = len(prev)
    short = np.full(n, np.nan)
    viol = np.zeros(n, bool)
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    i = np.flatnonzero(prev >= 0)
    if len(i) == 0:
        return short, viol, lo, hi
    p = prev[i]
    a = np.maximum(k_lo[i], k_lo[p])
    b = np.minimum(k_hi[i], k_hi[p])
    ok = np.isfinite(a) & np.isfinite(b) & (b >= a)
    i, p, a, b = i[ok], p[ok], a[ok], b[ok]
    if len(i) == 0:
        return short, viol, lo, hi
    lo[i], hi[i] = a, b
    u = np.linspace(0.0, 1.0, n_grid)
    kk = (a[:, None] + (b - a)[:, None] * u[None, :]).ravel()
    pi, pp = np.repeat(params[i], n_grid, axis=0), np.repeat(params[p], n_grid, axis=0)
    w_i = smile_total_variance(kk, pi).reshape(len(i), n_grid)
    w_p = smile_total_variance(kk, pp).reshape(len(i), n_grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(np.isfinite(w_p) & np.isfinite(w_i) & (w_p > 0), (w_p - w_i) / w_p, -np.inf)
    m = rel.max(axis=1)
    short[i] = np.where(np.isfinite(m), m, np.nan)
    viol[i] = calendar_short(kk, pi, pp, tol_rel, tol_abs).reshape(len(i), n_grid).any(axis=1)
    return short, viol, lo, hi
