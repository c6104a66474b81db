"""Column calculations of the engine: parity forwards, quote implied vols, smile points and
the per-option surface values, greeks and slides.  Everything takes and returns arrays.

Pricing frameworks (``priceType``):

* ``Future`` -- European (index) options: Black-76 on the expiry's implied forward F, discounted
  at the curve rate r.  Published ``sdiv`` = r - ln(F / uPrc) / t (docs/rates.md), ``uOff`` = F - uPrc,
  so PRICE(uPrc + uOff) is the Black-76 price; de/ga are per 1.00 of F (= of uPrc with uOff
  held), slides move F by the stated relative amount.
* ``Equity`` -- American (stock/ETF) options: ALO collocation (``american_value``: one
  exercise-boundary table per expiry and side) on the escrowed spot S* = uPrc - ddiv with the
  implied carry yield ``sdiv`` (from the American parity forward: F = S* e^{(r - sdiv) t});
  ``uOff`` = 0.  sPrc, greeks and slides are those of the ALO model over the same boundary
  tables (``_american_rows``: analytic derivatives of the premium integral; slides move S* by
  the stated relative amount).  Implied vols are
  de-Americanised: iv = euro_iv(P - EEP), EEP = ALO(v) - euro(v), two passes from the BAW
  de-Americanised vol (started at the surface vol, 0.3 when there is none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from ._american_grouped import BoundaryTables
from ._american_rows import american_rows
from ._baw import baw_deamericanised_iv, baw_price, baw_rows
from ._black import GREEK_KEYS, SLIDE_KEYS, SLIDE_MOVES, euro_price_kernel, euro_rows_kernel
from ._jit import JitOptions
from ._lbr import euro_iv_kernel
from ._parallel import parallel_enabled
from ._smile import smile_wk

__all__ = ["AmericanModel", "RowContext", "amer_deam_iv", "american_eep", "american_parity_forward",
           "american_value", "implied_vols", "parity_forward", "row_prices", "smile_points", "surface_values"]

_JIT: JitOptions = {"cache": True, "nogil": True, "error_model": "numpy"}
_PJIT: JitOptions = {**_JIT, "parallel": True}
# Numba's cache of the kernels here checks this file's stamp only, not the kernels they call
# (``_black``'s vectorised rows, issue 16): a change there needs this file touched (or the
# __pycache__ *.nbi/*.nbc removed), else the cached prange twins keep the old code.


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
    # median of the forwards of the kk pairs with the smallest ds (ties: the lower strike), by
    # selection and insertion sort: kk is a handful, and np.argsort / np.median would cost
    # seconds of compiling at a server's cold start
    kk = min(n_best, m)
    sel = np.empty(kk)
    for j in range(kk):
        best = -1
        for u in range(m):
            if ds[u] >= 0.0 and (best < 0 or ds[u] < ds[best]):
                best = u
        v = fs[best]
        ds[best] = -1.0  # taken
        h = j
        while h > 0 and sel[h - 1] > v:
            sel[h] = sel[h - 1]
            h -= 1
        sel[h] = v
    fwd[g] = sel[kk // 2] if kk % 2 == 1 else 0.5 * (sel[kk // 2 - 1] + sel[kk // 2])


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
        kernel = _parity if len(strike) >= _PAR_MIN and parallel_enabled() else _parity_serial
        kernel(np.ascontiguousarray(strike, np.float64), np.ascontiguousarray(cp, np.int8),
               np.ascontiguousarray(bid, np.float64), np.ascontiguousarray(ask, np.float64),
               np.ascontiguousarray(offsets, np.int64), np.ascontiguousarray(disc, np.float64),
               n_best, fwd, npairs)
    return fwd, npairs


AmericanModel = Literal["alo", "baw"]
"""The engine's American model: ``alo`` (accurate, default) or ``baw`` (Barone-Adesi-Whaley:
IVs, forwards and sPrc as before issue 16, about 4x cheaper per Loop)."""

IV_STEPS = -1
"""Secant steps of the engine's American IVs (``amer_deam_iv``): -1 = one de-Americanisation
pass with the ALO premium from the BAW vol (vol error ~1e-7 near the money, up to ~1 vol pt on
deep in-the-money rows whose vega is nearly nil); 2 = within ~1e-3 cents of repricing."""

_TABLES = BoundaryTables(min_rows=6)
"""The engine's boundary tables (bounded memo, see ``BoundaryTables``): a vol range of 6 rows
gets a table (~7 boundaries where it is narrow; the IV passes and the surface price reuse it)."""


def american_value(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                   r: NDArray[np.float64], q: NDArray[np.float64], v: NDArray[np.float64],
                   cp: NDArray[np.float64], model: AmericanModel = "alo") -> NDArray[np.float64]:
    """The engine's American value per row: ALO on spot ``s`` (the escrowed spot) with carry
    ``q``, rows of equal (t, r, q) sharing one boundary table (``BoundaryTables``; within
    ~1e-5 per share of row-by-row ALO); ``model="baw"``: Barone-Adesi-Whaley instead."""
    if model == "baw":
        return baw_price(_f64(s), _f64(k), _f64(t), _f64(r), _f64(q), _f64(v), _f64(cp))
    return _TABLES.prices(_f64(s), _f64(k), _f64(t), _f64(r), _f64(q), _f64(v), _f64(cp))


def american_eep(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                 r: NDArray[np.float64], q: NDArray[np.float64], v: NDArray[np.float64],
                 cp: NDArray[np.float64], model: AmericanModel = "alo") -> NDArray[np.float64]:
    """Early-exercise premium (>= 0) of the engine's American model at vol ``v``."""
    euro = np.empty(len(s))
    if len(s):
        euro_price_kernel(_f64(s), _f64(k), _f64(t), _f64(r), _f64(q), _f64(v), _f64(cp), False, euro)
    with np.errstate(invalid="ignore"):
        return np.maximum(american_value(s, k, t, r, q, v, cp, model) - euro, 0.0)


