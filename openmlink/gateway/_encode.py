"""Encode once: stored rows -> JSON envelope bytes, shared by every client with the same view.

A ``RowEncoder`` serves one (message type, view); it keeps the bytes of recently encoded rows
keyed by the row's change stamp, so a record sent to many clients is serialised once per
transport framing (``_frames``), column by column and already framed (``_jsoncols``): sending a
record is a copy of cached bytes. The
caches are arrays by row number (a hit is array indexing, not Python work per row), bounded in
entries; when full one is dropped and rebuilt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from ..schema import Field, MsgType, is_default, message_encoder
from ..store import Table
from ._frames import ENVELOPE, JSON, JSONF, JSONF_MAX_PAYLOAD, jsonf_header, ws_header
from ._jsoncols import CLOSE, OPEN, Slot, Texts, VocabTexts, build, field_slots

__all__ = ["EncoderCache", "RowEncoder"]

_NO_POOL = np.zeros(0, np.uint8)
#: (inferred, measured) up to this many rows per call the row-by-row serialiser is cheaper than
#: the column builder's fixed cost: ~10 us a row vs ~150 us a call + ~1.2 us a row
SMALL_ROWS = 16


class _Cache:
    """Bytes of encoded rows, by row number: the row's change stamp when encoded, the bytes,
    and the envelope's size. Looked up with array indexing (no Python work per hit)."""

    __slots__ = ("count", "data", "seq", "size")

    def __init__(self) -> None:
        self.seq = np.empty(0, np.int64)
        self.data = np.empty(0, object)
        self.size = np.empty(0, np.int64)
        self.count = 0

    def grow_to(self, n: int) -> int:
        """How many slots ``fit(n)`` adds."""
        m = len(self.seq)
        return 0 if m >= n else max(n, 2 * m, 1024) - m

    def fit(self, n: int) -> None:
        m = len(self.seq)
        if m >= n:
            return
        k = max(n, 2 * m, 1024)
        seq = np.full(k, -1, np.int64)
        seq[:m] = self.seq
        data = np.empty(k, object)
        data[:m] = self.data
        size = np.zeros(k, np.int64)
        size[:m] = self.size
        self.seq, self.data, self.size = seq, data, size

    def filled(self) -> int:
        """Slots holding bytes (``count`` is kept equal to it)."""
        return int(np.count_nonzero(self.seq >= 0))

    def nbytes(self) -> int:
        """Bytes held by the filled slots (the cached frames themselves)."""
        return sum(map(len, self.data[self.seq >= 0].tolist()))

    def clear(self) -> None:
        self.seq[:] = -1
        self.data[:] = None
        self.count = 0


class SlotBudget:
    """Row slots of every encoder's cache arrays together (a slot is ~24 bytes): a cache that
    would take the total past ``limit`` first drops every cache (they refill on use), so
    memory stays bounded however many (type, view) encoders and big tables there are."""

    def __init__(self, limit: int = 8_000_000) -> None:
        self.limit = limit
        self.used = 0
        self.encoders: list[RowEncoder] = []

    def take(self, n: int) -> None:
        if self.used + n > self.limit:
            for e in self.encoders:
                e.drop_caches()
            self.used = 0
        self.used += n


