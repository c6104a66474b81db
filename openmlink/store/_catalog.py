"""The catalogue of live tables: one ``Table`` per message type, fed from the bus."""

from __future__ import annotations

from ..bus import Bus, ColumnBatch, Event
from ..schema import MsgType, Registry
from ..schema._codec import pkey_of
from ._table import Table

__all__ = ["Store"]


class Store:
    """Live tables for every message type of the registry (created on first use)."""

    def __init__(self, reg: Registry) -> None:
        self.registry = reg
        self._tables: dict[str, Table] = {}

    def table(self, mt: MsgType) -> Table:
        t = self._tables.get(mt.name)
        if t is None:
            t = self._tables[mt.name] = Table(mt)
        return t

    def attach(self, bus: Bus) -> None:
        """Apply every record published on ``bus`` to its table."""
        bus.subscribe(None, self.apply)

    def apply(self, msg: Event | ColumnBatch) -> None:
        t = self.table(msg.mt)
        if isinstance(msg, ColumnBatch):
            t.upsert_columns(msg.data, sent_ts=msg.sent_ts)
        elif msg.kind == "delete":
            t.delete(pkey_of(msg.mt, msg.rec))
        else:
            t.upsert(msg.rec, merge=msg.merge, sent_ts=msg.sent_ts)
