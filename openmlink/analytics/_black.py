"""European Black-Scholes-Merton / Black-76 price, greeks and slides (Numba row kernels).

Conventions: t_years is Act/365 calendar time; r and q are continuously compounded annual rates;
vol is annualised (std_dev = vol*sqrt(t_years)); cp = +1 call / -1 put.  Black-76 (b76=1) treats
S as the forward/futures price, i.e. Black-Scholes with q = r.

Greek units (as in LiveImpliedQuote): de, ga per 1 unit of underlier; ve per vol point (0.01);
th per calendar day (theta/365); ro, ph per 1% of rate / yield; va = d(de)/d(vol) per vol
point; vo = d(ve)/d(vol) per vol point; deDecay = change in delta as one calendar day passes.
For Black-76, ro is d(price)/d(r) at a fixed futures price (= -t*price/100) and ph is 0.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._jit import JitOptions
from ._normal import norm_cdf, norm_pdf

__all__ = [
    "GREEK_KEYS",
    "OUT_KEYS",
    "SLIDE_KEYS",
    "SLIDE_MOVES",
    "euro_price_kernel",
    "euro_rows_kernel",
]

GREEK_KEYS: tuple[str, ...] = ("de", "ga", "th", "ve", "va", "vo", "ro", "ph", "deDecay")
SLIDE_KEYS: tuple[str, ...] = ("up50", "dn50", "up15", "dn15", "up06", "dn08")
SLIDE_MOVES: tuple[float, ...] = (0.50, -0.50, 0.15, -0.15, 0.06, -0.08)
OUT_KEYS: tuple[str, ...] = ("price", *GREEK_KEYS)

_JIT: JitOptions = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
_IJIT: JitOptions = {**_JIT, "inline": "always"}
_DAYS_PER_YEAR = 365.0


@njit(**_IJIT)
def _bad(s: float, k: float, t: float, r: float, q: float, vol: float, cp: float) -> bool:
    return not (s > 0.0 and k > 0.0 and t >= 0.0 and vol >= 0.0 and math.isfinite(s)
                and math.isfinite(k) and math.isfinite(t) and math.isfinite(vol)
                and math.isfinite(r) and math.isfinite(q) and (cp == 1.0 or cp == -1.0))


@njit(**_IJIT)
def euro_price1(s: float, k: float, t: float, r: float, q: float, vol: float,
                cp: float) -> float:
    """Black-Scholes-Merton price of one European option (q = r gives Black-76)."""
    if _bad(s, k, t, r, q, vol, cp):
        return math.nan
    dr = math.exp(-r * t)
    dq = math.exp(-q * t)
    sd = vol * math.sqrt(t)
    if sd <= 0.0:
        return max(cp * (s * dq - k * dr), 0.0)
    d1 = (math.log(s / k) + (r - q) * t) / sd + 0.5 * sd
    d2 = d1 - sd
    # never below zero: far out of the money both terms are subnormal and their difference
    # can round to a tiny negative number (-3.4e-322 for a 47%-OTM put at 3% vol)
    return max(cp * (s * dq * norm_cdf(cp * d1) - k * dr * norm_cdf(cp * d2)), 0.0)


@njit(**_JIT)
def euro_price_kernel(s: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray,
                      q: np.ndarray, vol: np.ndarray, cp: np.ndarray, b76: bool,
                      out: np.ndarray) -> None:
    """Price rows into out (all float64 1-D of equal length). Tested: test_black.py."""
    for i in range(s.shape[0]):
        qi = r[i] if b76 else q[i]
        out[i] = euro_price1(s[i], k[i], t[i], r[i], qi, vol[i], cp[i])


@njit(**_JIT)
def euro_rows_kernel(s: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray,
                     q: np.ndarray, vol: np.ndarray, cp: np.ndarray, b76: bool,
                     moves: np.ndarray, out: np.ndarray) -> None:
    """Fused price + 9 greeks + len(moves) slides per row.

    out has shape (10 + len(moves), n): row 0 price, rows 1..9 GREEK_KEYS, then one row per
    relative underlier move (value change per share at unchanged vol, t, r, q).
    Tested: test_black.py::test_greeks_match_quantlib, test_slides_are_reprices.
    """
    nm = moves.shape[0]
    lmoves = np.empty(nm)
    for j in range(nm):
        lmoves[j] = math.log1p(moves[j])
    for i in range(s.shape[0]):
        si, ki, ti, ri, vi, c = s[i], k[i], t[i], r[i], vol[i], cp[i]
        qi = ri if b76 else q[i]
        if _bad(si, ki, ti, ri, qi, vi, c):
            for j in range(out.shape[0]):
                out[j, i] = math.nan
            continue
        dr = math.exp(-ri * ti)
        dq = math.exp(-qi * ti)
        sqt = math.sqrt(ti)
        sd = vi * sqt
        sdq = si * dq
        kdr = ki * dr
        if sd <= 0.0:
            itm = 1.0 if c * (sdq - kdr) > 0.0 else 0.0
            pv = itm * c * (sdq - kdr)
            delta = itm * c * dq
            theta = -itm * c * (-qi * sdq + ri * kdr)
            rho = itm * c * ki * ti * dr
            phi = -itm * c * si * ti * dq
            out[0, i] = pv
            out[1, i] = delta
            out[2, i] = 0.0
            out[3, i] = theta / _DAYS_PER_YEAR
            out[4, i] = 0.0
            out[5, i] = 0.0
            out[6, i] = 0.0
            out[7, i] = (rho + phi) / 100.0 if b76 else rho / 100.0
            out[8, i] = 0.0 if b76 else phi / 100.0
            out[9, i] = qi * delta / _DAYS_PER_YEAR
            for j in range(nm):
                s2 = si * (1.0 + moves[j])
                out[10 + j, i] = max(c * (s2 * dq - kdr), 0.0) - pv
            continue
        d1 = (math.log(si / ki) + (ri - qi) * ti) / sd + 0.5 * sd
        d2 = d1 - sd
        n1 = norm_cdf(c * d1)
        n2 = norm_cdf(c * d2)
        pdf = norm_pdf(d1)
        pv = max(c * (sdq * n1 - kdr * n2), 0.0)  # see euro_price1
        delta = c * dq * n1
        gamma = dq * pdf / (si * sd)
        vega = sdq * pdf * sqt
        theta = -sdq * pdf * vi / (2.0 * sqt) - c * ri * kdr * n2 + c * qi * sdq * n1
        rho = c * ki * ti * dr * n2
        phi = -c * si * ti * dq * n1
        vanna = -dq * pdf * d2 / vi
        volga = vega * d1 * d2 / vi
        dd1_dt = (2.0 * (ri - qi) * ti - d2 * sd) / (2.0 * ti * sd)
        charm = -qi * delta + dq * pdf * dd1_dt  # d(delta)/d(t_years to expiry)
        out[0, i] = pv
        out[1, i] = delta
        out[2, i] = gamma
        out[3, i] = theta / _DAYS_PER_YEAR
        out[4, i] = vega / 100.0
        out[5, i] = vanna / 100.0
        out[6, i] = volga / 10000.0
        out[7, i] = (rho + phi) / 100.0 if b76 else rho / 100.0
        out[8, i] = 0.0 if b76 else phi / 100.0
        out[9, i] = -charm / _DAYS_PER_YEAR
        for j in range(nm):
            e1 = d1 + lmoves[j] / sd
            s2 = sdq * (1.0 + moves[j])
            out[10 + j, i] = c * (s2 * norm_cdf(c * e1) - kdr * norm_cdf(c * (e1 - sd))) - pv
