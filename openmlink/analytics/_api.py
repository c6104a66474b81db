"""Public pricing API: broadcasting wrappers that dispatch to the Numba kernels.

Every function broadcasts its array/scalar arguments (NumPy rules), casts them once to
contiguous float64 1-D arrays (so each kernel has a single compiled signature), and reshapes
the results.  Units: S underlier price (futures price for model="black76"), K strike,
t_years Act/365 calendar time, r and q continuously compounded annual rates (q ignored for
black76), vol annualised (std_dev = vol*sqrt(t_years)), cp +1 call / -1 put.
dividends: None or (ex_times_years, amounts) -- cash dividends shared by all rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._american import amer_price_kernel, make_scheme
from ._black import GREEK_KEYS, OUT_KEYS, SLIDE_MOVES, euro_price_kernel, euro_rows_kernel
from ._dividends import fd_price_kernel
from ._greeks import fd_greeks_kernel, root_iv_kernel
from ._lbr import euro_iv_kernel

__all__ = [
    "DEFAULT_SCHEME",
    "greeks",
    "implied_vol",
    "price",
    "price_greeks_slides",
    "slide_keys",
    "slides",
]

Exercise = Literal["european", "american"]
Model = Literal["black_scholes", "black76"]
Dividends = tuple[ArrayLike, ArrayLike] | None

DEFAULT_SCHEME = make_scheme(8, 4, 12, 48, steep=(16, 10))
"""ALO scheme (l, m, n, p) = (8, 4, 12, 32), steep boundaries (l, m) = (16, 10) by the Phi form:
see _american.py for its measured accuracy."""
FAST_SCHEME = make_scheme(8, 2, 6, 24, steep=(16, 4))
"""Cheap ALO scheme for the early iterations of the American implied-vol root-finder."""
FD_GRID = (401, 400)
"""Finite-difference grid (space nodes, time steps) for American options with cash dividends."""

_EMPTY = np.empty(0, dtype=np.float64)
_FAST_IV_ROWS = 16
"""American implied vols of at least this many rows (no cash dividends, ``vol_tol`` > 0) try
the fast path of ``_american_iv`` first (boundary tables shared by rows of one expiry); the rest, and rows it
does not accept, use the row-by-row root-finder."""


def _prep(*args: ArrayLike) -> tuple[tuple[int, ...], list[NDArray[np.float64]]]:
    arrs = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in args])
    shape = arrs[0].shape
    return shape, [np.ascontiguousarray(a, dtype=np.float64).ravel() for a in arrs]


def _check(exercise: str, model: str, dividends: Dividends) -> tuple[bool, bool, bool]:
    if exercise not in ("european", "american"):
        raise ValueError(f"exercise must be 'european' or 'american', not {exercise!r}")
    if model not in ("black_scholes", "black76"):
        raise ValueError(f"model must be 'black_scholes' or 'black76', not {model!r}")
    has_div = dividends is not None and np.asarray(dividends[0]).size > 0
    if has_div and model == "black76":
        raise ValueError("cash dividends do not apply to the black76 (futures) model")
    return exercise == "american", model == "black76", has_div


def _divs(dividends: Dividends) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if dividends is None:
        return _EMPTY, _EMPTY
    ex_t = np.ascontiguousarray(np.atleast_1d(dividends[0]), dtype=np.float64).ravel()
    amt = np.ascontiguousarray(np.atleast_1d(dividends[1]), dtype=np.float64).ravel()
    if ex_t.shape != amt.shape:
        raise ValueError("dividends: ex_times_years and amounts must have the same length")
    return ex_t, amt


def _escrow(s: NDArray[np.float64], t: NDArray[np.float64], r: NDArray[np.float64],
            q: NDArray[np.float64], ex_t: NDArray[np.float64], amt: NDArray[np.float64]
            ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """S* = S - sum D_i e^{-(r-q) t_i} over 0 < t_i <= t (forward-consistent escrow with a
    continuous yield q, as QuantLib's AnalyticDividendEuropeanEngine), that sum, and
    sum t_i * (its terms), per row."""
    live = (ex_t[None, :] > 0.0) & (ex_t[None, :] <= t[:, None])
    pv_i = np.where(live, amt[None, :] * np.exp(-(r - q)[:, None] * ex_t[None, :]), 0.0)
    pv = pv_i.sum(axis=1)
    tpv = (pv_i * ex_t[None, :]).sum(axis=1)
    return np.ascontiguousarray(s - pv), pv, tpv


def slide_keys(moves: Sequence[float]) -> tuple[str, ...]:
    """Names of slides: +0.50 -> 'up50', -0.08 -> 'dn08' (percent of the underlier)."""
    return tuple(("up" if m > 0 else "dn") + f"{round(abs(m) * 100):02d}" for m in moves)


def price(S: ArrayLike, K: ArrayLike, t_years: ArrayLike, r: ArrayLike, q: ArrayLike,
          vol: ArrayLike, cp: ArrayLike, exercise: Exercise = "european",
          model: Model = "black_scholes", dividends: Dividends = None) -> NDArray[np.float64]:
    """Option value per share; NaN where an input is invalid.

    European: closed form (escrowed spot with cash dividends).  American: ALO collocation, or
    the FD engine when cash dividends are given.  Tested: test_black.py, test_american.py,
    test_dividends.py.
    """
    american, b76, has_div = _check(exercise, model, dividends)
    shape, (s, k, t, rr, qq, v, c) = _prep(S, K, t_years, r, q, vol, cp)
    out = np.empty(s.shape[0])
    ex_t, amt = _divs(dividends)
    if american and has_div:
        fd_price_kernel(s, k, t, rr, qq, v, c, ex_t, amt, True, FD_GRID[0], FD_GRID[1], out)
    elif american:
        if b76:
            qq = rr
        amer_price_kernel(s, k, t, rr, qq, v, c, DEFAULT_SCHEME, out)
    else:
        if has_div:
            s = _escrow(s, t, rr, qq, ex_t, amt)[0]
        euro_price_kernel(s, k, t, rr, qq, v, c, b76, out)
    return out.reshape(shape)


def implied_vol(P: ArrayLike, S: ArrayLike, K: ArrayLike, t_years: ArrayLike, r: ArrayLike,
                q: ArrayLike, cp: ArrayLike, exercise: Exercise = "european",
                model: Model = "black_scholes", dividends: Dividends = None,
                vol_tol: float = 0.0) -> tuple[NDArray[np.float64], NDArray[np.int8]]:
    """(annualised vol, err) per row; err codes are IvError, vol is NaN where err != 0.

    European: Let's Be Rational (escrowed spot with dividends).  American: a safeguarded secant
    on the row-by-row ALO price (reprices to ~1e-11); with ``vol_tol`` > 0 (e.g. 1e-5), batches
    of 16 rows or more without cash dividends first take the de-Americanisation over boundary
    tables shared by the rows of one (t, r, q) of ``_american_iv`` (~100k rows/s per core on
    whole chains), accepted where its estimated vol error (price residual over the American
    vega) is at most ``vol_tol``; the other rows the secant.  Never raises on bad data.
    Tested: test_lbr.py, tests/analytics/test_american_iv.py,
    test_american.py::test_american_iv_round_trip.
    """
    american, b76, has_div = _check(exercise, model, dividends)
    shape, (p, s, k, t, rr, qq, c) = _prep(P, S, K, t_years, r, q, cp)
    vol = np.empty(s.shape[0])
    err = np.empty(s.shape[0], dtype=np.int8)
    ex_t, amt = _divs(dividends)
    if american:
        if b76:
            qq = rr
        engine = 1 if has_div else 0
        rest = np.arange(s.shape[0])
        if vol_tol > 0.0 and not has_div and s.shape[0] >= _FAST_IV_ROWS:
            from ._american_iv import fast_american_iv  # (imports this module)

            fv, fok = fast_american_iv(p, s, k, t, rr, qq, c, vol_tol)
            vol[fok] = fv[fok]
            err[fok] = 0
            rest = np.flatnonzero(~fok)
        if len(rest) == s.shape[0]:
            root_iv_kernel(engine, p, s, k, t, rr, qq, c, DEFAULT_SCHEME, FAST_SCHEME, ex_t, amt,
                           FD_GRID[0], FD_GRID[1], vol, err)
        elif len(rest):
            v_r = np.empty(len(rest))
            e_r = np.empty(len(rest), dtype=np.int8)
            root_iv_kernel(engine, p[rest], s[rest], k[rest], t[rest], rr[rest], qq[rest], c[rest],
                           DEFAULT_SCHEME, FAST_SCHEME, ex_t, amt, FD_GRID[0], FD_GRID[1], v_r, e_r)
            vol[rest] = v_r
            err[rest] = e_r
    else:
        if has_div:
            s = _escrow(s, t, rr, qq, ex_t, amt)[0]
        euro_iv_kernel(p, s, k, t, rr, qq, c, b76, vol, err)
    return vol.reshape(shape), err.reshape(shape)


def _rows(S: ArrayLike, K: ArrayLike, t_years: ArrayLike, r: ArrayLike, q: ArrayLike,
          vol: ArrayLike, cp: ArrayLike, moves: Sequence[float], exercise: Exercise,
          model: Model, dividends: Dividends) -> tuple[tuple[int, ...], NDArray[np.float64]]:
    american, b76, has_div = _check(exercise, model, dividends)
    shape, (s, k, t, rr, qq, v, c) = _prep(S, K, t_years, r, q, vol, cp)
    mv = np.ascontiguousarray(moves, dtype=np.float64).ravel()
    out = np.empty((len(OUT_KEYS) + mv.shape[0], s.shape[0]))
    ex_t, amt = _divs(dividends)
    if american:
        if b76:
            qq = rr
        engine = 1 if has_div else 0
        fd_greeks_kernel(engine, s, k, t, rr, qq, v, c, mv, DEFAULT_SCHEME, ex_t, amt,
                         FD_GRID[0], FD_GRID[1], out)
    elif has_div:
        s_star, pv, tpv = _escrow(s, t, rr, qq, ex_t, amt)
        euro_rows_kernel(s_star, k, t, rr, qq, v, c, False, mv, out)
        de, ga = out[1].copy(), out[2].copy()
        out[3] += de * (-(rr - qq) * pv) / 365.0  # the escrow accretes as a day passes
        out[7] += de * tpv / 100.0  # dS*/dr = sum t_i PV_i
        out[8] -= de * tpv / 100.0  # dS*/dq = -sum t_i PV_i
        out[9] += ga * (-(rr - qq) * pv) / 365.0
    else:
        euro_rows_kernel(s, k, t, rr, qq, v, c, b76, mv, out)
    return shape, out


def price_greeks_slides(S: ArrayLike, K: ArrayLike, t_years: ArrayLike, r: ArrayLike,
                        q: ArrayLike, vol: ArrayLike, cp: ArrayLike,
                        moves: Sequence[float] = SLIDE_MOVES, exercise: Exercise = "european",
                        model: Model = "black_scholes", dividends: Dividends = None
                        ) -> dict[str, NDArray[np.float64]]:
    """Fused hot path: {'price', de, ga, th, ve, va, vo, ro, ph, deDecay, up50 ... dn08}.

    One pass per row (European: closed forms, slides by reusing d1).  Units as in greeks().
    Tested: test_black.py::test_fused_equals_separate_calls.
    """
    shape, out = _rows(S, K, t_years, r, q, vol, cp, moves, exercise, model, dividends)
    keys = OUT_KEYS + slide_keys(moves)
    return {key: out[j].reshape(shape) for j, key in enumerate(keys)}


def greeks(S: ArrayLike, K: ArrayLike, t_years: ArrayLike, r: ArrayLike, q: ArrayLike,
           vol: ArrayLike, cp: ArrayLike, exercise: Exercise = "european",
           model: Model = "black_scholes", dividends: Dividends = None
           ) -> dict[str, NDArray[np.float64]]:
    """Greeks in LiveImpliedQuote units.

    de, ga per 1 unit of underlier; th per calendar day (value change as one day passes);
    ve per vol point (0.01); va = d(de)/d(vol) per vol point; vo = d(ve)/d(vol) per vol point;
    ro, ph per 1% of rate / dividend yield; deDecay = change in de as one calendar day passes.
    European: closed forms; American: central differences of the American price.
    Tested: test_black.py::test_greeks_match_quantlib, test_american.py.
    """
    shape, out = _rows(S, K, t_years, r, q, vol, cp, (), exercise, model, dividends)
    return {key: out[1 + j].reshape(shape) for j, key in enumerate(GREEK_KEYS)}


def slides(S: ArrayLike, K: ArrayLike, t_years: ArrayLike, r: ArrayLike, q: ArrayLike,
           vol: ArrayLike, cp: ArrayLike, moves: Sequence[float] = SLIDE_MOVES,
           exercise: Exercise = "european", model: Model = "black_scholes",
           dividends: Dividends = None) -> dict[str, NDArray[np.float64]]:
    """Value change per share for the underlier moved by each relative move, vol unchanged.

    Keys from slide_keys(moves): up50 dn50 up15 dn15 up06 dn08 by default.
    Tested: test_black.py::test_slides_are_reprices.
    """
    if exercise == "european" or len(moves) == 0:
        res = price_greeks_slides(S, K, t_years, r, q, vol, cp, moves, exercise, model,
                                  dividends)
        return {key: res[key] for key in slide_keys(moves)}
    base = price(S, K, t_years, r, q, vol, cp, exercise, model, dividends)
    s_arr = np.asarray(S, dtype=np.float64)
    return {key: price(s_arr * (1.0 + m), K, t_years, r, q, vol, cp, exercise, model,
                       dividends) - base for key, m in zip(slide_keys(moves), moves, strict=True)}
