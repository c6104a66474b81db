"""The change log readers poll (``Table.changed_since``): whatever the writes -- single
records, column batches (some bigger than the log), deletes -- a reader gets exactly the rows
written since its position, while the log grows by doubling and stays within ``log_size``."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.schema import TickerKey, registry
from openmlink.schema._keys import key_member_names
from openmlink.store import Table

MT = registry()["StockBookQuote"]
EQT = key_member_names("at").index("EQT")
NMS = key_member_names("ts").index("NMS")

_op = st.one_of(
    st.tuples(st.just("upsert"), st.lists(st.integers(0, 99), min_size=1, max_size=1)),
    st.tuples(st.just("delete"), st.lists(st.integers(0, 99), min_size=1, max_size=1)),
    st.tuples(st.just("batch"), st.lists(st.integers(0, 99), min_size=1, max_size=90, unique=True)),
)


def _write(t: Table, op: str, keys: list[int], i: int) -> set[int]:
    """Apply one operation; the rows it changed."""
    if op == "upsert":
        return {t.upsert({"ticker": TickerKey("EQT", "NMS", f"K{keys[0]}"), "bidPrice1": float(i)})}
    if op == "delete":
        pk = (TickerKey("EQT", "NMS", f"K{keys[0]}"),)
        row = t.index.get(pk)
        return {row} if row is not None and t.delete(pk) else set()
    m = len(keys)
    rows = t.upsert_columns({
        "ticker.at": np.full(m, EQT, np.int16), "ticker.ts": np.full(m, NMS, np.int16),
        "ticker.tk": np.array([f"K{k}" for k in keys], dtype=object), "bidPrice1": np.full(m, float(i))})
    return set(rows.tolist())


@settings(max_examples=150, deadline=None)
@given(st.lists(_op, min_size=1, max_size=120), st.data())
def test_a_reader_gets_exactly_the_rows_written_since_its_position(ops, data):
    t = Table(MT, log_size=64, log_start=4)
    readers: list[tuple[int, int, int]] = [(t.log_count, t.seq, 0)]  # (cursor, seq, ops done)
    changed: list[set[int]] = []
    sizes = {len(t._log_rows)}
    for i, (op, keys) in enumerate(ops):
        changed.append(_write(t, op, keys, i))
        sizes.add(len(t._log_rows))
        if data.draw(st.booleans()):
            readers.append((t.log_count, t.seq, i + 1))
    for cursor, seq, done in readers:
        rows, new_cursor = t.changed_since(cursor, seq)
        want = set().union(*changed[done:]) if changed[done:] else set()
        assert set(rows.tolist()) == want
        assert new_cursor == t.log_count
    # the log doubled from 4 entries and never passed its cap
    assert sizes <= {4, 8, 16, 32, 64}


def test_a_busy_table_log_stops_growing_at_its_cap_and_keeps_the_latest_rows():
    t = Table(MT, log_size=1024, log_start=16)
    for i in range(5000):  # churn: 5x the cap of single writes over 300 keys
        t.upsert({"ticker": TickerKey("EQT", "NMS", f"C{i % 300}"), "bidPrice1": float(i)})
        assert len(t._log_rows) <= 1024
    assert len(t._log_rows) == 1024
    cursor, seq = t.log_count, t.seq
    last = {t.upsert({"ticker": TickerKey("EQT", "NMS", f"C{k}"), "bidPrice1": -1.0}) for k in (5, 7, 9)}
    rows, _ = t.changed_since(cursor, seq)
    assert set(rows.tolist()) == last
