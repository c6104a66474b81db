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
    plan = [(f.name, _code(f), f.enum.names if f.enum is not None else (), f)
            for f in mt.fields if not f.is_pkey]
    isfinite = math.isfinite
    f32 = float32_shortest_one
    has_pkey = bool(mt.pkey_fields)

    def encode(rec: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if has_pkey:
            body["pkey"] = {n: encode_value(f, rec[n]) for n, f in pkey
                            if n in rec and not is_default(f, rec[n])}
        get = rec.get
        for name, c, names, f in plan:
            v = get(name)
            if v is None:
                continue
            if c <= _F64:
                if v == 0.0 or not isfinite(v):
                    continue
                body[name] = f32(float(v)) if c == _F32 else float(v)
            elif c == _INT:
                if v != 0:
                    body[name] = int(v)
            elif c == _ENUM:
                if v != 0:
                    i = int(v)
                    body[name] = names[i] if 0 <= i < len(names) else str(i)
            elif c == _STR:
                if v != "":
                    body[name] = v
            elif c == _DT:
                if v != 0:
                    body[name] = datetime_to_text(v)
            elif c == _IDLONG:
                if v != 0:
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
