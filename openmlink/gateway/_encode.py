"""Encode once: stored rows -> JSON envelope bytes, shared by every client with the same view.

A ``RowEncoder`` serves one (message type, view); it keeps the bytes of recently encoded rows
keyed by the row's change stamp, so a record sent to many clients is serialised once, and
framed once per transport (``_frames``): sending a record is a copy of cached bytes. The
caches are arrays by row number (a hit is array indexing, not Python work per row), bounded in
entries; when full one is dropped and rebuilt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from ..schema import (
    DATEKEY_NONE,
    KEY_MEMBERS,
    Field,
    MsgType,
    encode_message,
    encode_value,
    encode_values,
    key_member_names,
)
from ..store import Table
from ._frames import ENVELOPE, JSON, JSONF, JSONF_MAX_PAYLOAD, jsonf_header, ws_header

__all__ = ["EncoderCache", "RowEncoder"]


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
        self._max = max_cached
        self._budget = budget or SlotBudget()
        self._budget.encoders.append(self)
        self.encoded = 0  # rows actually serialised (for tests and stats)

    def drop_caches(self) -> None:
        self._caches.clear()

    def body(self, table: Table, row: int) -> dict[str, Any]:
        return encode_message(self.mt, table.record(row, self.fields), self.view)

    def encode(self, table: Table, rows: np.ndarray) -> list[bytes]:
        """Envelope bytes of ``rows`` (each row serialised once per change, across clients)."""
        return self.encode_wire(table, rows, ENVELOPE)[0].tolist()  # type: ignore[no-any-return]

    def encode_wire(self, table: Table, rows: np.ndarray, framing: str) -> tuple[np.ndarray, np.ndarray]:
        """``rows`` framed for ``framing`` (``_frames``: ENVELOPE, JSON, JSONF) as an object
        array of bytes, and the sizes of their envelopes. A row is serialised once per change
        and framed once per framing, across clients; a hit costs no Python work per row. A
        JSONF record over the 6-digit length has empty bytes (callers drop it by its size)."""
        c = self._caches.get(framing)
        if c is None or len(c.seq) < table.n:
            grow = c.grow_to(table.n) if c is not None else max(table.n, 1024)
            self._budget.take(grow)  # may drop every cache, this one too
            c = self._caches.get(framing)
            if c is None:
                c = self._caches[framing] = _Cache()
            c.fit(table.n)
        seqs = table.row_seq[rows]
        miss = np.flatnonzero(c.seq[rows] != seqs)
        if len(miss):
            mrows = rows[miss] if len(miss) != len(rows) else rows
            if c.count + len(mrows) > self._max:
                c.clear()
            if framing == ENVELOPE:
                units: list[bytes] = self._serialise(table, mrows)
                sizes = np.fromiter(map(len, units), np.int64, len(units))
            else:
                envs, sizes = self.encode_wire(table, mrows, ENVELOPE)
                units = _framed(envs.tolist(), sizes, framing, self.mt.id)
            data = np.empty(len(units), object)
            data[:] = units
            c.data[mrows] = data
            c.size[mrows] = sizes
            c.seq[mrows] = seqs[miss]
            c.count += len(mrows)
        return c.data[rows], c.size[rows]

    def _serialise(self, table: Table, rows: np.ndarray) -> list[bytes]:
        head = self._head
        self.encoded += len(rows)
        return [head + orjson.dumps(body) + b"}" for body in self.bodies(table, rows)]

    def bodies(self, table: Table, rows: np.ndarray) -> list[dict[str, Any]]:
        """JSON message bodies of ``rows``, built column by column (default values left out).
        Columns all at their default are dropped first; when every remaining column has a
        value in every row, the dicts are built by ``zip`` without a Python step per field."""
        pk_cols = _present([(f.name, _json_column(table, f, rows)) for f in self.fields if f.is_pkey])
        data_cols = _present([(f.name, _json_column(table, f, rows)) for f in self.fields if not f.is_pkey])
        has_pk = any(f.is_pkey for f in self.fields)
        if all(None not in v for _, v in pk_cols) and all(None not in v for _, v in data_cols):
            pk_names = tuple(n for n, _ in pk_cols)
            pk_vals = [v for _, v in pk_cols]
            pks: Any = ([dict(zip(pk_names, t, strict=True)) for t in zip(*pk_vals, strict=True)]
                        if pk_cols else [{} for _ in range(len(rows))])
            names = (("pkey",) if has_pk else ()) + tuple(n for n, _ in data_cols)
            cols = ([pks] if has_pk else []) + [v for _, v in data_cols]
            if not cols:
                return [{} for _ in range(len(rows))]
            return [dict(zip(names, t, strict=True)) for t in zip(*cols, strict=True)]
        out = []
        for i in range(len(rows)):
            pk = {}
            for name, vals in pk_cols:
                v = vals[i]
                if v is not None:
                    pk[name] = v
            body: dict[str, Any] = {"pkey": pk} if has_pk else {}
            for name, vals in data_cols:
                v = vals[i]
                if v is not None:
                    body[name] = v
            out.append(body)
        return out


def _present(cols: list[tuple[str, list[Any]]]) -> list[tuple[str, list[Any]]]:
    """The columns with at least one value (not all None)."""
    return [(n, v) for n, v in cols if v.count(None) != len(v)]


def _json_column(table: Table, f: Field, rows: np.ndarray) -> list[Any]:
    """JSON values of one field for ``rows``; None where the value is the default. Values are
    encoded by ``schema.encode_values``/``encode_value``; this only reads the table's layout
    (string vocabularies, one column per key member)."""
    k = f.kind
    if k in KEY_MEMBERS:
        return _key_column(table, f, rows)
    if k == "Repeater":
        return [encode_value(f, v) if len(v) else None for v in table.cols[f.name][rows].tolist()]
    x = table.cols[f.name][rows]
    if k == "string":
        empty = x == 0
        if empty.all():
            return [None] * len(x)
        vals = table.vocabs[f.name].array()[x]
        if empty.any():
            vals = vals.astype(object)
            vals[empty] = None
        return vals.tolist()  # type: ignore[no-any-return]
    return encode_values(f, x)


def _key_column(table: Table, f: Field, rows: np.ndarray) -> list[Any]:
    """Key objects (``key_to_json`` form) of a key field, from its member columns."""
    k = f.kind
    c = table.cols
    n = f.name
    tk_codes = c[f"{n}.tk"][rows]
    words = table.vocabs[f"{n}.tk"].array()[tk_codes].tolist()
    at = np.array(key_member_names("at"), dtype=object)[np.maximum(c[f"{n}.at"][rows], 0)].tolist()
    ts = np.array(key_member_names("ts"), dtype=object)[np.maximum(c[f"{n}.ts"][rows], 0)].tolist()
    has_dt = k != "TickerKey"
    if has_dt:
        days = c[f"{n}.dt"][rows]
        dts = np.where(days == DATEKEY_NONE, 0, days).astype("datetime64[D]").astype(str)
        dt_list = np.where(days == DATEKEY_NONE, "", dts).tolist()
    if k == "OptionKey":
        xx = c[f"{n}.xx"][rows]
        cpi = c[f"{n}.cp"][rows]
        cp_names = np.array([*key_member_names("cp"), ""], dtype=object)
        cp = cp_names[np.where(cpi < 0, len(cp_names) - 1, cpi)].tolist()
        xx_list = [int(x) if x.is_integer() and abs(x) < 2**53 else x for x in xx.tolist()]
    out: list[Any] = []
    for i, code in enumerate(tk_codes.tolist()):
        if code == 0:
            out.append(None)
            continue
        d: dict[str, Any] = {"at": at[i], "ts": ts[i], "tk": words[i]}
        if has_dt and dt_list[i]:
            d["dt"] = dt_list[i]
            if k == "OptionKey" and cp[i]:
                d["xx"] = xx_list[i]
                d["cp"] = cp[i]
        out.append(d)
    return out


def _framed(envs: list[bytes], sizes: np.ndarray, framing: str, msg_num: int) -> list[bytes]:
    if framing == JSON:
        return [ws_header(len(e), False) + e for e in envs]
    if framing == JSONF:
        head = jsonf_header(msg_num, 0)[:-6]  # the header less its 6-digit length
        return [b"%b%06d%b" % (head, len(e), e) if len(e) <= JSONF_MAX_PAYLOAD else b"" for e in envs]
    raise ValueError(f"unknown framing {framing!r}")


class EncoderCache:
    """One ``RowEncoder`` per (type, view), shared by all sessions."""

    def __init__(self, max_encoders: int = 1024, max_slots: int = 8_000_000) -> None:
        self._enc: dict[tuple[str, frozenset[str] | None], RowEncoder] = {}
        self._max = max_encoders
        self._budget = SlotBudget(max_slots)

    def get(self, mt: MsgType, view: frozenset[str] | None) -> RowEncoder:
        k = (mt.name, view)
        e = self._enc.get(k)
        if e is None:
            if len(self._enc) >= self._max:
                self._enc.clear()
                self._budget = SlotBudget(self._budget.limit)
            e = self._enc[k] = RowEncoder(mt, view, budget=self._budget)
        return e
