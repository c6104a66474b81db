"""The auction manager on the bus: NoticeResponse posts checked by a validator (a response the
auction cannot take gets a PostAck error naming the field) and then worked; trials run on a
timer that wakes at the next trial due (flash windows end on time, block trials every second).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from ...bus import Bus, ColumnBatch, Event
from ...clock import Clock
from ...errors import PostRejected
from ...schema import MsgType, Registry
from ...store import Store
from ..orders import OrderEngine, client_upsert, stored_record
from ._config import AuctionConfig
from ._manager import AuctionManager

__all__ = ["AuctionEngine"]

log = logging.getLogger("openmlink.trading.auctions")

NR = "NoticeResponse"


class AuctionEngine:
    """Wires an ``AuctionManager`` to the bus and to the order engine's manager (the hook
    auction orders go to).  ``tick()`` runs the trials due (tests call it after moving their
    SimClock); the runtime's timers call it every ``max_sleep_s`` of clock time."""

    #: the column data it reads: the auctioned series' market, through the order manager's
    READS: ClassVar[frozenset[str]] = OrderEngine.READS

    def __init__(self, bus: Bus, store: Store, reg: Registry, clock: Clock, orders: OrderEngine,
                 config: AuctionConfig | None = None, *, max_sleep_s: float = 0.02) -> None:
        self.bus = bus
        self.store = store
        self.clock = clock
        self.orders = orders
        self.manager = AuctionManager(reg, orders.manager, clock, self._publish, config)
        self.max_sleep_s = max_sleep_s
        self._mt = reg[NR]
        self._unsub: list[Callable[[], None]] = []

    def attach(self) -> None:
        om = self.orders.manager
        om.auctions = self.manager
        # reads of AuctionNotice / AuctionState follow each auction's audience of firms
        self._unsub.append(self.manager.audience.register(self.store))
        now = self.clock.time_ns()
        responses = None
        for b in list(om.brokers.values()):
            if b.auction == -1:  # its auction died with the previous process
                if responses is None:
                    t = self.store.table(self._mt)
                    responses = [t.record(int(r)) for r in t.live_rows()]
                self.manager.end_orphan(b, responses, now)
                om.auction_end(b.key, -1, "CrossFailed", now)
        self._unsub.append(self.bus.add_validator(NR, self._validate))
        self._unsub.append(self.bus.subscribe(NR, self._on_response))

    def close(self) -> None:
        for u in self._unsub:
            u()
        self._unsub.clear()
        if self.orders.manager.auctions is self.manager:
            self.orders.manager.auctions = None

    def _publish(self, mt: MsgType, rec: dict[str, Any]) -> None:
        self.bus.publish(Event(mt, "upsert", rec, self.clock.time_ns()))

    def _validate(self, msg: Event | ColumnBatch) -> None:
        ev = client_upsert(msg)
        if ev is None:
            return
        rec = ev.rec
        if ev.merge:  # an update: the fields it lacks keep the stored response's values
            rec = {**(stored_record(self.store, ev, self._mt) or {}), **rec}
        why = self.manager.response_error(rec, self.clock.time_ns())
        if why is not None:
            raise PostRejected(why)

    def _on_response(self, msg: Event | ColumnBatch) -> None:
        if not isinstance(msg, Event) or not msg.origin:
            return
        if msg.kind == "delete":
            self.manager.on_response(msg.rec, self.clock.time_ns(), deleted=True)
            return
        rec = stored_record(self.store, msg, self._mt)
        if rec is not None:
            self.manager.on_response(rec, self.clock.time_ns())

    def tick(self) -> None:
        try:
            self.manager.on_timer(self.clock.time_ns())
        except Exception:
            log.exception("auction tick failed")

