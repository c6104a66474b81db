"""Auto-hedging (issue 14, trading.md §4): ``HedgeGroup`` (sans-I/O counters of seed 001, band
state and target) and ``AutoHedgeEngine`` (SpdrAutoHedgeControl and executions in,
SpdrAutoHedgeState out).  Hedge parent orders are not sent yet (see ``_engine``)."""

from ._engine import AutoHedgeEngine, validate_control
from ._group import SECONDS_PER_YEAR, BandControl, HedgeGroup

__all__ = ["SECONDS_PER_YEAR", "AutoHedgeEngine", "BandControl", "HedgeGroup", "validate_control"]
