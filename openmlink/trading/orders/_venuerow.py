"""The venue rows of the trading journal: the simulated venue's state with the brokers' children
it holds, the child id sequence and the manager's RNG, so a restarted or taking-over manager
continues with the same resting children, queue priority and in-flight actions (nothing sent
twice).

A commit where the venue moved writes either the **full row** (``venue``/``state``: the whole
venue, ``SimVenue.snapshot``, and every held child as columns) or a **delta row** (``vdelta``/
16 hex digits, numbered on): only what changed since the last row (``SimVenue.delta``; the
children the venue's calls and events touched, as columns; the children a re-pricing pass only
moved as (child id, modify) pairs).  A delta costs in proportion to what changed, not to the
venue's size.  A full row is written instead at the first commit of a process (and after a
restore), after ``DELTAS_MAX`` deltas, or once the deltas since the last full row add up to
``BUDGET`` times its size (at least ``FLOOR`` bytes): it deletes every delta row in its own
commit (compaction), so the journal holds one full row and at most ``DELTAS_MAX`` deltas adding
up to about ``BUDGET`` full rows.  Full and delta rows are numbered in one sequence: a full
row's ``base`` is its own number (a journal written before: the last delta number it holds),
the deltas after it are numbered ``base`` + 1, + 2, ... and each names its full row (``base``).
Restore = the full row, then the deltas numbered above its ``base`` in order; a gap in their
numbers, a delta naming another full row, or a delta naming a child the rows before it do not
hold (a commit a standby never received: its fills and broker rows are missing too) raises
``VenueRowError`` naming the row: no prefix of the deltas matches the rest of the journal, so
the manager does not start from it (docs/trading.md, Durability).  A journal with only a full
row (written before the deltas) restores as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import orjson

from ...schema import OptionKey, TickerKey
from ..venue import VenueRowError, rng_state, set_rng_state
from ._broker import Child
from ._states import is_open

if TYPE_CHECKING:
    from ...srse import JournalStore
    from ._manager import OrderManager

__all__ = ["DELTA_NS", "VENUE_KEY", "VenueRows", "restore_venue"]

#: the full row's (kind, key) in the journal
VENUE_KEY = ("venue", "state")
#: the delta rows' namespace (keys: 16 hex digits, in writing order)
DELTA_NS = "vdelta"
#: most delta rows after a full row
DELTAS_MAX = 256
#: the deltas after a full row add up to at most this many times its size ... (a full row
#: costs ~2.5 us per held child: 3,000 held ~7 ms, a tick's worth of posts at 1,000/s; with
#: 2 it came every ~1.7x growth of a filling venue, four times in the 3,000-post bench)
BUDGET = 8.0
#: ... or this many bytes (a small venue's full row is rewritten as it grows)
FLOOR = 256 * 1024
#: a commit touching more children than this share of the held ones writes the full row (a
#: delta's child and order rows cost more per child than the full row's columns)
_FULLER = 0.5
_FULLER_MIN = 64


#: the key types a child's series can be (an option's OptionKey, a stock's TickerKey)
_KEYS: dict[str, Any] = {"OptionKey": OptionKey, "TickerKey": TickerKey}


def _series_out(s: Any) -> list[Any]:
    return [type(s).__name__, *s]


def _series_in(v: list[Any]) -> Any:
    return _KEYS[v[0]](*v[1:])


#: Child's fields in constructor order (a row is ``Child(*row)``)
_CHILD_FIELDS = tuple(f.name for f in fields(Child))
_MOD = _CHILD_FIELDS.index("mod")
#: Child fields that may hold NaN (a child's view of an empty market side)
_FLOATS = ("price", "limit", "bid", "ask")


def _nan(x: Any) -> Any:
    return math.nan if x is None else x


#: one C-level getter per Child field (a column is ``list(map(getter, children))``)
_GETTERS = tuple(attrgetter(f) for f in _CHILD_FIELDS)


def _columns(children: list[Child]) -> dict[str, list[Any]]:
    """Children as columns, one list per Child field (no per-child list: 10,000 children
    allocate ~18 lists, not 10,000 GC-tracked ones)."""
    return {f: list(map(g, children)) for f, g in zip(_CHILD_FIELDS, _GETTERS, strict=True)}


def full_body(m: OrderManager, base: int) -> bytes:
    """The full row's body (JSON; NaN as null): ``base`` = the last delta number it holds."""
    v = m.venue
    # the brokers' children, broker by broker in each broker's own order: every child the
    # manager holds, the venue's or one whose last events the venue has not handed out yet
    # (the snapshot keeps those events: the restarted manager applies them to the child)
    held = [c for b in m.brokers.values() for c in b.children.values()]
    return orjson.dumps({"venue": v.snapshot(_series_out), "children": _columns(held),
                         "childSeq": m.child_seq, "rng": rng_state(m.rng), "base": base})


