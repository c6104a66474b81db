"""Assembly of the published records (trading.md §1.5): SpdrParentBrkrState,
SpdrParentBrkrEvent, SpdrParentExecution and RiskGroupCounter, as internal records."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

from ...schema import MsgType, TickerKey, registry
from ..limits import LIMIT_ERR_NAMES
from ..venue import exchange_bit, exchanges_of
from ._broker import Broker, Child, MarketRow, market_of
from ._risk import GroupCounter
from ._slots import MKT_NAMES

__all__ = ["enum_of", "event_record", "execution_record", "ladder", "name_of", "state_record",
           "counter_record"]


@functools.cache
def _enum(msg: str, field: str) -> tuple[dict[str, int], tuple[str, ...]]:
    f = registry()[msg].field(field)
    assert f is not None and f.enum is not None, (msg, field)
    return {n: i for i, n in enumerate(f.enum.names)}, f.enum.names


def enum_of(msg: str, field: str, name: str) -> int:
    """Ordinal of enum member ``name`` of ``msg.field`` (KeyError names a typo at once)."""
    return _enum(msg, field)[0][name]


def name_of(msg: str, field: str, ordinal: int) -> str:
    names = _enum(msg, field)[1]
    return names[ordinal] if 0 <= ordinal < len(names) else str(ordinal)


def _f(x: float) -> float:
    return float(x) if x == x and not math.isinf(x) else 0.0


_LEVEL_KEYS = (("cpx1", "csz1", "cex1", "cnt1"), ("cpx2", "csz2", "cex2", "cnt2"))


def ladder(b: Broker) -> dict[str, Any]:
    """cpx1/csz1/cex1/cnt1, cpx2.., cMore: live children grouped by price, best first."""
    # per price: [shown leaves, exchange mask, children]
    levels: dict[float, list[int]] = {}
    bits = _exch_bits()
    for c in b.children.values():
        if c.cancelling:
            continue
        m = c.mod  # ``Child.shown_leaves`` / ``shown_price``, inline
        if m is None:
            lv, px = c.size - c.filled, c.price
        else:
            lv, px = (c.size if len(m) < 6 else int(m[5])) - c.filled, m[0]
        if lv <= 0:
            continue
        at = round(px, 8)
        got = levels.get(at)
        if got is None:
            got = levels[at] = [0, 0, 0]
        got[0] += lv
        if c.exch:
            got[1] |= bits[c.exch] if c.exch in bits else exchange_bit(c.exch)
        got[2] += 1
    out: dict[str, Any] = {}
    if not levels:
        out["cMore"] = 0
        return out
    order = sorted(levels, reverse=b.side > 0) if len(levels) > 1 else list(levels)
    for (kp, ks, ke, kn), px in zip(_LEVEL_KEYS, order, strict=False):  # the best two
        size, mask, cnt = levels[px]
        out[kp] = px
        out[ks] = size
        out[ke] = mask
        out[kn] = min(cnt, 255)
    out["cMore"] = min(sum(levels[p][2] for p in order[2:]), 255) if len(order) > 2 else 0
    return out


@functools.cache
def _exch_bits() -> dict[str, int]:
    """``exchange_bit`` of every OptExch name."""
    return {n: exchange_bit(n) for n in exchanges_of(-1 & ((1 << 62) - 1))}


def _common(b: Broker) -> dict[str, Any]:
    p = b.parent
    return {"accnt": p["accnt"], "secKey": p["secKey"], "secType": p["secType"],
            "spdrSource": p["spdrSource"], "groupingCode": p["groupingCode"],
            "orderSide": p["orderSide"], "clientFirm": p["clientFirm"]}


def _ticker(b: Broker) -> TickerKey | None:
    k = b.okey
    if k is None:  # an order posted without a secKey (rejected; its records carry no ticker)
        return None
    return _ticker_of(k.at, k.ts, k.tk)


@functools.lru_cache(maxsize=1 << 14)
def _ticker_of(at: Any, ts: Any, tk: Any) -> TickerKey:
    return TickerKey(at, ts, tk)


@functools.cache
def _state_enums() -> tuple[dict[str, int], ...]:
    S = "SpdrParentBrkrState"
    return tuple(_enum(S, f)[0] for f in (
        "spdrBrokerStatus", "spdrOrderStatus", "spdrCloseReason", "spdrRejectReason",
        "riskLimitDesc", "riskLimitLevel", "brokerState", "updateSrc"))


#: the market values a state record shows, in ``MKT_NAMES`` order of the row read
_STATE_MKT = ("bid", "ask", "bid_size", "ask_size", "u_prc", "s_vol", "s_prc", "years", "de",
              "ga", "ve", "point_value")
_STATE_IDX = tuple(MKT_NAMES.index(k) for k in _STATE_MKT)
_STATE_DEFAULT = {"bid_size": 0.0, "ask_size": 0.0, "point_value": 100.0}


def _state_market(b: Broker) -> list[float]:
    """``_STATE_MKT`` of the broker's market, each through ``_f`` (NaN, infinities: 0)."""
    m = b.mkt
    if isinstance(m, MarketRow):
        row = m.values_list()
        vals = [row[i] for i in _STATE_IDX]
    else:
        g, d = m.get, _STATE_DEFAULT
        vals = [float(g(k, d.get(k, math.nan))) for k in _STATE_MKT]
    return [x if x - x == 0.0 else 0.0 for x in vals]  # x - x is 0 only for a finite x


