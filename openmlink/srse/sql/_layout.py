"""How message types appear in SQL: database, table and column names, and column types.

* Database: the type's SRSE product in lower case (``SRTrade`` -> ``srtrade``; a product marked
  "(inferred)" in the schema counts as that product); a type without a product goes to
  ``DEFAULT_DATABASE``.
* Table: ``msg`` + the lower-case type name, a leading ``Spdr`` shortened to ``sr``
  (``SpdrParentBrkrState`` -> ``msgsrparentbrkrstate``). The persisted history of a type (every
  version) is the table of the same name with ``HISTORY_SUFFIX``.
* Columns: one per field, named as the field. A key field ``k`` (TickerKey, ExpiryKey,
  OptionKey) becomes ``k_at``, ``k_ts``, ``k_tk`` and, for expiry and option keys, ``k_dt``
  (DATE), then for option keys ``k_xx`` (DOUBLE strike) and ``k_cp`` (Call/Put). Enums and flags
  are their readable names; ID-style longs (``parentNumber``...) their ``XXXX-XXXX-XXXX-XXXX``
  text; DateTime is DATETIME(6) (UTC); DateKey is DATE; unset dates and times are NULL, and so are
  float NaNs. Repeating groups are not columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ...schema import MsgType

__all__ = [
    "DEFAULT_DATABASE",
    "HIDDEN_TOKENS",
    "HISTORY_SUFFIX",
    "SqlColumn",
    "columns_of",
    "database_of",
    "table_name_of",
]

#: the database of types the schemas give no SRSE product
DEFAULT_DATABASE = "srmlink"
#: suffix of the history table of a type (every persisted version)
HISTORY_SUFFIX = "_hist"
#: tokens of protocol-only types (session control, REST replies): not tables
HIDDEN_TOKENS = frozenset({"MLinkWs", "MLinkRest"})
#: types of a hidden token that are data all the same (client ticker baskets)
_SHOWN_ANYWAY = frozenset({"TickerItemDef"})

_KEY_MEMBERS = {
    "TickerKey": ("at", "ts", "tk"),
    "ExpiryKey": ("at", "ts", "tk", "dt"),
    "OptionKey": ("at", "ts", "tk", "dt", "xx", "cp"),
}
_MEMBER_SQL = {"at": "varchar", "ts": "varchar", "tk": "varchar", "dt": "date", "xx": "double",
               "cp": "varchar"}


@dataclass(frozen=True, slots=True)
class SqlColumn:
    """One SQL column of a message type: ``field`` (and key ``member``) it comes from."""

    name: str
    field: str
    kind: str  # the field kind, or "member" for a key member
    member: str | None
    sql_type: str  # as DESCRIBE and information_schema show it


def is_table_type(mt: MsgType) -> bool:
    """Whether the type is a SQL table (protocol-only types are not)."""
    return mt.token not in HIDDEN_TOKENS or mt.name in _SHOWN_ANYWAY


def database_of(mt: MsgType) -> str:
    product = mt.srse_product.split("(")[0].strip()
    return product.lower() if product else DEFAULT_DATABASE


def table_name_of(mt: MsgType) -> str:
    name = mt.name
    if name.startswith("Spdr"):
        name = "sr" + name[4:]
    return "msg" + name.lower()


def _sql_type(kind: str, f_type: str, id_long: bool, max_len: int | None) -> str:
    if kind == "float":
        return "double"
    if kind == "int":
        return "varchar(19)" if id_long else "bigint"
    if kind == "string":
        return f"varchar({max_len})" if max_len else "varchar"
    if kind in ("enum", "flag"):
        return "varchar"
    if kind == "DateTime":
        return "datetime(6)"
    if kind == "DateKey":
        return "date"
    raise ValueError(f"no SQL type for field kind {kind!r} ({f_type})")


_COLUMNS: dict[str, tuple[SqlColumn, ...]] = {}


def columns_of(mt: MsgType) -> tuple[SqlColumn, ...]:
    """The SQL columns of a type, in field order (cached)."""
    cols = _COLUMNS.get(mt.name)
    if cols is None:
        cols = _COLUMNS[mt.name] = tuple(_build(mt))
    return cols


def _build(mt: MsgType) -> Iterable[SqlColumn]:
    seen: set[str] = set()
    for f in mt.fields:
        if f.kind == "Repeater":
            continue
        if f.kind in _KEY_MEMBERS:
            out = [SqlColumn(f"{f.name}_{m}", f.name, "member", m, _MEMBER_SQL[m])
                   for m in _KEY_MEMBERS[f.kind]]
        else:
            out = [SqlColumn(f.name, f.name, f.kind, None,
                             _sql_type(f.kind, f.type, f.id_long, f.max_len))]
        for c in out:
            low = c.name.lower()
            if low in seen:  # a flattened key member colliding with a field: keep the field
                continue
            seen.add(low)
            yield c
