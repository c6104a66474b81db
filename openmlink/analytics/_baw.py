"""Barone-Adesi-Whaley (1987) American price, bump greeks and slides (Numba row kernels).

Why a second American engine.  The ALO collocation of ``_american`` is accurate to 1e-6 but
costs ~80 us per price and ~2 ms per row for price+greeks+slides (measured on the benchmark
machine), which puts a 1.5-million-series Loop at ~50 minutes.  The live engine needs ~10 us per
row; BAW's quadratic approximation gives that, with price errors of a few cents at most for
long-dated near-the-money options (and far less for the short-dated series that dominate the
tables).  The engine uses it for the early-exercise premium (EEP = BAW - European) and the
American price, greeks and slides; exact ALO values remain available through
``openmlink.analytics.price(..., exercise="american")``.

Conventions as in ``_black``: t_years Act/365, continuously compounded r and q, annualised vol,
cp = +1 call / -1 put, values per share.  The rows kernel writes the ``_black.OUT_KEYS`` rows
(price, de, ga, th, ve, va, vo, ro, ph, deDecay, in LiveImpliedQuote units) then one row per
slide move, all by central differences of the BAW price.
Tested: tests/engines/implied/test_engine_units.py (against ALO via the public API).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from ._black import euro_price1
from ._jit import JitOptions
from ._lbr import euro_iv_kernel
from ._normal import norm_cdf, norm_pdf
from ._parallel import parallel_enabled

__all__ = ["baw_deamericanised_iv", "baw_price", "baw_price1", "baw_rows"]

_JIT: JitOptions = {"cache": True, "nogil": True, "error_model": "numpy"}
_PJIT: JitOptions = {**_JIT, "parallel": True}
_DAY = 1.0 / 365.0


@njit(**_JIT)
def _boundary(k: float, t: float, r: float, q: float, v: float, cp: float
              ) -> tuple[float, float, float]:
    """(critical price S*, A, exponent) of the BAW approximation at (K, t, r, q, vol): the
    American value is euro(S) + A (S/S*)^exponent on the continuation side of S* and the
    intrinsic value beyond it.  S* = NaN means no early exercise (American = European).
    S* does not depend on S, so bumps and slides in S reuse it."""
    return _boundary_from(k, t, r, q, v, cp, math.nan)


@njit(**_JIT)
def _boundary_from(k: float, t: float, r: float, q: float, v: float, cp: float, seed: float
                   ) -> tuple[float, float, float]:
    """``_boundary`` with the Newton iteration started at ``seed`` when it is a positive
    number on the right side of K (the S* of a nearby (t, r, q, vol): the bumps of a greek
    converge in one or two steps instead of several), else at the BAW analytic guess."""
    b = r - q
    nan = math.nan
    if t <= 0.0 or v <= 0.0 or (cp > 0.0 and b >= r) or (cp < 0.0 and r <= 1e-12):
        return nan, 0.0, 0.0
    sqt = math.sqrt(t)
    sd = v * sqt
    n_ = 2.0 * b / (v * v)
    m_ = 2.0 * r / (v * v)
    kk = 1.0 - math.exp(-r * t)
    if kk <= 0.0:
        return nan, 0.0, 0.0
    carry = math.exp((b - r) * t)
    if cp > 0.0:
        q2 = 0.5 * (-(n_ - 1.0) + math.sqrt((n_ - 1.0) ** 2 + 4.0 * m_ / kk))
        q2inf = 0.5 * (-(n_ - 1.0) + math.sqrt((n_ - 1.0) ** 2 + 4.0 * m_))
        sinf = k / (1.0 - 1.0 / q2inf)
        h2 = -(b * t + 2.0 * sd) * k / (sinf - k)
        si = k + (sinf - k) * (1.0 - math.exp(h2))
        if seed > k and math.isfinite(seed):
            si = seed
        for _ in range(100):
            d1 = (math.log(si / k) + (b + 0.5 * v * v) * t) / sd
            nd1 = norm_cdf(d1)
            rhs = euro_price1(si, k, t, r, q, v, 1.0) + (1.0 - carry * nd1) * si / q2
            if abs(si - k - rhs) / k < 1e-8:
                break
            bi = carry * nd1 * (1.0 - 1.0 / q2) + (1.0 - carry * norm_pdf(d1) / sd) / q2
            si = (k + rhs - bi * si) / (1.0 - bi)
            if not (si > 0.0) or not math.isfinite(si):
                return nan, 0.0, 0.0
        d1 = (math.log(si / k) + (b + 0.5 * v * v) * t) / sd
        return si, (si / q2) * (1.0 - carry * norm_cdf(d1)), q2
    q1 = 0.5 * (-(n_ - 1.0) - math.sqrt((n_ - 1.0) ** 2 + 4.0 * m_ / kk))
    q1inf = 0.5 * (-(n_ - 1.0) - math.sqrt((n_ - 1.0) ** 2 + 4.0 * m_))
    sinf = k / (1.0 - 1.0 / q1inf)
    h1 = (b * t - 2.0 * sd) * k / (k - sinf)
    si = sinf + (k - sinf) * math.exp(h1)
    if 0.0 < seed < k:
        si = seed
    for _ in range(100):
        d1 = (math.log(si / k) + (b + 0.5 * v * v) * t) / sd
        nmd1 = norm_cdf(-d1)
        rhs = euro_price1(si, k, t, r, q, v, -1.0) - (1.0 - carry * nmd1) * si / q1
        if abs(k - si - rhs) / k < 1e-8:
            break
        bi = -carry * nmd1 * (1.0 - 1.0 / q1) - (1.0 + carry * norm_pdf(-d1) / sd) / q1
        si = (k - rhs + bi * si) / (1.0 + bi)
        if not (si > 0.0) or not math.isfinite(si):
            return nan, 0.0, 0.0
    d1 = (math.log(si / k) + (b + 0.5 * v * v) * t) / sd
    return si, -(si / q1) * (1.0 - carry * norm_cdf(-d1)), q1


@njit(**_JIT)
def _valid(s: float, k: float, t: float, r: float, q: float, v: float, cp: float) -> bool:
    return (s > 0.0 and k > 0.0 and math.isfinite(s) and math.isfinite(k) and math.isfinite(t)
            and math.isfinite(r) and math.isfinite(q) and math.isfinite(v)
            and (cp == 1.0 or cp == -1.0))


@njit(**_JIT)
def _value(s: float, k: float, t: float, r: float, q: float, v: float, cp: float,
           si: float, a: float, e: float) -> float:
    """The American value at spot s given the boundary (S*, A, exponent) of (k, t, r, q, v)."""
    intrinsic = max(cp * (s - k), 0.0)
    if t <= 0.0:
        return intrinsic
    euro = euro_price1(s, k, t, r, q, max(v, 0.0), cp)
    if not math.isfinite(si):
        return max(euro, intrinsic)
    if (cp > 0.0 and s < si) or (cp < 0.0 and s > si):
        return max(euro + a * (s / si) ** e, intrinsic)
    return intrinsic


@njit(**_JIT)
def baw_price1(s: float, k: float, t: float, r: float, q: float, v: float, cp: float) -> float:
    """BAW American price of one option (NaN on invalid input; floored at intrinsic)."""
    if not _valid(s, k, t, r, q, v, cp):
        return math.nan
    si, a, e = _boundary(k, t, r, q, v, cp)
    return _value(s, k, t, r, q, v, cp, si, a, e)


_PAR_MIN = 4096
"""Rows below which the serial twin of a kernel runs: a parallel region costs ~10 us on an idle
machine but up to a scheduler slice (~5 ms) when the other core is busy, more than it saves
on a small batch (a Tick, a Loop chunk)."""


@njit(**_PJIT)
def _price_kernel(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                  r: NDArray[np.float64], q: NDArray[np.float64], v: NDArray[np.float64],
                  cp: NDArray[np.float64], out: NDArray[np.float64]) -> None:
    for i in prange(s.shape[0]):
        out[i] = baw_price1(s[i], k[i], t[i], r[i], q[i], v[i], cp[i])


@njit(**_JIT)
def _price_serial(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                  r: NDArray[np.float64], q: NDArray[np.float64], v: NDArray[np.float64],
                  cp: NDArray[np.float64], out: NDArray[np.float64]) -> None:
    for i in range(s.shape[0]):
        out[i] = baw_price1(s[i], k[i], t[i], r[i], q[i], v[i], cp[i])


@njit(**_JIT)
def _dS(s: float, h: float, k: float, t: float, r: float, q: float, v: float, c: float,
        si: float, a: float, e: float) -> float:
    return (_value(s + h, k, t, r, q, v, c, si, a, e)
            - _value(s - h, k, t, r, q, v, c, si, a, e)) / (2.0 * h)


@njit(**_JIT)
def _px(s: float, k: float, t: float, r: float, q: float, v: float, c: float,
        seed: float) -> float:
    si, a, e = _boundary_from(k, t, r, q, v, c, seed)
    return _value(s, k, t, r, q, v, c, si, a, e)


@njit(**_JIT)
def _row(s: float, k: float, t: float, r: float, q: float, v: float, c: float,
         moves: NDArray[np.float64], out: NDArray[np.float64], i: int) -> None:
    if not _valid(s, k, t, r, q, v, c):
        for j in range(out.shape[0]):
            out[j, i] = math.nan
        return
    si, a, e = _boundary(k, t, r, q, v, c)
    p0 = _value(s, k, t, r, q, v, c, si, a, e)
    h = 0.005 * s
    pu = _value(s + h, k, t, r, q, v, c, si, a, e)
    pd = _value(s - h, k, t, r, q, v, c, si, a, e)
    dv = 0.005
    vd = max(v - dv, 1e-4)
    vu = vd + 2.0 * dv
    su, au, eu = _boundary_from(k, t, r, q, vu, c, si)
    sd_, ad, ed = _boundary_from(k, t, r, q, vd, c, si)
    pvu = _value(s, k, t, r, q, vu, c, su, au, eu)
    pvd = _value(s, k, t, r, q, vd, c, sd_, ad, ed)
    t1 = max(t - _DAY, 0.0)
    st, at, et = _boundary_from(k, t1, r, q, v, c, si)
    pt = _value(s, k, t1, r, q, v, c, st, at, et)
    de = (pu - pd) / (2.0 * h)
    de_t = _dS(s, h, k, t1, r, q, v, c, st, at, et)
    de_vu = _dS(s, h, k, t, r, q, vu, c, su, au, eu)
    de_vd = _dS(s, h, k, t, r, q, vd, c, sd_, ad, ed)
    dr = 1e-4
    out[0, i] = p0
    out[1, i] = de
    out[2, i] = (pu - 2.0 * p0 + pd) / (h * h)
    out[3, i] = pt - p0
    out[4, i] = (pvu - pvd) / (vu - vd) * 0.01
    out[5, i] = (de_vu - de_vd) / (vu - vd) * 0.01
    out[6, i] = (pvu - 2.0 * p0 + pvd) / (0.25 * (vu - vd) ** 2) * 1e-4
    out[7, i] = (_px(s, k, t, r + dr, q, v, c, si) - _px(s, k, t, r - dr, q, v, c, si)) / (2.0 * dr) * 0.01
    out[8, i] = (_px(s, k, t, r, q + dr, v, c, si) - _px(s, k, t, r, q - dr, v, c, si)) / (2.0 * dr) * 0.01
    out[9, i] = de_t - de
    for j in range(moves.shape[0]):
        out[10 + j, i] = _value(s * (1.0 + moves[j]), k, t, r, q, v, c, si, a, e) - p0


@njit(**_PJIT)
def _rows_kernel(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                 r: NDArray[np.float64], q: NDArray[np.float64], v: NDArray[np.float64],
                 cp: NDArray[np.float64], moves: NDArray[np.float64],
                 out: NDArray[np.float64]) -> None:
    for i in prange(s.shape[0]):
        _row(s[i], k[i], t[i], r[i], q[i], v[i], cp[i], moves, out, i)


@njit(**_JIT)
def _rows_serial(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                 r: NDArray[np.float64], q: NDArray[np.float64], v: NDArray[np.float64],
                 cp: NDArray[np.float64], moves: NDArray[np.float64],
                 out: NDArray[np.float64]) -> None:
    for i in range(s.shape[0]):
        _row(s[i], k[i], t[i], r[i], q[i], v[i], cp[i], moves, out, i)


def _arrs(*a: NDArray[np.float64] | float) -> list[NDArray[np.float64]]:
    b = np.broadcast_arrays(*[np.asarray(x, dtype=np.float64) for x in a])
    return [np.ascontiguousarray(x, dtype=np.float64).ravel() for x in b]


def baw_price(s: NDArray[np.float64] | float, k: NDArray[np.float64] | float,
              t_years: NDArray[np.float64] | float, r: NDArray[np.float64] | float,
              q: NDArray[np.float64] | float, vol: NDArray[np.float64] | float,
              cp: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """BAW American price per share, per row (1-D result)."""
    ss, kk, tt, rr, qq, vv, cc = _arrs(s, k, t_years, r, q, vol, cp)
    out = np.empty(ss.shape[0])
    par = ss.shape[0] >= _PAR_MIN and parallel_enabled()
    (_price_kernel if par else _price_serial)(ss, kk, tt, rr, qq, vv, cc, out)
    return out


def baw_rows(s: NDArray[np.float64] | float, k: NDArray[np.float64] | float,
             t_years: NDArray[np.float64] | float, r: NDArray[np.float64] | float,
             q: NDArray[np.float64] | float, vol: NDArray[np.float64] | float,
             cp: NDArray[np.float64] | float, moves: tuple[float, ...]) -> NDArray[np.float64]:
    """(10 + len(moves), n): price, the nine greeks of ``_black.GREEK_KEYS``, then slides."""
    ss, kk, tt, rr, qq, vv, cc = _arrs(s, k, t_years, r, q, vol, cp)
    mv = np.ascontiguousarray(moves, dtype=np.float64)
    out = np.empty((10 + len(mv), ss.shape[0]))
    par = ss.shape[0] >= _PAR_MIN and parallel_enabled()
    (_rows_kernel if par else _rows_serial)(ss, kk, tt, rr, qq, vv, cc, mv, out)
    return out


@njit(**_JIT)
def _deam_range(lo: int, hi: int, p: NDArray[np.float64], s: NDArray[np.float64],
                k: NDArray[np.float64], t: NDArray[np.float64], r: NDArray[np.float64],
                q: NDArray[np.float64], cp: NDArray[np.float64], v: NDArray[np.float64],
                passes: int, b76: bool, padj: NDArray[np.float64], iv: NDArray[np.float64],
                err: NDArray[np.int8], out: NDArray[np.float64]) -> None:
    """(``b76`` is False: an argument, not a literal, so that euro_iv_kernel has the one
    compiled signature every caller shares -- a literal True/False compiles it again.)"""
    for i in range(lo, hi):
        out[i] = math.nan
    for _ in range(passes):
        for i in range(lo, hi):
            eep = baw_price1(s[i], k[i], t[i], r[i], q[i], v[i], cp[i]) - euro_price1(
                s[i], k[i], t[i], r[i], q[i], v[i], cp[i])
            if eep < 0.0:
                eep = 0.0
            padj[i] = p[i] - eep  # NaN propagates (np.maximum semantics)
        euro_iv_kernel(padj[lo:hi], s[lo:hi], k[lo:hi], t[lo:hi], r[lo:hi], q[lo:hi],
                       cp[lo:hi], b76, iv[lo:hi], err[lo:hi])
        for i in range(lo, hi):
            out[i] = iv[i] if err[i] == 0 else math.nan
            if math.isfinite(out[i]):
                v[i] = out[i]


@njit(**_PJIT)
def _deam_kernel(p: NDArray[np.float64], s: NDArray[np.float64], k: NDArray[np.float64],
                 t: NDArray[np.float64], r: NDArray[np.float64], q: NDArray[np.float64],
                 cp: NDArray[np.float64], v: NDArray[np.float64], passes: int, n_chunks: int,
                 b76: bool, padj: NDArray[np.float64], iv: NDArray[np.float64], err: NDArray[np.int8],
                 out: NDArray[np.float64]) -> None:
    n = p.shape[0]
    for c in prange(n_chunks):
        _deam_range(n * c // n_chunks, n * (c + 1) // n_chunks, p, s, k, t, r, q, cp, v, passes,
                    b76, padj, iv, err, out)


def baw_deamericanised_iv(p: NDArray[np.float64], s: NDArray[np.float64], k: NDArray[np.float64],
                          t_years: NDArray[np.float64], r: NDArray[np.float64],
                          q: NDArray[np.float64], cp: NDArray[np.float64],
                          guess: NDArray[np.float64], passes: int = 2) -> NDArray[np.float64]:
    """European-equivalent implied vol of American premiums: iv = euro_iv(P - EEP) with
    EEP = max(BAW(v) - euro(v), 0), ``passes`` times, v starting at ``guess`` and then the
    previous pass's vol (where finite).  NaN where the European solve fails.  One fused pass
    per row (no temporaries per pass), rows split over the Numba threads."""
    pp, ss, kk, tt, rr, qq, cc, vv = _arrs(p, s, k, t_years, r, q, cp, guess)
    n = pp.shape[0]
    out = np.empty(n)
    if n:
        tmp = (np.empty(n), np.empty(n), np.empty(n, np.int8), out)
        if n >= _PAR_MIN and parallel_enabled():
            chunks = max(1, min(4 * numba.get_num_threads(), n // 512))
            _deam_kernel(pp, ss, kk, tt, rr, qq, cc, vv.copy(), passes, chunks, False, *tmp)
        else:
            _deam_range(0, n, pp, ss, kk, tt, rr, qq, cc, vv.copy(), passes, False, *tmp)
    return out
