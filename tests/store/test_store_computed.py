"""Store support for computed-on-read tables: input writes mark them stale, ``differs`` finds
the rows a refresh must rewrite, ``deletes`` counts deletions."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.schema import OptionKey, TickerKey, datekey_from_text, registry
from openmlink.store import Store, Table

REG = registry()
ADJ = REG["LiveImpliedQuoteAdj"]


def _cols(n: int, uprc: list[float], calc: list[str]) -> dict[str, np.ndarray]:
    return {"okey.at": np.zeros(n, np.int16), "okey.ts": np.zeros(n, np.int16),
            "okey.tk": np.array(["AAPL"] * n, dtype=object),
            "okey.dt": np.full(n, datekey_from_text("2025-03-21"), np.int32),
            "okey.xx": np.arange(n, dtype=np.float64) + 100.0, "okey.cp": np.zeros(n, np.int8),
            "uprc": np.array(uprc), "calcErr": np.array(calc, dtype=object)}


_val = st.one_of(st.floats(allow_nan=True, allow_infinity=False, width=64), st.just(math.nan))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_val, st.sampled_from(["", "a", "b"])), min_size=1, max_size=20),
       st.data())
def test_differs_flags_exactly_the_rows_whose_values_changed(vals, data):
    n = len(vals)
    t = Table(ADJ)
    cols = _cols(n, [v for v, _ in vals], [c for _, c in vals])
    rows = t.upsert_columns(cols)
    assert not t.differs(rows, cols).any()  # NaN equals NaN
    i = data.draw(st.integers(0, n - 1))
    which = data.draw(st.sampled_from(["uprc", "calcErr"]))
    new = {k: v.copy() for k, v in cols.items()}
    if which == "uprc":
        old = new["uprc"][i]
        new["uprc"][i] = 1.0 if math.isnan(old) or old != 1.0 else 2.0
    else:
        new["calcErr"][i] = new["calcErr"][i] + "x"
    assert np.flatnonzero(t.differs(rows, new)).tolist() == [i]
    # a deleted row always differs
    assert t.delete((t.record(int(rows[0]))["okey"],))
    assert t.differs(rows, cols)[0]


def test_a_write_to_an_input_marks_the_computed_table_stale_and_refresh_runs_on_read():
    s = Store(REG)
    calls: list[object] = []
    s.computed_on_read("LiveImpliedQuoteAdj", lambda t, where, who: calls.append(where),
                       inputs=("StockBookQuote",))
    adj = s.table(ADJ)
    stale: list[Table] = []
    adj.stale_listeners.append(stale.append)
    assert s.is_computed(ADJ) and not s.is_computed(REG["StockBookQuote"])
    s.table(REG["StockBookQuote"]).upsert({"ticker": TickerKey("EQT", "NMS", "AAPL"), "bidPrice1": 1.0})
    assert stale == [adj] and calls == []  # marked stale, nothing computed yet
    s.table(REG["OptionNbboQuote"]).upsert({"okey": OptionKey("EQT", "NMS", "AAPL", "2025-03-21",
                                                              100.0, "Call")})
    assert stale == [adj]  # not an input
    assert s.prepare(ADJ, "W") is adj and calls == ["W"]


def test_deletes_counts_deletions():
    t = Table(REG["StockBookQuote"])
    k = TickerKey("EQT", "NMS", "AAPL")
    t.upsert({"ticker": k})
    assert t.deletes == 0
    assert t.delete((k,)) and not t.delete((k,))
    assert t.deletes == 1