def state_record(b: Broker, now_ns: int) -> dict[str, Any]:
    p, lim = b.parent, b.lim
    e_bst, e_ost, e_close, e_rej, e_rdesc, e_rlevel, e_state, e_src = _state_enums()
    f = _f
    bid, ask, bsz, asz, u_prc, s_vol, s_prc, years, de, ga, ve, pv = _state_market(b)
    cum = b.cum
    status = b.status
    risk_desc = b.risk_desc
    rec = {
        "accnt": p["accnt"], "secKey": p["secKey"], "secType": p["secType"],
        "spdrSource": p["spdrSource"], "groupingCode": p["groupingCode"],
        "orderSide": p["orderSide"], "clientFirm": p["clientFirm"],
        "userName": p["userName"], "parentNumber": b.parent_number,
        "baseParentNumber": b.base_parent, "modifyNumber": b.modify_number,
        "noticeNumber": p["noticeNumber"], "riskGroupId": p["riskGroupId"],
        "strategy": p["strategy"], "ticker": _ticker(b),
        "uPrc": u_prc, "nbboBid": bid,
        "nbboAsk": ask, "nbboBidSz": int(bsz),
        "nbboAskSz": int(asz), "surfacePrc": s_prc,
        "surfaceVol": s_vol,
        "spdrBrokerStatus": e_bst[status[1]],
        "spdrOrderStatus": e_ost[status[0]],
        "spdrCloseReason": e_close[b.close_reason],
        "spdrRejectReason": e_rej[b.reject_reason],
        "spdrComment": (b.comment or b.hold)[:255],
        "orderSize": b.order_size, "orderActiveSize": b.active_size,
        "activeDuration": p["activeDuration"],
        "updateDttm": now_ns, "leavesQuantity": b.live_leaves(),
        "avgFillPrice": b.notional / cum if cum else 0.0, "cumFillQuantity": cum,
        "avgFillUPrice": b.u_notional / cum if cum else 0.0,
        "avgFillVol": b.vol_notional / cum if cum else 0.0,
        "cumFillVega": b.cum_vega, "cumFillDDelta": b.cum_dd, "cumExchFee": b.cum_fee,
        "lastFillDttm": b.last_fill_ns,
        "riskLimitSize": b.risk_size, "riskLimitDesc": e_rdesc[risk_desc],
        "riskLimitLevel": e_rlevel["RiskGroup" if risk_desc != "None" else "None"],
        "riskLimitDetail": b.risk_detail,
        "limitPrice": f(lim.limit_price), "limitErr": lim.limit_err,
        "limitErrDesc": limit_err_text(b),
        "makeProbLimit": f(lim.make_prob), "makeLimitPrice": f(lim.make_limit),
        "makeLimitErr": lim.make_err,
        "makeSurfOffset": f(b.value("makeSurfVolOffset")),
        "takeProbLimit": f(lim.take_prob), "takeLimitPrice": f(lim.take_limit),
        "takeLimitErr": lim.take_err,
        "takeSurfOffset": f(b.value("takeSurfVolOffset")),
        "userData1": p["userData1"], "userData2": p["userData2"],
        "maxProgress": b.max_progress,
        "brokerState": e_state[_broker_state(b)],
        "lastChildRejectDttm": b.last_child_reject_ns,
        "lastChildRejectText": b.last_child_reject,
        "cnVol": s_vol, "cnYrs": years,
        "cnUPrc": u_prc, "cnDe": de,
        "cnGa": ga, "cnVe": ve,
        "pointValue": pv, "underliersPerCn": int(pv),
        "numNewOrders": b.num_new_orders, "numParentLimits": min(b.num_parent_limits, 65535),
        "updateSrc": e_src[b.update_src], "numUpdates": b.num_updates,
        "timestamp": now_ns,
        "cpx1": 0.0, "csz1": 0, "cex1": 0, "cnt1": 0, "cpx2": 0.0, "csz2": 0, "cex2": 0,
        "cnt2": 0,
    }
    rec.update(ladder(b))
    return rec