def amer_deam_iv(p: NDArray[np.float64], s: NDArray[np.float64], k: NDArray[np.float64],
                 t: NDArray[np.float64], r: NDArray[np.float64], q: NDArray[np.float64],
                 cp: NDArray[np.float64], guess: NDArray[np.float64],
                 steps: int = 2, model: AmericanModel = "alo") -> NDArray[np.float64]:
    """Implied vol of American premiums ``p`` under the engine's American model (ALO,
    ``american_value``): v0 = the Barone-Adesi-Whaley de-Americanised vol (started at
    ``guess``, 0.3 where NaN); v1 = euro_iv(p - EEP(v0)) (the de-Americanised vol with the
    accurate premium; returned as is when ``steps`` < 0: one American evaluation per row); then
    ``steps`` secant steps on A(v) - p, keeping the vol with the smallest residual: 2 + ``steps``
    evaluations per row.  NaN where no vol
    reprices the premium within max(1e-6 p, 0.001) (below the European bound, early-exercised,
    or no vega).  ``model="baw"``: the BAW de-Americanised vol alone (two passes).  Tested:
    tests/analytics/test_american_grouped.py::test_amer_deam_iv_recovers_the_vol."""
    return _amer_deam_iv(p, s, k, t, r, q, cp, guess, steps, model)[0]


