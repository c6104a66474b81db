"""Stock parent orders (trading.md §1.2: a stock ``secKey`` is the OptionKey with empty option
parts, i.e. a TickerKey; ``secType`` Stock): validation, the stock NBBO as the venue's book and
the limit kernels' market columns.

A stock broker works like an option broker -- same transition table, records, journal, child
orders on the SimVenue -- against the underlier's ``StockBookQuote`` (level 1) instead of an
``OptionNbboQuote``.  (inferred) What differs:

- limit types: the price types the kernels compute from an NBBO or a number (Market,
  MarketArrival, Prc, RelMid, RelJoin, RelCross, and Aux with a price in its limit record);
  the option-model types (Vol, VolX, PrcDe, PrcDeX) and the Surface / Probability limit
  classes are refused ``BadLmtType`` (no surface exists for a stock);
- ticks: one cent at every price (Reg NMS sub-penny rule for quotes >= 1.00; prices below 1.00
  are also worked on the cent grid here);
- risk: a share is $delta ``uPrc`` (delta 1, point value 1) and no vega; shares are not option
  contracts, so ``maxGrpDayContracts*`` do not count them;
- exchanges: the StockBookQuote exchange masks are stock exchanges, not the venue's option
  exchange codes, so fills report the venue's default exchange;
- futures: no future is listed on this platform (no futures source), so a Future order is
  refused ``UnknwnFut``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ...schema import MsgType, OptionKey, TickerKey
from ._checks import enum_name, shape_and_size

__all__ = ["STOCK_LIMIT_TYPES", "STOCK_TICK", "fill_stock_market", "is_stock",
           "stock_nbbo_fields", "validate_stock_order"]

STOCK_TICK = 0.01
#: orderLimitType values a stock order may use (others: BadLmtType)
STOCK_LIMIT_TYPES = frozenset({"Market", "MarketArrival", "Prc", "RelMid", "RelJoin",
                               "RelCross", "Aux"})
#: handling a stock order may use (auctions are option-only here)
STOCK_HANDLING = frozenset({"None", "ActiveTaker", "PostOnly"})
#: (inferred) erroneous-order collar for stocks: a Prc limit more than 10% of the mid through
#: the opposite side (Rule 15c3-5 style; the option collar's 50% is far too loose for a stock)
STOCK_COLLAR_FRAC = 0.10


def is_stock(key: Any) -> bool:
    """A stock security key (a TickerKey in an OptionKey-typed ``secKey``)."""
    return isinstance(key, TickerKey)


_name = enum_name


def validate_stock_order(mt: MsgType, rec: dict[str, Any], sent: frozenset[str], sec_type: str,
                         known: Callable[[Any], bool],
                         nbbo: Callable[[Any], tuple[float, float]]) -> tuple[str, str] | None:
    """The stock/future part of §1.8 validation (after accnt and side); None = may work."""
    key = rec.get("secKey")
    if sec_type == "Future":
        return "UnknwnFut", (f"secKey: {key} is not a listed future here (this platform lists "
                             "no futures: hedge with the stock)")
    if isinstance(key, OptionKey):
        return "UnknwnStk", (f"secKey: {key} is an option key; a Stock order's secKey is a ticker "
                             "{at, ts, tk} (e.g. AAPL-NMS-EQT)")
    if not isinstance(key, TickerKey):
        return "UnknwnStk", "secKey: a ticker {at, ts, tk} is required for a Stock order"
    if not known(key):
        return "UnknwnStk", f"secKey: {key} has no StockBookQuote here (not a listed stock)"
    bad = shape_and_size(mt, rec, sent, "shares")
    if bad is not None:
        return bad
    handling = _name(mt, "parentOrderHandling", rec["parentOrderHandling"])
    if handling not in STOCK_HANDLING:
        return "BadOrdType", (f"parentOrderHandling: {handling} is not supported for a stock "
                              f"order (use {', '.join(sorted(STOCK_HANDLING - {'None'}))})")
    if _name(mt, "autoHedge", rec["autoHedge"]) != "None":
        return "InvldAutoH", "autoHedge: only option orders are auto-hedged; send autoHedge None"
    ltype = _name(mt, "orderLimitType", rec["orderLimitType"])
    if ltype not in STOCK_LIMIT_TYPES:
        return "BadLmtType", (f"orderLimitType: {ltype} needs an option model; a stock order "
                              f"uses one of {', '.join(sorted(STOCK_LIMIT_TYPES))}")
    for f in ("takeLimitClass", "makeLimitClass"):
        cls = _name(mt, f, rec[f])
        if cls not in ("None", "Simple"):
            return "BadLmtType", f"{f}: {cls} needs a volatility surface; a stock order uses Simple"
    if ltype == "Prc":
        p = float(rec["orderPrcLimit"])
        if not p > 0:
            return "BadLimit", f"orderPrcLimit: {p:g} must be a positive price for Prc"
        bid, ask = nbbo(key)
        side = _name(mt, "orderSide", rec["orderSide"])
        if bid > 0 and ask > 0:
            mid = 0.5 * (bid + ask)
            through = (p - ask) if side == "Buy" else (bid - p)
            if through > STOCK_COLLAR_FRAC * mid:
                opp = f"ask {ask:g}" if side == "Buy" else f"bid {bid:g}"
                return "LmtCollar", (f"orderPrcLimit: {side.lower()} limit {p:g} is {through:g} "
                                     f"through the {opp} (collar {STOCK_COLLAR_FRAC * mid:g}); "
                                     "check the price and side")
    return None


def stock_nbbo_fields(cols: dict[str, np.ndarray], r: int) -> tuple[float, float, int, int]:
    """(bid, ask, bidSize, askSize) of StockBookQuote row ``r``."""
    return (float(cols["bidPrice1"][r]), float(cols["askPrice1"][r]), int(cols["bidSize1"][r]),
            int(cols["askSize1"][r]))


def fill_stock_market(m: Any, extra: dict[str, np.ndarray], stk: Any,
                      keys: list[Any]) -> np.ndarray:
    """Write the rows of ``keys`` that are stocks into the kernels' market columns ``m`` (a
    SeriesMarket) from the StockBookQuote table ``stk``: the stock's own NBBO is both the
    series NBBO and the underlier market; delta 1, no gamma/vega, no surface.  Returns the
    mask of stock rows."""
    is_stk = np.fromiter((isinstance(k, TickerKey) for k in keys), np.bool_, len(keys))
    if not is_stk.any():
        return is_stk
    idx = np.flatnonzero(is_stk)
    rows = np.fromiter((stk.index.get((keys[i],), -1) for i in idx.tolist()), np.int64, len(idx))
    ok = rows >= 0
    c = stk.cols
    for j, r in zip(idx[ok].tolist(), rows[ok].tolist(), strict=True):
        bid, ask, bsz, asz = stock_nbbo_fields(c, r)
        m.bid[j] = bid if bid > 0 else math.nan
        m.ask[j] = ask if ask > 0 else math.nan
        m.bid_size[j], m.ask_size[j] = bsz, asz
        m.u_bid[j], m.u_ask[j] = m.bid[j], m.ask[j]
        extra["qv"][j] = stk.row_seq[r]
    with np.errstate(invalid="ignore"):
        mid = 0.5 * (m.bid[idx] + m.ask[idx])
        one = np.where(np.isfinite(m.bid[idx]), m.bid[idx], m.ask[idx])
    m.u_prc[idx] = np.where(np.isfinite(mid), mid, one)
    m.avg_width[idx] = m.ask[idx] - m.bid[idx]
    m.de[idx], m.ga[idx] = 1.0, 0.0
    extra["ve"][idx] = 0.0
    for a in (m.s_vol, m.s_prc, m.s_mark):
        a[idx] = math.nan
    return is_stk
