"""``message_encoder``: ``encode_message`` compiled per message type (the same JSON body, key
for key and in the same order), for writers that encode every version of a record."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ._codec import encode_value, is_default
from ._float32 import float32_shortest_one
from ._keys import key_to_json
from ._types import MsgType
from ._values import DATEKEY_NONE, datekey_to_text, datetime_to_text, idlong_to_text

__all__ = ["message_encoder"]

Encoder = Callable[[dict[str, Any]], dict[str, Any]]

# how a field's value is left out and encoded (``is_default`` / ``encode_value`` by kind)
_F32, _F64, _INT, _IDLONG, _ENUM, _STR, _DT, _DK, _KEY, _OTHER = range(10)

_encoders: dict[int, tuple[MsgType, Encoder]] = {}


def _first(hit: tuple[Any, str, Any]) -> int:
    return int(hit[0][0])


def _code(f: Any) -> int:
    k = f.kind
    if k == "float":
        return _F32 if f.ftype == "Float" else _F64
    if k == "int":
        return _IDLONG if f.id_long else _INT
    if k == "enum":
        return _ENUM
    if k == "string":
        return _STR
    if k == "DateTime":
        return _DT
    if k == "DateKey":
        return _DK
    if k in ("TickerKey", "ExpiryKey", "OptionKey"):
        return _KEY
    return _OTHER  # flags, repeating groups: the generic path


def message_encoder(mt: MsgType) -> Encoder:
    """A function from an internal record of ``mt`` to its JSON ``message`` body: what
    ``encode_message(mt, rec)`` returns (no view), with the per-field dispatch done once."""
    got = _encoders.get(id(mt))
    if got is not None and got[0] is mt:
        return got[1]
    pkey = [(f.name, f) for f in mt.pkey_fields]
    # per non-pkey field: (position, how, enum names, field); a record is walked by its own
    # items, skipping falsy values (the defaults: 0, 0.0, "", None, an empty group; a DateKey's
    # is DATEKEY_NONE and its falsy 0 a date), and the few left are put back in field order
    at = {f.name: (i, _code(f), f.enum.names if f.enum is not None else (), f)
          for i, f in enumerate(mt.fields) if not f.is_pkey}
    zero_dates = {f.name for f in mt.fields if f.kind == "DateKey"}  # day 0 is a date
    isfinite = math.isfinite
    f32 = float32_shortest_one
    has_pkey = bool(mt.pkey_fields)
    times: dict[int, str] = {}  # DateTime text by value: versions of a record share their times

    def encode(rec: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if has_pkey:
            body["pkey"] = {n: encode_value(f, rec[n]) for n, f in pkey
                            if n in rec and not is_default(f, rec[n])}
        get = at.get
        hits = [(p, k, v) for k, v in rec.items()
                if (v or (v == 0 and k in zero_dates)) and (p := get(k)) is not None]
        hits.sort(key=_first)
        for (_i, c, names, f), name, v in hits:
            if c <= _F64:
                if isfinite(v):  # NaN/inf have no JSON form: left out
                    body[name] = f32(float(v)) if c == _F32 else float(v)
            elif c == _INT:
                body[name] = int(v)
            elif c == _ENUM:
                i = int(v)
                body[name] = names[i] if 0 <= i < len(names) else str(i)
            elif c == _STR:
                body[name] = v
            elif c == _DT:
                txt = times.get(v)
                if txt is None:
                    if len(times) >= 256:
                        times.clear()
                    txt = times[v] = datetime_to_text(v)
                body[name] = txt
            elif c == _IDLONG:
                body[name] = idlong_to_text(v)
            elif c == _DK:
                if v != DATEKEY_NONE:
                    body[name] = datekey_to_text(v)
            elif c == _KEY:
                body[name] = key_to_json(v)
            elif not is_default(f, v):
                body[name] = encode_value(f, v)
        return body

    if len(_encoders) >= 4096:  # types of registries since dropped
        _encoders.clear()
    _encoders[id(mt)] = (mt, encode)
    return encode
