"""Column-wise JSON: the envelopes of a batch of stored rows, built a column at a time.

Each field's JSON texts for the batch are made once over the column -- numbers by one
``orjson`` dump of the array (split on its commas), strings and enum names from pre-encoded
byte tables indexed by code, dates and times by integer arithmetic -- and held as a ``Texts``:
one byte pool with a start and a size per row (size -1: the value is left out). A Numba kernel
then joins the pieces of every row into one buffer, framed for the transport, with no Python
object per field. The output is byte for byte what ``orjson.dumps`` of the record encoder's
dicts gives (``schema.encode_message``): same values, same field order, same escaping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import orjson
from numba import njit

from ..schema import (
    DATEKEY_NONE,
    KEY_MEMBERS,
    Field,
    datekey_to_text,
    encode_value,
    float32_shortest,
    key_member_names,
)
from ..store import Table
from ._frames import ENVELOPE, JSON, JSONF, JSONF_MAX_PAYLOAD

__all__ = ["CLOSE", "OPEN", "VALUE", "Slot", "Texts", "VocabTexts", "build", "field_slots", "field_texts"]

_MODES = {ENVELOPE: 0, JSON: 1, JSONF: 2}
_OPT = orjson.OPT_SERIALIZE_NUMPY


class Texts(NamedTuple):
    """JSON texts of one column for a batch of rows: row i is ``pool[start[i]:start[i] + size[i]]``,
    left out where ``size[i] < 0``."""

    pool: np.ndarray  # uint8
    start: np.ndarray  # int64
    size: np.ndarray  # int64


def _absent(n: int) -> Texts:
    return Texts(np.zeros(0, np.uint8), np.zeros(n, np.int64), np.full(n, -1, np.int64))


def _table(encoded: Sequence[bytes | None]) -> Texts:
    """A lookup table: entry i is ``encoded[i]`` (None: left out)."""
    sizes = np.array([-1 if e is None else len(e) for e in encoded], np.int64)
    starts = np.zeros(len(encoded), np.int64)
    if len(encoded) > 1:
        np.cumsum(np.maximum(sizes[:-1], 0), out=starts[1:])
    pool = np.frombuffer(b"".join(e for e in encoded if e is not None), np.uint8)
    return Texts(pool, starts, sizes)


def _take(tbl: Texts, codes: np.ndarray) -> Texts:
    """Rows' texts by their codes into a lookup table."""
    return Texts(tbl.pool, tbl.start[codes], tbl.size[codes])


def _dumped(x: np.ndarray) -> Texts:
    """The JSON numbers of an int64 or float64 array, as ``orjson`` prints them (one dump of the
    whole array; non-finite floats print ``null``)."""
    n = len(x)
    if n == 0:
        return _absent(0)
    raw = orjson.dumps(np.ascontiguousarray(x), option=_OPT)
    pool = np.frombuffer(raw, np.uint8)
    commas = np.flatnonzero(pool == 44)  # ","
    start = np.empty(n, np.int64)
    start[0] = 1
    start[1:] = commas + 1
    end = np.empty(n, np.int64)
    end[:-1] = commas
    end[-1] = len(pool) - 1
    return Texts(pool, start, end - start)


def _single(x: np.ndarray) -> Texts:
    """JSON texts of a schema ``float`` column: single precision, shortest repr (the float64
    nearest the float32's shortest decimal, as ``schema.encode_value`` prints it). orjson
    prints a float32 array with those digits and, between 1e-4 and 1e12, in the same notation
    as the float64; the values outside (and over the float32 range) go through
    ``schema.float32_shortest``."""
    with np.errstate(over="ignore"):
        f = x.astype(np.float32)
    a = np.abs(f)
    plain = (a >= 1e-4) & (a < 1e12)
    if plain.all():
        return _dumped(f)
    t = _dumped(np.where(plain, f, np.float32(1)))
    hard = np.flatnonzero(~plain)
    h = _dumped(float32_shortest(x[hard]))
    start = t.start.copy()
    size = t.size.copy()
    start[hard] = h.start + len(t.pool)
    size[hard] = h.size
    return Texts(np.concatenate([t.pool, h.pool]), start, size)


