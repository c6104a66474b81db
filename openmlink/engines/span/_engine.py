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
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, ClassVar

import numpy as np

from ...analytics.span import (
    DEFAULT_CONFIG,
    SPAN_FIELDS,
    SpanConfig,
    SpanModel,
    exch_default,
    scenario_grid,
    span_values,
)
from ...bus import Bus, ColumnBatch, Event
from ...clock import Clock
from ...schema import ExpiryKey, OptionKey, Registry, TickerKey, pkey_of
from ...store import Store, Table
from ...timeutil import trade_date_of
from ..marketview import MarketView
from ._resolve import (
    SpanInputError,
    SpanInputs,
    SpanLive,
    finish_inputs,
    is_user,
    resolve_terms,
    span_settings,
)

__all__ = ["SpanEngine", "SpanInputs"]

log = logging.getLogger("openmlink.engines.span")
MSG = "SpanRiskCalculator"
#: the FieldSrc inputs; a record whose inputs are all User never needs recomputing
_SRC_FIELDS = ("volSrc", "uPrcSrc", "yearsSrc", "sdivSrc", "rateSrc", "exTypeSrc", "effStrikeSrc",
               "symRatioSrc", "divSrc", "modelTypeSrc", "pointValueSrc")


class SpanEngine:
    """Completes SpanRiskCalculator records; ``attach()`` subscribes it to the bus."""

    #: the column data it reads (its market, through a MarketView)
    READS: ClassVar[frozenset[str]] = MarketView.READS

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
        except SpanInputError as e:
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
        """Resolve Default/User inputs of one stored record (raises ``SpanInputError``): the
        live values of its Default inputs are gathered from the market view, then combined
        with the posted ones (``resolve_terms``/``finish_inputs``, pure); an option's live vol
        is read at its resolved terms."""
        e = self._enum
        sec = rec.get("secKey")
        sec_type = e["secType"][rec.get("secType", 0)]
        if sec is None:
            raise SpanInputError("secKey: required")
        if sec_type not in ("Stock", "Future", "Option"):
            raise SpanInputError(f"secType {sec_type} not supported")
        is_opt = sec_type == "Option"
        if is_opt and not isinstance(sec, OptionKey):
            raise SpanInputError("secKey: need an option key")
        live = self._gather(rec, sec, is_opt, now_ns)
        hedge = e["hedgeDeltaNeutral"][rec.get("hedgeDeltaNeutral", 0)] == "Yes"
        terms = resolve_terms(rec, sec, is_opt, live, hedge)
        if isinstance(terms, SpanInputs):
            return terms
        live_vol = None
        if not is_user(rec)("vol"):
            live_vol = self.market.surface_vol(sec, terms.u, terms.t, terms.r, terms.q,
                                               terms.exercise == "American")
        return finish_inputs(rec, sec, terms, live.b76, live_vol)

    def _gather(self, rec: dict[str, Any], sec: Any, is_opt: bool, now_ns: int) -> SpanLive:
        """The market's values for the record's Default inputs (only those)."""
        user = is_user(rec)
        mk = self.market
        okey = sec if isinstance(sec, OptionKey) else None
        known = (okey is None or mk.root_def(okey) is not None
                 or mk._get("OptionNbboQuote", (okey,)) is not None
                 or (mk.master_fn() is not None and mk.master_fn().has_root(sec.tk)))
        today = trade_date_of(now_ns)
        if not known and not user("uPrc"):
            return SpanLive(False, today)  # refused as an unknown security
        u = None
        if not user("uPrc"):
            tick = mk.underlier_of(sec) if is_opt else TickerKey(sec.at, sec.ts, sec.tk)
            u = mk.uprc(okey, tick)
        pv = None if user("pointValue") else (mk.point_value(sec) if is_opt else 1.0)
        exch = exch_default(mk.product_class(sec)) if span_settings(rec)[4] else None
        if okey is None:
            return SpanLive(known, today, u=u, point_value=pv, exch=exch)
        ekey = ExpiryKey(okey.at, okey.ts, okey.tk, okey.dt)
        r, q = mk.rate_sdiv(okey, ekey)
        b76 = mk.is_future_model(okey)
        divs = None
        if not b76 and not user("div"):
            divs = mk.dividends(mk.underlier_of(okey), today, date.fromisoformat(okey.dt))
        return SpanLive(
            known, today, u=u, point_value=pv, exch=exch,
            sym_ratio=None if user("symRatio") else mk.sym_ratio(okey),
            exercise=None if user("exType") else mk.exercise(okey),
            years=None if user("years") else mk.years_between(now_ns, mk.expiry_ns(okey)),
            rate=r, sdiv=q, b76=b76, dividends=divs)
