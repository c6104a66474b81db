"""Child-order prices (make side, by parentBalanceHandling) and public sizes (by publicSize)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._enums import BALANCE, PUBLIC_SIZE
from ._ticks import round_to_tick, tick_at

__all__ = ["DEFAULT_MKT_SIZE", "SUPPORTED_BALANCE", "child_prices", "child_size", "child_sizes",
           "split_size", "split_sizes"]

_B = BALANCE
_JOIN = np.array([_B["None"], _B["PostWith"], _B["PostWthF"], _B["PostPeg"]])
_IMPROVE = np.array([_B["PostImprove"], _B["PostImprvR"]])
SUPPORTED_BALANCE = frozenset(int(x) for x in (*_JOIN, *_IMPROVE, _B["PostLimit"], _B["PostTurn"]))
"""parentBalanceHandling ordinals child_prices handles: None (algo default = PostWith),
PostWith, PostWthF and PostPeg (joined like PostWith), PostImprove, PostImprvR (like
PostImprove), PostLimit, PostTurn.  The others (MaxIntern, PostFlash*) give no make price."""
_P = PUBLIC_SIZE


def _table(codes: NDArray[np.int64]) -> NDArray[np.bool_]:
    """A membership table by ordinal (``_member``): a lookup, not ``np.isin``'s sort, so a
    handful of orders costs a few microseconds."""
    t = np.zeros(int(max(codes)) + 2, np.bool_)  # the last cell: any ordinal out of range
    t[codes] = True
    return t


def _member(h: NDArray[np.int64], table: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``np.isin(h, codes)`` for the ``codes`` of ``table``."""
    return table[np.clip(h, -1, len(table) - 1)]


_JOIN_T, _IMPROVE_T = _table(_JOIN), _table(_IMPROVE)
_PCT = {_P["Max25Pct"]: 0.25, _P["Max50Pct"]: 0.50, _P["Max75Pct"]: 0.75}
_MKT = np.array([_P["None"], _P["MktSize"], _P["MktSizeA"], _P["MktSizeB"], _P["MktSizeC"]])
_DUST = 1e-9


F64 = NDArray[np.float64]


def _step_up(x: F64, lo: F64, hi: F64) -> F64:
    """The tick above price x (the upper tick from 3.00 on)."""
    return tick_at(x, lo, hi)


def _step_down(x: F64, lo: F64, hi: F64) -> F64:
    """The tick below price x (3.00 - one lower tick = 2.99 in penny classes)."""
    return tick_at(x - _DUST, lo, hi)

DEFAULT_MKT_SIZE = 10
"""Typical market size assumed when a series has no average NBBO size yet."""


def child_prices(make_limit: ArrayLike, side: ArrayLike, bid: ArrayLike, ask: ArrayLike,
                 balance_handling: ArrayLike, tick_below3: ArrayLike,
                 tick_above3: ArrayLike) -> NDArray[np.float64]:
    """Price of each order's posted (make) child; NaN = post nothing.

    ``balance_handling`` ordinals (``BALANCE``): PostWith = join the own NBBO side; PostImprove
    = one tick better than the own side; PostLimit = at the make limit; PostTurn = one tick
    inside the opposite side.  Every price is then capped by the make limit (rounded
    passively: a buy never above it, a sell never below) and kept strictly inside the opposite
    NBBO (a buy at most one tick below the ask), on the tick grid.  With no own side, join /
    improve post at the make limit; with no opposite side only the limit caps the price.
    """
    lim = np.asarray(make_limit, np.float64)
    s = np.asarray(side, np.int64)
    b = np.asarray(bid, np.float64)
    a = np.asarray(ask, np.float64)
    h = np.asarray(balance_handling, np.int64)
    lo = np.asarray(tick_below3, np.float64)
    hi = np.asarray(tick_above3, np.float64)
    lim, s, b, a, h, lo, hi = np.broadcast_arrays(lim, s, b, a, h, lo, hi)
    buy = s > 0
    with np.errstate(invalid="ignore"):
        own = np.where(buy, b, a)
        opp = np.where(buy, a, b)
        has_own = np.isfinite(own) & (own > 0)
        has_opp = np.isfinite(opp) & (opp > 0)
        better = np.where(buy, own + _step_up(own, lo, hi), own - _step_down(own, lo, hi))
        inside = np.where(buy, opp - _step_down(opp, lo, hi), opp + _step_up(opp, lo, hi))
        cand = np.full(lim.shape, np.nan)
        cand = np.where(_member(h, _JOIN_T), np.where(has_own, own, lim), cand)
        cand = np.where(_member(h, _IMPROVE_T), np.where(has_own, better, lim), cand)
        cand = np.where(h == _B["PostLimit"], lim, cand)
        cand = np.where(h == _B["PostTurn"], np.where(has_opp, inside, lim), cand)
        # never through the make limit, never crossing or locking the opposite side
        px = np.where(buy, np.minimum(cand, lim), np.maximum(cand, lim))
        px = np.where(has_opp, np.where(buy, np.minimum(px, inside), np.maximum(px, inside)), px)
        px = round_to_tick(px, s, lo, hi, passive=True)
        ok = np.isfinite(px) & (px > 0) & np.isfinite(lim)
    return np.where(ok, px, np.nan)


