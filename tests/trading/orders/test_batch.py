"""The re-pricing fast path's pkey columns: ``pk_columns`` over many broker keys (one
conversion per distinct series) gives, key by key, exactly ``pk_cells`` of that key, and the
broker columns store them at the brokers' slots."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.schema import OptionKey, registry
from openmlink.trading.orders._batch import pk_cells, pk_columns
from openmlink.trading.orders._slots import BrokerColumns

BS = registry()["SpdrParentBrkrState"]

_okeys = st.builds(OptionKey, st.just("EQT"), st.just("NMS"), st.sampled_from(["AAPL", "SPY", "X"]),
                   st.sampled_from(["2025-07-18", "2025-08-15", "2026-01-16"]),
                   st.sampled_from([95.0, 100.0, 102.5, 0.5]), st.sampled_from(["Call", "Put"]))
_keys = st.tuples(st.sampled_from(["T.A", "T.B", "ACCT"]), _okeys, st.integers(0, 3),
                  st.integers(0, 3), st.integers(0, 2**62), st.integers(0, 2),
                  st.sampled_from(["", "SRCORE", "F2"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(_keys, min_size=1, max_size=30))
def test_pk_columns_equal_pk_cells_key_by_key(keys: list[tuple[Any, ...]]) -> None:
    cols = pk_columns(BS, keys)
    for i, key in enumerate(keys):
        cells = pk_cells(BS, key)
        assert set(cols) == set(cells)
        for name, v in cells.items():
            assert cols[name][i] == v and type(cols[name][i]) is type(v), (name, i)
    # stored at their slots (slots out of order, in a grown column set) as set_pk would
    a, b = BrokerColumns(capacity=4), BrokerColumns(capacity=4)
    for bc in (a, b):
        for _ in range(len(keys) + 3):
            bc.new_slot()
    slots = np.arange(len(keys))[::-1] + 2
    a.set_pks(slots, cols)
    for s, key in zip(slots.tolist(), keys, strict=True):
        b.set_pk(s, pk_cells(BS, key))
    assert (a.pk_ok == b.pk_ok).all()
    for name in cols:
        assert list(a.pk[name][slots]) == list(b.pk[name][slots]), name
