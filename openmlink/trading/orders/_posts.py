"""Client posts on the bus, as the trading adapters (orders, auctions) see them."""

from __future__ import annotations

from typing import Any

from ...bus import ColumnBatch, Event
from ...schema import MsgType, pkey_of
from ...store import Store

__all__ = ["client_upsert", "stored_record"]


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
