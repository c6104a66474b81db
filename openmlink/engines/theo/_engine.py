"""TheoEngine: validates client theo surfaces and computes OptionTheoVol as it is read.

* SpdrTheoExpSurface / SpdrTheoExp2PtCurve posts are stored by the platform; the engine
  validates each surface (with its linked curve) and publishes the outcome on the record's
  ``comment`` (``ERR:<code>``, at most 16 characters; cleared when the record becomes valid).
  The full reason is in every OptionTheoVol row of that surface (``err`` = 1, ``theoErr``).
  ``surface_error(surface, curve)`` is the same check, for a PostAck validator hook.
* ``refUPrc`` / ``refSRAtm`` <= 0 mean "the SR value at record insert": the engine captures
  the live value the first time it sees (or evaluates) the record.
* OptionTheoVol is computed on read (``Store.computed_on_read``): the where clause must name
  ``theoModel`` (``theoModel:eq:NAME``); a caller with a client firm sees only its own models.
  One row per option of every expiry with a visible client surface of that model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, ClassVar

import numpy as np

from ...analytics.theo import BUY_SELL_CONVENTIONS, SKEW_FUNCS, SurfaceSpec, surface_problem
from ...bus import Bus, ColumnBatch, Event
from ...clock import Clock
from ...market import is_trading_day
from ...query import BAnd, BNot, BOr, Leaf, QueryError
from ...schema import DATEKEY_NONE, ExpiryKey, OptionKey, Registry, TickerKey, datekey_from_text, pkey_of
from ...store import Store, Table
from ...timeutil import trade_date_of
from ..marketview import MarketView
from ._compute import OFFSET_FIELDS, VALUE_COLUMNS, TheoInputs, theo_values

__all__ = ["TheoEngine", "surface_error"]

log = logging.getLogger("openmlink.engines.theo")
SURF = "SpdrTheoExpSurface"
CURVE = "SpdrTheoExp2PtCurve"
OTV = "OptionTheoVol"
#: market tables OptionTheoVol is computed from (their first pkey field is a key)
_MARKET_INPUTS = ("StockBookQuote", "OptionNbboQuote", "LiveImpliedQuote", "LiveAtmVol",
                  "LiveSurfaceCurve", "OptExpiryDefinition", "RootDefinition", "TickerDefinition")
_PARAMS = tuple(f"param{c}" for c in "ABCDEFGHIJ")
_X = tuple(f"x{i:02d}" for i in range(15))
_Y = tuple(f"y{i:02d}" for i in range(15))
_STATUS = ("Hold", "Auto", "Scanner", "Markup", "CloseOnly")
_DIVRULES = ("UseSRImplied", "SDivValue", "SDivOffset", "MinMaxValue")
_CODES = (("Weight", "ERR:weight [0,1]"), ("SVI", "ERR:SVI params"), ("needs a Spdr", "ERR:no 2pt curve"),
          ("must increase", "ERR:curve x"), ("points", "ERR:curve pts"), ("SRDynCurve", "ERR:theoVol"),
          ("skewFunc None", "ERR:skewFunc"), ("minUBid", "ERR:minUBid"))


def _spec(surf: dict[str, Any], curve: dict[str, Any] | None, x_axis_names: tuple[str, ...]
          ) -> SurfaceSpec:
    return SurfaceSpec(
        skew_func=SKEW_FUNCS[surf.get("skewFunc", 0)],
        params=tuple(float(surf.get(p, 0.0)) for p in _PARAMS),
        theo_vol=float(surf.get("theoVol", 0.0)),
        ref_uprc=float(surf.get("refUPrc", 0.0)),
        ref_uprc_weight=float(surf.get("refUPrcWeight", 0.0)),
        ref_sr_atm=float(surf.get("refSRAtm", 0.0)),
        ref_sr_atm_weight=float(surf.get("refSRAtmWeight", 0.0)),
        tv_slope=float(surf.get("tvSlope", 0.0)),
        curve_axis=x_axis_names[curve.get("xAxisType", 0)] if curve else "None",
        axis_vol=float(curve.get("axisVol", 0.0)) if curve else 0.0,
        curve_x=tuple(float(curve.get(x, 0.0)) for x in _X) if curve else (),
        curve_y=tuple(float(curve.get(y, 0.0)) for y in _Y) if curve else (),
    )


def surface_error(surf: dict[str, Any], curve: dict[str, Any] | None,
                  x_axis_names: tuple[str, ...] = ("None",)) -> str:
    """'' when a SpdrTheoExpSurface record (internal form) with its linked curve is usable,
    else a clear reason (the check a PostAck validator hook could run)."""
    mn, mx = float(surf.get("minUBid", 0.0)), float(surf.get("maxUAsk", 0.0))
    if mn > 0 and mx > 0 and mn > mx:
        return "minUBid must be <= maxUAsk"
    return surface_problem(_spec(surf, curve, x_axis_names), curve is not None)


def _models_of(where: Any) -> set[str]:
    """theoModel values named by eq/in comparisons of a bound where clause."""
    out: set[str] = set()
    stack = [where]
    while stack:
        n = stack.pop()
        if isinstance(n, Leaf):
            if n.field == "theoModel" and n.op == "eq":
                out.add(str(n.a))
            elif n.field == "theoModel" and n.op == "in":
                out.update(str(x) for x in n.a)
        elif isinstance(n, (BAnd, BOr)):
            stack.extend(n.items)
        elif isinstance(n, BNot):
            pass  # theoModel:ne: does not name a model
    return out


@dataclass(frozen=True, slots=True)
class _Gathered:
    """One surface's inputs (``TheoInputs``) and what its rows carry besides the values."""

    inputs: TheoInputs
    okeys: list[OptionKey]
    nb_rows: np.ndarray  # the options' OptionNbboQuote rows
    ticker: TickerKey
    ubid: float
    uask: float
    ddiv: float  # cash dividends before expiry
    sr: dict[str, np.ndarray]  # SR surface columns per option
    status: str  # theoStatus name
    problem: str  # why the surface cannot be evaluated ('' when it can)
    now: int


