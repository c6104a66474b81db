"""Theo V6 time counts trading days after the New York trade date of the injected clock."""

from __future__ import annotations

from datetime import date, time
from types import SimpleNamespace

import pytest

from openmlink.clock import SimClock
from openmlink.engines.theo import TheoEngine
from openmlink.query import compile_where
from openmlink.timeutil import local_ns
from tests.support.mini_market import EXPIRY, MiniMarket


def test_v6_years_after_eight_pm_new_york_count_from_that_trade_date() -> None:
    m = MiniMarket()
    m.clock = SimClock(local_ns(date(2025, 3, 3), time(21, 30)))  # 2025-03-04 02:30 UTC
    TheoEngine(m.bus, m.store, m.reg, m.clock).attach()
    m.root("AAPL", exercise="European")
    m.stock("AAPL", 199.9, 200.1)
    for k in (190, 200, 210):
        m.option("AAPL", k, "Call", 5.0, 5.4)
    m.put("SpdrTheoExpSurface", {"pkey": {"ekey": f"AAPL-NMS-EQT-{EXPIRY}", "theoModel": "M1",
                                          "clientFirm": "F1"},
                                 "skewFunc": "SVI", "theoStatus": "Auto", "volTimeUnits": "V6",
                                 "paramA": 0.01, "paramB": 0.05, "paramC": -0.5, "paramE": 0.1})
    mt = m.reg["OptionTheoVol"]
    t = m.store.prepare(mt, compile_where(mt, "theoModel:eq:M1"),
                        SimpleNamespace(client_firm=None, user_name="u"))
    rows = [t.record(int(r)) for r in t.live_rows()]
    assert len(rows) == 3 and all(r["err"] == 0 for r in rows)
    # trading days 03-04 .. 03-21 (no holidays): 14; counting from the UTC date gives 13
    assert [r["years"] for r in rows] == pytest.approx([14 / 252] * 3, abs=1e-12)
