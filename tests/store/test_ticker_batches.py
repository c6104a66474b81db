"""``Store.ticker_batches``: the live rows of some tickers by column, in the form
``upsert_columns`` takes, so that a second store fed with them holds the same records (what a
NATS snapshot does)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.schema import OptionKey, key_member_names, registry
from openmlink.store import Store

REG = registry()
NBBO = REG["OptionNbboQuote"]
TKS = ["SPY", "AAPL", "IBM", "BRK.B"]


def _batch(rows: list[tuple[int, int, float]]) -> dict[str, np.ndarray]:
    n = len(rows)
    return {
        "okey.at": np.full(n, key_member_names("at").index("EQT"), np.int16),
        "okey.ts": np.full(n, key_member_names("ts").index("NMS"), np.int16),
        "okey.tk": np.array([TKS[t] for t, _, _ in rows], dtype=object),
        "okey.dt": np.full(n, 20_600, np.int32),
        "okey.xx": np.array([float(k) for _, k, _ in rows]),
        "okey.cp": np.zeros(n, np.int8),
        "bidPrice": np.array([p for _, _, p in rows]),
        "askPrice": np.array([p + 0.5 for _, _, p in rows])}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 6), st.floats(0, 100)),
                min_size=1, max_size=40),
       st.sets(st.sampled_from(TKS), min_size=1))
def test_ticker_batches_rebuild_the_rows_of_those_tickers(
        rows: list[tuple[int, int, float]], wanted: set[str]) -> None:
    src = Store(REG)
    t = src.table(NBBO)
    half = len(rows) // 2
    t.upsert_columns(_batch(rows[:half] or rows))
    t.upsert_columns(_batch(rows[half:] or rows))  # later writes replace earlier ones
    dst = Store(REG)
    for tk, cols in src.ticker_batches(NBBO, sorted(wanted)):
        assert tk in wanted and set(cols["okey.tk"].tolist()) == {tk}
        dst.table(NBBO).upsert_columns(cols)
    d = dst.table(NBBO)
    want = {}
    for r in t.live_rows().tolist():
        rec = t.record(r)
        if rec["okey"].tk in wanted:
            want[rec["okey"]] = rec
    got = {d.record(r)["okey"]: d.record(r) for r in d.live_rows().tolist()}
    assert set(got) == set(want)
    for k, rec in want.items():
        assert isinstance(k, OptionKey)
        assert got[k]["bidPrice"] == rec["bidPrice"] and got[k]["askPrice"] == rec["askPrice"]
