"""The order manager's side of auctions (trading.md §3): an order with parentOrderHandling
BlockAuction / FlashAuction is handed to an auction engine (``AuctionHook``) instead of
sending child orders; the engine's crosses come back as executions on the manager's fill path.

Kept apart from ``_manager`` so the manager only calls in at three places (opening a broker,
working it, restoring it).  ``Broker.auction`` holds the live noticeNumber (-1 while one is
being started; 0 when none).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

from ..venue import VenueEvent
from ._broker import Broker, Child
from ._execs import fill_row
from ._records import enum_of, event_record, name_of
from ._risk import per_unit
from ._states import CLOSING, NEW_ACTIVE, NEW_HOLD, REJECTED, is_open
from ._stock import is_stock

if TYPE_CHECKING:
    from ._manager import OrderManager

__all__ = ["AUCTION_HANDLINGS", "AuctionHook", "auction_cross", "auction_end", "auction_risk",
           "is_auction", "open_auction", "responder_fill", "start_auction"]

PO, BE, EX = "SpdrParentOrder", "SpdrParentBrkrEvent", "SpdrParentExecution"
AUCTION_HANDLINGS = frozenset({"BlockAuction", "BlockAuctionDAC", "BlockAuctionPOC",
                               "BlockAuctionPCV", "FlashAuction"})
#: the exchange code auction fills carry (SpiderRock ATS) (inferred)
ATS_EXCH = "SRATS"


class AuctionHook(Protocol):
    def check(self, b: Broker) -> tuple[str, str] | None:
        """None when ``b``'s parent may start an auction, else (SpdrRejectReason, text)."""

    def start(self, b: Broker, now: int) -> int:
        """Start the auction; returns its noticeNumber."""


def is_auction(rec: dict[str, Any]) -> bool:
    return name_of(PO, "parentOrderHandling", rec["parentOrderHandling"]) in AUCTION_HANDLINGS


def open_auction(m: OrderManager, b: Broker, now: int) -> bool:
    """A new auction parent (broker PendNew): False after rejecting it (no engine, or the
    engine's check failed), else True with ``b.auction = -1`` (no children are ever sent)."""
    hook = m.auctions
    rej = (("BadOrdType", "parentOrderHandling: auctions are not running on this server")
           if hook is None else hook.check(b))
    if rej is None:
        rej = _risk_refusal(m, b)
    if rej is not None:
        b.reject_reason, b.comment = rej
        m._progress(b, "Rejected")
        m._status(b, REJECTED, "Reject", now)
        m._out.append((BE, event_record(b, "Reject", now, reject=rej[0], comment=rej[1])))
        return False
    b.auction = -1
    return True


#: SpdrRisk of the binding group limit -> the SpdrRejectReason an auction order gets
_RISK_REJECT = {"GrpDdLn": "OptDDelta", "GrpDdSh": "OptDDelta", "SymDDeltaLn": "OptDDelta",
                "SymDDeltaSh": "OptDDelta", "GrpOptQtyLn": "OptQty", "GrpOptQtySh": "OptQty",
                "GrpOptQtyAbs": "OptQty", "SymWtVegaLn": "DayLnWtVega",
                "ExpWtVegaLn": "DayLnWtVega", "SymWtVegaSh": "DayShWtVega",
                "ExpWtVegaSh": "DayShWtVega", "NullCounter": "NullCounter"}


def auction_risk(m: OrderManager, b: Broker) -> tuple[int, str, str]:
    """(contracts the auction may still cross, SpdrRejectReason, text) under the group risk
    of trading.md §1.9 -- the order's ``maxGrpDay*`` limits against its group's counters now,
    per contract at the series' market now -- and SpdrRiskGroupControl: a disabled group may
    cross nothing.  -1: no limit applies."""
    g = m._group_key(b)
    if g in m.disabled_groups:
        return 0, "OptDisabled", (
            f"riskGroupId: risk group {g[2]} of accnt {g[0]} (firm {g[1] or '-'}) is disabled by "
            "SpdrRiskGroupControl isDisabled Yes; post isDisabled No for the group to trade")
    mk, extra = m.market.series_market([b.okey])
    pv = m.market.info(b.okey).point_value or 100.0
    per = m._per_unit(b, {"de": float(mk.de[0]), "u_prc": float(mk.u_prc[0]),
                          "ve": float(extra["ve"][0]), "s_vol": float(mk.s_vol[0]),
                          "years": float(mk.years[0])}, pv)
    size, desc, detail = m._risk_size(b, per, m.clock.time_ns())
    return size, _RISK_REJECT.get(desc, "RiskException"), detail


