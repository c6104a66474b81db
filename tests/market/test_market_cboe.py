"""The Cboe chain loader against the delayed-quote files in shared/data/cboe."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from openmlink.bus import InProcessBus
from openmlink.market import ChainSource, Source, load_chain, parse_osi
from openmlink.schema import ExpiryKey, OptionKey, TickerKey, registry
from openmlink.schema._values import datetime_to_text
from openmlink.store import Store
from tests.support.paths import CBOE as DATA

FILES = sorted(DATA.glob("*.csv")) if DATA.is_dir() else []
pytestmark = pytest.mark.skipif(not FILES, reason="no Cboe sample files")
REG = registry()


def _csv_series(path: Path) -> dict[str, tuple[float, float]]:
    """Every listed symbol of a file with its (bid, ask), read independently."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    out: dict[str, tuple[float, float]] = {}
    for r in rows[3:]:
        if len(r) < 22:
            continue
        out[r[1]] = (float(r[4]), float(r[5]))
        out[r[12]] = (float(r[15]), float(r[16]))
    return out


def _store_of(paths) -> Store:
    store = Store(REG)
    bus = InProcessBus()
    store.attach(bus)
    for p in paths:
        for m in load_chain(p).messages():
            bus.publish(m)
    return store


def _okey(symbol: str) -> OptionKey:
    root, d, cp, k = parse_osi(symbol)
    return OptionKey("EQT", "NMS", root, d.isoformat(), k, cp)


def test_osi_symbols_parse():
    assert parse_osi("SPXW230914C01200000") == ("SPXW", date(2023, 9, 14), "Call", 1200.0)
    assert parse_osi("SPY230915P00447500") == ("SPY", date(2023, 9, 15), "Put", 447.5)
    with pytest.raises(ValueError):
        parse_osi("SPX 230914")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_file_gives_one_quote_per_listed_series_with_its_bid_and_ask(path):
    expect = _csv_series(path)
    store = _store_of([path])
    table = store.table(REG["OptionNbboQuote"])
    assert len(table) == len(expect)
    symbols = sorted(expect)
    for sym in symbols[:: max(1, len(symbols) // 200)] + symbols[-3:]:
        rec = table.get((_okey(sym),))
        assert rec is not None, sym
        assert (rec["bidPrice"], rec["askPrice"]) == expect[sym]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_underlier_quote_and_valuation_time(path):
    snap = load_chain(path)
    store = _store_of([path])
    und = {"spx": "SPX", "spy": "SPY", "xsp": "XSP"}[path.stem.split("_")[0]]
    assert snap.underlier == und
    rec = store.table(REG["StockBookQuote"]).get((TickerKey("EQT", "NMS", und),))
    assert rec is not None
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    bid = float(rows[1][1].split(":")[1])
    ask = float(rows[1][2].split(":")[1])
    last = float(rows[0][1].split(":")[1])
    assert rec["bidPrice1"] == (bid if bid > 0 else last)
    assert rec["askPrice1"] == (ask if ask > 0 else last)
    assert datetime_to_text(snap.valuation_ns) == "2023-09-14 20:00:00.000000"
    assert rec["srcTimestamp"] == snap.valuation_ns


def test_spx_file_keys_am_monthlies_under_spx_and_pm_weeklies_under_spxw():
    path = DATA / "spx_2023-09-14.csv"
    store = _store_of([path])
    q = store.table(REG["OptionNbboQuote"])
    am = q.get((OptionKey("EQT", "NMS", "SPX", "2023-09-15", 4500.0, "Call"),))
    pm = q.get((OptionKey("EQT", "NMS", "SPXW", "2023-09-15", 4500.0, "Call"),))
    assert am is not None and pm is not None
    roots = store.table(REG["RootDefinition"])
    et = REG["RootDefinition"].field("exerciseTime").enum
    assert et.names[roots.get((TickerKey("EQT", "NMS", "SPX"),))["exerciseTime"]] == "AM"
    assert et.names[roots.get((TickerKey("EQT", "NMS", "SPXW"),))["exerciseTime"]] == "PM"
    exp = store.table(REG["OptExpiryDefinition"])
    am_t = exp.get((ExpiryKey("EQT", "NMS", "SPX", "2023-09-15"),))["expiration"]
    pm_t = exp.get((ExpiryKey("EQT", "NMS", "SPXW", "2023-09-15"),))["expiration"]
    assert datetime_to_text(am_t) == "2023-09-15 13:30:00.000000"
    assert datetime_to_text(pm_t) == "2023-09-15 20:00:00.000000"


def test_series_that_traded_get_an_option_print():
    path = DATA / "spy_2023-09-14.csv"
    snap = load_chain(path)
    store = _store_of([path])
    prints = store.table(REG["OptionPrint"])
    assert len(prints) == int((snap.volume_ct > 0).sum()) > 0


def test_chain_source_publishes_every_file():
    import asyncio

    from openmlink.clock import SimClock

    src = ChainSource(FILES)
    assert isinstance(src, Source)
    store = Store(REG)
    bus = InProcessBus()
    store.attach(bus)
    asyncio.run(src.run(bus, SimClock(0)))
    total = sum(len(_csv_series(p)) for p in FILES)
    assert len(store.table(REG["OptionNbboQuote"])) == total
    assert len(store.table(REG["StockBookQuote"])) == len(FILES)
