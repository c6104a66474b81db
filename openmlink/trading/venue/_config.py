"""Venue parameters: latencies, fill model, exchange fees."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["EXCHANGE_FEES", "VenueConfig"]

#: exchange -> (maker fee, taker fee) per contract in dollars, positive = paid, negative =
#: rebate.  APPROXIMATIONS of published 2024-25 schedules for a non-customer (professional /
#: firm) order in a penny-program class; real fees depend on tier, capacity and class.
EXCHANGE_FEES: Mapping[str, tuple[float, float]] = MappingProxyType({
    "AMEX": (0.25, 0.50),   # NYSE American: pro-rata, flat transaction fees
    "BOX": (0.25, 0.50),
    "CBOE": (0.25, 0.50),   # Cboe Options (C1): pro-rata, transaction fee both sides
    "ISE": (0.10, 0.50),
    "NYSE": (-0.28, 0.50),  # NYSE Arca options: maker-taker in penny classes
    "PHLX": (0.25, 0.48),
    "NSDQ": (-0.25, 0.50),  # Nasdaq Options Market: maker-taker
    "BATS": (-0.40, 0.50),  # Cboe BZX options: maker-taker
    "C2": (-0.35, 0.50),
    "NQBX": (-0.20, 0.50),
    "MIAX": (0.25, 0.50),
    "GMNI": (0.10, 0.50),   # Nasdaq GEMX
    "EDGO": (-0.25, 0.50),
    "MCRY": (0.10, 0.50),   # Nasdaq MRX
    "MPRL": (-0.25, 0.50),  # MIAX Pearl: maker-taker
    "EMLD": (0.10, 0.50),   # MIAX Emerald
    "MEMX": (-0.30, 0.50),
    "SPHR": (-0.25, 0.50),  # MIAX Sapphire
})


def _default_ticks(series: Hashable) -> tuple[float, float]:
    return 0.01, 0.05


@dataclass
class VenueConfig:
    """Latencies in ns: an order reaches the venue ``base + insert`` after ``submit``, a
    modify ``base + update`` after ``modify``, a cancel ``base + cancel`` after ``cancel``;
    each plus a uniform draw in [0, ``jitter_ns``].

    Fill model: a resting (maker) child fills when the opposite NBBO crosses its price (fully,
    up to the displayed size) or touches it (then with probability ``prob_fill_on_limit`` per
    market change -- a queue-position proxy; nautilus defaults to 1.0, we default to 0.3 so
    that joining the NBBO is not a sure fill).  A taker fill slips one tick (only while still
    within the child price) with probability ``prob_slippage``.  A fill is split into 1 to
    ``partial_fill_max_pieces`` seeded pieces.  With ``liquidity_consumption`` displayed size
    used by one child is not reused by another until the quote refreshes.

    Busts and corrections (openmlink; default off): each fill piece is busted with
    probability ``prob_bust`` or corrected (its price moved one tick, up or down) with
    probability ``prob_correct``, the exchange's word arriving a uniform draw in
    (0, ``adjust_delay_ns``] after the fill (``VenueEvent.adjust_ns``/``adjust_price``).
    No draw is taken while both are 0, so the default keeps every other draw as it was.

    ``fees``: exchange -> (maker, taker) per contract.  ``ticks``: series -> (tick below 3.00,
    tick at/above 3.00), for slippage.  ``max_pending``: bound on in-flight actions (beyond it
    ``submit`` rejects at once).  ``default_exch``: fill exchange when a side's mask is empty.
    """

    base_latency_ns: int = 100_000
    insert_latency_ns: int = 200_000
    update_latency_ns: int = 200_000
    cancel_latency_ns: int = 200_000
    jitter_ns: int = 0
    prob_fill_on_limit: float = 0.3
    prob_slippage: float = 0.0
    partial_fill_max_pieces: int = 1
    liquidity_consumption: bool = True
    prob_bust: float = 0.0
    prob_correct: float = 0.0
    adjust_delay_ns: int = 30_000_000_000
    fees: Mapping[str, tuple[float, float]] = field(default_factory=lambda: EXCHANGE_FEES)
    ticks: Callable[[Hashable], tuple[float, float]] = _default_ticks
    max_pending: int = 1_000_000
    default_exch: str = "CBOE"
