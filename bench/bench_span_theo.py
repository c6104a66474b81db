"""SPAN and client-theo benchmark (in process, no HTTP).

Prints:
  - SpanRiskCalculator records computed per second for single posts (one bus Event each,
    Default inputs read from the live tables, completed record published back);
  - the same for one batch of 10,000 records (``SpanEngine.compute``; half American);
  - OptionTheoVol rows per second for a full SPX-sized chain (one SVI surface per expiry),
    computed on read through ``Store.prepare`` as a REST read would.
Usage: python bench/bench_span_theo.py [batch_records] [expiries] [strikes_per_expiry]
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np

from openmlink.bus import ColumnBatch, Event, InProcessBus
from openmlink.clock import SimClock
from openmlink.engines.span import SpanEngine
from openmlink.engines.theo import TheoEngine
from openmlink.market._columns import option_key_columns
from openmlink.query import compile_where
from openmlink.schema import OptionKey, registry
from openmlink.schema._codec import decode_record
from openmlink.schema._values import datekey_from_text, datetime_from_text
from openmlink.store import Store

START = date(2025, 1, 2)


def _platform() -> tuple[Any, InProcessBus, Store, SimClock]:
    reg = registry()
    bus = InProcessBus()
    store = Store(reg)
    store.attach(bus)
    return reg, bus, store, SimClock(datetime_from_text("2025-01-02 15:00:00.000000"))


def _put(reg: Any, bus: InProcessBus, mtype: str, msg: dict[str, Any]) -> dict[str, Any]:
    mt = reg[mtype]
    rec = decode_record(mt, msg)
    bus.publish(Event(mt, "upsert", rec, 0, False))
    return rec


def _chain(reg: Any, bus: InProcessBus, tk: str, spot: float, expiries: int, strikes: int,
           exercise: str) -> list[str]:
    _put(reg, bus, "RootDefinition", {"pkey": {"root": f"{tk}-NMS-EQT"}, "ticker": f"{tk}-NMS-EQT",
                                      "exerciseType": exercise, "pointValue": 100.0,
                                      "symbolRatio": 1.0, "pricingModel": "Equity"})
    _put(reg, bus, "StockBookQuote", {"pkey": {"ticker": f"{tk}-NMS-EQT"},
                                      "bidPrice1": spot - 0.05, "askPrice1": spot + 0.05})
    dts = [(START + timedelta(days=7 * (i + 1))).isoformat() for i in range(expiries)]
    ks = spot * np.linspace(0.5, 1.5, strikes)
    ks = np.round(ks / 5) * 5 + np.arange(strikes) * 1e-3 if spot > 1000 else np.round(ks, 1)
    dt = np.repeat([datekey_from_text(d) for d in dts], 2 * strikes)
    kk = np.tile(np.repeat(ks, 2), expiries)
    cp = np.tile([0, 1], expiries * strikes)
    n = len(dt)
    cols = option_key_columns("okey", np.full(n, tk, dtype=object), dt, kk, cp)
    intrinsic = np.maximum(np.where(cp == 0, spot - kk, kk - spot), 0)
    cols["bidPrice"] = intrinsic + 0.02 * spot
    cols["askPrice"] = intrinsic + 0.021 * spot
    bus.publish(ColumnBatch(reg["OptionNbboQuote"], cols, 0))
    return dts


def bench_span(batch: int) -> dict[str, float]:
    reg, bus, store, clock = _platform()
    dts = _chain(reg, bus, "AAPL", 200.0, 4, 50, "American")
    eng = SpanEngine(bus, store, reg, clock)
    eng.attach()
    keys = [f"AAPL-NMS-EQT-{dts[i % 4]}-{k:g}-{'CP'[i % 2]}" for i, k in
            enumerate(np.round(200.0 * np.linspace(0.5, 1.5, 50), 1).tolist() * 4)]
    # single posts, Default inputs (uPrc, vol, years, exType, pointValue from the tables)
    mt = reg["SpanRiskCalculator"]
    _put(reg, bus, "SpanRiskCalculator", {"pkey": {"secKey": keys[0], "secType": "Option",
                                                   "userName": "warm"}})
    n_single = 400
    t0 = time.perf_counter()
    for i in range(n_single):
        _put(reg, bus, "SpanRiskCalculator", {"pkey": {"secKey": keys[i % len(keys)],
                                                       "secType": "Option", "userName": f"u{i}"}})
    single = n_single / (time.perf_counter() - t0)
    errs = sum(1 for r in store.table(mt).live_rows() if store.table(mt).record(int(r))["error"])
    # one batch of user-input records, half American, mixed calc and span types
    rates = {}
    for label, amer_every in (("mixed", 2), ("european", 0)):
        recs = _batch_records(mt, keys, batch, amer_every)
        t0 = time.perf_counter()
        out = eng.compute(recs)
        rates[label] = batch / (time.perf_counter() - t0)
        assert not any(o["error"] for o in out)
    return {"span_single_per_s": single, "span_single_errors": errs,
            "span_batch_per_s": rates["mixed"], "span_batch_euro_per_s": rates["european"],
            "span_batch_n": batch}


def _batch_records(mt: Any, keys: list[str], batch: int, amer_every: int) -> list[dict[str, Any]]:
    """User-input records with mixed calc and span types; every ``amer_every``-th American."""
    rng = np.random.default_rng(1)
    recs = []
    for i in range(batch):
        recs.append(decode_record(mt, {
            "pkey": {"secKey": keys[i % len(keys)], "secType": "Option", "userName": f"b{i}"},
            "vol": float(rng.uniform(0.15, 0.6)), "volSrc": "User", "uPrc": 200.0,
            "uPrcSrc": "User", "years": float(rng.uniform(0.02, 1.0)), "yearsSrc": "User",
            "exType": "American" if amer_every and i % amer_every else "European",
            "exTypeSrc": "User",
            "prcSpanType": ["Pct", "Log", "Exch"][i % 3], "prcSpanUp": 0.1, "prcSpanDn": 0.12,
            "volSpanType": ["Pct", "Abs", "Exch"][i % 3], "volSpan": 0.2,
            "spanCalcType": "PnL" if i % 4 else "Delta"}))
        for f in mt.fields:
            recs[-1].setdefault(f.name, f.default)
    return recs


def bench_theo(expiries: int, strikes: int) -> dict[str, float]:
    reg, bus, store, clock = _platform()
    dts = _chain(reg, bus, "SPX", 5900.0, expiries, strikes, "European")
    eng = TheoEngine(bus, store, reg, clock)
    eng.attach()
    for d in dts:
        _put(reg, bus, "SpdrTheoExpSurface", {
            "pkey": {"ekey": f"SPX-NMS-EQT-{d}", "theoModel": "Bench", "clientFirm": "F1"},
            "skewFunc": "SVI", "paramA": 0.002, "paramB": 0.02, "paramC": -0.6, "paramD": 0.0,
            "paramE": 0.05, "refUPrcWeight": 0.5, "buySellConvention": "BSSpread",
            "bOpnVol": 0.005, "sOpnVol": 0.005, "theoStatus": "Auto"})
    mt = reg["OptionTheoVol"]
    where = compile_where(mt, "theoModel:eq:Bench")
    who = SimpleNamespace(client_firm="F1", user_name="bench")
    store.prepare(mt, where, who)  # warm (JIT, chain index)
    reps = 3
    t0 = time.perf_counter()
    for _ in range(reps):
        t = store.prepare(mt, where, who)
    dt = (time.perf_counter() - t0) / reps
    rows = len(t)
    assert rows == expiries * strikes * 2
    assert isinstance(t.get((OptionKey("EQT", "NMS", "SPX", dts[0], float(t.record(0)["okey"].xx),
                                       t.record(0)["okey"].cp),)), dict)
    return {"theo_rows": rows, "theo_rows_per_s": rows / dt, "theo_read_ms": dt * 1e3}


def run(batch: int = 10_000, expiries: int = 40, strikes: int = 300) -> dict[str, float]:
    r = bench_span(batch)
    r.update(bench_theo(expiries, strikes))
    return r


if __name__ == "__main__":
    a = [int(x) for x in sys.argv[1:]]
    res = run(*a)
    print(f"SPAN single posts : {res['span_single_per_s']:10.0f} records/s "
          f"(Default inputs, American, via the bus; errors {res['span_single_errors']})")
    print(f"SPAN batch        : {res['span_batch_per_s']:10.0f} records/s "
          f"({res['span_batch_n']} records, half American, one compute() call)")
    print(f"SPAN batch (Euro) : {res['span_batch_euro_per_s']:10.0f} records/s "
          f"({res['span_batch_n']} European records, one compute() call)")
    print(f"OptionTheoVol     : {res['theo_rows_per_s']:10.0f} rows/s "
          f"({res['theo_rows']} SPX options, {res['theo_read_ms']:.1f} ms per read)")
