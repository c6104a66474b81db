"""The market-source interface: what a feed adapter implements.

A source turns some market (a simulator, snapshot files, a recording, a vendor feed) into
MLink records on the bus. Adding a vendor feed is writing one class with two methods::

    class MyVendorFeed:
        name = "myvendor"

        async def run(self, bus: Bus, clock: Clock) -> None:
            async for tick in self._connect():           # the vendor's own I/O
                bus.publish(ColumnBatch(msg_type("OptionNbboQuote"), columns, clock.time_ns()))

        def close(self) -> None:
            self._stop = True

Contract:

* ``run`` publishes records in the store's internal representation (see
  ``openmlink.store._table``): bulk quotes as ``ColumnBatch`` (key member columns
  ``okey.at/.ts/.tk/.dt/.xx/.cp``; ``_columns`` has helpers), occasional records as ``Event``.
  Message, field and enum names are the spec's (``StockBookQuote``, ``OptionNbboQuote``,
  ``StockPrint``, ``OptionPrint``, ``TickerDefinition``, ``RootDefinition``,
  ``OptExpiryDefinition``).
* Time comes only from ``clock`` (``srcTimestamp``/``netTimestamp``/``sent_ts``); a source
  that owns simulated time may advance a ``SimClock`` it is given.
* ``run`` never blocks the event loop for long: publish in chunks and ``await`` between
  them. It returns when the source is exhausted (a snapshot or a recording at its end) or
  runs until ``close()`` is called or the task is cancelled.
* ``close`` is idempotent, may be called from any point, and releases files or sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol, runtime_checkable

from ..bus import Bus
from ..clock import Clock

__all__ = ["Source", "run_sources", "sources_context"]

log = logging.getLogger("openmlink.market")


@runtime_checkable
class Source(Protocol):
    """A market source (simulator, chain loader, replayer, vendor feed)."""

    name: str

    async def run(self, bus: Bus, clock: Clock) -> None:
        """Publish records onto ``bus`` until exhausted, closed or cancelled."""
        ...

    def close(self) -> None:
        """Stop ``run`` soon and release resources (idempotent)."""
        ...


async def _guarded(src: Source, bus: Bus, clock: Clock) -> None:
    try:
        await src.run(bus, clock)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("market source %s failed", src.name)


async def run_sources(sources: Sequence[Source], bus: Bus, clock: Clock) -> None:
    """Run sources concurrently until all are done (a failing source is logged)."""
    await asyncio.gather(*(_guarded(s, bus, clock) for s in sources))


def sources_context(sources: Sequence[Source], bus: Bus,
                    clock: Clock) -> Callable[[object], AsyncIterator[None]]:
    """An aiohttp ``cleanup_ctx`` entry: starts each source as a task on startup, closes and
    cancels them on shutdown."""

    async def ctx(_app: object) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_guarded(s, bus, clock), name=f"source:{s.name}")
                 for s in sources]
        yield
        for s in sources:
            s.close()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    return ctx
