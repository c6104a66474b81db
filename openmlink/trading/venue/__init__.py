"""The simulated options venue (spec trading.md section 6.1): sans-I/O matching of child
orders against the consolidated NBBO, with latencies, maker/taker fills, liquidity
consumption, partial fills and exchange fees; deterministic for a seed."""

from ._config import EXCHANGE_FEES, VenueConfig
from ._persist import VenueRowError, VenueState, rng_state, set_rng_state
from ._types import ChildOrder, EventKind, LiveChild, Nbbo, VenueEvent
from ._venue import SimVenue, exchange_bit, exchanges_of

__all__ = [
    "EXCHANGE_FEES",
    "ChildOrder",
    "EventKind",
    "LiveChild",
    "Nbbo",
    "SimVenue",
    "VenueConfig",
    "VenueEvent",
    "VenueRowError",
    "VenueState",
    "exchange_bit",
    "exchanges_of",
    "rng_state",
    "set_rng_state",
]
