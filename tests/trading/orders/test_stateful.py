"""Random Add/Replace/Modify/Cancel/Limit sequences, group risk controls, the orders' own risk
limits (group contracts, account $delta, vega ratio), market moves and busts/corrections
(trading.md §6.2 #14): after every step, invariants 1-10 hold for every record published so
far."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.support.trading import ACCNT, TradingRig, check_invariants

CODES = ("0000-0000-0000-0001", "0000-0000-0000-0002")
SIDES = ("Buy", "Sell")


class OrderMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rig = TradingRig()
        self.rig.stock("AAPL", 199.9, 200.1)
        self.bid, self.ask = 4.9, 5.1
        self.rig.option("AAPL", 200, "Put", self.bid, self.ask)

    def _common(self, code: int, side: int) -> dict:
        return {"groupingCode": CODES[code], "orderSide": SIDES[side]}

    @rule(code=st.integers(0, 1), side=st.integers(0, 1),
          action=st.sampled_from(["Add", "AddReplace", "Replace", "Modify", "Cancel"]),
          size=st.integers(-1, 12), off=st.sampled_from([-0.3, -0.1, 0.0, 0.1, 0.3]),
          handling=st.sampled_from(["None", "PostOnly", "ActiveTaker"]),
          balance=st.sampled_from(["PostWith", "PostImprove", "PostLimit", "PostTurn"]),
          active=st.sampled_from([-1, 0, 2, 5]))
    def post_order(self, code: int, side: int, action: str, size: int, off: float, handling: str,
                   balance: str, active: int) -> None:
        px = round((self.ask if side == 0 else self.bid) + (off if side == 0 else -off), 2)
        self.rig.order(spdrActionType=action, orderSize=size, orderPrcLimit=max(px, 0.05),
                       parentOrderHandling=handling, parentBalanceHandling=balance,
                       orderActiveSize=active, **self._common(code, side))

    @rule(code=st.integers(0, 1), side=st.integers(0, 1), active=st.sampled_from([0, 1, 3, 8]),
          merge=st.booleans(), prc=st.sampled_from([4.8, 5.0, 5.2]))
    def post_limit(self, code: int, side: int, active: int, merge: bool, prc: float) -> None:
        self.rig.limit(merge=merge, orderActiveSize=active, orderLimitType="Prc",
                       orderPrcLimit=prc, **self._common(code, side))

    @rule(code=st.integers(0, 1), side=st.integers(0, 1), firm=st.sampled_from(["SRCORE", "X"]))
    def cancel_by_number(self, code: int, side: int, firm: str) -> None:
        m = self.rig.engine.manager
        for b in m.brokers.values():
            if b.parent["groupingCode"] == int(CODES[code].replace("-", ""), 16):
                self.rig.put("SpdrParentCancel", {"accnt": b.parent["accnt"],
                                                  "parentNumber": b.parent_number,
                                                  "clientFirm": firm}, origin="K")

    @rule(move=st.sampled_from([-0.2, -0.05, 0.0, 0.05, 0.2]), width=st.sampled_from([0.1, 0.2]),
          bsz=st.integers(0, 30), asz=st.integers(0, 30), now=st.booleans())
    def market(self, move: float, width: float, bsz: int, asz: int, now: bool) -> None:
        self.bid = max(0.05, round(self.bid + move, 2))
        self.ask = round(self.bid + width, 2)
        self.rig.option("AAPL", 200, "Put", self.bid, self.ask, bsz=bsz, asz=asz)
        if now:
            self.rig.engine.tick()  # market arrives before pending venue actions

    @rule(dd=st.sampled_from([0.0, 8000.0, 30000.0]), wv=st.sampled_from([0.0, 15.0]),
          ema=st.sampled_from([0.0, 6000.0]))
    def group_control(self, dd: float, wv: float, ema: float) -> None:
        # the group's symbol / expiry / EMA-cancel limits (0: none) beside the orders' own
        self.rig.put("SpdrRiskGroupControl", {
            "riskGroupId": 0, "accnt": ACCNT, "riskFirm": "SRCORE", "maxSymDayDDeltaLn": dd,
            "maxSymDayDDeltaSh": dd, "maxExpDayWtVegaLn": wv, "maxExpDayWtVegaSh": wv,
            "symEmaCxlDDeltaLn": ema, "symEmaCxlDDeltaSh": ema}, origin="K")

    @rule(code=st.integers(0, 1), side=st.integers(0, 1), qty=st.sampled_from([0, 1, 3, 6]),
          acc=st.sampled_from([0.0, 8000.0, 40000.0]), ratio=st.sampled_from([0.0, 2.0]))
    def risk_limit(self, code: int, side: int, qty: int, acc: float, ratio: float) -> None:
        # the order's own limits by a (merged) limit record: group contracts, the account's
        # $delta, a group vega limit re-centred by a bot/sld ratio (0: the order's, none); a
        # broker they cap is topped up or released as fills of the other side give room back
        self.rig.limit(merge=True, maxGrpDayContractsLn=qty, maxGrpDayContractsSh=qty,
                       maxAccDayDDeltaLn=acc, maxAccDayDDeltaSh=acc,
                       maxGrpDayVegaAbs=90.0 if ratio else 0.0, grpDayVegaRatio=ratio,
                       **self._common(code, side))

    @rule(pick=st.integers(0, 30), correct=st.sampled_from([None, -0.05, 0.05]))
    def bust(self, pick: int, correct: float | None) -> None:
        # the exchange busts (or corrects) one of the fills so far: busted quantity is worked
        # again by a working order; a refused adjustment (busted already) changes nothing
        t = self.rig.store.table(self.rig.reg["SpdrParentExecution"])
        fills = sorted((t.record(int(i)) for i in t.live_rows()), key=lambda f: f["fillNumber"])
        if fills:
            f = fills[pick % len(fills)]
            px = None if correct is None else max(0.05, round(f["fillPrice"] + correct, 2))
            self.rig.engine.manager.adjust_fill(f["fillNumber"], px)

    @rule(ms=st.sampled_from([0.1, 0.3, 1.0, 5.0]))
    def wait(self, ms: float) -> None:
        self.rig.advance(ms)

    @invariant()
    def invariants_hold(self) -> None:
        check_invariants(self.rig)

    def teardown(self) -> None:
        # let every pending venue action finish: counters then equal the fills exactly
        m = self.rig.engine.manager
        for _ in range(3):  # a replace pending at the first cancel opens, so cancel again
            for b in m.brokers.values():
                if b.status[0] in ("New", "PendClose"):
                    m._cancel(b, "UserCxl", self.rig.clock.time_ns())
            m._flush()
            self.rig.advance(50, 10)
        check_invariants(self.rig, quiescent=True)
        assert not self.rig.engine.manager.venue.live_series()


OrderMachine.TestCase.settings = settings(max_examples=12, stateful_step_count=15, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
TestOrderMachine = OrderMachine.TestCase
