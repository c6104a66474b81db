"""Records as the wire carries them, and their flat form (one column per key component)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

__all__ = ["Record", "flatten", "to_frame"]

#: one message body as the server sends it: ``pkey`` nested, key fields as objects
Record = dict[str, Any]


def flatten(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The record with its ``pkey`` fields lifted to the top and key objects split into one
    column per component, named as the SQL endpoint names them (``okey_tk``, ``okey_dt``,
    ``okey_xx``, ``okey_cp``; a top-level ``ticker`` object becomes ``ticker_tk`` ...).
    Repeating groups (lists) stay as lists in their one column."""
    out: dict[str, Any] = {}
    pkey = rec.get("pkey")
    if isinstance(pkey, Mapping):
        _put(out, pkey)
    elif pkey is not None:  # a flat string key (some replies carry one)
        out["pkey"] = pkey
    _put(out, {k: v for k, v in rec.items() if k != "pkey"})
    return out


def _put(out: dict[str, Any], fields: Mapping[str, Any]) -> None:
    for name, value in fields.items():
        if isinstance(value, Mapping):
            for sub, v in value.items():
                out[f"{name}_{sub}"] = v
        else:
            out[name] = value


def to_frame(records: Iterable[Mapping[str, Any]], columns: list[str] | None = None
             ) -> pandas.DataFrame:
    """A pandas DataFrame of flattened records (``flatten``); a field missing from a record
    (the server leaves default values out) is NaN/None in its column. ``columns`` fixes the
    column order (and keeps the columns of an empty result)."""
    try:
        import pandas as pd
    except ImportError as e:  # pandas is optional: records work without it
        raise ImportError("DataFrames need pandas: pip install pandas") from e
    rows = [flatten(r) for r in records]
    if columns is None:
        return pd.DataFrame(rows)
    return pd.DataFrame(rows, columns=columns)
