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
from ._vmath import exp_half_sq, exp_v, log_v, norm_cdf_e

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
# Compile time (a server's cold start): Numba's inline="always" copies and retypes the callee's
# IR at every call site, so a block function holding many inlined ``_vmath`` calls costs its
# whole IR again in each kernel that inlined it.  The block loops (_rows_block, _slides_block)
# and the libm row (_scalar_row) are therefore functions of their own (_JIT): each holds its
# whole loop, so LLVM still vectorises it there (test_vmath checks), and euro_rows_kernel
# compiles in ~4 s instead of ~6.5 s.  _price_v has no loop of its own: it stays inlined.
_DAYS_PER_YEAR = 365.0
_INV_SQRT_2PI = 0.3989422804014326779399460599343818684758586311649
_MIN_NORMAL = 2.2250738585072014e-308
_MAX_FLOAT = 1.7976931348623157e308


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
def _scalar_row(si: float, ki: float, ti: float, ri: float, qi: float, vi: float, c: float,
                b76: bool, moves: np.ndarray, lmoves: np.ndarray, out: np.ndarray, i: int) -> None:
    """One row of euro_rows_kernel with libm calls: the path for rows the vector loop leaves
    out (invalid inputs, zero time or vol, S/K outside the normal float range)."""
    nm = moves.shape[0]
    if _bad(si, ki, ti, ri, qi, vi, c):
        for j in range(out.shape[0]):
            out[j, i] = math.nan
        return
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
        return
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


@njit(**_IJIT)
def _vec_ok(si: float, ki: float, ti: float, ri: float, qi: float, vi: float, c: float) -> bool:
    """Rows the vector loop computes: valid, t > 0 and vol > 0 (sd > 0), S/K a normal float."""
    ratio = si / ki
    return (not _bad(si, ki, ti, ri, qi, vi, c)) and ti > 0.0 and vi > 0.0 \
        and vi * math.sqrt(ti) > 0.0 and _MIN_NORMAL <= ratio <= _MAX_FLOAT


@njit(**_IJIT)
def _price_v(si: float, ki: float, ti: float, ri: float, qi: float, vi: float,
             c: float) -> float:
    """euro_price1 with the vectorisable exp/log/Phi for a row _vec_ok accepts, else NaN."""
    sd = vi * math.sqrt(ti)
    d1 = (log_v(si / ki) + (ri - qi) * ti) * (1.0 / sd) + 0.5 * sd  # as _rows_block
    d2 = d1 - sd
    n1 = norm_cdf_e(c * d1, exp_half_sq(d1))
    n2 = norm_cdf_e(c * d2, exp_half_sq(d2))
    pv = max(c * (si * exp_v(-qi * ti) * n1 - ki * exp_v(-ri * ti) * n2), 0.0)
    return pv if _vec_ok(si, ki, ti, ri, qi, vi, c) else math.nan


@njit(**_JIT)
def euro_price_kernel(s: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray,
                      q: np.ndarray, vol: np.ndarray, cp: np.ndarray, b76: bool,
                      out: np.ndarray) -> None:
    """Price rows into out (all float64 1-D of equal length). Tested: test_black.py.

    A vectorised pass over every row (exp/log/Phi from ``_vmath``) that leaves NaN where
    _vec_ok refuses the row, then euro_price1 (libm) for those rows: NaN again for invalid
    inputs, the intrinsic value at expiry or zero vol.
    """
    n = s.shape[0]
    for i in range(n):
        qi = r[i] if b76 else q[i]
        out[i] = _price_v(s[i], k[i], t[i], r[i], qi, vol[i], cp[i])
    for i in range(n):
        if math.isnan(out[i]):
            qi = r[i] if b76 else q[i]
            out[i] = euro_price1(s[i], k[i], t[i], r[i], qi, vol[i], cp[i])


_BLOCK = 512
_NB = 17  # block scratch rows: price, 9 greeks, then d1, 1/sd, sd, S e^{-qt}, K e^{-rt}, ok,
# one slide
_C365 = 1.0 / _DAYS_PER_YEAR


