"""SPAN takes "today" as the New York trade date of the injected clock: at 21:30 New York on
2025-03-03 (02:30 UTC on 03-04) a dividend dated 03-04 is one day away, not today."""

from __future__ import annotations

from datetime import date, time

import numpy as np
import pytest

from openmlink.analytics.span import SPAN_FIELDS, SpanModel, scenario_grid, span_values
from openmlink.clock import SimClock
from openmlink.engines.span import SpanEngine
from openmlink.timeutil import local_ns
from tests.support.mini_market import MiniMarket

USER_ALL = {"volSrc": "User", "uPrcSrc": "User", "yearsSrc": "User", "rateSrc": "User",
            "sdivSrc": "User", "exTypeSrc": "User", "divSrc": "User", "pointValueSrc": "User"}


@pytest.mark.parametrize("hour", [time(12, 0), time(21, 30)])
def test_span_dividend_times_count_from_the_new_york_trade_date(hour: time) -> None:
    m = MiniMarket()
    m.clock = SimClock(local_ns(date(2025, 3, 3), hour))
    SpanEngine(m.bus, m.store, m.reg, m.clock).attach()
    m.root("AAPL")
    rec = m.put("SpanRiskCalculator", {
        "pkey": {"secKey": "AAPL-NMS-EQT-2025-03-21-200-P", "secType": "Option", "userName": "u"},
        "vol": 0.3, "uPrc": 200, "years": 0.05, "rate": 0.05, "sdiv": 0.0, "exType": "European",
        "pointValue": 100, "divString": "[-1, 2025-03-04:5.0]", **USER_ALL})
    out = m.get("SpanRiskCalculator", rec)
    assert out is not None and out["error"] == ""
    S_s, V_s = scenario_grid(200, 0.3, 0.05, 1, 0.15, 0.15, 1, 0.25)

    def spans(div_t: float) -> np.ndarray:
        return span_values(200, 200, 0.05, 0.05, 0.0, 0.3, -1.0, S_s, V_s, 0, False,
                           SpanModel(dividends=((div_t,), (5.0,))))[0] * 100

    got = np.array([out[f] for f in SPAN_FIELDS])
    np.testing.assert_allclose(got, spans(1 / 365), rtol=1e-10)
    assert not np.allclose(spans(1 / 365), spans(0.0), rtol=1e-10)  # the UTC date would differ
