"""Column calculations of the engine: parity forwards, quote implied vols, smile points and
the per-option surface values, greeks and slides.  Everything takes and returns arrays.

Pricing frameworks (``priceType``):

* ``Future`` -- European (index) options: Black-76 on the expiry's implied forward F, discounted
  at the curve rate r.  Published ``sdiv`` = r (the spec's rule for Future), ``uOff`` = F - uPrc,
  so PRICE(uPrc + uOff) is the Black-76 price; de/ga are per 1.00 of F (= of uPrc with uOff
  held), slides move F by the stated relative amount.
* ``Equity`` -- American (stock/ETF) options: Barone-Adesi-Whaley on the escrowed spot
  S* = uPrc - ddiv with the implied carry yield ``sdiv`` (from the parity forward:
  F = S* e^{(r - sdiv) t}); ``uOff`` = 0; slides move S* by the stated relative amount.
  Implied vols are de-Americanised: iv = euro_iv(P - EEP), EEP = BAW(iv0) - euro(iv0), two
  passes starting from the surface vol (0.3 when there is none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from ._baw import baw_deamericanised_iv, baw_price, baw_rows
from ._black import GREEK_KEYS, SLIDE_KEYS, SLIDE_MOVES, euro_price_kernel, euro_rows_kernel
from ._jit import JitOptions
from ._lbr import euro_iv_kernel
from ._svi import svi_total_variance

__all__ = ["RowContext", "implied_vols", "parity_forward", "row_prices", "smile_points", "surface_values"]

_JIT: JitOptions = {"cache": True, "nogil": True, "error_model": "numpy"}
_PJIT: JitOptions = {**_JIT, "parallel": True}


@njit(**_JIT)
def _parity_group(g: int, strike: NDArray[np.float64], cp: NDArray[np.int8],
                  bid: NDArray[np.float64], ask: NDArray[np.float64], offsets: NDArray[np.int64],
                  disc: NDArray[np.float64], n_best: int, fwd: NDArray[np.float64],
                  npairs: NDArray[np.int64]) -> None:
    lo, hi = offsets[g], offsets[g + 1]
    fs = np.empty(hi - lo)
    ds = np.empty(hi - lo)
    m = 0
    i = lo
    while i < hi - 1:
        if (strike[i] == strike[i + 1] and cp[i] == 0 and cp[i + 1] == 1
                and bid[i] > 0.0 and ask[i] >= bid[i] and bid[i + 1] > 0.0
                and ask[i + 1] >= bid[i + 1]):
            c = 0.5 * (bid[i] + ask[i])
            p = 0.5 * (bid[i + 1] + ask[i + 1])
            fs[m] = strike[i] + (c - p) / disc[g]
            # closeness to the money, penalised by the pair's combined spread
            ds[m] = abs(c - p) + (ask[i] - bid[i]) + (ask[i + 1] - bid[i + 1])
            m += 1
            i += 2
        else:
            i += 1
    npairs[g] = m
    if m == 0:
        fwd[g] = math.nan
        return
    order = np.argsort(ds[:m])
    kk = min(n_best, m)
    fwd[g] = np.median(fs[:m][order[:kk]])


@njit(**_PJIT)
def _parity(strike: NDArray[np.float64], cp: NDArray[np.int8], bid: NDArray[np.float64],
            ask: NDArray[np.float64], offsets: NDArray[np.int64], disc: NDArray[np.float64],
            n_best: int, fwd: NDArray[np.float64], npairs: NDArray[np.int64]) -> None:
    for g in prange(offsets.shape[0] - 1):
        _parity_group(g, strike, cp, bid, ask, offsets, disc, n_best, fwd, npairs)


@njit(**_JIT)
def _parity_serial(strike: NDArray[np.float64], cp: NDArray[np.int8], bid: NDArray[np.float64],
                   ask: NDArray[np.float64], offsets: NDArray[np.int64], disc: NDArray[np.float64],
                   n_best: int, fwd: NDArray[np.float64], npairs: NDArray[np.int64]) -> None:
    for g in range(offsets.shape[0] - 1):
        _parity_group(g, strike, cp, bid, ask, offsets, disc, n_best, fwd, npairs)


_PAR_MIN = 4096
"""Rows below which the serial twin of a kernel runs (a parallel region can cost a scheduler
slice, ~5 ms, when the other core is busy: more than a small batch takes)."""


def parity_forward(strike: NDArray[np.float64], cp: NDArray[np.int8], bid: NDArray[np.float64],
                   ask: NDArray[np.float64], offsets: NDArray[np.int64],
                   disc: NDArray[np.float64], n_best: int = 7
                   ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Implied forward per expiry group from put-call parity: F = K + (C - P)/D.

    Rows of a group are sorted by strike then call (0) before put (1).  Each strike with a
    two-sided call and put market gives one estimate; the forward is the median of the
    ``n_best`` estimates closest to the money (smallest |C - P| plus spreads).  American
    options carry a small early-exercise bias here, negligible near the money.  Groups with no
    pair get NaN.  Returns (forward, number of pairs).
    """
    ng = len(offsets) - 1
    fwd = np.empty(ng)
    npairs = np.zeros(ng, np.int64)
    if ng > 0:
        kernel = _parity if len(strike) >= _PAR_MIN else _parity_serial
        kernel(np.ascontiguousarray(strike, np.float64), np.ascontiguousarray(cp, np.int8),
               np.ascontiguousarray(bid, np.float64), np.ascontiguousarray(ask, np.float64),
               np.ascontiguousarray(offsets, np.int64), np.ascontiguousarray(disc, np.float64),
               n_best, fwd, npairs)
    return fwd, npairs


