"""The simulated venue's state as JSON-able data and back (a journal keeps it so a restarted or
taken-over order manager's venue continues exactly: queue priority, in-flight actions, consumed
displayed size and the RNG's position)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from ._types import ChildOrder, Nbbo

if TYPE_CHECKING:
    from ._venue import SimVenue

__all__ = ["restore", "rng_state", "set_rng_state", "snapshot"]

_SERIES = attrgetter("series")


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


def snapshot(v: SimVenue, series_out: Callable[[Hashable], Any]) -> dict[str, Any]:
    """Series are written once (``series``) and referred to by index; a NaN price (a child
    that will be rejected at arrival) may come back from JSON as None (``restore`` takes
    both)."""
    ids: dict[Hashable, int] = {}
    table: list[Any] = []

    def sid(s: Hashable) -> int:
        i = ids.get(s)
        if i is None:
            i = ids[s] = len(table)
            table.append(series_out(s))
        return i

    os_ = list(v._orders.values())
    cs = [o.child for o in os_]
    heap = v._heap
    ords = list(map(_SERIES, cs))
    for s in dict.fromkeys(ords):  # each series once, in first-seen order
        sid(s)
    # columns (one list per field, no per-order list: nothing per order survives for the GC)
    orders = {"cid": [c.child_id for c in cs], "pn": [c.parent_number for c in cs],
              "ser": list(map(ids.__getitem__, ords)), "side": [c.side for c in cs],
              "px": [c.price for c in cs], "size": [c.size for c in cs],
              "exch": [c.exch for c in cs], "tif": [c.tif for c in cs],
              "post": [c.post_only for c in cs], "filled": [o.filled for o in os_],
              "acked": [o.acked for o in os_]}
    return {
        "now": v._now, "seq": v._seq, "fills": v.fills, "rng": rng_state(v._rng),
        "heap": {"due": [h[0] for h in heap], "seq": [h[1] for h in heap],
                 "kind": [h[2] for h in heap], "cid": [h[3] for h in heap],
                 "px": [h[4][0] for h in heap], "sz": [h[4][1] for h in heap]},
        "orders": orders,
        "resting": [[sid(s), list(r)] for s, r in v._resting.items()],
        "used": [[sid(s), u.ts_ns, u.bid, u.ask] for s, u in v._used.items()],
        "quotes": [[sid(s), None if q is None else [q.bid, q.ask, q.bid_size, q.ask_size,
                                                      q.bid_mask, q.ask_mask, q.ts_ns]]
                   for s, q in v._quotes.items()],
        "halted": [sid(s) for s in v._halted],
        "series": table,
    }


_ORDER_COLS = ("cid", "pn", "ser", "side", "px", "size", "exch", "tif", "post", "filled", "acked")
_HEAP_COLS = ("due", "seq", "kind", "cid", "px", "sz")


def _rows(x: Any, cols: tuple[str, ...]) -> Any:
    """Rows from columns (or the row list a snapshot written before the columns holds)."""
    if isinstance(x, dict):
        return zip(*(x[c] for c in cols), strict=True)
    return x


def _f(x: Any) -> float:
    return math.nan if x is None else float(x)


def restore(v: SimVenue, st: dict[str, Any], series_in: Callable[[Any], Hashable],
            now_ns: int) -> None:
    from ._venue import _Order, _Used

    table = [series_in(x) for x in st["series"]]
    v._now = min(int(st["now"]), now_ns)
    v._seq = int(st["seq"])
    v.fills = int(st["fills"])
    set_rng_state(v._rng, st["rng"])
    v._heap = [(int(due), int(seq), int(kind), int(cid), (_f(px), int(sz)))
               for due, seq, kind, cid, px, sz in _rows(st["heap"], _HEAP_COLS)]
    heapq.heapify(v._heap)
    v._orders, v._by_parent, v._series_count = {}, {}, {}
    for cid, pn, ser, side, px, size, exch, tif, post, filled, acked in _rows(st["orders"],
                                                                               _ORDER_COLS):
        s = table[ser]
        o = _Order(ChildOrder(int(cid), int(pn), s, int(side), _f(px), int(size), exch, tif,
                              bool(post)), int(filled), bool(acked))
        v._orders[o.child.child_id] = o
        v._by_parent.setdefault(o.child.parent_number, {})[o.child.child_id] = o
        v._series_count[s] = v._series_count.get(s, 0) + 1
    v._resting = {}
    for ser, cids in st["resting"]:
        v._resting[table[ser]] = {int(c): v._orders[int(c)] for c in cids}
    v._used = {table[ser]: _Used(int(ts), int(b), int(a)) for ser, ts, b, a in st["used"]}
    v._quotes = {table[ser]: None if q is None else Nbbo(float(q[0]), float(q[1]), int(q[2]),
                                                            int(q[3]), int(q[4]), int(q[5]),
                                                            int(q[6]))
                 for ser, q in st["quotes"]}
    v._halted = {table[ser] for ser in st["halted"]}
    v._events = []
    v.version += 1
