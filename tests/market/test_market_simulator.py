"""Simulator behaviour under a SimClock: determinism, legal quotes, no arbitrage, motion."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmlink.bus import ColumnBatch, RecordingBus
from openmlink.clock import SimClock
from openmlink.market import MarketSimulator, SimConfig, Source
from openmlink.market._columns import ordinal
from openmlink.market._pricing import black76, bsm_price, norm_cdf
from openmlink.schema._values import datetime_from_text

START = datetime_from_text("2026-11-23 15:00:00")  # a Monday, 10:00 New York
STEP = 250_000_000


def _batches(msgs, name):
    return [m for m in msgs if isinstance(m, ColumnBatch) and m.mt.name == name]


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.mt.name == y.mt.name and x.sent_ts == y.sent_ts
        if isinstance(x, ColumnBatch):
            assert x.data.keys() == y.data.keys()
            for k in x.data:
                assert np.array_equal(np.asarray(x.data[k]), np.asarray(y.data[k])), k
        else:
            assert x.rec == y.rec


@pytest.fixture(scope="module")
def sim():
    s = MarketSimulator(SimConfig(seed=11, quote_rate=0.05), start_ns=START)
    s.first = s.snapshot()
    return s


def test_the_simulator_is_a_source(sim):
    assert isinstance(sim, Source)


def test_same_seed_same_market():
    runs = []
    for _ in range(2):
        s = MarketSimulator(SimConfig(seed=5, universe="small"), start_ns=START)
        msgs = s.snapshot()
        for _ in range(5):
            msgs += s.step(STEP)
        runs.append(msgs)
    _same(runs[0], runs[1])
    other = MarketSimulator(SimConfig(seed=6, universe="small"), start_ns=START)
    other.snapshot()
    a = _batches(runs[0], "StockBookQuote")[-1].data["bidPrice1"]
    b = _batches(other.step(STEP * 5), "StockBookQuote")[-1].data["bidPrice1"]
    assert not np.array_equal(a, b)


def test_snapshot_quotes_every_series_once(sim):
    quotes = _batches(sim.first, "OptionNbboQuote")
    n = sum(len(q.data["bidPrice"]) for q in quotes)
    assert n == len(sim.master.series)


def _all_quotes(sim):
    q = _batches(sim.first, "OptionNbboQuote")
    return {k: np.concatenate([np.asarray(b.data[k]) for b in q]) for k in q[0].data}


def test_bid_never_above_ask_and_ask_positive(sim):
    q = _all_quotes(sim)
    assert np.all(q["bidPrice"] <= q["askPrice"] - 0.005)
    assert np.all(q["askPrice"] > 0) and np.all(q["bidPrice"] >= 0)
    assert np.all((q["bidSize"] == 0) == (q["bidPrice"] == 0))


def test_prices_sit_on_the_tick_grid_of_their_class(sim):
    q = _all_quotes(sim)
    s = sim.master.series
    lo = sim.root_lo[s.root_idx]
    hi = sim.root_hi[s.root_idx]
    for px in (q["bidPrice"], q["askPrice"]):
        tick = np.where(px < 3.0, lo, hi)
        units = px / tick
        assert np.all(np.abs(units - np.round(units)) < 1e-6)
    cake = s.tk == "CAKE"
    assert np.any((q["askPrice"][cake] >= 3) & (np.round(q["askPrice"][cake] * 100) % 10 == 0))
    assert np.any(q["askPrice"][s.tk == "SPY"] > 3)


def test_quoted_mids_respect_intrinsic_value(sim):
    q = _all_quotes(sim)
    s = sim.master.series
    spot = sim.spot[s.und_idx]
    k = s.strike
    put = s.cp == 1
    intrinsic = np.maximum(np.where(put, k - spot, spot - k), 0.0)
    mid = 0.5 * (q["bidPrice"] + q["askPrice"])
    tick = np.where(mid < 3, sim.root_lo[s.root_idx], sim.root_hi[s.root_idx])
    amer = sim.root_amer[s.root_idx]
    assert np.all(q["askPrice"][amer] >= intrinsic[amer] - 1e-9)
    assert np.all(mid[amer] >= intrinsic[amer] - tick[amer] / 2 - 1e-9)
    # European: against the discounted forward intrinsic
    _theo, fwd, _th = sim.theo(np.arange(len(s)))
    t = np.maximum(s.exp_ns[s.exp_idx] - sim.now_ns, 300e9) / (365 * 86400e9)
    disc = np.exp(-sim.config.rate * t)
    euro_intr = disc * np.maximum(np.where(put, k - fwd, fwd - k), 0.0)
    eu = ~amer
    assert np.all(q["askPrice"][eu] >= euro_intr[eu] - 1e-6)
    assert np.all(mid[eu] >= euro_intr[eu] - tick[eu] / 2 - 1e-6)


def test_call_theos_fall_and_put_theos_rise_with_strike(sim):
    s = sim.master.series
    theo, _f, _t = sim.theo(np.arange(len(s)))
    for e in range(len(s.exp_root)):
        for cp, sign in ((0, -1), (1, 1)):
            sel = np.flatnonzero((s.exp_idx == e) & (s.cp == cp))
            d = np.diff(theo[sel]) * sign
            assert np.all(d >= -1e-8)


def test_surface_is_skewed_like_equities(sim):
    s = sim.master.series
    sel = np.flatnonzero(s.tk == "SPY")
    e = s.exp_idx[sel][len(sel) // 2]
    rows = np.flatnonzero((s.exp_idx == e) & (s.cp == 1))
    _theo, fwd, th = sim.theo(rows)
    from openmlink.market._pricing import ssvi_total_variance
    u = s.und_idx[rows[0]]
    k = np.log(s.strike[rows] / fwd)
    w = ssvi_total_variance(k, th, sim.rho[u], sim.eta[u])
    assert w[0] > w[np.argmin(np.abs(k))] and np.all(np.isfinite(w))


def test_quotes_move_and_the_requote_rate_holds(sim):
    before = sim.spot.copy()
    msgs = []
    for _ in range(8):
        msgs += sim.step(STEP)
    assert not np.array_equal(before, sim.spot)
    quotes = _batches(msgs, "OptionNbboQuote")
    per_tick = np.mean([len(q.data["bidPrice"]) for q in quotes])
    assert per_tick == pytest.approx(0.05 * len(sim.master.series), rel=0.1)
    stock = _batches(msgs, "StockBookQuote")
    aapl = list(sim.symbols).index("AAPL")
    bids = {float(b.data["bidPrice1"][aapl]) for b in stock}
    assert len(bids) > 1
    b, a = stock[-1].data["bidPrice1"][aapl], stock[-1].data["askPrice1"][aapl]
    assert 0 < a - b < 0.05 and abs(0.5 * (a + b) - sim.spot[aapl]) < 0.02


def test_prints_have_plausible_sizes_and_prices(sim):
    msgs = []
    for _ in range(20):
        msgs += sim.step(STEP)
    op = _batches(msgs, "OptionPrint")
    sp = _batches(msgs, "StockPrint")
    assert op and sp
    for b in op:
        d = b.data
        assert np.all(d["prtSize"] >= 1) and np.all(d["prtSize"] < 5000)
        assert np.all((d["prtPrice"] >= d["bidPrice"] - 1e-9) & (d["prtPrice"] <= d["askPrice"] + 1e-9))
    for b in sp:
        assert np.all(b.data["prtSize"] >= 1) and np.all(b.data["prtPrice"] > 0)


def test_exchange_codes_are_opt_exch_members(sim):
    q = _all_quotes(sim)
    s = sim.master.series
    cboe = ordinal("OptionNbboQuote", "bidExch", "CBOE")
    spx = (s.tk == "SPX") | (s.tk == "SPXW")
    assert np.all(q["bidExch"][spx] == cboe)
    assert len(np.unique(q["bidExch"][s.tk == "AAPL"])) > 5


def test_norm_cdf_and_black76_are_accurate():
    x = np.linspace(-8, 8, 101)
    from math import erf, sqrt
    exact = np.array([0.5 * (1 + erf(v / sqrt(2))) for v in x])
    assert np.max(np.abs(norm_cdf(x) - exact)) < 2e-7
    # Haug: call F=K=100, sigma 20%, T=1 -> 7.9656 undiscounted
    c = black76(np.array([False]), np.array([100.0]), np.array([100.0]), np.array([0.2]),
                np.array([1.0]))
    assert c[0] == pytest.approx(7.965567, abs=1e-5)


@given(st.floats(5.0, 2000.0), st.floats(0.3, 3.0), st.floats(1e-5, 3.0), st.floats(-0.01, 0.1),
       st.floats(0.0, 0.06), st.floats(0.02, 2.0), st.sampled_from([1.0, -1.0]))
def test_bsm_price_is_the_analytics_european_price(s: float, m: float, t: float, r: float,
                                                   q: float, v: float, cp: float) -> None:
    """The simulator's NumPy European price (the European part of its American values, no
    kernel to compile at a cold start) is ``analytics.price`` to ~1e-12 of the spot."""
    from openmlink.analytics import price

    a = [np.array([x]) for x in (s, s * m, t, r, q, v)]
    got = bsm_price(np.array([cp]), *a)[0]
    assert abs(got - float(price(*a, np.array([cp]))[0])) <= 1e-12 * s


def test_run_with_a_sim_clock_advances_it():
    clock = SimClock(START)
    bus = RecordingBus()
    sim = MarketSimulator(SimConfig(seed=1, universe="small", tick_interval_ms=1, speed=1000.0))

    async def go() -> None:
        task = asyncio.create_task(sim.run(bus, clock))
        while clock.time_ns() == START:
            await asyncio.sleep(0.001)
        sim.close()
        await task

    asyncio.run(asyncio.wait_for(go(), 10))
    assert clock.time_ns() > START
    assert any(m.mt.name == "OptionNbboQuote" for m in bus.published)


def test_expired_series_stop_quoting():
    sim = MarketSimulator(SimConfig(seed=4, universe="small", quote_rate=0.2), start_ns=START)
    s = sim.master.series
    today = s.dt_days.min()  # SPXW lists today's expiry (PM, 16:00 New York)
    assert np.any(s.dt_days == today)
    sim.step(7 * 3600 * 10**9)  # past the close
    q = _batches(sim.step(STEP), "OptionNbboQuote")[0]
    assert not np.any(q.data["okey.dt"] == today)
    assert len(q.data["okey.dt"]) > 0


def test_american_series_are_quoted_at_american_values_of_the_known_model():
    from openmlink.analytics import price

    s = MarketSimulator(SimConfig(seed=3, universe="small"), start_ns=START)
    ser = s.master.series
    idx = np.arange(len(ser))
    tr = s.truth(idx)
    am = np.flatnonzero(tr["american"])
    assert len(am) and (~tr["american"]).any()
    cp = np.where(ser.cp[idx] == 1, -1.0, 1.0)
    # the truth is the ALO value on the escrowed spot with the model's rate, yield and vol (its
    # early-exercise premium taken at the time to expiry rounded up to a minute)
    ref = price(tr["spot"][am] - tr["ddiv"][am], ser.strike[am], tr["t"][am], tr["rate"][am],
                tr["q"][am], tr["vol"][am], cp[am], exercise="american")
    np.testing.assert_allclose(tr["value"][am], ref, rtol=0, atol=1e-4)  # the target
    # ... which puts deep in-the-money American puts at or above exercise value
    put = am[cp[am] < 0]
    assert (tr["theo"][put] >= ser.strike[put] - tr["spot"][put] - 1e-9).all()
    euro = price(tr["spot"][put] - tr["ddiv"][put], ser.strike[put], tr["t"][put],
                 tr["rate"][put], tr["q"][put], tr["vol"][put], -1.0)
    assert (tr["value"][put] - euro).max() > 0.5  # the early-exercise premium is quoted
    # European series stay Black-76 on the forward; theo() is the truth's theo
    eu = np.flatnonzero(~tr["american"])
    b76 = black76(ser.cp[eu] == 1, tr["fwd"][eu], ser.strike[eu], tr["vol"][eu] * np.sqrt(tr["t"][eu]),
                  np.exp(-tr["rate"][eu] * tr["t"][eu]))
    np.testing.assert_allclose(tr["value"][eu], b76, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(s.theo(idx)[0], tr["theo"])
