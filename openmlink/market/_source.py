"""The market-source interface: what a feed adapter implements.

A source turns some market (a simulator, snapshot files, a recording, a vendor feed) into
MLink records on the bus. Adding a vendor feed is writing one class with three methods::

    class MyVendorFeed:
        name = "myvendor"

        def prepare(self, clock: Clock) -> str:
            self._session = self._login()                # fails here, before the port is bound
            return f"myvendor: {len(self._symbols)} symbols subscribed"

        async def run(self, bus: Bus, clock: Clock) -> None:
            async for tick in self._connect():           # the vendor's own I/O
                bus.publish(ColumnBatch(msg_type("OptionNbboQuote"), columns, clock.time_ns()))

        def close(self) -> None:
            self._stop = True

Contract:

* ``prepare`` runs once, before the server binds its port (``openmlink.runtime``): it opens
  and parses files, checks its arguments (names, speeds, headers) and may do the heavy set-up
  (building a universe), and returns a one-line summary of what is loaded for the start-up
  message. A source that cannot start raises ``SourceError`` (or a subclass:
  ``ChainFormatError``, ``RecordingError``) with one line naming the file, the place and the
  reason; the server then exits non-zero without binding.
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
  runs until ``close()`` is called or the task is cancelled. A failure while running is raised
  (``SourceError`` for a known cause, e.g. a recording corrupt in the middle); the runtime
  reports it and ends the process unless told to keep serving.
* ``close`` is idempotent, may be called from any point, and releases files or sockets.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..bus import Bus
from ..clock import Clock

__all__ = ["Source"]


@runtime_checkable
class Source(Protocol):
    """A market source (simulator, chain loader, replayer, vendor feed)."""

    name: str

    def prepare(self, clock: Clock) -> str:
        """Open, parse and check everything ``run`` needs; a one-line summary of it.
        Raises ``SourceError`` when the source cannot start."""
        ...

    async def run(self, bus: Bus, clock: Clock) -> None:
        """Publish records onto ``bus`` until exhausted, closed or cancelled."""
        ...

    def close(self) -> None:
        """Stop ``run`` soon and release resources (idempotent)."""
        ...
