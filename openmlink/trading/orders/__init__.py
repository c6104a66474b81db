"""The order manager (issue 11): SpdrParentOrder / SpdrParentLimit / SpdrParentCancel in;
SpdrParentBrkrState, SpdrParentBrkrEvent, SpdrParentExecution and RiskGroupCounter out.

``OrderManager`` is the sans-I/O core, ``OrderEngine`` wires it to a bus, store and journal.
"""

from ._adapter import OrderEngine
from ._auctions import AUCTION_HANDLINGS, AuctionHook
from ._broker import Broker, Child
from ._config import TradingConfig
from ._manager import OrderManager
from ._posts import client_upsert, stored_record
from ._ratelimit import RateLimiter
from ._risk import GroupCounter, risk_limit_size
from ._states import (
    NEW_PARENT,
    START,
    TERMINAL_ORDER,
    TRANSITIONS,
    IllegalTransition,
    Status,
    check_transition,
    is_open,
)
from ._validate import SUPPORTED_HANDLING, SUPPORTED_LIMIT_TYPES, validate_order

__all__ = [
    "AUCTION_HANDLINGS",
    "NEW_PARENT",
    "START",
    "SUPPORTED_HANDLING",
    "SUPPORTED_LIMIT_TYPES",
    "TERMINAL_ORDER",
    "TRANSITIONS",
    "AuctionHook",
    "Broker",
    "Child",
    "GroupCounter",
    "IllegalTransition",
    "OrderEngine",
    "OrderManager",
    "RateLimiter",
    "Status",
    "TradingConfig",
    "check_transition",
    "client_upsert",
    "is_open",
    "risk_limit_size",
    "stored_record",
    "validate_order",
]