def limit_err_text(b: Broker) -> str:
    lim = b.lim
    if lim.limit_err == 0 and lim.make_err == 0 and lim.take_err == 0:
        return ""
    parts = []
    for what, e in (("limit", lim.limit_err), ("make", lim.make_err), ("take", lim.take_err)):
        if e:
            parts.append(f"{what}: {LIMIT_ERR_NAMES[e]}")
    if lim.limit_err == enum_of("SpdrParentBrkrState", "limitErr", "AuxLimit"):
        parts.append("waiting for a SpdrParentLimit record for this broker key")
    return "; ".join(parts)[:255]


def _broker_state(b: Broker) -> str:
    st = b.status
    if st == ("PendNew", "Updating"):
        return "BrkrPendNew"
    if st[1] == "ActiveHold":
        return "RiskHold" if b.risk_size == 0 else "LimitErr" if b.lim.limit_err else "ActiveHold"
    if st[1] == "Active":
        return "AlgoWorking"
    if st[1] == "Closing":
        return "BrkrClosing"
    if st[1] == "Closed":
        return "BrkrClosed"
    if st[1] == "Rejected":
        return "BrkrRejected"
    return "None"


def event_record(b: Broker, rec_type: str, now_ns: int, *, parent: Mapping[str, Any] | None = None,
                 status: tuple[str, str] | None = None, reject: str = "", comment: str = "",
                 prev: int = 0) -> dict[str, Any]:
    """A SpdrParentBrkrEvent of ``b``'s current parent, or of ``parent`` (a parent that never
    took over the broker, e.g. a rejected Add on an open broker key)."""
    E = "SpdrParentBrkrEvent"
    p = parent if parent is not None else b.parent
    st = status or b.status
    lim, m = b.lim, market_of(b)
    b.event_number += 1
    rec = {"accnt": p["accnt"], "secKey": p["secKey"], "secType": p["secType"],
           "spdrSource": p["spdrSource"], "groupingCode": p["groupingCode"],
           "orderSide": p["orderSide"], "clientFirm": p["clientFirm"]}
    rec.update({
        "parentNumber": p["parentNumber"], "recType": enum_of(E, "recType", rec_type),
        "eventNumber": min(b.event_number, 65535),
        "baseParentNumber": b.base_parent or p["parentNumber"], "prevParentNumber": prev,
        "ticker": _ticker(b),
        "spdrBrokerStatus": enum_of(E, "spdrBrokerStatus", st[1]),
        "spdrOrderStatus": enum_of(E, "spdrOrderStatus", st[0]),
        "spdrCloseReason": enum_of(E, "spdrCloseReason", b.close_reason if parent is None
                                   else "None"),
        "spdrRejectReason": enum_of(E, "spdrRejectReason", reject or "None"),
        "spdrComment": (comment or b.comment or b.hold)[:255],
        "bidPrc": _f(m.get("bid", math.nan)), "askPrc": _f(m.get("ask", math.nan)),
        "bidSize": int(_f(m.get("bid_size", 0))), "askSize": int(_f(m.get("ask_size", 0))),
        "uBid": _f(m.get("u_bid", math.nan)), "uAsk": _f(m.get("u_ask", math.nan)),
        "surfacePrc": _f(m.get("s_prc", math.nan)), "surfaceVol": _f(m.get("s_vol", math.nan)),
        "surfaceYrs": _f(m.get("years", math.nan)), "surfaceUPrc": _f(m.get("u_prc", math.nan)),
        "surfaceDe": _f(m.get("de", math.nan)), "surfaceGa": _f(m.get("ga", math.nan)),
        "surfaceVe": _f(m.get("ve", math.nan)),
        "avgFillPrc": b.avg_price, "cumFillQuan": b.cum,
        "numChildOrders": min(len(b.children), 65535),
        "numDayChildOrders": min(b.num_new_orders, 65535),
        "openOrderSize": b.workable(), "actionOrderSize": int(p["orderSize"]),
        "riskLimitSize": b.risk_size,
        "riskLimitDesc": enum_of(E, "riskLimitDesc", b.risk_desc), "riskLimitDetail": b.risk_detail,
        "limitPrice": _f(lim.limit_price), "limitVol": _f(float(b.value("orderVolLimit"))),
        "makeLimitPrice": _f(lim.make_limit), "makeLimitErr": lim.make_err,
        "makeLimitErrDesc": LIMIT_ERR_NAMES[lim.make_err] if lim.make_err else "",
        "takeLimitPrice": _f(lim.take_limit), "takeLimitErr": lim.take_err,
        "takeLimitErrDesc": LIMIT_ERR_NAMES[lim.take_err] if lim.take_err else "",
        "leavesQty": b.live_leaves(), "childOrderLeaves": b.live_leaves(),
        "userName": p["userName"], "timestamp": now_ns,
    })
    return rec


