"""The simulated venue's state as JSON-able data and back (a journal keeps it so a restarted or
taken-over order manager's venue continues exactly: queue priority, in-flight actions, consumed
displayed size and the RNG's position).

Two kinds of data: ``snapshot`` (the whole state) and ``delta`` (what changed since the last
``snapshot`` or ``delta``, recorded by a tracking venue: ``SimVenue.track``).  ``restore`` takes a
snapshot and the deltas written after it, in order, and installs the state they add up to; a
delta's size is proportional to what changed, not to the venue's size.

Both carry the events the venue emitted and ``advance`` has not handed out yet (``events``: a
caller's venue call runs the actions due first, so a post between two ticks may leave a fill
waiting for the next tick's ``advance``): the state already counts them, so a restored venue
hands them out again, or a process killed before that tick would lose them.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable, Iterable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from ._types import ChildOrder, Nbbo, VenueEvent

if TYPE_CHECKING:
    from ._venue import SimVenue

__all__ = ["Changes", "VenueRowError", "VenueState", "delta", "restore", "rng_state",
           "set_rng_state", "snapshot"]

_SERIES = attrgetter("series")


class VenueRowError(ValueError):
    """A journal's venue rows do not add up to a venue: a delta row is missing (a gap in their
    numbers) or names a child the rows before it do not hold.  Restoring refuses it (a venue
    restored from part of its changes would silently lose or repeat fills)."""


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A Generator's bit-generator state with its integers as decimal text (PCG64's are
    128-bit: beyond JSON numbers)."""
    return _ints_out(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = _ints_in(state)


def _ints_out(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _ints_out(x) for k, x in v.items()}
    if isinstance(v, int) and not isinstance(v, bool):
        return {"int": str(v)}
    return v


def _ints_in(v: Any) -> Any:
    if isinstance(v, dict):
        if set(v) == {"int"}:
            return int(v["int"])
        return {k: _ints_in(x) for k, x in v.items()}
    return v


class Changes:
    """What a tracking venue changed since its last snapshot or delta (``SimVenue.track``).
    Bounded by the venue's activity between two journal commits."""

    __slots__ = ("ids", "mods", "orders", "popped", "pushed", "quotes", "rested", "seq0", "used")

    def __init__(self, seq0: int) -> None:
        #: in-flight actions numbered above this were scheduled since (``pushed``)
        self.seq0 = seq0
        #: orders added, changed or taken off: child id -> series (first-touched order)
        self.orders: dict[int, Hashable] = {}
        #: orders put in a resting queue (at its end), last insertion last
        self.rested: dict[int, None] = {}
        self.pushed: list[tuple[int, int, int, int, tuple[float, int]]] = []  # actions scheduled
        self.popped: list[int] = []  # sequence numbers of the actions run
        self.used: set[Hashable] = set()  # series whose consumed displayed size changed
        self.quotes: set[Hashable] = set()  # series whose quote read changed
        #: child ids a caller passed in (submit, modify, cancel) or got events of (advance):
        #: the caller's own per-child state may have changed with them
        self.ids: dict[int, None] = {}
        #: child ids ``modify_many`` moved (nothing else of the caller's may have changed)
        self.mods: list[int] = []

    def __bool__(self) -> bool:
        return bool(self.orders or self.pushed or self.popped or self.used or self.quotes
                    or self.ids or self.mods)


class _Table:
    """Series written once per body and referred to by index."""

    def __init__(self, series_out: Callable[[Hashable], Any]) -> None:
        self.ids: dict[Hashable, int] = {}
        self.rows: list[Any] = []
        self._out = series_out

    def __call__(self, s: Hashable) -> int:
        i = self.ids.get(s)
        if i is None:
            i = self.ids[s] = len(self.rows)
            self.rows.append(self._out(s))
        return i

    def many(self, ss: list[Hashable]) -> list[int]:
        """``[self(s) for s in ss]``, each distinct series numbered once."""
        for s in dict.fromkeys(ss):
            if s not in self.ids:
                self(s)
        return list(map(self.ids.__getitem__, ss))


def _quote(q: Nbbo | None) -> list[Any] | None:
    return None if q is None else [q.bid, q.ask, q.bid_size, q.ask_size, q.bid_mask, q.ask_mask,
                                   q.ts_ns]


def _heap_cols(heap: Iterable[tuple[int, int, int, int, tuple[float, int]]]) -> dict[str, list[Any]]:
    # comprehensions, not zip(*h): that allocates an iterator per entry (GC-tracked: young
    # collections while 10,000 in-flight modifies are written)
    h = list(heap)
    return {"due": [x[0] for x in h], "seq": [x[1] for x in h], "kind": [x[2] for x in h],
            "cid": [x[3] for x in h], "px": [x[4][0] for x in h], "sz": [x[4][1] for x in h]}


def snapshot(v: SimVenue, series_out: Callable[[Hashable], Any]) -> dict[str, Any]:
    """Series are written once (``series``) and referred to by index; a NaN price (a child
    that will be rejected at arrival) may come back from JSON as None (``restore`` takes
    both)."""
    sid = _Table(series_out)
    os_ = list(v._orders.values())
    cs = [o.child for o in os_]
    ords = list(map(_SERIES, cs))
    for s in dict.fromkeys(ords):  # each series once, in first-seen order
        sid(s)
    # columns (one list per field, no per-order list: nothing per order survives for the GC)
    orders = {"cid": [c.child_id for c in cs], "pn": [c.parent_number for c in cs],
              "ser": list(map(sid.ids.__getitem__, ords)), "side": [c.side for c in cs],
              "px": [c.price for c in cs], "size": [c.size for c in cs],
              "exch": [c.exch for c in cs], "tif": [c.tif for c in cs],
              "post": [c.post_only for c in cs], "filled": [o.filled for o in os_],
              "acked": [o.acked for o in os_]}
    return {
        "now": v._now, "seq": v._seq, "fills": v.fills, "rng": rng_state(v._rng),
        "heap": _heap_cols(v._heap),
        "orders": orders,
        "resting": [[sid(s), list(r)] for s, r in v._resting.items()],
        "used": [[sid(s), u.ts_ns, u.bid, u.ask] for s, u in v._used.items()],
        "quotes": [[sid(s), _quote(q)] for s, q in v._quotes.items()],
        "halted": [sid(s) for s in v._halted],
        "events": _events_out(v._events),
        "series": sid.rows,
    }


def _events_out(events: list[VenueEvent]) -> list[list[Any]]:
    """The undelivered events as rows (few: those of the venue calls since the last
    ``advance``)."""
    return [[e.kind, e.child_id, e.ts_ns, e.qty, e.price, e.exch, e.maker_taker, e.fee,
             e.leaves, e.reason] for e in events]


def _events_in(rows: list[list[Any]]) -> list[VenueEvent]:
    return [VenueEvent(k, int(cid), int(ts), int(q), float(px), ex, mt, float(fee), int(lv), why)
            for k, cid, ts, q, px, ex, mt, fee, lv, why in rows]


def delta(v: SimVenue, series_out: Callable[[Hashable], Any]) -> dict[str, Any]:
    """What changed since the last snapshot or delta of this tracking venue (and tracking
    starts again from here).  ``orders``: every order added or changed since, as its row now
    (``rest`` 1 when it is resting now); ``gone``: [child id, series] of the orders taken off;
    ``rested``: the resting orders put in their queue since (each at its queue's end, in this
    order; a resting order not listed kept its place); ``heap``: actions scheduled since and
    still in flight, ``ran``: sequence numbers of the actions run that were scheduled before;
    ``used`` / ``quotes``: the series whose entry changed (``usedGone`` / ``quotesGone``: taken
    off); ``halted`` and ``events`` (undelivered): the whole (small) lists; the clock, sequence,
    fill count and RNG."""
    chg = v._chg
    assert chg is not None, "delta() needs a tracking venue (SimVenue.track)"
    v._chg = Changes(v._seq)
    sid = _Table(series_out)
    orders, resting = v._orders, v._resting
    gone = [[cid, sid(s)] for cid, s in chg.orders.items() if cid not in orders]
    os_ = [o for o in map(orders.get, chg.orders) if o is not None]
    cs = [o.child for o in os_]
    ords = list(map(_SERIES, cs))
    cols = {"cid": [c.child_id for c in cs], "pn": [c.parent_number for c in cs],
            "ser": sid.many(ords), "side": [c.side for c in cs], "px": [c.price for c in cs],
            "size": [c.size for c in cs], "exch": [c.exch for c in cs],
            "tif": [c.tif for c in cs], "post": [c.post_only for c in cs],
            "filled": [o.filled for o in os_], "acked": [o.acked for o in os_],
            "rest": [1 if c.child_id in resting.get(s, ()) else 0 for c, s in zip(cs, ords,
                                                                                  strict=True)]}
    rested = [cid for cid, o in ((c, orders.get(c)) for c in chg.rested)
              if o is not None and cid in resting.get(o.child.series, ())]
    seq0 = chg.seq0
    late = {s for s in chg.popped if s > seq0}  # scheduled and run since the last body
    pushed = [h for h in chg.pushed if h[1] not in late] if late else chg.pushed
    used, quotes = v._used, v._quotes
    return {
        "now": v._now, "seq": v._seq, "fills": v.fills, "rng": rng_state(v._rng),
        "orders": cols, "gone": gone, "rested": rested,
        "heap": _heap_cols(pushed), "ran": [s for s in chg.popped if s <= seq0],
        "used": [[sid(s), u.ts_ns, u.bid, u.ask] for s, u in ((s, used.get(s)) for s in chg.used)
                 if u is not None],
        "usedGone": [sid(s) for s in chg.used if s not in used],
        "quotes": [[sid(s), _quote(quotes[s])] for s in chg.quotes if s in quotes],
        "quotesGone": [sid(s) for s in chg.quotes if s not in quotes],
        "halted": [sid(s) for s in v._halted],
        "events": _events_out(v._events),
        "series": sid.rows,
    }


_ORDER_COLS = ("cid", "pn", "ser", "side", "px", "size", "exch", "tif", "post", "filled", "acked")
#: a delta's order rows: ``rest`` 1 = resting now
_DELTA_COLS = (*_ORDER_COLS, "rest")
_HEAP_COLS = ("due", "seq", "kind", "cid", "px", "sz")


def _rows(x: Any, cols: tuple[str, ...]) -> Any:
    """Rows from columns (or the row list a snapshot written before the columns holds)."""
    if isinstance(x, dict):
        return zip(*(x[c] for c in cols), strict=True) if x else ()
    return x


def _f(x: Any) -> float:
    return math.nan if x is None else float(x)


def _order_row(r: Any, table: list[Hashable]) -> tuple[Any, ...]:
    """(cid, pn, series, side, px, size, exch, tif, post, filled, acked) typed."""
    cid, pn, ser, side, px, size, exch, tif, post, filled, acked = r[:11]
    return (int(cid), int(pn), table[ser], int(side), _f(px), int(size), exch, tif, bool(post),
            int(filled), bool(acked))


def _nbbo(q: Any) -> Nbbo | None:
    return None if q is None else Nbbo(float(q[0]), float(q[1]), int(q[2]), int(q[3]), int(q[4]),
                                       int(q[5]), int(q[6]))


class VenueState:
    """A venue's state as plain data keyed by ids (series as the venue's own keys): a
    snapshot, with deltas applied in order (``apply``), then installed (``install``).  Two
    states are equal when they install the same venue."""

    def __init__(self, st: dict[str, Any], series_in: Callable[[Any], Hashable]) -> None:
        table = [series_in(x) for x in st["series"]]
        self._scalars(st)
        #: child id -> order row, in submission order
        self.orders: dict[int, tuple[Any, ...]] = {}
        for r in _rows(st["orders"], _ORDER_COLS):
            row = _order_row(r, table)
            self.orders[row[0]] = row
        #: in-flight actions by sequence number
        self.heap: dict[int, tuple[int, int, int, int, tuple[float, int]]] = {}
        for due, seq, kind, cid, px, sz in _rows(st["heap"], _HEAP_COLS):
            self.heap[int(seq)] = (int(due), int(seq), int(kind), int(cid), (_f(px), int(sz)))
        #: series -> resting child ids in time priority
        self.resting: dict[Hashable, dict[int, None]] = {
            table[ser]: dict.fromkeys(int(c) for c in cids) for ser, cids in st["resting"]}
        self.used: dict[Hashable, tuple[int, int, int]] = {
            table[ser]: (int(ts), int(b), int(a)) for ser, ts, b, a in st["used"]}
        self.quotes: dict[Hashable, Nbbo | None] = {table[ser]: _nbbo(q) for ser, q in st["quotes"]}
        self.halted: set[Hashable] = {table[ser] for ser in st["halted"]}

    def _scalars(self, st: dict[str, Any]) -> None:
        self.now, self.seq, self.fills = int(st["now"]), int(st["seq"]), int(st["fills"])
        self.rng = _ints_in(st["rng"])
        #: events not handed out yet (a state written before they were kept: none)
        self.events = _events_in(st.get("events", ()))

    def apply(self, d: dict[str, Any], series_in: Callable[[Any], Hashable]) -> None:
        """Apply a ``delta`` written after this state."""
        table = [series_in(x) for x in d["series"]]
        self._scalars(d)
        orders, resting = self.orders, self.resting
        for cid, ser in d["gone"]:
            orders.pop(int(cid), None)
            self._unrest(table[ser], int(cid))
        for r in _rows(d["orders"], _DELTA_COLS):
            row = _order_row(r, table)
            cid, s = row[0], row[2]
            orders[cid] = row
            if not r[11]:
                self._unrest(s, cid)
        for cid in d["rested"]:  # each to its queue's end, in this order
            cid = int(cid)
            o = orders.get(cid)
            if o is None:
                raise VenueRowError(f"the delta queues child {cid}, which the venue does not hold")
            s = o[2]
            q = resting.setdefault(s, {})
            q.pop(cid, None)
            q[cid] = None
        for seq in d["ran"]:
            self.heap.pop(int(seq), None)
        for due, seq, kind, cid, px, sz in _rows(d["heap"], _HEAP_COLS):
            self.heap[int(seq)] = (int(due), int(seq), int(kind), int(cid), (_f(px), int(sz)))
        for ser, ts, b, a in d["used"]:
            self.used[table[ser]] = (int(ts), int(b), int(a))
        for ser in d["usedGone"]:
            self.used.pop(table[ser], None)
        for ser, q in d["quotes"]:
            self.quotes[table[ser]] = _nbbo(q)
        for ser in d["quotesGone"]:
            self.quotes.pop(table[ser], None)
        self.halted = {table[ser] for ser in d["halted"]}

    def _unrest(self, s: Hashable, cid: int) -> None:
        q = self.resting.get(s)
        if q is not None and cid in q:
            del q[cid]
            if not q:
                del self.resting[s]

    def key(self) -> tuple[Any, ...]:
        """What the state installs, comparable (``==``) between two states: the heap as a set
        (its pops are in (due, sequence) order whatever the list's layout), empty queues
        dropped, NaN prices as None."""
        def nn(x: Any) -> Any:
            return None if isinstance(x, float) and math.isnan(x) else x

        return (self.now, self.seq, self.fills, self.rng, [
                    tuple(nn(getattr(e, f)) for f in VenueEvent.__slots__) for e in self.events],
                [tuple(nn(x) for x in r) for r in self.orders.values()],
                sorted((h[0], h[1], h[2], h[3], nn(h[4][0]), h[4][1]) for h in self.heap.values()),
                {s: list(q) for s, q in self.resting.items() if q}, dict(self.used),
                dict(self.quotes), set(self.halted))

    def install(self, v: SimVenue, now_ns: int) -> None:
        from ._venue import _Order, _Used

        v._now = min(self.now, now_ns)
        v._seq = self.seq
        v.fills = self.fills
        v._rng.bit_generator.state = self.rng
        v._heap = list(self.heap.values())
        heapq.heapify(v._heap)
        v._orders, v._by_parent, v._series_count = {}, {}, {}
        for cid, pn, s, side, px, size, exch, tif, post, filled, acked in self.orders.values():
            o = _Order(ChildOrder(cid, pn, s, side, px, size, exch, tif, post), filled, acked)
            v._orders[cid] = o
            v._by_parent.setdefault(pn, {})[cid] = o
            v._series_count[s] = v._series_count.get(s, 0) + 1
        v._resting = {s: {c: v._orders[c] for c in q} for s, q in self.resting.items() if q}
        v._used = {s: _Used(*u) for s, u in self.used.items()}
        v._quotes = dict(self.quotes)
        v._halted = set(self.halted)
        v._events = list(self.events)
        if v._chg is not None:
            v._chg = Changes(v._seq)
        v.version += 1


def restore(v: SimVenue, st: dict[str, Any], series_in: Callable[[Any], Hashable],
            now_ns: int, deltas: Iterable[dict[str, Any]] = ()) -> None:
    """Install ``st`` and its ``deltas``; a delta naming a child the state does not hold
    raises ``VenueRowError`` (``args[1]``: the delta's index) and leaves ``v`` as it was."""
    state = VenueState(st, series_in)
    for i, d in enumerate(deltas):
        try:
            state.apply(d, series_in)
        except VenueRowError as e:
            raise VenueRowError(e.args[0], i) from None
    state.install(v, now_ns)
