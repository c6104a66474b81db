"""Helpers that build records in the store's internal representations.

``ordinal("OptionNbboQuote", "bidExch", "CBOE")`` is an enum ordinal; ``option_key_columns``
and ``ticker_key_columns`` give the key member columns of a ``ColumnBatch``
(``okey.at``/``.ts`` int16 ordinals, ``.tk`` str, ``.dt`` int32 days, ``.xx`` float64,
``.cp`` int8 with 0 = Call, 1 = Put).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from ..schema import MsgType, key_member_names, registry
from ._calendar import NEW_YORK

__all__ = [
    "expiry_key_columns",
    "key_ordinal",
    "ms_since_midnight",
    "msg_type",
    "option_key_columns",
    "ordinal",
    "ticker_key_columns",
]


@functools.cache
def msg_type(name: str) -> MsgType:
    return registry()[name]


@functools.cache
def ordinal(msg: str, field: str, member: str) -> int:
    """Ordinal of an enum member of a field of a message type (raises on a bad name)."""
    f = msg_type(msg).field(field)
    if f is None or f.enum is None:
        raise KeyError(f"{msg}.{field} is not an enum field")
    i = f.enum.index(member)
    if i is None:
        raise KeyError(f"{member!r} is not a member of {f.enum.name}")
    return i


@functools.cache
def key_ordinal(member: str, name: str) -> int:
    """Ordinal of a key member value: ``key_ordinal("at", "EQT")``."""
    return key_member_names(member).index(name)


def _full(n: int, value: int, dtype: type) -> np.ndarray:
    return np.full(n, value, dtype)


def ticker_key_columns(field: str, symbols: Sequence[str] | np.ndarray) -> dict[str, np.ndarray]:
    n = len(symbols)
    return {
        f"{field}.at": _full(n, key_ordinal("at", "EQT"), np.int16),
        f"{field}.ts": _full(n, key_ordinal("ts", "NMS"), np.int16),
        f"{field}.tk": np.asarray(symbols, dtype=object),
    }


def expiry_key_columns(field: str, roots: Sequence[str] | np.ndarray,
                       dt_days: np.ndarray) -> dict[str, np.ndarray]:
    d = ticker_key_columns(field, roots)
    d[f"{field}.dt"] = np.asarray(dt_days, np.int32)
    return d


def option_key_columns(field: str, roots: Sequence[str] | np.ndarray, dt_days: np.ndarray,
                       strike: np.ndarray, cp: np.ndarray) -> dict[str, np.ndarray]:
    d = expiry_key_columns(field, roots, dt_days)
    d[f"{field}.xx"] = np.asarray(strike, np.float64)
    d[f"{field}.cp"] = np.asarray(cp, np.int8)
    return d


def ms_since_midnight(t_ns: int) -> int:
    """Milliseconds since New York midnight of an instant (``bidTime``/``askTime``)."""
    dt = datetime.fromtimestamp(t_ns / 1e9, tz=UTC).astimezone(NEW_YORK)
    return ((dt.hour * 60 + dt.minute) * 60 + dt.second) * 1000 + dt.microsecond // 1000
