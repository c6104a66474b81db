"""Block and flash auctions of the SpiderRock ATS (trading.md §3, issue 13).

``AuctionManager`` is the sans-I/O core (initiation from a parent order, simulated and real
responders, 1 s block trials / one flash trial, crosses, AuctionNotice / AuctionState /
NoticeExecReport records); ``AuctionEngine`` wires it to the bus and the order manager.  The
trial match and allocation are pure functions in ``solve`` / ``allocate_pro_rata``.
"""

from ._adapter import AuctionEngine
from ._audience import (
    AUDIENCE_TYPES,
    Audience,
    AudienceRule,
    RemoteAudience,
    audience_rule,
    rule_from_json,
    rule_to_json,
)
from ._config import AuctionConfig
from ._manager import AUCTION_HANDLING, Auction, AuctionManager, Response
from ._responders import SimResponder, population, step_up
from ._trial import NBBO_CAP_PENNIES, Allocator, Solution, allocate_pro_rata, effective_prices, solve

__all__ = [
    "AUCTION_HANDLING",
    "AUDIENCE_TYPES",
    "NBBO_CAP_PENNIES",
    "Allocator",
    "Audience",
    "AudienceRule",
    "Auction",
    "AuctionConfig",
    "AuctionEngine",
    "AuctionManager",
    "RemoteAudience",
    "Response",
    "SimResponder",
    "Solution",
    "allocate_pro_rata",
    "audience_rule",
    "effective_prices",
    "population",
    "rule_from_json",
    "rule_to_json",
    "solve",
    "step_up",
]
