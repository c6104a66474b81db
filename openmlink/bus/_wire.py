"""The wire encoding of bus messages: one ``Event`` or ``ColumnBatch`` as bytes.

This is the one compact encoding of the project: recordings (``market.Recorder``) are frames
of these messages, and ``NatsBus`` sends one message per NATS payload.  Little-endian::

    message   u8 kind (1 ColumnBatch, 2 upsert Event, 3 merge upsert Event, 4 delete Event)
              i64 t_ns (clock time when recorded/sent)  i64 sent_ts  str type_name  body
    str       u16 len  utf-8 bytes
    batch     u32 rows  u16 columns  column*
    column    str name  u8 code  data
                code 1 numeric: str dtype (numpy ``dtype.str``)  raw bytes
                code 2 strings: u32 n_words  u32 len  words joined by NUL  codes (u16 or u32
                  per row, u8 width first)
    event     u32 len  JSON record (keys and repeating groups tagged, floats exact)

Columns keep their exact dtype and bytes and strings are dictionary-coded per message, so a
decoded message is bit-identical to the one encoded.  An ``Event``'s ``origin`` is not part of
the encoding (the NATS bus carries it in a header).
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson

from ..schema import ExpiryKey, OptionKey, TickerKey, registry
from ._bus import ColumnBatch, Event

__all__ = ["decode_message", "decode_messages", "encode_message"]

_KINDS = {1: "batch", 2: "upsert", 3: "merge", 4: "delete"}
_KEY_TYPES = {"TickerKey": TickerKey, "ExpiryKey": ExpiryKey, "OptionKey": OptionKey}
Message = Event | ColumnBatch


def _str(buf: io.BytesIO, s: str) -> None:
    b = s.encode()
    buf.write(struct.pack("<H", len(b)))
    buf.write(b)


def _to_json(v: Any) -> Any:
    if isinstance(v, (TickerKey, ExpiryKey, OptionKey)):
        return {"$K": type(v).__name__, "v": list(v)}
    if isinstance(v, float) and not math.isfinite(v):
        return {"$F": repr(v)}
    if isinstance(v, tuple):
        return {"$T": [_to_json(x) for x in v]}
    if isinstance(v, dict):
        return {k: _to_json(x) for k, x in v.items()}
    return v


def _from_json(v: Any) -> Any:
    if isinstance(v, dict):
        if "$K" in v:
            return _KEY_TYPES[v["$K"]](*v["v"])
        if "$F" in v:
            return float(v["$F"])
        if "$T" in v:
            return tuple(_from_json(x) for x in v["$T"])
        return {k: _from_json(x) for k, x in v.items()}
    return v


def _write_column(buf: io.BytesIO, name: str, col: Any) -> None:
    arr = np.asarray(col)
    _str(buf, name)
    if arr.dtype.kind in "OUS":
        words, codes = np.unique(arr.astype(str), return_inverse=True)
        joined = "\0".join(words.tolist()).encode()
        buf.write(struct.pack("<BII", 2, len(words), len(joined)))
        buf.write(joined)
        width = 2 if len(words) < 65536 else 4
        buf.write(struct.pack("<B", width))
        buf.write(codes.astype("<u2" if width == 2 else "<u4").tobytes())
        return
    buf.write(struct.pack("<B", 1))
    _str(buf, arr.dtype.str)
    buf.write(np.ascontiguousarray(arr).tobytes())


def encode_message(msg: Message, t_ns: int) -> bytes:
    buf = io.BytesIO()
    if isinstance(msg, ColumnBatch):
        kind = 1
    else:
        kind = 4 if msg.kind == "delete" else (3 if msg.merge else 2)
    buf.write(struct.pack("<Bqq", kind, t_ns, msg.sent_ts))
    _str(buf, msg.mt.name)
    if isinstance(msg, ColumnBatch):
        cols = list(msg.data.items())
        rows = len(cols[0][1]) if cols else 0
        buf.write(struct.pack("<IH", rows, len(cols)))
        for name, col in cols:
            _write_column(buf, name, col)
    else:
        body = orjson.dumps(_to_json(msg.rec))
        buf.write(struct.pack("<I", len(body)))
        buf.write(body)
    return buf.getvalue()


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.mv = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.mv):
            raise ValueError(f"payload ends {self.pos + n - len(self.mv)} bytes early")
        out = self.mv[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        return struct.unpack_from(fmt, self.take(size))

    def str(self) -> str:
        (n,) = self.unpack("<H")
        return bytes(self.take(n)).decode()


def _read_column(r: _Reader, rows: int) -> tuple[str, Any]:
    name = r.str()
    (code,) = r.unpack("<B")
    if code == 1:
        dt = np.dtype(r.str())
        return name, np.frombuffer(r.take(rows * dt.itemsize), dt).copy()
    nwords, nbytes = r.unpack("<II")
    words = bytes(r.take(nbytes)).decode().split("\0") if nwords else []
    (width,) = r.unpack("<B")
    codes = np.frombuffer(r.take(rows * width), "<u2" if width == 2 else "<u4")
    table = np.empty(len(words), dtype=object)
    table[:] = words
    return name, table[codes] if rows else np.empty(0, dtype=object)


def decode_messages(payload: bytes) -> Iterator[tuple[int, Message]]:
    reg = registry()
    r = _Reader(payload)
    while r.pos < len(payload):
        kind, t_ns, sent_ts = r.unpack("<Bqq")
        if kind not in _KINDS:
            raise ValueError(f"message kind {kind} unknown")
        mt = reg[r.str()]
        if kind == 1:
            rows, ncols = r.unpack("<IH")
            data = dict(_read_column(r, rows) for _ in range(ncols))
            yield t_ns, ColumnBatch(mt, data, sent_ts)
        else:
            (n,) = r.unpack("<I")
            rec = _from_json(orjson.loads(bytes(r.take(n))))
            ev_kind = "delete" if kind == 4 else "upsert"
            yield t_ns, Event(mt, ev_kind, rec, sent_ts, merge=(kind == 3))


def decode_message(payload: bytes) -> tuple[int, Message]:
    """The one message of ``payload`` (``ValueError`` if it holds none or more than one)."""
    it = decode_messages(payload)
    first = next(it, None)
    if first is None:
        raise ValueError("empty payload")
    if next(it, None) is not None:
        raise ValueError("payload holds more than one message")
    return first
