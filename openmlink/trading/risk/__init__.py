"""Positions and risk (issue 14): SpdrParentExecution and start-of-day positions in;
OptionPositionRecordV5, StockPositionRecordV5 and SymbolRiskSummaryV5 out.

``PositionBook`` (sans-I/O positions), ``slide_pnl`` (full revaluation, pure arrays),
``load_positions`` (the ``--positions`` file), ``RiskEngine`` (bus wiring and records).
"""

from ._engine import RiskConfig, RiskEngine, day_number
from ._positions import Fill, OptPos, PositionBook, StkPos
from ._reval import SLIDES, RevalInputs, shocked_vols, slide_pnl
from ._sod import PositionsFileError, SodPosition, load_positions, parse_positions

__all__ = [
    "SLIDES",
    "Fill",
    "OptPos",
    "PositionBook",
    "PositionsFileError",
    "RevalInputs",
    "RiskConfig",
    "RiskEngine",
    "SodPosition",
    "StkPos",
    "day_number",
    "load_positions",
    "parse_positions",
    "shocked_vols",
    "slide_pnl",
]
