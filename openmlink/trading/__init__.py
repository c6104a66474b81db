"""Trading: parent orders, child-order pricing and the simulated venue (ARCHITECTURE: trading/).

Subpackages are separate components that meet only at their public faces:
``orders`` (the order manager: state machine, records, risk, journal, bus wiring),
``limits`` (pure limit-pricing kernels over NumPy arrays), ``venue`` (the sans-I/O simulated
exchange) and ``auctions`` (block and flash auctions of the SpiderRock ATS).
"""

from .auctions import AuctionConfig, AuctionEngine
from .orders import OrderEngine, TradingConfig

__all__ = ["AuctionConfig", "AuctionEngine", "OrderEngine", "TradingConfig"]
