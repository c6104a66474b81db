"""The catalogue of live tables: one ``Table`` per message type, fed from the bus."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from ..bus import Bus, ColumnBatch, Event, ticker_column
from ..query import BAnd, Bound
from ..schema import MsgType, Registry, pkey_of
from ._table import Table

__all__ = ["Store"]


class Store:
    """Live tables for every message type of the registry (created on first use)."""

    def __init__(self, reg: Registry) -> None:
        self.registry = reg
        self._tables: dict[str, Table] = {}
        #: types computed as they are read (e.g. LiveImpliedQuoteAdj): name -> refresh hook
        self._on_read: dict[str, Callable[[Table, Any, Any], None]] = {}
        #: per-reader row rules (e.g. an auction's audience): name -> rules
        self._row_rules: dict[str, list[Callable[[Any], Bound | None]]] = {}

    def computed_on_read(self, name: str, refresh: Callable[..., None],
                         inputs: Iterable[str] = ()) -> None:
        """Register ``refresh(table, where, who)``, called before every read of the type's
        table, so that an engine can bring derived records up to date (to the latest underlier
        price, say). ``where`` is the reader's bound where clause (``query.Bound`` or None) and
        ``who`` the reader (``gateway.Principal``: ``user_name``, ``client_firm``). The hook
        may raise ``query.QueryError`` to refuse a read (e.g. a required clause is missing).

        ``inputs`` names the message types the records are computed from: a write to any of
        them marks the computed table stale (``Table.stale_listeners`` are told), so that a
        live reader (a stream) knows to read -- and so refresh -- it again.  The refresh should
        rewrite only the rows whose values changed: those writes are the table's ordinary
        change log, which is what streams send."""
        t = self.table(self.registry[name])

        def mark(_t: Table, _rows: Any, _deleted: bool) -> None:
            t.mark_stale()

        for inp in inputs:
            self.table(self.registry[inp]).listeners.append(mark)
        try:
            n = len([p for p in inspect.signature(refresh).parameters.values()
                     if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)])
        except (TypeError, ValueError):
            n = 3
        if n < 3:  # a hook that only needs the table
            def table_only(t: Table, where: Any, who: Any, fn: Any = refresh) -> None:
                fn(t)
            self._on_read[name] = table_only
        else:
            self._on_read[name] = refresh

    def restrict_rows(self, name: str, rule: Callable[[Any], Bound | None]) -> Callable[[], None]:
        """Register ``rule(who)``: which rows of type ``name`` the reader ``who``
        (``gateway.Principal``: ``user_name``, ``client_firm``) may see, as a bound where tree
        (None: every row).  Every read path applies it (``row_rule``) on top of the reader's
        own where clause and the client-firm rule: REST, MLinkStream, MLinkSubscribe, SQL.
        A rule whose answer changes after it is bound (rows of auctions not yet started)
        puts a ``query.LiveSet`` in an ``in`` leaf.  Returns the function that removes it."""
        rules = self._row_rules.setdefault(name, [])
        rules.append(rule)

        def remove() -> None:
            if rule in rules:
                rules.remove(rule)
        return remove

    def row_rule(self, mt: MsgType, who: Any) -> Bound | None:
        """The rows of ``mt`` that reader ``who`` may see by the registered rules (None: all)."""
        rules = self._row_rules.get(mt.name)
        if not rules:
            return None
        parts = [b for b in (r(who) for r in rules) if b is not None]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else BAnd(tuple(parts))

    def is_computed(self, mt: MsgType) -> bool:
        """Whether ``mt``'s records are computed as they are read (see ``computed_on_read``)."""
        return mt.name in self._on_read

    def prepare(self, mt: MsgType, where: Any = None, who: Any = None) -> Table:
        """The table of ``mt``, refreshed first if its records are computed as they are read."""
        t = self.table(mt)
        hook = self._on_read.get(mt.name)
        if hook is not None:
            hook(t, where, who)
        return t

    def table(self, mt: MsgType) -> Table:
        t = self._tables.get(mt.name)
        if t is None:
            t = self._tables[mt.name] = Table(mt)
        return t

    def ticker_batches(self, mt: MsgType, tickers: Iterable[str]
                       ) -> Iterable[tuple[str, dict[str, Any]]]:
        """(ticker, every live row of that ticker by column) of ``mt``'s table, for each of
        ``tickers`` that has rows (a type whose pkey has no key field: ``""``, every row).  The
        snapshots of a distributed bus (``bus.NatsBus.snapshot_every``)."""
        t = self._tables.get(mt.name)
        if t is None:
            return []
        col = ticker_column(mt)
        if col is None:
            return [("", t.column_batch(t.live_rows()))] if len(t) else []
        rows = t.rows_by_word(col, tickers)
        return [(tk, t.column_batch(r)) for tk, r in rows.items() if len(r)]

    def attach(self, bus: Bus) -> None:
        """Apply every record published on ``bus`` to its table. Attach the store first: it
        is the bus's gate (a record it cannot apply reaches no later handler)."""
        bus.subscribe(None, self.apply, name="store", gate=True)

    def apply(self, msg: Event | ColumnBatch) -> None:
        t = self.table(msg.mt)
        if isinstance(msg, ColumnBatch):
            t.upsert_columns(msg.data, sent_ts=msg.sent_ts)
        elif msg.kind == "delete":
            t.delete(pkey_of(msg.mt, msg.rec))
        else:
            t.upsert(msg.rec, merge=msg.merge, sent_ts=msg.sent_ts)