def _risk_refusal(m: OrderManager, b: Broker) -> tuple[str, str] | None:
    """Why an auction order's group risk refuses it at the start, else None: the auction
    announces its whole size (custQty) to the responders, so (inferred) it must fit the
    group's headroom whole -- it is refused rather than shrunk."""
    room, reason, text = auction_risk(m, b)
    size = b.workable()
    if room < 0 or room >= size:
        return None
    if reason == "OptDisabled":
        return reason, text
    return reason, (f"{text}; the auction's {size} contracts would breach it: lower orderSize to "
                    f"{room} or raise the limit")


def start_auction(m: OrderManager, b: Broker, now: int) -> None:
    """After the broker went Active: start the auction and show its noticeNumber."""
    assert m.auctions is not None
    nn = m.auctions.start(b, now)
    b.auction = nn
    b.parent = {**b.parent, "noticeNumber": nn}
    m._publish_state(b, now)


def auction_cross(m: OrderManager, key: tuple[Any, ...], notice: int, qty: int, price: float,
                  now: int) -> None:
    """The auction crossed ``qty`` at ``price`` for the broker: one execution through the
    fill path (a child at the ATS standing for the cross)."""
    b = m.brokers.get(key)
    if b is None or b.auction != notice or qty <= 0:
        return
    qty = min(qty, b.workable())
    if qty <= 0:
        return
    mk = b.mkt
    pv = mk.get("point_value", 100.0) or 100.0
    per = tuple(_z(x) for x in m._per_unit(b, mk, pv))
    m.child_seq += 1
    c = Child(m.child_seq, b.parent_number, float(price), int(qty), ATS_EXCH, "Day", True,
              False, now, float(b.value("orderPrcLimit")), mk.get("bid", math.nan),
              mk.get("ask", math.nan), per)
    b.children[c.child_id] = c
    m.owner[c.child_id] = b.key
    m.child_of[c.child_id] = c
    b.num_new_orders += 1
    m._progress(b, "InMarket")
    m._fill(b, c, VenueEvent("fill", c.child_id, now, int(qty), float(price), ATS_EXCH), now)
    m._flush()


