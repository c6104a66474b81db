"""SimVenue: the sans-I/O simulated options venue (spec trading.md section 6.1)."""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Callable, Hashable, Iterable, KeysView
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...schema import registry
from ._config import VenueConfig
from ._persist import Changes, delta, restore, snapshot
from ._types import ChildOrder, EventKind, LiveChild, Nbbo, VenueEvent

__all__ = ["SimVenue", "exchange_bit", "exchanges_of"]


@functools.cache
def _exch_names() -> tuple[str, ...]:
    f = registry()["OptionNbboQuote"].field("bidExch")
    assert f is not None and f.enum is not None
    return tuple(f.enum.names)


@functools.cache
def _exch_ordinals() -> dict[str, int]:
    return {name: i for i, name in enumerate(_exch_names()) if name != "None"}


def exchange_bit(exch: str) -> int:
    """Mask bit of an OptExch name (``1 << ordinal``); raises KeyError on an unknown name."""
    try:
        return 1 << _exch_ordinals()[exch]
    except KeyError:
        raise KeyError(f"{exch!r} is not an OptExch name") from None


def exchanges_of(mask: int) -> list[str]:
    """OptExch names whose bits are set in ``mask``, in ordinal order."""
    names = _exch_names()
    return [names[i] for i in range(1, len(names)) if mask >> i & 1]


def _lowest_exch(mask: int) -> str | None:
    if mask <= 0:
        return None
    i = (mask & -mask).bit_length() - 1
    names = _exch_names()
    return names[i] if 0 < i < len(names) else None


@dataclass(slots=True)
class _Order:
    child: ChildOrder  # current terms (price/size after a modify)
    filled: int = 0
    acked: bool = False
    done: bool = False

    @property
    def leaves(self) -> int:
        return self.child.size - self.filled


@dataclass(slots=True)
class _Used:
    """Displayed size already taken at one quote version of a series."""

    ts_ns: int
    bid: int = 0
    ask: int = 0


_INSERT, _MODIFY, _CANCEL = 0, 1, 2


