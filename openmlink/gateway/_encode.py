"""Encode once: stored rows -> JSON envelope bytes, shared by every client with the same view.

A ``RowEncoder`` serves one (message type, view); it keeps the bytes of recently encoded rows
keyed by the row's change stamp, so a record sent to many clients is serialised once. The
cache is bounded; when full it is dropped and rebuilt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from ..schema import MsgType
from ..schema._codec import encode_message
from ..store import Table

__all__ = ["EncoderCache", "RowEncoder"]


class RowEncoder:
    def __init__(self, mt: MsgType, view: frozenset[str] | None, max_cached: int = 200_000) -> None:
        self.mt = mt
        self.view = view
        self.fields = tuple(f for f in mt.fields if f.is_pkey or view is None or f.name in view)
        self._head = b'{"header":{"mTyp":"' + mt.name.encode() + b'"},"message":'
        self._cache: dict[int, tuple[int, bytes]] = {}
        self._max = max_cached
        self.encoded = 0  # rows actually serialised (for tests and stats)

    def body(self, table: Table, row: int) -> dict[str, Any]:
        return encode_message(self.mt, table.record(row, self.fields), self.view)

    def encode(self, table: Table, rows: np.ndarray) -> list[bytes]:
        out = []
        cache = self._cache
        seqs = table.row_seq[rows].tolist()
        for r, sq in zip(rows.tolist(), seqs, strict=True):
            hit = cache.get(r)
            if hit is not None and hit[0] == sq:
                out.append(hit[1])
                continue
            b = self._head + orjson.dumps(self.body(table, r)) + b"}"
            self.encoded += 1
            if len(cache) >= self._max:
                cache.clear()
            cache[r] = (sq, b)
            out.append(b)
        return out


class EncoderCache:
    """One ``RowEncoder`` per (type, view), shared by all sessions."""

    def __init__(self, max_encoders: int = 1024) -> None:
        self._enc: dict[tuple[str, frozenset[str] | None], RowEncoder] = {}
        self._max = max_encoders

    def get(self, mt: MsgType, view: frozenset[str] | None) -> RowEncoder:
        k = (mt.name, view)
        e = self._enc.get(k)
        if e is None:
            if len(self._enc) >= self._max:
                self._enc.clear()
            e = self._enc[k] = RowEncoder(mt, view)
        return e