@njit(**_JIT)
def _rows_block(s: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray, q: np.ndarray,
                vol: np.ndarray, cp: np.ndarray, b76: bool, lo: int, hi: int,
                ob: np.ndarray) -> None:
    """Price + 9 greeks of rows lo..hi into the flat block scratch ob (row j of the block at
    ob[j*_BLOCK:]), then d1, 1/sd, S e^{-qt}, K e^{-rt} for the slides.  No early exit, so
    LLVM vectorises it; one output array at constant offsets keeps the runtime alias checks to
    one per input; divisions (the slowest vector instructions) are shared: 1/sd, 1/vol, 1/t,
    1/S, and the unit scalings are products."""
    for i in range(lo, hi):
        m = i - lo
        si, ki, ti, ri, vi, c = s[i], k[i], t[i], r[i], vol[i], cp[i]
        qi = ri if b76 else q[i]
        sqt = math.sqrt(ti)
        sd = vi * sqt
        isd = 1.0 / sd
        d1 = (log_v(si / ki) + (ri - qi) * ti) * isd + 0.5 * sd
        d2 = d1 - sd
        dr = exp_v(-ri * ti)
        dq = exp_v(-qi * ti)
        sdq = si * dq
        kdr = ki * dr
        e1 = exp_half_sq(d1)
        n1 = norm_cdf_e(c * d1, e1)
        n2 = norm_cdf_e(c * d2, exp_half_sq(d2))
        pdf = _INV_SQRT_2PI * e1
        pv = max(c * (sdq * n1 - kdr * n2), 0.0)
        delta = c * dq * n1
        vega = sdq * pdf * sqt
        rho = c * ki * ti * dr * n2
        phi = -c * si * ti * dq * n1
        ivi = 1.0 / vi
        dd1_dt = (2.0 * (ri - qi) * ti - d2 * sd) * (0.5 * isd / ti)
        ob[m] = pv
        ob[_BLOCK + m] = delta
        ob[2 * _BLOCK + m] = dq * pdf * isd / si
        ob[3 * _BLOCK + m] = (-0.5 * sdq * pdf * vi * vi * isd - c * ri * kdr * n2
                              + c * qi * sdq * n1) * _C365
        ob[4 * _BLOCK + m] = vega * 0.01
        ob[5 * _BLOCK + m] = -dq * pdf * d2 * ivi * 0.01
        ob[6 * _BLOCK + m] = vega * d1 * d2 * ivi * 1e-4
        ob[7 * _BLOCK + m] = (rho + phi) * 0.01 if b76 else rho * 0.01
        ob[8 * _BLOCK + m] = 0.0 if b76 else phi * 0.01
        ob[9 * _BLOCK + m] = (qi * delta - dq * pdf * dd1_dt) * _C365
        ob[10 * _BLOCK + m] = d1
        ob[11 * _BLOCK + m] = isd
        ob[12 * _BLOCK + m] = sd
        ob[13 * _BLOCK + m] = sdq
        ob[14 * _BLOCK + m] = kdr
        ob[15 * _BLOCK + m] = 1.0 if _vec_ok(si, ki, ti, ri, qi, vi, c) else 0.0


@njit(**_JIT)
def _slides_block(cp: np.ndarray, lo: int, hi: int, move: float, lmove: float,
                  ob: np.ndarray) -> None:
    """One slide (value change for the underlier moved by ``move``) of rows lo..hi into the
    scratch's last row (``out`` may be a strided view: the prange wrappers pass column
    slices, and a store of unknown stride keeps LLVM from vectorising the loop)."""
    for i in range(lo, hi):
        m = i - lo
        c = cp[i]
        isd = ob[11 * _BLOCK + m]
        e1 = ob[10 * _BLOCK + m] + lmove * isd
        e2 = e1 - ob[12 * _BLOCK + m]
        s2 = ob[13 * _BLOCK + m] * (1.0 + move)
        ob[16 * _BLOCK + m] = c * (s2 * norm_cdf_e(c * e1, exp_half_sq(e1))
                                   - ob[14 * _BLOCK + m] * norm_cdf_e(c * e2, exp_half_sq(e2))) \
            - ob[m]


@njit(**_JIT)
def euro_rows_kernel(s: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray,
                     q: np.ndarray, vol: np.ndarray, cp: np.ndarray, b76: bool,
                     moves: np.ndarray, out: np.ndarray) -> None:
    """Fused price + 9 greeks + len(moves) slides per row.

    out has shape (10 + len(moves), n): row 0 price, rows 1..9 GREEK_KEYS, then one row per
    relative underlier move (value change per share at unchanged vol, t, r, q).
    Blocks of _BLOCK rows: price and greeks in one vectorised loop (``_vmath``), each slide in
    another, then the rows _vec_ok refuses again one by one with libm (NaN for invalid inputs,
    intrinsic values at expiry or zero vol).
    Tested: test_black.py::test_greeks_match_quantlib, test_slides_are_reprices,
    test_vector_rows_equal_scalar_rows.
    """
    nm = moves.shape[0]
    n = s.shape[0]
    lmoves = np.empty(nm)
    for j in range(nm):
        lmoves[j] = math.log1p(moves[j])
    ob = np.empty(_NB * _BLOCK)
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        _rows_block(s, k, t, r, q, vol, cp, b76, lo, hi, ob)
        for j in range(10):
            dst = out[j]
            for i in range(lo, hi):
                dst[i] = ob[j * _BLOCK + i - lo]
        for j in range(nm):
            _slides_block(cp, lo, hi, moves[j], lmoves[j], ob)
            dst = out[10 + j]
            for i in range(lo, hi):
                dst[i] = ob[16 * _BLOCK + i - lo]
        for i in range(lo, hi):
            if ob[15 * _BLOCK + i - lo] == 0.0:
                qi = r[i] if b76 else q[i]
                _scalar_row(s[i], k[i], t[i], r[i], qi, vol[i], cp[i], b76, moves, lmoves, out,
                            i)
