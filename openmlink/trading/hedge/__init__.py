"""Auto-hedging (issue 14, trading.md §4): ``HedgeGroup`` (sans-I/O counters of seed 001, band
state and target) and ``AutoHedgeEngine`` (SpdrAutoHedgeControl and executions in,
SpdrAutoHedgeState and the hedge parent orders out; ``_orders`` decides the posts)."""

from ._engine import HEDGE_ORIGIN, AutoHedgeEngine, validate_control
from ._group import SECONDS_PER_YEAR, BandControl, HedgeGroup
from ._orders import HedgeSide, plan

__all__ = ["HEDGE_ORIGIN", "SECONDS_PER_YEAR", "AutoHedgeEngine", "BandControl", "HedgeGroup",
           "HedgeSide", "plan", "validate_control"]
