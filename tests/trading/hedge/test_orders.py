"""The autohedge engine works its hedge through the order manager (trading.md §4, §6.2 #12):
an option fill makes a stock parent order (spdrSource AutoHedge) that fills against the stock
NBBO; SpdrAutoHedgeState follows the hedge broker; the next cycle sees the filled delta and
sends nothing more; no hedge orders while InBand; rejects are shown and not re-posted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openmlink.bus import Event
from openmlink.schema import decode_record
from openmlink.trading.hedge import AutoHedgeEngine, HedgeSide, plan
from tests.support.trading import ACCNT, EXPIRY, TradingRig, check_invariants

HEDGE_KEY = {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": EXPIRY}
S = "SpdrAutoHedgeState"


class HedgeRig(TradingRig):
    """The trading rig with an autohedge engine on the same bus."""

    def __init__(self, data_dir: Path | None = None, **kw: Any) -> None:
        super().__init__(data_dir=data_dir, **kw)
        self.stock("AAPL", 199.9, 200.1)
        self.option("AAPL", 200, "Put", 4.9, 5.1, asz=50)  # de -0.4: 40 shares per contract
        self.hedge = AutoHedgeEngine(self.bus, self.store, self.reg, self.clock)
        self.hedge.attach()

    def control(self, **f: Any) -> None:
        pkey = {"accnt": ACCNT, "riskGroupId": 0, "hedgeSecKey": HEDGE_KEY,
                "hedgeSecType": f.pop("hedgeSecType", "Stock"), "clientFirm": "SRCORE"}
        msg = {"pkey": pkey,
               "autoHedge": "SpdrAuto", "hedgeTarget": "HedgeToZero", "minHedgeDDelta": -5000.0,
               "maxHedgeDDelta": 5000.0, **f}
        mt = self.reg["SpdrAutoHedgeControl"]
        self.bus.publish(Event(mt, "upsert", decode_record(mt, msg), self.clock.time_ns(),
                               origin="K"))

    def run(self, ms: float = 5, steps: int = 5) -> None:
        for _ in range(steps):
            self.advance(ms / steps)
            self.hedge.work()

    def hstate(self) -> dict[str, Any]:
        t = self.store.table(self.reg[S])
        rows = [t.record(int(r)) for r in t.live_rows()]
        assert len(rows) == 1
        return rows[0]

    def hedge_orders(self) -> list[dict[str, Any]]:
        return [r for r in self.published("SpdrParentOrder")
                if self.name("SpdrParentOrder", "spdrSource", r["spdrSource"]) == "AutoHedge"]

    def hedge_fills(self) -> list[dict[str, Any]]:
        return [r for r in self.published("SpdrParentExecution")
                if self.name("SpdrParentExecution", "secType", r["secType"]) == "Stock"]


def state_name(rig: TradingRig, rec: dict[str, Any]) -> str:
    return rig.name(S, "hedgeState", rec["hedgeState"])


def test_hedge_to_zero_sends_a_stock_order_that_fills_and_is_not_sent_again() -> None:
    r = HedgeRig()
    r.control()
    r.order(orderPrcLimit=5.2, orderSize=10)  # buy 10 puts: -400 shares of delta
    r.run()
    orders = r.hedge_orders()
    assert len(orders) == 1
    o = orders[0]
    assert r.name("SpdrParentOrder", "orderSide", o["orderSide"]) == "Buy"
    assert o["orderSize"] == 400 and str(o["secKey"]) == "AAPL-NMS-EQT"
    fills = r.hedge_fills()
    assert sum(f["fillQuantity"] for f in fills) == 400
    s = r.hstate()
    assert abs(s["netDelta"]) < 1  # under one lot (one share)
    assert s["ctrlDeltaBot"] == 400
    assert s["ctrlDDeltaBot"] == pytest.approx(sum(f["fillQuantity"] * f["fillPrice"]
                                                   for f in fills))
    assert s["grpDeltaSld"] == pytest.approx(400)
    assert state_name(r, s) == "InBand" and s["bActiveSize"] == 0
    assert s["bParentNumber"] == o["parentNumber"] and s["bBrkrStatus"] == "Closed"
    # later cycles (fills, loop) see the filled delta: nothing more is sent
    for _ in range(5):
        r.hedge.tick()
        r.run()
    assert len(r.hedge_orders()) == 1
    check_invariants(r, quiescent=True)


def test_no_hedge_order_while_in_band() -> None:
    r = HedgeRig()
    r.control(minHedgeDDelta=-100_000.0, maxHedgeDDelta=100_000.0)
    r.order(orderPrcLimit=5.2, orderSize=10)  # -400 shares = -$80,000: inside the band
    r.run()
    r.hedge.tick()
    r.run()
    assert state_name(r, r.hstate()) == "InBand"
    assert r.hedge_orders() == [] and r.hedge_fills() == []


def test_hedge_to_band_stops_at_the_band_edge() -> None:
    r = HedgeRig()
    r.control(hedgeTarget="HedgeToBand", minHedgeDDelta=-20_000.0, maxHedgeDDelta=20_000.0)
    r.order(orderPrcLimit=5.2, orderSize=10)  # -$80,000 of $delta: buy back to -$20,000
    r.run()
    s = r.hstate()
    assert state_name(r, s) == "InBand"
    assert s["ctrlDeltaBot"] == 300  # -400 + 300 = -100 shares = -$20,000 at 200
    assert s["netDelta"] * 200 == pytest.approx(-20_000, abs=200)


def test_a_partly_filled_hedge_is_replaced_when_the_target_grows() -> None:
    r = HedgeRig()
    r.put("StockBookQuote", {"pkey": {"ticker": "AAPL-NMS-EQT"}, "bidPrice1": 199.9,
                             "askPrice1": 200.1, "bidSize1": 500, "askSize1": 150})
    r.control()
    r.order(orderPrcLimit=5.2, orderSize=10)  # buy 400 shares; 150 shown
    r.run()
    s = r.hstate()
    assert s["ctrlDeltaBot"] == 150 and s["bActiveSize"] == 250
    assert s["bBrkrStatus"] in ("Active", "ActiveHold")
    for _ in range(3):  # the remaining 250 work; no re-send while leaves equal the target
        r.hedge.tick()
        r.run()
    assert len(r.hedge_orders()) == 1
    r.order(orderPrcLimit=5.2, orderSize=5, groupingCode="0000-0000-0000-0002")  # -200 more
    r.run()
    orders = r.hedge_orders()
    assert [r.name("SpdrParentOrder", "spdrActionType", o["spdrActionType"]) for o in orders] \
        == ["AddReplace", "Replace"]
    assert orders[1]["orderSize"] == 150 + 450  # cum + the new target
    r.stock("AAPL", 199.9, 200.1)  # 500 shown
    r.run()
    s = r.hstate()
    assert abs(s["netDelta"]) < 1 and s["ctrlDeltaBot"] == 600
    check_invariants(r, quiescent=True)


def test_the_other_side_is_cancelled_when_the_target_flips() -> None:
    r = HedgeRig()
    r.put("StockBookQuote", {"pkey": {"ticker": "AAPL-NMS-EQT"}, "bidPrice1": 199.9,
                             "askPrice1": 200.1, "bidSize1": 500, "askSize1": 0})
    r.control()
    r.order(orderPrcLimit=5.2, orderSize=10)  # buy 400 shares; none shown: the order rests
    r.run()
    assert r.hstate()["bBrkrStatus"] == "Active"
    r.order(orderPrcLimit=4.8, orderSize=20, orderSide="Sell",
            groupingCode="0000-0000-0000-0002")  # sell 20 puts: +800, net +400: sell 400
    r.run()
    s = r.hstate()
    assert s["bBrkrStatus"] == "Closed" and s["sActiveSize"] == 0
    assert s["ctrlDeltaSld"] == 400 and abs(s["netDelta"]) < 1
    acts = [r.name("SpdrParentOrder", "spdrActionType", o["spdrActionType"])
            for o in r.hedge_orders()]
    assert acts.count("Cancel") == 1
    check_invariants(r, quiescent=True)


def test_a_rejected_hedge_order_is_shown_and_not_re_posted() -> None:
    r = HedgeRig()
    r.control(orderLimitType="Vol")  # not a stock limit type: BadLmtType
    r.order(orderPrcLimit=5.2, orderSize=10)
    r.run()
    s = r.hstate()
    assert s["bBrkrStatus"] == "Rejected" and "orderLimitType: Vol" in s["bBrkrError"]
    assert "Rejected" in s["hedgeText"]
    for _ in range(3):
        r.hedge.tick()
        r.run()
    assert len(r.hedge_orders()) == 1


def test_future_hedge_instrument_is_und_type_err() -> None:
    r = HedgeRig()
    r.control(hedgeSecType="Future")
    r.order(orderPrcLimit=5.2, orderSize=10)
    r.run()
    s = r.hstate()
    assert state_name(r, s) == "UndTypeErr" and "Future" in s["hedgeText"]
    assert r.hedge_orders() == []


def test_hedge_brokers_survive_a_restart(tmp_path: Path) -> None:
    r = HedgeRig(data_dir=tmp_path)
    r.put("StockBookQuote", {"pkey": {"ticker": "AAPL-NMS-EQT"}, "bidPrice1": 199.9,
                             "askPrice1": 200.1, "bidSize1": 500, "askSize1": 0})
    r.control()
    r.order(orderPrcLimit=5.2, orderSize=10)
    r.run()
    pn = r.hstate()["bParentNumber"]
    assert r.hstate()["bBrkrStatus"] == "Active" and len(r.hedge_orders()) == 1
    r.hedge.close()
    r.engine.close()
    # a new process: the journal restores brokers and fills; the control comes back from the
    # record store (re-posted here, as its replay would)
    r2 = HedgeRig(data_dir=tmp_path, clock=r.clock)
    r2.put("StockBookQuote", {"pkey": {"ticker": "AAPL-NMS-EQT"}, "bidPrice1": 199.9,
                              "askPrice1": 200.1, "bidSize1": 500, "askSize1": 0})
    r2.control()
    r2.hedge.tick()
    s = r2.hstate()
    assert s["bParentNumber"] == pn and s["bBrkrStatus"] == "Active" and s["bActiveSize"] == 400
    assert r2.hedge.orders_posted == 0  # the restored broker already works the target
    r2.stock("AAPL", 199.9, 200.1)  # 500 shown: the restored hedge broker fills
    r2.run()
    s = r2.hstate()
    assert abs(s["netDelta"]) < 1 and s["ctrlDeltaBot"] == 400 and r2.hedge.orders_posted == 0


@given(target=st.integers(-500, 500), cum=st.integers(0, 300), size=st.integers(1, 600),
       status=st.sampled_from(["", "Active", "ActiveHold", "Updating", "Closing", "Closed",
                               "Rejected"]),
       other=st.sampled_from(["", "Active", "Closed", "Closing"]))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_plan_leaves_each_side_with_exactly_its_share_of_the_target(
        target: int, cum: int, size: int, status: str, other: str) -> None:
    s = 1 if target >= 0 else -1
    sides = {s: HedgeSide(s, 1, status, max(size, cum), cum), -s: HedgeSide(-s, 2, other, 100, 0)}
    posts = plan(target, sides)
    for side, action, n in posts:
        sd = sides[side]
        assert not sd.busy
        want = max(side * target, 0)
        if action == "Cancel":
            assert want == 0 and sd.open
        elif action == "Replace":
            assert sd.open and n - sd.cum == want and n >= sd.cum  # never below the fills
        else:
            assert action == "AddReplace" and not sd.open and n == want > 0
    # after the posts (applied), every idle side has its share working
    for side, sd in sides.items():
        want = max(side * target, 0)
        acted = [p for p in posts if p[0] == side]
        if not sd.busy and not acted:
            assert sd.leaves == want or (want > 0 and not sd.open and sd.rejected_target == want)


def test_a_multi_leg_fill_holds_the_group_until_its_legs_arrive() -> None:
    r = HedgeRig()
    r.control()
    fill = {"version": 1, "execStatus": "Fill", "ticker": "AAPL-NMS-EQT", "accnt": ACCNT,
            "clientFirm": "SRCORE", "parentNumber": "0000-0000-0000-0077", "orderSide": "Buy",
            "fillQuantity": 10, "fillPrice": 5.0, "fillUMark": 200.0, "underliersPerCn": 100,
            "fillDttm": "2025-06-02 15:00:00.000000", "spdrSource": "MLink"}
    r.put("SpdrParentExecution", {"pkey": {"fillNumber": 9001}, **fill, "secType": "MLeg",
                                  "secKey": "AAPL-NMS-EQT"})
    r.run()
    s = r.hstate()
    assert state_name(r, s) == "MLegHold" and "leg fills" in s["hedgeText"]
    assert r.hedge_orders() == []
    r.put("SpdrParentExecution", {"pkey": {"fillNumber": 9002}, **fill, "secType": "Option",
                                  "secKey": f"AAPL-NMS-EQT-{EXPIRY}-200-P", "fillDe": -0.4})
    r.run()
    s = r.hstate()
    assert state_name(r, s) == "InBand" and s["ctrlDeltaBot"] == 400  # the leg's delta hedged


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fills=st.lists(st.tuples(st.sampled_from(["Buy", "Sell"]), st.integers(1, 12),
                                st.integers(0, 600)), min_size=1, max_size=6),
       target=st.sampled_from(["HedgeToZero", "HedgeToBand"]))
def test_random_option_fills_invariant_12(fills: list[tuple[str, int, int]], target: str) -> None:
    """trading.md §6.2 #12 over random option fills and stock liquidity: the state's counters
    equal the seed formulas from the raw executions after every cycle; once the stock is
    liquid, the group ends InBand with no hedge order working (HedgeToZero's "under one lot"
    after a hedge: test_hedge_to_zero_sends_a_stock_order_that_fills_and_is_not_sent_again)."""
    r = HedgeRig()
    band = 20_000.0
    r.control(hedgeTarget=target, minHedgeDDelta=-band, maxHedgeDDelta=band)
    for i, (side, n, shown) in enumerate(fills):
        r.put("StockBookQuote", {"pkey": {"ticker": "AAPL-NMS-EQT"}, "bidPrice1": 199.9,
                                 "askPrice1": 200.1, "bidSize1": shown, "askSize1": shown})
        r.option("AAPL", 200, "Put", 4.9, 5.1, asz=50, bsz=50)
        r.order(orderSide=side, orderSize=n, orderPrcLimit=5.2 if side == "Buy" else 4.8,
                groupingCode=f"0000-0000-0001-{i:04X}")
        r.run()
        s = r.hstate()
        execs = r.published("SpdrParentExecution")
        opt = [f for f in execs if r.name("SpdrParentExecution", "secType", f["secType"]) ==
               "Option"]
        stk = [f for f in execs if f not in opt]
        sgn = {"Buy": 1, "Sell": -1}
        grp = [sgn[r.name("SpdrParentExecution", "orderSide", f["orderSide"])] *
               f["fillQuantity"] * f["fillDe"] * f["underliersPerCn"] for f in opt]
        ctl = [sgn[r.name("SpdrParentExecution", "orderSide", f["orderSide"])] *
               f["fillQuantity"] for f in stk]
        assert s["grpDeltaBot"] == pytest.approx(sum(c for c in grp if c > 0))
        assert s["grpDeltaSld"] == pytest.approx(-sum(c for c in grp if c < 0))
        assert s["ctrlDeltaBot"] - s["ctrlDeltaSld"] == pytest.approx(sum(ctl))
        assert s["netDelta"] == pytest.approx(sum(grp) + sum(ctl))
        dd = [abs(g) * f["fillUMark"] for g, f in zip(grp, opt, strict=True)]
        dd_c = [c * f["fillPrice"] for c, f in zip(ctl, stk, strict=True)]
        assert s["netDDelta"] == pytest.approx(
            sum(d if g > 0 else -d for d, g in zip(dd, grp, strict=True)) + sum(dd_c))
    for _ in range(3):  # liquid, refreshing quotes: the hedge completes
        r.stock("AAPL", 199.9, 200.1)
        r.run()
        r.hedge.tick()
    s = r.hstate()
    assert abs(s["netDelta"] * 200.0) <= band + 200.0  # inside the band (a share's rounding)
    m = r.engine.manager
    open_hedges = [b for b in m.brokers.values()
                   if r.name("SpdrParentOrder", "spdrSource", b.parent["spdrSource"]) ==
                   "AutoHedge" and b.status[0] == "New"]
    assert state_name(r, s) == "InBand" and open_hedges == []


def test_a_hedge_post_refused_by_the_rate_limit_is_retried_at_the_next_loop() -> None:
    from openmlink.trading import TradingConfig
    r = HedgeRig(config=TradingConfig(key_rate=0, accnt_rate=0.5, accnt_burst=1))
    r.control()
    r.order(orderPrcLimit=5.2, orderSize=10)  # takes the account's one token
    r.run()
    s = r.hstate()
    assert "order rate limit" in s["bBrkrError"] and s["bBrkrStatus"] == "NotSent"
    assert r.hedge_orders() == []
    r.clock.advance_to(r.clock.time_ns() + 3_000_000_000)  # the bucket refills
    r.hedge.tick()
    r.run()
    s = r.hstate()
    assert len(r.hedge_orders()) == 1 and abs(s["netDelta"]) < 1 and s["bBrkrError"] == ""


def test_a_replace_refused_because_fills_raced_the_pull_frees_the_side() -> None:
    """A hedge Replace the order manager refuses with only a Reject event (TooLateToReduce:
    the resting hedge filled while its children were pulled) must not leave the side waiting
    for an answer forever: the next cycle hedges the new delta."""
    r = HedgeRig()
    r.control(orderLimitType="Prc", orderPrcLimit=199.95, parentBalanceHandling="PostLimit")
    r.order(orderPrcLimit=5.2, orderSize=10)  # buy 400 shares: the hedge rests at 199.95
    r.run()
    assert r.hstate()["bBrkrStatus"] == "Active" and r.hedge_fills() == []
    assert r.hstate()["bBrkrStatus"] == "Active"
    # sell 9 puts: the target drops to 40 shares -> Replace(orderSize 40), children pulled ...
    r.order(orderPrcLimit=4.8, orderSize=9, orderSide="Sell", groupingCode="0000-0000-0000-0002")
    r.advance(2, 2)  # the option order works, then its fill arrives
    r.hedge.work()
    assert [r.name("SpdrParentOrder", "spdrActionType", o["spdrActionType"])
            for o in r.hedge_orders()] == ["AddReplace", "Replace"]
    # ... and before the cancel reaches the venue the offer comes down through the resting bid
    r.put("StockBookQuote", {"pkey": {"ticker": "AAPL-NMS-EQT"}, "bidPrice1": 199.7,
                             "askPrice1": 199.8, "bidSize1": 500, "askSize1": 500})
    r.engine.tick()
    r.run()
    ev = [e for e in r.published("SpdrParentBrkrEvent")
          if e["parentNumber"] == r.hedge_orders()[1]["parentNumber"]]
    assert [r.name("SpdrParentBrkrEvent", "spdrRejectReason", e["spdrRejectReason"])
            for e in ev] == ["TooLateToReduce"]
    for _ in range(3):  # over-hedged by 360: the sell side works it (bid above its 199.95)
        r.stock("AAPL", 200.0, 200.1)
        r.run()
        r.hedge.tick()
    s = r.hstate()
    assert s["ctrlDeltaBot"] == 400 and s["ctrlDeltaSld"] == 360 and abs(s["netDelta"]) < 1
    assert state_name(r, s) == "InBand"
    # the buy side is not left waiting for the refused Replace
    assert s["bBrkrStatus"] == "Closed" and "orderSize 40 is below" in s["bBrkrError"]
