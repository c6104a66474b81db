"""SimVenue.snapshot / restore: a venue restored from a snapshot taken at any point of a
seeded run (through JSON) goes on exactly as the original: same events, same order."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.trading.venue import ChildOrder, Nbbo, SimVenue, VenueConfig

SERIES = ("A", "B", "C")
CFG = VenueConfig(jitter_ns=50_000, prob_fill_on_limit=0.5, prob_slippage=0.3,
                  partial_fill_max_pieces=3)

op = st.one_of(
    st.tuples(st.just("submit"), st.sampled_from(SERIES), st.sampled_from((1, -1)),
              st.integers(95, 105), st.integers(1, 9), st.sampled_from(("Day", "IOC")),
              st.booleans()),
    st.tuples(st.just("modify"), st.integers(0, 30), st.integers(95, 105), st.integers(1, 9)),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("quote"), st.sampled_from(SERIES), st.integers(95, 104), st.integers(0, 9),
              st.integers(0, 9)),
    st.tuples(st.just("halt"), st.sampled_from(SERIES)),
    st.tuples(st.just("resume"), st.sampled_from(SERIES)),
    st.tuples(st.just("wait"), st.integers(0, 600_000)),
)


class _Run:
    """A venue over a book of its own, driven by ops; what ``advance`` handed out."""

    def __init__(self) -> None:
        self.book: dict[str, Nbbo] = {}
        self.venue = SimVenue(self.book.get, CFG, 11)
        self.now = 0
        self.ids: list[int] = []
        self.events: list[Any] = []

    def apply(self, o: tuple[Any, ...]) -> None:
        self.now += 1_000
        v, t = self.venue, self.now
        if o[0] == "submit":
            cid = len(self.ids) + 1
            self.ids.append(cid)
            v.submit(ChildOrder(cid, 7, o[1], o[2], o[3] / 20, o[4], "", o[5], o[6]), t)
        elif o[0] == "modify" and self.ids:
            v.modify(self.ids[o[1] % len(self.ids)], o[2] / 20, o[3], t)
        elif o[0] == "cancel" and self.ids:
            v.cancel(self.ids[o[1] % len(self.ids)], t)
        elif o[0] == "quote":
            bid = o[2] / 20
            self.book[o[1]] = Nbbo(bid, bid + 0.05, o[3], o[4], 8, 8, t)
            v.market_changed([o[1]], t)
        elif o[0] == "halt":
            v.halt(o[1], t)
        elif o[0] == "resume":
            v.resume(o[1], t)
        elif o[0] == "wait":
            self.now += o[1]
        self.events += v.advance(self.now)


@settings(max_examples=60, deadline=None)
@given(st.lists(op, min_size=1, max_size=60), st.data())
def test_a_restored_venue_goes_on_exactly(ops: list[tuple[Any, ...]], data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(ops)))
    straight = _Run()
    for o in ops:
        straight.apply(o)
    first = _Run()
    for o in ops[:cut]:
        first.apply(o)
    body = orjson.dumps(first.venue.snapshot(lambda s: s))
    second = _Run()  # a new process: its own venue, the book as it was
    second.book.update(first.book)
    second.now, second.ids, second.events = first.now, list(first.ids), list(first.events)
    second.venue.restore(orjson.loads(body), lambda s: s, first.now)
    for o in ops[cut:]:
        second.apply(o)
    second.events += second.venue.advance(second.now + 10**9)
    straight.events += straight.venue.advance(straight.now + 10**9)
    assert second.events == straight.events
    assert second.venue.live_series() == straight.venue.live_series()


def _as_rows(snap: dict[str, Any]) -> dict[str, Any]:
    """The snapshot in the layout written before the columns: one list per order and per
    in-flight action (journals kept from then must still restore)."""
    old = dict(snap)
    o, h = snap["orders"], snap["heap"]
    old["orders"] = [list(r) for r in zip(o["cid"], o["pn"], o["ser"], o["side"], o["px"],
                                          o["size"], o["exch"], o["tif"], o["post"], o["filled"],
                                          o["acked"], strict=True)]
    old["heap"] = [list(r) for r in zip(h["due"], h["seq"], h["kind"], h["cid"], h["px"], h["sz"],
                                        strict=True)]
    return old


@settings(max_examples=40, deadline=None)
@given(st.lists(op, min_size=1, max_size=60), st.data())
def test_columns_and_the_older_row_layout_restore_alike(ops: list[tuple[Any, ...]],
                                                         data: st.DataObject) -> None:
    """The snapshot's orders and in-flight actions are columns; a row-layout snapshot (an
    older journal's) restores to a venue that goes on with the same events."""
    cut = data.draw(st.integers(0, len(ops)))
    first = _Run()
    for o in ops[:cut]:
        first.apply(o)
    snap = orjson.loads(orjson.dumps(first.venue.snapshot(lambda s: s)))
    assert isinstance(snap["orders"], dict) and len(snap["orders"]["cid"]) == len(
        first.venue.held_ids())
    runs = []
    for body in (snap, _as_rows(snap)):
        r = _Run()
        r.book.update(first.book)
        r.now, r.ids = first.now, list(first.ids)
        r.venue.restore(body, lambda s: s, first.now)
        assert r.venue.held_ids() == first.venue.held_ids()
        for o in ops[cut:]:
            r.apply(o)
        r.events += r.venue.advance(r.now + 10**9)
        runs.append(r)
    assert runs[0].events == runs[1].events
    assert runs[0].venue.held_ids() == runs[1].venue.held_ids()