def _merge(mask: np.ndarray, a: Texts, b: Texts) -> Texts:
    """Row i from ``a`` where ``mask[i]``, else from ``b`` (each given for every row)."""
    off = len(a.pool)
    return Texts(np.concatenate([a.pool, b.pool]), np.where(mask, a.start, b.start + off),
                 np.where(mask, a.size, b.size))


def _per_unique(x: np.ndarray, fn: Callable[[Any], bytes | None]) -> Texts:
    """``fn`` once per distinct value of ``x`` (its JSON text, or None: left out)."""
    if len(x) == 0:
        return _absent(0)
    uniq, inv = np.unique(x, return_inverse=True)
    return _take(_table([fn(v) for v in uniq.tolist()]), inv.reshape(-1))


def _quoted(text: str) -> bytes:
    return orjson.dumps(text)


def _left_out(t: Texts, mask: np.ndarray) -> Texts:
    if mask.any():
        size = t.size.copy()
        size[mask] = -1
        return Texts(t.pool, t.start, size)
    return t


# ---------------------------------------------------------------- strings
class VocabTexts:
    """The quoted JSON texts of a table's string vocabularies, extended as they grow (words are
    only ever appended). Bounded by the vocabularies themselves; forgets tables beyond
    ``max_vocabs`` (they are re-encoded on next use)."""

    def __init__(self, max_vocabs: int = 256) -> None:
        self._max = max_vocabs
        self._by: dict[int, tuple[Any, bytearray, list[int], list[int]]] = {}
        self._arrays: dict[int, tuple[int, Texts]] = {}

    def texts(self, vocab: Any) -> Texts:
        """The lookup table (by code) of ``vocab``'s words; code 0, the empty word, left out."""
        key = id(vocab)
        entry = self._by.get(key)
        if entry is None or entry[0] is not vocab:
            if len(self._by) >= self._max:
                self._by.clear()
                self._arrays.clear()
            entry = self._by[key] = (vocab, bytearray(), [0], [-1])
            self._arrays.pop(key, None)
        _, pool, starts, sizes = entry
        words = vocab.words
        have = len(starts)
        if have < len(words):
            for w in words[have:]:
                e = orjson.dumps(w)
                starts.append(len(pool))
                sizes.append(len(e))
                pool += e
        cached = self._arrays.get(key)
        if cached is not None and cached[0] == len(starts):
            return cached[1]
        t = Texts(np.frombuffer(bytes(pool), np.uint8), np.array(starts, np.int64), np.array(sizes, np.int64))
        self._arrays[key] = (len(starts), t)
        return t


# ---------------------------------------------------------------- dates and times
def _digits(out: np.ndarray, col: int, v: np.ndarray, width: int) -> None:
    """Write ``v`` as ``width`` zero-padded decimal digits at column ``col`` of ``out``."""
    for k in range(width - 1, -1, -1):
        out[:, col + k] = 48 + v % 10
        v = v // 10


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


