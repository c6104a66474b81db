"""Calendar-spread flags of the book's fitted expiries (issue 16): each expiry's smile against
the previous expiry of the same underlier (``analytics.calendar_check``), kept per expiry in
the book (``exp_cal_prev``, ``exp_cal_short``, ``exp_cal_lo``/``exp_cal_hi``) and tested again
at each row's own ln(K/F) when its rows are published: a row where the smile's total variance
falls short of the previous expiry's carries ``calcErr = InvalidSVol`` (docs/surfaces.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ...analytics import calendar_check, calendar_short

if TYPE_CHECKING:
    from ._book import Book

__all__ = ["calendar_flags", "calendar_rows"]


def calendar_flags(b: Book, exps: NDArray[np.int64]) -> None:
    """Recheck every fitted, unexpired expiry of the underliers of ``exps`` (a refit of one
    expiry changes its own flag and the next one's), in settlement order per underlier, over the
    common ln(K/F) range of the quotes each adjacent pair was fitted to (beyond them both
    smiles are extrapolations: SVI wings)."""
    ne = b.n_exp
    if not len(exps) or not ne:
        return
    touched = np.isin(b.exp_und[:ne], np.unique(b.exp_und[exps]))
    with np.errstate(invalid="ignore"):
        live = (touched & (b.exp_fit_ns[:ne] > 0) & np.isfinite(b.exp_params[:ne, 0])
                & (b.exp_years[:ne] > 0) & np.isfinite(b.exp_fwd[:ne]))
    for name, fill in (("exp_cal_prev", -1), ("exp_cal_short", np.nan), ("exp_cal_lo", np.nan),
                       ("exp_cal_hi", np.nan)):
        getattr(b, name)[:ne][touched] = fill
    e_all = np.flatnonzero(live).astype(np.int64)
    if len(e_all) < 2:
        return
    e = e_all[np.lexsort((b.exp_settle_ns[e_all], b.exp_und[e_all]))]
    prev = np.arange(-1, len(e) - 1, dtype=np.int64)
    prev[1:][b.exp_und[e[1:]] != b.exp_und[e[:-1]]] = -1
    prev[0] = -1
    # the fitted quotes' range (analytics._smile layout: params 5, 6)
    short, viol, lo, hi = calendar_check(b.exp_params[e], b.exp_params[e, 5], b.exp_params[e, 6],
                                         prev)
    b.exp_cal_short[e] = short
    b.exp_cal_lo[e] = lo
    b.exp_cal_hi[e] = hi
    b.exp_cal_prev[e] = np.where(viol, e[np.maximum(prev, 0)], -1)


def calendar_rows(b: Book, rows: NDArray[np.int64], fwd: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Rows (forward ``fwd``) of expiries with a calendar violation whose ln(K / F) lies in the
    pair's common fitted range and whose total variance falls short there."""
    out = np.zeros(len(rows), bool)
    e = b.exp[rows]
    pe = b.exp_cal_prev[e]
    sel = np.flatnonzero(pe >= 0)
    if len(sel):
        es, ps = e[sel], pe[sel]
        with np.errstate(all="ignore"):
            k = np.log(b.strike[rows[sel]] / fwd[sel])
            inside = (k >= b.exp_cal_lo[es]) & (k <= b.exp_cal_hi[es])
        out[sel] = inside & calendar_short(k, b.exp_params[es], b.exp_params[ps])
    return out
