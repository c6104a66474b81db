"""The worked example of docs/span.md: every number of its table, checked two ways."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openmlink.analytics.span import SPAN_FIELDS
from openmlink.engines.span import SpanEngine
from tests.analytics.span.test_span_quantlib import _ql_value
from tests.support.mini_market import MiniMarket

DOC = Path(__file__).resolve().parents[3] / "docs" / "span.md"


def _table() -> list[tuple[str, float, float, float, float, float]]:
    rows = re.findall(r"^\| (span\d\d) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| (-?[\d.]+) \|$",
                      DOC.read_text(), re.M)
    return [(r[0], *map(float, r[1:])) for r in rows]


def test_worked_example_matches_quantlib_and_the_engine():
    rows = _table()
    assert [r[0] for r in rows] == list(SPAN_FIELDS)
    v0 = _ql_value(100, 100, 0.5, 0.05, 0.0, 0.30, 1.0, False)
    assert v0 == pytest.approx(9.634877, abs=5e-7)
    mm = MiniMarket()
    SpanEngine(mm.bus, mm.store, mm.reg, mm.clock).attach()
    rec = mm.put("SpanRiskCalculator", {
        "pkey": {"secKey": "AAPL-NMS-EQT-2025-06-20-100-C", "secType": "Option", "userName": "me"},
        "vol": 0.30, "volSrc": "User", "uPrc": 100, "uPrcSrc": "User", "years": 0.5,
        "yearsSrc": "User", "rate": 0.05, "rateSrc": "User", "sdiv": 0, "sdivSrc": "User",
        "exType": "European", "exTypeSrc": "User", "divString": "", "divSrc": "User",
        "pointValue": 100, "pointValueSrc": "User", "prcSpanType": "Pct", "prcSpanUp": 0.15,
        "prcSpanDn": 0.15, "volSpanType": "Pct", "volSpan": 0.25})
    out = mm.get("SpanRiskCalculator", rec)
    assert out["error"] == ""
    for name, u, vol, v_s, w, value in rows:
        assert _ql_value(u, 100, 0.5, 0.05, 0.0, vol, 1.0, False) == pytest.approx(v_s, abs=5e-7)
        assert w * (v_s - v0) * 100 == pytest.approx(value, abs=2e-4)
        assert out[name] == pytest.approx(value, abs=1e-4)
