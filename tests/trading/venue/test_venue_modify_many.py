"""``SimVenue.modify_many`` is ``modify`` applied in order: same events, same draws."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.trading.venue import ChildOrder, Nbbo, SimVenue, VenueConfig


def _venue() -> SimVenue:
    book = {s: Nbbo(1.95, 2.05, 50, 50, 1 << 3, 1 << 4, 1) for s in range(3)}
    return SimVenue(book.get, VenueConfig(jitter_ns=50_000, prob_fill_on_limit=0.5), seed=5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 8), st.sampled_from([1.9, 1.95, 2.0, 2.05, 2.1]),
                          st.integers(0, 12)), max_size=12))
def test_modify_many_equals_modify_in_order(mods: list[tuple[int, float, int]]) -> None:
    a, b = _venue(), _venue()
    for v in (a, b):
        for cid in range(1, 9):
            v.submit(ChildOrder(cid, 7, cid % 3, 1 if cid % 2 else -1, 1.9 if cid % 2 else 2.1,
                                5, "CBOE", "Day", cid % 4 == 0), 0)
        v.advance(1_000_000)
    for cid, px, size in mods:
        a.modify(cid, px, size, 2_000_000)
    b.modify_many(mods, 2_000_000)
    assert a.advance(5_000_000) == b.advance(5_000_000)
    assert [(c.child, c.leaves) for c in a.live_children(7)] == \
        [(c.child, c.leaves) for c in b.live_children(7)]
