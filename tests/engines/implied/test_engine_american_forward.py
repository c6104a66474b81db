"""The engine on the simulator's American chains (known rates and cash dividends): call and
put IVs agree, sPrc sits inside the market, the implied yield recovers the truth (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest

from openmlink.bus import RecordingBus
from openmlink.clock import SimClock
from openmlink.engines.implied import EngineConfig, ImpliedQuoteEngine
from openmlink.market import MarketSimulator, SimConfig
from openmlink.schema._values import datetime_from_text

START = datetime_from_text("2026-11-23 15:00:00")  # a Monday, 10:00 New York


@pytest.fixture(scope="module")
def loop() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    sim = MarketSimulator(SimConfig(seed=3, universe="small"), start_ns=START)
    bus = RecordingBus()
    eng = ImpliedQuoteEngine(bus, SimClock(START), EngineConfig(), master=lambda: sim.master)
    eng.attach()
    eng.ready = False  # store the snapshot, then one Loop pass
    for m in sim.snapshot():
        bus.publish(m)
    eng.ready = True
    n0 = len(bus.published)
    eng.on_timer()
    liq = [m for m in bus.published[n0:] if m.mt.name == "LiveImpliedQuote"]
    d = {k: np.concatenate([np.asarray(b.data[k]) for b in liq]) for k in liq[0].data}
    ser = sim.master.series
    where = {(str(ser.tk[i]), int(ser.dt_days[i]), float(ser.strike[i]), int(ser.cp[i])): i
             for i in range(len(ser))}
    idx = np.array([where[(str(a), int(b), float(c), int(e))] for a, b, c, e in
                    zip(d["okey.tk"], d["okey.dt"], d["okey.xx"], d["okey.cp"], strict=True)])
    return d, sim.truth(idx)


def _near(d: dict[str, np.ndarray], und: str, days: float) -> np.ndarray:
    return ((d["ticker.tk"] == und) & (np.abs(d["okey.xx"] / d["uPrc"] - 1.0) < 0.10)
            & (d["years"] > days / 365.0) & (d["calcErr"] == 0))


@pytest.mark.parametrize("und", ["SPY", "AAPL"])
def test_call_and_put_ivs_agree_at_every_near_money_strike(loop, und: str) -> None:
    d, _ = loop
    near = _near(d, und, 0.0)
    mid = 0.5 * (d["oBidIv"] + d["oAskIv"])
    key = list(zip(d["okey.tk"], d["okey.dt"], d["okey.xx"], strict=True))
    puts = {key[i]: i for i in np.flatnonzero(near & (d["okey.cp"] == 1))}
    calls = [i for i in np.flatnonzero(near & (d["okey.cp"] == 0)) if key[i] in puts]
    gap = np.array([mid[c] - mid[puts[key[c]]] for c in calls])
    gap = gap[np.isfinite(gap)]
    assert len(gap) > 50
    assert np.median(np.abs(gap)) <= 0.003  # 0.3 vol pt
    assert abs(np.median(gap)) <= 0.001  # no systematic call/put bias (a biased forward)


@pytest.mark.parametrize("und", ["SPY", "AAPL"])
def test_sprc_inside_the_market_for_liquid_near_money_series(loop, und: str) -> None:
    d, _ = loop
    liquid = _near(d, und, 14.0) & (d["oBid"] > 0) & (d["oAsk"] > d["oBid"])
    assert liquid.sum() > 50
    inside = (d["sPrc"][liquid] >= d["oBid"][liquid] - 1e-9) & (d["sPrc"][liquid] <= d["oAsk"][liquid] + 1e-9)
    assert inside.mean() >= 0.9
    smark = d["sMark"][liquid]
    assert ((smark >= d["oBid"][liquid]) & (smark <= d["oAsk"][liquid])).all()


@pytest.mark.parametrize("und", ["SPY", "AAPL", "CAKE"])
def test_implied_dividend_yield_and_cash_dividends_recover_the_truth(loop, und: str) -> None:
    d, tr = loop
    ok = (d["ticker.tk"] == und) & (d["calcErr"] == 0)
    # sdiv is the yield on top of the cash dividends (ddiv): the simulator's is tr["q"].  A
    # forward is known to about half a tick, i.e. a yield to ~tick/(2 S t): within 20 bp
    # from a month out (CAKE's 50-cent markets included), within 5 bp in the median.
    month = ok & (d["years"] > 30 / 365.0)
    assert month.sum() > 20
    assert np.max(np.abs(d["sdiv"][month] - tr["q"][month])) <= 0.002
    week = ok & (d["years"] > 7 / 365.0)
    per_expiry = [d["sdiv"][week & (d["years"] == y)][0] - tr["q"][week & (d["years"] == y)][0]
                  for y in np.unique(d["years"][week])]
    assert abs(np.median(per_expiry)) <= 0.0005
    np.testing.assert_allclose(d["ddiv"][ok], tr["ddiv"][ok], rtol=1e-3, atol=1e-3)
    # the engine measures the rate from the simulated index chains (SPX/XSP/NDX parity, the
    # curve every underlier uses) instead of being given the simulator's: within 10 bp of it
    np.testing.assert_allclose(d["rate"][ok], tr["rate"][ok], atol=0.001)
