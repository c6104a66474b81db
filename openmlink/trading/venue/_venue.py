"""SimVenue: the sans-I/O simulated options venue (spec trading.md section 6.1)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

from ._config import VenueConfig
from ._types import ChildOrder, LiveChild, Nbbo, VenueEvent

__all__ = ["SimVenue", "exchange_bit", "exchanges_of"]


class SimVenue:
    """Matches child orders against an L1 book (the consolidated NBBO per series).

    Sans-I/O and deterministic for a seed: time comes only from the ``now_ns`` arguments,
    randomness only from ``numpy.random.default_rng(seed)``.  The venue sees the market only
    through ``book(series)``, read when a series is first used and at ``market_changed``;
    between those it uses the quote it last read, so actions falling due before a change are
    matched against the quote in force at their time.

    Every call first processes the actions due up to ``now_ns``; events accumulate and are
    handed out, time-ordered, by ``advance``.
    """

    def __init__(self, book: Callable[[Hashable], Nbbo | None], config: VenueConfig,
                 seed: int) -> None:
        raise NotImplementedError

    def submit(self, child: ChildOrder, now_ns: int) -> None:
        """Send a child; it reaches the venue at now + base + insert latency (+ jitter).

        At arrival: a bad child (size < 1, price not positive, side not +-1, tif not IOC/Day,
        duplicate id) is rejected; a PostOnly child that would take is rejected; a marketable
        child takes at the opposite NBBO (up to displayed size not already consumed), then an
        IOC remainder expires and a Day remainder rests at its price.
        """
        raise NotImplementedError

    def modify(self, child_id: int, price: float, size: int, now_ns: int) -> None:
        """Change a resting child's price and total size at now + base + update latency
        (fills may arrive in between; the new size counts already-filled quantity, so a size
        at or below it cancels the rest).  Loses queue priority like a cancel/replace."""
        raise NotImplementedError

    def cancel(self, child_id: int, now_ns: int) -> None:
        """Cancel a child at now + base + cancel latency; fills may arrive in between.
        A cancel that finds the child done or unknown yields ``cancel_rejected``."""
        raise NotImplementedError

    def market_changed(self, series: Iterable[Hashable], now_ns: int) -> None:
        """The quotes of ``series`` changed at ``now_ns``: process actions due before it, read
        the new quotes, and re-check the children resting on those series (maker fills)."""
        raise NotImplementedError

    def halt(self, series: Hashable, now_ns: int) -> None:
        """Trading halted in ``series``: cancel every resting child there (reason "halted")."""
        raise NotImplementedError

    def advance(self, now_ns: int) -> list[VenueEvent]:
        """Process everything due up to ``now_ns``; return all pending events, time-ordered."""
        raise NotImplementedError

    def live_series(self) -> set[Hashable]:
        """Series with at least one pending or resting child."""
        raise NotImplementedError

    def live_children(self, parent_number: int) -> list[LiveChild]:
        """Pending and resting children of a parent, in submission order."""
        raise NotImplementedError


def exchange_bit(exch: str) -> int:
    """Mask bit of an OptExch name (``1 << ordinal``); raises KeyError on an unknown name."""
    raise NotImplementedError


def exchanges_of(mask: int) -> list[str]:
    """OptExch names whose bits are set in ``mask``, in ordinal order."""
    raise NotImplementedError
