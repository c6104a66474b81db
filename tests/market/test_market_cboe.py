"""The Cboe chain loader: the fixture chains of every known layout (always), the full real
files of ../shared/data/cboe when they are there, and the malformed files it must refuse."""

from __future__ import annotations

import asyncio
import csv
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from openmlink.bus import InProcessBus
from openmlink.clock import SimClock
from openmlink.market import ChainFormatError, ChainSource, Source, load_chain, parse_osi
from openmlink.schema import ExpiryKey, OptionKey, TickerKey, registry
from openmlink.schema._values import datetime_to_text
from openmlink.store import Store
from tests.support.paths import CBOE, FIXTURES

FIX = FIXTURES / "cboe"
#: 2023-layout chains: the fixture cuts, and the full downloads when ../shared is present
FILES = [FIX / f"{n}_2023-09-14.csv" for n in ("spx", "spy", "xsp")] + (
    sorted(CBOE.glob("*.csv")) if CBOE.is_dir() else [])
IDS = [f"{p.parent.name}-{p.stem}" for p in FILES]
REG = registry()


def _csv_series(path: Path) -> dict[str, tuple[float, float]]:
    """Every listed symbol of a 2023-layout file with its (bid, ask), read by position
    (independently of the loader)."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    out: dict[str, tuple[float, float]] = {}
    for r in rows[3:]:
        assert len(r) == 22
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


def _quote(store: Store, symbol: str) -> tuple[float, float]:
    rec = store.table(REG["OptionNbboQuote"]).get((_okey(symbol),))
    assert rec is not None, symbol
    return rec["bidPrice"], rec["askPrice"]


def test_osi_symbols_parse():
    assert parse_osi("SPXW230914C01200000") == ("SPXW", date(2023, 9, 14), "Call", 1200.0)
    assert parse_osi("SPY230915P00447500") == ("SPY", date(2023, 9, 15), "Put", 447.5)
    with pytest.raises(ValueError):
        parse_osi("SPX 230914")


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_each_file_gives_one_quote_per_listed_series_with_its_bid_and_ask(path):
    expect = _csv_series(path)
    store = _store_of([path])
    table = store.table(REG["OptionNbboQuote"])
    assert len(table) == len(expect)
    symbols = sorted(expect)
    for sym in symbols[:: max(1, len(symbols) // 200)] + symbols[-3:]:
        assert _quote(store, sym) == expect[sym]


@pytest.mark.parametrize("path", FILES, ids=IDS)
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
    store = _store_of([FIX / "spx_2023-09-14.csv"])
    q = store.table(REG["OptionNbboQuote"])
    am = q.get((OptionKey("EQT", "NMS", "SPX", "2023-09-15", 4500.0, "Call"),))
    pm = q.get((OptionKey("EQT", "NMS", "SPXW", "2023-09-15", 4500.0, "Call"),))
    assert (am["bidPrice"], am["askPrice"]) == (12.9, 14.0)
    assert (pm["bidPrice"], pm["askPrice"]) == (16.4, 16.7)
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
    path = FIX / "spy_2023-09-14.csv"
    snap = load_chain(path)
    store = _store_of([path])
    prints = store.table(REG["OptionPrint"])
    assert len(prints) == int((snap.volume_ct > 0).sum()) > 0
    rec = prints.get((_okey("SPY231020C00420000"),))
    assert (rec["prtPrice"], rec["prtVolume"]) == (31.94, 216)


# ---------------------------------------------------------------------- every known layout
#: file -> (underlier, quote time UTC, valuation UTC, series, {symbol: (bid, ask)},
#:          (underlier bid, ask) as published)
LAYOUTS = {
    "spx_2023-09-14.csv": ("SPX", "2023-09-14 20:31", "2023-09-14 20:00", 98,
                           {"SPXW230914C01200000": (3300.1, 3319.8),
                            "SPXW230914P01200000": (0.0, 0.05),
                            "SPX231020P04500000": (46.7, 47.5)}, (4483.25, 4526.27)),
    "xsp_2023-09-14.csv": ("XSP", "2023-09-14 20:30", "2023-09-14 20:00", 64,
                           {"XSP230914C00270000": (179.34, 181.64),
                            "XSP231020C00450000": (7.41, 8.17)}, (450.51, 450.51)),
    "spy_2022-02-04.csv": ("SPY", "2022-02-06 01:09", "2022-02-04 21:00", 64,
                           {"SPY220318C00420000": (32.04, 32.65),
                            "SPY220318P00420000": (0.85, 0.86),
                            "SPY220617P00480000": (30.36, 30.99)}, (448.66, 448.7)),
    "aapl_2021-06-04_old_layout.csv": ("AAPL", "2021-06-04 20:59", "2021-06-04 20:00", 64,
                                       {"AAPL210618C00110000": (8.97, 9.14),
                                        "AAPL210618P00110000": (0.24, 0.24),
                                        "AAPL210716C00140000": (0.2, 0.2)},
                                       (125.27, 125.29)),
    "spx_extra_size_columns.csv": ("SPX", "2023-09-14 20:31", "2023-09-14 20:00", 98,
                                   {"SPXW230914C01200000": (3300.1, 3319.8),
                                    "SPX231020P04500000": (46.7, 47.5)}, (4483.25, 4526.27)),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_each_known_layout_loads_with_the_right_cells(name):
    und, quoted, valued, n, cells, (ubid, uask) = LAYOUTS[name]
    snap = load_chain(FIX / name)
    assert snap.underlier == und
    assert datetime_to_text(snap.quote_ns).startswith(quoted)
    assert datetime_to_text(snap.valuation_ns).startswith(valued)
    assert len(snap) == n
    store = _store_of([FIX / name])
    assert len(store.table(REG["OptionNbboQuote"])) == n
    for sym, quote in cells.items():
        assert _quote(store, sym) == quote, sym
        i = int(np.flatnonzero((snap.strike == parse_osi(sym)[3])
                               & (snap.cp == (parse_osi(sym)[2] == "Put"))
                               & (snap.root == parse_osi(sym)[0])
                               & (snap.expiry == (parse_osi(sym)[1] - date(1970, 1, 1)).days))[0])
        assert (snap.bid_px[i], snap.ask_px[i]) == quote
    rec = store.table(REG["StockBookQuote"]).get((TickerKey("EQT", "NMS", und),))
    assert (rec["bidPrice1"], rec["askPrice1"]) == (ubid, uask)


def test_older_layout_has_no_iv_and_newer_layouts_carry_cboes_iv():
    assert np.isnan(load_chain(FIX / "aapl_2021-06-04_old_layout.csv").iv).all()
    iv = load_chain(FIX / "spx_2023-09-14.csv").iv
    assert np.isfinite(iv).all() and (iv > 0).any()


def test_extra_named_columns_do_not_shift_the_asks():
    plain = load_chain(FIX / "spx_2023-09-14.csv")
    extra = load_chain(FIX / "spx_extra_size_columns.csv")
    assert np.array_equal(plain.ask_px, extra.ask_px)
    assert np.array_equal(plain.bid_px, extra.bid_px)
    assert np.array_equal(plain.volume_ct, extra.volume_ct)


# ---------------------------------------------------------------------- refused, with place
BAD = {
    "bad_extra_cell.csv": (8, "23 cells where the header (line 4) has 22"),
    "bad_missing_column.csv": (4, "required column 'Ask' missing on the puts side"),
    "bad_number.csv": (9, "column 'Bid' (calls): '1.2.3' is not a number"),
    "bad_date.csv": (3, "date '2023-09-14 16:31' not understood"),
    "bad_zone.csv": (3, "time zone 'PDT' not known"),
    "bad_put_in_calls.csv": (10, "column 'Calls': 'SPX230915P04550000' is a put"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_malformed_chain_is_refused_naming_file_line_and_reason(name):
    line, reason = BAD[name]
    with pytest.raises(ChainFormatError) as e:
        load_chain(FIX / name)
    assert e.value.line == line
    assert reason in e.value.reason
    msg = e.value.one_line()
    assert msg.startswith(f"ChainFormatError: {FIX / name} line {line}: ") and "\n" not in msg


def test_missing_and_empty_and_binary_files_are_refused(tmp_path):
    with pytest.raises(ChainFormatError, match="cannot read"):
        load_chain(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ChainFormatError, match="fewer than three lines"):
        load_chain(tmp_path / "empty.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81" * 50)
    with pytest.raises(ChainFormatError):
        load_chain(tmp_path / "bin.csv")
    text = (FIX / "spx_2023-09-14.csv").read_text().splitlines()
    (tmp_path / "header_only.csv").write_text("\n".join(text[:4]) + "\n")
    with pytest.raises(ChainFormatError, match="no option rows"):
        load_chain(tmp_path / "header_only.csv")
    (tmp_path / "no_preamble.csv").write_text("\n".join(text[3:]) + "\n")
    with pytest.raises(ChainFormatError, match="line 1: chain header without"):
        load_chain(tmp_path / "no_preamble.csv")


# ---------------------------------------------------------------------- the source
def test_chain_source_prepares_then_publishes_every_file():
    src = ChainSource(FILES)
    assert isinstance(src, Source)
    summary = src.prepare(SimClock(0))
    assert f"{sum(len(_csv_series(p)) for p in FILES)} series" in summary
    total = len(set().union(*(_csv_series(p) for p in FILES)))  # the cuts repeat real series
    store = Store(REG)
    bus = InProcessBus()
    store.attach(bus)
    asyncio.run(src.run(bus, SimClock(0)))
    assert len(store.table(REG["OptionNbboQuote"])) == total
    assert len(store.table(REG["StockBookQuote"])) == len({p.stem.split("_")[0] for p in FILES})


def test_chain_source_prepare_fails_on_the_first_bad_file():
    src = ChainSource([FIX / "spy_2023-09-14.csv", FIX / "bad_number.csv"])
    with pytest.raises(ChainFormatError, match=r"bad_number\.csv line 9"):
        src.prepare(SimClock(0))
