"""The autohedge engine on the bus: SpdrAutoHedgeControl (client posts, validated) and
SpdrParentExecution in; SpdrAutoHedgeState out, one per (accnt, riskGroupId, hedgeSecKey,
hedgeSecType, clientFirm).

An option fill feeds the group of its (accnt, riskGroupId, clientFirm) whose hedge instrument's
ticker is the option's underlier; riskGroupId 0 groups the whole account (hedgeScope Accnt).
A fill whose parent asked for an autohedge (``autoHedge`` not None) with no control record
makes a group in state NoHedgeCtrl.  Fills of parents with ``spdrSource`` AutoHedge are hedge
fills.  The group's target (HedgeToZero / HedgeToBand, lots, orderSize cap) is published as the
buy or sell side's ``bActiveSize`` / ``sActiveSize``.

Not done: sending the hedge parent orders.  Hedge instruments are stocks or futures and the order
manager rejects those order types (BadOrdType) today, so the state carries the target with
``bBrkrStatus``/``sBrkrStatus`` ``NotSent`` and says so in ``hedgeText``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from ...bus import Bus, ColumnBatch, Event
from ...clock import Clock
from ...engines.marketview import MarketView
from ...errors import PostRejected
from ...schema import ExpiryKey, OptionKey, Registry, TickerKey, datekey_to_text, pkey_of
from ...store import Store
from ._group import BandControl, HedgeGroup

__all__ = ["AutoHedgeEngine", "validate_control"]

log = logging.getLogger("openmlink.trading.hedge")

#: (accnt, riskGroupId, hedgeSecKey, hedgeSecType, clientFirm)
GroupKey = tuple[str, int, ExpiryKey, int, str]
NO_DATE = datekey_to_text(0)
NOT_SENT = "hedge parent orders are not sent yet: the order manager does not take stock or " \
           "future orders"


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
    def __init__(self, bus: Bus, store: Store, reg: Registry, clock: Clock, *,
                 master_fn: Callable[[], Any] = lambda: None) -> None:
        self.bus, self.store, self.reg, self.clock = bus, store, reg, clock
        self.view = MarketView(store, reg, master_fn)
        self.groups: dict[GroupKey, HedgeGroup] = {}
        self.controls: dict[GroupKey, dict[str, Any]] = {}
        self._seen: dict[int, int] = {}  # fillNumber -> version applied
        X = "SpdrParentExecution"
        self._fill = _ordinal(reg, X, "execStatus", "Fill")
        self._buy = _ordinal(reg, X, "orderSide", "Buy")
        self._opt = _ordinal(reg, X, "secType", "Option")
        self._stock = _ordinal(reg, "SpdrAutoHedgeControl", "hedgeSecType", "Stock")
        self._hedge_src = {_ordinal(reg, X, "spdrSource", n) for n in ("AutoHedge", "AutoHedgeSrvr")}
        self._mt = {n: reg[n] for n in ("SpdrAutoHedgeControl", "SpdrAutoHedgeState",
                                        "SpdrParentExecution", "SpdrParentOrder")}
        self._unsub: list[Callable[[], None]] = []

    # ---------------------------------------------------------------- wiring
    def attach(self) -> None:
        self.bus.add_validator("SpdrAutoHedgeControl", self._validate)
        ct = self.store.table(self._mt["SpdrAutoHedgeControl"])
        for row in ct.live_rows():
            self._control(ct.record(int(row)), publish=False)
        xt = self.store.table(self._mt["SpdrParentExecution"])
        for row in xt.live_rows():
            self.on_execution(xt.record(int(row)), publish=False)
        self._unsub.append(self.bus.subscribe("SpdrAutoHedgeControl", self._on_control))
        self._unsub.append(self.bus.subscribe("SpdrParentExecution", self._on_exec))
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

    # ---------------------------------------------------------------- state
    @staticmethod
    def _key(rec: dict[str, Any]) -> GroupKey:
        return (rec["accnt"], int(rec["riskGroupId"]), rec["hedgeSecKey"], int(rec["hedgeSecType"]),
                rec["clientFirm"])

    def _control(self, rec: dict[str, Any], publish: bool = True) -> None:
        k = self._key(rec)
        if validate_control(self.reg, rec) is not None:
            return  # an invalid replayed record (older rules) is not used
        self.controls[k] = rec
        if k not in self.groups:
            self.groups[k] = HedgeGroup()
        if publish:
            self._publish(k, "CtrlUpdate")

    def _group_for(self, accnt: str, rgid: int, firm: str, und: TickerKey) -> GroupKey | None:
        for k in self.controls:
            if k[0] == accnt and k[4] == firm and k[1] in (rgid, 0) and \
                    (k[2].at, k[2].ts, k[2].tk) == tuple(und):
                return k
        return None

    def on_execution(self, rec: dict[str, Any], publish: bool = True) -> GroupKey | None:
        if rec["execStatus"] != self._fill or self._seen.get(rec["fillNumber"], 0) >= rec["version"]:
            return None
        side = 1 if rec["orderSide"] == self._buy else -1
        qty = int(rec["fillQuantity"])
        accnt, rgid, firm = rec["accnt"], int(rec["riskGroupId"]), rec["clientFirm"]
        hedge = rec["spdrSource"] in self._hedge_src
        if rec["secType"] == self._opt and not hedge:
            okey: OptionKey = rec["secKey"]
            und = self.view.underlier_of(okey)
            k = self._group_for(accnt, rgid, firm, und)
            if k is None:
                if not self._wants_hedge(rec):
                    return None
                # no control: the stock itself, expiry at the DateKey zero (inferred)
                k = (accnt, rgid, ExpiryKey(und.at, und.ts, und.tk, NO_DATE), self._stock, firm)
            g = self.groups.setdefault(k, HedgeGroup())
            beta = self._beta(rec)
            liq = self.view.live_quote(okey)
            if liq is not None and liq["atmVol"] > 0:
                g.target_vol = float(liq["atmVol"])  # hedgeTargetVol: today's implied vol
            g.option_fill(side, qty, float(rec["fillDe"]), float(rec["underliersPerCn"] or 100),
                          float(rec["fillUMark"]), int(rec["fillDttm"]), beta=beta)
        elif hedge:
            tk = rec["ticker"]
            k = self._group_for(accnt, rgid, firm, tk)
            if k is None:
                return None
            self.groups[k].hedge_fill(side, qty, float(rec["fillPrice"]), int(rec["fillDttm"]))
        else:
            return None
        self._seen[rec["fillNumber"]] = rec["version"]
        if publish:
            self._publish(k, "OptFill" if not hedge else "HedgeFill")
        return k

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

    # ---------------------------------------------------------------- loop
    def tick(self) -> None:
        """Republish every group at the current price (the band state follows the market)."""
        try:
            for k in list(self.groups):
                self._publish(k, "Loop")
        except Exception:
            log.exception("autohedge loop failed")

    def band(self, ctl: dict[str, Any]) -> BandControl:
        return BandControl(
            _enum_name(self.reg, "SpdrAutoHedgeControl", "hedgeTarget", int(ctl["hedgeTarget"])),
            float(ctl["minHedgeDDelta"]), float(ctl["maxHedgeDDelta"]), int(ctl["orderSize"]))

    def state_record(self, k: GroupKey, reason: str) -> dict[str, Any]:
        g = self.groups[k]
        ctl = self.controls.get(k)
        tk = TickerKey(k[2].at, k[2].ts, k[2].tk)
        u, _b, _a = self.view.stock_quote(tk)
        if not (math.isfinite(u) and u > 0):
            u = g.u_prc
        band = self.band(ctl) if ctl is not None else None
        state = g.state(band, u)
        target = g.target(band, u) if band is not None else 0
        vol = g.target_vol
        text = {"NoHedgeCtrl": "no SpdrAutoHedgeControl for this group",
                "UPrcErr": f"no price for {tk}", "Init": "no fills yet"}.get(state, "")
        if target:
            text = NOT_SENT
        S = "SpdrAutoHedgeState"
        rec: dict[str, Any] = {
            "accnt": k[0], "riskGroupId": k[1], "hedgeSecKey": k[2], "hedgeSecType": k[3],
            "clientFirm": k[4], "ticker": tk,
            "hedgeState": _ordinal(self.reg, S, "hedgeState", state), "hedgeText": text,
            "uPrc": u if math.isfinite(u) else 0.0, "liveHedgeMark": u if math.isfinite(u) else 0.0,
            "netDelta": g.netDelta, "netDDelta": g.netDDelta, "absOptCn": g.absOptCn,
            "lastGrpFillDttm": g.lastGrpFillDttm, "lastCtrlFillDttm": g.lastCtrlFillDttm,
            "openHedgeTime": g.openHedgeTime, "hedgeTargetVol": vol,
            "expectedPrcRange": g.expected_prc_range(vol), "slippagePnL": g.slippagePnL,
            "slippageUnitPnL": g.slippageUnitPnL, "slippageNormPnL": g.slippage_norm(vol),
            "minDDeltaBand": band.min_ddelta if band else 0.0,
            "maxDDeltaBand": band.max_ddelta if band else 0.0,
            "bActiveSize": max(target, 0), "sActiveSize": max(-target, 0),
            "bBrkrStatus": "NotSent" if target > 0 else "", "sBrkrStatus": "NotSent" if target < 0 else "",
            "ddMult": g.dd_mult, "underliersPerCn": 1, "pointValue": 1.0,
            "updtReason": reason, "timestamp": self.clock.time_ns(),
        }
        for f in ("grpDeltaBot", "grpDeltaSld", "grpDDeltaBot", "grpDDeltaSld", "ctrlDeltaBot",
                  "ctrlDeltaSld", "ctrlDDeltaBot", "ctrlDDeltaSld", "opnDeltaBot", "opnDeltaSld",
                  "opnDDeltaBot", "opnDDeltaSld", "clsDeltaBot", "clsDeltaSld", "clsDDeltaBot",
                  "clsDDeltaSld"):
            rec[f] = getattr(g, f)
        return rec

    def _publish(self, k: GroupKey, reason: str) -> None:
        rec = self.state_record(k, reason)
        self.bus.publish(Event(self._mt["SpdrAutoHedgeState"], "upsert", rec, rec["timestamp"]))