class SimVenue:
    """Matches child orders against an L1 book (the consolidated NBBO per series).

    Sans-I/O and deterministic for a seed: time comes only from the ``now_ns`` arguments
    (which must never decrease), randomness only from ``numpy.random.default_rng(seed)``.
    The venue sees the market only through ``book(series)``, read when a child is submitted
    and at ``market_changed``; between those it uses the quote it last read, so actions
    falling due before a change are matched against the quote in force at their time.  Call
    ``market_changed`` for every series in ``live_series()`` whose quote changes.

    Every call first processes the actions due up to ``now_ns``; events accumulate and are
    handed out, time-ordered, by ``advance``.
    """

    def __init__(self, book: Callable[[Hashable], Nbbo | None], config: VenueConfig,
                 seed: int) -> None:
        self._book = book
        self.config = config
        self._rng = np.random.default_rng(seed)
        self._now = -(1 << 62)
        self._seq = 0
        self._heap: list[tuple[int, int, int, int, tuple[float, int]]] = []
        self._orders: dict[int, _Order] = {}  # pending or resting, by child id
        self._resting: dict[Hashable, dict[int, _Order]] = {}  # series -> time priority
        self._by_parent: dict[int, dict[int, _Order]] = {}
        self._series_count: dict[Hashable, int] = {}  # live children per series
        self._quotes: dict[Hashable, Nbbo | None] = {}
        self._used: dict[Hashable, _Used] = {}
        self._halted: set[Hashable] = set()
        self._events: list[VenueEvent] = []
        self.fills = 0  # fill events emitted (for benchmarks)
        #: bumped by every change of the venue's state or RNG (a journal writes ``snapshot``
        #: only when it moved)
        self.version = 0
        #: what changed since the last snapshot or delta (None: not tracking, ``track``)
        self._chg: Changes | None = None

    # ------------------------------------------------------------------ inbound
    def submit(self, child: ChildOrder, now_ns: int) -> None:
        """Send a child; it reaches the venue at now + base + insert latency (+ jitter).

        At arrival: a bad child (size < 1, price not positive, side not +-1, tif not IOC/Day,
        unknown exchange) is rejected; a PostOnly child that would take is rejected; a
        marketable child takes at the opposite NBBO (up to displayed size not already
        consumed), then an IOC remainder expires and a Day remainder rests at its price.
        A child id already in use is rejected at once.
        """
        self._tick(now_ns)
        self._run_due(now_ns)
        cid = child.child_id
        if cid in self._orders:
            self._emit("rejected", cid, now_ns, reason=f"duplicate child_id {cid}")
            return
        if len(self._heap) >= self.config.max_pending:
            self._emit("rejected", cid, now_ns,
                       reason=f"venue busy: {len(self._heap)} actions in flight")
            return
        o = _Order(child)
        self._orders[cid] = o
        chg = self._chg
        if chg is not None:
            chg.orders.setdefault(cid, child.series)
            chg.ids[cid] = None
        self._by_parent.setdefault(child.parent_number, {})[cid] = o
        self._add_series(child.series)
        self._schedule(now_ns + self._latency(self.config.insert_latency_ns), _INSERT, cid)

    def modify(self, child_id: int, price: float, size: int, now_ns: int) -> None:
        """Change a child's price and total size at now + base + update latency (fills may
        arrive in between; ``size`` counts already-filled quantity, so a size at or below it
        cancels the rest).  The child loses its time priority.  Outcome events: ``modified``
        (new terms live), ``modify_rejected`` (child not live, or a PostOnly child would
        cross: it keeps its old terms), or fills when the new price is marketable."""
        self._tick(now_ns)
        self._run_due(now_ns)
        if self._chg is not None:
            self._chg.ids[child_id] = None
        self._schedule(now_ns + self._latency(self.config.update_latency_ns), _MODIFY, child_id,
                       (float(price), int(size)))

    def modify_many(self, mods: Iterable[tuple[int, float, int]], now_ns: int) -> None:
        """``modify(child_id, price, size, now_ns)`` for each ``(child_id, price, size)``, in
        order (one pass over the due actions; a re-pricing pass moves thousands of children)."""
        self._tick(now_ns)
        self._run_due(now_ns)
        self.version += 1
        base = now_ns + self.config.base_latency_ns + self.config.update_latency_ns
        j = self.config.jitter_ns
        heap, seq = self._heap, self._seq
        new: list[tuple[int, int, int, int, tuple[float, int]]] = []
        for cid, price, size in mods:
            extra = int(self._rng.integers(0, j + 1)) if j > 0 else 0
            seq += 1
            h = (base + extra, seq, _MODIFY, cid, (float(price), int(size)))
            heapq.heappush(heap, h)
            new.append(h)
        self._seq = seq
        chg = self._chg
        if chg is not None:
            chg.pushed += new
            chg.mods += [h[3] for h in new]

    def cancel(self, child_id: int, now_ns: int) -> None:
        """Cancel a child at now + base + cancel latency; fills may arrive in between.
        A cancel that finds the child done or unknown yields ``cancel_rejected``."""
        self._tick(now_ns)
        self._run_due(now_ns)
        if self._chg is not None:
            self._chg.ids[child_id] = None
        self._schedule(now_ns + self._latency(self.config.cancel_latency_ns), _CANCEL, child_id)

    def market_changed(self, series: Iterable[Hashable], now_ns: int) -> None:
        """The quotes of ``series`` changed at ``now_ns``: process actions due before it, read
        the new quotes, and re-check the children resting on those series (maker fills)."""
        self._tick(now_ns)
        self._run_due(now_ns - 1)
        chg = self._chg
        for s in series:
            self.version += 1
            if chg is not None:
                chg.quotes.add(s)
            if s not in self._series_count:
                self._quotes.pop(s, None)
                if self._used.pop(s, None) is not None and chg is not None:
                    chg.used.add(s)
                continue
            self._quotes[s] = self._book(s)
            self._match_resting(s, now_ns)
        self._run_due(now_ns)

    def halt(self, series: Hashable, now_ns: int) -> None:
        """Trading halted in ``series``: cancel every resting child there (reason "halted");
        children arriving while halted are rejected until ``resume``."""
        self._tick(now_ns)
        self._run_due(now_ns)
        self._halted.add(series)
        self.version += 1
        for o in list(self._resting.get(series, {}).values()):
            self._finish(o, "cancelled", now_ns, leaves=o.leaves, reason="halted")

    def resume(self, series: Hashable, now_ns: int) -> None:
        """End a halt in ``series`` (and re-read its quote)."""
        self._tick(now_ns)
        self._run_due(now_ns)
        self._halted.discard(series)
        self.version += 1
        if series in self._series_count:
            self._quotes[series] = self._book(series)
            if self._chg is not None:
                self._chg.quotes.add(series)

    def advance(self, now_ns: int) -> list[VenueEvent]:
        """Process everything due up to ``now_ns``; return all pending events, time-ordered."""
        self._tick(now_ns)
        self._run_due(now_ns)
        out = self._events
        self._events = []
        out.sort(key=lambda e: e.ts_ns)  # stable: same-time events keep their causal order
        if self._chg is not None and out:  # the caller's children change with these
            self._chg.ids.update(dict.fromkeys(e.child_id for e in out))
        return out

    # ------------------------------------------------------------------ views
    def live_series(self) -> set[Hashable]:
        """Series with at least one pending or resting child."""
        return set(self._series_count)

    def live_children(self, parent_number: int) -> list[LiveChild]:
        """Pending and resting children of a parent, in submission order."""
        return [LiveChild(o.child, o.leaves, o.filled, o.acked)
                for o in self._by_parent.get(parent_number, {}).values()]

    def held_ids(self) -> list[int]:
        """Ids of the children the venue holds (pending or resting), in submission order."""
        return list(self._orders)

    def holding(self) -> KeysView[int]:
        """The ids of the children the venue holds (pending or resting): a live view."""
        return self._orders.keys()

    def next_due_ns(self) -> int | None:
        """Time of the next in-flight action (None when nothing is in flight)."""
        return self._heap[0][0] if self._heap else None

    # ------------------------------------------------------------------ persistence
    def snapshot(self, series_out: Callable[[Hashable], Any]) -> dict[str, Any]:
        """The venue's whole state as JSON-able data (``restore`` continues from it exactly):
        the orders it holds (submission order), the resting ones per series in time priority,
        the in-flight actions, the displayed size consumed per quote version, the quotes it
        last read, halts, its clock and its RNG.  ``series_out`` turns a series into JSON-able
        data.  Events not handed out by ``advance`` yet are not part of it.  A tracking venue
        starts tracking again from here."""
        if self._chg is not None:
            self._chg = Changes(self._seq)
        return snapshot(self, series_out)

    def restore(self, state: dict[str, Any], series_in: Callable[[Any], Hashable],
                now_ns: int, deltas: Iterable[dict[str, Any]] = ()) -> None:
        """Replace this venue's state by a ``snapshot`` and the ``delta``s taken after it, in
        order (``series_in`` undoes ``series_out``).  ``now_ns`` earlier than the state's clock
        (a restarted process's clock) becomes the venue's time; actions in flight stay due
        when they were."""
        restore(self, state, series_in, now_ns, deltas)

    def track(self) -> None:
        """Record what changes from now on, for ``delta`` (a journal writing deltas calls it
        once; what is recorded is bounded by the changes between two ``delta`` calls)."""
        if self._chg is None:
            self._chg = Changes(self._seq)

    def changed(self) -> Changes:
        """What changed since the last ``snapshot``/``delta`` of a tracking venue: its ``ids``
        are the child ids a caller passed in or got events of (the caller's state of those
        children may have changed), its ``mods`` the ids ``modify_many`` moved."""
        assert self._chg is not None, "not tracking (SimVenue.track)"
        return self._chg

    def delta(self, series_out: Callable[[Hashable], Any]) -> dict[str, Any]:
        """What changed since the last ``snapshot`` or ``delta`` (a tracking venue, ``track``)
        as JSON-able data proportional to the change; ``restore`` applies it after the
        snapshot.  Tracking starts again from here."""
        return delta(self, series_out)

    # ------------------------------------------------------------------ time
    def _tick(self, now_ns: int) -> None:
        if now_ns < self._now:
            raise ValueError(f"time went backwards: {now_ns} < {self._now}")
        self._now = now_ns

    def _latency(self, specific: int) -> int:
        j = self.config.jitter_ns
        extra = int(self._rng.integers(0, j + 1)) if j > 0 else 0
        return self.config.base_latency_ns + specific + extra

    def _schedule(self, due: int, kind: int, cid: int, arg: tuple[float, int] = (0.0, 0)) -> None:
        self.version += 1
        self._seq += 1
        h = (due, self._seq, kind, cid, arg)
        heapq.heappush(self._heap, h)
        if self._chg is not None:
            self._chg.pushed.append(h)

    def _run_due(self, now_ns: int) -> None:
        """Process the in-flight actions due at or before ``now_ns`` (in due order)."""
        heap = self._heap
        while heap and heap[0][0] <= now_ns:
            self.version += 1
            due, seq, kind, cid, arg = heapq.heappop(heap)
            if self._chg is not None:
                self._chg.popped.append(seq)
            if kind == _INSERT:
                self._arrive(cid, due)
            elif kind == _CANCEL:
                self._do_cancel(cid, due)
            else:
                self._do_modify(cid, arg, due)

    # ------------------------------------------------------------------ actions
    def _arrive(self, cid: int, t: int) -> None:
        o = self._orders.get(cid)
        if o is None or o.done:  # cancelled before it arrived
            return
        c = o.child
        why = self._invalid(c)
        if why:
            self._finish(o, "rejected", t, reason=why)
            return
        q = self._quotes.get(c.series)
        if self._marketable(c.side, c.price, q) and c.post_only:
            assert q is not None
            opp = q.ask if c.side > 0 else q.bid
            self._finish(o, "rejected", t,
                         reason=f"PostOnly child would cross the NBBO: price {c.price:g}, "
                                f"opposite {opp:g}")
            return
        o.acked = True
        self._emit("ack", cid, t, price=c.price, exch=c.exch, leaves=o.leaves)
        self._take_then_rest(o, q, t)

    def _take_then_rest(self, o: _Order, q: Nbbo | None, t: int) -> None:
        c = o.child
        if q is not None and self._marketable(c.side, c.price, q):
            opp = q.ask if c.side > 0 else q.bid
            avail = self._available(c.series, q, c.side)
            qty = min(o.leaves, avail)
            if qty > 0:
                px = self._slipped(c, opp)
                mask = q.ask_mask if c.side > 0 else q.bid_mask
                self._consume(c.series, q, c.side, qty)
                self._fill(o, qty, px, self._taker_exch(c, mask), "Taker", t)
        if o.done or o.leaves <= 0:
            return
        if c.tif == "IOC":
            self._finish(o, "expired", t, leaves=o.leaves, reason="IOC remainder")
        else:
            self._resting.setdefault(c.series, {})[c.child_id] = o
            chg = self._chg
            if chg is not None:  # at its queue's end
                chg.rested.pop(c.child_id, None)
                chg.rested[c.child_id] = None

    def _do_cancel(self, cid: int, t: int) -> None:
        o = self._orders.get(cid)
        if o is None or o.done:
            self._emit("cancel_rejected", cid, t, reason=f"child {cid} is not live (done or unknown)")
            return
        self._finish(o, "cancelled", t, leaves=o.leaves, reason="cancel")

    def _do_modify(self, cid: int, arg: tuple[float, int], t: int) -> None:
        o = self._orders.get(cid)
        price, size = arg
        if o is None or o.done or not o.acked:
            self._emit("modify_rejected", cid, t,
                       reason=f"child {cid} is not resting (pending, done or unknown)")
            return
        c = o.child
        if not (math.isfinite(price) and price > 0):
            self._emit("modify_rejected", cid, t, reason=f"price {price!r} must be positive")
            return
        if size <= o.filled:
            self._finish(o, "cancelled", t, leaves=o.leaves,
                         reason=f"modify to size {size} <= filled {o.filled}")
            return
        q = self._quotes.get(c.series)
        if c.post_only and self._marketable(c.side, price, q):
            self._emit("modify_rejected", cid, t, reason=f"PostOnly child would cross at {price:g}")
            return
        self._resting.get(c.series, {}).pop(cid, None)  # loses time priority
        o.child = ChildOrder(c.child_id, c.parent_number, c.series, c.side, price, size, c.exch,
                             c.tif, c.post_only)
        self._emit("modified", cid, t, price=price, exch=c.exch, leaves=o.leaves)
        self._take_then_rest(o, q, t)

    # ------------------------------------------------------------------ matching
    def _match_resting(self, series: Hashable, t: int) -> None:
        """Maker fills of the children resting on ``series`` against its new quote."""
        q = self._quotes.get(series)
        rest = self._resting.get(series)
        if q is None or not rest or series in self._halted:
            return
        lo, hi = self.config.ticks(series)  # the series' tick table, read once
        for o in list(rest.values()):
            c = o.child
            opp = q.ask if c.side > 0 else q.bid
            if not opp > 0:
                continue
            gap = (c.price - opp) * c.side  # > 0: crossed, == 0: touched
            tick = lo if c.price < 3.0 else hi
            if gap < -1e-9 * tick:
                continue
            if abs(gap) <= 1e-9 * tick and self._rng.random() >= self.config.prob_fill_on_limit:
                continue
            qty = min(o.leaves, self._available(series, q, c.side))
            if qty <= 0:
                continue
            self._consume(series, q, c.side, qty)
            self._fill(o, qty, c.price, c.exch or self.config.default_exch, "Maker", t)

    @staticmethod
    def _marketable(side: int, price: float, q: Nbbo | None) -> bool:
        if q is None:
            return False
        if side > 0:
            return q.ask > 0 and price >= q.ask - 1e-9
        return q.bid > 0 and price <= q.bid + 1e-9

    def _available(self, series: Hashable, q: Nbbo, side: int) -> int:
        shown = q.ask_size if side > 0 else q.bid_size
        if not self.config.liquidity_consumption:
            return max(shown, 0)
        u = self._used.get(series)
        if u is None or u.ts_ns != q.ts_ns:
            return max(shown, 0)
        return max(shown - (u.ask if side > 0 else u.bid), 0)

    def _consume(self, series: Hashable, q: Nbbo, side: int, qty: int) -> None:
        if not self.config.liquidity_consumption:
            return
        u = self._used.get(series)
        if u is None or u.ts_ns != q.ts_ns:
            u = self._used[series] = _Used(q.ts_ns)
        if self._chg is not None:
            self._chg.used.add(series)
        if side > 0:
            u.ask += qty
        else:
            u.bid += qty

    def _tick_at(self, series: Hashable, price: float) -> float:
        lo, hi = self.config.ticks(series)
        return lo if price < 3.0 else hi

    def _slipped(self, c: ChildOrder, opp: float) -> float:
        """The opposite price, one tick worse with probability ``prob_slippage`` as long as
        that stays within the child's price."""
        p = self.config.prob_slippage
        if p <= 0.0 or self._rng.random() >= p:
            return opp
        worse = round(opp + c.side * self._tick_at(c.series, opp if c.side > 0 else opp - 1e-9), 8)
        return worse if (worse - c.price) * c.side <= 1e-9 else opp

    def _taker_exch(self, c: ChildOrder, mask: int) -> str:
        if c.exch and mask and (mask & exchange_bit(c.exch)):
            return c.exch
        return _lowest_exch(mask) or c.exch or self.config.default_exch

    def _fill(self, o: _Order, qty: int, price: float, exch: str, maker_taker: str, t: int) -> None:
        cfg = self.config
        k = int(self._rng.integers(1, max(cfg.partial_fill_max_pieces, 1) + 1)) if \
            cfg.partial_fill_max_pieces > 1 else 1
        k = min(k, qty)
        if k > 1:
            cuts = np.sort(self._rng.choice(qty - 1, k - 1, replace=False) + 1)
            pieces = np.diff(np.concatenate(([0], cuts, [qty]))).tolist()
        else:
            pieces = [qty]
        maker_fee, taker_fee = cfg.fees.get(exch, (0.0, 0.0))
        fee = maker_fee if maker_taker == "Maker" else taker_fee
        adjusts = cfg.prob_bust > 0.0 or cfg.prob_correct > 0.0
        for piece in pieces:
            o.filled += piece
            self.fills += 1
            kw = self._adjust(o.child, price, t) if adjusts else {}
            self._emit("fill", o.child.child_id, t, qty=piece, price=price, exch=exch,
                       maker_taker=maker_taker, fee=round(fee * piece, 6), leaves=o.leaves, **kw)
        if o.leaves <= 0:
            self._finish(o, None, t)

    def _adjust(self, c: ChildOrder, price: float, t: int) -> dict[str, Any]:
        """Whether the exchange busts or corrects this fill, and when (``VenueConfig``)."""
        cfg = self.config
        u = self._rng.random()
        if u >= cfg.prob_bust + cfg.prob_correct:
            return {}
        due = t + 1 + int(self._rng.integers(0, max(cfg.adjust_delay_ns, 1)))
        if u < cfg.prob_bust:
            return {"adjust_ns": due, "adjust_price": 0.0}
        tick = self._tick_at(c.series, price)
        up = self._rng.random() < 0.5 or price - tick <= 0
        return {"adjust_ns": due, "adjust_price": round(price + (tick if up else -tick), 8)}

    # ------------------------------------------------------------------ bookkeeping
    def _invalid(self, c: ChildOrder) -> str:
        if c.side not in (1, -1):
            return f"side {c.side!r} must be +1 (buy) or -1 (sell)"
        if not (isinstance(c.size, int | np.integer) and c.size >= 1):
            return f"size {c.size!r} must be a positive integer"
        if not (math.isfinite(c.price) and c.price > 0):
            return f"price {c.price!r} must be positive"
        if c.tif not in ("IOC", "Day"):
            return f"tif {c.tif!r} must be IOC or Day"
        if c.exch and c.exch not in _exch_ordinals():
            return f"exch {c.exch!r} is not an OptExch name"
        if c.series in self._halted:
            return "series halted"
        return ""

    def _finish(self, o: _Order, kind: EventKind | None, t: int, leaves: int = 0,
                reason: str = "") -> None:
        """Take a child off the venue (``kind`` None: filled, nothing more to report)."""
        c = o.child
        o.done = True
        if kind is not None:
            self._emit(kind, c.child_id, t, leaves=leaves, reason=reason, exch=c.exch)
        self._orders.pop(c.child_id, None)
        rest = self._resting.get(c.series)
        if rest is not None:
            rest.pop(c.child_id, None)
            if not rest:
                del self._resting[c.series]
        par = self._by_parent.get(c.parent_number)
        if par is not None:
            par.pop(c.child_id, None)
            if not par:
                del self._by_parent[c.parent_number]
        self._drop_series(c.series)

    def _add_series(self, s: Hashable) -> None:
        n = self._series_count.get(s, 0)
        self._series_count[s] = n + 1
        if n == 0:
            self._quotes[s] = self._book(s)
            if self._chg is not None:
                self._chg.quotes.add(s)

    def _drop_series(self, s: Hashable) -> None:
        n = self._series_count[s] - 1
        if n:
            self._series_count[s] = n
            return
        del self._series_count[s]
        self._quotes.pop(s, None)
        if self._chg is not None:
            self._chg.quotes.add(s)
        # ``_used`` stays: a child arriving before the quote refreshes must not find the size
        # consumed by this one displayed again (an entry per series traded; superseded as
        # soon as the series' quote version changes, dropped at its next market_changed)

    def _emit(self, kind: EventKind, cid: int, t: int, **kw: object) -> None:
        self.version += 1
        chg = self._chg
        if chg is not None:  # every change of an order goes with an event of it
            o = self._orders.get(cid)
            if o is not None:
                chg.orders.setdefault(cid, o.child.series)
        self._events.append(VenueEvent(kind, cid, t, **kw))  # type: ignore[arg-type]
