"""SimVenue.snapshot / restore: a venue restored from a snapshot taken at any point of a
seeded run (through JSON) goes on exactly as the original: same events, same order."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from openmlink.trading.venue import ChildOrder, Nbbo, SimVenue, VenueConfig, VenueState

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

def busy_ops(seed: int, n: int) -> list[tuple[Any, ...]]:
    """``n`` ops drawn from ``seed`` (hypothesis' own draws favour short, simple lists: here
    makers rest below the market, waits let the in-flight actions land, resting children are
    modified and cancelled, quotes move, a series is halted now and then): children rest,
    fill, move in their queues and are cancelled within a few dozen ops."""
    rng = np.random.default_rng(seed)
    kinds = ("maker", "taker", "wait", "tick", "move", "modify", "cancel", "quote", "halt",
             "resume")
    p = np.array([6, 2, 4, 3, 4, 1, 2, 3, 0.3, 0.6])
    out: list[tuple[Any, ...]] = []
    for k in rng.choice(kinds, n, p=p / p.sum()):
        s, i = str(rng.choice(SERIES)), int(rng.integers(0, 31))
        if k == "maker":
            out.append(("submit", s, 1, int(rng.integers(88, 98)), int(rng.integers(1, 10)),
                        "Day", bool(rng.random() < 0.2)))
        elif k == "taker":
            out.append(("submit", s, int(rng.choice((1, -1))), int(rng.integers(95, 106)),
                        int(rng.integers(1, 10)), str(rng.choice(("Day", "IOC"))), False))
        elif k == "wait":
            out.append(("wait", int(rng.choice((150_000, 350_000, 1_000_000)))))
        elif k == "tick":
            out.append(("wait", int(rng.integers(0, 100_000))))
        elif k == "move":
            out.append(("modify_held", i, int(rng.integers(88, 101)), int(rng.integers(1, 10))))
        elif k == "modify":
            out.append(("modify", i, int(rng.integers(88, 101)), int(rng.integers(1, 10))))
        elif k == "cancel":
            out.append(("cancel_held", i))
        elif k == "quote":
            out.append(("quote", s, int(rng.integers(93, 100)), int(rng.integers(0, 10)),
                        int(rng.integers(0, 10))))
        else:
            out.append((str(k), s))
    return out


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
        elif o[0] == "modify_held" and (live := [x.child.child_id for x in v.live_children(7)
                                                  if x.acked]):
            v.modify(live[o[1] % len(live)], o[2] / 20, o[3], t)  # one resting now
        elif o[0] == "cancel_held" and v.held_ids():
            v.cancel(v.held_ids()[o[1] % len(v.held_ids())], t)
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


# ------------------------------------------------------------------ deltas
def _state(body: dict[str, Any], deltas: list[dict[str, Any]]) -> Any:
    s = VenueState(body, lambda x: x)
    for d in deltas:
        s.apply(d, lambda x: x)
    return s


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(10, 120), st.data())
def test_a_snapshot_and_its_deltas_add_up_to_the_venue_at_every_step(
        seed: int, n: int, data: st.DataObject) -> None:
    """A tracking venue writes, after every op, a snapshot or a delta (drawn); the last
    snapshot with the deltas after it (through JSON) is the venue's state at every step, and a
    venue restored from them at a drawn step goes on with the same events as the straight run."""
    ops = busy_ops(seed, n)
    run, mirror = _Run(), _Run()  # mirror: the same ops on a venue that does not track
    run.venue.track()
    cut = data.draw(st.integers(0, n), label="cut")
    every = data.draw(st.sampled_from((3, 10, 1000)), label="ops per snapshot")
    full = orjson.loads(orjson.dumps(run.venue.snapshot(lambda s: s)))
    deltas: list[dict[str, Any]] = []
    at_cut = (full, deltas[:])
    for i, o in enumerate(ops, 1):
        run.apply(o)
        mirror.apply(o)
        if i % every == 0:
            full, deltas = orjson.loads(orjson.dumps(run.venue.snapshot(lambda s: s))), []
        else:
            deltas.append(orjson.loads(orjson.dumps(run.venue.delta(lambda s: s))))
        want = VenueState(orjson.loads(orjson.dumps(mirror.venue.snapshot(lambda s: s))),
                          lambda x: x)
        assert _state(full, deltas).key() == want.key(), f"after op {i}: {o}"
        if i == cut:
            at_cut = (full, deltas[:])
    straight = _Run()
    for o in ops:
        straight.apply(o)
    before = _Run()
    for o in ops[:cut]:
        before.apply(o)
    second = _Run()  # a new process: its own venue, the book as it was
    second.book.update(before.book)
    second.now, second.ids, second.events = before.now, list(before.ids), list(before.events)
    second.venue.track()
    second.venue.restore(at_cut[0], lambda s: s, before.now, at_cut[1])
    for o in ops[cut:]:
        second.apply(o)
    second.events += second.venue.advance(second.now + 10**9)
    straight.events += straight.venue.advance(straight.now + 10**9)
    # a drawn sequence may make no event at all (seed 2659, 10 ops): nothing to compare then
    assume(len(straight.events) > 0)
    assert second.events == straight.events
    assert second.venue.held_ids() == straight.venue.held_ids()


def test_a_delta_holds_only_what_changed() -> None:
    """With 200 children resting, one more child and one quote change make a delta of one or
    two orders and one quote, not the venue."""
    r = _Run()
    r.venue.track()
    r.book["A"] = Nbbo(5.0, 5.05, 9, 9, 8, 8, 0)
    for i in range(200):
        r.ids.append(i + 1)
        r.venue.submit(ChildOrder(i + 1, 7, "A", 1, 4.0, 1, "", "Day", False), r.now)
    r.now += 10**8
    r.venue.advance(r.now)
    r.venue.snapshot(lambda s: s)
    r.apply(("submit", "B", 1, 80, 2, "Day", False))
    r.apply(("wait", 10**8))
    r.apply(("quote", "A", 80, 3, 3))
    d = r.venue.delta(lambda s: s)
    assert d["orders"]["cid"] == [201]  # submitted, then acknowledged (resting on B)
    assert d["rested"] == [201] and d["gone"] == [] and d["ran"] == []
    assert d["heap"]["seq"] == []  # its arrival was scheduled and ran since the last body
    assert {d["series"][q[0]] for q in d["quotes"]} == {"A", "B"}  # B's first read, A's move
    assert len(orjson.dumps(d)) < 1_000 < 8_000 < len(orjson.dumps(r.venue.snapshot(lambda s: s)))
