"""Order validation (trading.md §1.8): the first failing check names the reject reason
(SpdrRejectReason) and a text a person can act on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from ...schema import MsgType, OptionKey
from ._checks import enum_name, shape_and_size
from ._stock import is_stock, validate_stock_order

__all__ = ["SUPPORTED_HANDLING", "SUPPORTED_LIMIT_TYPES", "Reject", "validate_order"]

Reject = tuple[str, str]  # (SpdrRejectReason name, text)

#: parentOrderHandling values this order manager works (others: BadOrdType)
SUPPORTED_HANDLING = frozenset({"None", "ActiveTaker", "PostOnly", "BlockAuction", "BlockAuctionDAC",
                                "BlockAuctionPOC", "BlockAuctionPCV", "FlashAuction"})
#: orderLimitType values the limit kernels price (others: BadLmtType, §2.2 "reject in v1")
SUPPORTED_LIMIT_TYPES = frozenset({"Market", "MarketArrival", "Prc", "PrcDe", "PrcDeX", "Vol",
                                   "VolX", "RelMid", "RelJoin", "RelCross", "Aux"})
VOL_MIN, VOL_MAX = 0.005, 9.0
#: (inferred) erroneous-order collar: a price limit more than this fraction of the mid through
#: the opposite side of the option NBBO is rejected LmtCollar (Rule 15c3-5 style price collar)
COLLAR_FRAC = 0.5
COLLAR_ABS = 1.0


_name = enum_name


def validate_order(mt: MsgType, rec: dict[str, Any], sent: frozenset[str], now_ns: int,
                   known: Callable[[Any], bool],
                   nbbo: Callable[[Any], tuple[float, float]]) -> Reject | None:
    """None when the SpdrParentOrder ``rec`` (stored form; ``sent`` = fields the client sent)
    may work, else (reason, text).  ``known(okey)`` says the series is listed here; ``nbbo``
    gives its (bid, ask) for the price collar."""
    if not rec.get("accnt"):
        return "InvldAccnt", "accnt: required (the account the order trades for)"
    side = _name(mt, "orderSide", rec["orderSide"])
    if side not in ("Buy", "Sell"):
        return "BadSide", f"orderSide: '{side}' is not Buy or Sell"
    sec_type = _name(mt, "secType", rec["secType"])
    if sec_type in ("Stock", "Future"):
        return validate_stock_order(mt, rec, sent, sec_type, known, nbbo)
    if sec_type not in ("Option", "None"):
        return "BadOrdType", (f"secType: {sec_type} orders are not worked by this order "
                              "manager (Option, Stock)")
    okey = rec.get("secKey")
    if is_stock(okey):
        return "UnknwnOpt", (f"secKey: {okey} is a ticker; send secType Stock for a stock order "
                             "(an option order's secKey is {at, ts, tk, dt, xx, cp})")
    if not isinstance(okey, OptionKey):
        return "UnknownSecKey", "secKey: an option key {at, ts, tk, dt, xx, cp} is required"
    try:
        expiry = date.fromisoformat(okey.dt)
    except ValueError:
        return "UnknwnOpt", f"secKey.dt: '{okey.dt}' is not a date"
    today = datetime.fromtimestamp(now_ns / 1e9, UTC).date()
    if expiry < today:
        return "Expired", f"secKey: {okey} expired on {okey.dt}"
    if not known(okey):
        return "UnknwnOpt", f"secKey: {okey} is not a listed option here (no quote for it)"
    bad = shape_and_size(mt, rec, sent, "contracts")
    if bad is not None:
        return bad
    handling = _name(mt, "parentOrderHandling", rec["parentOrderHandling"])
    if handling not in SUPPORTED_HANDLING:
        return "BadOrdType", (f"parentOrderHandling: {handling} is not supported here "
                              f"(use {', '.join(sorted(SUPPORTED_HANDLING - {'None'}))})")
    ltype = _name(mt, "orderLimitType", rec["orderLimitType"])
    if ltype not in SUPPORTED_LIMIT_TYPES:
        return "BadLmtType", (f"orderLimitType: {ltype} is not supported (use one of "
                              f"{', '.join(sorted(SUPPORTED_LIMIT_TYPES))})")
    if ltype in ("Vol", "VolX"):
        v = float(rec["orderVolLimit"])
        if not VOL_MIN <= v <= VOL_MAX:
            return "BadVolPx", (f"orderVolLimit: {v:g} is outside [{VOL_MIN}, {VOL_MAX}] "
                                "(decimal vol, 0.25 = 25%)")
    if ltype in ("Prc", "PrcDe", "PrcDeX"):
        p = float(rec["orderPrcLimit"])
        if not p > 0:
            return "BadLimit", f"orderPrcLimit: {p:g} must be a positive price for {ltype}"
        bid, ask = nbbo(okey)
        dirn = 1 if side == "Buy" else -1
        if ltype == "Prc" and bid > 0 and ask > 0:
            mid = 0.5 * (bid + ask)
            through = (p - ask) if dirn > 0 else (bid - p)
            if through > max(COLLAR_FRAC * mid, COLLAR_ABS):
                opp = f"ask {ask:g}" if dirn > 0 else f"bid {bid:g}"
                return "LmtCollar", (f"orderPrcLimit: {side.lower()} limit {p:g} is {through:g} "
                                     f"through the {opp} (collar {max(COLLAR_FRAC * mid, COLLAR_ABS):g}); "
                                     "check the price and side")
    for f in ("takeProbability", "makeProbability"):
        if f in sent and not 0.0 <= float(rec[f]) < 1.0:
            return "BadLmtType", f"{f}: {float(rec[f]):g} must be in [0, 1)"
    gtd = int(rec["goodTillDttm"])
    if gtd and gtd <= now_ns:
        return "InvldGTD", "goodTillDttm: already in the past"
    dur = int(rec["orderDuration"]) if "orderDuration" in sent else -1
    if dur == 0 or dur < -1:
        return "BadOrdType", f"orderDuration: {dur} (seconds; -1 = until cancelled)"
    return None