@njit(**_PJIT)
def _b76_iv_par(p: NDArray[np.float64], f: NDArray[np.float64], k: NDArray[np.float64],
                t: NDArray[np.float64], r: NDArray[np.float64], cp: NDArray[np.float64],
                n_chunks: int, vol: NDArray[np.float64], err: NDArray[np.int8]) -> None:
    n = p.shape[0]
    for c in prange(n_chunks):
        lo = n * c // n_chunks
        hi = n * (c + 1) // n_chunks
        euro_iv_kernel(p[lo:hi], f[lo:hi], k[lo:hi], t[lo:hi], r[lo:hi], r[lo:hi], cp[lo:hi],
                       True, vol[lo:hi], err[lo:hi])


@njit(**_PJIT)
def _b76_rows_par(f: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                  r: NDArray[np.float64], v: NDArray[np.float64], cp: NDArray[np.float64],
                  moves: NDArray[np.float64], n_chunks: int, out: NDArray[np.float64]) -> None:
    n = f.shape[0]
    for c in prange(n_chunks):
        lo = n * c // n_chunks
        hi = n * (c + 1) // n_chunks
        euro_rows_kernel(f[lo:hi], k[lo:hi], t[lo:hi], r[lo:hi], r[lo:hi], v[lo:hi], cp[lo:hi],
                         True, moves, out[:, lo:hi])