def responder_fill(m: OrderManager, key: tuple[Any, ...], notice: int, resp: dict[str, Any],
                   side: int, qty: int, price: float, base_parent: int, now: int) -> None:
    """A real responder's share of a cross: one ``SpdrParentExecution`` of the responder's
    account and firm (so its positions, risk and autohedge follow the fill like any other),
    journaled and numbered with the order manager's fills, charged to the responder's risk
    group.  (inferred) The response stands for the parent: ``parentNumber`` and
    ``baseParentNumber`` are the response chain's number that its NoticeExecReport carries as
    ``baseParentNumber``; ``spdrSource`` MLinkResponse, ``parentOrderHandling`` AtsResponse,
    the responder provides the liquidity (Maker); market fields are the initiator's at the
    cross.  ``resp`` is the stored NoticeResponse."""
    b = m.brokers.get(key)
    if b is None or qty <= 0:
        return
    mk = b.mkt
    pv = mk.get("point_value", 100.0) or 100.0
    k = b.okey
    per = tuple(_z(x) for x in per_unit(side, _z(mk.get("de")), _z(mk.get("u_prc")), pv,
                                        _z(mk.get("ve")), _z(mk.get("s_vol")),
                                        _z(mk.get("years")), stock=is_stock(k)))
    dd, ve = per[0], per[1]
    g = (str(resp.get("accnt") or ""), str(resp.get("clientFirm") or ""),
         int(resp.get("riskGroupId") or 0))
    # the responder's group, symbol and expiry counters (inferred: its own account's scopes)
    m.risk.charge(g, (g[0], g[1], k if is_stock(k) else k.ticker),
                  None if is_stock(k) else (g[0], g[1], k.expiry), side, per, qty)
    m._groups_dirty.add(g)
    m.fill_seq += 1
    fn = m.fill_seq
    p = b.parent
    rec = {
        "fillNumber": fn, "version": 1, "execStatus": enum_of(EX, "execStatus", "Fill"),
        "parentNumber": base_parent, "baseParentNumber": base_parent, "noticeNumber": notice,
        "riskGroupId": g[2], "parentShape": p["parentShape"], "secKey": p["secKey"],
        "secType": p["secType"], "ticker": p["secKey"].ticker, "accnt": g[0],
        "clientFirm": g[1], "spdrSource": enum_of(EX, "spdrSource", "MLinkResponse"),
        "orderSide": enum_of(EX, "orderSide", "Buy" if side > 0 else "Sell"),
        "spdrOrderStatus": enum_of(EX, "spdrOrderStatus", "Closed"),
        "cumFillQuantity": qty, "avgFillPrice": price, "leavesQty": 0,
        "childSize": int(resp.get("respSize") or qty), "childPrice": float(resp.get("respPrice") or price),
        "childDttm": now, "childExch": ATS_EXCH,
        "childMakerTaker": enum_of(EX, "childMakerTaker", "Maker"),
        "fillDttm": now, "fillExch": ATS_EXCH, "fillPrice": price, "fillQuantity": qty,
        "fillBid": _z(mk.get("bid")), "fillAsk": _z(mk.get("ask")),
        "fillMark": _z(mk.get("s_mark")), "fillUMark": _z(mk.get("u_prc")),
        "fillUBid": _z(mk.get("u_bid")), "fillUAsk": _z(mk.get("u_ask")),
        "fillVol": _z(mk.get("s_vol")), "fillDe": _z(mk.get("de")), "fillGa": _z(mk.get("ga")),
        "fillVe": _z(mk.get("ve")), "riskDDelta": dd * qty, "riskVega": ve * qty,
        "parentOrderHandling": enum_of(EX, "parentOrderHandling", "AtsResponse"),
        "orderLimitType": enum_of(EX, "orderLimitType", "Prc"),
        "userData1": str(resp.get("userData1") or ""),
        "years": _z(mk.get("years")), "underliersPerCn": int(pv), "pointValue": pv,
        "nbboBid": _z(mk.get("bid")), "nbboAsk": _z(mk.get("ask")), "timestamp": now,
    }
    m.execs.add(rec, per, 0.0)  # its +1m/+10m marks
    m._puts.append(("fill", f"{fn & ((1 << 64) - 1):016X}", fill_row(m.mt[EX], m.execs.recent[fn])))
    m._out.append((EX, rec))
    m._flush()


def auction_end(m: OrderManager, key: tuple[Any, ...], notice: int, reason: str | None,
                now: int, comment: str = "") -> None:
    """The auction is over.  ``reason`` (a close reason: CrossFailed, UPrcRange) closes the
    broker; None (crossed) closes what is left AlgoClose.  A flash order whose
    parentBalanceHandling names a balance style keeps working its residual as a normal order
    (trading.md §3.3 v1).  ``comment``: why, for the broker's spdrComment."""
    b = m.brokers.get(key)
    if b is None or b.auction != notice:
        return
    b.auction = 0
    if comment:
        b.comment = comment
    if b.status in (NEW_ACTIVE, NEW_HOLD):
        handling = name_of(PO, "parentOrderHandling", b.parent["parentOrderHandling"])
        balance = name_of(PO, "parentBalanceHandling", b.parent["parentBalanceHandling"])
        if b.workable() <= 0:
            m._cancel(b, "Filled", now)
        elif handling == "FlashAuction" and balance != "None" and reason != "UPrcRange":
            m._reprice.add(b.key)
            m._do_reprice(now)
        else:
            m._cancel(b, reason or "AlgoClose", now)
    m._flush()


def restored_auction(b: Broker) -> None:
    """A broker restored from the journal whose auction died with the process: it must not
    start working as a plain order (the auction engine closes it, CrossFailed)."""
    if is_open(b.status) and b.status != CLOSING and is_auction(b.parent):
        b.auction = -1


def _z(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0
