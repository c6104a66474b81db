"""Table rows against a dict model: a record read back is exactly the defaults plus what was
written (merged or replaced), through new rows (emptied ahead a block at a time), rows reused
after deletes, capacity growth and column batches -- by the generic cell loop and by the writers
generated per record shape; ``Table.written`` names every field a write gave a value."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.schema import OptionKey, TickerKey, registry
from openmlink.store import Table, _table

MT = registry()["SpdrParentBrkrEvent"]
FIELDS = {f.name: f for f in MT.fields}
#: a few fields of each kind the table stores
WRITABLE = ("secKey", "accnt", "spdrComment", "bidPrc", "avgFillPrc", "bidSize", "cumFillQuan",
            "orderSide", "spdrBrokerStatus", "ticker", "eventNumber")

_value = {
    "secKey": st.builds(lambda tk, k, cp: OptionKey("EQT", "NMS", tk, "2027-01-15", k, cp),
                        st.sampled_from(["AAPL", "SPY", "X"]), st.sampled_from([100.0, 105.5]),
                        st.sampled_from(["Call", "Put"])) | st.none(),
    "ticker": st.builds(lambda tk: TickerKey("EQT", "NMS", tk), st.sampled_from(["AAPL", "Q"])),
    "accnt": st.sampled_from(["", "A", "B.C"]),
    "spdrComment": st.text(max_size=5),
    "bidPrc": st.floats(-1e6, 1e6), "avgFillPrc": st.floats(0, 100),
    "bidSize": st.integers(-5, 10**6), "cumFillQuan": st.integers(0, 500),
    "eventNumber": st.integers(0, 2**40),
    "orderSide": st.integers(0, 2), "spdrBrokerStatus": st.integers(0, 3),
}

_op = st.one_of(
    st.tuples(st.just("upsert"), st.integers(0, 40), st.booleans(),
              st.dictionaries(st.sampled_from(WRITABLE), st.nothing(), max_size=0).flatmap(
                  lambda _: st.fixed_dictionaries({}, optional={k: _value[k] for k in WRITABLE}))),
    st.tuples(st.just("delete"), st.integers(0, 40), st.just(False), st.just({})),
    st.tuples(st.just("batch"), st.lists(st.integers(0, 40), min_size=1, max_size=30, unique=True),
              st.just(False), st.floats(0, 10)),
)


def _poison_unwritten_tail(t: Table) -> None:
    """Garbage in the rows past the emptied-ahead block, as ``np.empty`` may leave after a
    growth: a new row must never show it."""
    for name, _f, _m, dtype, _e in t.specs:
        col = t.cols[name]
        col[t._clean_to:] = [("junk",)] * (len(col) - t._clean_to) if dtype is object else 3


def _defaults() -> dict[str, Any]:
    return {f.name: f.default for f in MT.fields}


@settings(max_examples=60, deadline=None)
@given(st.lists(_op, max_size=120))
def test_records_read_back_as_the_model(ops: list[tuple[Any, ...]]) -> None:
    _check_model(ops)


@settings(max_examples=60, deadline=None)
@given(st.lists(_op, max_size=120))
def test_generated_shape_writers_read_back_as_the_model(ops: list[tuple[Any, ...]]) -> None:
    """Every shape compiled at its first write (the generated writer, not the loop)."""
    before = _table._COMPILE_AFTER
    _table._COMPILE_AFTER = 1
    try:
        _check_model(ops)
    finally:
        _table._COMPILE_AFTER = before


def _check_model(ops: list[tuple[Any, ...]]) -> None:
    t = Table(MT, capacity=16)
    written = {"parentNumber", "recType"}
    model: dict[int, dict[str, Any]] = {}
    for kind, who, merge, body in ops:
        if kind == "upsert":
            rec = {"parentNumber": who, "recType": 1, **body}
            old = model.get(who)
            new = dict(old) if old is not None and merge else _defaults()
            new.update(rec)
            model[who] = new
            t.upsert(rec, merge=merge)
            written.update(rec)
        elif kind == "delete":
            assert t.delete((who, 1)) == (who in model)
            model.pop(who, None)
        else:
            m = len(who)
            t.upsert_columns({"parentNumber": np.array(who, np.int64), "recType": np.ones(m, np.int16),
                              "bidPrc": np.full(m, body)})
            for pn in who:
                new = model.get(pn) or {**_defaults(), "parentNumber": pn, "recType": 1}
                new["bidPrc"] = body
                model[pn] = new
            written.add("bidPrc")
        _poison_unwritten_tail(t)
    assert len(t) == len(model)
    assert t.written == (written if ops and any(o[0] != "delete" for o in ops) else set())
    for pn, want in model.items():
        got = t.get((pn, 1))
        assert got is not None
        for name in FIELDS:
            assert got[name] == want[name] or (name == "secKey" and got[name] is None
                                               and want[name] is None), (name, got[name], want[name])


def test_a_rebuilt_ticker_vocabulary_is_not_read_through_stale_key_cells() -> None:
    """A compiled writer takes a key's member cells from a memo; a vocabulary rebuilt (its
    codes renumbered) must not leave stale ``tk`` codes in it."""
    before = _table._COMPILE_AFTER
    _table._COMPILE_AFTER = 1
    try:
        t = Table(MT, capacity=16)

        def key(i: int) -> OptionKey:
            return OptionKey("EQT", "NMS", f"T{i}", "2027-01-15", 100.0, "Call")
        vocab, i = t.vocabs["secKey.tk"], 0
        while t.vocabs["secKey.tk"] is vocab:  # churn: every write a new ticker word
            t.upsert({"parentNumber": i % 5, "recType": 1, "secKey": key(i)})
            i += 1
            assert i < 20_000, "the vocabulary was never rebuilt"
        # keys the memo saw before the rebuild (words dropped by it, or renumbered), again
        for j, old in enumerate((i - 30, i - 7, i - 1)):
            t.upsert({"parentNumber": j, "recType": 1, "secKey": key(old)})
            got = t.get((j, 1))
            assert got is not None and got["secKey"] == key(old)
    finally:
        _table._COMPILE_AFTER = before
