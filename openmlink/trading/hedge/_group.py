"""One autohedge group (accnt, riskGroupId, hedge instrument): the SpdrAutoHedgeState counters
of seed 001, the band state and the hedge target (sans-I/O; trading.md §4.2).

Units: "delta" counters are in hedge units (shares for stock, contracts for futures); "$delta"
counters are units x price x ddMult.  Option fills count at the underlier mid at fill time,
hedge fills at their fill price (seed 001).  The open/close split is a FIFO inventory of the
unhedged delta (inferred): a fill that grows |netDelta| opens risk, one that shrinks it closes
risk; ``openHedgeTime`` is the size-weighted mean seconds from opening to closing fill.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

__all__ = ["BandControl", "HedgeGroup", "SECONDS_PER_YEAR"]

SECONDS_PER_YEAR = 365.0 * 86_400.0
_NS = 1e9


@dataclass
class BandControl:
    """The parts of SpdrAutoHedgeControl the target needs."""

    hedge_target: str = "HedgeToZero"  # or HedgeToBand
    min_ddelta: float = 0.0  # minHedgeDDelta
    max_ddelta: float = 0.0  # maxHedgeDDelta
    order_size: int = 0  # cap on each hedge parent (0: none)
    lot: int = 1  # round the target to whole lots
    beta: float = 1.0  # hedgeBetaRatio


@dataclass
class HedgeGroup:
    dd_mult: float = 1.0
    grpDeltaBot: float = 0.0
    grpDeltaSld: float = 0.0
    grpDDeltaBot: float = 0.0
    grpDDeltaSld: float = 0.0
    ctrlDeltaBot: float = 0.0
    ctrlDeltaSld: float = 0.0
    ctrlDDeltaBot: float = 0.0
    ctrlDDeltaSld: float = 0.0
    opnDeltaBot: float = 0.0
    opnDeltaSld: float = 0.0
    opnDDeltaBot: float = 0.0
    opnDDeltaSld: float = 0.0
    clsDeltaBot: float = 0.0
    clsDeltaSld: float = 0.0
    clsDDeltaBot: float = 0.0
    clsDDeltaSld: float = 0.0
    absOptCn: int = 0
    lastGrpFillDttm: int = 0
    lastCtrlFillDttm: int = 0
    u_prc: float = math.nan
    target_vol: float = 0.0  # hedgeTargetVol (annualised), from the live surface
    #: parentNumbers of multi-leg fills whose leg fills have not arrived (MLegHold)
    mleg_pending: set[int] = field(default_factory=set)
    _lots: deque[list[float]] = field(default_factory=deque)  # [signed units, t_ns] open risk
    _matched: float = 0.0
    _matched_secs: float = 0.0

    # ---------------------------------------------------------------- fills
    def option_fill(self, side: int, qty: int, de: float, underliers_per_cn: float,
                    u_mid: float, t_ns: int, beta: float = 1.0,
                    hedge_units_per_ctrl_unit: float = 1.0) -> float:
        """An option fill (side +1 bought, -1 sold): its contribution c in hedge units."""
        c = side * qty * de * underliers_per_cn / hedge_units_per_ctrl_unit * beta
        dd = abs(c) * u_mid * self.dd_mult
        if c > 0:
            self.grpDeltaBot += c
            self.grpDDeltaBot += dd
        else:
            self.grpDeltaSld += -c
            self.grpDDeltaSld += dd
        self.absOptCn += qty
        self.lastGrpFillDttm = t_ns
        self.u_prc = u_mid
        self._split(c, u_mid, t_ns)
        return c

    def hedge_fill(self, side: int, qty: float, price: float, t_ns: int) -> tuple[float, float]:
        """A fill of a hedge parent (side +1 bought, -1 sold) of ``qty`` hedge units; returns
        the (opening, closing) units of its open/close split."""
        self._ctrl(side * qty, qty * price * self.dd_mult)
        self.lastCtrlFillDttm = t_ns
        return self._split(side * qty, price, t_ns)

    def _ctrl(self, c: float, dd: float) -> None:
        if c > 0:
            self.ctrlDeltaBot += c
            self.ctrlDDeltaBot += dd
        else:
            self.ctrlDeltaSld += -c
            self.ctrlDDeltaSld += dd

    def unfill(self, c: float, dd: float, price: float, t_ns: int, opt_qty: int = 0) -> None:
        """Reverse a busted fill of signed contribution ``c`` (hedge units) that added ``dd``
        $delta, counted at ``price`` (an option fill's underlier mid, a hedge fill's price):
        its grp (an option fill of ``opt_qty`` contracts) or ctrl counters lose exactly what it
        added, so ``netDelta``/``netDDelta`` are those of the fills left (§6.2 #12).
        (inferred) The open/close inventory takes the reversal as a flow of ``-c`` at ``price``
        now: the unhedged delta it follows moved back, and its lots must match it."""
        name = f"{'grp' if opt_qty else 'ctrl'}%s{'Bot' if c > 0 else 'Sld'}"
        setattr(self, name % "Delta", getattr(self, name % "Delta") - abs(c))
        setattr(self, name % "DDelta", getattr(self, name % "DDelta") - dd)
        self.absOptCn -= opt_qty
        self._split(-c, price, t_ns)

    def reprice_hedge(self, c: float, opening: float, closing: float, old: float,
                      new: float) -> None:
        """A corrected hedge fill (``c`` units, split ``opening``/``closing``) from price
        ``old`` to ``new``: its ctrl and opn/cls $delta move to the new price (its units do
        not change: netDelta stays)."""
        d = (new - old) * self.dd_mult
        if c > 0:
            self.ctrlDDeltaBot += abs(c) * d
            self.opnDDeltaBot += opening * d
            self.clsDDeltaBot += closing * d
        else:
            self.ctrlDDeltaSld += abs(c) * d
            self.opnDDeltaSld += opening * d
            self.clsDDeltaSld += closing * d

    def _split(self, c: float, price: float, t_ns: int) -> tuple[float, float]:
        """Open/close split of a signed fill ``c`` against the open FIFO inventory; returns
        its (opening, closing) units."""
        net_before = self.netDelta - c
        closing = 0.0
        if net_before * c < 0:
            closing = min(abs(c), abs(net_before))
        opening = abs(c) - closing
        ddm = price * self.dd_mult
        if closing > 0:
            if c > 0:
                self.clsDeltaBot += closing
                self.clsDDeltaBot += closing * ddm
            else:
                self.clsDeltaSld += closing
                self.clsDDeltaSld += closing * ddm
            left = closing
            while left > 1e-12 and self._lots:
                lot = self._lots[0]
                take = min(left, abs(lot[0]))
                self._matched += take
                self._matched_secs += take * (t_ns - lot[1]) / _NS
                lot[0] -= math.copysign(take, lot[0])
                left -= take
                if abs(lot[0]) <= 1e-12:
                    self._lots.popleft()
        if opening > 0:
            if c > 0:
                self.opnDeltaBot += opening
                self.opnDDeltaBot += opening * ddm
            else:
                self.opnDeltaSld += opening
                self.opnDDeltaSld += opening * ddm
            self._lots.append([math.copysign(opening, c), float(t_ns)])
        return opening, closing

    # ---------------------------------------------------------------- seed-001 formulas
    @property
    def netDelta(self) -> float:
        return self.grpDeltaBot - self.grpDeltaSld + self.ctrlDeltaBot - self.ctrlDeltaSld

    @property
    def netDDelta(self) -> float:
        return self.grpDDeltaBot - self.grpDDeltaSld + self.ctrlDDeltaBot - self.ctrlDDeltaSld

    @staticmethod
    def _avg(num: float, den: float) -> float:
        return num / den if den > 0 else 0.0

    @property
    def slippagePnL(self) -> float:
        a = self._avg
        opn_bot, opn_sld = a(self.opnDDeltaBot, self.opnDeltaBot), a(self.opnDDeltaSld, self.opnDeltaSld)
        cls_bot, cls_sld = a(self.clsDDeltaBot, self.clsDeltaBot), a(self.clsDDeltaSld, self.clsDeltaSld)
        return self.opnDeltaBot * (cls_sld - opn_bot) + self.opnDeltaSld * (opn_sld - cls_bot)

    @property
    def slippageUnitPnL(self) -> float:
        return self._avg(self.slippagePnL, self.grpDeltaBot + self.grpDeltaSld)

    @property
    def openHedgeTime(self) -> float:
        return self._avg(self._matched_secs, self._matched)

    def expected_prc_range(self, target_vol: float) -> float:
        """``uPrc·vol·√(openHedgeTime/secondsPerYear)`` (trading.md §4.2, flagged there)."""
        if not (math.isfinite(self.u_prc) and target_vol > 0):
            return 0.0
        return self.u_prc * target_vol * math.sqrt(self.openHedgeTime / SECONDS_PER_YEAR)

    def slippage_norm(self, target_vol: float) -> float:
        return self._avg(self.slippageUnitPnL, self.expected_prc_range(target_vol))

    # ---------------------------------------------------------------- band and target
    def state(self, ctl: BandControl | None, u_prc: float, underliers_per_cn: float = 1.0) -> str:
        """HedgeGroupState: the error states first, then Init / NoHedgeCtrl / band."""
        if ctl is None:
            return "NoHedgeCtrl"
        if not (math.isfinite(self.dd_mult) and self.dd_mult > 0):
            return "DDMultErr"
        if not underliers_per_cn > 0:
            return "UndPerCnErr"
        if not (math.isfinite(u_prc) and u_prc > 0):
            return "UPrcErr"
        if self.absOptCn == 0 and self.lastCtrlFillDttm == 0:
            return "Init"
        dd = self.netDelta * u_prc * self.dd_mult  # $delta at the current price
        tol = 1e-9 * max(1.0, abs(dd))  # a group hedged exactly to an edge is in the band
        if dd > ctl.max_ddelta + tol:
            return "BandLn"
        if dd < ctl.min_ddelta - tol:
            return "BandSh"
        return "InBand"

    def target(self, ctl: BandControl, u_prc: float) -> int:
        """Signed hedge quantity to work now (+ buy, - sell), in whole lots, capped at
        ``order_size``; 0 while InBand (or in any non-band state)."""
        st = self.state(ctl, u_prc)
        if st not in ("BandLn", "BandSh"):
            return 0
        if ctl.hedge_target == "HedgeToBand":
            edge = ctl.max_ddelta if st == "BandLn" else ctl.min_ddelta
            want = edge / (u_prc * self.dd_mult) - self.netDelta
            # whole lots that land inside the band (rounding to the nearest could stop half a
            # lot outside it, BandLn/BandSh with nothing to send)
            lots = math.ceil(abs(want) / ctl.lot - 1e-9) * ctl.lot
        else:
            want = -self.netDelta
            lots = math.floor(abs(want) / ctl.lot + 0.5) * ctl.lot
        if ctl.order_size > 0:
            lots = min(lots, ctl.order_size)
        return int(math.copysign(lots, want)) if lots else 0
