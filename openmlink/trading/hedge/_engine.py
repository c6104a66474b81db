"""The autohedge engine on the bus: SpdrAutoHedgeControl (client posts, validated) and
SpdrParentExecution in; SpdrAutoHedgeState and the hedge SpdrParentOrders out, one group per
(accnt, riskGroupId, hedgeSecKey, hedgeSecType, clientFirm).

An option fill feeds the group of its (accnt, riskGroupId, clientFirm) whose hedge instrument's
ticker is the option's underlier; riskGroupId 0 groups the whole account (hedgeScope Accnt).
A fill whose parent asked for an autohedge (``autoHedge`` not None) with no control record
makes a group in state NoHedgeCtrl.  Fills of parents with ``spdrSource`` AutoHedge are hedge
fills.  The group's target (HedgeToZero / HedgeToBand, lots, orderSize cap) is published as the
buy or sell side's ``bActiveSize`` / ``sActiveSize`` and worked by ordinary stock parent orders
(``spdrSource`` AutoHedge, ``groupingCode`` = riskGroupId, one broker per side) posted on the
bus like a client's (see ``_orders`` for the rules); ``work()`` posts for the groups whose
fills, control or hedge brokers changed (the runtime calls it on the order manager's timer),
``tick()`` re-works every group and republishes the states once a second.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

from ...bus import Bus, ColumnBatch, Event, PublishFailed
from ...clock import Clock
from ...engines.marketview import MarketView
from ...errors import PostRejected
from ...schema import (
    ExpiryKey,
    OptionKey,
    Registry,
    TickerKey,
    datekey_to_text,
    decode_record,
    pkey_of,
)
from ...store import Store
from ._group import BandControl, HedgeGroup
from ._orders import HedgeSide, plan

__all__ = ["HEDGE_ORIGIN", "AutoHedgeEngine", "validate_control"]

log = logging.getLogger("openmlink.trading.hedge")

#: (accnt, riskGroupId, hedgeSecKey, hedgeSecType, clientFirm)
GroupKey = tuple[str, int, ExpiryKey, int, str]
NO_DATE = datekey_to_text(0)
#: the ``origin`` of the hedge orders' bus events (the order manager works posts with one)
HEDGE_ORIGIN = "AutoHedge"
class _Applied(NamedTuple):
    """What a counted fill added to its group (``HedgeGroup.unfill`` takes it back)."""

    k: GroupKey
    c: float  # signed hedge units
    dd: float  # $delta at ``price``
    price: float  # an option fill's underlier mid, a hedge fill's price
    opt_qty: int  # an option fill's contracts (0: a hedge fill)
    opening: float  # a hedge fill's open/close split (re-priced by a Correct)
    closing: float
    mleg: int  # a package fill's parentNumber (it only held the group)


#: hedge parentNumbers: 0x7AE in the top bits (the gateway assigns numbers below 2**60), then
#: the engine's start second and a sequence (inferred)
_PN_BASE = 0x7AE << 52


def _enum_name(reg: Registry, msg: str, field: str, v: int) -> str:
    f = reg[msg].field(field)
    assert f is not None and f.enum is not None
    return f.enum.names[v] if 0 <= v < len(f.enum.names) else str(v)


def _ordinal(reg: Registry, msg: str, field: str, name: str) -> int:
    f = reg[msg].field(field)
    assert f is not None and f.enum is not None
    return f.enum.names.index(name)


def validate_control(reg: Registry, rec: dict[str, Any]) -> str | None:
    """Why a SpdrAutoHedgeControl record cannot be used (None when it can)."""
    C = "SpdrAutoHedgeControl"
    if _enum_name(reg, C, "hedgeTarget", int(rec.get("hedgeTarget", 0))) == "None":
        return "hedgeTarget: None is not a hedge target (HedgeToZero or HedgeToBand)"
    st = _enum_name(reg, C, "hedgeSecType", int(rec.get("hedgeSecType", 0)))
    if st not in ("Stock", "Future"):
        return f"hedgeSecType: {st} cannot hedge (Stock or Future)"
    lo, hi = float(rec.get("minHedgeDDelta", 0.0)), float(rec.get("maxHedgeDDelta", 0.0))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "minHedgeDDelta/maxHedgeDDelta: must be finite numbers"
    if lo > hi:
        return f"minHedgeDDelta: {lo:g} is above maxHedgeDDelta {hi:g}"
    if lo > 0 or hi < 0:
        return f"minHedgeDDelta/maxHedgeDDelta: the band [{lo:g}, {hi:g}] must contain 0"
    if int(rec.get("orderSize", 0)) < 0:
        return f"orderSize: {rec.get('orderSize')} is negative"
    return None


class AutoHedgeEngine:
    #: the column data it reads: the broker states (the order manager publishes re-priced
    #: ones as columns) and a MarketView's tables
    READS: ClassVar[frozenset[str]] = frozenset({"SpdrParentBrkrState"}) | MarketView.READS

    def __init__(self, bus: Bus, store: Store, reg: Registry, clock: Clock, *,
                 master_fn: Callable[[], Any] = lambda: None) -> None:
        self.bus, self.store, self.reg, self.clock = bus, store, reg, clock
        self.view = MarketView(store, reg, master_fn)
        self.groups: dict[GroupKey, HedgeGroup] = {}
        self.controls: dict[GroupKey, dict[str, Any]] = {}
        #: fillNumber -> what it added (``_Applied``), None once busted or not counted: each
        #: fill counts once, later versions (marks) change nothing, a Bust reverses it
        self._seen: dict[int, _Applied | None] = {}
        X = "SpdrParentExecution"
        self._fill = _ordinal(reg, X, "execStatus", "Fill")
        self._bust = _ordinal(reg, X, "execStatus", "Bust")
        self._correct = _ordinal(reg, X, "execStatus", "Correct")
        self._buy = _ordinal(reg, X, "orderSide", "Buy")
        self._opt = _ordinal(reg, X, "secType", "Option")
        self._mleg = _ordinal(reg, X, "secType", "MLeg")
        self._reject_ev = _ordinal(reg, "SpdrParentBrkrEvent", "recType", "Reject")
        self._stock = _ordinal(reg, "SpdrAutoHedgeControl", "hedgeSecType", "Stock")
        self._hedge_src = {_ordinal(reg, X, "spdrSource", n) for n in ("AutoHedge", "AutoHedgeSrvr")}
        self._mt = {n: reg[n] for n in ("SpdrAutoHedgeControl", "SpdrAutoHedgeState",
                                        "SpdrParentExecution", "SpdrParentOrder",
                                        "SpdrParentBrkrState")}
        self._unsub: list[Callable[[], None]] = []
        #: the hedge brokers of each group by side (+1 buy, -1 sell)
        self.sides: dict[GroupKey, dict[int, HedgeSide]] = {}
        #: groups whose fills, control or hedge brokers changed since the last ``work()``
        self._dirty: set[GroupKey] = set()
        #: hedge parentNumber -> (group, side, |target| it asked for)
        self._posted: dict[int, tuple[GroupKey, int, int]] = {}
        self._pn = _PN_BASE | ((clock.time_ns() // 1_000_000_000) & 0xFFFFFFF) << 20
        self.orders_posted = 0

    # ---------------------------------------------------------------- wiring
    def attach(self) -> None:
        self.bus.add_validator("SpdrAutoHedgeControl", self._validate)
        ct = self.store.table(self._mt["SpdrAutoHedgeControl"])
        for row in ct.live_rows():
            # (the executions and hedge brokers are replayed below, once for every group)
            self._control(ct.record(int(row)), publish=False, replay=False)
        xt = self.store.table(self._mt["SpdrParentExecution"])
        for row in xt.live_rows():
            self.on_execution(xt.record(int(row)), publish=False)
        bt = self.store.table(self._mt["SpdrParentBrkrState"])
        for row in bt.live_rows():  # the hedge brokers the order manager restored
            self.on_broker_state(bt.record(int(row)))
        self._unsub.append(self.bus.subscribe("SpdrAutoHedgeControl", self._on_control))
        self._unsub.append(self.bus.subscribe("SpdrParentExecution", self._on_exec))
        self._unsub.append(self.bus.subscribe("SpdrParentBrkrState", self._on_state))
        self._unsub.append(self.bus.subscribe("SpdrParentBrkrEvent", self._on_event))
        for k in list(self.groups):
            self._publish(k, "Restore")

    def close(self) -> None:
        for u in self._unsub:
            u()
        self._unsub.clear()

    def _validate(self, ev: Event | ColumnBatch) -> None:
        if isinstance(ev, Event) and ev.kind == "upsert" and not ev.merge:
            why = validate_control(self.reg, dict(ev.rec))
            if why is not None:
                raise PostRejected(why)

    def _on_control(self, msg: Event | ColumnBatch) -> None:
        if not isinstance(msg, Event):
            return
        mt = msg.mt
        if msg.kind == "upsert":
            rec = self.store.table(mt).get(pkey_of(mt, msg.rec))
            if rec is not None:
                self._control(rec)
        else:
            k = self._key(msg.rec)
            self.controls.pop(k, None)
            if k in self.groups:
                self._publish(k, "CtrlDelete")

    def _on_exec(self, msg: Event | ColumnBatch) -> None:
        if isinstance(msg, Event) and msg.kind == "upsert":
            rec = self.store.table(msg.mt).get(pkey_of(msg.mt, msg.rec))
            if rec is not None:
                self.on_execution(rec)

    def _on_state(self, msg: Event | ColumnBatch) -> None:
        if isinstance(msg, Event) and msg.kind == "upsert" \
                and msg.rec.get("spdrSource") in self._hedge_src:
            self.on_broker_state(msg.rec)

    # ---------------------------------------------------------------- state
    @staticmethod
    def _key(rec: dict[str, Any]) -> GroupKey:
        return (rec["accnt"], int(rec["riskGroupId"]), rec["hedgeSecKey"], int(rec["hedgeSecType"]),
                rec["clientFirm"])

    def _control(self, rec: dict[str, Any], publish: bool = True, replay: bool = True) -> None:
        k = self._key(rec)
        if validate_control(self.reg, rec) is not None:
            return  # an invalid replayed record (older rules) is not used
        self.controls[k] = rec
        self._dirty.add(k)
        if k not in self.groups:
            self.groups[k] = HedgeGroup()
            if replay:  # the day's option fills no group took yet count for the new group
                xt = self.store.table(self._mt["SpdrParentExecution"])
                for row in xt.live_rows():
                    self.on_execution(xt.record(int(row)), publish=False)
        if replay and k not in self.sides:  # hedge brokers already working (a restart)
            bt = self.store.table(self._mt["SpdrParentBrkrState"])
            for row in bt.live_rows():
                self.on_broker_state(bt.record(int(row)))
        if publish:
            self._publish(k, "CtrlUpdate")

    def _group_for(self, accnt: str, rgid: int, firm: str, und: TickerKey) -> GroupKey | None:
        for k in self.controls:
            if k[0] == accnt and k[4] == firm and k[1] in (rgid, 0) and \
                    (k[2].at, k[2].ts, k[2].tk) == tuple(und):
                return k
        return None

    def on_execution(self, rec: dict[str, Any], publish: bool = True) -> GroupKey | None:
        """Count a fill once (a Fill, or a Correct first seen: a restart replays the latest
        version); a later version (its +1m/+10m marks) changes no quantity; a Bust reverses
        what the fill added, a Correct re-prices a hedge fill's $delta (an option fill counts
        at the underlier mid, not its price).  Returns the group changed."""
        st, fn = rec["execStatus"], int(rec["fillNumber"])
        if st == self._bust or (st == self._correct and fn in self._seen):
            return self._adjust(fn, rec, publish)
        if st not in (self._fill, self._correct) or fn in self._seen:
            return None
        side = 1 if rec["orderSide"] == self._buy else -1
        qty = int(rec["fillQuantity"])
        accnt, rgid, firm = rec["accnt"], int(rec["riskGroupId"]), rec["clientFirm"]
        hedge = rec["spdrSource"] in self._hedge_src
        if rec["secType"] == self._mleg and not hedge:
            # (inferred) a package fill carries no per-leg delta: the group holds (MLegHold, no
            # hedge orders) until a leg fill of the same parent arrives
            k = self._group_for(accnt, rgid, firm, rec["ticker"])
            if k is None:
                return None
            self.groups[k].mleg_pending.add(int(rec["parentNumber"]))
            applied = _Applied(k, 0.0, 0.0, 0.0, 0, 0.0, 0.0, int(rec["parentNumber"]))
        elif rec["secType"] == self._opt and not hedge:
            okey: OptionKey = rec["secKey"]
            und = self.view.underlier_of(okey)
            k = self._group_for(accnt, rgid, firm, und)
            if k is None:
                if not self._wants_hedge(rec):
                    return None
                # no control: the stock itself, expiry at the DateKey zero (inferred)
                k = (accnt, rgid, ExpiryKey(und.at, und.ts, und.tk, NO_DATE), self._stock, firm)
            g = self.groups.setdefault(k, HedgeGroup())
            g.mleg_pending.discard(int(rec["parentNumber"]))  # a leg of a package fill
            beta = self._beta(rec)
            liq = self.view.live_quote(okey)
            if liq is not None and liq["atmVol"] > 0:
                g.target_vol = float(liq["atmVol"])  # hedgeTargetVol: today's implied vol
            u = float(rec["fillUMark"])
            c = g.option_fill(side, qty, float(rec["fillDe"]),
                              float(rec["underliersPerCn"] or 100), u, int(rec["fillDttm"]),
                              beta=beta)
            applied = _Applied(k, c, abs(c) * u * g.dd_mult, u, qty, 0.0, 0.0, 0)
        elif hedge:
            tk = rec["ticker"]
            k = self._group_for(accnt, rgid, firm, tk)
            if k is None:
                return None
            g, px = self.groups[k], float(rec["fillPrice"])
            opening, closing = g.hedge_fill(side, qty, px, int(rec["fillDttm"]))
            applied = _Applied(k, float(side * qty), qty * px * g.dd_mult, px, 0, opening,
                               closing, 0)
        else:
            return None
        self._seen[fn] = applied
        self._dirty.add(k)
        if publish:
            self._publish(k, "OptFill" if not hedge else "HedgeFill")
        return k

    def _adjust(self, fn: int, rec: dict[str, Any], publish: bool) -> GroupKey | None:
        """A Bust (or Correct) of fill ``fn`` counted before: reversed (re-priced); the
        group changed, None when the fill counted nowhere."""
        a = self._seen.get(fn)
        bust = rec["execStatus"] == self._bust
        if bust:
            self._seen[fn] = None  # busted: no later version counts it again
        g = None if a is None else self.groups.get(a.k)
        if a is None or g is None:
            return None
        if a.mleg:
            if not bust:
                return None
            g.mleg_pending.discard(a.mleg)
        elif bust:
            g.unfill(a.c, a.dd, a.price, int(rec["timestamp"]), a.opt_qty)
        else:
            px = float(rec["fillPrice"])
            if a.opt_qty or px == a.price:
                return None  # an option fill's $delta is at the underlier mid
            g.reprice_hedge(a.c, a.opening, a.closing, a.price, px)
            self._seen[fn] = a._replace(price=px, dd=abs(a.c) * px * g.dd_mult)
        self._dirty.add(a.k)
        if publish:
            self._publish(a.k, "HedgeFill" if a.c and not a.opt_qty else "OptFill")
        return a.k

    def _parent(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        return self.store.table(self._mt["SpdrParentOrder"]).get((rec["parentNumber"],))

    def _wants_hedge(self, rec: dict[str, Any]) -> bool:
        po = self._parent(rec)
        return po is not None and \
            _enum_name(self.reg, "SpdrParentOrder", "autoHedge", int(po["autoHedge"])) != "None"

    def _beta(self, rec: dict[str, Any]) -> float:
        """The parent order's hedgeBetaRatio (clamped to [-4, 4]); 1 when unset."""
        po = self._parent(rec)
        b = float(po["hedgeBetaRatio"]) if po is not None else 0.0
        return min(max(b, -4.0), 4.0) if math.isfinite(b) and b != 0 else 1.0

    def _on_event(self, msg: Event | ColumnBatch) -> None:
        """A Reject event of a hedge post that never took over its broker (e.g. a Replace
        refused TooLateToReduce because fills raced the pull): the side stops waiting for it."""
        if not (isinstance(msg, Event) and msg.kind == "upsert"):
            return
        rec = msg.rec
        hit = self._posted.get(int(rec.get("parentNumber") or 0))
        if hit is None or rec.get("recType") != self._reject_ev:
            return
        k, side, want = hit
        sd = self._sides(k)[side]
        if sd.posted == int(rec["parentNumber"]):
            sd.posted = 0
            sd.error = str(rec.get("spdrComment", ""))[:255]
            sd.rejected_target = want
            self._dirty.add(k)

    # ---------------------------------------------------------------- hedge orders
    def on_broker_state(self, rec: dict[str, Any]) -> None:
        """A SpdrParentBrkrState of a hedge broker: its side follows it."""
        if rec.get("spdrSource") not in self._hedge_src:
            return
        pn = int(rec["parentNumber"])
        hit = self._posted.get(pn)
        if hit is not None:
            k, side, want = hit
        else:  # a broker restored from the journal (or posted by an earlier process)
            tk = rec["secKey"]
            if not isinstance(tk, TickerKey):
                return
            side = 1 if rec["orderSide"] == self._buy else -1
            want = -1
            found = self._group_for(rec["accnt"], int(rec["riskGroupId"]), rec["clientFirm"], tk)
            if found is None:
                return
            k = found
            self._pn = max(self._pn, pn)
        sd = self._sides(k)[side]
        if hit is None and pn < sd.parent_number:
            return  # an older broker record than the one followed
        status = _enum_name(self.reg, "SpdrParentBrkrState", "spdrBrokerStatus",
                            int(rec["spdrBrokerStatus"]))
        sd.parent_number = pn
        sd.broker_status = status
        sd.order_size = int(rec["orderSize"])
        sd.cum = int(rec["cumFillQuantity"])
        if sd.posted == pn:
            sd.posted = 0
        if status == "Rejected":
            sd.error = str(rec.get("spdrComment", ""))[:255]
            sd.rejected_target = want
        elif status in ("Active", "ActiveHold"):
            sd.error = ""
            sd.rejected_target = -1
        self._dirty.add(k)

    def _sides(self, k: GroupKey) -> dict[int, HedgeSide]:
        s = self.sides.get(k)
        if s is None:
            s = self.sides[k] = {1: HedgeSide(1), -1: HedgeSide(-1)}
        return s

    def work(self) -> None:
        """Post the hedge orders of the groups that changed since the last call and publish
        their states (the order manager's timer cadence: an option fill is hedged within one
        timer tick)."""
        try:
            while self._dirty:
                dirty, self._dirty = self._dirty, set()
                for k in dirty:
                    if k in self.groups:  # fills, control or hedge brokers changed
                        self._publish(k, "HedgeOrder" if self._hedge(k) else "HedgeBroker")
        except Exception:
            log.exception("autohedge work failed")

    def _hedge(self, k: GroupKey) -> bool:
        """Bring the group's hedge brokers in line with its target; True when it posted."""
        ctl = self.controls.get(k)
        if ctl is None:
            return False
        _state, target, _u = self._target(k)
        sides = self._sides(k)
        posts = plan(target, sides)
        for side, action, size in posts:
            self._post(k, ctl, sides[side], action, size, abs(target))
        return bool(posts)

    def _post(self, k: GroupKey, ctl: dict[str, Any], sd: HedgeSide, action: str, size: int,
              want: int) -> None:
        self._pn += 1
        pn = self._pn
        tk = TickerKey(k[2].at, k[2].ts, k[2].tk)
        C = "SpdrAutoHedgeControl"

        def ctl_name(f: str, default: str) -> str:
            n = _enum_name(self.reg, C, f, int(ctl[f]))
            return default if n == "None" else n

        msg: dict[str, Any] = {
            "secKey": str(tk), "secType": "Stock", "accnt": k[0], "clientFirm": k[4],
            "orderSide": "Buy" if sd.side > 0 else "Sell", "spdrActionType": action,
            "orderSize": int(size), "groupingCode": k[1], "riskGroupId": k[1],
            "spdrSource": "AutoHedge", "userName": ctl["userName"], "parentShape": "Single",
            "orderLimitType": ctl_name("orderLimitType", "Market"),
            "orderPrcLimit": float(ctl["orderPrcLimit"]),
            "orderPrcOffset": float(ctl["orderPrcOffset"]),
            "parentOrderHandling": ctl_name("parentOrderHandling", "ActiveTaker"),
            "parentBalanceHandling": ctl_name("parentBalanceHandling", "PostWith"),
            "strategy": ctl["strategy"],
        }
        if _enum_name(self.reg, C, "hedgeFillUMarkLmtPrc", int(ctl["hedgeFillUMarkLmtPrc"])) \
                == "Yes" and math.isfinite(self.groups[k].u_prc):
            # hedgePrcLmt: a limit at the last option fill's underlier mark
            msg["orderLimitType"], msg["orderPrcLimit"] = "Prc", round(self.groups[k].u_prc, 2)
        mt = self._mt["SpdrParentOrder"]
        rec = decode_record(mt, msg)
        rec["parentNumber"] = pn
        if action != "Cancel":  # a cancel's state record carries the working parent's number
            sd.posted = pn
            self._posted[pn] = (k, sd.side, want)
            if len(self._posted) > 100_000:  # bounded: the oldest posts are long answered
                for old in list(self._posted)[:50_000]:
                    del self._posted[old]
        self.orders_posted += 1
        try:
            self.bus.publish(Event(mt, "upsert", rec, self.clock.time_ns(), origin=HEDGE_ORIGIN))
        except PostRejected as e:  # the order rate limit: tried again at the next Loop
            sd.posted = 0
            sd.error = f"{action} refused: {e.detail}"[:255]
        except PublishFailed as e:
            sd.posted = 0
            sd.error = f"{action} failed: {e}"[:255]
            sd.rejected_target = want
            log.error("autohedge: posting %s for %s failed: %s", action, k, e)

    # ---------------------------------------------------------------- loop
    def tick(self) -> None:
        """Re-work every group (band states and targets follow the hedge price) and republish
        every state."""
        try:
            self._dirty.update(self.groups)
            self.work()
            for k in list(self.groups):
                self._publish(k, "Loop")
        except Exception:
            log.exception("autohedge loop failed")

    def band(self, ctl: dict[str, Any]) -> BandControl:
        return BandControl(
            _enum_name(self.reg, "SpdrAutoHedgeControl", "hedgeTarget", int(ctl["hedgeTarget"])),
            float(ctl["minHedgeDDelta"]), float(ctl["maxHedgeDDelta"]), int(ctl["orderSize"]))

    def _target(self, k: GroupKey) -> tuple[str, int, float]:
        """(hedgeState, signed target in shares, hedge price) of group ``k`` now."""
        g = self.groups[k]
        ctl = self.controls.get(k)
        tk = TickerKey(k[2].at, k[2].ts, k[2].tk)
        u, _b, _a = self.view.stock_quote(tk)
        if not (math.isfinite(u) and u > 0):
            u = g.u_prc
        band = self.band(ctl) if ctl is not None else None
        state = g.state(band, u)
        if ctl is not None and k[3] != self._stock and state not in ("Init",):
            return "UndTypeErr", 0, u  # no future is listed here to hedge with
        if g.mleg_pending and state not in ("NoHedgeCtrl",):
            return "MLegHold", 0, u
        target = g.target(band, u) if band is not None else 0
        return state, target, u

    def state_record(self, k: GroupKey, reason: str) -> dict[str, Any]:
        g = self.groups[k]
        ctl = self.controls.get(k)
        tk = TickerKey(k[2].at, k[2].ts, k[2].tk)
        state, target, u = self._target(k)
        band = self.band(ctl) if ctl is not None else None
        vol = g.target_vol
        text = {"NoHedgeCtrl": "no SpdrAutoHedgeControl for this group",
                "UPrcErr": f"no price for {tk}", "Init": "no fills yet",
                "UndTypeErr": "hedgeSecType Future: no future is listed on this platform; "
                              "hedge with hedgeSecType Stock",
                "MLegHold": f"multi-leg fill of {len(g.mleg_pending)} parent(s) waiting for "
                            "its leg fills"}.get(state, "")
        sides = self._sides(k) if ctl is not None else None
        if target and sides is not None:
            sd = sides[1 if target > 0 else -1]
            text = (f"{'buy' if target > 0 else 'sell'} {abs(target)} {tk}: hedge broker "
                    f"{sd.status_text()}" + (f" ({sd.error})" if sd.error else ""))
        S = "SpdrAutoHedgeState"
        rec: dict[str, Any] = {
            "accnt": k[0], "riskGroupId": k[1], "hedgeSecKey": k[2], "hedgeSecType": k[3],
            "clientFirm": k[4], "ticker": tk, "groupingCode": k[1],
            "hedgeState": _ordinal(self.reg, S, "hedgeState", state), "hedgeText": text[:255],
            "uPrc": u if math.isfinite(u) else 0.0, "liveHedgeMark": u if math.isfinite(u) else 0.0,
            "netDelta": g.netDelta, "netDDelta": g.netDDelta, "absOptCn": g.absOptCn,
            "lastGrpFillDttm": g.lastGrpFillDttm, "lastCtrlFillDttm": g.lastCtrlFillDttm,
            "openHedgeTime": g.openHedgeTime, "hedgeTargetVol": vol,
            "expectedPrcRange": g.expected_prc_range(vol), "slippagePnL": g.slippagePnL,
            "slippageUnitPnL": g.slippageUnitPnL, "slippageNormPnL": g.slippage_norm(vol),
            "minDDeltaBand": band.min_ddelta if band else 0.0,
            "maxDDeltaBand": band.max_ddelta if band else 0.0,
            "bActiveSize": max(target, 0), "sActiveSize": max(-target, 0),
            "ddMult": g.dd_mult, "underliersPerCn": 1, "pointValue": 1.0,
            "updtReason": reason, "timestamp": self.clock.time_ns(),
        }
        if sides is not None:
            for p, s in (("b", 1), ("s", -1)):
                sd = sides[s]
                rec[f"{p}ParentNumber"] = sd.parent_number or sd.posted
                rec[f"{p}BrkrStatus"] = sd.status_text()
                rec[f"{p}BrkrError"] = sd.error
        for f in ("grpDeltaBot", "grpDeltaSld", "grpDDeltaBot", "grpDDeltaSld", "ctrlDeltaBot",
                  "ctrlDeltaSld", "ctrlDDeltaBot", "ctrlDDeltaSld", "opnDeltaBot", "opnDeltaSld",
                  "opnDDeltaBot", "opnDDeltaSld", "clsDeltaBot", "clsDeltaSld", "clsDDeltaBot",
                  "clsDDeltaSld"):
            rec[f] = getattr(g, f)
        return rec

    def _publish(self, k: GroupKey, reason: str) -> None:
        rec = self.state_record(k, reason)
        self.bus.publish(Event(self._mt["SpdrAutoHedgeState"], "upsert", rec, rec["timestamp"]))
