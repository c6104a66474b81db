"""The pure part of an expiry fit: forwards, carry, quote vols and SVI smiles of a group of
expiries, from arrays gathered from the book (``FitInputs``).  No book, bus or clock."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ...analytics import (
    AmericanModel,
    RowContext,
    american_parity_forward,
    fit_correction,
    fit_svi,
    implied_vols,
    parity_forward,
    smile_points,
    smile_total_variance,
)

__all__ = ["FitInputs", "FitResult", "fit_expiries", "surface_values_vol"]


@dataclass(frozen=True, slots=True)
class FitInputs:
    """Per expiry: years to settlement ``t``, curve rate ``r``, PV of cash dividends ``ddiv``,
    underlier mid ``s``, the security master's yield ``qd``, the current SVI ``params`` (n, 5).
    Per option row, grouped by expiry (group ``i`` is rows ``goff[i]:goff[i+1]``): strike,
    cp (0 call, 1 put), bid, ask, American flag.  ``parity_strikes``: strikes used per parity
    forward; ``american_model``: the American pricing model (``analytics.AmericanModel``)."""

    t: NDArray[np.float64]
    r: NDArray[np.float64]
    ddiv: NDArray[np.float64]
    s: NDArray[np.float64]
    qd: NDArray[np.float64]
    params: NDArray[np.float64]
    goff: NDArray[np.int64]
    strike: NDArray[np.float64]
    cp: NDArray[np.int8]
    bid: NDArray[np.float64]
    ask: NDArray[np.float64]
    american: NDArray[np.bool_]
    parity_strikes: int
    american_model: AmericanModel = "alo"


@dataclass(frozen=True, slots=True)
class FitResult:
    """Per expiry: forward, carry yield ``q``, parity pairs used, the new smile ``params``
    (``analytics._smile``) and fit ``rmse``, ``arb_free`` (no butterfly arbitrage over the
    fitted range), points used (all, calls, puts).  Per row: the pricing context after the fit
    (its forward the fitted one, its params the new smile) and the bid/ask vols."""

    fwd: NDArray[np.float64]
    q: NDArray[np.float64]
    npairs: NDArray[np.int64]
    params: NDArray[np.float64]
    rmse: NDArray[np.float64]
    arb_free: NDArray[np.bool_]
    npts: NDArray[np.int64]
    ncall: NDArray[np.int64]
    nput: NDArray[np.int64]
    ctx: RowContext
    bid_iv: NDArray[np.float64]
    ask_iv: NDArray[np.float64]


def fit_expiries(inp: FitInputs) -> FitResult:
    """Forward from put-call parity (American roots: ``american_parity_forward``, parity of the
    de-Americanised quotes, so that call and put IVs agree; else carried from the spot at the
    master's yield), carry
    yield q = r - ln(F / (S - ddiv)) / t, quote vols (the current smile as the solver's guess),
    and a smile fit of the out-of-the-money quote vols (raw SVI plus the spline correction of
    ``analytics._smile``, butterfly-checked), per expiry."""
    t, r, s, ddiv = inp.t, inp.r, inp.s, inp.ddiv
    n_exp = len(t)
    sizes = np.diff(inp.goff)
    with np.errstate(all="ignore"):
        disc = np.exp(-r * np.maximum(t, 0.0))
        fwd, npairs = parity_forward(inp.strike, inp.cp, inp.bid, inp.ask, inp.goff, disc,
                                     inp.parity_strikes)
        se = s - ddiv
        fwd = np.where(np.isfinite(fwd), fwd, se * np.exp((r - inp.qd) * t))
        amer_e = np.bincount(np.repeat(np.arange(n_exp), sizes), inp.american, minlength=n_exp) > 0
        if amer_e.any():  # American roots: parity of the de-Americanised quotes
            fwd = np.where(amer_e, american_parity_forward(inp.strike, inp.cp, inp.bid, inp.ask,
                                                           inp.goff, disc, se, t, fwd,
                                                           inp.parity_strikes,
                                                           model=inp.american_model), fwd)
        q = np.where((t > 0) & (se > 0) & (fwd > 0), r - np.log(fwd / se) / t, inp.qd)
    rep = (lambda a: np.repeat(a, sizes, axis=0))  # noqa: E731  per expiry -> per row
    ctx = RowContext(rep(s), rep(fwd), inp.strike, np.where(inp.cp == 0, 1.0, -1.0), rep(t), rep(r),
                     rep(q), rep(ddiv), inp.american, rep(inp.params))
    old = surface_values_vol(ctx)
    bid_iv = implied_vols(inp.bid, ctx, old, inp.american_model)
    ask_iv = implied_vols(inp.ask, ctx, old, inp.american_model)
    use, k, w, wt = smile_points(ctx, bid_iv, ask_iv)
    grp = np.repeat(np.arange(n_exp), sizes)
    counts = np.bincount(grp[use], minlength=n_exp)
    poff = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    svi, _ = fit_svi(k[use], w[use], wt[use], poff)
    params, arb_free = fit_correction(k[use], w[use], wt[use], poff, svi)
    with np.errstate(all="ignore"):
        e = smile_total_variance(k[use], rep(params)[use]) - w[use]
        g = grp[use]
        rmse = np.sqrt(np.bincount(g, wt[use] * e * e, n_exp) / np.bincount(g, wt[use], n_exp))
    ctx.params = rep(params)
    return FitResult(fwd, q, np.asarray(npairs), params, rmse, arb_free, counts,
                     np.bincount(grp[use & (ctx.cpf > 0)], minlength=n_exp),
                     np.bincount(grp[use & (ctx.cpf < 0)], minlength=n_exp), ctx, bid_iv, ask_iv)


def surface_values_vol(ctx: RowContext) -> NDArray[np.float64]:
    """The current smile's vol per row (NaN where the expiry has no fit): the IV solver's guess."""
    with np.errstate(all="ignore"):
        w = smile_total_variance(np.log(ctx.strike / ctx.fwd), ctx.params)
        return np.where((ctx.t_years > 0) & (w > 0), np.sqrt(w / ctx.t_years), np.nan)
