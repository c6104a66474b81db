"""The order manager on the bus: client posts in, market changes conflated per timer tick,
records out; order-rate limits as a bus validator (a post over the limit gets a PostAck error).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import orjson

from ...bus import Bus, ColumnBatch, Event
from ...clock import Clock
from ...engines.marketview import MarketView
from ...errors import PostRejected
from ...schema import MsgType, Registry, encode_message
from ...srse import Journal, JournalStore
from ...store import Store
from ..venue import VenueConfig
from ._config import TradingConfig
from ._manager import OrderManager, limit_key, with_source
from ._posts import applied_record, client_upsert, stored_record
from ._ratelimit import RateLimiter

__all__ = ["OrderEngine"]

log = logging.getLogger("openmlink.trading.orders")

_POSTED = ("SpdrParentOrder", "SpdrParentLimit", "SpdrParentCancel")
_MARKET = ("OptionNbboQuote", "LiveImpliedQuote", "StockBookQuote")


class OrderEngine:
    """Wires an ``OrderManager`` to a bus and store.  ``attach()`` restores the journal (when
    ``data_dir`` is given) and subscribes; ``tick()`` is the timer (the runtime calls it every
    ``config.timer_s``; tests call it after moving their SimClock)."""

    #: the column data it reads: the orders' market (``MarketReader``: quotes, surface
    #: points, the underlier, a MarketView's tables)
    READS: ClassVar[frozenset[str]] = frozenset(_MARKET) | MarketView.READS

    def __init__(self, bus: Bus, store: Store, reg: Registry, clock: Clock, *,
                 data_dir: str | Path | None = None, config: TradingConfig | None = None,
                 venue_config: VenueConfig | None = None,
                 master_fn: Callable[[], Any] = lambda: None,
                 journal: JournalStore | None = None) -> None:
        """``journal``: the journal to work with (a NATS platform's ``bus.StreamJournal``:
        docs/scale-out.md, order manager failover); default a SQLite one in ``data_dir``."""
        self.bus = bus
        self.store = store
        self.reg = reg
        self.clock = clock
        self.config = config or TradingConfig()
        if journal is None and data_dir is not None:
            journal = Journal(Path(data_dir) / "trading.sqlite3", fsync=self.config.fsync)
        self.journal = journal
        self.manager = OrderManager(reg, store, clock, self._publish, journal=self.journal,
                                    config=self.config, venue_config=venue_config,
                                    master_fn=master_fn, publish_batch=self._publish_batch)
        self.limiter = RateLimiter(self.config.key_rate, self.config.key_burst,
                                   self.config.accnt_rate, self.config.accnt_burst)
        self._mt = {n: reg[n] for n in (*_POSTED, *_MARKET)}
        self._market_dirty = False
        self._seen: dict[Any, tuple[int, int, int]] = {}
        self._unsub: list[Callable[[], None]] = []

    # ---------------------------------------------------------------- wiring
    def attach(self) -> None:
        self.manager.restore()
        self._adopt_unknown_orders()
        self._adopt_unseen_posts()
        for name in _POSTED:
            self.bus.add_validator(name, self._validate)
        self.bus.add_validator("SpdrParentExecution", self._adjust_post)
        self._unsub.append(self.bus.subscribe("SpdrParentOrder", self._on_order))
        self._unsub.append(self.bus.subscribe("SpdrParentLimit", self._on_limit))
        self._unsub.append(self.bus.subscribe("SpdrParentCancel", self._on_cancel))
        self._unsub.append(self.bus.subscribe("SpdrRiskGroupControl", self._on_group_control))
        for name in _MARKET:
            self._unsub.append(self.bus.subscribe(name, self._on_market))

    def close(self) -> None:
        for u in self._unsub:
            u()
        self._unsub.clear()
        if self.journal is not None:
            self.journal.close()

    def _publish(self, mt: MsgType, rec: dict[str, Any]) -> None:
        # a broker state carries every field a state ever sets: merged over the stored one it
        # is the same record, without first emptying the row's other cells
        self.bus.publish(Event(mt, "upsert", rec, self.clock.time_ns(),
                               merge=mt.name == "SpdrParentBrkrState"))

    def _publish_batch(self, mt: MsgType, data: dict[str, Any]) -> None:
        self.bus.publish(ColumnBatch(mt, data, self.clock.time_ns()))

    def _adopt_unknown_orders(self) -> None:
        """Orders the record store replayed that the journal never saw (a crash between the
        two writes): work them now, in parentNumber order."""
        t = self.store.table(self._mt["SpdrParentOrder"])
        recs = [t.record(int(r)) for r in t.live_rows()]
        for rec in sorted(recs, key=lambda r: r["parentNumber"]):
            if rec["parentNumber"] not in self.manager.parents:
                sent = {f.name for f in t.mt.fields if rec.get(f.name) != f.default}
                self.manager.on_order(rec, sent)

    def _adopt_unseen_posts(self) -> None:
        """Limits, cancels and group controls the record store holds that the journal did not
        see applied (posted while the process that worked them was dying, or between two
        holders of a NATS platform's trading lease): applied now.  A limit is re-applied only
        if it differs from the journaled one; a cancel of an order no longer open, or a
        control that changes nothing, does nothing."""
        if self.journal is None:
            return
        pl = self._mt["SpdrParentLimit"]
        seen = {k: orjson.loads(body)[0] for k, body in self.journal.items("limit")}
        t = self.store.table(pl)
        for r in t.live_rows():
            rec = t.record(int(r))
            key = tuple(rec[f.name] for f in self.reg["SpdrParentBrkrState"].pkey_fields)
            if seen.get(limit_key(key)) != encode_message(pl, with_source(rec)):
                sent = {f.name for f in pl.fields if rec.get(f.name) != f.default}
                self.manager.on_limit(rec, sent, insert=True)
        t = self.store.table(self._mt["SpdrParentCancel"])
        for rec in sorted((t.record(int(r)) for r in t.live_rows()),
                          key=lambda r: r["parentNumber"]):
            self.manager.on_cancel(rec)
        t = self.store.table(self.reg["SpdrRiskGroupControl"])
        for r in t.live_rows():
            self.manager.on_group_control(t.record(int(r)))

    # ---------------------------------------------------------------- validators
    def _validate(self, msg: Event | ColumnBatch) -> None:
        ev = client_upsert(msg)
        if ev is None:
            return  # the platform's own records and replays are not rate-limited
        why = self.limiter.check(ev.origin, str(ev.rec.get("accnt", "")), self.clock.time_ns())
        if why is not None:
            raise PostRejected(why)

    def _adjust_post(self, msg: Event | ColumnBatch) -> None:
        """An operator's update of a SpdrParentExecution (only an ``admin`` key gets one past
        the gateway: ``schema.ADMIN_ACTIONS``): ``execStatus`` Bust, or Correct with a new
        ``fillPrice``, busts or corrects that fill here: the execution (version+1), its broker
        and counters are journaled and published by the manager, and the post is answered OK
        without being stored itself (``PostRejected`` result OK).  Anything else is refused in
        the PostAck (nothing changes)."""
        ev = client_upsert(msg)
        if ev is None:
            return  # the platform's own executions
        rec, X = ev.rec, "SpdrParentExecution"
        extra = set(rec) - {"fillNumber", "execStatus", "fillPrice", "clientFirm"}
        if extra or not ev.merge:
            raise PostRejected(f"{X}: an operator's update carries fillNumber, execStatus (Bust "
                               f"or Correct) and, for Correct, fillPrice only (postaction U, "
                               f"merged); not {', '.join(sorted(extra)) or 'a whole record'}")
        stored = stored_record(self.store, ev)
        if stored is None:
            raise PostRejected(f"{X}: no execution {rec.get('fillNumber')}")
        if rec.get("clientFirm", stored["clientFirm"]) != stored["clientFirm"]:
            raise PostRejected(f"{X}: fill {stored['fillNumber']:X} is not your client firm's",
                               "AuthError")
        f = self.reg[X].field("execStatus")
        assert f is not None and f.enum is not None
        status = f.enum.names[rec.get("execStatus", 0)]
        if status not in ("Bust", "Correct"):
            raise PostRejected(f"{X}.execStatus: '{status}'; an operator posts Bust or Correct")
        price = None
        if status == "Correct":
            if "fillPrice" not in rec:
                raise PostRejected(f"{X}: Correct needs the corrected fillPrice")
            price = float(rec["fillPrice"])
        elif "fillPrice" in rec:
            raise PostRejected(f"{X}: a Bust takes no fillPrice")
        why = self.manager.adjust_fill(int(stored["fillNumber"]), price)
        # done: the manager published the execution's new version; the post itself is not
        # stored (it would republish that version)
        raise PostRejected(why or "", "OtherError" if why else "OK")

    # ---------------------------------------------------------------- client posts
    def _on_order(self, msg: Event | ColumnBatch) -> None:
        ev = client_upsert(msg)
        rec = None if ev is None else applied_record(self.store, ev)
        if ev is not None and rec is not None:
            self.manager.on_order(rec, ev.rec.keys())

    def _on_limit(self, msg: Event | ColumnBatch) -> None:
        ev = client_upsert(msg)
        rec = None if ev is None else applied_record(self.store, ev)
        if ev is not None and rec is not None:
            self.manager.on_limit(rec, ev.rec.keys(), insert=not ev.merge)

    def _on_cancel(self, msg: Event | ColumnBatch) -> None:
        ev = client_upsert(msg)
        rec = None if ev is None else applied_record(self.store, ev)
        if rec is not None:
            self.manager.on_cancel(rec)

    def _on_group_control(self, msg: Event | ColumnBatch) -> None:
        ev = client_upsert(msg)
        rec = None if ev is None else stored_record(self.store, ev, self.reg["SpdrRiskGroupControl"])
        if rec is not None:
            self.manager.on_group_control(rec)

    # ---------------------------------------------------------------- market
    def _on_market(self, msg: Event | ColumnBatch) -> None:
        self._market_dirty = True

    def changed_series(self) -> list[Any]:
        """Series of working brokers whose quote, surface point or underlier changed since
        the last call (row versions of the three tables)."""
        m = self.manager.market
        series = list(self.manager.by_series)
        if not series:
            return []
        nb, lq, st = m._nbbo, m._liq, m._stk
        out = []
        for s in series:
            rn, rl = nb.index.get((s,)), lq.index.get((s,))
            rs = st.index.get((m.info(s).ticker,))
            v = (-1 if rn is None else int(nb.row_seq[rn]), -1 if rl is None else int(lq.row_seq[rl]),
                 -1 if rs is None else int(st.row_seq[rs]))
            if self._seen.get(s) != v:
                self._seen[s] = v
                out.append(s)
        if len(self._seen) > 4 * len(series) + 1024:
            self._seen = {s: self._seen[s] for s in series if s in self._seen}
        return out

    def tick(self) -> None:
        """One timer tick: re-price the series whose market moved, then venue events due."""
        for _ in self.tick_steps(0):
            pass

    def tick_steps(self, slice_n: int | None = None) -> Iterator[None]:
        """``tick`` as steps (``OrderManager.timer_steps``): the runtime's timer resumes the
        generator after letting the event loop answer posts between two slices of at most
        ``slice_n`` new orders (default ``config.tick_slice``; 0 = one step)."""
        n = self.config.tick_slice if slice_n is None else slice_n
        try:
            if self._market_dirty:
                self._market_dirty = False
                ch = self.changed_series()
                if ch:
                    self.manager.on_market(ch)
            yield from self.manager.timer_steps(n)
        except Exception:
            log.exception("order manager tick failed")

