"""AutoHedgeEngine over a hand-made market: control validation with reasons, option fills feed
the group of their underlier, SpdrAutoHedgeState counters equal the seed-001 formulas from the
raw fills, band states and targets, NoHedgeCtrl, and the rebuild from the day's executions."""

from __future__ import annotations

from typing import Any

import pytest

from openmlink.bus import Event
from openmlink.errors import PostRejected
from openmlink.schema._codec import decode_record
from openmlink.trading.hedge import AutoHedgeEngine
from tests.support.mini_market import EXPIRY, MiniMarket

OKEY = f"AAPL-NMS-EQT-{EXPIRY}-100-C"
HEDGE_KEY = {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": EXPIRY}


def _market() -> MiniMarket:
    m = MiniMarket()
    m.root("AAPL")
    m.stock("AAPL", 99.95, 100.05)
    return m


def _post_control(m: MiniMarket, **f: Any) -> None:
    msg = {"pkey": {"accnt": "A1", "riskGroupId": "0000-0000-0000-0007", "hedgeSecKey": HEDGE_KEY,
                    "hedgeSecType": "Stock", "clientFirm": "F1"},
           "autoHedge": "SpdrAuto", "hedgeTarget": "HedgeToZero", "minHedgeDDelta": -5000.0,
           "maxHedgeDDelta": 5000.0, **f}
    mt = m.reg["SpdrAutoHedgeControl"]
    m.bus.publish(Event(mt, "upsert", decode_record(mt, msg), m.clock.time_ns(), origin="K"))


def _fill(m: MiniMarket, n: int, side: str, qty: int, de: float, umark: float, *,
          sec: str = OKEY, source: str = "MLink", price: float = 3.0, secType: str = "Option",
          rgid: str = "0000-0000-0000-0007") -> None:
    m.put("SpdrParentExecution", {
        "pkey": {"fillNumber": n}, "version": 1, "execStatus": "Fill", "secKey": sec,
        "secType": secType, "ticker": "AAPL-NMS-EQT", "accnt": "A1", "clientFirm": "F1",
        "riskGroupId": rgid, "orderSide": side, "fillQuantity": qty, "fillPrice": price,
        "fillDe": de, "fillUMark": umark, "spdrSource": source,
        "fillDttm": "2025-01-02 15:00:00.000000", "pointValue": 100, "underliersPerCn": 100})


def _adjust(m: MiniMarket, n: int, status: str, version: int, **f: Any) -> None:
    """Fill ``n`` republished with ``version`` and ``execStatus`` (Bust, Correct or Fill for a
    later mark), the rest of its record as it was."""
    t = m.store.table(m.reg["SpdrParentExecution"])
    rec = {k: v for k, v in t.get((n,)).items() if k != "fillNumber"}
    mt = m.reg["SpdrParentExecution"]
    m.bus.publish(Event(mt, "upsert", {**rec, "fillNumber": n, "version": version,
                                       "execStatus": m.reg["SpdrParentExecution"].field(
                                           "execStatus").enum.names.index(status), **f},
                        m.clock.time_ns(), origin="K"))


def _state(m: MiniMarket) -> dict[str, Any]:
    t = m.store.table(m.reg["SpdrAutoHedgeState"])
    rows = [t.record(int(r)) for r in t.live_rows()]
    assert len(rows) == 1
    return rows[0]


def _name(m: MiniMarket, v: int) -> str:
    return m.reg["SpdrAutoHedgeState"].field("hedgeState").enum.names[v]


@pytest.mark.parametrize(("fields", "why"), [
    ({"hedgeTarget": "None"}, "hedgeTarget: None is not a hedge target"),
    ({"minHedgeDDelta": 10.0, "maxHedgeDDelta": 5.0}, "minHedgeDDelta: 10 is above maxHedgeDDelta 5"),
    ({"minHedgeDDelta": 100.0, "maxHedgeDDelta": 500.0}, "must contain 0"),
    ({"orderSize": -1}, "orderSize: -1 is negative"),
])
def test_bad_controls_are_refused_with_the_reason(fields: dict, why: str) -> None:
    m = _market()
    AutoHedgeEngine(m.bus, m.store, m.reg, m.clock).attach()
    with pytest.raises(PostRejected, match=why):
        _post_control(m, **fields)
    assert len(m.store.table(m.reg["SpdrAutoHedgeControl"])) == 0


def test_state_follows_fills_band_and_target() -> None:
    m = _market()
    eng = AutoHedgeEngine(m.bus, m.store, m.reg, m.clock)
    eng.attach()
    _post_control(m, orderSize=500)
    s = _state(m)
    assert _name(m, s["hedgeState"]) == "Init" and s["bActiveSize"] == 0 == s["sActiveSize"]
    _fill(m, 1, "Buy", 4, 0.5, 100.0)  # +200 shares = $20,000 > band: sell 200
    s = _state(m)
    assert _name(m, s["hedgeState"]) == "BandLn"
    assert s["grpDeltaBot"] == 200 and s["grpDDeltaBot"] == 20_000 and s["absOptCn"] == 4
    assert s["netDelta"] == 200 and s["sActiveSize"] == 200 and s["bActiveSize"] == 0
    assert s["hedgeText"] == "sell 200 AAPL-NMS-EQT: hedge broker NotSent"  # work() not run
    _fill(m, 2, "Sell", 3, 0.5, 101.0)  # -150: net +50 = $5,000 inside the band
    s = _state(m)
    assert _name(m, s["hedgeState"]) == "InBand" and s["sActiveSize"] == 0 == s["bActiveSize"]
    assert s["grpDeltaSld"] == 150 and s["grpDDeltaSld"] == pytest.approx(150 * 101.0)
    _fill(m, 3, "Sell", 60, 0.5, 100.0, sec="AAPL-NMS-EQT", secType="Stock", source="AutoHedge",
          price=100.5)  # a hedge fill: 60 shares sold
    s = _state(m)
    assert s["ctrlDeltaSld"] == 60 and s["ctrlDDeltaSld"] == pytest.approx(60 * 100.5)
    assert s["netDelta"] == pytest.approx(200 - 150 - 60)
    assert s["netDDelta"] == pytest.approx(20_000 - 150 * 101.0 - 60 * 100.5, rel=1e-6)
    # a rebuild from the day's executions equals what was published
    eng.close()
    again = AutoHedgeEngine(m.bus, m.store, m.reg, m.clock)
    again.attach()
    s2 = _state(m)
    for f in ("netDelta", "netDDelta", "grpDeltaBot", "grpDeltaSld", "ctrlDeltaSld", "opnDeltaBot",
              "clsDeltaSld", "slippagePnL", "absOptCn", "hedgeState", "sActiveSize"):
        assert s2[f] == s[f], f


def test_fill_of_an_autohedge_parent_without_control_is_no_hedge_ctrl() -> None:
    m = _market()
    AutoHedgeEngine(m.bus, m.store, m.reg, m.clock).attach()
    _fill(m, 1, "Buy", 4, 0.5, 100.0)  # no control and no parent asking for a hedge: ignored
    assert len(m.store.table(m.reg["SpdrAutoHedgeState"])) == 0


def test_fill_of_a_parent_asking_for_a_hedge_without_control_shows_no_hedge_ctrl() -> None:
    m = _market()
    AutoHedgeEngine(m.bus, m.store, m.reg, m.clock).attach()
    m.put("SpdrParentOrder", {"pkey": {"parentNumber": "0000-0000-0000-0042"}, "secKey": OKEY,
                              "secType": "Option", "accnt": "A1", "clientFirm": "F1",
                              "orderSide": "Buy", "autoHedge": "SpdrAuto"})
    mt = m.reg["SpdrParentExecution"]
    _fill(m, 1, "Buy", 4, 0.5, 100.0)
    m.put("SpdrParentExecution", {"pkey": {"fillNumber": 1}, "version": 2,
                                  "parentNumber": "0000-0000-0000-0042"}, merge=True)
    assert mt is not None
    s = _state(m)
    assert _name(m, s["hedgeState"]) == "NoHedgeCtrl" and s["netDelta"] == 200
    assert s["bActiveSize"] == 0 == s["sActiveSize"]


def test_parent_beta_scales_the_fill_and_the_loop_follows_the_price() -> None:
    m = _market()
    eng = AutoHedgeEngine(m.bus, m.store, m.reg, m.clock)
    eng.attach()
    _post_control(m, minHedgeDDelta=-25_000.0, maxHedgeDDelta=25_000.0)
    m.put("SpdrParentOrder", {"pkey": {"parentNumber": "0000-0000-0000-0042"}, "secKey": OKEY,
                              "secType": "Option", "accnt": "A1", "clientFirm": "F1",
                              "orderSide": "Buy", "hedgeBetaRatio": 2.0})
    m.put("SpdrParentExecution", {
        "pkey": {"fillNumber": 1}, "version": 1, "execStatus": "Fill", "secKey": OKEY,
        "secType": "Option", "ticker": "AAPL-NMS-EQT", "accnt": "A1", "clientFirm": "F1",
        "riskGroupId": "0000-0000-0000-0007", "parentNumber": "0000-0000-0000-0042",
        "orderSide": "Buy", "fillQuantity": 2, "fillPrice": 3.0, "fillDe": 0.5,
        "fillUMark": 100.0, "fillDttm": "2025-01-02 15:00:00.000000", "underliersPerCn": 100})
    s = _state(m)
    assert s["grpDeltaBot"] == 200  # 2 x 0.5 x 100 x beta 2
    assert _name(m, s["hedgeState"]) == "InBand"  # $20,000 at 100
    m.stock("AAPL", 149.95, 150.05)
    eng.tick()
    s = _state(m)
    assert _name(m, s["hedgeState"]) == "BandLn" and s["sActiveSize"] == 200  # $30,000 at 150


_NET = ("netDelta", "netDDelta", "grpDeltaBot", "grpDeltaSld", "grpDDeltaBot", "grpDDeltaSld",
        "ctrlDeltaBot", "ctrlDeltaSld", "ctrlDDeltaBot", "ctrlDDeltaSld", "absOptCn")


def test_a_bust_reverses_the_fill_and_a_correct_reprices_a_hedge_fill() -> None:
    """§6.2 #12 with busts: after a Bust the counters are the seed formulas over the fills
    left, a Correct of a hedge fill moves its $delta to the new price (an option fill's
    counts at the underlier mid: unchanged), later versions (marks) of a busted fill count
    nothing, and a rebuild from the day's executions (their latest versions) agrees."""
    m = _market()
    eng = AutoHedgeEngine(m.bus, m.store, m.reg, m.clock)
    eng.attach()
    _post_control(m, orderSize=500)
    hedge = {"sec": "AAPL-NMS-EQT", "secType": "Stock", "source": "AutoHedge"}
    _fill(m, 1, "Buy", 4, 0.5, 100.0)  # +200
    _fill(m, 2, "Sell", 2, 0.4, 101.0)  # -80
    _fill(m, 3, "Sell", 60, 1.0, 100.0, price=100.5, **hedge)
    _fill(m, 4, "Buy", 10, 1.0, 100.0, price=99.0, **hedge)
    _adjust(m, 1, "Bust", 2)
    s = _state(m)
    assert s["grpDeltaBot"] == 0 and s["grpDDeltaBot"] == 0 and s["absOptCn"] == 2
    assert s["netDelta"] == pytest.approx(-80 - 60 + 10)
    assert s["netDDelta"] == pytest.approx(-80 * 101.0 - 60 * 100.5 + 10 * 99.0)
    assert s["bActiveSize"] == 130 and s["sActiveSize"] == 0  # $-13,120: below the band
    _adjust(m, 1, "Bust", 3)  # a later version of the busted fill
    _adjust(m, 2, "Correct", 2, fillPrice=2.5)  # an option fill: $delta at the mid, unchanged
    _adjust(m, 3, "Correct", 2, fillPrice=100.25)
    _adjust(m, 3, "Correct", 3, fillPrice=100.25)  # its +1m mark
    s = _state(m)
    assert s["absOptCn"] == 2 and s["grpDDeltaSld"] == pytest.approx(80 * 101.0)
    assert s["ctrlDeltaSld"] == 60 and s["ctrlDDeltaSld"] == pytest.approx(60 * 100.25)
    assert s["netDDelta"] == pytest.approx(-80 * 101.0 - 60 * 100.25 + 10 * 99.0)
    _adjust(m, 3, "Bust", 4)  # busted after its correction: the corrected $delta comes off
    _adjust(m, 4, "Bust", 2)
    s = _state(m)
    assert s["ctrlDeltaSld"] == 0 == s["ctrlDeltaBot"]
    assert s["ctrlDDeltaSld"] == pytest.approx(0, abs=1e-9) and s["ctrlDDeltaBot"] == 0
    assert s["netDelta"] == pytest.approx(-80) and s["netDDelta"] == pytest.approx(-80 * 101.0)
    assert s["bActiveSize"] == 80 and s["sActiveSize"] == 0  # HedgeToZero: buy the 80 back
    eng.close()
    again = AutoHedgeEngine(m.bus, m.store, m.reg, m.clock)
    again.attach()
    s2 = _state(m)
    for f in _NET:
        assert s2[f] == pytest.approx(s[f], abs=1e-9), f
