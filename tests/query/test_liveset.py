"""An ``in`` leaf over a ``LiveSet``: the column mask and the record predicate see the set's
members as they are when evaluated, not when the leaf was bound (an auction audience grows
after a stream bound its filter)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.query import BNot, Leaf, LiveSet, compile_predicate, where_mask
from openmlink.schema import registry


class Cols:
    def __init__(self, values: list[int]) -> None:
        self.n = len(values)
        self.vocabs: dict[str, object] = {}
        self._c = np.array(values, np.int64)

    def column(self, name: str) -> np.ndarray:
        assert name == "noticeNumber"
        return self._c


ops = st.lists(st.tuples(st.booleans(), st.integers(0, 30)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=50), ops, ops)
def test_mask_and_predicate_follow_the_set_after_binding(values: list[int], first: list,
                                                         then: list) -> None:
    mt = registry()["AuctionNotice"]
    live = LiveSet()
    leaf = Leaf("noticeNumber", "noticeNumber", None, "num", "in", live)
    cols = Cols(values)
    pred_in, pred_out = compile_predicate(mt, leaf), compile_predicate(mt, BNot(leaf))
    for batch in (first, then):  # bound once, evaluated after each batch of changes
        for add, v in batch:
            live.add(v) if add else live.discard(v)
        members = set(live)
        want = np.array([v in members for v in values], bool)
        assert where_mask(cols, leaf).tolist() == want.tolist()
        assert where_mask(cols, BNot(leaf)).tolist() == (~want).tolist()
        rows = np.arange(len(values))[::2]
        assert where_mask(cols, leaf, rows).tolist() == want[rows].tolist()
        assert [pred_in({"noticeNumber": v}) for v in values] == want.tolist()
        assert [pred_out({"noticeNumber": v}) for v in values] == (~want).tolist()
        assert live.array().tolist() == sorted(members)


def test_version_moves_only_on_a_change() -> None:
    s = LiveSet([3])
    v = s.version
    s.add(3)
    s.discard(4)
    assert s.version == v
    s.add(4)
    s.discard(3)
    assert s.version == v + 2 and list(s) == [4] and len(s) == 1
