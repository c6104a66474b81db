"""Trading: parent orders, child-order pricing and the simulated venue (ARCHITECTURE: trading/).

Subpackages are separate components that meet only at their public faces:
``orders`` (the order manager: state machine, records, risk, journal, bus wiring),
``limits`` (pure limit-pricing kernels over NumPy arrays), ``venue`` (the sans-I/O simulated
exchange), ``auctions`` (block and flash auctions of the SpiderRock ATS), ``risk`` (positions
and risk records from the executions) and ``hedge`` (autohedge state per group).
"""

from .auctions import AUDIENCE_TYPES, AuctionConfig, AuctionEngine
from .hedge import AutoHedgeEngine
from .orders import OrderEngine, TradingConfig
from .risk import PositionsFileError, RiskConfig, RiskEngine, load_positions

__all__ = ["AUDIENCE_TYPES", "AuctionConfig", "AuctionEngine", "AutoHedgeEngine", "OrderEngine",
           "PositionsFileError", "RiskConfig", "RiskEngine", "TradingConfig", "load_positions"]
