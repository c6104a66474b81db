"""SpanEngine: completes client-posted SpanRiskCalculator records (ARCHITECTURE: engines).

On every client upsert of a SpanRiskCalculator the engine reads the stored (merged) record,
resolves each ``...Src`` input (``Default`` = the platform's live value, see ``_market``;
``User`` = the posted value), computes ``span01``..``span16`` with the array kernels and
publishes the completed record back on the bus as a merging upsert (resolved inputs, spans,
``error``, ``timestamp``).  Its own events are recognised (identical to what it last published
for that pkey) and ignored.  Records are also recomputed on read when older than
``refresh_ms`` and some input is Default, so Default inputs follow the live market.  No
exception escapes: a failure becomes ``error`` (at most 32 characters).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from ...analytics.span import (
    DEFAULT_CONFIG,
    MODEL_TYPES,
    PRC_SPAN_TYPES,
    SPAN_FIELDS,
    VOL_SPAN_TYPES,
    DivStringError,
    SpanConfig,
    SpanModel,
    exch_default,
    parse_div_string,
    scenario_grid,
    span_values,
)
from ...bus import Bus, ColumnBatch, Event
from ...clock import Clock
from ...schema import ExpiryKey, OptionKey, Registry, TickerKey, pkey_of
from ...store import Store, Table
from ...timeutil import trade_date_of
from ..marketview import MarketView

__all__ = ["SpanEngine", "SpanInputs"]

log = logging.getLogger("openmlink.engines.span")
MSG = "SpanRiskCalculator"
_SECTYPES = ("None", "Stock", "Future", "Option", "MLeg")
_EXTYPES = ("None", "American", "European", "Asian", "Cliquet")
_PCT = PRC_SPAN_TYPES.index("Pct")
_EXCH_P = PRC_SPAN_TYPES.index("Exch")
_EXCH_V = VOL_SPAN_TYPES.index("Exch")
_VPCT = VOL_SPAN_TYPES.index("Pct")
#: the FieldSrc inputs; a record whose inputs are all User never needs recomputing
_SRC_FIELDS = ("volSrc", "uPrcSrc", "yearsSrc", "sdivSrc", "rateSrc", "exTypeSrc", "effStrikeSrc",
               "symRatioSrc", "divSrc", "modelTypeSrc", "pointValueSrc")


class _SpanError(Exception):
    """A record-level input error; the message goes to ``error`` (<= 32 characters)."""


@dataclass(slots=True)
class SpanInputs:
    """The resolved inputs of one record (per share; ``S`` already times symRatio)."""

    is_option: bool
    S: float
    K: float
    t: float
    r: float
    q: float
    vol: float
    cp: float
    model: SpanModel
    prc_type: int
    prc_up: float
    prc_dn: float
    vol_type: int
    vol_span: float
    calc: int
    hedge: bool
    point_value: float
    resolved: dict[str, Any]


class SpanEngine:
    """Completes SpanRiskCalculator records; ``attach()`` subscribes it to the bus."""

    def __init__(self, bus: Bus, store: Store, reg: Registry, clock: Clock,
                 master_fn: Callable[[], Any] = lambda: None, config: SpanConfig = DEFAULT_CONFIG,
                 refresh_ms: int = 1000) -> None:
        self.bus = bus
        self.store = store
        self.reg = reg
        self.clock = clock
        self.mt = reg[MSG]
        self.market = MarketView(store, reg, master_fn)
        self.config = config
        self.refresh_ns = refresh_ms * 1_000_000
        self._last_out: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._computed_ns: dict[tuple[Any, ...], int] = {}
        f = self.mt.field
        self._enum = {name: f(name).enum.names for name in  # type: ignore[union-attr]
                      ("secType", "exType", "modelType", "prcSpanType", "volSpanType",
                       "spanCalcType", "hedgeDeltaNeutral", "volSrc")}

    def attach(self) -> None:
        self.bus.subscribe(MSG, self.on_record, name="SpanEngine")
        self.store.computed_on_read(MSG, self.refresh)

    # ---------------------------------------------------------------- bus
    def on_record(self, msg: Event | ColumnBatch) -> None:
        if not isinstance(msg, Event) or msg.kind != "upsert":
            if isinstance(msg, Event) and msg.kind == "delete":
                pk = pkey_of(self.mt, msg.rec)
                self._last_out.pop(pk, None)
                self._computed_ns.pop(pk, None)
            return
        # a failure here reaches the bus, which names this handler in the poster's PostAck
        pk = pkey_of(self.mt, msg.rec)
        if self._last_out.get(pk) == msg.rec:
            return  # our own output coming back
        stored = self.store.table(self.mt).get(pk)
        if stored is None:
            return
        out = self.compute([stored])[0]
        self._last_out[pk] = out
        self.bus.publish(Event(self.mt, "upsert", out, self.clock.time_ns(), True))

    def refresh(self, table: Table, where: Any = None, who: Any = None) -> None:
        """Recompute records older than ``refresh_ms`` (Default inputs follow the market);
        written straight into the table (no bus traffic, no persistence churn)."""
        now = self.clock.time_ns()
        stale = [table.record(int(row)) for row in table.live_rows()]
        stale = [r for r in stale if now - self._computed_ns.get(pkey_of(self.mt, r), 0)
                 >= self.refresh_ns and (pkey_of(self.mt, r) not in self._computed_ns
                                         or any(r[s] == 0 for s in _SRC_FIELDS))]
        if not stale:
            return
        for out in self.compute(stale):
            pk = pkey_of(self.mt, out)
            table.upsert(out, merge=True, sent_ts=now)
            self._last_out[pk] = out

    # ---------------------------------------------------------------- compute
    def compute(self, recs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Completed output records (pkey + resolved inputs + spans + error + timestamp) of
        full stored records: the batch path (one kernel call per pricing group)."""
        now = self.clock.time_ns()
        recs = list(recs)
        outs: list[dict[str, Any]] = []
        inputs: list[SpanInputs | None] = []
        with self.market.snapshot():
            for rec in recs:
                outs.append(self._resolve_one(rec, now, inputs))
        spans = self.span_matrix([i for i in inputs if i is not None])
        j = 0
        for out, inp in zip(outs, inputs, strict=True):
            vals = np.zeros(len(SPAN_FIELDS))
            if inp is not None:
                vals = spans[j]
                j += 1
                if not np.all(np.isfinite(vals)):
                    out["error"] = "calculation failed (NaN)"
                    vals = np.nan_to_num(vals)
            for name, v in zip(SPAN_FIELDS, vals.tolist(), strict=True):
                out[name] = float(v)
            self._computed_ns[pkey_of(self.mt, out)] = now
        return outs

    def _resolve_one(self, rec: dict[str, Any], now: int, inputs: list[SpanInputs | None]
                     ) -> dict[str, Any]:
        out = {f.name: rec.get(f.name) for f in self.mt.pkey_fields}
        out["timestamp"] = now
        try:
            inp = self.resolve(rec, now)
            out.update(inp.resolved)
            out["error"] = ""
            inputs.append(inp)
        except _SpanError as e:
            out["error"] = str(e)[:32]
            inputs.append(None)
        except Exception as e:  # defensive: a bug must not break the batch
            log.exception("SpanEngine resolve failed")
            out["error"] = f"internal: {type(e).__name__}"[:32]
            inputs.append(None)
        return out

    def span_matrix(self, inputs: list[SpanInputs]) -> np.ndarray:
        """(n, 16) span values (per contract: times pointValue) of resolved inputs."""
        n = len(inputs)
        out = np.zeros((n, len(SPAN_FIELDS)))
        if n == 0:
            return out
        S = np.array([i.S for i in inputs])
        vol = np.array([i.vol for i in inputs])
        t = np.array([i.t for i in inputs])
        S_s, V_s = scenario_grid(S, vol, t, [i.prc_type for i in inputs],
                                 [i.prc_up for i in inputs], [i.prc_dn for i in inputs],
                                 [i.vol_type for i in inputs], [i.vol_span for i in inputs],
                                 self.config)
        pv = np.array([i.point_value for i in inputs])
        groups: dict[SpanModel | None, list[int]] = {}
        for k, i in enumerate(inputs):
            groups.setdefault(i.model if i.is_option else None, []).append(k)
        for model, idx in groups.items():
            ix = np.asarray(idx)
            if model is None:  # stock / future: linear in the underlier, no vol
                calc = np.array([inputs[k].calc for k in idx])
                hedge = np.array([inputs[k].hedge for k in idx])
                lin = (S_s[ix] - S[ix, None]) * self.config.weights()[None, :]
                val = np.where((calc == 0)[:, None], lin, np.where((calc == 1)[:, None], 1.0, 0.0))
                out[ix] = np.where(hedge[:, None], 0.0, val) * pv[ix, None]
                continue
            vals = span_values(S[ix], [inputs[k].K for k in idx], t[ix],
                               [inputs[k].r for k in idx], [inputs[k].q for k in idx], vol[ix],
                               [inputs[k].cp for k in idx], S_s[ix], V_s[ix],
                               [inputs[k].calc for k in idx], [inputs[k].hedge for k in idx],
                               model, self.config)
            out[ix] = vals * pv[ix, None]
        return out

    # ---------------------------------------------------------------- inputs
    def resolve(self, rec: dict[str, Any], now_ns: int) -> SpanInputs:
        """Resolve Default/User inputs of one stored record; raises _SpanError."""
        e = self._enum
        sec = rec.get("secKey")
        sec_type = e["secType"][rec.get("secType", 0)]
        if sec is None:
            raise _SpanError("secKey: required")
        if sec_type not in ("Stock", "Future", "Option"):
            raise _SpanError(f"secType {sec_type} not supported")
        user = (lambda name: rec.get(name + "Src", 0) == 1)  # noqa: E731  FieldSrc User = 1
        is_opt = sec_type == "Option"
        if is_opt and not isinstance(sec, OptionKey):
            raise _SpanError("secKey: need an option key")
        mk = self.market
        okey = sec if isinstance(sec, OptionKey) else None
        known = (okey is None or mk.root_def(okey) is not None
                 or mk._get("OptionNbboQuote", (okey,)) is not None
                 or (mk.master_fn() is not None and mk.master_fn().has_root(sec.tk)))
        res: dict[str, Any] = {}
        # underlier price
        if user("uPrc"):
            u = float(rec["uPrc"])
        else:
            if not known:
                raise _SpanError("unknown security")
            tick = mk.underlier_of(sec) if is_opt else TickerKey(sec.at, sec.ts, sec.tk)
            u = mk.uprc(okey, tick)
            if not math.isfinite(u):
                raise _SpanError("no live uPrc")
        if not (u > 0 and math.isfinite(u)):
            raise _SpanError("uPrc must be > 0")
        res["uPrc"] = u
        # contract terms
        if user("pointValue"):
            pv = float(rec["pointValue"])
        else:
            pv = mk.point_value(sec) if is_opt else 1.0
        if not (pv > 0 and math.isfinite(pv)):
            raise _SpanError("pointValue must be > 0")
        res["pointValue"] = pv
        prc_type, prc_up, prc_dn, vol_type, vol_span = self._spans(rec, sec)
        calc = int(rec.get("spanCalcType", 0))
        hedge = e["hedgeDeltaNeutral"][rec.get("hedgeDeltaNeutral", 0)] == "Yes"
        if not is_opt:
            return SpanInputs(False, u, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, SpanModel(), prc_type,
                              prc_up, prc_dn, vol_type, vol_span, calc, hedge, pv, res)
        assert okey is not None
        sym = float(rec["symRatio"]) if user("symRatio") else mk.sym_ratio(okey)
        if not (sym > 0 and math.isfinite(sym)):
            raise _SpanError("symRatio must be > 0")
        res["symRatio"] = sym
        K = float(rec["effStrike"]) if user("effStrike") else float(okey.xx)
        if not (K > 0 and math.isfinite(K)):
            raise _SpanError("effStrike must be > 0")
        res["effStrike"] = K
        if user("exType"):
            ex = _EXTYPES[rec.get("exType", 0)]
            if ex not in ("American", "European"):
                raise _SpanError("exType: American or European")
        else:
            ex = mk.exercise(okey)
        res["exType"] = _EXTYPES.index(ex)
        if user("years"):
            years = float(rec["years"])
        else:
            years = mk.years_between(now_ns, mk.expiry_ns(okey))
        if not (years >= 0 and math.isfinite(years)):
            raise _SpanError("years must be >= 0")
        res["years"] = years
        t = years
        adj = float(rec.get("adjYears", -1.0))
        if adj != -1.0:
            t += adj
        mx = float(rec.get("maxYears", -1.0))
        if mx != -1.0 and mx >= 0:
            t = min(t, mx)
        t = max(t, 0.0)
        ekey = ExpiryKey(okey.at, okey.ts, okey.tk, okey.dt)
        r_def, q_def = mk.rate_sdiv(okey, ekey)
        r = float(rec["rate"]) if user("rate") else r_def
        q = float(rec["sdiv"]) if user("sdiv") else q_def
        if not (math.isfinite(r) and math.isfinite(q)):
            raise _SpanError("rate/sdiv must be finite")
        res["rate"], res["sdiv"] = r, q
        b76 = mk.is_future_model(okey)
        mt_name = MODEL_TYPES[rec.get("modelType", 0)] if user("modelType") else "None"
        if mt_name == "None":
            mt_name = "LogNormalExact"
        res["modelType"] = MODEL_TYPES.index(mt_name)
        today = trade_date_of(now_ns)
        div_t, div_a = self._dividends(rec, user("div"), okey, today, b76)
        S = u * sym
        divs = (div_t, tuple(a * sym for a in div_a)) if div_t else None
        if user("vol"):
            vol = float(rec["vol"])
        else:
            vol = mk.surface_vol(okey, u, t, r, q, ex == "American")
            if not math.isfinite(vol):
                raise _SpanError("no live vol")
        if not math.isfinite(vol) or vol < 0:
            raise _SpanError("vol must be >= 0")
        res["vol"] = vol
        model = SpanModel.from_model_type(mt_name, ex == "American", b76, divs)
        cp = 1.0 if okey.cp == "Call" else -1.0
        return SpanInputs(True, S, K, t, r, q, vol, cp, model, prc_type, prc_up, prc_dn,
                          vol_type, vol_span, calc, hedge, pv, res)

    def _dividends(self, rec: dict[str, Any], user: bool, okey: OptionKey, today: date,
                   b76: bool) -> tuple[tuple[float, ...], tuple[float, ...]]:
        if b76:
            return (), ()
        if user:
            try:
                return parse_div_string(str(rec.get("divString", "")), today)
            except DivStringError as e:
                raise _SpanError(str(e)) from None
        und = self.market.underlier_of(okey)
        return self.market.dividends(und, today, date.fromisoformat(okey.dt))

    def _spans(self, rec: dict[str, Any], sec: Any) -> tuple[int, float, float, int, float]:
        pt = int(rec.get("prcSpanType", _EXCH_P))
        vt = int(rec.get("volSpanType", _EXCH_V))
        up, dn, vs = float(rec.get("prcSpanUp", 0)), float(rec.get("prcSpanDn", 0)), \
            float(rec.get("volSpan", 0))
        if not all(math.isfinite(x) and x >= 0 for x in (up, dn, vs)):
            raise _SpanError("spans must be >= 0")
        if pt == _EXCH_P or vt == _EXCH_V:
            d = exch_default(self.market.product_class(sec))
            if pt == _EXCH_P:
                pt, up, dn = _PCT, d.prc_up, d.prc_dn
            if vt == _EXCH_V:
                vt, vs = _VPCT, d.vol_span
        return pt, up, dn, vt, vs
