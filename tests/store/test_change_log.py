"""The change log readers poll (``Table.changed_since``): whatever the writes -- single
records, column batches (some bigger than the log), deletes -- a reader gets exactly the rows
written since its position. The log is a ring that grows (doubling, within ``log_size``) only
when a reader asked from before its oldest entry and a ring within ``log_size`` would have
held it: never from writes alone."""

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
    lags = [t.log_count - cursor for cursor, _, _ in readers]
    for cursor, seq, done in readers:
        rows, new_cursor = t.changed_since(cursor, seq)
        want = set().union(*changed[done:]) if changed[done:] else set()
        assert set(rows.tolist()) == want
        assert new_cursor == t.log_count
    assert sizes == {4}  # writes alone never grow the ring
    # the reads grew it to hold the largest lag a ring within the cap could hold (and no more)
    fits = [n for n in lags if n <= 64]
    want = 4
    while want < max(fits, default=0):
        want *= 2
    assert len(t._log_rows) == want

def _churn(t: Table, n: int, price: float) -> set[int]:
    """``n`` single-record writes over 300 keys; the rows written."""
    return {t.upsert({"ticker": TickerKey("EQT", "NMS", f"C{i % 300}"), "bidPrice1": price + i})
            for i in range(n)}


def test_the_log_grows_only_when_a_reader_lags_out_of_it_and_stops_at_its_cap():
    t = Table(MT, log_size=1024, log_start=16)
    for j in range(50):  # churn, 5x the cap, with no reader: the ring only wraps
        _churn(t, 100, j)
        assert len(t._log_rows) == 16
    # a reader that keeps up (10 writes between reads) never grows it
    cursor, seq = t.log_count, t.seq
    for j in range(50):
        written = _churn(t, 10, j)
        rows, cursor = t.changed_since(cursor, seq)
        seq = t.seq
        assert set(rows.tolist()) == written
    assert len(t._log_rows) == 16
    # a reader 300 entries behind fell out: it gets its rows (a scan) and the ring grows to
    # hold such a lag
    cursor, seq = t.log_count, t.seq
    written = _churn(t, 300, 1e3)
    rows, _ = t.changed_since(cursor, seq)
    assert set(rows.tolist()) == written and len(t._log_rows) == 512
    # ... so the next such lag is read from the ring (the scan would find no row newer than
    # the seq given: only the log knows these rows)
    cursor = t.log_count
    written = _churn(t, 300, 2e3)
    rows, _ = t.changed_since(cursor, t.seq)
    assert set(rows.tolist()) == written and len(t._log_rows) == 512
    # a lag no ring within the cap could hold: scanned, no growth
    cursor, seq = t.log_count, t.seq
    written = _churn(t, 2000, 3e3)
    rows, _ = t.changed_since(cursor, seq)
    assert set(rows.tolist()) == written and len(t._log_rows) == 512
    # a lag within the cap grows it to the cap, never past it
    cursor, seq = t.log_count, t.seq
    written = _churn(t, 1000, 6e3)
    rows, _ = t.changed_since(cursor, seq)
    assert set(rows.tolist()) == written and len(t._log_rows) == 1024
    _churn(t, 5000, 1e4)
    assert len(t._log_rows) == 1024
    cursor, seq = t.log_count, t.seq
    last = {t.upsert({"ticker": TickerKey("EQT", "NMS", f"C{k}"), "bidPrice1": -1.0}) for k in (5, 7, 9)}
    rows, _ = t.changed_since(cursor, seq)
    assert set(rows.tolist()) == last


def test_a_column_batch_bigger_than_the_ring_makes_its_readers_scan_and_grows_the_ring():
    t = Table(MT, log_size=1024, log_start=16)
    m = 100
    cursor, seq = t.log_count, t.seq
    batch = t.upsert_columns({
        "ticker.at": np.full(m, EQT, np.int16), "ticker.ts": np.full(m, NMS, np.int16),
        "ticker.tk": np.array([f"B{k}" for k in range(m)], dtype=object), "bidPrice1": np.ones(m)})
    assert len(t._log_rows) == 16
    rows, _ = t.changed_since(cursor, seq)
    assert set(rows.tolist()) == set(batch.tolist()) and len(t._log_rows) == 128
