"""Pre-trade group risk (trading.md §1.9): counters per (accnt, riskGroupId) and the size a
child may have before it would breach a ``maxGrpDay*`` limit.

Per contract of an option child (signed by side): $delta ``de·uPrc·pointValue``, vega
``ve·pointValue``, contracts 1.  Counters are "fills + IOC leaves": fills are charged when
they happen, IOC children while they are live (resting maker children are capped by the
headroom but not charged until filled).  A limit is a positive number; a value <= 0 or a
field the order did not send means "no limit" (inferred: the schema default is 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["GroupCounter", "RiskBook", "risk_limit_size"]

#: (metric index, long limit field, short limit field, abs limit field, SpdrRisk ln/sh/abs)
_LIMITS = (
    (0, "maxGrpDayDDeltaLn", "maxGrpDayDDeltaSh", "", ("GrpDdLn", "GrpDdSh", "")),
    (1, "maxGrpDayVegaLn", "maxGrpDayVegaSh", "maxGrpDayVegaAbs",
     ("GrpVegaLn", "GrpVegaSh", "GrpVegaAbs")),
    (2, "maxGrpDayContractsLn", "maxGrpDayContractsSh", "maxGrpDayContractsAbs",
     ("GrpOptQtyLn", "GrpOptQtySh", "GrpOptQtyAbs")),
)
_NAMES = ("$delta", "vega", "contracts")


@dataclass(slots=True)
class GroupCounter:
    """Bot/sld sides as RiskGroupCounter keeps them (fills + live IOC leaves)."""

    dd_bot: float = 0.0
    dd_sld: float = 0.0
    ve_bot: float = 0.0
    ve_sld: float = 0.0
    qty_bot: float = 0.0
    qty_sld: float = 0.0
    counter: int = 0

    def add(self, side: int, per: tuple[float, float, float], q: float) -> None:
        """Charge ``q`` contracts of per-contract metrics ``per`` (already signed by side)."""
        dd, ve, n = per
        if side > 0:
            self.dd_bot += dd * q
            self.ve_bot += ve * q
            self.qty_bot += abs(n) * q  # n = 0: shares, not option contracts
        else:  # per is signed by side: a sale's metrics are negative, the sld side positive
            self.dd_sld -= dd * q
            self.ve_sld -= ve * q
            self.qty_sld += abs(n) * q
        self.counter += 1

    def net(self) -> tuple[float, float, float]:
        return (self.dd_bot - self.dd_sld, self.ve_bot - self.ve_sld, self.qty_bot - self.qty_sld)


def risk_limit_size(value: Callable[[str], Any], per: tuple[float, float, float],
                    net: tuple[float, float, float]) -> tuple[int, str, str]:
    """(max contracts, SpdrRisk name of the binding limit, detail text); (-1, "None", "") when
    no limit applies.  ``value(field)`` gives the order's effective limit (None = not sent)."""
    best, desc, detail = -1, "None", ""
    for i, ln, sh, ab, names in _LIMITS:
        m = per[i]
        if not math.isfinite(m):
            for fld in (ln, sh, ab):
                lim = value(fld) if fld else None
                if lim is not None and lim > 0:
                    return 0, names[0] or "NullCounter", (
                        f"{_NAMES[i]} per contract unknown (no surface greeks yet); "
                        f"{fld} cannot be checked")
            continue
        if m == 0:
            continue
        cands = []
        lim = value(ln if m > 0 else sh)
        if lim is not None and lim > 0:
            room = lim - net[i] if m > 0 else lim + net[i]
            cands.append((room, abs(m), names[0] if m > 0 else names[1], ln if m > 0 else sh, lim))
        if ab:
            lim = value(ab)
            if lim is not None and lim > 0:
                room = lim - math.copysign(1.0, m) * net[i]
                cands.append((room, abs(m), names[2], ab, lim))
        for room, per_abs, name, fld, lim in cands:
            n = max(0, math.floor(room / per_abs + 1e-9))
            if best < 0 or n < best:
                best, desc = n, name
                detail = (f"{fld} {lim:g}: group {_NAMES[i]} {net[i]:,.2f}, "
                          f"{m:,.2f} per contract -> at most {n} contracts")
    return best, desc, detail


class RiskBook:
    """The group counters by (accnt, riskFirm, riskGroupId)."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str, int], GroupCounter] = {}

    def group(self, key: tuple[str, str, int]) -> GroupCounter:
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = GroupCounter()
        return g
