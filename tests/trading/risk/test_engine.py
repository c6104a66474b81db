"""The risk engine over a hand-made market: positions from executions and a start-of-day file,
SymbolRiskSummaryV5 aggregates and slides (trading.md §6.2 invariant 13), corrections, busts,
visibility keys and the rebuild from the day's executions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from openmlink.analytics import svi_total_variance
from openmlink.store import Store
from openmlink.trading.risk import SLIDES, RiskConfig, RiskEngine, parse_positions
from tests.support.mini_market import EXPIRY, MiniMarket

SVI = [0.01, 0.08, -0.5, 0.02, 0.15]
T = 0.2
SUMMED = ("delta", "gamma", "theta", "vega", "avega", "opDayVega", "opDayDelta", "opPnlDay",
          "opCnBot", "opCnSld", "opCnAbsCurPos")


def _market(spot: float = 100.0, strikes: tuple[float, ...] = (90.0, 100.0, 110.0)) -> MiniMarket:
    m = MiniMarket()
    m.root("AAPL", exercise="European")
    m.stock("AAPL", spot - 0.05, spot + 0.05)
    m.put("LiveSurfaceCurve", {"pkey": {"ekey": f"AAPL-NMS-EQT-{EXPIRY}", "surfaceType": "Live"},
                               **{f"skewC0{i}": v for i, v in enumerate(SVI)}})
    for k in strikes:
        for cp in ("Call", "Put"):
            fwd = spot * math.exp(0.03 * T)
            vol = math.sqrt(svi_total_variance(np.array([math.log(k / fwd)]), np.array([SVI]))[0] / T)
            okey = f"AAPL-NMS-EQT-{EXPIRY}-{k:g}-{cp[0]}"
            de = 0.5 if cp == "Call" else -0.5
            m.put("LiveImpliedQuote", {"pkey": {"okey": okey}, "ticker": "AAPL-NMS-EQT",
                                       "uPrc": spot, "years": T, "rate": 0.04, "sdiv": 0.01,
                                       "ddiv": 0.0, "sVol": vol, "atmVol": 0.25, "sPrc": 3.0,
                                       "sMark": 3.0, "de": de + (100 - k) / 200, "ga": 0.03,
                                       "th": -0.05, "ve": 0.18, "ro": 0.02, "ph": -0.01})
            m.put("OptionNbboQuote", {"pkey": {"okey": okey}, "bidPrice": 2.9, "askPrice": 3.1})
    return m


def _exec(m: MiniMarket, n: int, sec: str, side: str, qty: int, price: float, *,
          accnt: str = "A1", firm: str = "F1", version: int = 1, status: str = "Fill") -> None:
    opt = sec.count("-") > 2
    ticker = "AAPL-NMS-EQT" if opt else sec
    m.put("SpdrParentExecution", {
        "pkey": {"fillNumber": n}, "version": version, "execStatus": status, "secKey": sec,
        "secType": "Option" if opt else "Stock", "ticker": ticker, "accnt": accnt,
        "clientFirm": firm, "orderSide": side, "fillQuantity": qty, "fillPrice": price,
        "fillDttm": "2025-01-02 15:00:00.000000", "pointValue": 100 if opt else 1,
        "underliersPerCn": 100 if opt else 0})


def _engine(m: MiniMarket, sod: str = "") -> RiskEngine:
    eng = RiskEngine(m.bus, m.store, m.reg, m.clock, config=RiskConfig(loop_s=60),
                     sod=parse_positions(sod) if sod else ())
    eng.attach()
    return eng


def _rows(m: MiniMarket, name: str) -> list[dict[str, Any]]:
    t = m.store.table(m.reg[name])
    return [t.record(int(r)) for r in t.live_rows()]


def _symbol(m: MiniMarket, accnt: str = "A1", firm: str = "F1") -> dict[str, Any]:
    rows = [r for r in _rows(m, "SymbolRiskSummaryV5") if r["accnt"] == accnt
            and r["clientFirm"] == firm]
    assert len(rows) == 1
    return rows[0]


def test_stock_only_book_is_linear() -> None:
    m = _market()
    _engine(m)
    _exec(m, 1, "AAPL-NMS-EQT", "Buy", 300, 99.0)
    _exec(m, 2, "AAPL-NMS-EQT", "Sell", 100, 101.0)
    s = _symbol(m)
    u = 100.0  # stock mid
    assert s["uPrc"] == pytest.approx(u)
    assert s["delta"] == pytest.approx(200)
    assert s["VaRsu50"] == pytest.approx(200 * u * (math.exp(0.5) - 1), rel=1e-6)
    assert s["VaRsd50"] == pytest.approx(200 * u * (math.exp(-0.5) - 1), rel=1e-6)
    for name, mv in SLIDES:
        assert s["VaR" + name] == pytest.approx(200 * u * math.expm1(mv), rel=1e-6)
    assert s["stPnlDay"] == pytest.approx((u - 99.0) * 300 + (101.0 - u) * 100, rel=1e-6)
    stk = _rows(m, "StockPositionRecordV5")
    assert [(r["shBot"], r["shSld"]) for r in stk] == [(300, 100)]


def test_symbol_aggregates_equal_the_sum_of_position_records() -> None:
    m = _market()
    sod = ("accnt,clientFirm,secKey,position,mark\n"
           f"A1,F1,AAPL-NMS-EQT-{EXPIRY}-90-P,-20,1.5\n"
           "A1,F1,AAPL-NMS-EQT,-400,\n")
    _engine(m, sod)
    _exec(m, 1, f"AAPL-NMS-EQT-{EXPIRY}-100-C", "Buy", 10, 3.0)
    _exec(m, 2, f"AAPL-NMS-EQT-{EXPIRY}-110-C", "Sell", 4, 3.05)
    _exec(m, 3, f"AAPL-NMS-EQT-{EXPIRY}-100-C", "Sell", 3, 3.1)
    s = _symbol(m)
    opts = [r for r in _rows(m, "OptionPositionRecordV5") if r["accnt"] == "A1"]
    assert len(opts) == 3
    cur = {str(r["okey"]): r["optOpnPos"] + r["cnBot"] - r["cnSld"] for r in opts}
    assert sorted(cur.values()) == [-20, -4, 7]
    shm = {k: v * 100 for k, v in cur.items()}
    assert s["delta"] == pytest.approx(-400 + sum(shm[str(r["okey"])] * r["de"] for r in opts),
                                       rel=1e-5)
    assert s["gamma"] == pytest.approx(sum(shm[str(r["okey"])] * r["ga"] for r in opts), rel=1e-5)
    assert s["opCnAbsCurPos"] == 31 and s["opCnBot"] == 10 and s["opCnSld"] == 7
    assert s["opCnPosCall"] == 3 and s["opCnPosPut"] == -20
    assert s["opPnlDay"] == pytest.approx(sum(r["dayPnl"] for r in opts), rel=1e-5)
    for name, mv in SLIDES:
        stock = -400 * 100.0 * math.expm1(mv)
        assert s["VaR" + name] == pytest.approx(stock + sum(r[name] for r in opts), rel=1e-5,
                                                abs=1e-3)
    # a short put and a short call wing: a 50% fall loses on the put
    put = next(r for r in opts if r["okey"].cp == "Put")
    assert put["sd50"] < 0 < put["su50"]


def test_zero_position_has_zero_slides() -> None:
    m = _market()
    _engine(m)
    _exec(m, 1, f"AAPL-NMS-EQT-{EXPIRY}-100-C", "Buy", 5, 3.0)
    assert _symbol(m)["VaRsu50"] > 0
    _exec(m, 2, f"AAPL-NMS-EQT-{EXPIRY}-100-C", "Sell", 5, 3.2)
    s = _symbol(m)
    for name, _ in SLIDES:
        assert s["VaR" + name] == 0.0
    assert s["delta"] == 0.0 and s["opPnlDay"] == pytest.approx(100.0, rel=1e-5)


def test_corrections_and_busts_replace_the_earlier_version() -> None:
    m = _market()
    _engine(m)
    ok = f"AAPL-NMS-EQT-{EXPIRY}-100-C"
    _exec(m, 1, ok, "Buy", 5, 3.0)
    _exec(m, 1, ok, "Buy", 5, 3.0)  # the same version again: counted once
    assert _rows(m, "OptionPositionRecordV5")[0]["cnBot"] == 5
    # a correction is the fill at its corrected terms (the order manager's Correct moves the
    # price: trading.md §1.5)
    _exec(m, 1, ok, "Buy", 5, 3.2, version=2, status="Correct")
    r = _rows(m, "OptionPositionRecordV5")[0]
    assert r["cnBot"] == 5 and r["optMnyBot"] == pytest.approx(5 * 3.2 * 100)
    _exec(m, 1, ok, "Buy", 8, 3.0, version=3)
    assert _rows(m, "OptionPositionRecordV5")[0]["cnBot"] == 8
    _exec(m, 1, ok, "Buy", 8, 3.0, version=4, status="Bust")
    r = _rows(m, "OptionPositionRecordV5")[0]
    assert (r["cnBot"], r["optMnyBot"], r["numExecutions"]) == (0, 0.0, 1)
    assert _symbol(m)["VaRsd50"] == 0.0


def test_firms_and_accounts_have_separate_records() -> None:
    m = _market()
    _engine(m)
    ok = f"AAPL-NMS-EQT-{EXPIRY}-100-C"
    _exec(m, 1, ok, "Buy", 5, 3.0, accnt="A1", firm="F1")
    _exec(m, 2, ok, "Sell", 2, 3.0, accnt="A1", firm="F2")
    _exec(m, 3, ok, "Sell", 1, 3.0, accnt="B1", firm="F1")
    assert _symbol(m, "A1", "F1")["opCnBot"] == 5
    assert _symbol(m, "A1", "F2")["opCnSld"] == 2
    assert _symbol(m, "B1", "F1")["opCnSld"] == 1


def test_series_without_market_counts_an_error_and_no_risk() -> None:
    m = _market()
    _engine(m)
    _exec(m, 1, "AAPL-NMS-EQT-2025-06-20-100-C", "Buy", 5, 3.0)  # no LiveImpliedQuote
    s = _symbol(m)
    assert s["numOptErrors"] == 1 and s["VaRsu50"] == 0.0 and s["delta"] == 0.0


def test_loop_follows_the_market_and_marks_the_source() -> None:
    m = _market()
    eng = _engine(m)
    _exec(m, 1, "AAPL-NMS-EQT", "Buy", 100, 100.0)
    src = m.reg["SymbolRiskSummaryV5"].field("updateSource").enum
    assert src.names[_symbol(m)["updateSource"]] == "Priority"
    m.stock("AAPL", 109.95, 110.05)
    eng.tick()
    s = _symbol(m)
    assert src.names[s["updateSource"]] == "Loop"
    assert s["VaRsu50"] == pytest.approx(100 * 110.0 * math.expm1(0.5), rel=1e-6)
    assert s["stPnlDay"] == pytest.approx(1000.0, rel=1e-6)


def test_rebuild_from_the_days_executions_equals_what_was_published() -> None:
    m = _market()
    sod = f"accnt,clientFirm,secKey,position\nA1,F1,AAPL-NMS-EQT-{EXPIRY}-90-P,-20\n"
    eng = _engine(m, sod)
    _exec(m, 1, f"AAPL-NMS-EQT-{EXPIRY}-100-C", "Buy", 10, 3.0)
    _exec(m, 2, f"AAPL-NMS-EQT-{EXPIRY}-110-C", "Sell", 4, 3.05, firm="F2")
    _exec(m, 3, "AAPL-NMS-EQT", "Sell", 250, 100.5)
    _exec(m, 3, "AAPL-NMS-EQT", "Sell", 200, 100.5, version=2)
    published = {name: _rows(m, name) for name in
                 ("OptionPositionRecordV5", "StockPositionRecordV5", "SymbolRiskSummaryV5",
                  "AccountRiskRecordV5")}
    eng.close()
    again = RiskEngine(m.bus, m.store, m.reg, m.clock, sod=parse_positions(sod))
    again.load_sod(again.sod)
    t = m.store.table(m.reg["SpdrParentExecution"])
    for row in t.live_rows():
        again.on_execution(t.record(int(row)), publish=False)
    cols, recs = again.compute(list(again.groups), eng._prio, m.clock.time_ns())
    fresh = Store(m.reg)  # the rebuilt records, written as the bus would write them
    fresh.table(m.reg["OptionPositionRecordV5"]).upsert_columns(cols)
    for name, rec in recs:
        fresh.table(m.reg[name]).upsert(rec)
    for name, recs_pub in published.items():
        ft = fresh.table(m.reg[name])
        assert len(ft) == len(recs_pub) > 0
        for r in recs_pub:
            got = ft.get(tuple(r[f.name] for f in m.reg[name].pkey_fields))
            assert got is not None
            for f, v in r.items():
                if f not in ("timestamp", "updateSource"):
                    assert got[f] == v or (isinstance(v, float) and math.isnan(v)
                                           and math.isnan(got[f])), (name, f, got[f], v)


def test_account_record_sums_the_symbols_of_the_account() -> None:
    m = _market()
    m.stock("MSFT", 399.9, 400.1)
    _engine(m)
    _exec(m, 1, f"AAPL-NMS-EQT-{EXPIRY}-100-C", "Buy", 10, 3.0)
    _exec(m, 2, "MSFT-NMS-EQT", "Sell", 30, 401.0)
    _exec(m, 3, "AAPL-NMS-EQT", "Buy", 20, 99.0)
    _exec(m, 4, "MSFT-NMS-EQT", "Buy", 5, 401.0, accnt="OTHER")
    syms = [r for r in _rows(m, "SymbolRiskSummaryV5") if r["accnt"] == "A1"]
    assert len(syms) == 2
    accts = {r["accnt"]: r for r in _rows(m, "AccountRiskRecordV5")}
    a = accts["A1"]
    assert a["numSymbols"] == 2 and a["absCurSh"] == 50 and a["absCurCn"] == 10
    for f, g in (("ddelta", "ddelta"), ("stkDayPnl", "stPnlDay"), ("stkOptDayPnl", "opPnlDay"),
                 ("VaRsu50", "VaRsu50"), ("VaRsd90", "VaRsd90")):
        assert a[f] == pytest.approx(sum(r[g] for r in syms), rel=1e-5), f
    assert accts["OTHER"]["numSymbols"] == 1