def execution_record(b: Broker, c: Child, fill_number: int, qty: int, price: float, exch: str,
                     maker_taker: str, fee: float, now_ns: int) -> dict[str, Any]:
    X = "SpdrParentExecution"
    p, m = b.parent, market_of(b)
    pv = _f(m.get("point_value", 100.0)) or 100.0
    dd, ve = c.risk[0], c.risk[1]
    rec = {
        "fillNumber": fill_number, "version": 1, "execStatus": enum_of(X, "execStatus", "Fill"),
        "parentNumber": b.parent_number, "baseParentNumber": b.base_parent,
        "clOrdId": c.child_id, "riskGroupId": p["riskGroupId"], "parentShape": p["parentShape"],
        "secKey": p["secKey"], "secType": p["secType"], "ticker": _ticker(b),
        "accnt": p["accnt"], "clientFirm": p["clientFirm"], "spdrSource": p["spdrSource"],
        "groupingCode": p["groupingCode"], "orderSide": p["orderSide"],
        "spdrOrderStatus": enum_of(X, "spdrOrderStatus", b.status[0]),
        "spdrCloseReason": enum_of(X, "spdrCloseReason", b.close_reason),
        "cumFillQuantity": b.cum, "avgFillPrice": b.avg_price, "leavesQty": b.live_leaves(),
        "childSize": c.size, "childPrice": c.price, "childDttm": c.sent_ns, "childExch": c.exch,
        "childMakerTaker": enum_of(X, "childMakerTaker", maker_taker or "None"),
        "childBid": _f(c.bid), "childAsk": _f(c.ask), "childLimitPrc": _f(c.limit),
        "timeInForce": enum_of(X, "timeInForce", c.tif),
        "fillDttm": now_ns, "fillExch": exch, "fillExchFee": fee, "fillPrice": price,
        "fillQuantity": qty, "fillBid": _f(m.get("bid", math.nan)),
        "fillAsk": _f(m.get("ask", math.nan)), "fillMark": _f(m.get("s_mark", math.nan)),
        "fillUMark": _f(m.get("u_prc", math.nan)), "fillUBid": _f(m.get("u_bid", math.nan)),
        "fillUAsk": _f(m.get("u_ask", math.nan)), "fillVol": _f(m.get("s_vol", math.nan)),
        "fillDe": _f(m.get("de", math.nan)), "fillGa": _f(m.get("ga", math.nan)),
        "fillVe": _f(m.get("ve", math.nan)),
        "riskDDelta": dd * qty, "riskVega": ve * qty,
        "parentDttm": b.start_ns, "parentOrderSize": b.order_size,
        "parentOrderHandling": p["parentOrderHandling"] if c.handling is None else c.handling,
        "parentBalanceHandling": p["parentBalanceHandling"],
        "orderLimitType": b.value("orderLimitType"), "publicSize": p["publicSize"],
        "numMakeExchanges": p["numMakeExchanges"], "userName": p["userName"],
        "userData1": p["userData1"], "userData2": p["userData2"],
        "years": _f(m.get("years", math.nan)), "underliersPerCn": int(pv), "pointValue": pv,
        "nbboBid": _f(m.get("bid", math.nan)), "nbboAsk": _f(m.get("ask", math.nan)),
        "timestamp": now_ns,
    }
    return rec


def counter_record(mt: MsgType, key: tuple[str, str, int], g: GroupCounter, reason: str,
                   now_ns: int) -> dict[str, Any]:
    rec = {"accnt": key[0], "riskFirm": key[1], "riskGroupId": key[2],
           "changeReason": enum_of(mt.name, "changeReason", reason),
           "optQtyBotIocFilled": g.qty_bot, "optQtySldIocFilled": g.qty_sld,
           "ddBotIocFilled": g.dd_bot, "ddSldIocFilled": g.dd_sld,
           "veBotIocFilled": g.ve_bot, "veSldIocFilled": g.ve_sld,
           "wtVeBotIocFilled": g.bot[3], "wtVeSldIocFilled": g.sld[3],
           "counter": g.counter, "timestamp": now_ns}
    for n in range(1, 8):
        rec[f"rm{n}BotIocFilled"], rec[f"rm{n}SldIocFilled"] = g.bot[3 + n], g.sld[3 + n]
    return rec