def _datetime_texts(ns: np.ndarray) -> Texts:
    """Quoted ``yyyy-MM-dd HH:mm:ss.ffffff`` (UTC, microseconds floored) of ns since the epoch,
    as ``schema.datetime_to_text`` writes them; zeros left out."""
    n = len(ns)
    us = ns // 1000
    secs = us // 1_000_000
    frac = us - secs * 1_000_000
    days = secs // 86_400
    sod = secs - days * 86_400
    y, mo, d = _civil(days)
    w = 28  # "yyyy-MM-dd HH:mm:ss.ffffff" with its quotes (int64 ns: years 1677..2262)
    out = np.empty((n, w), np.uint8)
    out[:, [0, 27]] = 34
    out[:, [5, 8]] = 45  # -
    out[:, 11] = 32
    out[:, [14, 17]] = 58  # :
    out[:, 20] = 46
    _digits(out, 1, y, 4)
    _digits(out, 6, mo, 2)
    _digits(out, 9, d, 2)
    _digits(out, 12, sod // 3600, 2)
    _digits(out, 15, (sod // 60) % 60, 2)
    _digits(out, 18, sod % 60, 2)
    _digits(out, 21, frac, 6)
    size = np.where(ns == 0, -1, w).astype(np.int64)
    return Texts(out.reshape(-1), np.arange(n, dtype=np.int64) * w, size)


# ---------------------------------------------------------------- one field
def field_slots(table: Table, f: Field, rows: np.ndarray, vocabs: VocabTexts, prefix: bytes) -> list[Slot]:
    """The member slots of field ``f`` for ``rows`` (``prefix``: its ``"name":``): one value,
    or for a key field its object's members between OPEN and CLOSE."""
    if f.kind in KEY_MEMBERS:
        return _key_slots(table, f, rows, vocabs, prefix)
    return [(VALUE, prefix, field_texts(table, f, rows, vocabs))]


def field_texts(table: Table, f: Field, rows: np.ndarray, vocabs: VocabTexts) -> Texts:
    """JSON texts of field ``f`` (not a key) for ``rows`` (left out where the value is the
    default), as ``schema.encode_value`` gives them value by value."""
    k = f.kind
    n = len(rows)
    if k == "Repeater":
        vals = table.cols[f.name][rows].tolist()
        return _table([orjson.dumps(encode_value(f, v)) if len(v) else None for v in vals])
    x = table.cols[f.name][rows]
    if k == "float":
        bad = (x == 0.0) | ~np.isfinite(x)
        if bad.all():
            return _absent(n)
        return _left_out(_single(x) if f.ftype == "Float" else _dumped(x), bad)
    if k == "string":
        if not x.any():
            return _absent(n)
        return _take(vocabs.texts(table.vocabs[f.name]), x)
    if k == "enum":
        assert f.enum is not None
        idx = x.astype(np.int64)
        names = f.enum.names
        if len(idx) and (idx.min() < 0 or idx.max() >= len(names)):
            return _per_unique(idx, lambda v: _quoted(encode_value(f, v)) if v else None)
        return _take(_enum_table(names), idx)
    if k == "DateKey":
        return _per_unique(x, lambda v: None if v == DATEKEY_NONE else _quoted(encode_value(f, v)))
    if k not in ("int", "flag", "DateTime"):
        raise ValueError(f"field {f.name} of kind {k} has no column encoding")
    zero = x == 0
    if zero.all():
        return _absent(n)
    if k == "DateTime":
        return _datetime_texts(x.astype(np.int64))
    if k == "int" and not f.id_long:
        return _left_out(_dumped(x.astype(np.int64)), zero)
    return _per_unique(x, lambda v: _quoted(encode_value(f, v)) if v else None)  # ID longs, flags


_ENUM_TABLES: dict[tuple[str, ...], Texts] = {}


def _enum_table(names: tuple[str, ...] | list[str]) -> Texts:
    """Quoted names by ordinal; ordinal 0 (the default) left out."""
    key = tuple(names)
    t = _ENUM_TABLES.get(key)
    if t is None:
        t = _ENUM_TABLES[key] = _table([None, *(_quoted(s) for s in key[1:])])
    return t


def _names_table(names: Sequence[str]) -> Texts:
    key = ("\0member", *names)
    t = _ENUM_TABLES.get(key)
    if t is None:
        t = _ENUM_TABLES[key] = _table([_quoted(s) for s in names])
    return t


def _key_slots(table: Table, f: Field, rows: np.ndarray, vocabs: VocabTexts, prefix: bytes) -> list[Slot]:
    """Key objects (``schema.key_to_json`` form) of a key field, from its member columns; left
    out where the ticker is empty."""
    k = f.kind
    c = table.cols
    n = f.name
    tk = c[f"{n}.tk"][rows]
    present = tk != 0
    if not present.any():
        return []
    slots: list[Slot] = [
        (OPEN, prefix + b"{", Texts(_NO_POOL, np.zeros(len(rows), np.int64), np.where(present, 0, -1))),
        (VALUE, b'"at":', _take(_names_table(key_member_names("at")), np.maximum(c[f"{n}.at"][rows], 0))),
        (VALUE, b'"ts":', _take(_names_table(key_member_names("ts")), np.maximum(c[f"{n}.ts"][rows], 0))),
        (VALUE, b'"tk":', _take(vocabs.texts(table.vocabs[f"{n}.tk"]), tk)),
    ]
    if k != "TickerKey":
        days = c[f"{n}.dt"][rows]
        no_dt = days == DATEKEY_NONE
        slots.append((VALUE, b'"dt":', _per_unique(days, lambda v: None if v == DATEKEY_NONE
                                                   else _quoted(datekey_to_text(v)))))
        if k == "OptionKey":
            cpi = c[f"{n}.cp"][rows].astype(np.int64)
            cp_names = [*key_member_names("cp"), ""]
            cpi = np.where(cpi < 0, len(cp_names) - 1, cpi)
            no_cp = no_dt | (cpi == len(cp_names) - 1)
            xx = c[f"{n}.xx"][rows]
            whole = np.isfinite(xx) & (xx == np.floor(xx)) & (np.abs(xx) < 2.0**53)
            xt = _dumped(xx)
            if whole.any():
                xt = _merge(whole, _dumped(np.where(whole, xx, 0.0).astype(np.int64)), xt)
            slots.append((VALUE, b'"xx":', _left_out(xt, no_cp)))
            slots.append((VALUE, b'"cp":', _left_out(_take(_names_table(cp_names), cpi), no_cp)))
    slots.append(_CLOSE)
    return slots


_NO_POOL = np.zeros(0, np.uint8)


# ---------------------------------------------------------------- joining
VALUE, OPEN, CLOSE = 0, 1, 2
#: a member of the objects being built: VALUE (prefix ``"name":`` then the texts; left out
#: where they are), OPEN (prefix ``"name":{``, a nested object, left out with everything up to
#: its CLOSE where the texts' size is -1) or CLOSE (prefix ``}``, texts None)
Slot = tuple[int, bytes, "Texts | None"]
_CLOSE: Slot = (CLOSE, b"}", None)


def build(slots: Sequence[Slot], n: int, open_: bytes = b"{", close: bytes = b"}",
          framing: str = ENVELOPE, msg_num: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` JSON objects of the ``slots`` (members, nested objects between OPEN and CLOSE),
    each inside ``open_`` .. ``close`` and framed for ``framing`` (``_frames``: bare, a
    WebSocket text frame, or a framed-JSON header; a framed-JSON message over the 6-digit
    length is left empty). Returns the bytes of all units one after the other, the n + 1 unit
    offsets, and each object's size unframed."""
    k = len(slots)
    texts = [t for _, _, t in slots]
    offs = np.zeros(k + 1, np.int64)
    if k:
        np.cumsum([0 if t is None else len(t.pool) for t in texts], out=offs[1:])
    pools = [t.pool for t in texts if t is not None]
    pool = np.concatenate(pools) if pools else _NO_POOL
    starts = np.zeros((k, n), np.int64)
    sizes = np.zeros((k, n), np.int64)
    kinds = np.empty(k, np.int64)
    match = np.full(k, -1, np.int64)
    opened: list[int] = []
    for j, (kind, _, t) in enumerate(slots):
        kinds[j] = kind
        if kind == OPEN:
            opened.append(j)
        elif kind == CLOSE:
            match[opened.pop()] = j
        if t is not None:
            np.add(t.start, offs[j], out=starts[j])
            sizes[j] = t.size
    if opened:
        raise ValueError("an OPEN slot without its CLOSE")
    consts = b"".join([open_, close, *(p for _, p, _ in slots)])
    pre = np.empty((k, 2), np.int64)
    pos = len(open_) + len(close)
    for j, (_, p, _) in enumerate(slots):
        pre[j] = pos, len(p)
        pos += len(p)
    return _assemble(pool, starts, sizes, kinds, match, np.frombuffer(consts, np.uint8), pre, len(open_),
                     len(close), _MODES[framing], msg_num, JSONF_MAX_PAYLOAD)


@njit(cache=True, nogil=True)
def _assemble(pool: np.ndarray, starts: np.ndarray, sizes: np.ndarray, kinds: np.ndarray, match: np.ndarray,
              consts: np.ndarray, pre: np.ndarray, n_open: int, n_close: int, mode: int, msg_num: int,
              max_payload: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - jit
    k, n = sizes.shape
    env = np.empty(n, np.int64)
    unit = np.empty(n + 1, np.int64)
    unit[0] = 0
    first = np.ones(k + 1, np.bool_)  # per nesting depth: no member written yet
    for i in range(n):
        m = n_open + n_close
        depth = 0
        first[0] = True
        j = 0
        while j < k:
            kd = kinds[j]
            if kd == 2:
                m += pre[j, 1]
                depth -= 1
                j += 1
                continue
            s = sizes[j, i]
            if s < 0:
                j = match[j] + 1 if kd == 1 else j + 1
                continue
            if not first[depth]:
                m += 1
            first[depth] = False
            m += pre[j, 1] + s
            if kd == 1:
                depth += 1
                first[depth] = True
            j += 1
        env[i] = m
        if mode == 0:
            h = m
        elif mode == 1:
            h = m + (2 if m < 126 else (4 if m < 65536 else 10))
        else:
            h = m + 14 if m <= max_payload else 0
        unit[i + 1] = unit[i] + h
    out = np.empty(unit[n], np.uint8)
    for i in range(n):
        p = unit[i]
        if p == unit[i + 1]:
            continue  # a framed-JSON message too long for its header
        m = env[i]
        if mode == 1:
            out[p] = 0x81
            if m < 126:
                out[p + 1] = m
                p += 2
            elif m < 65536:
                out[p + 1] = 126
                out[p + 2] = m >> 8
                out[p + 3] = m & 255
                p += 4
            else:
                out[p + 1] = 127
                for b in range(8):
                    out[p + 2 + b] = (m >> (8 * (7 - b))) & 255
                p += 10
        elif mode == 2:
            out[p] = 13
            out[p + 1] = 10
            out[p + 2] = 74  # J
            v = msg_num
            for b in range(4, -1, -1):
                out[p + 3 + b] = 48 + v % 10
                v //= 10
            v = m
            for b in range(5, -1, -1):
                out[p + 8 + b] = 48 + v % 10
                v //= 10
            p += 14
        for b in range(n_open):
            out[p + b] = consts[b]
        p += n_open
        depth = 0
        first[0] = True
        j = 0
        while j < k:
            kd = kinds[j]
            ps, pn = pre[j, 0], pre[j, 1]
            if kd == 2:
                for b in range(pn):
                    out[p + b] = consts[ps + b]
                p += pn
                depth -= 1
                j += 1
                continue
            s = sizes[j, i]
            if s < 0:
                j = match[j] + 1 if kd == 1 else j + 1
                continue
            if not first[depth]:
                out[p] = 44
                p += 1
            first[depth] = False
            for b in range(pn):
                out[p + b] = consts[ps + b]
            p += pn
            st = starts[j, i]
            for b in range(s):
                out[p + b] = pool[st + b]
            p += s
            if kd == 1:
                depth += 1
                first[depth] = True
            j += 1
        for b in range(n_close):
            out[p + b] = consts[n_open + b]
    return out, unit, env