def _chunks(n: int) -> int:
    """Chunks of at least ~512 rows, a few per Numba thread (for prange wrappers)."""
    return max(1, min(4 * numba.get_num_threads(), n // 512))


def _f64(a: NDArray) -> NDArray[np.float64]:
    return np.ascontiguousarray(a, dtype=np.float64)


def b76_implied_vol(p: NDArray[np.float64], f: NDArray[np.float64], k: NDArray[np.float64],
                    t: NDArray[np.float64], r: NDArray[np.float64],
                    cp: NDArray[np.float64]) -> NDArray[np.float64]:
    """Black-76 implied vol per row (the Let's Be Rational kernel over the Numba threads);
    NaN where the solver reports an error."""
    n = len(p)
    vol = np.empty(n)
    err = np.empty(n, np.int8)
    if n:
        pp, ff, kk, tt, rr, cc = _f64(p), _f64(f), _f64(k), _f64(t), _f64(r), _f64(cp)
        if n >= _PAR_MIN:
            _b76_iv_par(pp, ff, kk, tt, rr, cc, _chunks(n), vol, err)
        else:
            euro_iv_kernel(pp, ff, kk, tt, rr, rr, cc, True, vol, err)
    return np.where(err == 0, vol, np.nan)


def b76_rows(f: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
             r: NDArray[np.float64], v: NDArray[np.float64], cp: NDArray[np.float64],
             moves: tuple[float, ...]) -> NDArray[np.float64]:
    """(10 + len(moves), n) Black-76 price, greeks, slides (the ``_black`` fused kernel over
    the Numba threads)."""
    n = len(f)
    mv = np.ascontiguousarray(moves, dtype=np.float64)
    out = np.empty((10 + len(mv), n))
    if n >= _PAR_MIN:
        _b76_rows_par(_f64(f), _f64(k), _f64(t), _f64(r), _f64(v), _f64(cp), mv, _chunks(n), out)
    elif n:
        euro_rows_kernel(_f64(f), _f64(k), _f64(t), _f64(r), _f64(r), _f64(v), _f64(cp), True, mv, out)
    return out


@dataclass
class RowContext:
    """Per-row pricing inputs (all 1-D arrays of one length)."""

    spot: NDArray[np.float64]  # uPrc
    fwd: NDArray[np.float64]  # implied forward
    strike: NDArray[np.float64]
    cpf: NDArray[np.float64]  # +1 call / -1 put
    t_years: NDArray[np.float64]
    rate: NDArray[np.float64]
    q: NDArray[np.float64]  # implied carry yield (Equity)
    ddiv: NDArray[np.float64]  # PV of discrete dividends before expiry
    american: NDArray[np.bool_]
    params: NDArray[np.float64]  # (n, 5) SVI parameters of the row's expiry

    def subset(self, idx: NDArray[np.int64]) -> RowContext:
        return RowContext(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


def _euro_iv(p: NDArray, ctx: RowContext, sel: NDArray[np.int64]) -> NDArray[np.float64]:
    return b76_implied_vol(p, ctx.fwd[sel], ctx.strike[sel], ctx.t_years[sel], ctx.rate[sel],
                           ctx.cpf[sel])


def _amer_iv(p: NDArray, ctx: RowContext, sel: NDArray[np.int64],
             guess: NDArray[np.float64]) -> NDArray[np.float64]:
    s = ctx.spot[sel] - ctx.ddiv[sel]
    v = np.where(np.isfinite(guess) & (guess > 0), guess, 0.3)
    return baw_deamericanised_iv(p, s, ctx.strike[sel], ctx.t_years[sel], ctx.rate[sel],
                                 ctx.q[sel], ctx.cpf[sel], v, passes=2)


def implied_vols(prices: NDArray[np.float64], ctx: RowContext,
                 guess: NDArray[np.float64]) -> NDArray[np.float64]:
    """Implied vol of each row's premium (NaN where it has none: zero or out-of-bounds price,
    expired, no forward)."""
    out = np.full(len(prices), np.nan)
    with np.errstate(all="ignore"):
        ok = (prices > 0) & np.isfinite(prices) & (ctx.t_years > 0) & np.isfinite(ctx.fwd)
        eu = np.flatnonzero(ok & ~ctx.american)
        am = np.flatnonzero(ok & ctx.american)
        if len(eu):
            out[eu] = _euro_iv(prices[eu], ctx, eu)
        if len(am):
            out[am] = _amer_iv(prices[am], ctx, am, guess[am])
    return out


def smile_points(ctx: RowContext, bid_iv: NDArray[np.float64], ask_iv: NDArray[np.float64]
                 ) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64],
                            NDArray[np.float64]]:
    """(use mask, k = ln(K/F), mid total variance, weight) of the rows that enter a fit.

    Used: out-of-the-money side (calls K >= F, puts K < F) with both quote vols.  Weight =
    1 / (spread in total variance)^2 (floored at 0.5% of w): the vega-scaled quote width, so
    tight high-vega quotes dominate and wide wings barely count.
    """
    with np.errstate(all="ignore"):
        k = np.log(ctx.strike / ctx.fwd)
        otm = np.where(ctx.cpf > 0, k >= 0, k < 0)
        use = otm & np.isfinite(bid_iv) & np.isfinite(ask_iv) & (ask_iv >= bid_iv) & (ctx.t_years > 0)
        t = ctx.t_years
        mid = 0.5 * (bid_iv + ask_iv)
        w = mid * mid * t
        spread = (ask_iv * ask_iv - bid_iv * bid_iv) * t
        weight = 1.0 / np.maximum(spread, 0.005 * w + 1e-10) ** 2
    return use, k, w, np.where(use, weight, 0.0)


def row_prices(ctx: RowContext, vol: NDArray[np.float64]) -> NDArray[np.float64]:
    """Option value per share per row at ``vol`` (decimal), price only, with the model of
    ``surface_values``' sPrc: Barone-Adesi-Whaley on the escrowed spot ``spot - ddiv`` with
    carry ``q`` for American rows, Black-76 on ``fwd`` otherwise.  ``ctx.params`` is unused.
    About three times cheaper than ``surface_values`` (no greeks, no slides)."""
    n = len(vol)
    out = np.full(n, np.nan)
    v = _f64(vol)
    eu = np.flatnonzero(~ctx.american)
    am = np.flatnonzero(ctx.american)
    if len(eu):
        res = np.empty(len(eu))
        r = _f64(ctx.rate[eu])
        euro_price_kernel(_f64(ctx.fwd[eu]), _f64(ctx.strike[eu]), _f64(ctx.t_years[eu]), r, r,
                          v[eu], _f64(ctx.cpf[eu]), True, res)
        out[eu] = res
    if len(am):
        out[am] = baw_price(_f64(ctx.spot[am] - ctx.ddiv[am]), _f64(ctx.strike[am]),
                            _f64(ctx.t_years[am]), _f64(ctx.rate[am]), _f64(ctx.q[am]), v[am],
                            _f64(ctx.cpf[am]))
    return out


def surface_values(ctx: RowContext, bid: NDArray[np.float64], ask: NDArray[np.float64]
                   ) -> dict[str, NDArray[np.float64]]:
    """atmVol, sVol, xAxis, veSlope, sPrc, sMark, the nine greeks and six slides per row.

    xAxis = ln(K/F) / (atmVol * sqrt(t_years)) (MoneynessType LogStd).  veSlope = d sVol /
    d uPrc with the vol at xAxis = 0 held, i.e. the smile moving with the forward:
    -(dw/dk)/(2 sVol t) * (dF/dS)/F.
    """
    n = len(bid)
    t = ctx.t_years
    p = ctx.params
    with np.errstate(all="ignore"):
        k = np.log(ctx.strike / ctx.fwd)
        w = svi_total_variance(k, p)
        w0 = svi_total_variance(np.zeros(n), p)
        svol = np.sqrt(w / t)
        atm = np.sqrt(w0 / t)
        svol = np.where((t > 0) & (w > 0), svol, np.nan)
        atm = np.where((t > 0) & (w0 > 0), atm, np.nan)
        x = k / (atm * np.sqrt(t))
        _a, b_, rho, m_, sg = (p[:, i] for i in range(5))
        dwdk = b_ * (rho + (k - m_) / np.sqrt((k - m_) ** 2 + sg * sg))
        s_star = ctx.spot - ctx.ddiv
        dfds = np.where(ctx.american, ctx.fwd / s_star, ctx.fwd / ctx.spot)
        ve_slope = -dwdk / (2.0 * svol * t) * dfds / ctx.fwd
    out = np.full((10 + len(SLIDE_MOVES), n), np.nan)
    eu = np.flatnonzero(~ctx.american)
    am = np.flatnonzero(ctx.american)
    if len(eu):
        out[:, eu] = b76_rows(ctx.fwd[eu], ctx.strike[eu], t[eu], ctx.rate[eu], svol[eu],
                              ctx.cpf[eu], SLIDE_MOVES)
    if len(am):
        out[:, am] = baw_rows(s_star[am], ctx.strike[am], t[am], ctx.rate[am], ctx.q[am],
                              svol[am], ctx.cpf[am], SLIDE_MOVES)
    out[1] = np.clip(out[1], -1.0, 1.0)  # finite-difference noise at deep in-the-money
    sprc = out[0]
    with np.errstate(invalid="ignore"):
        two = (bid > 0) & (ask >= bid)
    smark = np.where(two, np.clip(sprc, bid, ask), sprc)
    res_cols = {"atmVol": atm, "sVol": svol, "xAxis": x, "veSlope": ve_slope, "sPrc": sprc,
                "sMark": smark}
    for j, key in enumerate(GREEK_KEYS):
        res_cols[key] = out[1 + j]
    for j, key in enumerate(SLIDE_KEYS):
        res_cols[key] = out[10 + j]
    return res_cols
