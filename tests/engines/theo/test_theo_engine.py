"""TheoEngine in process: OptionTheoVol on read from a client SVI surface, firm visibility,
the required theoModel clause, validation published on the record, sticky dynamics."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from openmlink.analytics import greeks, price
from openmlink.analytics.theo import svi_total_variance
from openmlink.engines.theo import TheoEngine
from openmlink.query import QueryError, compile_where
from tests.support.mini_market import EXPIRY, MiniMarket

SVI = {"paramA": 0.01, "paramB": 0.05, "paramC": -0.5, "paramD": 0.0, "paramE": 0.1}
STRIKES = (180, 190, 200, 210, 220)
EKEY = f"AAPL-NMS-EQT-{EXPIRY}"


@pytest.fixture
def mm() -> MiniMarket:
    m = MiniMarket()
    TheoEngine(m.bus, m.store, m.reg, m.clock).attach()
    m.root("AAPL", exercise="European")
    m.stock("AAPL", 199.9, 200.1)
    for k in STRIKES:
        m.option("AAPL", k, "Call", max(200 - k, 0) + 5, max(200 - k, 0) + 5.4)
        m.option("AAPL", k, "Put", max(k - 200, 0) + 5, max(k - 200, 0) + 5.4)
    return m


def _surface(mm: MiniMarket, model: str = "M1", firm: str = "F1", **fields) -> dict:
    return mm.put("SpdrTheoExpSurface", {"pkey": {"ekey": EKEY, "theoModel": model,
                                                  "clientFirm": firm},
                                         "skewFunc": "SVI", "theoStatus": "Auto", **SVI, **fields})


def _read(mm: MiniMarket, where: str = "theoModel:eq:M1", firm: str | None = None) -> list[dict]:
    mt = mm.reg["OptionTheoVol"]
    b = compile_where(mt, where)
    t = mm.store.prepare(mt, b, SimpleNamespace(client_firm=firm, user_name="u"))
    rows = [t.record(int(r)) for r in t.live_rows()]
    return [r for r in rows if r["theoModel"] in where]


def test_option_theo_vol_matches_a_direct_svi_evaluation(mm):
    _surface(mm, refUPrcWeight=0.0, buySellConvention="BSSpread", bOpnVol=0.01, sOpnVol=0.02,
             bOpnEdge=0.05, sOpnEdge=0.05)
    rows = _read(mm)
    assert len(rows) == 2 * len(STRIKES)
    for r in rows:
        T, u, rate = r["years"], r["uprc"], r["rate"]
        assert u == pytest.approx(200.0) and r["err"] == 0 and r["theoErr"] == ""
        K = r["okey"].xx
        cp = 1.0 if r["okey"].cp == "Call" else -1.0
        k = math.log(K / (u * math.exp(rate * T)))
        tv = math.sqrt(float(svi_total_variance(k, 0.01, 0.05, -0.5, 0.0, 0.1)) / T)
        assert r["xAxis"] == pytest.approx(k, abs=1e-12)
        assert r["tvol"] == pytest.approx(tv, rel=1e-12)
        assert r["tprc"] == pytest.approx(float(price(u, K, T, rate, 0.0, tv, cp)), rel=1e-12)
        assert r["tvolBOpn"] == pytest.approx(tv - 0.01) and r["tvolSOpn"] == pytest.approx(tv + 0.02)
        assert r["tbPrc"] == pytest.approx(float(price(u, K, T, rate, 0.0, tv - 0.01, cp)) - 0.05)
        assert r["tsPrc"] == pytest.approx(float(price(u, K, T, rate, 0.0, tv + 0.02, cp)) + 0.05)
        assert r["de"] == pytest.approx(float(greeks(u, K, T, rate, 0.0, tv, cp)["de"]), rel=1e-12)
        assert r["clientFirmOut"] == "F1" and r["theoStatus"] == 1  # Auto


def test_theo_model_is_required_in_the_where_clause(mm):
    _surface(mm)
    with pytest.raises(QueryError, match="theoModel"):
        _read(mm, "okey.tk:eq:AAPL")


def test_a_client_firm_sees_only_its_own_theo_models(mm):
    _surface(mm, firm="F1")
    assert _read(mm, firm="F2") == []
    assert len(_read(mm, firm="F1")) == 2 * len(STRIKES)
    assert _read(mm, firm="F2") == []  # rows computed for F1 are not left visible to F2


def test_sticky_strike_and_sticky_delta_differ_when_the_underlier_moves(mm):
    _surface(mm, "SS", refUPrcWeight=1.0, refUPrc=200.0)
    _surface(mm, "SD", refUPrcWeight=0.0, refUPrc=200.0)
    ss0 = {r["okey"]: r["tvol"] for r in _read(mm, "theoModel:eq:SS")}
    sd0 = {r["okey"]: r["tvol"] for r in _read(mm, "theoModel:eq:SD")}
    mm.stock("AAPL", 219.9, 220.1)  # +10%
    ss1 = {r["okey"]: r["tvol"] for r in _read(mm, "theoModel:eq:SS")}
    sd1 = {r["okey"]: r["tvol"] for r in _read(mm, "theoModel:eq:SD")}
    for o in ss0:  # sticky strike: each strike keeps its vol
        assert ss1[o] == pytest.approx(ss0[o], rel=1e-12)
    moved = [o for o in sd0 if abs(sd1[o] - sd0[o]) > 1e-4]
    assert len(moved) == len(sd0)  # sticky delta: the smile moved with the underlier
    # with negative skew, after an up-move sticky delta gives higher vols at a fixed strike
    assert all(sd1[o] > ss1[o] for o in sd0)


def test_invalid_surface_publishes_an_error_comment_and_row_errors(mm):
    rec = _surface(mm, refUPrcWeight=2.0)
    stored = mm.get("SpdrTheoExpSurface", rec)
    assert stored["comment"] == "ERR:weight [0,1]"
    rows = _read(mm)
    assert rows and all(r["err"] == 1 and "refUPrcWeight" in r["theoErr"] for r in rows)
    _surface(mm, refUPrcWeight=0.5)  # fixed: the comment clears
    assert mm.get("SpdrTheoExpSurface", rec)["comment"] == ""
    assert all(r["err"] == 0 for r in _read(mm))


def test_two_point_curve_with_non_increasing_x_is_reported(mm):
    rec = _surface(mm, skewFunc="TheoSpline")
    assert mm.get("SpdrTheoExpSurface", rec)["comment"] == "ERR:no 2pt curve"
    mm.put("SpdrTheoExp2PtCurve", {"pkey": {"ekey": EKEY, "theoModel": "M1", "clientFirm": "F1"},
                                   "xAxisType": "None", "x00": -0.1, "x01": -0.2, "y00": 0.3,
                                   "y01": 0.25})
    assert mm.get("SpdrTheoExpSurface", rec)["comment"] == "ERR:curve x"
    mm.put("SpdrTheoExp2PtCurve", {"pkey": {"ekey": EKEY, "theoModel": "M1", "clientFirm": "F1"},
                                   "xAxisType": "None", "x00": -0.2, "x01": 0.0, "x02": 0.2,
                                   "y00": 0.3, "y01": 0.25, "y02": 0.24})
    assert mm.get("SpdrTheoExpSurface", rec)["comment"] == ""
    rows = _read(mm)
    assert all(r["err"] == 0 and 0.24 <= r["tvol"] <= 0.3 for r in rows)


def test_underlier_outside_bounds_reverts_to_markup(mm):
    _surface(mm, minUBid=210.0, maxUAsk=250.0)
    assert {r["theoStatus"] for r in _read(mm)} == {3}  # Markup
    _surface(mm, minUBid=190.0, maxUAsk=250.0)
    assert {r["theoStatus"] for r in _read(mm)} == {1}  # Auto


def test_price_offset_conventions_move_prices_not_vols(mm):
    _surface(mm, buySellConvention="BSOffsetPts", bOpnVol=0.10, sOpnVol=0.20)
    for r in _read(mm):
        assert r["tbPrc"] == pytest.approx(max(r["tprc"] - 0.10, 0.0))
        assert r["tsPrc"] == pytest.approx(r["tprc"] + 0.20)
        assert r["tvolBOpn"] < r["tvol"] < r["tvolSOpn"]
    _surface(mm, buySellConvention="BSOffsetPct", bOpnVol=0.10, sOpnVol=0.20)
    for r in _read(mm):
        assert r["tbPrc"] == pytest.approx(0.9 * r["tprc"]) and r["tsPrc"] == pytest.approx(1.2 * r["tprc"])


def test_v6_time_units_count_trading_days(mm):
    _surface(mm, volTimeUnits="V6")
    rows = _read(mm)
    days = np.busday_count("2025-01-03", "2025-03-22", holidays=["2025-01-09", "2025-01-20",
                                                                  "2025-02-17"])
    assert rows[0]["years"] == pytest.approx(days / 252, abs=2 / 252)
