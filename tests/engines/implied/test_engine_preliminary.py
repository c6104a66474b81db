"""The preliminary pass of a cold start (``ImpliedQuoteEngine.set_preliminary``: every root valued
as European while the American kernels compile) publishes real rows, not placeholders: European
roots exactly as the accurate pass, American roots with finite greeks of the right sign and a
surface vol close to the accurate one; the accurate pass then replaces them (docs/running.md
"What start-up says" gives these figures for the default universe)."""

from __future__ import annotations

import numpy as np
import pytest

from openmlink.bus import RecordingBus
from openmlink.clock import SimClock
from openmlink.engines.implied import EngineConfig, ImpliedQuoteEngine
from openmlink.market import MarketSimulator, SimConfig
from openmlink.schema import registry
from openmlink.schema._values import datetime_from_text

START = datetime_from_text("2026-11-23 15:00:00")  # a Monday, 10:00 New York
Rows = dict[str, np.ndarray]


def _enum(field: str, name: str) -> int:
    enum = registry()["LiveImpliedQuote"].field(field).enum
    assert enum is not None
    return enum.names.index(name)


def _pass(eng: ImpliedQuoteEngine, bus: RecordingBus, preliminary: bool) -> Rows:
    eng.set_preliminary(preliminary)
    n0 = len(bus.published)
    eng.on_timer()
    liq = [m for m in bus.published[n0:] if m.mt.name == "LiveImpliedQuote"]
    d = {k: np.concatenate([np.asarray(b.data[k]) for b in liq]) for k in liq[0].data}
    order = np.lexsort((d["okey.cp"], d["okey.xx"], d["okey.dt"], d["okey.tk"].astype(str)))
    return {k: v[order] for k, v in d.items()}


@pytest.fixture(scope="module")
def passes() -> tuple[Rows, Rows, int]:
    sim = MarketSimulator(SimConfig(seed=3, universe="small"), start_ns=START)
    bus = RecordingBus()
    eng = ImpliedQuoteEngine(bus, SimClock(START), EngineConfig(), master=lambda: sim.master)
    eng.attach()
    eng.ready = False
    for m in sim.snapshot():
        bus.publish(m)
    eng.ready = True
    try:
        pre = _pass(eng, bus, True)
        acc = _pass(eng, bus, False)
    finally:
        eng.set_preliminary(False)  # process-wide: the parallel twins back on
    return pre, acc, len(sim.master.series)


def test_every_series_gets_a_preliminary_row_and_the_accurate_pass_replaces_it(passes) -> None:
    pre, acc, n = passes
    assert len(pre["sVol"]) == len(acc["sVol"]) == n
    for k in ("okey.tk", "okey.dt", "okey.xx", "okey.cp"):
        np.testing.assert_array_equal(pre[k], acc[k])
    amer = pre["calcSource"] == _enum("calcSource", "None")
    assert 0 < amer.sum() < n  # the small universe has both exercise styles
    assert (pre["calcSource"][~amer] == _enum("calcSource", "Loop")).all()
    assert (pre["priceType"] == _enum("priceType", "Future")).all()
    assert (acc["calcSource"] == _enum("calcSource", "Loop")).all()
    assert (acc["priceType"][amer] == _enum("priceType", "Equity")).all()
    assert (pre["calcErr"] == 0).mean() >= 0.99


def test_european_roots_are_final_from_the_preliminary_pass(passes) -> None:
    pre, acc, _ = passes
    eu = pre["calcSource"] != _enum("calcSource", "None")
    for f in ("sVol", "sPrc", "de", "ga", "th", "ve", "va", "vo", "ro", "up50", "dn50", "oBidIv",
              "calcErr"):
        np.testing.assert_array_equal(pre[f][eu], acc[f][eu], err_msg=f)


def test_american_rows_carry_real_european_values_close_to_the_accurate_ones(passes) -> None:
    pre, acc, _ = passes
    amer = (pre["calcSource"] == _enum("calcSource", "None")) & (pre["calcErr"] == 0)
    for f in ("sVol", "sPrc", "de", "ga", "th", "ve", "up50", "dn50"):
        assert np.isfinite(pre[f][amer]).all(), f
    call = amer & (pre["okey.cp"] == 0)
    put = amer & (pre["okey.cp"] == 1)
    assert (pre["de"][call] > 0).all() and (pre["de"][put] < 0).all()
    assert (pre["ga"][amer] > 0).all() and (pre["ve"][amer] > 0).all()
    near = amer & (np.abs(pre["okey.xx"] / pre["uPrc"] - 1.0) < 0.10) & (acc["calcErr"] == 0)
    assert near.sum() > 100
    dv = np.abs(pre["sVol"][near] - acc["sVol"][near])
    assert np.median(dv) <= 0.005 and np.percentile(dv, 95) <= 0.02  # vol points: 0.5 and 2
    dd = np.abs(pre["de"][near] - acc["de"][near])
    assert np.median(dd) <= 0.05
