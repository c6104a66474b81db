"""What a login may read in SQL: databases and tables (tokens), and the rows of each table
(client-firm visibility), as Arrow tables built on the thread that mutates the store."""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...query import where_mask
from ...schema import MsgType, Registry
from ...store import Store
from .._history import History
from ._arrow import VocabCache, live_table, records_table
from ._layout import HISTORY_SUFFIX, SqlColumn, columns_of, database_of, is_table_type, table_name_of

__all__ = ["HIST_SEQ", "HIST_TS", "Catalog", "Login", "Source"]

#: extra columns of a history table: the version's sequence number and time
HIST_SEQ = "hist_seq"
HIST_TS = "hist_ts"


class Login(Protocol):
    """An authenticated SQL user (the gateway's API-key principal has this shape)."""

    @property
    def key(self) -> str: ...

    @property
    def user_name(self) -> str: ...

    @property
    def client_firm(self) -> str | None: ...

    def may_see(self, token: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Source:
    """A SQL table: the live table of ``mt``, or its history."""

    database: str
    table: str
    mt: MsgType
    history: bool

    def columns(self) -> tuple[SqlColumn, ...]:
        return columns_of(self.mt)

    def sql_types(self) -> dict[str, str]:
        out = {c.name: c.sql_type for c in self.columns()}
        if self.history:
            out[HIST_SEQ] = "bigint"
            out[HIST_TS] = "datetime(6)"
        return out


class _HistoryCache:
    """Every version of one type as an Arrow table, extended by the versions appended since."""

    def __init__(self, mt: MsgType) -> None:
        self.mt = mt
        self.last = 0
        self.chunks: list[pa.Table] = []

    def table(self, history: History) -> pa.Table:
        new = history.versions(self.mt, after=self.last)
        if new:
            extra = {HIST_SEQ: pa.array([v.seq for v in new], pa.int64()),
                     HIST_TS: pa.array([v.ts // 1000 for v in new], pa.timestamp("us"))}
            self.chunks.append(records_table(self.mt, [v.rec for v in new], columns_of(self.mt), extra))
            self.last = new[-1].seq
            if len(self.chunks) > 64:  # keep the chunk list short
                self.chunks = [pa.concat_tables(self.chunks).combine_chunks()]
        if not self.chunks:
            return records_table(self.mt, [], columns_of(self.mt),
                                 {HIST_SEQ: pa.array([], pa.int64()),
                                  HIST_TS: pa.array([], pa.timestamp("us"))})
        return pa.concat_tables(self.chunks)


class Catalog:
    """The SQL tables over a store (live, latest per pkey) and a history (every version)."""

    def __init__(self, reg: Registry, store: Store, history: History | None = None) -> None:
        self.registry = reg
        self.store = store
        self.history = history
        self._vocabs = VocabCache()
        self._hist: dict[str, _HistoryCache] = {}
        self._live: dict[tuple[str, str], Source] = {}
        for mt in reg:
            if is_table_type(mt):
                self._live[(database_of(mt), table_name_of(mt))] = Source(
                    database_of(mt), table_name_of(mt), mt, False)

    def sources(self, who: Login) -> list[Source]:
        """Every table ``who`` may read (types of its tokens)."""
        out = [s for s in self._live.values() if who.may_see(s.mt.token)]
        if self.history is not None:
            for name in sorted(self.history.types()):
                mt = self.registry.get(name)
                if mt is not None and who.may_see(mt.token):
                    out.append(Source(database_of(mt), table_name_of(mt) + HISTORY_SUFFIX, mt, True))
        return out

    def databases(self, who: Login) -> set[str]:
        return {s.database for s in self.sources(who)}

    def schema(self, who: Login) -> dict[str, dict[str, dict[str, str]]]:
        """``{database: {table: {column: type}}}`` of what ``who`` may read."""
        out: dict[str, dict[str, dict[str, str]]] = {}
        for s in self.sources(who):
            out.setdefault(s.database, {})[s.table] = s.sql_types()
        return out

    def resolve(self, who: Login, database: str, table: str) -> Source | None:
        db, name = database.lower(), table.lower()
        s = self._live.get((db, name))
        if s is not None:
            return s if who.may_see(s.mt.token) else None
        if name.endswith(HISTORY_SUFFIX):
            for h in self.sources(who):
                if h.history and h.database == db and h.table == name:
                    return h
        return None

    def snapshot(self, src: Source, names: Set[str] | None, who: Login) -> pa.Table:
        """The rows of ``src`` that ``who`` may see, with the columns named in ``names``
        (lower case; None = all). Call on the thread that mutates the store."""
        cols = _pick(src.columns(), names)
        firm = who.client_firm if src.mt.field("clientFirm") is not None else None
        rule = self.store.row_rule(src.mt, who)  # e.g. an auction's audience of firms
        if src.history:
            assert self.history is not None
            cache = self._hist.get(src.mt.name)
            if cache is None:
                cache = self._hist[src.mt.name] = _HistoryCache(src.mt)
            t = cache.table(self.history)
            if firm is not None:
                t = t.filter(pc.equal(t.column("clientFirm"), firm))
            if rule is not None:  # (inferred) not evaluated over versions: fail closed
                t = t.slice(0, 0)
            keep = [c.name for c in cols] + [HIST_SEQ, HIST_TS]
            if names is not None:
                keep = [k for k in keep if k.lower() in names or k == keep[0]]
            return t.select(keep)
        table = self.store.prepare(src.mt, None, who)
        rows = None
        n = table.n
        if firm is not None:
            code = table.vocabs["clientFirm"].codes.get(firm)
            if code is None:
                rows = np.zeros(0, np.int64)
            else:
                rows = np.flatnonzero(table.alive[:n] & (table.cols["clientFirm"][:n] == code))
        if rule is not None:
            if rows is None:
                rows = table.live_rows()
            rows = rows[where_mask(table, rule, rows)]
        return live_table(table, cols, rows, self._vocabs)


def _pick(cols: Sequence[SqlColumn], names: Set[str] | None) -> list[SqlColumn]:
    """The columns named (all if None); never none at all, so that a table keeps its row count
    (the first cheap numeric column stands in)."""
    if names is None:
        return list(cols)
    out = [c for c in cols if c.name.lower() in names]
    if out:
        return out
    cheap = [c for c in cols if c.kind == "float" or (c.kind == "int" and c.sql_type == "bigint")]
    return [cheap[0] if cheap else cols[0]]
