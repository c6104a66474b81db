"""Client posts on the bus, as the trading adapters (orders, auctions) see them."""

from __future__ import annotations

from typing import Any

from ...bus import ColumnBatch, Event
from ...schema import MsgType, pkey_of
from ...store import Store

__all__ = ["applied_record", "client_upsert", "stored_record"]


def client_upsert(ev: Event | ColumnBatch) -> Event | None:
    """``ev`` if it is a client's upsert post; None for the platform's own records (no
    origin), replays, column batches and deletes."""
    if isinstance(ev, Event) and ev.origin and ev.kind == "upsert":
        return ev
    return None


def stored_record(store: Store, ev: Event, mt: MsgType | None = None) -> dict[str, Any] | None:
    """The stored record with ``ev``'s pkey (``mt``: its type when not ``ev.mt``): after the
    store applied ``ev`` the merged record, in a validator the one before; None if none."""
    mt = mt or ev.mt
    return store.table(mt).get(pkey_of(mt, ev.rec))


def applied_record(store: Store, ev: Event) -> dict[str, Any] | None:
    """The record the store holds after applying ``ev`` (a handler after the store's): for a
    whole-record upsert (no merge) that is ``ev``'s fields over the type's defaults, built
    without reading the row back; a merged one is read from the store."""
    if ev.merge:
        return stored_record(store, ev)
    t = store.table(ev.mt)
    if t.row_of(pkey_of(ev.mt, ev.rec)) is None:
        return None
    out = _defaults(ev.mt)
    out.update(ev.rec)
    return out


def _defaults(mt: MsgType) -> dict[str, Any]:
    """A fresh record of ``mt``'s defaults (the empty cells of a stored row)."""
    d = _DEFAULTS.get(mt.name)
    if d is None:
        d = _DEFAULTS[mt.name] = {f.name: f.default for f in mt.fields}
    return dict(d)


_DEFAULTS: dict[str, dict[str, Any]] = {}