def child_sizes(workable: ArrayLike, public_size: ArrayLike, avg_mkt_size: ArrayLike,
                rng: np.random.Generator) -> NDArray[np.int64]:
    """Total public child size per order (spec section 1.6), never above ``workable``.

    ``public_size`` ordinals (``PUBLIC_SIZE``): FullSize = W; FullSizeR = uniform integer in
    [ceil(0.8 W), W]; MktSize (and MktSizeA/B/C, and None = algo default) = min(W, average
    market size); Max25Pct/Max50Pct/Max75Pct = min(W, ceil(NN% W)); Randomize = uniform
    integer in [1, min(W, average market size)]; NoSize = 0.  Draws come from ``rng`` (one
    uniform per row, drawn for every row, so a row's size depends only on the seed and its
    position).  Average market size NaN or <= 0 means ``DEFAULT_MKT_SIZE``.
    """
    w = np.maximum(np.asarray(workable, np.int64), 0)
    ps = np.asarray(public_size, np.int64)
    avg = np.asarray(avg_mkt_size, np.float64)
    w, ps, avg = np.broadcast_arrays(w, ps, avg)
    u = rng.random(w.shape)
    with np.errstate(invalid="ignore"):
        mkt = np.where(np.isfinite(avg) & (avg > 0), np.maximum(np.round(avg), 1), DEFAULT_MKT_SIZE)
    mkt_size = np.minimum(w, mkt.astype(np.int64))
    out = np.where(np.isin(ps, _MKT), mkt_size, 0)
    out = np.where(ps == _P["FullSize"], w, out)
    lo_r = np.ceil(0.8 * w - _DUST).astype(np.int64)
    out = np.where(ps == _P["FullSizeR"], lo_r + np.floor(u * (w - lo_r + 1)).astype(np.int64), out)
    for code, frac in _PCT.items():
        out = np.where(ps == code, np.minimum(w, np.ceil(frac * w - _DUST).astype(np.int64)), out)
    rnd = 1 + np.floor(u * np.maximum(mkt_size, 1)).astype(np.int64)
    out = np.where(ps == _P["Randomize"], rnd, out)
    out = np.where(ps == _P["NoSize"], 0, out)
    return np.clip(out, 0, w).astype(np.int64)


_MKT_SET = frozenset(int(x) for x in _MKT)


def child_size(workable: int, public_size: int, avg_mkt_size: float,
               rng: np.random.Generator) -> int:
    """``child_sizes`` of one order, without arrays (the order manager sends children one
    broker at a time): the same size from the same ``rng`` state, and one draw."""
    w = max(int(workable), 0)
    ps = int(public_size)
    u = float(rng.random())
    a = float(avg_mkt_size)
    mkt = max(round(a), 1) if math.isfinite(a) and a > 0 else DEFAULT_MKT_SIZE
    mkt_size = min(w, int(mkt))
    out = mkt_size if ps in _MKT_SET else 0
    if ps == _P["FullSize"]:
        out = w
    elif ps == _P["FullSizeR"]:
        lo_r = math.ceil(0.8 * w - _DUST)
        out = lo_r + math.floor(u * (w - lo_r + 1))
    elif ps in _PCT:
        out = min(w, math.ceil(_PCT[ps] * w - _DUST))
    elif ps == _P["Randomize"]:
        out = 1 + math.floor(u * max(mkt_size, 1))
    elif ps == _P["NoSize"]:
        out = 0
    return min(max(out, 0), w)


def split_size(total: int, num_exchanges: int) -> list[int]:
    """``split_sizes`` of one order: ``total`` over ``num_exchanges`` (clipped to 1..4)."""
    tot = max(int(total), 0)
    k = min(max(int(num_exchanges), 1), 4)
    base, rem = divmod(tot, k)
    return [base + (j < rem) for j in range(k)]


def split_sizes(total: ArrayLike, num_exchanges: ArrayLike) -> NDArray[np.int64]:
    """(n, max k) sizes of ``total`` split evenly over ``num_exchanges`` (1-4) exchanges,
    the remainder going to the first ones; zero columns past an order's k (k is clipped to
    1..4)."""
    tot = np.maximum(np.atleast_1d(np.asarray(total, np.int64)), 0)
    k = np.clip(np.atleast_1d(np.asarray(num_exchanges, np.int64)), 1, 4)
    tot, k = np.broadcast_arrays(tot, k)
    cols = int(k.max()) if len(k) else 1
    j = np.arange(cols)[None, :]
    base = (tot // k)[:, None]
    rem = (tot % k)[:, None]
    out = np.where(j < k[:, None], base + (j < rem), 0)
    return out.astype(np.int64)