class RowEncoder:
    def __init__(self, mt: MsgType, view: frozenset[str] | None, max_cached: int = 200_000,
                 budget: SlotBudget | None = None) -> None:
        self.mt = mt
        self.view = view
        self.fields = tuple(f for f in mt.fields if f.is_pkey or view is None or f.name in view)
        self._head = b'{"header":{"mTyp":"' + mt.name.encode() + b'"},"message":'
        self._caches: dict[str, _Cache] = {}
        self._max = self.max_cached = max_cached
        self._budget = budget or SlotBudget()
        self._budget.encoders.append(self)
        self.encoded = 0  # rows actually serialised (for tests and stats)
        #: member prefixes ('"name":') of the pkey fields and of the others, in field order
        #: (the pkey object in pkey order, as ``schema.encode_message`` and REST write it)
        self._pk_names = [(orjson.dumps(f.name) + b":", f) for f in mt.pkey_fields]
        self._data_names = [(orjson.dumps(f.name) + b":", f) for f in self.fields if not f.is_pkey]
        self._vocab_texts = VocabTexts()
        #: calls with at most this many rows are serialised row by row (``_build``)
        self.small_rows = SMALL_ROWS
        self._read_table: Table | None = None
        self._read_n = -1
        self._read_fields: tuple[Field, ...] = ()

    def drop_caches(self) -> None:
        self._caches.clear()

    def body(self, table: Table, row: int) -> dict[str, Any]:
        return message_encoder(self.mt, self.view)(table.record(row, self._read(table)))

    def _read(self, table: Table) -> tuple[Field, ...]:
        """The fields a body may show: the pkey, and of the others those some write gave a
        value (``Table.written``) or whose default a body shows -- every other cell holds a
        default the encoder leaves out (remembered until ``written`` grows)."""
        n = len(table.written)
        if self._read_table is not table or self._read_n != n:
            written = table.written
            self._read_fields = tuple(f for f in self.fields if f.is_pkey or f.name in written
                                      or not is_default(f, f.default))
            self._read_table, self._read_n = table, n
        return self._read_fields

    def encode(self, table: Table, rows: np.ndarray) -> list[bytes]:
        """Envelope bytes of ``rows`` (each row serialised once per change, across clients)."""
        return self.encode_wire(table, rows, ENVELOPE)[0].tolist()  # type: ignore[no-any-return]

    def encode_wire(self, table: Table, rows: np.ndarray, framing: str,
                    keep: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``rows`` framed for ``framing`` (``_frames``: ENVELOPE, JSON, JSONF) as an object
        array of bytes, and the sizes of their envelopes. A row is serialised once per change
        and framing, across clients; a hit costs no Python work per row. A
        JSONF record over the 6-digit length has empty bytes (callers drop it by its size).
        Without ``keep`` the cache is read but not filled: a scan of more rows than the cache
        holds (a big snapshot) would only evict its own rows and the live ones. ``rows`` are
        distinct (a stream's rows are)."""
        if not keep:
            return self._read_through(table, rows, framing)
        c = self._caches.get(framing)
        if c is None or len(c.seq) < table.n:
            grow = c.grow_to(table.n) if c is not None else max(table.n, 1024)
            self._budget.take(grow)  # may drop every cache, this one too
            c = self._caches.get(framing)
            if c is None:
                c = self._caches[framing] = _Cache()
            c.fit(table.n)
        seqs = table.row_seq[rows]
        cached = c.seq[rows]
        miss = np.flatnonzero(cached != seqs)
        if len(miss):
            # only empty slots add to the count: a re-encoded row replaces its own bytes
            fresh = int(np.count_nonzero(cached[miss] < 0))
            if c.count + fresh > self._max:
                c.clear()  # the hits of this call are dropped too: every row is now a miss
                miss = np.arange(len(rows))
                fresh = len(rows)
            mrows = rows[miss] if len(miss) != len(rows) else rows
            data, sizes = self._build(table, mrows, framing)
            c.data[mrows] = data
            c.size[mrows] = sizes
            c.seq[mrows] = seqs[miss]
            c.count += fresh
        return c.data[rows], c.size[rows]

    def _read_through(self, table: Table, rows: np.ndarray, framing: str) -> tuple[np.ndarray, np.ndarray]:
        c = self._caches.get(framing)
        if c is None or not len(rows):
            return self._build(table, rows, framing)
        hit = rows < len(c.seq)
        inside = rows[hit]
        hit[hit] = c.seq[inside] == table.row_seq[inside]
        if not hit.any():
            return self._build(table, rows, framing)
        units = np.empty(len(rows), object)
        sizes = np.empty(len(rows), np.int64)
        units[hit] = c.data[rows[hit]]
        sizes[hit] = c.size[rows[hit]]
        miss = ~hit
        if miss.any():
            units[miss], sizes[miss] = self._build(table, rows[miss], framing)
        return units, sizes

    def _build(self, table: Table, rows: np.ndarray, framing: str) -> tuple[np.ndarray, np.ndarray]:
        """``rows`` serialised column by column (``_jsoncols``) and framed for ``framing``: an
        object array of bytes and the envelope sizes. A few rows (a live cycle's changes) are
        serialised row by row instead: the column builder's fixed cost per call (~0.1-0.2 ms)
        is ten times a row's, and every live cycle pays it."""
        self.encoded += len(rows)
        n = len(rows)
        if 0 < n <= self.small_rows:
            return self._build_rows(table, rows, framing)
        vt = self._vocab_texts
        slots: list[Slot] = []
        if self._pk_names:
            slots.append((OPEN, b'"pkey":{', Texts(_NO_POOL, np.zeros(n, np.int64), np.zeros(n, np.int64))))
            for name, f in self._pk_names:
                slots += field_slots(table, f, rows, vt, name)
            slots.append((CLOSE, b"}", None))
        for name, f in self._data_names:
            slots += field_slots(table, f, rows, vt, name)
        buf, unit, env = build(slots, n, self._head + b"{", b"}}", framing, self.mt.id)
        data = np.empty(n, object)
        if n:
            b = buf.tobytes()
            bounds = unit.tolist()
            data[:] = list(map(b.__getitem__, map(slice, bounds[:-1], bounds[1:])))
        return data, env

    def _build_rows(self, table: Table, rows: np.ndarray, framing: str) -> tuple[np.ndarray, np.ndarray]:
        mt, head, fields = self.mt, self._head, self._read(table)
        enc, record = message_encoder(mt, self.view), table.record
        envs = [head + orjson.dumps(enc(record(r, fields))) + b"}" for r in rows.tolist()]
        sizes = np.fromiter(map(len, envs), np.int64, len(envs))
        data = np.empty(len(envs), object)
        if framing == JSON:
            data[:] = [ws_header(len(e), False) + e for e in envs]
        elif framing == JSONF:
            jh = jsonf_header(mt.id, 0)[:-6]  # the header less its 6-digit length
            data[:] = [b"%b%06d%b" % (jh, len(e), e) if len(e) <= JSONF_MAX_PAYLOAD else b""
                       for e in envs]
        else:
            data[:] = envs
        return data, sizes


class EncoderCache:
    """One ``RowEncoder`` per (type, view), shared by all sessions."""

    def __init__(self, max_encoders: int = 1024, max_slots: int = 8_000_000,
                 max_cached: int = 200_000) -> None:
        self._enc: dict[tuple[str, frozenset[str] | None], RowEncoder] = {}
        self._max = max_encoders
        self._max_cached = max_cached  # rows cached per encoder and framing
        self._budget = SlotBudget(max_slots)

    def get(self, mt: MsgType, view: frozenset[str] | None) -> RowEncoder:
        k = (mt.name, view)
        e = self._enc.get(k)
        if e is None:
            if len(self._enc) >= self._max:
                self._enc.clear()
                self._budget = SlotBudget(self._budget.limit)
            e = self._enc[k] = RowEncoder(mt, view, self._max_cached, budget=self._budget)
        return e
