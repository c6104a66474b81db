"""Revisions of published executions (trading.md §1.5): the +1m / +10m market marks and the
exchange's busts and corrections.  Each republishes the SpdrParentExecution with
``version + 1``; a bust or correction also redoes the broker's fill accounting and reverses
(bust) the fill's risk-counter charge.

``ExecBook`` is a time-ordered heap of what is owed, ``(due_ns, fillNumber, kind, price)``,
and the latest record of each fill it owes something to: the fills of the last ten minutes
(plus any whose bust/correction is due later).  A fill costs one dict entry and one heap push.
Durable: every revision rewrites the fill's journal row (the record, the child's exact
per-contract risk vector, an adjustment still due) in the step's commit before it is
published; a restart rebuilds the heap from the rows (``restore_execs``).  A mark that fell
due while the process was down is taken at the first tick after the restart, from the market
then (inferred: the market at the due time is not known any more).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from ...schema import MsgType, decode_record, message_encoder
from ._records import enum_of, name_of
from ._risk import EMA_TAU_NS
from ._states import CLOSING, is_open
from ._stock import is_stock

if TYPE_CHECKING:
    from ._manager import OrderManager

__all__ = ["MARK_NS", "ExecBook", "adjust_fill", "fill_row", "restore_execs", "take_due"]

EX = "SpdrParentExecution"
#: the mark horizons: +1m and +10m after the fill (kinds 1 and 2)
MARK_NS = (60_000_000_000, 600_000_000_000)
_M1, _M10, _ADJ = 1, 2, 3
_SUFFIX = {_M1: "1M", _M10: "10M"}


class ExecBook:
    """What is owed to recent executions (see the module docstring)."""

    __slots__ = ("heap", "recent")

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, int, float]] = []
        #: fillNumber -> [latest record, per-contract risk vector, exact fee, entries owed,
        #: adjustment still due (due_ns, price; price 0 = bust) or None]
        self.recent: dict[int, list[Any]] = {}

    def add(self, rec: dict[str, Any], per: tuple[float, ...], fee: float, adjust_ns: int = 0,
            adjust_px: float = 0.0) -> None:
        """A new fill: its +1m mark (and the exchange's adjustment, if one will come)."""
        fn = rec["fillNumber"]
        heapq.heappush(self.heap, (rec["fillDttm"] + MARK_NS[0], fn, _M1, 0.0))
        fate = None
        if adjust_ns:
            heapq.heappush(self.heap, (adjust_ns, fn, _ADJ, adjust_px))
            fate = (adjust_ns, adjust_px)
        self.recent[fn] = [rec, per, fee, 2 if fate else 1, fate]

    def due(self, now: int) -> list[tuple[int, int, int, float]]:
        heap, out = self.heap, []
        while heap and heap[0][0] <= now:
            out.append(heapq.heappop(heap))
        return out

    def done_with(self, fn: int) -> None:
        """One owed entry of ``fn`` was taken: forget the fill when nothing more is owed."""
        e = self.recent.get(fn)
        if e is not None:
            e[3] -= 1
            if e[3] <= 0:
                del self.recent[fn]


def fill_row(mt: MsgType, entry: list[Any]) -> bytes:
    """The journal row of a fill: its record, plus ``_x`` (the exact risk vector and fee the
    accounting reverses) and ``_fate`` (an adjustment still due)."""
    rec, per, fee, _n, fate = entry
    row = message_encoder(mt)(rec)  # a fresh dict
    row["_x"] = [*per, fee]
    if fate is not None:
        row["_fate"] = list(fate)
    return orjson.dumps(row)


def _from_row(mt: MsgType, body: bytes) -> list[Any]:
    d = orjson.loads(body)
    x, fate = d.pop("_x", None), d.pop("_fate", None)
    rec: dict[str, Any] = {f.name: f.default for f in mt.fields}
    rec.update(decode_record(mt, d))
    if x is None:  # a row written before ``_x``: the vector from the record (float32 totals)
        q = max(int(rec["fillQuantity"]), 1)
        side = 1.0 if name_of(EX, "orderSide", rec["orderSide"]) == "Buy" else -1.0
        x = [rec["riskDDelta"] / q, rec["riskVega"] / q, side, float(rec["fillExchFee"])]
    return [rec, tuple(x[:-1]), float(x[-1]), 0, None if fate is None else tuple(fate)]


def restore_execs(m: OrderManager, rows: Iterable[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """The journaled fills as records (fillNumber order), the book's owed entries rebuilt:
    marks not taken yet (due from ``fillDttm``; a busted fill is marked no more) and the
    adjustments still due."""
    mt = m.mt[EX]
    out, book = [], m.execs
    bust = enum_of(EX, "execStatus", "Bust")
    for _k, body in rows:
        e = _from_row(mt, body)
        rec, fate = e[0], e[4]
        out.append(rec)
        t, fn = int(rec["fillDttm"]), int(rec["fillNumber"])
        if rec["execStatus"] != bust:
            if not rec["fillState1M"]:
                heapq.heappush(book.heap, (t + MARK_NS[0], fn, _M1, 0.0))
                e[3] += 1
            elif not rec["fillState10M"]:
                heapq.heappush(book.heap, (t + MARK_NS[1], fn, _M10, 0.0))
                e[3] += 1
        if fate is not None:
            heapq.heappush(book.heap, (int(fate[0]), fn, _ADJ, float(fate[1])))
            e[3] += 1
        if e[3]:
            book.recent[fn] = e
    out.sort(key=lambda r: r["fillNumber"])
    return out


def take_due(m: OrderManager, now: int) -> None:
    """Every mark and adjustment due by ``now``: the marks read the market once per series."""
    items = m.execs.due(now)
    marks = [(fn, kind) for _due, fn, kind, _px in items if kind != _ADJ]
    if marks:
        _marks(m, marks, now)
    for _due, fn, kind, px in items:
        if kind == _ADJ:
            e = m.execs.recent.get(fn)
            if e is not None:
                e[4] = None  # the fate is the exchange's word now
            adjust_fill(m, fn, px if px > 0 else None, now)
            m.execs.done_with(fn)


def _marks(m: OrderManager, marks: list[tuple[int, int]], now: int) -> None:
    recent = m.execs.recent
    live = [(fn, kind) for fn, kind in marks if fn in recent]
    if not live:
        return
    okeys = [recent[fn][0]["secKey"] for fn, _k in live]
    uniq = list(dict.fromkeys(okeys))
    at = {k: i for i, k in enumerate(uniq)}
    mkt, _extra = m.market.series_market(uniq)
    atm = m.market.atm_vols(uniq)
    mid = 0.5 * (mkt.bid + mkt.ask)
    mark = np.where(mkt.s_mark > 0, mkt.s_mark, mid)
    bid, ask, umark = mkt.bid.tolist(), mkt.ask.tolist(), mkt.u_prc.tolist()
    mark_l, atm_l = mark.tolist(), atm.tolist()
    ok_s, err_s = (enum_of(EX, "fillState1M", "OK"), enum_of(EX, "fillState1M", "Error"))
    bust = enum_of(EX, "execStatus", "Bust")
    mt = m.mt[EX]
    for (fn, kind), k in zip(live, okeys, strict=True):
        e = recent[fn]
        rec = e[0]
        if rec["execStatus"] == bust:  # a busted fill is marked no more
            m.execs.done_with(fn)
            continue
        i, sfx = at[k], _SUFFIX[kind]
        good = _fin(mark_l[i]) and mark_l[i] > 0
        rec = {**rec, "version": rec["version"] + 1, f"fillMark{sfx}": _z(mark_l[i]),
               f"fillBid{sfx}": _z(bid[i]), f"fillAsk{sfx}": _z(ask[i]),
               f"fillUMark{sfx}": _z(umark[i]), f"fillVolAtm{sfx}": _z(atm_l[i]),
               f"fillState{sfx}": ok_s if good else err_s, "timestamp": now}
        e[0] = rec
        if kind == _M1:  # the +10m mark is owed next
            heapq.heappush(m.execs.heap, (int(rec["fillDttm"]) + MARK_NS[1], fn, _M10, 0.0))
            e[3] += 1
        m._puts.append(("fill", _hex(fn), fill_row(mt, e)))
        m._out.append((EX, rec))
        m.execs.done_with(fn)


def _lookup(m: OrderManager, fn: int) -> list[Any] | None:
    """The latest record of fill ``fn`` with its risk vector: the book's, else the journal's
    row (a scan: an operator's bust of an older fill is rare), else the store's record."""
    e = m.execs.recent.get(fn)
    if e is not None:
        return e
    key = _hex(fn)
    if m.journal is not None:
        for k, body in m.journal.items("fill"):
            if k == key:
                return _from_row(m.mt[EX], body)
        return None
    rec = m.store.table(m.mt[EX]).get((fn,))
    if rec is None:
        return None
    q = max(int(rec["fillQuantity"]), 1)
    side = 1.0 if name_of(EX, "orderSide", rec["orderSide"]) == "Buy" else -1.0
    return [rec, (rec["riskDDelta"] / q, rec["riskVega"] / q, side), float(rec["fillExchFee"]),
            0, None]


def adjust_fill(m: OrderManager, fn: int, price: float | None, now: int) -> str | None:
    """Bust (``price`` None) or correct (to ``price``) fill ``fn``: the execution republished
    with ``version + 1`` and execStatus Bust/Correct; the broker's fill totals redone (a bust
    takes the quantity off and the average is that of the fills left; a correction moves the
    notional); a bust reverses the fill's charge of the group, symbol and expiry counters.
    A working broker works the busted quantity again (its leaves grow on the next pass); a
    closed one stays closed (inferred).  A fill of a chain the broker key no longer runs (a
    new chain re-opened it) changes the execution and the counters only.  Returns why it
    was refused (unknown fill, already busted, bad price), else None."""
    X = EX
    if price is not None and not (_fin(price) and price > 0):
        return f"fillNumber {fn:X}: the corrected fillPrice must be positive (got {price!r})"
    e = _lookup(m, fn)
    if e is None:
        return f"fillNumber {fn:X}: no such execution"
    rec, per, fee = e[0], e[1], e[2]
    if rec["execStatus"] == enum_of(X, "execStatus", "Bust"):
        return f"fillNumber {fn:X} is busted already"
    if name_of(X, "parentOrderHandling", rec["parentOrderHandling"]) == "AtsResponse":
        return f"fillNumber {fn:X} is an auction responder's fill (bust the initiator's)"
    q, px = int(rec["fillQuantity"]), float(rec["fillPrice"])
    key = m.parents.get(int(rec["parentNumber"]))
    b = m.brokers.get(key) if key is not None else None
    chain = b is not None and b.base_parent == rec["baseParentNumber"]
    new_px = px if price is None else float(price)
    if b is not None and chain:
        same_parent = b.parent_number == rec["parentNumber"]
        if price is None:
            b.cum -= q
            b.notional -= px * q
            b.u_notional -= float(rec["fillUMark"]) * q
            b.vol_notional -= float(rec["fillVol"]) * q
            b.cum_dd -= per[0] * q
            b.cum_vega -= per[1] * q
            b.cum_fee -= fee
            if same_parent:
                b.parent_cum -= q
                b.parent_notional -= px * q
            if b.cum <= 0:  # no fill left: the totals are exactly nothing
                b.cum, b.notional, b.u_notional, b.vol_notional = 0, 0.0, 0.0, 0.0
        else:
            b.notional += (new_px - px) * q
            if same_parent:
                b.parent_notional += (new_px - px) * q
    if price is None:
        _reverse_charge(m, rec, per, q)
        _reverse_ema(m, rec, per, q, now)
    status = "Bust" if price is None else "Correct"
    new = {**rec, "version": rec["version"] + 1, "execStatus": enum_of(X, "execStatus", status),
           "fillPrice": new_px, "timestamp": now}
    if b is not None and chain:
        new["cumFillQuantity"], new["avgFillPrice"] = b.cum, b.avg_price
        new["leavesQty"] = b.live_leaves()
    e[0] = new
    m._puts.append(("fill", _hex(fn), fill_row(m.mt[X], e)))
    m._out.append((X, new))
    if b is not None and chain:
        m._touched(b, records=True)
        b.update_src = "CumFillQty"
        m._publish_state(b, now)
        if is_open(b.status) and b.status != CLOSING:
            m._reprice.add(b.key)
    return None


def _reverse_charge(m: OrderManager, rec: dict[str, Any], per: tuple[float, ...], q: int) -> None:
    """Take a busted fill's charge off the group, symbol and expiry counters it went to."""
    a, f, k = rec["accnt"], rec["clientFirm"], rec["secKey"]
    g = (a, f, int(rec["riskGroupId"]))
    s = (a, f, k) if is_stock(k) else (a, f, k.ticker)
    ex = None if is_stock(k) else (a, f, k.expiry)
    side = 1 if name_of(EX, "orderSide", rec["orderSide"]) == "Buy" else -1
    m.risk.charge(g, s, ex, side, per, -q)
    m._groups_dirty.add(g)


def _reverse_ema(m: OrderManager, rec: dict[str, Any], per: tuple[float, ...], q: int,
                 now: int) -> None:
    """Take what is left of a busted fill's flow (its $delta/vega decayed from the fill to
    ``now``) off the watched EMA-cancel flows of its symbol and account: the flow becomes
    that of the fills left.  A hold the fill's flow already started runs its course."""
    risk = m.risk
    if not risk.watch:
        return
    a, f, k = rec["accnt"], rec["clientFirm"], rec["secKey"]
    decay = math.exp(-max(0, now - int(rec["fillDttm"])) / EMA_TAU_NS)
    for key in (("sym", a, f, k if is_stock(k) else k.ticker), ("acc", a, f)):
        if key in risk.watch and key in risk.emas:
            risk.ema_fill((key,), per, -q * decay, now)


def _fin(x: float) -> bool:
    return x == x and not math.isinf(x)


def _z(x: float) -> float:
    return float(x) if _fin(x) else 0.0


def _hex(n: int) -> str:
    return f"{n & ((1 << 64) - 1):016X}"
