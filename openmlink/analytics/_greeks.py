"""Greeks, slides and implied vols for engines without closed forms (American, cash dividends).

Greeks are central finite differences of the engine's own price (so they are consistent with
it by construction), converted to the LiveImpliedQuote units used by _black.py.  Implied vols
use a safeguarded secant/bisection root-finder on the engine price.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._american import amer_price1
from ._dividends import fd_american_price1
from ._errors import ABOVE as _ABOVE
from ._errors import BAD_INPUT as _BAD_INPUT
from ._errors import BELOW as _BELOW
from ._errors import NO_CONV as _NO_CONV
from ._errors import OK as _OK
from ._errors import ZERO_TV as _ZERO_TV
from ._jit import JitOptions
from ._lbr import normalised_implied_vol

__all__ = ["fd_greeks_kernel", "root_iv_kernel"]

_JIT: JitOptions = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
_IJIT: JitOptions = {**_JIT, "inline": "always"}
_DAY = 1.0 / 365.0


@njit(**_IJIT)
def _engine(engine: int, s: float, k: float, t: float, r: float, q: float, vol: float,
            cp: float, scheme: tuple, ex_t: np.ndarray, amt: np.ndarray, n_x: int,
            n_t: int) -> float:
    """engine 0: ALO American; 1: FD American with cash dividends."""
    if engine == 0:
        return amer_price1(s, k, t, r, q, vol, cp, scheme)
    return fd_american_price1(s, k, t, r, q, vol, cp, ex_t, amt, engine == 1, n_x, n_t)


@njit(**_JIT)
def fd_greeks_kernel(engine: int, s: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray,
                     q: np.ndarray, vol: np.ndarray, cp: np.ndarray, moves: np.ndarray,
                     scheme: tuple, ex_t: np.ndarray, amt: np.ndarray, n_x: int, n_t: int,
                     out: np.ndarray) -> None:
    """Price, GREEK_KEYS and slides by bumping the engine price (layout as euro_rows_kernel).

    Bumps: spot 0.1% (central; gamma from the same 3 points), vol 0.1 vol point, time
    min(0.25 day, t/4) central (theta = -dV/dt per day, as the closed forms), rates 1 bp.
    Tested: test_american.py::test_american_greeks_match_finite_differences.
    """
    nm = moves.shape[0]
    for i in range(s.shape[0]):
        si, ki, ti, ri, qi, vi, c = s[i], k[i], t[i], r[i], q[i], vol[i], cp[i]
        p0 = _engine(engine, si, ki, ti, ri, qi, vi, c, scheme, ex_t, amt, n_x, n_t)
        out[0, i] = p0
        if not math.isfinite(p0):
            for j in range(1, out.shape[0]):
                out[j, i] = math.nan
            continue
        hs = 0.001 * si
        hv = min(0.001, 0.5 * vi) if vi > 0.0 else 0.001
        hr = 1e-4
        pu = _engine(engine, si + hs, ki, ti, ri, qi, vi, c, scheme, ex_t, amt, n_x, n_t)
        pd = _engine(engine, si - hs, ki, ti, ri, qi, vi, c, scheme, ex_t, amt, n_x, n_t)
        vu = _engine(engine, si, ki, ti, ri, qi, vi + hv, c, scheme, ex_t, amt, n_x, n_t)
        vd = _engine(engine, si, ki, ti, ri, qi, vi - hv, c, scheme, ex_t, amt, n_x, n_t)
        uu = _engine(engine, si + hs, ki, ti, ri, qi, vi + hv, c, scheme, ex_t, amt, n_x, n_t)
        ud = _engine(engine, si + hs, ki, ti, ri, qi, vi - hv, c, scheme, ex_t, amt, n_x, n_t)
        du = _engine(engine, si - hs, ki, ti, ri, qi, vi + hv, c, scheme, ex_t, amt, n_x, n_t)
        dd = _engine(engine, si - hs, ki, ti, ri, qi, vi - hv, c, scheme, ex_t, amt, n_x, n_t)
        ru = _engine(engine, si, ki, ti, ri + hr, qi, vi, c, scheme, ex_t, amt, n_x, n_t)
        rd = _engine(engine, si, ki, ti, ri - hr, qi, vi, c, scheme, ex_t, amt, n_x, n_t)
        qu = _engine(engine, si, ki, ti, ri, qi + hr, vi, c, scheme, ex_t, amt, n_x, n_t)
        qd = _engine(engine, si, ki, ti, ri, qi - hr, vi, c, scheme, ex_t, amt, n_x, n_t)
        # Time: theta = -dV/dt per day, central over t +- ht (dividend ex-times are from
        # "now", so they move with the clock: shift them too).
        ht = min(0.25 * _DAY, 0.25 * ti)
        tm = _engine(engine, si, ki, ti - ht, ri, qi, vi, c, scheme, ex_t - ht, amt, n_x, n_t)
        tmu = _engine(engine, si + hs, ki, ti - ht, ri, qi, vi, c, scheme, ex_t - ht, amt,
                      n_x, n_t)
        tmd = _engine(engine, si - hs, ki, ti - ht, ri, qi, vi, c, scheme, ex_t - ht, amt,
                      n_x, n_t)
        tp = _engine(engine, si, ki, ti + ht, ri, qi, vi, c, scheme, ex_t + ht, amt, n_x, n_t)
        tpu = _engine(engine, si + hs, ki, ti + ht, ri, qi, vi, c, scheme, ex_t + ht, amt,
                      n_x, n_t)
        tpd = _engine(engine, si - hs, ki, ti + ht, ri, qi, vi, c, scheme, ex_t + ht, amt,
                      n_x, n_t)
        delta = (pu - pd) / (2.0 * hs)
        out[1, i] = delta
        out[2, i] = (pu - 2.0 * p0 + pd) / (hs * hs)
        out[3, i] = (tm - tp) / (2.0 * ht) * _DAY
        out[4, i] = (vu - vd) / (2.0 * hv) / 100.0
        out[5, i] = ((uu - du) - (ud - dd)) / (4.0 * hs * hv) / 100.0
        out[6, i] = (vu - 2.0 * p0 + vd) / (hv * hv) / 10000.0
        out[7, i] = (ru - rd) / (2.0 * hr) / 100.0
        out[8, i] = (qu - qd) / (2.0 * hr) / 100.0
        out[9, i] = ((tmu - tmd) - (tpu - tpd)) / (2.0 * hs) / (2.0 * ht) * _DAY
        for j in range(nm):
            out[10 + j, i] = _engine(engine, si * (1.0 + moves[j]), ki, ti, ri, qi, vi, c,
                                     scheme, ex_t, amt, n_x, n_t) - p0


@njit(**_JIT)
def _illinois(engine: int, pi: float, si: float, ki: float, ti: float, ri: float, qi: float,
              c: float, scheme: tuple, ex_t: np.ndarray, amt: np.ndarray, n_x: int, n_t: int,
              guess: float, vmin: float, f_lo0: float, vmax: float, tol_f: float,
              tol_x: float) -> tuple[float, bool, float]:
    """Bracketing secant (Illinois) for engine(vol) = pi from guess: (vol, ok, slope)."""
    lo = vmin
    flo = f_lo0
    hi = vmax
    fhi = math.nan
    x0 = guess
    f0 = _engine(engine, si, ki, ti, ri, qi, x0, c, scheme, ex_t, amt, n_x, n_t) - pi
    x1 = math.nan
    f1 = math.nan
    side = 0
    for _it in range(60):
        if f0 > 0.0:
            hi = x0
            fhi = f0
        else:
            lo = x0
            flo = f0
        if abs(f0) <= tol_f or (hi - lo) <= tol_x * x0:
            slope = (f0 - f1) / (x0 - x1) if math.isfinite(f1) and x0 != x1 else math.nan
            return x0, True, slope
        if math.isfinite(fhi):
            # Illinois regula falsi inside the bracket, preferring the secant step.
            xn = math.nan
            if math.isfinite(f1) and f0 != f1:
                xn = x0 - f0 * (x0 - x1) / (f0 - f1)
            if not (lo < xn < hi):
                fl = flo
                fh = fhi
                if side == 1:
                    fl *= 0.5
                elif side == -1:
                    fh *= 0.5
                xn = lo - fl * (hi - lo) / (fh - fl)
                if not (lo < xn < hi):
                    xn = 0.5 * (lo + hi)
                side = 1 if f0 > 0.0 else -1
        else:
            xn = x0 * 2.0 if f0 < 0.0 else 0.5 * x0
            if math.isfinite(f1) and f0 != f1:
                xs = x0 - f0 * (x0 - x1) / (f0 - f1)
                if x0 < xs < 4.0 * x0:
                    xn = xs
            if xn >= vmax:
                xn = vmax
                if x0 >= vmax:
                    break
        x1 = x0
        f1 = f0
        x0 = xn
        f0 = _engine(engine, si, ki, ti, ri, qi, x0, c, scheme, ex_t, amt, n_x, n_t) - pi
    return x0, False, math.nan


@njit(**_JIT)
def _bisect(engine: int, pi: float, si: float, ki: float, ti: float, ri: float, qi: float,
            c: float, scheme: tuple, ex_t: np.ndarray, amt: np.ndarray, n_x: int, n_t: int,
            lo: float, hi: float, tol_f: float) -> tuple[float, bool]:
    """Bisection for engine(vol) = pi on [lo, hi] (the price non-decreasing in vol, below pi at
    lo and above at hi): the fallback where the bracketing secant stalls -- a deep
    in-the-money American price is flat (exercise now) up to a vol and then grows like the
    square of the distance from it, which regula falsi steps crawl along.  Done when the price
    is within tol_f or the bracket within 1e-12 relative."""
    mid = 0.5 * (lo + hi)
    for _it in range(200):
        mid = 0.5 * (lo + hi)
        f = _engine(engine, si, ki, ti, ri, qi, mid, c, scheme, ex_t, amt, n_x, n_t) - pi
        if abs(f) <= tol_f:
            return mid, True
        if f > 0.0:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-12 * hi:
            return 0.5 * (lo + hi), True
    return mid, False


@njit(**_JIT)
def root_iv_kernel(engine: int, p: np.ndarray, s: np.ndarray, k: np.ndarray, t: np.ndarray,
                   r: np.ndarray, q: np.ndarray, cp: np.ndarray, scheme: tuple,
                   fast_scheme: tuple, ex_t: np.ndarray, amt: np.ndarray, n_x: int, n_t: int,
                   vol_out: np.ndarray, err_out: np.ndarray) -> None:
    """Implied vol on the engine price; err per IvError.

    Start: the European vol of the premium (an upper estimate for American).  ALO engine
    (engine 0): a bracketing secant on the cheap fast_scheme to 1e-8 relative, then secant
    steps on the accurate scheme from there (the two prices differ by ~1e-5, so 2-3 accurate
    prices suffice), falling back to the bracketing secant on the accurate scheme, then to
    bisection (``_bisect``) where that stalls.  The root is accepted when the bracket is
    narrower than 1e-10 relative (1e-12 for the bisection) or |price error| < 1e-11*K.
    Tested: test_american.py::test_american_iv_round_trip, test_american_iv_error_codes.
    """
    vmin = 1e-5
    vmax = 20.0
    for i in range(p.shape[0]):
        pi, si, ki, ti, ri, qi, c = p[i], s[i], k[i], t[i], r[i], q[i], cp[i]
        vol_out[i] = math.nan
        if not (si > 0.0 and ki > 0.0 and ti > 0.0 and math.isfinite(pi) and math.isfinite(si)
                and math.isfinite(ki) and math.isfinite(ti) and math.isfinite(ri)
                and math.isfinite(qi) and (c == 1.0 or c == -1.0)):
            err_out[i] = _BAD_INPUT
            continue
        intrinsic = max(c * (si - ki), 0.0)
        upper = si if c > 0.0 else ki
        if pi >= upper:
            err_out[i] = _ABOVE
            continue
        tol = 1e-12 * max(ki, si)
        if pi < intrinsic - tol:
            err_out[i] = _BELOW
            continue
        if pi <= intrinsic + tol:
            err_out[i] = _ZERO_TV
            continue
        # Lowest attainable value: the closed-form zero-vol value for ALO (no pricing run).
        v_floor = 0.0 if engine == 0 else vmin
        f_lo0 = _engine(engine, si, ki, ti, ri, qi, v_floor, c, scheme, ex_t, amt, n_x, n_t) - pi
        if f_lo0 >= 0.0:
            err_out[i] = _BELOW if f_lo0 > tol else _ZERO_TV
            continue
        # Initial guess: European vol of the premium (an upper estimate for American).
        fwd = si * math.exp((ri - qi) * ti)
        und = pi * math.exp(ri * ti)
        tv = und - max(c * (fwd - ki), 0.0)
        x = math.log(fwd / ki)
        guess = 0.3
        if tv > 0.0 and und < (fwd if c > 0.0 else ki):
            sn = normalised_implied_vol(tv / math.sqrt(fwd * ki), -abs(x))
            if sn > 0.0 and math.isfinite(sn):
                guess = min(max(sn / math.sqrt(ti), 1e-3), 5.0)
        tol_f = 1e-11 * ki
        done = False
        if engine == 0:
            xf, okf, slope = _illinois(engine, pi, si, ki, ti, ri, qi, c, fast_scheme, ex_t, amt,
                                       n_x, n_t, guess, vmin, -1.0, vmax, 1e-3 * tol_f, 1e-8)
            if okf and slope > 0.0:
                x0 = xf
                f0 = _engine(engine, si, ki, ti, ri, qi, x0, c, scheme, ex_t, amt, n_x, n_t) - pi
                x1 = x0 - f0 / slope
                for _it in range(4):
                    if abs(f0) <= tol_f:
                        done = True
                        break
                    if not (vmin < x1 < vmax):
                        break
                    f1 = _engine(engine, si, ki, ti, ri, qi, x1, c, scheme, ex_t, amt, n_x,
                                 n_t) - pi
                    if f1 == f0:
                        x0 = x1
                        f0 = f1
                        done = abs(f0) <= tol_f
                        break
                    x2 = x1 - f1 * (x1 - x0) / (f1 - f0)
                    x0 = x1
                    f0 = f1
                    x1 = x2
                if done:
                    vol_out[i] = x0
                    err_out[i] = _OK
                    continue
        xa, oka, _ = _illinois(engine, pi, si, ki, ti, ri, qi, c, scheme, ex_t, amt, n_x, n_t,
                               guess, vmin, f_lo0, vmax, tol_f, 1e-10)
        if not oka:  # (kinked deep in-the-money American prices: bisection, slow and sure)
            xa, oka = _bisect(engine, pi, si, ki, ti, ri, qi, c, scheme, ex_t, amt, n_x, n_t, vmin,
                              vmax, tol_f)
        if oka:
            vol_out[i] = xa
            err_out[i] = _OK
        else:
            err_out[i] = _NO_CONV
