"""Value types of the simulated venue: the L1 book it reads, the child orders it takes and
the events it reports."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

__all__ = ["ChildOrder", "EventKind", "LiveChild", "Nbbo", "VenueEvent"]

EventKind = Literal["ack", "fill", "cancelled", "rejected", "expired", "cancel_rejected",
                    "modified", "modify_rejected"]


@dataclass(frozen=True, slots=True)
class Nbbo:
    """Consolidated option NBBO of one series (OptionNbboQuote: bidPrice/askPrice, cumBidSize/
    cumAskSize, bidMask/askMask).  Masks: bit ``1 << i`` for the exchange of OptExch ordinal
    ``i`` (``exchange_bit``).  Price 0 / size 0 = no quote on that side.  ``ts_ns`` changes
    whenever the quote refreshes (that is when consumed liquidity comes back)."""

    bid: float
    ask: float
    bid_size: int
    ask_size: int
    bid_mask: int
    ask_mask: int
    ts_ns: int


@dataclass(frozen=True, slots=True)
class ChildOrder:
    """One child order.  ``series`` is the OptionKey used as pkey in the store (any hashable
    works); ``side`` +1 buy / -1 sell; ``exch`` an OptExch name ("" = route to the NBBO);
    ``tif`` "IOC" or "Day"; ``post_only`` rejects the child if it would take."""

    child_id: int
    parent_number: int
    series: Hashable
    side: int
    price: float
    size: int
    exch: str
    tif: str
    post_only: bool


@dataclass(frozen=True, slots=True)
class VenueEvent:
    """What the venue reports.  ``kind``: ack (child accepted and live), fill (``qty`` at
    ``price`` on ``exch``, ``maker_taker`` Maker/Taker, ``fee`` = exchange fee for the whole
    fill, positive = paid, negative = rebate; ``leaves`` after the fill), cancelled (by a
    cancel or a halt; ``leaves`` = quantity cancelled), rejected (child refused at arrival;
    ``reason``), expired (IOC remainder, ``leaves`` = quantity expired), cancel_rejected (the
    cancel found nothing live to cancel; ``reason``), modified (``modify`` took effect:
    new ``price``, ``leaves``), modify_rejected (``reason``; the child keeps its terms).
    A fill the exchange will bust or correct later carries when (``adjust_ns`` > 0) and the
    corrected price (``adjust_price``; 0 = bust) -- ``VenueConfig.prob_bust``."""

    kind: EventKind
    child_id: int
    ts_ns: int
    qty: int = 0
    price: float = 0.0
    exch: str = ""
    maker_taker: str = ""
    fee: float = 0.0
    leaves: int = 0
    reason: str = ""
    adjust_ns: int = 0
    adjust_price: float = 0.0


@dataclass(frozen=True, slots=True)
class LiveChild:
    """A child the venue still holds (pending arrival, or resting), with its open quantity."""

    child: ChildOrder
    leaves: int
    filled: int
    acked: bool
