"""SpanEngine on an in-process bus: Default vs User inputs, errors, stock/future secTypes,
batch path, and its own output not re-triggering it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from openmlink.analytics import implied_vol
from openmlink.analytics.span import (
    PRC_SPAN_TYPES,
    SPAN_FIELDS,
    VOL_SPAN_TYPES,
    DivStringError,
    SpanModel,
    parse_div_string,
    scenario_grid,
    span_values,
)
from openmlink.bus import RecordingBus
from openmlink.engines.span import SpanEngine
from tests.support.mini_market import MiniMarket

USER_ALL = {"volSrc": "User", "uPrcSrc": "User", "yearsSrc": "User", "rateSrc": "User",
            "sdivSrc": "User", "exTypeSrc": "User", "divSrc": "User", "pointValueSrc": "User"}


@pytest.fixture
def mm() -> MiniMarket:
    m = MiniMarket()
    m.bus = RecordingBus()
    m.store.attach(m.bus)
    SpanEngine(m.bus, m.store, m.reg, m.clock).attach()
    m.root("AAPL")
    m.stock("AAPL", 199.9, 200.1)
    m.option("AAPL", 200, "Call", 9.9, 10.3)
    return m


def _post(mm: MiniMarket, sec: str, sec_type: str = "Option", **fields) -> dict:
    rec = mm.put("SpanRiskCalculator", {"pkey": {"secKey": sec, "secType": sec_type,
                                                 "userName": "u"}, **fields})
    return mm.get("SpanRiskCalculator", rec)


def test_user_inputs_give_the_kernel_values_times_point_value(mm):
    out = _post(mm, "AAPL-NMS-EQT-2025-03-21-200-C", vol=0.3, uPrc=200, years=0.25, rate=0.05,
                sdiv=0.01, exType="European", divString="", pointValue=50, prcSpanType="Log",
                prcSpanUp=0.1, prcSpanDn=0.12, volSpanType="Abs", volSpan=0.05, **USER_ALL)
    assert out["error"] == ""
    S_s, V_s = scenario_grid(200, 0.3, 0.25, PRC_SPAN_TYPES.index("Log"), 0.1, 0.12,
                             VOL_SPAN_TYPES.index("Abs"), 0.05)
    want = span_values(200, 200, 0.25, 0.05, 0.01, 0.3, 1.0, S_s, V_s, 0, False, SpanModel())[0] * 50
    np.testing.assert_allclose([out[f] for f in SPAN_FIELDS], want, rtol=1e-12)


def test_default_inputs_come_from_the_live_platform(mm):
    out = _post(mm, "AAPL-NMS-EQT-2025-03-21-200-C")
    assert out["error"] == ""
    assert out["uPrc"] == pytest.approx(200.0)
    assert out["exType"] == 1  # American, from RootDefinition
    assert out["pointValue"] == 100.0 and out["effStrike"] == 200.0 and out["symRatio"] == 1.0
    years = (np.datetime64("2025-03-21T21:00") - np.datetime64("2025-01-02T15:00")) \
        / np.timedelta64(1, "s") / (365 * 86400)
    assert out["years"] == pytest.approx(years)
    iv, _ = implied_vol(10.1, 200.0, 200.0, years, 0.045, 0.0, 1.0, "american")
    assert out["vol"] == pytest.approx(float(iv), rel=1e-9)
    assert out["span11"] > out["span07"] > out["span03"] > 0 > out["span05"]


def test_live_implied_quote_vol_wins_over_the_nbbo_implied_vol(mm):
    mm.put("LiveImpliedQuote", {"pkey": {"okey": "AAPL-NMS-EQT-2025-03-21-200-C"}, "sVol": 0.41,
                                "uPrc": 201.0, "rate": 0.05, "sdiv": 0.002})
    out = _post(mm, "AAPL-NMS-EQT-2025-03-21-200-C")
    assert (out["vol"], out["uPrc"], out["rate"], out["sdiv"]) == pytest.approx((0.41, 201, 0.05, 0.002))


@pytest.mark.parametrize(("fields", "error"), [
    ({"vol": -0.2, "volSrc": "User"}, "vol must be >= 0"),
    ({"divString": "[0.5, oops]", "divSrc": "User"}, "divString: need when:amt"),
    ({"divString": "[x]", "divSrc": "User"}, "divString: bad first item"),
    ({"exType": "Asian", "exTypeSrc": "User"}, "exType: American or European"),
])
def test_bad_inputs_set_error_and_zero_spans(mm, fields, error):
    out = _post(mm, "AAPL-NMS-EQT-2025-03-21-200-C", **fields)
    assert out["error"] == error and len(out["error"]) <= 32
    assert all(out[f] == 0.0 for f in SPAN_FIELDS)
    ok = _post(mm, "AAPL-NMS-EQT-2025-03-21-200-P")
    assert ok["error"] in ("", "no live vol")  # the other record is unaffected


def test_unknown_security_is_an_error(mm):
    out = _post(mm, "ZZZZ-NMS-EQT-2025-03-21-10-C")
    assert out["error"] == "unknown security"


def test_stock_and_future_sec_types_are_linear_and_hedged_have_no_slides(mm):
    out = _post(mm, "AAPL-NMS-EQT", "Stock", prcSpanType="Pct", prcSpanUp=0.1, prcSpanDn=0.1)
    assert out["error"] == ""
    assert out["span11"] == pytest.approx(20.0) and out["span13"] == pytest.approx(-20.0)
    assert out["span15"] == pytest.approx(200 * 0.3 * 0.33) and out["span01"] == 0.0
    fut = _post(mm, "ES-NMS-FUT-2025-03-21", "Future", uPrc=6000, uPrcSrc="User",
                prcSpanType="Pts", prcSpanUp=60, prcSpanDn=60, pointValue=50, pointValueSrc="User")
    assert fut["error"] == "" and fut["span11"] == pytest.approx(3000.0)
    hedged = _post(mm, "AAPL-NMS-EQT", "Stock", hedgeDeltaNeutral="Yes")
    assert all(hedged[f] == 0.0 for f in SPAN_FIELDS)


def test_exch_default_uses_the_equity_class_span(mm):
    out = _post(mm, "AAPL-NMS-EQT", "Stock")
    assert out["span11"] == pytest.approx(200 * 0.15)


def test_engine_does_not_react_to_its_own_output(mm):
    n0 = len(mm.bus.published)
    _post(mm, "AAPL-NMS-EQT-2025-03-21-200-C")
    assert len(mm.bus.published) - n0 == 2  # the client post and one completed record


def test_div_string_forms():
    from datetime import date
    assert parse_div_string("[0.5, 0.1:0.25, 0.35:0.3]", date(2025, 1, 2)) == ((0.1, 0.35), (0.25, 0.3))
    t, a = parse_div_string("[-1, 2025-02-10:0.25]", date(2025, 1, 2))
    assert t == pytest.approx((39 / 365,)) and a == (0.25,)
    assert parse_div_string("", date(2025, 1, 2)) == ((), ())
    with pytest.raises(DivStringError):
        parse_div_string("[-1, 2025-13-10:0.25]", date(2025, 1, 2))


def test_user_div_string_dividends_enter_the_price(mm):
    base = dict(vol=0.3, uPrc=200, years=0.25, rate=0.05, sdiv=0.0, exType="European",
                pointValue=100, **USER_ALL)
    a = _post(mm, "AAPL-NMS-EQT-2025-03-21-200-C", divString="", **base)
    b = _post(mm, "AAPL-NMS-EQT-2025-03-21-200-P", divString="[0.25, 0.1:2.0]", **base)
    S_s, V_s = scenario_grid(200, 0.3, 0.25, 1, 0.15, 0.15, 1, 0.25)
    want = span_values(200, 200, 0.25, 0.05, 0.0, 0.3, -1.0, S_s, V_s, 0, False,
                       SpanModel(dividends=((0.1,), (2.0,))))[0] * 100
    np.testing.assert_allclose([b[f] for f in SPAN_FIELDS], want, rtol=1e-10)
    assert a["error"] == b["error"] == ""


def test_batch_path_equals_single_records(mm):
    eng = SpanEngine(mm.bus, mm.store, mm.reg, mm.clock)
    t = mm.store.table(mm.reg["SpanRiskCalculator"])
    recs = []
    for i, k in enumerate((190, 200, 210)):
        for cp in ("C", "P"):
            recs.append(_post(mm, f"AAPL-NMS-EQT-2025-03-21-{k}-{cp}", vol=0.2 + 0.01 * i,
                              volSrc="User", spanCalcType=["PnL", "Delta", "Vega"][i]))
    batch = eng.compute(recs)
    for rec, out in zip(recs, batch, strict=True):
        single = eng.compute([t.get(tuple(rec[f] for f in ("secKey", "secType", "userName")))])[0]
        for f in SPAN_FIELDS:
            assert math.isclose(out[f], single[f], rel_tol=1e-12, abs_tol=1e-12)
