"""Risk-engine figures: time to revalue a book of option positions over many underliers after
a market move (gather market inputs, full-revaluation slides, records, publication).  Prints
figures; no thresholds.

    python bench/bench_risk.py [--underliers 500] [--per 20] [--american]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openmlink.analytics import svi_total_variance
from openmlink.bus import Event
from openmlink.schema._codec import decode_record
from openmlink.trading.risk import SLIDES, RiskEngine, slide_pnl
from openmlink.trading.risk._market import gather
from tests.support.mini_market import EXPIRY, MiniMarket

SVI = np.array([0.01, 0.08, -0.5, 0.02, 0.15])


def _put(m: MiniMarket, name: str, msg: dict) -> None:
    mt = m.reg[name]
    m.bus.publish(Event(mt, "upsert", decode_record(mt, msg), m.clock.time_ns()))


def _market(m: MiniMarket, n_und: int, per: int, american: bool, bump: float) -> list[str]:
    okeys = []
    for u in range(n_und):
        tk = f"U{u:03d}"
        spot = (50.0 + u) * bump
        if bump == 1.0:
            m.root(tk, exercise="American" if american else "European")
            _put(m, "LiveSurfaceCurve", {"pkey": {"ekey": f"{tk}-NMS-EQT-{EXPIRY}",
                                                  "surfaceType": "Live"},
                                         **{f"skewC0{i}": float(v) for i, v in enumerate(SVI)}})
        m.stock(tk, spot - 0.05, spot + 0.05)
        for j in range(per):
            k = round((50.0 + u) * (0.7 + 0.6 * j / max(per - 1, 1)))
            cp = "C" if j % 2 else "P"
            okey = f"{tk}-NMS-EQT-{EXPIRY}-{k:g}-{cp}"
            w = svi_total_variance(np.array([math.log(k / spot)]), SVI[None, :])[0]
            _put(m, "LiveImpliedQuote", {"pkey": {"okey": okey}, "ticker": f"{tk}-NMS-EQT",
                                         "uPrc": spot, "years": 0.2, "rate": 0.04, "sdiv": 0.0,
                                         "ddiv": 0.0, "sVol": math.sqrt(w / 0.2), "sPrc": 1.0,
                                         "sMark": 1.0, "de": 0.5, "ga": 0.02, "ve": 0.1})
            okeys.append(okey)
    return okeys


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--underliers", type=int, default=500)
    ap.add_argument("--per", type=int, default=20)
    ap.add_argument("--american", action="store_true")
    a = ap.parse_args()
    m = MiniMarket()
    t0 = time.perf_counter()
    okeys = _market(m, a.underliers, a.per, a.american, 1.0)
    eng = RiskEngine(m.bus, m.store, m.reg, m.clock)
    eng.attach()
    for i, ok in enumerate(okeys):
        _put(m, "SpdrParentExecution", {
            "pkey": {"fillNumber": i + 1}, "version": 1, "execStatus": "Fill", "secKey": ok,
            "secType": "Option", "ticker": ok.split("-")[0] + "-NMS-EQT", "accnt": "BENCH",
            "clientFirm": "F", "orderSide": "Buy" if i % 3 else "Sell", "fillQuantity": 1 + i % 7,
            "fillPrice": 1.0, "fillDttm": "2025-01-02 15:00:00.000000", "pointValue": 100,
            "underliersPerCn": 100})
    n = len(okeys)
    print(f"book: {n} option positions over {a.underliers} underliers "
          f"({'American ALO' if a.american else 'European B76'}), built in "
          f"{time.perf_counter() - t0:.1f} s (includes one Priority publication per fill)")
    _market(m, a.underliers, a.per, a.american, 1.03)  # the market moves 3 %
    groups = list(eng.groups)
    pos = [p.okey for g in groups for p in (eng.book.options[k] for k in eng.groups[g][0])]
    for label, fn in (
            ("gather market inputs", lambda: gather(eng.view, pos)),
            ("slides (row_prices, 13 x n rows)",
             lambda: slide_pnl(gather(eng.view, pos).inputs(), [s for _, s in SLIDES])),
            ("compute all records", lambda: eng.compute(groups, 1, m.clock.time_ns())),
            ("Loop pass: compute + publish", eng.tick)):
        best = math.inf
        for _ in range(3):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        print(f"{label:34s} {best * 1e3:9.1f} ms")
    g = groups[0]
    best = math.inf
    for _ in range(20):
        t = time.perf_counter()
        eng.publish([g], 2)
        best = min(best, time.perf_counter() - t)
    print(f"{'one symbol after a fill (Priority)':34s} {best * 1e3:9.2f} ms")
    _hedge_reaction(m)


def _hedge_reaction(m: MiniMarket) -> None:
    """Option fill published -> SpdrAutoHedgeState with the new hedge target in the store,
    through risk and hedge engines."""
    from openmlink.trading.hedge import AutoHedgeEngine
    hedge = AutoHedgeEngine(m.bus, m.store, m.reg, m.clock)
    hedge.attach()
    mt = m.reg["SpdrAutoHedgeControl"]
    m.bus.publish(Event(mt, "upsert", decode_record(mt, {
        "pkey": {"accnt": "BENCH", "riskGroupId": "0000-0000-0000-0001",
                 "hedgeSecKey": {"at": "EQT", "ts": "NMS", "tk": "U000", "dt": EXPIRY},
                 "hedgeSecType": "Stock", "clientFirm": "F"},
        "hedgeTarget": "HedgeToZero", "minHedgeDDelta": -100.0, "maxHedgeDDelta": 100.0}),
        m.clock.time_ns(), origin="bench"))
    st = m.store.table(m.reg["SpdrAutoHedgeState"])
    lat = []
    for i in range(300):
        t = time.perf_counter()
        _put(m, "SpdrParentExecution", {
            "pkey": {"fillNumber": 10_000_000 + i}, "version": 1, "execStatus": "Fill",
            "secKey": f"U000-NMS-EQT-{EXPIRY}-50-C", "secType": "Option", "ticker": "U000-NMS-EQT",
            "accnt": "BENCH", "clientFirm": "F", "riskGroupId": "0000-0000-0000-0001",
            "orderSide": "Buy" if i % 2 else "Sell", "fillQuantity": 3, "fillPrice": 1.0,
            "fillDe": 0.5, "fillUMark": 50.0, "fillDttm": "2025-01-02 15:00:00.000000",
            "pointValue": 100, "underliersPerCn": 100})
        assert len(st) == 1
        lat.append(time.perf_counter() - t)
    a = np.array(lat) * 1e3
    print(f"option fill -> SpdrAutoHedgeState target (incl. risk Priority for the symbol): "
          f"p50 {np.percentile(a, 50):.2f} ms, p99 {np.percentile(a, 99):.2f} ms")
    _hedge_order_reaction(m, hedge)


def _hedge_order_reaction(m: MiniMarket, hedge: object) -> None:
    """Option fill published -> the hedge SpdrParentOrder posted and accepted by the order
    manager (its BrkrState out), through the risk engine (10,000 positions), the autohedge
    engine's ``work()`` and the order manager; the hedge orders then fill on the next ticks.
    In a server ``work()`` runs on the order manager's timer (20 ms), which adds up to one
    tick of waiting to these processing times."""
    from openmlink.trading import OrderEngine, TradingConfig
    from openmlink.trading.hedge import AutoHedgeEngine
    assert isinstance(hedge, AutoHedgeEngine)
    orders = OrderEngine(m.bus, m.store, m.reg, m.clock,
                         config=TradingConfig(key_rate=0, accnt_rate=0))
    orders.attach()
    po = m.store.table(m.reg["SpdrParentOrder"])
    lat, posted = [], 0
    for i in range(300):
        n0 = len(po)
        t = time.perf_counter()
        _put(m, "SpdrParentExecution", {
            "pkey": {"fillNumber": 20_000_000 + i}, "version": 1, "execStatus": "Fill",
            "secKey": f"U000-NMS-EQT-{EXPIRY}-50-C", "secType": "Option", "ticker": "U000-NMS-EQT",
            "accnt": "BENCH", "clientFirm": "F", "riskGroupId": "0000-0000-0000-0001",
            "orderSide": "Buy" if i % 3 else "Sell", "fillQuantity": 3, "fillPrice": 1.0,
            "fillDe": 0.5, "fillUMark": 50.0, "fillDttm": "2025-01-02 15:00:00.000000",
            "pointValue": 100, "underliersPerCn": 100})
        hedge.work()
        dt = time.perf_counter() - t
        if len(po) > n0:
            lat.append(dt)
            posted += len(po) - n0
        for _ in range(3):  # the hedge orders work and fill against the stock quote
            m.clock.advance_to(m.clock.time_ns() + 20_000_000)
            orders.tick()
            hedge.work()
    a = np.array(lat) * 1e3
    print(f"option fill -> hedge SpdrParentOrder accepted (risk, hedge work, order manager): "
          f"p50 {np.percentile(a, 50):.2f} ms, p99 {np.percentile(a, 99):.2f} ms over "
          f"{len(lat)} fills that moved the target ({posted} hedge posts); plus up to one "
          "20 ms timer tick in a server")


if __name__ == "__main__":
    main()
