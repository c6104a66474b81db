"""Arrow views of message records for the SQL engine, in the column layout of ``_layout``.

``live_table`` reads a store ``Table``: numeric columns are views of the live rows (no copy
when the table has no deleted rows and no visibility filter applies), enum ordinals become
dictionary arrays over the enum's names, string codes are copied (the loop thread may grow or
compact a vocabulary while a query runs) and become dictionary arrays over a snapshot of the
vocabulary. Call it on the thread that mutates the store. ``records_table`` builds the same
columns from internal records (the history).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa

from ...schema import DATEKEY_NONE, MsgType, encode_value, idlong_to_text, key_member_names
from ...store import Table, Vocab
from ._layout import SqlColumn

__all__ = ["VocabCache", "live_table", "records_table"]

_MICROS = pa.timestamp("us")


class VocabCache:
    """Arrow string arrays of store vocabularies, rebuilt only when a vocabulary grew or was
    replaced (one entry per table column, so bounded by the schema)."""

    def __init__(self) -> None:
        self._arrays: dict[tuple[str, str], tuple[Vocab, int, pa.Array]] = {}

    def words(self, table: str, column: str, vocab: Vocab) -> pa.Array:
        key = (table, column)
        hit = self._arrays.get(key)
        n = len(vocab.words)
        if hit is not None and hit[0] is vocab and hit[1] == n:
            return hit[2]
        arr = pa.array(vocab.words, pa.string())
        self._arrays[key] = (vocab, n, arr)
        return arr


def _dictionary(codes: np.ndarray, names: pa.Array) -> pa.Array:
    """Codes into ``names``; codes out of range (unset members, -1) are NULL."""
    bad = (codes < 0) | (codes >= len(names))
    if bad.any():
        return pa.DictionaryArray.from_arrays(np.where(bad, 0, codes), names, mask=bad)
    return pa.DictionaryArray.from_arrays(pa.array(codes), names, safe=False)


_NAMES: dict[tuple[str, ...], pa.Array] = {}


def _names(names: tuple[str, ...]) -> pa.Array:
    arr = _NAMES.get(names)
    if arr is None:
        arr = _NAMES[names] = pa.array(list(names), pa.string())
    return arr


def _flags(values: np.ndarray, f: Any) -> pa.Array:
    uniq, inv = np.unique(values, return_inverse=True)
    words = pa.array([encode_value(f, int(v)) for v in uniq.tolist()], pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(inv.reshape(-1).astype(np.int32)), words)


def _floats(x: np.ndarray) -> pa.Array:
    """NaN is NULL (a view of ``x`` plus a validity mask only where NaNs occur)."""
    nan = np.isnan(x)
    return pa.array(x, pa.float64(), mask=nan) if nan.any() else pa.array(x, pa.float64())


def _micros(ns: np.ndarray) -> pa.Array:
    return pa.array(ns // 1000, _MICROS, mask=ns == 0)


def _days(days: np.ndarray) -> pa.Array:
    return pa.array(days, pa.date32(), mask=days == DATEKEY_NONE)


def live_table(t: Table, cols: Sequence[SqlColumn], rows: np.ndarray | None,
               vocabs: VocabCache) -> pa.Table:
    """The ``cols`` of the live rows of ``t`` (``rows``: the rows to take, None = all live)."""
    mt = t.mt
    if rows is None and t.count != t.n:
        rows = t.live_rows()
    sel: slice | np.ndarray = slice(0, t.n) if rows is None else rows
    arrays: list[pa.Array] = []
    for c in cols:
        f = mt.field(c.field)
        assert f is not None
        if c.member is not None:
            name = f"{c.field}.{c.member}"
            data = t.cols[name][sel]
            if c.member == "tk":
                codes = np.array(data, np.int32)  # a copy: codes index this vocabulary snapshot
                words = vocabs.words(mt.name, name, t.vocabs[name])
                arr = _dictionary(np.where(codes == 0, -1, codes), words)
            elif c.member == "dt":
                arr = _days(data)
            elif c.member == "xx":
                arr = _floats(data)
            else:
                arr = _dictionary(data, _names(key_member_names(c.member)))
        else:
            data = t.cols[c.field][sel]
            k = c.kind
            if k == "string":
                arr = pa.DictionaryArray.from_arrays(
                    pa.array(np.array(data, np.int32)), vocabs.words(mt.name, c.field, t.vocabs[c.field]))
            elif k == "enum":
                assert f.enum is not None
                arr = _dictionary(data, _names(f.enum.names))
            elif k == "flag":
                arr = _flags(data, f)
            elif k == "int" and f.id_long:
                arr = pa.array([idlong_to_text(v) for v in data.tolist()], pa.string())
            elif k == "int":
                arr = pa.array(data, pa.int64())
            elif k == "float":
                arr = _floats(data)
            elif k == "DateTime":
                arr = _micros(data)
            elif k == "DateKey":
                arr = _days(data)
            else:  # pragma: no cover - _layout makes no other column
                raise ValueError(f"{mt.name}.{c.name}: no Arrow form for kind {k}")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=[c.name for c in cols])


def _member(key: Any, m: str) -> Any:
    if key is None or m not in key._fields:
        return None
    v = getattr(key, m)
    if m == "dt":
        return date.fromisoformat(v)
    return v


def records_table(mt: MsgType, recs: Sequence[dict[str, Any]], cols: Sequence[SqlColumn],
                  extra: dict[str, pa.Array] | None = None) -> pa.Table:
    """The ``cols`` of internal records (missing fields take their defaults), then ``extra``."""
    arrays: list[pa.Array] = []
    for c in cols:
        f = mt.field(c.field)
        assert f is not None
        vals = [r.get(c.field, f.default) for r in recs]
        if c.member is not None:
            m = c.member
            typ = {"dt": pa.date32(), "xx": pa.float64()}.get(m, pa.string())
            arrays.append(pa.array([_member(v, m) for v in vals], typ, from_pandas=True))
            continue
        k = c.kind
        if k == "float":
            arrays.append(pa.array(vals, pa.float64(), from_pandas=True))  # NaN is NULL
        elif k == "int" and f.id_long:
            arrays.append(pa.array([idlong_to_text(v) for v in vals], pa.string()))
        elif k == "int":
            arrays.append(pa.array(vals, pa.int64()))
        elif k in ("string", "enum", "flag"):
            arrays.append(pa.array([v if k == "string" else encode_value(f, v) for v in vals],
                                   pa.string()))
        elif k == "DateTime":
            arrays.append(_micros(np.asarray(vals, np.int64)))
        elif k == "DateKey":
            arrays.append(_days(np.asarray(vals, np.int32)))
        else:  # pragma: no cover
            raise ValueError(f"{mt.name}.{c.name}: no Arrow form for kind {k}")
    names = [c.name for c in cols]
    for name, arr in (extra or {}).items():
        arrays.append(arr)
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)
