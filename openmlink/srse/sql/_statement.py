"""A client statement (MySQL dialect, parsed by sqlglot) made ready for the SQL engine: writes
refused, every table resolved to a ``Source`` the login may read and renamed to the Arrow view
registered for the query, the referenced column names collected, and DuckDB SQL generated."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from ._catalog import Source
from ._errors import SqlError, codes

__all__ = ["Plan", "TableUse", "is_write_text", "plan"]

#: first keywords of statements that change data or schema
WRITE_WORDS = frozenset({
    "insert", "update", "delete", "replace", "create", "drop", "alter", "truncate", "rename",
    "grant", "revoke", "load", "merge", "call", "lock", "unlock", "handler", "import", "install",
    "uninstall", "optimize", "analyze", "repair", "flush", "purge", "reset", "upsert", "copy",
    "attach", "detach", "vacuum", "checkpoint", "export",
})
_WRITE_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, n) for n in ("Insert", "Update", "Delete", "Create", "Drop", "Alter", "AlterTable",
                              "TruncateTable", "Merge", "Copy", "Grant", "Revoke")
    if hasattr(exp, n))
_LEADING = re.compile(r"^(?:\s+|/\*.*?\*/|--[^\n]*\n|#[^\n]*\n|\()*", re.S)
_INFO_DBS = frozenset({"information_schema", "mysql", "performance_schema", "sys"})

READ_ONLY = ("the SQL endpoint is read-only: INSERT, UPDATE, DELETE and DDL are refused; "
             "writes go through postmsgs (REST /rest/json?cmd=postmsgs or the MLink WebSocket)")


def is_write_text(sql: str) -> bool:
    """Whether a statement's first keyword is one of a write or DDL statement."""
    m = re.match(r"[A-Za-z]+", sql[_LEADING.match(sql).end():])  # type: ignore[union-attr]
    return m is not None and m.group(0).lower() in WRITE_WORDS


@dataclass(frozen=True, slots=True)
class TableUse:
    """A table of the query: its source, the view name it is registered under, and the
    column names (lower case) the query may touch (None: all, for ``*`` and NATURAL joins)."""

    source: Source
    view: str
    names: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class Plan:
    sql: str  # DuckDB dialect
    tables: tuple[TableUse, ...]


Resolver = Callable[[str, str], Source | None]


def plan(expression: exp.Expression, database: str | None, resolve: Resolver) -> Plan:
    """Check and rewrite one parsed statement; raises ``SqlError`` with the MySQL error."""
    if isinstance(expression, _WRITE_NODES) or (
            isinstance(expression, exp.Command) and is_write_text(expression.sql("mysql"))):
        raise SqlError(READ_ONLY, codes.READ_ONLY)
    if not isinstance(expression, exp.Query):
        raise SqlError(f"statement not supported by the SQL endpoint: {expression.key.upper()} "
                       "(only SELECT queries, SHOW, DESCRIBE and USE are)", codes.NOT_SUPPORTED)
    tree = expression.copy()
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    uses: dict[tuple[str, str], str] = {}
    sources: dict[str, Source] = {}
    for tbl in list(tree.find_all(exp.Table)):
        if not isinstance(tbl.this, exp.Identifier):
            raise SqlError(f"table functions are not available: {tbl.this.sql('mysql')}",
                           codes.NOT_SUPPORTED)
        name, db = tbl.name, tbl.db
        if not db and name.lower() in ctes:
            continue
        if not db and name.lower() == "dual":
            continue
        db = db or database or ""
        if not db:
            raise SqlError(f"No database selected: name the database of table '{name}' "
                           "(e.g. srtrade.msgsrparentbrkrstate) or USE one", codes.NO_DB)
        if db.lower() in _INFO_DBS:
            raise SqlError(f"{db} tables cannot be combined with data tables in one query",
                           codes.NOT_SUPPORTED)
        src = resolve(db, name)
        if src is None:
            raise SqlError(f"Table '{db}.{name}' doesn't exist", codes.NO_SUCH_TABLE)
        key = (src.database, src.table)
        view = uses.get(key)
        if view is None:
            view = uses[key] = f"__v{len(uses)}_{src.table}"
            sources[view] = src
        alias = tbl.alias or name
        tbl.replace(exp.Table(this=exp.to_identifier(view),
                              alias=exp.TableAlias(this=exp.to_identifier(alias))))
    for col in tree.find_all(exp.Column):  # db.table.column -> table.column
        if col.args.get("db") is not None:
            col.set("db", None)
            col.set("catalog", None)
    names: frozenset[str] | None = frozenset(i.name.lower() for i in tree.find_all(exp.Identifier))
    if _wants_all(tree):
        names = None
    sql = tree.sql(dialect="duckdb")
    return Plan(sql, tuple(TableUse(s, v, names) for v, s in sources.items()))


def _wants_all(tree: exp.Expression) -> bool:
    """``*``, ``t.*`` in a projection, or a NATURAL join: every column may be used."""
    for sel in tree.find_all(exp.Select):
        for e in sel.expressions:
            if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)):
                return True
    return any(j.args.get("method") and str(j.args["method"]).upper() == "NATURAL"
               for j in tree.find_all(exp.Join))