def delta_body(m: OrderManager, base: int) -> bytes | None:
    """A delta row's body: the venue's ``delta``, the manager's children whose state may have
    changed (ascending ids: a broker's children are in id order) as columns, ``gone`` the ids
    of the children the manager no longer holds, ``mods`` (id, modify) of the children a
    re-pricing pass only moved (``SimVenue.modify_many``: their ``mod`` is all that changed),
    ``base`` the number of the full row it follows.  None when so many children changed that
    the full row costs less.  A child the venue is done with but whose events it has not handed
    out yet is the manager's still (the venue's delta keeps those events): written, not gone,
    or a restart would drop its fill."""
    v = m.venue
    chg = v.changed()
    held = m.child_of.keys()
    touched = sorted({*chg.ids, *chg.orders})
    if len(touched) > max(_FULLER * len(held), _FULLER_MIN):
        return None
    vd = v.delta(_series_out)
    kid = m.child_of.get
    rows = [c for c in map(kid, touched) if c is not None]
    gone = [cid for cid in touched if kid(cid) is None]
    ids, orders = chg.ids, chg.orders
    moved = [x for x in chg.mods if x not in ids and x not in orders] if ids or orders \
        else chg.mods
    mod_ids, mods = _moved(m, moved, held)
    if mods is None:  # (not expected: a moved child changes only with an event of its own)
        mod_ids, mods = [], []
        for cid in moved:
            c = kid(cid)
            if c is None:
                gone.append(cid)
            elif c.mod is None:
                rows.append(c)
            else:
                mod_ids.append(cid)
                mods.append(c.mod)
    return orjson.dumps({"venue": vd, "children": _columns(rows) if rows else {}, "gone": gone,
                         "mods": {"cid": mod_ids, "mod": mods},
                         "childSeq": m.child_seq, "rng": rng_state(m.rng), "base": base})


def _moved(m: OrderManager, moved: list[int], held: Any) -> tuple[list[int], list[Any] | None]:
    """(ids, modifies) of the children a re-pricing pass only moved, at C speed (10,000 in a
    pass), when the manager holds every one and each has its modify; else (moved, None)."""
    if not held >= set(moved):
        return moved, None
    mods = [c.mod for c in map(m.child_of.__getitem__, moved)]
    return (moved, mods) if None not in mods else (moved, None)


class VenueRows:
    """Which venue row the next commit writes (full or delta) and the delta rows to compact."""

    def __init__(self) -> None:
        self.version = -1  # the venue's version at the last row
        self.seq = 0  # the last venue row's number (full or delta)
        self.base = 0  # the last full row's number
        self.keys: list[str] = []  # the delta rows in the journal (since the full row)
        self.full_bytes = 0
        self.delta_bytes = 0
        self.need_full = True

    def write(self, m: OrderManager, puts: list[tuple[str, str, bytes]],
              deletes: list[tuple[str, str]]) -> None:
        """The venue row of this commit, if the venue (or a child it touched) moved."""
        v = m.venue
        if v.version == self.version and not v.changed():
            return
        self.version = v.version
        if (self.need_full or len(self.keys) >= DELTAS_MAX
                or self.delta_bytes >= BUDGET * max(self.full_bytes, FLOOR)):
            self._full(m, puts, deletes)
            return
        body = delta_body(m, self.base)
        if body is None:  # most of the venue changed: the full row, cheaper
            self._full(m, puts, deletes)
            return
        self.seq += 1
        key = f"{self.seq:016X}"
        puts.append((DELTA_NS, key, body))
        self.keys.append(key)
        self.delta_bytes += len(body)

    def _full(self, m: OrderManager, puts: list[tuple[str, str, bytes]],
              deletes: list[tuple[str, str]]) -> None:
        self.seq += 1
        self.base = self.seq
        body = full_body(m, self.seq)
        puts.append((*VENUE_KEY, body))
        deletes.extend((DELTA_NS, k) for k in self.keys)
        self.keys = []
        self.full_bytes, self.delta_bytes, self.need_full = len(body), 0, False


