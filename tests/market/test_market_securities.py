"""Security master: universe contents, contract terms, dividends, settlement, definitions."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from openmlink.bus import InProcessBus
from openmlink.market import FULL_MARKET_SERIES, build_universe, default_universe
from openmlink.market._definitions import definition_messages
from openmlink.market._securities import strike_ladder
from openmlink.schema import ExpiryKey, TickerKey, registry
from openmlink.schema._values import datetime_to_text
from openmlink.store import Store

TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def master():
    return default_universe(TODAY)


def test_default_universe_has_the_seed_tickers_and_the_big_names(master):
    syms = {t.tk for t in master.tickers()}
    assert {"AAPL", "SPY", "CAKE", "SPX", "QQQ", "IWM", "NVDA", "TSLA"} <= syms
    roots = set(master.series.tk.tolist())
    assert {"SPX", "SPXW", "XSP", "AAPL", "SPY", "CAKE"} <= roots
    assert 10_000 < len(master.series) < 60_000


def test_contract_terms_by_root(master):
    assert master.exercise_style("AAPL") == "American"
    assert master.exercise_style("SPY") == "American"
    assert master.exercise_style("SPX") == "European"
    assert master.exercise_style("SPXW") == "European"
    assert master.settlement("SPX") == "AM" and master.settlement("SPXW") == "PM"
    assert master.multiplier("AAPL") == 100.0
    assert master.underlier("SPXW").symbol == "SPX"
    assert master.root("SPY").ticks() == (0.01, 0.01)
    assert master.root("AAPL").ticks() == (0.01, 0.05)
    assert master.root("CAKE").ticks() == (0.05, 0.10)


def test_spx_am_settles_at_the_open_and_spxw_pm_at_the_close(master):
    spx = master.expiries("SPX")
    assert all(d.weekday() in (3, 4) and 15 <= d.day <= 21 for d in spx[:6])
    d = spx[0]
    assert datetime_to_text(master.settlement_ns("SPX", d)).endswith("14:30:00.000000")
    assert datetime_to_text(master.settlement_ns("SPXW", d)).endswith("21:00:00.000000")
    spxw = master.expiries("SPXW")
    assert len([x for x in spxw if x.weekday() != 4]) >= 4  # dailies


def test_dividend_schedules(master):
    divs = master.dividends("AAPL", date(2027, 1, 1), date(2027, 12, 31))
    assert [d.ex_date.month for d in divs] == [2, 5, 8, 11]
    assert all(d.amount == pytest.approx(0.26) for d in divs)
    assert master.dividends("TSLA") == []
    assert master.dividend_yield("SPX") > 0


def test_strike_ladder_is_fine_near_the_money_and_coarse_in_the_wings():
    ks = strike_ladder(590.0, 0.15, 30 / 365, 0.002, 1.0, 1.0)
    assert 590.0 in ks and 591.0 in ks
    assert ks.min() < 590 * 0.9 and ks.max() > 590 * 1.1
    steps = np.diff(ks)
    assert steps.min() == pytest.approx(1.0) and steps.max() == pytest.approx(5.0)


def test_definitions_fill_exercise_settlement_and_multiplier(master):
    bus = InProcessBus()
    store = Store(registry())
    store.attach(bus)
    for m in definition_messages(master, 1):
        bus.publish(m)
    reg = registry()
    rd = store.table(reg["RootDefinition"])
    spx = rd.get((TickerKey("EQT", "NMS", "SPX"),))
    spxw = rd.get((TickerKey("EQT", "NMS", "SPXW"),))
    et = reg["RootDefinition"].field("exerciseTime").enum
    ex = reg["RootDefinition"].field("exerciseType").enum
    assert et.names[spx["exerciseTime"]] == "AM" and et.names[spxw["exerciseTime"]] == "PM"
    assert ex.names[spx["exerciseType"]] == "European"
    assert spxw["ticker"] == TickerKey("EQT", "NMS", "SPX")
    aapl = rd.get((TickerKey("EQT", "NMS", "AAPL"),))
    assert ex.names[aapl["exerciseType"]] == "American" and aapl["pointValue"] == 100.0
    assert aapl["Underlying"][0]["spc"] == 100.0
    oe = store.table(reg["OptExpiryDefinition"])
    d = master.expiries("SPX")[0].isoformat()
    rec = oe.get((ExpiryKey("EQT", "NMS", "SPX", d),))
    assert rec["expiration"] == master.settlement_ns("SPX", d)
    td = store.table(reg["TickerDefinition"])
    assert len(td) == len(master.underliers)


def test_a_numeric_universe_grows_with_synthetic_names():
    m = build_universe("120000", TODAY, seed=3)
    assert len(m.series) >= 120_000
    assert len({u.symbol for u in m.underliers}) == len(m.underliers)
    assert FULL_MARKET_SERIES == 1_500_000
