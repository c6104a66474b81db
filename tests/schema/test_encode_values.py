"""One wire encoder of field values: the column form (``encode_values``, used for every row
the gateway sends) gives, value by value, what ``encode_value`` gives (None for defaults)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from openmlink.schema import DATEKEY_NONE, Field, encode_value, encode_values, registry
from openmlink.schema._codec import is_default

REG = registry()


def _field(kind: str, id_long: bool | None = None) -> Field:
    for mt in REG:
        for f in mt.fields:
            if f.kind == kind and (id_long is None or f.id_long == id_long):
                return f
    raise LookupError(kind)


def _agree(f: Field, values: list[Any], dtype: Any) -> None:
    got = encode_values(f, np.array(values, dtype=dtype))
    want = [None if is_default(f, v) else encode_value(f, v) for v in values]
    assert got == want


@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.0)), max_size=20))
def test_floats(values: list[float]) -> None:
    _agree(_field("float"), values, np.float64)


@given(st.lists(st.integers(-2**63, 2**63 - 1), max_size=20))
def test_longs_and_id_longs(values: list[int]) -> None:
    _agree(_field("int", id_long=False), values, np.int64)
    _agree(_field("int", id_long=True), values, np.int64)


@given(st.data())
def test_enums_and_flags(data: st.DataObject) -> None:
    f = _field("enum")
    assert f.enum is not None
    values = data.draw(st.lists(st.integers(0, len(f.enum.names) - 1), max_size=20))
    _agree(f, values, np.int64)
    g = _field("flag")
    assert g.enum is not None
    top = sum(int(c) for c in g.enum.codes)
    _agree(g, data.draw(st.lists(st.integers(0, top), max_size=20)), np.int64)


@given(st.lists(st.integers(0, 4_102_444_800 * 10**9), max_size=20))
def test_datetimes(values: list[int]) -> None:
    _agree(_field("DateTime"), values, np.int64)


@given(st.lists(st.one_of(st.integers(-25_000, 60_000), st.just(DATEKEY_NONE)), max_size=20))
def test_datekeys(values: list[int]) -> None:
    _agree(_field("DateKey"), values, np.int64)