@dataclass(slots=True)
class _Eval:
    """What one surface's OptionTheoVol rows were computed from, and where they are."""

    inputs: tuple[int, int]  # row_seq of the surface record and of its curve (-1: none)
    epoch: int  # the market-change epoch they saw
    at_ns: int  # clock time of the evaluation
    underlier: str  # underlier ticker symbol
    okeys: list[OptionKey]
    rows: np.ndarray  # their OptionTheoVol rows
    stamps: np.ndarray  # row_seq of those rows after our write (another writer changes it)


class TheoEngine:
    """Client theo surfaces; ``attach()`` subscribes it and registers OptionTheoVol.

    OptionTheoVol is computed on read from the market tables in ``_MARKET_INPUTS`` and the
    surface/curve records: a write to any of them marks the table stale (its streams wake), and
    each read re-evaluates only the surfaces whose inputs changed since their last evaluation
    -- per expiry for option and expiry records, per ticker for stock and root records -- or
    that are older than ``refresh_s`` (time decay; applied at the next read).
    """

    #: the column data it reads: the market inputs and a MarketView's tables
    READS: ClassVar[frozenset[str]] = frozenset(_MARKET_INPUTS) | MarketView.READS

    def __init__(self, bus: Bus, store: Store, reg: Registry, clock: Clock,
                 master_fn: Callable[[], Any] = lambda: None, refresh_s: float = 60.0) -> None:
        self.bus, self.store, self.reg, self.clock = bus, store, reg, clock
        self.refresh_ns = int(refresh_s * 1e9)
        self.market = MarketView(store, reg, master_fn)
        self.surf_mt = reg[SURF]
        self.curve_mt = reg[CURVE]
        self.otv_mt = reg[OTV]
        self.x_axis_names: tuple[str, ...] = self.curve_mt.field("xAxisType").enum.names  # type: ignore[union-attr]
        self._refs: dict[tuple[Any, ...], tuple[float, float]] = {}
        self._last_out: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._chain: tuple[int, int, dict[ExpiryKey, list[tuple[OptionKey, int]]]] | None = None
        self._evals: dict[tuple[Any, ...], _Eval] = {}
        self._cursors: dict[str, tuple[int, int]] = {}  # market input -> (log cursor, seq)
        self._touched: dict[tuple[str, int], int] = {}  # (ticker, expiry day | NONE) -> epoch
        self._epoch = 0
        self._all_epoch = 0
        self._clean_key: tuple[Any, ...] | None = None

    def attach(self) -> None:
        self.bus.subscribe(SURF, self.on_record, name="TheoEngine")
        self.bus.subscribe(CURVE, self.on_record, name="TheoEngine")
        self.store.computed_on_read(OTV, self.refresh, inputs=(SURF, CURVE, *_MARKET_INPUTS))

    # ---------------------------------------------------------------- validation
    def on_record(self, msg: Event | ColumnBatch) -> None:
        if not isinstance(msg, Event):
            return
        # a failure here reaches the bus, which names this handler in the poster's PostAck
        mt = msg.mt
        pk = pkey_of(mt, msg.rec)
        if msg.kind == "delete":
            if mt is self.surf_mt:
                self._refs.pop(pk, None)
                self._last_out.pop(pk, None)
                self._evals.pop(pk, None)
            else:
                self._validate(pk)
            return
        if mt is self.surf_mt and self._last_out.get(pk) == msg.rec:
            return  # our own comment update
        self._validate(pk)

    def _validate(self, pk: tuple[Any, ...]) -> None:
        surf = self.store.table(self.surf_mt).get(pk)
        if surf is None:
            return
        self._capture_refs(pk, surf)
        problem = surface_error(surf, self.store.table(self.curve_mt).get(pk), self.x_axis_names)
        comment = str(surf.get("comment", ""))
        new = comment
        if problem:
            new = next((c for key, c in _CODES if key in problem), "ERR:invalid")
        elif comment.startswith("ERR:"):
            new = ""
        if new != comment:
            out = {f.name: surf[f.name] for f in self.surf_mt.pkey_fields}
            out["comment"] = new
            self._last_out[pk] = out
            self.bus.publish(Event(self.surf_mt, "upsert", out, self.clock.time_ns(), True))

    def _capture_refs(self, pk: tuple[Any, ...], surf: dict[str, Any]) -> tuple[float, float]:
        """refUPrc / refSRAtm, the live values at first sight when the record has <= 0."""
        got = self._refs.get(pk)
        ek = surf["ekey"]
        if got is None or not (got[0] > 0) or not (got[1] > 0):
            tick = surf.get("ticker") or self.market.underlier_of(ek)
            u = self.market.stock_quote(TickerKey(*tick[:3]))[0]
            atm = self._sr_atm(ek)
            old = got or (math.nan, math.nan)
            got = (old[0] if old[0] > 0 else u, old[1] if old[1] > 0 else atm)
            self._refs[pk] = got
        ru = float(surf.get("refUPrc", 0.0))
        ra = float(surf.get("refSRAtm", 0.0))
        return (ru if ru > 0 else got[0], ra if ra > 0 else got[1])

    def _sr_atm(self, ek: ExpiryKey) -> float:
        mt = self.reg.get("LiveAtmVol")
        if mt is not None:
            rec = self.store.table(mt).get((ek,))
            for name in ("atmVol", "atmCen", "sVol"):
                if rec and name in rec and rec[name] > 0:
                    return float(rec[name])
        for okey, _row in self._chain_of(ek)[:1]:
            liq = self.market.live_quote(okey)
            if liq and liq["atmVol"] > 0:
                return float(liq["atmVol"])
        return math.nan

    # ---------------------------------------------------------------- chains
    def _chain_of(self, ek: ExpiryKey) -> list[tuple[OptionKey, int]]:
        nb = self.store.table(self.reg["OptionNbboQuote"])
        if self._chain is None or self._chain[0] != nb.count or (self._chain[1] != nb.seq and \
                nb.count != len(self._chain[2]) and False):
            by: dict[ExpiryKey, list[tuple[OptionKey, int]]] = {}
            for pk, row in nb.index.items():
                o = pk[0]
                by.setdefault(ExpiryKey(o.at, o.ts, o.tk, o.dt), []).append((o, row))
            for lst in by.values():
                lst.sort(key=lambda x: (x[0].xx, x[0].cp))
            self._chain = (nb.count, nb.seq, by)
        return self._chain[2].get(ek, [])

    # ---------------------------------------------------------------- OptionTheoVol
    def refresh(self, table: Table, where: Any = None, who: Any = None) -> None:
        """Bring the OptionTheoVol rows of the reader's models up to date: re-evaluate the
        surfaces whose inputs changed (or whose rows another reader overwrote, or older than
        ``refresh_s``), rewrite only the rows whose values changed, and delete rows of these
        models that no visible surface owns."""
        models = _models_of(where)
        if not models:
            raise QueryError("OptionTheoVol: the where clause must name the theo model "
                             "(e.g. where=theoModel:eq:MyModel)")
        firm = getattr(who, "client_firm", None)
        self._scan_inputs()
        st = self.store.table(self.surf_mt)
        curves = self.store.table(self.curve_mt)
        now = self.clock.time_ns()
        owned: list[np.ndarray] = []
        wrote = False
        for row in st.live_rows().tolist():
            surf = st.record(row)
            if surf["theoModel"] not in models or (firm is not None and surf["clientFirm"] != firm):
                continue
            pk = pkey_of(self.surf_mt, surf)
            crow = curves.index.get(pk)
            inputs = (int(st.row_seq[row]), -1 if crow is None else int(curves.row_seq[crow]))
            ev = self._evals.get(pk)
            if ev is None or self._dirty(ev, surf, inputs, table, now):
                ev, n = self._write(table, surf, ev, inputs, now)
                wrote |= n > 0
            owned.append(ev.rows)
        for pk in [pk for pk in self._evals if pk not in st.index]:
            del self._evals[pk]  # surfaces deleted
        clean_key = (frozenset(models), firm, table.seq, st.seq)
        if wrote or clean_key != self._clean_key:
            self._delete_unowned(table, models, owned)
            self._clean_key = (frozenset(models), firm, table.seq, st.seq)

    def _scan_inputs(self) -> None:
        """Note, per (ticker, expiry day) and per ticker, the epoch of the latest change of the
        market tables OptionTheoVol reads (their change logs since the last scan)."""
        bumped = False
        for name in _MARKET_INPUTS:
            mt = self.reg.get(name)
            if mt is None:
                continue
            t = self.store.table(mt)
            cur, seq = self._cursors.get(name, (0, 0))
            if cur >= t.log_count:
                continue
            rows, cur = t.changed_since(cur, seq)
            self._cursors[name] = (cur, t.seq)
            if len(rows) == 0:
                continue
            if not bumped:
                self._epoch += 1
                bumped = True
            live = t.alive[rows]
            if not live.all():  # a deletion: its key is gone, so every surface is dirty
                self._all_epoch = self._epoch
            rows = rows[live]
            key = t.mt.pkey_fields[0]
            tk = t.cols[f"{key.name}.tk"][rows].astype(np.int64)
            dt = (t.cols[f"{key.name}.dt"][rows].astype(np.int64) if f"{key.name}.dt" in t.cols
                  else np.full(len(rows), DATEKEY_NONE, np.int64))
            words = t.vocabs[f"{key.name}.tk"].words
            pairs = np.unique((tk << 32) | (dt & 0xFFFFFFFF))
            for code, day in zip((pairs >> 32).tolist(), (pairs & 0xFFFFFFFF).tolist(), strict=True):
                d = day - (1 << 32) if day >= 1 << 31 else day
                self._touched[(words[code], d)] = self._epoch

    def _dirty(self, ev: _Eval, surf: dict[str, Any], inputs: tuple[int, int], table: Table,
               now: int) -> bool:
        if ev.inputs != inputs or now - ev.at_ns >= self.refresh_ns or self._all_epoch > ev.epoch:
            return True
        ek: ExpiryKey = surf["ekey"]
        touched = self._touched
        for key in ((ek.tk, datekey_from_text(ek.dt)), (ek.tk, DATEKEY_NONE),
                    (ev.underlier, DATEKEY_NONE)):
            if touched.get(key, 0) > ev.epoch:
                return True
        # rows another reader overwrote or deleted since (another model or firm on the okeys)
        return bool(len(ev.rows)) and not np.array_equal(table.row_seq[ev.rows], ev.stamps)

    def _write(self, table: Table, surf: dict[str, Any], ev: _Eval | None, inputs: tuple[int, int],
               now: int) -> tuple[_Eval, int]:
        """Evaluate one surface and write its rows whose values changed; its new state and the
        number of rows written."""
        pk = pkey_of(self.surf_mt, surf)
        tick = surf.get("ticker") or self.market.underlier_of(surf["ekey"])
        cols = self.evaluate(surf)
        if cols is None:
            new = _Eval(inputs, self._epoch, now, str(tick[2]), [], np.zeros(0, np.int64),
                        np.zeros(0, np.int64))
            self._evals[pk] = new
            return new, 0
        okeys: list[OptionKey] = cols.pop("_okeys")
        sent = self.clock.time_ns()
        if ev is not None and ev.okeys == okeys and len(ev.rows) and \
                np.array_equal(table.row_seq[ev.rows], ev.stamps):
            rows = ev.rows
            change = table.differs(rows, {c: v for c, v in cols.items() if c != "timestamp"})
            idx = np.flatnonzero(change)
            if len(idx):
                table.upsert_columns({c: np.asarray(v)[idx] for c, v in cols.items()}, sent_ts=sent)
        else:
            rows = table.upsert_columns(cols, sent_ts=sent)
            idx = np.arange(len(rows))
        new = _Eval(inputs, self._epoch, now, str(tick[2]), okeys, rows, table.row_seq[rows].copy())
        self._evals[pk] = new
        return new, len(idx)

    def _delete_unowned(self, table: Table, models: set[str], owned: list[np.ndarray]) -> None:
        """Delete rows of ``models`` that no surface visible to this reader owns (surfaces
        deleted, or another firm's: a reader never sees another firm's theo values)."""
        vocab = table.vocabs["theoModel"]
        codes = [vocab.codes[m] for m in models if m in vocab.codes]
        if not codes:
            return
        rows = table.live_rows()
        stale = rows[np.isin(table.cols["theoModel"][rows], codes)]
        if owned:
            stale = stale[~np.isin(stale, np.concatenate(owned))]
        okey = [self.otv_mt.pkey_fields[0]]
        for r in stale.tolist():
            table.delete((table.record(r, okey)["okey"],))

    def evaluate(self, surf: dict[str, Any]) -> dict[str, Any] | None:
        """OptionTheoVol columns (``upsert_columns`` form, plus ``_okeys``) of one surface:
        inputs gathered from the live tables, values computed (``theo_values``, pure), columns
        assembled; None when the expiry has no options."""
        got = self._gather(surf)
        if got is None:
            return None
        values = None if got.problem else theo_values(got.inputs)
        return self._assemble(surf, got, values)

    def _gather(self, surf: dict[str, Any]) -> _Gathered | None:
        """Everything one surface's rows need, read from the live tables and the market view."""
        ek: ExpiryKey = surf["ekey"]
        chain = self._chain_of(ek)
        if not chain:
            return None
        pk = pkey_of(self.surf_mt, surf)
        mk = self.market
        n = len(chain)
        okeys = [o for o, _ in chain]
        nb = self.store.table(self.reg["OptionNbboQuote"])
        nb_rows = np.fromiter((r for _, r in chain), np.int64, n)
        K = np.fromiter((o.xx for o in okeys), np.float64, n)
        cp = np.where(nb.cols["okey.cp"][nb_rows] == 0, 1.0, -1.0)
        tick_t = surf.get("ticker") or mk.underlier_of(ek)
        tick = TickerKey(*tick_t[:3])
        u, ub, ua = mk.stock_quote(tick)
        if not math.isfinite(u):
            u = mk.uprc(okeys[0], tick)
        now = self.clock.time_ns()
        T = mk.years_between(now, mk.expiry_ns(ek))
        t_vol = T if surf.get("volTimeUnits", 0) == 0 else self._v6_years(now, ek)
        r, q = mk.rate_sdiv(okeys[0], ek)
        b76 = mk.is_future_model(ek)
        today = trade_date_of(now)
        divs = () if b76 else mk.dividends(tick, today, date.fromisoformat(ek.dt))
        div_t, div_a = (divs if divs else ((), ()))
        live_div = [(t, a) for t, a in zip(div_t, div_a, strict=True) if 0 < t <= T]
        dividends = (np.array([t for t, _ in live_div]), np.array([a for _, a in live_div])) \
            if live_div else None
        if b76:
            carry = 1.0
        else:
            pv = sum(a * math.exp(-r * t) for t, a in live_div)
            carry = (u - pv) / u * math.exp((r - q) * T) if u > 0 else 1.0
        sr = self._sr_columns(okeys)
        sr["sVol"][sr["sVol"] <= 0] = np.nan
        ref_u, ref_atm = self._capture_refs(pk, surf)
        curve = self.store.table(self.curve_mt).get(pk)
        spec = _spec(surf, curve, self.x_axis_names)
        spec.ref_uprc = ref_u if ref_u > 0 else u
        spec.ref_sr_atm = ref_atm if ref_atm > 0 else 0.0
        problem = surface_error(surf, curve, self.x_axis_names)
        if not (u > 0):
            problem = problem or "no live underlier price"
        status = _STATUS[surf.get("theoStatus", 0)]
        mn, mxa = float(surf.get("minUBid", 0.0)), float(surf.get("maxUAsk", 0.0))
        if status != "Hold" and u > 0 and ((mn > 0 and u < mn) or (mxa > 0 and u > mxa)):
            status = "Markup"
        q_b, q_s = self._sdiv_sides(surf, q)
        inputs = TheoInputs(
            K=K, cp=cp, u=u, T=T, t_vol=t_vol, r=r, q=q, q_buy=q_b, q_sell=q_s,
            exercise="american" if mk.exercise(ek) == "American" else "european",
            model="black76" if b76 else "black_scholes", dividends=dividends, carry=carry,
            svol=sr["sVol"], iatm=sr["atmVol"], live_atm=self._sr_atm(ek), spec=spec,
            convention=BUY_SELL_CONVENTIONS[surf.get("buySellConvention", 0)],
            offsets={f: float(surf.get(f, 0.0)) for f in OFFSET_FIELDS})
        return _Gathered(inputs, okeys, nb_rows, tick, ub, ua, float(sum(a for _, a in live_div)),
                         sr, status, problem, now)

    def _sr_columns(self, okeys: list[OptionKey]) -> dict[str, np.ndarray]:
        """The SR surface's sVol, sPrc, de, ve, atmVol per option (NaN where it has none)."""
        liq_t = self.store.table(self.reg["LiveImpliedQuote"])
        lr = np.fromiter((liq_t.index.get((o,), -1) for o in okeys), np.int64, len(okeys))
        has = lr >= 0
        out = {}
        for col in ("sVol", "sPrc", "de", "ve", "atmVol"):
            v = np.full(len(okeys), np.nan)
            if has.any():
                v[has] = liq_t.cols[col][lr[has]]
            out[col] = v
        return out

    def _assemble(self, surf: dict[str, Any], got: _Gathered, values: dict[str, Any] | None
                  ) -> dict[str, Any]:
        """The ``upsert_columns`` form of the rows: keys, market context and the values (NaN
        and the problem in ``theoErr`` when the surface cannot be evaluated)."""
        nb = self.store.table(self.reg["OptionNbboQuote"])
        inp, rows, okeys = got.inputs, got.nb_rows, got.okeys
        n = len(okeys)
        sr = got.sr
        cols: dict[str, Any] = {
            "okey.at": nb.cols["okey.at"][rows], "okey.ts": nb.cols["okey.ts"][rows],
            "okey.tk": np.array([o.tk for o in okeys], dtype=object),
            "okey.dt": nb.cols["okey.dt"][rows], "okey.xx": inp.K,
            "okey.cp": nb.cols["okey.cp"][rows],
            "theoModel": np.full(n, surf["theoModel"], dtype=object),
            "clientFirmOut": np.full(n, surf["clientFirm"], dtype=object),
            "ticker.at": np.full(n, nb.cols["okey.at"][rows[0]], np.int16),
            "ticker.ts": np.full(n, nb.cols["okey.ts"][rows[0]], np.int16),
            "ticker.tk": np.full(n, got.ticker.tk, dtype=object),
            "years": np.full(n, inp.t_vol), "uprc": np.full(n, inp.u), "ubid": np.full(n, got.ubid),
            "uask": np.full(n, got.uask), "obid": nb.cols["bidPrice"][rows] * 1.0,
            "oask": nb.cols["askPrice"][rows] * 1.0,
            "ivolAtm": sr["atmVol"], "svol": sr["sVol"], "sprc": sr["sPrc"],
            "sDe": sr["de"], "sVe": sr["ve"], "rate": np.full(n, inp.r), "sdiv": np.full(n, inp.q),
            "ddiv": np.full(n, got.ddiv), "theoStatus": np.full(n, _STATUS.index(got.status), np.int16),
            "timestamp": np.full(n, got.now, np.int64),
        }
        if values is None:
            nan = np.full(n, np.nan)
            cols.update({c: nan for c in VALUE_COLUMNS})
            cols.update({"err": np.ones(n, np.int64), "theoErr": np.full(n, got.problem, dtype=object),
                         "calcErr": np.full(n, "", dtype=object)})
        else:
            cols.update(values)
            cols.update({"err": np.zeros(n, np.int64), "theoErr": np.full(n, "", dtype=object)})
        cols["_okeys"] = okeys
        return cols

    def _sdiv_sides(self, surf: dict[str, Any], q: float) -> tuple[float, float]:
        """(buy, sell) sdiv by ``divRule``: UseSRImplied q; SDivValue lnSDiv/shSDiv; SDivOffset
        q + lnSDiv / q + shSDiv; MinMaxValue min(q, lnSDiv) / max(q, shSDiv)."""
        rule = _DIVRULES[surf.get("divRule", 0)]
        ln, sh = float(surf.get("lnSDiv", 0.0)), float(surf.get("shSDiv", 0.0))
        if rule == "SDivValue":
            return ln, sh
        if rule == "SDivOffset":
            return q + ln, q + sh
        if rule == "MinMaxValue":
            return min(q, ln), max(q, sh)
        return q, q

    def _v6_years(self, now_ns: int, ek: ExpiryKey) -> float:
        """V6 time: trading days after today up to the expiry date, / 252."""
        today = trade_date_of(now_ns)
        end = date.fromisoformat(ek.dt)
        n, d = 0, today + timedelta(days=1)
        while d <= end:
            n += bool(is_trading_day(d))
            d += timedelta(days=1)
        return n / 252.0