def _amer_deam_iv(p: NDArray[np.float64], s: NDArray[np.float64], k: NDArray[np.float64],
                  t: NDArray[np.float64], r: NDArray[np.float64], q: NDArray[np.float64],
                  cp: NDArray[np.float64], guess: NDArray[np.float64],
                  steps: int = 2, model: AmericanModel = "alo"
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """(vol, premium subtracted) of ``amer_deam_iv``; the premium (ALO at the BAW vol) only
    for model "alo" with ``steps`` < 0, else None."""
    n = len(p)
    v0 = np.where(np.isfinite(guess) & (guess > 0), guess, 0.3)
    with np.errstate(all="ignore"):
        va = baw_deamericanised_iv(p, s, k, t, r, q, cp, v0, passes=2)
        if model == "baw":
            return va, None
        va = np.where(np.isfinite(va), va, v0)
        fa = american_value(s, k, t, r, q, va, cp) - p
        euro = np.empty(n)
        if n:
            euro_price_kernel(_f64(s), _f64(k), _f64(t), _f64(r), _f64(q), _f64(va), _f64(cp), False,
                              euro)
        eep = np.maximum(fa + p - euro, 0.0)  # the ALO premium at the BAW vol
        padj = p - eep
        iv = np.empty(n)
        err = np.empty(n, np.int8)
        if n:
            euro_iv_kernel(_f64(padj), _f64(s), _f64(k), _f64(t), _f64(r), _f64(q), _f64(cp), False,
                           iv, err)
        if steps < 0:  # the de-Americanised vol with the accurate premium, no secant
            return np.where((err == 0) & np.isfinite(iv), iv, np.nan), eep
        vb = np.where((err == 0) & np.isfinite(iv), iv, va)
        best_v = va.copy()
        best_f = np.abs(fa)
        for _ in range(steps + 1):
            fb = american_value(s, k, t, r, q, vb, cp) - p
            better = np.abs(fb) < best_f
            best_v = np.where(better, vb, best_v)
            best_f = np.where(better, np.abs(fb), best_f)
            den = fb - fa
            step = np.where((den != 0) & np.isfinite(den), fb * (vb - va) / den, 0.0)
            vn = np.clip(vb - step, 0.5 * vb, 2.0 * vb)
            va, fa, vb = vb, fb, np.clip(vn, 1e-4, 10.0)
        # a premium at or below the European bound (or intrinsic) has no vol
        ok = best_f <= np.maximum(1e-6 * p, 1e-3)  # reprices within a tenth of a cent
    return np.where(ok & np.isfinite(best_v), best_v, np.nan), None


def american_parity_forward(strike: NDArray[np.float64], cp: NDArray[np.int8],
                            bid: NDArray[np.float64], ask: NDArray[np.float64],
                            offsets: NDArray[np.int64], disc: NDArray[np.float64],
                            s_star: NDArray[np.float64], t_years: NDArray[np.float64],
                            fwd0: NDArray[np.float64], n_best: int = 7, iters: int = 2,
                            band: float = 0.25, model: AmericanModel = "alo") -> NDArray[np.float64]:
    """Implied forward per expiry group of American options: parity on European-equivalent
    premiums.

    Put-call parity F = K + (C - P)/D holds for European values; American mids carry the
    early-exercise premium (EEP, mostly the puts'), which biases F low and the implied yield
    high.  Starting from ``fwd0`` (e.g. ``parity_forward`` of the American mids), each of
    ``iters`` rounds takes the carry yield q = r - ln(F / S*)/t of the current F (S* = spot -
    PV of cash dividends, r = -ln(D)/t), de-Americanises the quotes of strikes within ``band``
    (log) of F (vol = the European-equivalent IV of the mid, EEP of the engine's American
    model at that vol, subtracted from bid and ask) and takes ``parity_forward`` of those
    European-equivalent quotes.  De-Americanised call and put IVs then agree at the money.
    The rounds before the last take the premium of Barone-Adesi-Whaley (they only bring F
    near the fixed point: the last round's ALO premiums at their carry decide it, and ALO
    boundary tables at a carry used once are the costliest part of a Loop).
    Groups without a usable pair keep ``fwd0``.  Tested:
    tests/engines/implied/test_engine_american_forward.py.
    """
    ng = len(offsets) - 1
    fwd = np.asarray(fwd0, np.float64).copy()
    if ng == 0 or len(strike) == 0:
        return fwd
    sizes = np.diff(offsets)
    grp = np.repeat(np.arange(ng), sizes)
    cpf = np.where(np.asarray(cp) == 0, 1.0, -1.0)
    with np.errstate(all="ignore"):
        r_g = -np.log(disc) / t_years
        for it in range(iters):
            m_it: AmericanModel = model if it == iters - 1 else "baw"
            ok_g = np.isfinite(fwd) & (fwd > 0) & (s_star > 0) & (t_years > 0)
            q_g = np.where(ok_g, r_g - np.log(fwd / s_star) / t_years, 0.0)
            f_row = fwd[grp]
            two = (bid > 0) & (ask >= bid) & ok_g[grp] & (np.abs(np.log(strike / f_row)) < band)
            sel = np.flatnonzero(two)
            if len(sel) == 0:
                break
            g = grp[sel]
            mid = 0.5 * (bid[sel] + ask[sel])
            args = (s_star[g], strike[sel], t_years[g], r_g[g], q_g[g])
            iv, eep0 = _amer_deam_iv(mid, *args, cpf[sel], np.full(len(sel), np.nan), steps=-1,
                                     model=m_it)
            # ALO: the premium the de-Americanisation subtracted (at the BAW vol; one pricing
            # pass fewer than repricing it at the new vol, ~1e-6 apart near the money)
            eep = eep0 if eep0 is not None else american_eep(*args, np.nan_to_num(iv, nan=0.3),
                                                             cpf[sel], m_it)
            eep = np.where(np.isfinite(iv) & np.isfinite(eep), np.maximum(eep, 0.0), np.nan)
            b_e = np.full(len(strike), np.nan)
            a_e = np.full(len(strike), np.nan)
            b_e[sel] = bid[sel] - eep
            a_e[sel] = ask[sel] - eep
            new, npairs = parity_forward(strike, cp, np.nan_to_num(b_e, nan=-1.0),
                                         np.nan_to_num(a_e, nan=-1.0), offsets, disc, n_best)
            fwd = np.where(np.isfinite(new) & (npairs > 0) & ok_g, new, fwd)
    return fwd


@njit(**_PJIT)
def _b76_iv_par(p: NDArray[np.float64], f: NDArray[np.float64], k: NDArray[np.float64],
                t: NDArray[np.float64], r: NDArray[np.float64], cp: NDArray[np.float64],
                n_chunks: int, b76: bool, vol: NDArray[np.float64], err: NDArray[np.int8]) -> None:
    """(``b76`` is True: an argument, not a literal, so that euro_iv_kernel has the one
    compiled signature every caller shares -- a literal compiles it again, ~3.5 s.)"""
    n = p.shape[0]
    for c in prange(n_chunks):
        lo = n * c // n_chunks
        hi = n * (c + 1) // n_chunks
        euro_iv_kernel(p[lo:hi], f[lo:hi], k[lo:hi], t[lo:hi], r[lo:hi], r[lo:hi], cp[lo:hi],
                       b76, vol[lo:hi], err[lo:hi])


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
        if n >= _PAR_MIN and parallel_enabled():
            _b76_iv_par(pp, ff, kk, tt, rr, cc, _chunks(n), True, vol, err)
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
    if n >= _PAR_MIN and parallel_enabled():
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
    params: NDArray[np.float64]  # (n, 5) SVI or (n, SMILE_WIDTH) smile parameters (``_smile``)

    def subset(self, idx: NDArray[np.int64]) -> RowContext:
        return RowContext(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


def _euro_iv(p: NDArray, ctx: RowContext, sel: NDArray[np.int64]) -> NDArray[np.float64]:
    return b76_implied_vol(p, ctx.fwd[sel], ctx.strike[sel], ctx.t_years[sel], ctx.rate[sel],
                           ctx.cpf[sel])


def _amer_iv(p: NDArray, ctx: RowContext, sel: NDArray[np.int64],
             guess: NDArray[np.float64], model: AmericanModel) -> NDArray[np.float64]:
    s = ctx.spot[sel] - ctx.ddiv[sel]
    v = np.where(np.isfinite(guess) & (guess > 0), guess, 0.3)
    return amer_deam_iv(p, s, ctx.strike[sel], ctx.t_years[sel], ctx.rate[sel], ctx.q[sel],
                        ctx.cpf[sel], v, steps=IV_STEPS, model=model)


def implied_vols(prices: NDArray[np.float64], ctx: RowContext, guess: NDArray[np.float64],
                 model: AmericanModel = "alo") -> NDArray[np.float64]:
    """Implied vol of each row's premium (NaN where it has none: zero or out-of-bounds price,
    expired, no forward); American rows under ``model``."""
    out = np.full(len(prices), np.nan)
    with np.errstate(all="ignore"):
        ok = (prices > 0) & np.isfinite(prices) & (ctx.t_years > 0) & np.isfinite(ctx.fwd)
        eu = np.flatnonzero(ok & ~ctx.american)
        am = np.flatnonzero(ok & ctx.american)
        if len(eu):
            out[eu] = _euro_iv(prices[eu], ctx, eu)
        if len(am):
            out[am] = _amer_iv(prices[am], ctx, am, guess[am], model)
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


def row_prices(ctx: RowContext, vol: NDArray[np.float64], model: AmericanModel = "alo"
               ) -> NDArray[np.float64]:
    """Option value per share per row at ``vol`` (decimal), price only, with the model of
    ``surface_values``' sPrc: ALO (``american_value``) on the escrowed spot ``spot - ddiv``
    with carry ``q`` for American rows, Black-76 on ``fwd`` otherwise.  ``ctx.params`` is unused.
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
        out[am] = american_value(_f64(ctx.spot[am] - ctx.ddiv[am]), _f64(ctx.strike[am]),
                                 _f64(ctx.t_years[am]), _f64(ctx.rate[am]), _f64(ctx.q[am]), v[am],
                                 _f64(ctx.cpf[am]), model)
    return out


def surface_values(ctx: RowContext, bid: NDArray[np.float64], ask: NDArray[np.float64],
                   model: AmericanModel = "alo", alo_greeks: bool = True
                   ) -> dict[str, NDArray[np.float64]]:
    """atmVol, sVol, xAxis, veSlope, sPrc, sMark, the nine greeks and six slides per row.

    American rows, model "alo": sPrc is the ALO value; greeks and slides are ALO's too
    (``american_rows``) unless ``alo_greeks`` is False: then Barone-Adesi-Whaley bump
    differences (a few rows of many expiries, the Tick path: ALO greeks cost 7 boundaries a row
    there, ~1 ms, against ~0.05 ms).

    xAxis = ln(K/F) / (atmVol * sqrt(t_years)) (MoneynessType LogStd).  veSlope = d sVol /
    d uPrc with the vol at xAxis = 0 held, i.e. the smile moving with the forward:
    -(dw/dk)/(2 sVol t) * (dF/dS)/F.
    """
    n = len(bid)
    t = ctx.t_years
    p = ctx.params
    with np.errstate(all="ignore"):
        k = np.log(ctx.strike / ctx.fwd)
        w, dwdk = smile_wk(k, p, 1)
        w0 = smile_wk(np.zeros(n), p)[0]
        svol = np.sqrt(w / t)
        atm = np.sqrt(w0 / t)
        svol = np.where((t > 0) & (w > 0), svol, np.nan)
        atm = np.where((t > 0) & (w0 > 0), atm, np.nan)
        x = k / (atm * np.sqrt(t))
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
        args = (_f64(s_star[am]), _f64(ctx.strike[am]), _f64(t[am]), _f64(ctx.rate[am]),
                _f64(ctx.q[am]), _f64(svol[am]), _f64(ctx.cpf[am]))
        if model == "alo" and alo_greeks:  # price, greeks and slides of ALO over its tables
            out[:, am] = american_rows(_TABLES, *args, SLIDE_MOVES)
            # sPrc exactly as row_prices (a Vol limit at sVol prices to sPrc): the same
            # tables, whatever rows it is given (american_rows' tables for the greeks may
            # differ by ~1e-7 where a smile's wing shares its neighbour's table)
            out[0, am] = american_value(*args)
        else:
            out[:, am] = baw_rows(*args, SLIDE_MOVES)
            if model == "alo":
                out[0, am] = american_value(*args)
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