def _child_rows(children: Any) -> Any:
    """Rows of Child fields from the columns (or a row list written before the columns)."""
    if isinstance(children, dict):
        return zip(*(children[f] for f in _CHILD_FIELDS), strict=True) if children else ()
    return children


def children_of(full: dict[str, Any], deltas: Iterable[dict[str, Any]]) -> dict[int, list[Any]]:
    """The held children (id -> Child fields) the full row and its deltas add up to; a delta
    moving a child not held raises ``VenueRowError`` (``args[1]``: the delta's index)."""
    kids = {int(r[0]): list(r) for r in _child_rows(full["children"])}
    for i, d in enumerate(deltas):
        for cid in d["gone"]:
            kids.pop(int(cid), None)
        for r in _child_rows(d["children"]):
            kids[int(r[0])] = list(r)
        for cid, mod in zip(d["mods"]["cid"], d["mods"]["mod"], strict=True):
            row = kids.get(int(cid))
            if row is None:
                raise VenueRowError(f"the delta moves child {cid}, which the manager does not hold",
                                    i)
            row[_MOD] = mod
    return kids


def read_rows(j: JournalStore) -> tuple[dict[str, Any] | None, list[tuple[str, dict[str, Any]]],
                                         list[str]]:
    """(the full row, its deltas in order, every delta row's key) from the journal.  Raises
    ``VenueRowError`` naming the first delta row that does not follow the one before: a
    number skipped, or a delta naming another full row."""
    full = None
    for _k, body in j.items(VENUE_KEY[0]):
        full = orjson.loads(body)
    rows = sorted(j.items(DELTA_NS))
    base = int(full.get("base", 0)) if full is not None else math.inf
    deltas = [(k, orjson.loads(body)) for k, body in rows if int(k, 16) > base]
    want = base + 1
    for k, d in deltas:
        n, of = int(k, 16), int(d.get("base", base))
        if n != want or of != base:
            why = (f"delta row {DELTA_NS}/{want:016X} is missing" if n != want else
                   f"it follows full row {of}, not the journal's")
            raise VenueRowError(
                f"venue journal row {DELTA_NS}/{k} is not delta {want - base} after the full row"
                f" {VENUE_KEY[0]}/{VENUE_KEY[1]} (base {base}): {why}; the venue cannot be"
                " restored from part of its changes")
        want += 1
    return full, deltas, [k for k, _ in rows]



def restore_venue(m: OrderManager, j: JournalStore, now: int) -> int:
    """Take the rows back: the venue's state, each held child back on its broker (an open one;
    a child whose broker is gone or closed is cancelled at the venue); returns the number of
    children restored.  The next commit writes a full row and deletes the deltas."""
    full, deltas, keys = read_rows(j)
    rows = m.venue_rows
    rows.keys = keys
    rows.seq = max([rows.seq, *(int(k, 16) for k in keys),
                    int(full.get("base", 0)) if full is not None else 0])
    rows.need_full, rows.version = True, -1
    if full is None:
        return 0
    ds = [d for _k, d in deltas]
    try:
        kids = children_of(full, ds)
        m.venue.restore(full["venue"], _series_in, now, [d["venue"] for d in ds])
    except VenueRowError as e:
        raise VenueRowError(f"venue journal row {DELTA_NS}/{deltas[e.args[1]][0]}: {e.args[0]}"
                            " (a delta row before it is missing?); the venue cannot be restored"
                            " from part of its changes") from None
    last = ds[-1] if ds else full
    m.child_seq = max(m.child_seq, int(last["childSeq"]))
    set_rng_state(m.rng, last["rng"])
    n = 0
    for _cid, row in sorted(kids.items()):  # each broker's in id order
        c = Child(*row)
        for f in _FLOATS:  # NaN went out as null
            if getattr(c, f) is None:
                setattr(c, f, math.nan)
        c.risk = tuple(_nan(x) for x in c.risk)  # type: ignore[assignment]
        if c.mod is not None:
            c.mod = tuple(_nan(x) for x in c.mod)
        key = m.parents.get(c.parent_number)
        b = None if key is None else m.brokers.get(key)
        if b is None or not is_open(b.status):
            m.venue.cancel(c.child_id, now)
            continue
        b.children[c.child_id] = c
        m.owner[c.child_id] = b.key
        m.child_of[c.child_id] = c
        n += 1
    return n
