"""PositionBook as a state machine: any sequence of fill versions (repeats, corrections, busts,
out-of-order stale versions) leaves the positions equal to the latest version of every fill."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.schema import OptionKey, TickerKey
from openmlink.trading.risk import Fill, PositionBook

OK = OptionKey("EQT", "NMS", "AAPL", "2025-03-21", 100.0, "Call")
TK = TickerKey("EQT", "NMS", "AAPL")
KEYS = [(OK, "A", 1, 0, "F"), (OK, "B", 1, 0, "F"), (TK, "A", 1, 0, "F")]

events = st.lists(st.tuples(st.integers(1, 6), st.integers(1, 5), st.integers(0, 2),
                            st.integers(-20, 20), st.floats(0.5, 10.0)), max_size=60)


@settings(max_examples=80, deadline=None)
@given(events)
def test_positions_equal_the_latest_version_of_every_fill(evs: list) -> None:
    book = PositionBook()
    latest: dict[int, tuple[int, int, int, float]] = {}
    for fn, ver, ki, qty, px in evs:
        key = KEYS[ki]
        if fn in latest and latest[fn][0] >= ver:
            assert not book.apply(fn, ver, key, ki < 2, Fill(qty, px, 100.0 if ki < 2 else 1.0), 0)
            continue
        assert book.apply(fn, ver, key, ki < 2, Fill(qty, px, 100.0 if ki < 2 else 1.0), 0)
        latest[fn] = (ver, ki, qty, px)
    for ki, key in enumerate(KEYS):
        mine = [(q, p) for _, k, q, p in latest.values() if k == ki]
        pv = 100.0 if ki < 2 else 1.0
        pos = (book.options if ki < 2 else book.stocks).get(key)
        bot = sum(q for q, _ in mine if q > 0)
        sld = sum(-q for q, _ in mine if q < 0)
        if pos is None:
            assert not mine
            continue
        assert (pos.bot, pos.sld, pos.cur) == (bot, sld, bot - sld)
        assert abs(pos.mny_bot - sum(q * p * pv for q, p in mine if q > 0)) < 1e-6
        assert abs(pos.mny_sld - sum(-q * p * pv for q, p in mine if q < 0)) < 1e-6
        assert pos.n_exec == len(mine)
