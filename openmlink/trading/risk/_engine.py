"""The risk engine: SpdrParentExecution in; OptionPositionRecordV5, StockPositionRecordV5 and
SymbolRiskSummaryV5 out (published for the changed symbol on every fill, ``Priority``, and for
every symbol each ``loop_s``, ``Loop``).  Engines never read wall time: the injected clock
gives timestamps and the trade date of start-of-day positions."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

import numpy as np

from ...analytics import AmericanModel
from ...bus import Bus, ColumnBatch, Event
from ...clock import Clock
from ...engines.marketview import MarketView
from ...market import key_ordinal
from ...schema import OptionKey, Registry, TickerKey, datekey_from_text, pkey_of
from ...store import Store
from ...timeutil import trade_date_of
from ._market import gather
from ._positions import Fill, OptPos, PositionBook, PosKey, StkPos
from ._reval import SLIDES, slide_pnl
from ._sod import SodPosition

__all__ = ["RiskConfig", "RiskEngine", "day_number"]

log = logging.getLogger("openmlink.trading.risk")

_EPOCH = date(1970, 1, 1)
#: (underlier, accnt, tradeDate, riskSession, clientFirm)
GroupKey = tuple[TickerKey, str, int, int, str]


def _ordinal(reg: Registry, msg: str, field: str, name: str) -> int:
    f = reg[msg].field(field)
    if f is None or f.enum is None:
        raise KeyError(f"{msg}.{field} is not an enum field")
    return f.enum.names.index(name)


def day_number(d: date) -> int:
    """A DateKey value (days since 1970-01-01)."""
    return (d - _EPOCH).days


@dataclass
class RiskConfig:
    #: seconds between two Loop publications of every symbol
    loop_s: float = 60.0
    #: American pricer of the slides: the implied-quote engine's (EngineConfig.american_model)
    american_model: AmericanModel = "alo"


class RiskEngine:
    #: the column data it reads: the surface, greeks and quotes of the positions' series
    #: (``_market``) and a MarketView's tables
    READS: ClassVar[frozenset[str]] = frozenset(
        {"LiveImpliedQuote", "OptionNbboQuote", "LiveSurfaceCurve"}) | MarketView.READS

    def __init__(self, bus: Bus, store: Store, reg: Registry, clock: Clock, *,
                 master_fn: Callable[[], Any] = lambda: None, sod: Sequence[SodPosition] = (),
                 config: RiskConfig | None = None) -> None:
        self.bus, self.store, self.reg, self.clock = bus, store, reg, clock
        self.config = config or RiskConfig()
        self.view = MarketView(store, reg, master_fn)
        self.book = PositionBook()
        self.sod = list(sod)
        self._mt = {n: reg[n] for n in ("SpdrParentExecution", "OptionPositionRecordV5",
                                        "StockPositionRecordV5", "SymbolRiskSummaryV5",
                                        "AccountRiskRecordV5")}
        X, S = "SpdrParentExecution", "SymbolRiskSummaryV5"
        self._fill = _ordinal(reg, X, "execStatus", "Fill")
        self._bust = _ordinal(reg, X, "execStatus", "Bust")
        self._correct = _ordinal(reg, X, "execStatus", "Correct")  # a fill at a new price
        self._buy = _ordinal(reg, X, "orderSide", "Buy")
        self._opt, self._stk = _ordinal(reg, X, "secType", "Option"), _ordinal(reg, X, "secType", "Stock")
        self._hedge_src = {_ordinal(reg, X, "spdrSource", n) for n in ("AutoHedge", "AutoHedgeSrvr")}
        self._loop = _ordinal(reg, S, "updateSource", "Loop")
        self._prio = _ordinal(reg, S, "updateSource", "Priority")
        self._regular = 0  # RiskSession.Regular
        self._und: dict[OptionKey, TickerKey] = {}
        self.groups: dict[GroupKey, tuple[set[PosKey], set[PosKey]]] = {}
        self.last: dict[GroupKey, dict[str, Any]] = {}  # latest SymbolRiskSummaryV5 per group
        self._usd = _ordinal(reg, "AccountRiskRecordV5", "currency", "USD")
        self._unsub: list[Callable[[], None]] = []

    # ---------------------------------------------------------------- wiring
    def attach(self) -> None:
        """Opening positions, then every execution already in the store (the day's fills
        replayed at start), then live executions from the bus; publishes everything once."""
        self.load_sod(self.sod)
        t = self.store.table(self._mt["SpdrParentExecution"])
        for row in t.live_rows():
            self.on_execution(t.record(int(row)), publish=False)
        self._unsub.append(self.bus.subscribe("SpdrParentExecution", self._on_exec))
        self.publish(self.groups, self._loop)

    def close(self) -> None:
        for u in self._unsub:
            u()
        self._unsub.clear()

    def _on_exec(self, msg: Event | ColumnBatch) -> None:
        if isinstance(msg, Event):
            if msg.kind == "upsert":  # the stored (merged, complete) record
                rec = self.store.table(msg.mt).get(pkey_of(msg.mt, msg.rec))
                if rec is not None:
                    self.on_execution(rec)
            return
        t = self.store.table(msg.mt)  # a column batch: re-read the stored rows it names
        for row in t.live_rows():
            self.on_execution(t.record(int(row)))

    # ---------------------------------------------------------------- positions
    def underlier(self, okey: OptionKey) -> TickerKey:
        u = self._und.get(okey)
        if u is None:
            u = self._und[okey] = self.view.underlier_of(okey)
        return u

    def _group(self, gk: GroupKey) -> tuple[set[PosKey], set[PosKey]]:
        g = self.groups.get(gk)
        if g is None:
            g = self.groups[gk] = (set(), set())
        return g

    def load_sod(self, sod: Iterable[SodPosition]) -> None:
        td = day_number(trade_date_of(self.clock.time_ns()))
        for p in sod:
            if isinstance(p.key, OptionKey):
                pk: PosKey = (p.key, p.accnt, td, self._regular, p.client_firm)
                pv = self.view.point_value(p.key)
                self.book.set_option_open(pk, p.position, p.mark, pv, round(pv))
                self._group((self.underlier(p.key), *pk[1:]))[0].add(pk)  # type: ignore[arg-type]
            else:
                pk = (p.key, p.accnt, td, self._regular, p.client_firm)
                self.book.set_stock_open(pk, p.position, p.mark)
                self._group((p.key, *pk[1:]))[1].add(pk)  # type: ignore[arg-type]

    def on_execution(self, rec: dict[str, Any], publish: bool = True) -> GroupKey | None:
        """Apply one SpdrParentExecution version; publish its symbol when it changed one."""
        status = rec["execStatus"]
        if status not in (self._fill, self._bust, self._correct) \
                or rec["secType"] not in (self._opt, self._stk):
            return None
        qty = int(rec["fillQuantity"]) if status != self._bust else 0
        if rec["orderSide"] != self._buy:
            qty = -qty
        td = day_number(trade_date_of(rec["fillDttm"] or rec["timestamp"]))
        accnt, firm = rec["accnt"], rec["clientFirm"]
        hedge = rec["spdrSource"] in self._hedge_src
        if rec["secType"] == self._opt:
            okey = rec["secKey"]
            pv = float(rec["pointValue"]) if rec["pointValue"] > 0 else 100.0
            upc = int(rec["underliersPerCn"]) or round(pv)
            pk: PosKey = (okey, accnt, td, self._regular, firm)
            gk: GroupKey = (self.underlier(okey), accnt, td, self._regular, firm)
            done = self.book.apply(rec["fillNumber"], rec["version"], pk, True,
                                   Fill(qty, float(rec["fillPrice"]), pv), rec["fillDttm"],
                                   hedge, pv, upc)
            self._group(gk)[0].add(pk)
        else:
            tk = rec["ticker"]
            pk = (tk, accnt, td, self._regular, firm)
            gk = (tk, accnt, td, self._regular, firm)
            done = self.book.apply(rec["fillNumber"], rec["version"], pk, False,
                                   Fill(qty, float(rec["fillPrice"]), 1.0), rec["fillDttm"], hedge)
            self._group(gk)[1].add(pk)
        if done and publish:
            self.publish([gk], self._prio)
        return gk if done else None

    # ---------------------------------------------------------------- risk
    def publish(self, groups: Iterable[GroupKey], source: int) -> None:
        now = self.clock.time_ns()
        cols, recs = self.compute(list(groups), source, now)
        if cols:
            self.bus.publish(ColumnBatch(self._mt["OptionPositionRecordV5"], cols, now))
        for mt, rec in recs:
            self.bus.publish(Event(self._mt[mt], "upsert", rec, now))

    def tick(self) -> None:
        """One Loop pass: every symbol revalued at the current market."""
        try:
            self.publish(list(self.groups), self._loop)
        except Exception:
            log.exception("risk loop failed")

    def compute(self, groups: Sequence[GroupKey], source: int, now: int
                ) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
        """OptionPositionRecordV5 columns (a ColumnBatch body; empty without options) and the
        StockPositionRecordV5 / SymbolRiskSummaryV5 records of ``groups``."""
        pks: list[PosKey] = []
        gl: list[int] = []
        for gi, gk in enumerate(groups):
            for pk in self.groups[gk][0]:
                pks.append(pk)
                gl.append(gi)
        pos = [self.book.options[pk] for pk in pks]
        n, G = len(pos), len(groups)
        gidx = np.array(gl, np.int64)
        mkt = gather(self.view, [p.okey for p in pos])
        base, dpx = slide_pnl(mkt.inputs(), [s for _, s in SLIDES], self.config.american_model)
        arr = (lambda attr, dt=float: np.fromiter((getattr(p, attr) for p in pos), dt, n))  # noqa: E731
        opn, bot, sld = arr("opn", np.int64), arr("bot", np.int64), arr("sld", np.int64)
        mny_bot, mny_sld, pv = arr("mny_bot"), arr("mny_sld"), arr("point_value")
        upc, opn_mark = arr("upc", np.int64), arr("opn_mark")
        cur = opn + bot - sld
        day = bot - sld
        ok = mkt.ok
        zero = (lambda a: np.where(ok, np.nan_to_num(a), 0.0))  # noqa: E731
        slides = np.where(ok[None, :], dpx * (cur * pv)[None, :], 0.0)
        two = (mkt.bid > 0) & (mkt.ask >= mkt.bid)
        mark = np.where(two, 0.5 * (mkt.bid + mkt.ask), np.where(mkt.smark > 0, mkt.smark, base))
        mark = np.where(ok, mark, np.nan)
        day_pnl = zero(mark * day * pv - (mny_bot - mny_sld))
        opn_pnl = np.where(np.isfinite(opn_mark), zero(opn * (mark - opn_mark) * pv), 0.0)
        g = {k: zero(v) for k, v in mkt.greeks.items()}
        shm = (cur * upc).astype(float)
        cols: dict[str, Any] = {}
        if n:
            cols = self._option_columns(pks, pos, groups, gidx)
            cols.update({
                "underliersPerCn": upc.astype(np.int32), "pointValue": pv, "uPrc": mkt.spot,
                "uMark": mkt.spot, "optBid": mkt.bid, "optAsk": mkt.ask, "optMidMark": mark,
                "optVolMark": mkt.sprc, "optOpnMidMark": opn_mark, "optOpnPos": opn,
                "cnBot": bot, "cnSld": sld, "optMnyBot": mny_bot, "optMnySld": mny_sld,
                "cnNetOpnPos": opn, "cnNetCurPos": cur, "dayPnl": day_pnl,
                "opnPnlMidMark": opn_pnl, "years": mkt.t, "rate": mkt.rate, "sdiv": mkt.q,
                "ddiv": mkt.ddiv, "atmVol": mkt.atm, "iVol": mkt.svol, "hedgeDe": g["de"],
                "err": np.where(ok, 0, 1).astype(np.int8), **g,
                "numExecutions": arr("n_exec", np.int64), "maxExecDttm": arr("max_dttm", np.int64),
                "timestamp": np.full(n, now, np.int64)})
            for j, (name, _) in enumerate(SLIDES):
                cols[name] = slides[j]
        with np.errstate(invalid="ignore", divide="ignore"):
            wt = np.where(ok, shm * mkt.svol * g["ve"] / np.sqrt(np.maximum(0.1, 4.0 * mkt.t)), 0)
        sums = {
            "delta": shm * g["de"], "gamma": shm * g["ga"], "theta": shm * g["th"],
            "vega": shm * g["ve"], "rho": shm * g["rh"], "wtVega": wt,
            "avega": np.abs(shm) * g["ve"], "opDayVega": g["ve"] * day * pv,
            "opDayDelta": g["de"] * day * upc, "opPnlDay": day_pnl, "opCnBot": bot,
            "opCnSld": sld, "opCnAbsCurPos": np.abs(cur),
            "opCnPosCall": np.where(mkt.cpf > 0, cur, 0), "opCnPosPut": np.where(mkt.cpf < 0, cur, 0),
            "opMnyBot": mny_bot, "opMnySld": mny_sld, "numOptErrors": (~ok).astype(float)}
        agg = {k: np.bincount(gidx, weights=np.asarray(v, float), minlength=G) if n
               else np.zeros(G) for k, v in sums.items()}
        agg["maxOptDttm"] = np.zeros(G)
        agg["uPrc"] = np.zeros(G)
        if n:
            np.maximum.at(agg["maxOptDttm"], gidx, arr("max_dttm"))
            okr = np.flatnonzero(ok)
            agg["uPrc"][gidx[okr]] = mkt.spot[okr]
        var = np.zeros((len(SLIDES), G))
        for j in range(len(SLIDES)):
            if n:
                var[j] = np.bincount(gidx, weights=slides[j], minlength=G)
        out: list[tuple[str, dict[str, Any]]] = []
        accounts: set[tuple[str, int, int, str]] = set()
        for gi, gk in enumerate(groups):
            recs = self._symbol(gk, gi, agg, var, source, now)
            self.last[gk] = recs[-1][1]
            accounts.add(gk[1:])
            out.extend(recs)
        out.extend(("AccountRiskRecordV5", self._account(a, now)) for a in sorted(accounts))
        return cols, out

    def _account(self, acct: tuple[str, int, int, str], now: int) -> dict[str, Any]:
        """AccountRiskRecordV5 (currency USD): sums of the account's latest symbol records."""
        syms = [r for gk, r in self.last.items() if gk[1:] == acct]
        tot = (lambda f: float(sum(r[f] for r in syms)))  # noqa: E731
        rec: dict[str, Any] = {
            "accnt": acct[0], "currency": self._usd, "tradeDate": acct[1], "riskSession": acct[2],
            "clientFirm": acct[3], "numSymbols": len(syms), "ddelta": tot("ddelta"),
            "absCurSh": int(sum(abs(r["shOpnPos"] + r["shBot"] - r["shSld"]) for r in syms)),
            "absCurCn": int(tot("opCnAbsCurPos")), "stkDayPnl": tot("stPnlDay"),
            "stkOptDayPnl": tot("opPnlDay"), "opDayVega": tot("opDayVega"),
            "lastActivity": int(max((max(r["maxStkDttm"], r["maxOptDttm"]) for r in syms),
                                    default=0)),
            "timestamp": now}
        for name, _ in SLIDES:
            if name not in ("su06", "sd08"):  # not in the account record
                rec["VaR" + name] = tot("VaR" + name)
        return rec

    def _option_columns(self, pks: list[PosKey], pos: list[OptPos], groups: Sequence[GroupKey],
                        gidx: np.ndarray) -> dict[str, Any]:
        """Key columns (okey, accnt, tradeDate, riskSession, clientFirm, ticker, fkey)."""
        n = len(pks)
        at = {a: key_ordinal("at", a) for a in {p.okey.at for p in pos}}
        ts = {t: key_ordinal("ts", t) for t in {p.okey.ts for p in pos}}
        cp = {c: key_ordinal("cp", c) for c in ("Call", "Put")}
        dts = {d: datekey_from_text(d) for d in {p.okey.dt for p in pos}}
        ok_at = np.fromiter((at[p.okey.at] for p in pos), np.int16, n)
        ok_ts = np.fromiter((ts[p.okey.ts] for p in pos), np.int16, n)
        ok_tk = np.array([p.okey.tk for p in pos], dtype=object)
        ok_dt = np.fromiter((dts[p.okey.dt] for p in pos), np.int32, n)
        und = [groups[int(g)][0] for g in gidx.tolist()]
        return {
            "okey.at": ok_at, "okey.ts": ok_ts, "okey.tk": ok_tk, "okey.dt": ok_dt,
            "okey.xx": np.fromiter((p.okey.xx for p in pos), float, n),
            "okey.cp": np.fromiter((cp[p.okey.cp] for p in pos), np.int16, n),
            "accnt": np.array([k[1] for k in pks], dtype=object),
            "tradeDate": np.fromiter((k[2] for k in pks), np.int32, n),
            "riskSession": np.fromiter((k[3] for k in pks), np.int16, n),
            "clientFirm": np.array([k[4] for k in pks], dtype=object),
            "ticker.at": np.fromiter((key_ordinal("at", u.at) for u in und), np.int16, n),
            "ticker.ts": np.fromiter((key_ordinal("ts", u.ts) for u in und), np.int16, n),
            "ticker.tk": np.array([u.tk for u in und], dtype=object),
            "fkey.at": ok_at, "fkey.ts": ok_ts, "fkey.tk": ok_tk, "fkey.dt": ok_dt,
        }

    def _symbol(self, gk: GroupKey, gi: int, agg: dict[str, np.ndarray], var: np.ndarray,
                source: int, now: int) -> list[tuple[str, dict[str, Any]]]:
        tk, accnt, td, sess, firm = gk
        out: list[tuple[str, dict[str, Any]]] = []
        mid, bid, ask = self.view.stock_quote(tk)
        u = mid if math.isfinite(mid) and mid > 0 else float(agg["uPrc"][gi]) or math.nan
        stk: StkPos | None = None
        for pk in self.groups[gk][1]:
            stk = self.book.stocks[pk]
        sh_cur = stk.cur if stk is not None else 0
        stk_err = int(stk is not None and not (math.isfinite(u) and u > 0))
        st_pnl = 0.0
        if stk is not None:
            day = stk.bot - stk.sld
            st_pnl = (u * day - (stk.mny_bot - stk.mny_sld)) if not stk_err else 0.0
            out.append(("StockPositionRecordV5", {
                "ticker": tk, "accnt": accnt, "tradeDate": td, "riskSession": sess,
                "clientFirm": firm, "pointValue": 1.0, "stkPrc": u, "stkBid": bid, "stkAsk": ask,
                "stkMark": u, "stkOpnMidMark": stk.opn_mark, "stkOpnPos": stk.opn,
                "shBot": stk.bot, "shSld": stk.sld, "shBotHdg": stk.bot_hdg,
                "shSldHdg": stk.sld_hdg, "stkMnyBot": stk.mny_bot, "stkMnySld": stk.mny_sld,
                "dayPnl": st_pnl,
                "opnPnlMidMark": (stk.opn * (u - stk.opn_mark)
                                  if not stk_err and math.isfinite(stk.opn_mark) else 0.0),
                "numExecutions": stk.n_exec, "maxExecDttm": stk.max_dttm, "timestamp": now}))
        a = {k: float(v[gi]) for k, v in agg.items()}
        delta = sh_cur + a["delta"]
        ufin = u if math.isfinite(u) else 0.0
        rec: dict[str, Any] = {
            "ticker": tk, "accnt": accnt, "tradeDate": td, "riskSession": sess,
            "clientFirm": firm, "uPrc": u, "uMark": u,
            "shOpnPos": stk.opn if stk else 0, "shBot": stk.bot if stk else 0,
            "shSld": stk.sld if stk else 0, "shMnyBot": stk.mny_bot if stk else 0.0,
            "shMnySld": stk.mny_sld if stk else 0.0, "shBotHdg": stk.bot_hdg if stk else 0,
            "shSldHdg": stk.sld_hdg if stk else 0, "maxStkDttm": stk.max_dttm if stk else 0,
            "delta": delta, "ddelta": delta * ufin, "gamma": a["gamma"],
            "dGamma": a["gamma"] * ufin * ufin / 100.0, "theta": a["theta"], "vega": a["vega"],
            "rho": a["rho"], "wtVega": a["wtVega"], "avega": a["avega"],
            "opDayVega": a["opDayVega"], "opDayDelta": a["opDayDelta"],
            "stPnlDay": st_pnl, "opPnlDay": a["opPnlDay"],
            "opCnBot": int(a["opCnBot"]), "opCnSld": int(a["opCnSld"]),
            "opCnAbsCurPos": int(a["opCnAbsCurPos"]), "opCnPosCall": int(a["opCnPosCall"]),
            "opCnPosPut": int(a["opCnPosPut"]), "opMnyBot": a["opMnyBot"],
            "opMnySld": a["opMnySld"], "maxOptDttm": int(a["maxOptDttm"]),
            "numStkErrors": stk_err, "numOptErrors": min(int(a["numOptErrors"]), 127),
            "updateSource": source, "timestamp": now,
        }
        for j, (name, s) in enumerate(SLIDES):
            stock_leg = sh_cur * ufin * math.expm1(s) if not stk_err else 0.0
            rec["VaR" + name] = float(var[j, gi]) + stock_leg
        out.append(("SymbolRiskSummaryV5", rec))
        return out
