"""The auction trial match and the final allocation (trading.md §3.2), pure functions over
NumPy arrays of live responses.

Prices are handled in the initiator's "goodness" space ``x = -init_side * price``: the
initiator prefers a higher ``x`` (a seller a higher price, a buyer a lower one), responders
on the other side are willing at every ``x`` up to their own.  Rounding "toward the
initiator's limit" is then a floor in ``x``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["NBBO_CAP_PENNIES", "Allocator", "Solution", "allocate_pro_rata", "effective_prices",
           "solve"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: nbboCap -> how far (in dollars) a match may trade through the NBBO on the responders'
#: side; None = no cap
NBBO_CAP_PENNIES: dict[str, float | None] = {"None": None, "NoCap": None, "Nbbo": 0.0,
                                             "Penny": 0.01, "FivePennies": 0.05,
                                             "TenPennies": 0.10}
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Solution:
    """One side's trial result (AuctionState BidSolution / AskSolution)."""

    num_responders: int
    match_price: float  # nan: no feasible price
    match_size: int

    @property
    def matched(self) -> bool:
        return self.match_size > 0


NO_MATCH = Solution(0, math.nan, 0)


def effective_prices(price: F64, ref_u: F64, de: F64, ga: F64, adjusted: npt.NDArray[np.bool_],
                     u_mid: float) -> F64:
    """Delta-adjusted response prices at the trial's underlier mid (§3.1):
    ``eff = price + de·(uMid - refUPrc) + 0.5·ga·(uMid - refUPrc)^2`` where ``adjusted``."""
    if not math.isfinite(u_mid) or not adjusted.any():
        return price.astype(np.float64, copy=True)
    d = np.where(adjusted & (ref_u > 0), u_mid - ref_u, 0.0)
    return price + de * d + 0.5 * ga * d * d


def _floor_tick(x: float, tick: float) -> float:
    return round(math.floor(x / tick + _EPS) * tick, 8)


def _ceil_tick(x: float, tick: float) -> float:
    return round(math.ceil(x / tick - _EPS) * tick, 8)


def solve(init_side: int, qty: int, limit: float, cond: str, prices: F64, sizes: I64,
          responder: I64, tick: float, cap: float = math.inf) -> Solution:
    """The trial match of an initiator on ``init_side`` (+1 buy, -1 sell) for ``qty`` with
    limit ``limit`` against responses on the other side (``prices`` already effective,
    ``sizes`` > 0, ``responder`` ids).  ``cond``: AllOrNone / QtyOrMore / BalanceOrNone need
    ``qty`` in total, UpToQty any size.  ``cap``: the worst price (for the responders) a match
    may print at (NBBO cap), inf/-inf for none.  Returns the highest feasible price for the
    initiator rounded to ``tick`` toward its limit, the size matched there and the number of
    distinct responders at or better than it."""
    n = len(prices)
    if n == 0 or qty <= 0:
        return NO_MATCH
    s = -float(init_side)
    x = s * prices
    x_cap = s * cap if math.isfinite(cap) else math.inf
    x = np.minimum(x, x_cap)  # a responder willing beyond the cap is willing at the cap
    x_lim = _ceil_tick(s * limit, tick) if math.isfinite(limit) else -math.inf
    order = np.argsort(-x, kind="stable")
    xs = x[order]
    cum = np.cumsum(sizes[order])
    need = qty if cond in ("AllOrNone", "QtyOrMore", "BalanceOrNone") else 1
    # the first position (best x) where the cumulative size satisfies the condition; every
    # response at or above that level's x counts (equal prices share the level)
    ok = np.nonzero(cum >= need)[0]
    if len(ok) == 0:
        return NO_MATCH
    level_x = float(xs[ok[0]])
    mx = _floor_tick(level_x, tick)
    if mx < x_lim - _EPS:
        return NO_MATCH
    within = x >= mx - _EPS
    size = int(min(qty, int(sizes[within].sum())))
    nresp = len(np.unique(responder[within]))
    return Solution(nresp, round(s * mx, 8) + 0.0, size)


#: allocator(x_prices, sizes, arrival, total) -> per-response fill quantities
Allocator = Callable[[F64, I64, I64, int], I64]


def allocate_pro_rata(x: F64, sizes: I64, arrival: I64, total: int) -> I64:
    """Price priority; within the marginal price level pro-rata by size (integer floor), the
    remainder one contract at a time by arrival.  ``x`` in initiator-goodness space (only
    responses at or better than the match price are passed)."""
    out = np.zeros(len(x), np.int64)
    left = int(total)
    for lvl in sorted(set(np.round(x, 9).tolist()), reverse=True):
        if left <= 0:
            break
        idx = np.nonzero(np.abs(x - lvl) < 1e-9)[0]
        lvl_size = int(sizes[idx].sum())
        if lvl_size <= left:
            out[idx] = sizes[idx]
            left -= lvl_size
            continue
        share = (sizes[idx] * left) // lvl_size
        out[idx] = share
        left -= int(share.sum())
        for i in idx[np.argsort(arrival[idx], kind="stable")]:
            if left <= 0:
                break
            if out[i] < sizes[i]:
                out[i] += 1
                left -= 1
    return out
