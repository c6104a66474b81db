"""An Arrow result as a MySQL result set: column types from the Arrow types, rows converted a
batch at a time and the connection drained between batches (so a large result never sits
whole in Python objects or in the socket buffer, and a client that goes away stops it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from mysql_mimic import ColumnType, ResultColumn, ResultSet

__all__ = ["result_set"]

_ROWS_PER_BATCH = 4096


def _column_type(t: pa.DataType) -> ColumnType:
    if pa.types.is_dictionary(t):
        return _column_type(t.value_type)
    if pa.types.is_boolean(t):
        return ColumnType.TINY
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return ColumnType.SHORT
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return ColumnType.LONG
    if pa.types.is_integer(t):
        return ColumnType.LONGLONG
    if pa.types.is_floating(t):
        return ColumnType.DOUBLE
    if pa.types.is_decimal(t):
        return ColumnType.NEWDECIMAL
    if pa.types.is_timestamp(t):
        return ColumnType.DATETIME
    if pa.types.is_date(t):
        return ColumnType.DATE
    if pa.types.is_time(t) or pa.types.is_duration(t):
        return ColumnType.TIME
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return ColumnType.BLOB
    return ColumnType.VAR_STRING


def _text(v: Any) -> Any:
    return v if v is None or isinstance(v, str) else str(v)


def _values(col: pa.ChunkedArray | pa.Array, kind: ColumnType) -> list[Any]:
    t = col.type
    if pa.types.is_floating(t):
        col = pc.if_else(pc.is_nan(col), pa.scalar(None, t), col)  # MySQL has no NaN
    elif pa.types.is_timestamp(t) and t.tz is not None:
        col = col.cast(pa.timestamp(t.unit))  # as UTC wall time (DATETIME has no zone)
    elif pa.types.is_timestamp(t) and t.unit == "ns":
        col = col.cast(pa.timestamp("us"), safe=False)
    vals = col.to_pylist()
    if kind == ColumnType.VAR_STRING and not (pa.types.is_string(t) or pa.types.is_large_string(t)
                                              or pa.types.is_dictionary(t)):
        vals = [_text(v) for v in vals]
    return vals


def result_set(table: pa.Table, drain: Callable[[], Awaitable[None]]) -> ResultSet:
    """``table`` as a result set; ``drain`` flushes the connection's buffer to the socket."""
    kinds = [_column_type(f.type) for f in table.schema]
    columns = [ResultColumn(f.name, k) for f, k in zip(table.schema, kinds, strict=True)]

    async def rows() -> AsyncIterator[Sequence[Any]]:
        for off in range(0, table.num_rows, _ROWS_PER_BATCH):
            part = table.slice(off, _ROWS_PER_BATCH)
            cols = [_values(part.column(i), kinds[i]) for i in range(part.num_columns)]
            for row in zip(*cols, strict=True):
                yield row
            await drain()

    return ResultSet(rows=rows(), columns=columns)
