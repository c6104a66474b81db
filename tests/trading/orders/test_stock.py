"""Stock parent orders through the order manager: validation, children against the stock NBBO
(StockBookQuote), fills, executions, risk counters, journal restart -- the same state table and
records as options (trading.md §1, §6.2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.support.trading import TradingRig, check_invariants
from tests.trading.orders.test_stateful import CODES, OrderMachine

BS, EX = "SpdrParentBrkrState", "SpdrParentExecution"
AAPL = {"at": "EQT", "ts": "NMS", "tk": "AAPL"}


@pytest.fixture
def rig() -> TradingRig:
    r = TradingRig()
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1)
    return r


def stock_order(rig: TradingRig, **kw: object) -> dict:
    fields: dict = {"secKey": AAPL, "secType": "Stock", "orderSize": 300, "orderPrcLimit": 200.2}
    fields.update(kw)
    return rig.order(**fields)


def status(rig: TradingRig, rec: dict) -> tuple[str, str]:
    return (rig.name(BS, "spdrOrderStatus", rec["spdrOrderStatus"]),
            rig.name(BS, "spdrBrokerStatus", rec["spdrBrokerStatus"]))


def reject(rig: TradingRig, pn: int) -> tuple[str, str]:
    st = rig.state(pn)
    assert st is not None
    return rig.name(BS, "spdrRejectReason", st["spdrRejectReason"]), st["spdrComment"]


def test_marketable_stock_buy_takes_the_ask_and_reports_share_risk(rig: TradingRig) -> None:
    o = stock_order(rig)
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert status(rig, st) == ("Closed", "Closed")
    assert st["cumFillQuantity"] == 300 and st["avgFillPrice"] == pytest.approx(200.1)
    assert st["nbboBid"] == pytest.approx(199.9) and st["nbboAsk"] == pytest.approx(200.1)
    assert st["uPrc"] == pytest.approx(200.0) and st["underliersPerCn"] == 1
    fills = rig.published(EX)
    assert sum(f["fillQuantity"] for f in fills) == 300
    for f in fills:
        assert rig.name(EX, "secType", f["secType"]) == "Stock"
        assert str(f["ticker"]) == "AAPL-NMS-EQT" and str(f["secKey"]) == "AAPL-NMS-EQT"
        assert f["fillPrice"] == pytest.approx(200.1) and f["fillDe"] == 1.0
        assert f["riskDDelta"] == pytest.approx(f["fillQuantity"] * 200.0)  # a share: $delta uPrc
        assert f["riskVega"] == 0.0 and f["pointValue"] == 1.0
    g = rig.published("RiskGroupCounter")[-1]
    assert g["ddBotIocFilled"] == pytest.approx(60_000.0)
    assert g["optQtyBotIocFilled"] == 0.0  # shares are not option contracts
    check_invariants(rig, quiescent=True)


def test_displayed_stock_size_caps_a_take(rig: TradingRig) -> None:
    rig.put("StockBookQuote", {"pkey": {"ticker": "AAPL-NMS-EQT"}, "bidPrice1": 199.9,
                               "askPrice1": 200.1, "bidSize1": 500, "askSize1": 120})
    o = stock_order(rig, orderSize=300)
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert st["cumFillQuantity"] == 120 and status(rig, st)[0] == "New"
    rig.stock("AAPL", 199.9, 200.1)  # refreshed: 500 shown
    rig.advance(5, 5)
    assert rig.state(o["parentNumber"])["cumFillQuantity"] == 300
    check_invariants(rig, quiescent=True)


def test_passive_stock_sell_rests_and_fills_when_the_bid_comes_up(rig: TradingRig) -> None:
    o = stock_order(rig, orderSide="Sell", orderSize=200, orderPrcLimit=200.5,
                    parentBalanceHandling="PostLimit", parentOrderHandling="PostOnly")
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert status(rig, st) == ("New", "Active")
    assert st["cpx1"] == pytest.approx(200.5) and st["csz1"] == 200
    assert rig.published(EX) == []
    rig.stock("AAPL", 200.55, 200.7)  # the bid crosses our 200.50 offer
    rig.advance(5, 5)
    st = rig.state(o["parentNumber"])
    assert st["cumFillQuantity"] == 200 and status(rig, st) == ("Closed", "Closed")
    fills = rig.published(EX)
    assert all(rig.name(EX, "childMakerTaker", f["childMakerTaker"]) == "Maker" for f in fills)
    assert all(f["fillPrice"] >= 200.5 - 1e-9 for f in fills)
    check_invariants(rig, quiescent=True)


def test_stock_children_follow_the_stock_quote_on_the_cent_grid(rig: TradingRig) -> None:
    o = stock_order(rig, orderSize=100, orderPrcLimit=200.0, parentBalanceHandling="PostWith")
    rig.advance(5, 5)
    assert rig.state(o["parentNumber"])["cpx1"] == pytest.approx(199.9)
    rig.stock("AAPL", 199.93, 200.2)
    rig.advance(5, 5)
    assert rig.state(o["parentNumber"])["cpx1"] == pytest.approx(199.93)
    rig.stock("AAPL", 200.07, 200.3)  # the bid moves through our limit: capped at 200.00
    rig.advance(5, 5)
    assert rig.state(o["parentNumber"])["cpx1"] == pytest.approx(200.0)
    check_invariants(rig)


@pytest.mark.parametrize("fields, reason, text", [
    ({"orderLimitType": "Vol", "orderVolLimit": 0.3}, "BadLmtType", "orderLimitType: Vol"),
    ({"orderLimitType": "PrcDe", "orderRefUPrc": 200.0}, "BadLmtType", "option model"),
    ({"takeLimitClass": "Surface"}, "BadLmtType", "takeLimitClass: Surface"),
    ({"secType": "Future"}, "UnknwnFut", "no futures"),
    ({"secKey": {"at": "EQT", "ts": "NMS", "tk": "ZZZZ"}}, "UnknwnStk", "ZZZZ-NMS-EQT"),
    ({"secKey": {**AAPL, "dt": "2025-07-18", "xx": 200, "cp": "Put"}}, "UnknwnStk", "option key"),
    ({"parentOrderHandling": "BlockAuction"}, "BadOrdType", "BlockAuction"),
    ({"orderPrcLimit": 240.0}, "LmtCollar", "through the ask"),
    ({"orderPrcLimit": 0.0}, "BadLimit", "orderPrcLimit"),
    ({"orderSize": 0}, "BadSize", "shares"),
    ({"autoHedge": "SpdrAuto"}, "InvldAutoH", "option orders"),
])
def test_stock_order_validation(rig: TradingRig, fields: dict, reason: str, text: str) -> None:
    o = stock_order(rig, **fields)
    rig.advance(5, 5)
    got, comment = reject(rig, o["parentNumber"])
    assert got == reason and text in comment, (got, comment)
    assert rig.published(EX) == []
    check_invariants(rig, quiescent=True)


def test_an_option_order_with_a_ticker_key_is_refused(rig: TradingRig) -> None:
    o = rig.order(secKey=AAPL, secType="Option")
    rig.advance(5, 5)
    got, comment = reject(rig, o["parentNumber"])
    assert got == "UnknwnOpt" and "secType Stock" in comment


def test_stock_and_option_brokers_share_the_group_counter(rig: TradingRig) -> None:
    rig.order(orderPrcLimit=5.2, orderSize=10)  # option put: $delta -0.4 * 200 * 100 per contract
    stock_order(rig, orderSize=100, groupingCode="0000-0000-0000-0002")
    rig.advance(5, 5)
    g = rig.published("RiskGroupCounter")[-1]
    assert g["ddBotIocFilled"] - g["ddSldIocFilled"] == pytest.approx(10 * -8000.0 + 100 * 200.0)
    assert g["optQtyBotIocFilled"] == 10.0
    check_invariants(rig, quiescent=True)


def test_a_working_stock_order_survives_a_restart_and_fills_after(tmp_path: Path) -> None:
    r = TradingRig(data_dir=tmp_path)
    r.stock("AAPL", 199.9, 200.1)
    o = r.order(secKey=AAPL, secType="Stock", orderSize=100, orderPrcLimit=199.95,
                parentBalanceHandling="PostLimit")
    r.advance(5, 5)
    assert r.state(o["parentNumber"])["cpx1"] == pytest.approx(199.95)
    r.engine.close()
    r2 = TradingRig(data_dir=tmp_path, clock=r.clock)
    r2.stock("AAPL", 199.9, 200.1)
    r2.advance(5, 5)
    st = r2.state(o["parentNumber"])
    assert status(r2, st) == ("New", "Active") and st["cpx1"] == pytest.approx(199.95)
    assert str(st["secKey"]) == "AAPL-NMS-EQT"
    r2.stock("AAPL", 199.8, 199.9)  # the ask comes down through our bid
    r2.advance(5, 5)
    st = r2.state(o["parentNumber"])
    assert st["cumFillQuantity"] == 100 and status(r2, st) == ("Closed", "Closed")


class StockOrderMachine(RuleBasedStateMachine):
    """Random stock Add/AddReplace/Replace/Modify/Cancel/limit sequences and stock quote moves,
    with marketable option orders on the same account and group (the invariants and the group
    counters cover both); after every step invariants 1-10 hold."""

    def __init__(self) -> None:
        super().__init__()
        self.rig = TradingRig()
        self.rig.stock("AAPL", 199.9, 200.1)
        self.rig.option("AAPL", 200, "Put", 4.9, 5.1)
        self.sbid = 199.9

    @staticmethod
    def _common(code: int, side: int) -> dict:
        return {"groupingCode": CODES[code], "orderSide": ("Buy", "Sell")[side]}

    @rule(code=st.integers(0, 1), side=st.integers(0, 1),
          action=st.sampled_from(["Add", "AddReplace", "AddReplace", "Replace", "Modify",
                                  "Cancel"]),
          size=st.sampled_from([-1, 1, 20, 100, 250, 400]),
          off=st.sampled_from([-0.3, -0.05, 0.0, 0.05, 0.3, 0.3]),
          handling=st.sampled_from(["None", "None", "PostOnly", "ActiveTaker"]),
          ltype=st.sampled_from(["Prc", "Prc", "Market", "RelMid", "Vol"]),
          active=st.sampled_from([-1, -1, 0, 50, 200]))
    def post_stock_order(self, code: int, side: int, action: str, size: int, off: float,
                         handling: str, ltype: str, active: int) -> None:
        ask = round(self.sbid + 0.2, 2)
        px = round((ask + off) if side == 0 else (self.sbid - off), 2)
        self.rig.order(secKey=AAPL, secType="Stock", spdrActionType=action, orderSize=size,
                       orderPrcLimit=px, orderLimitType=ltype, orderVolLimit=0.3,
                       parentOrderHandling=handling, parentBalanceHandling="PostWith",
                       orderActiveSize=active, **self._common(code, side))

    @rule(code=st.integers(0, 1), side=st.integers(0, 1), active=st.sampled_from([0, 30, 300]))
    def post_stock_limit(self, code: int, side: int, active: int) -> None:
        self.rig.limit(secKey=AAPL, secType="Stock", orderActiveSize=active, merge=True,
                       **self._common(code, side))

    @rule(move=st.sampled_from([-0.25, -0.05, 0.0, 0.05, 0.25]), bsz=st.integers(0, 600),
          asz=st.integers(0, 600), now=st.booleans())
    def stock_market(self, move: float, bsz: int, asz: int, now: bool) -> None:
        self.sbid = round(self.sbid + move, 2)
        self.rig.put("StockBookQuote", {"pkey": {"ticker": "AAPL-NMS-EQT"},
                                        "bidPrice1": self.sbid, "askPrice1": self.sbid + 0.2,
                                        "bidSize1": bsz, "askSize1": asz})
        if now:
            self.rig.engine.tick()  # the quote arrives before pending venue actions

    @rule(side=st.integers(0, 1), size=st.integers(1, 8))
    def option_order(self, side: int, size: int) -> None:
        self.rig.order(orderSize=size, orderPrcLimit=5.2 if side == 0 else 4.8,
                       spdrActionType="AddReplace", groupingCode="0000-0000-0000-0009",
                       orderSide=("Buy", "Sell")[side])

    @rule(ms=st.sampled_from([0.1, 1.0, 5.0, 5.0]))
    def wait(self, ms: float) -> None:
        self.rig.advance(ms)

    @invariant()
    def invariants_hold(self) -> None:
        check_invariants(self.rig)

    teardown = OrderMachine.teardown


StockOrderMachine.TestCase.settings = settings(max_examples=12, stateful_step_count=25,
                                               deadline=None,
                                               suppress_health_check=[HealthCheck.too_slow])
TestStockOrderMachine = StockOrderMachine.TestCase
