"""Generated demo chains: simulator -> Cboe CSV -> loader gives back the same quotes."""

from __future__ import annotations

import numpy as np
import pytest

from openmlink.market import MarketSimulator, SimConfig, load_chain, osi_symbol
from openmlink.schema._values import datetime_from_text

START = datetime_from_text("2026-11-23 15:00:00")


@pytest.mark.parametrize("symbol", ["SPX", "SPY", "CAKE"])
def test_written_chain_reads_back_exactly(tmp_path, symbol):
    from openmlink.market import write_chain_csv

    sim = MarketSimulator(SimConfig(seed=2, universe="small"), start_ns=START)
    path = tmp_path / f"{symbol.lower()}.csv"
    n = write_chain_csv(sim, symbol, path)
    snap = load_chain(path)
    s = sim.master.series
    rows = np.flatnonzero(s.und_idx == sim.master.underlier_index(symbol))
    assert n == len(snap) == len(rows)
    assert snap.underlier == symbol
    assert set(snap.roots()) == {r.root for r in sim.master.roots_of(symbol)}
    mine = {(str(s.tk[i]), int(s.dt_days[i]), float(s.strike[i]), int(s.cp[i])) for i in rows}
    got = set(zip(snap.root.tolist(), snap.expiry.tolist(), snap.strike.tolist(),
                  snap.cp.tolist(), strict=True))
    assert got == mine
    assert np.all(snap.bid_px <= snap.ask_px)


def test_osi_symbol_form():
    from datetime import date

    assert osi_symbol("SPXW", date(2023, 9, 14), "C", 1200.0) == "SPXW230914C01200000"
    assert osi_symbol("SPY", date(2023, 9, 15), "P", 447.5) == "SPY230915P00447500"
