"""``message_encoder``: ``encode_message`` compiled per message type (the same JSON body, key
for key and in the same order), for writers that encode every version of a record.

A record *shape* (its field names in order) seen ``COMPILE_AFTER`` times gets a function of its
own, generated once: straight-line code over exactly the shape's fields in field order, each
with its kind's test and conversion inlined (no per-item dispatch, no sort).  Engines publish
the same few shapes over and over (a broker state always carries the same fields), so nearly
every encode takes a compiled path; a shape met only now and then takes the generic walk."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ._codec import encode_value, is_default
from ._float32 import float32_shortest_one
from ._keys import key_to_json
from ._types import MsgType
from ._values import DATEKEY_NONE, datekey_to_text, datetime_to_text, idlong_to_text

__all__ = ["COMPILE_AFTER", "compile_shape", "message_encoder"]

Encoder = Callable[[dict[str, Any]], dict[str, Any]]

#: encodes of one shape before it is compiled (a one-off shape never pays the compilation)
COMPILE_AFTER = 4
#: compiled shapes kept per type, and shapes counted before the count starts again
_SHAPES_MAX = 64
_SEEN_MAX = 1024
#: compiled functions kept at most over every encoder of the process (clients choose views:
#: a bound on the code kept, whatever they send); reaching it drops them all (recompiled as
#: their shapes come back)
_COMPILED_MAX = 1024
_compiled = [0]
_shape_tables: list[dict[tuple[str, ...], Encoder]] = []


def _drop_compiled() -> None:
    for t in _shape_tables:
        t.clear()
    _compiled[0] = 0

# how a field's value is left out and encoded (``is_default`` / ``encode_value`` by kind)
_F32, _F64, _INT, _IDLONG, _ENUM, _STR, _DT, _DK, _KEY, _OTHER = range(10)

_encoders: dict[tuple[int, frozenset[str] | None], tuple[MsgType, Encoder]] = {}


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


def message_encoder(mt: MsgType, view: frozenset[str] | None = None) -> Encoder:
    """A function from an internal record of ``mt`` to its JSON ``message`` body: what
    ``encode_message(mt, rec, view)`` returns, with the per-field dispatch done once."""
    got = _encoders.get((id(mt), view))
    if got is not None and got[0] is mt:
        return got[1]
    pkey = [(f.name, f) for f in mt.pkey_fields]
    # per non-pkey field: (position, how, enum names, field); a record is walked by its own
    # items, skipping falsy values (the defaults: 0, 0.0, "", None, an empty group; a DateKey's
    # is DATEKEY_NONE and its falsy 0 a date), and the few left are put back in field order
    at = {f.name: (i, _code(f), f.enum.names if f.enum is not None else (), f)
          for i, f in enumerate(mt.fields) if not f.is_pkey and (view is None or f.name in view)}
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

    shapes: dict[tuple[str, ...], Encoder] = {}
    seen: dict[tuple[str, ...], int] = {}

    def dt_text(v: int) -> str:
        txt = times.get(v)
        if txt is None:
            if len(times) >= 256:
                times.clear()
            txt = times[v] = datetime_to_text(v)
        return txt

    def by_shape(rec: dict[str, Any]) -> dict[str, Any]:
        shape = tuple(rec)
        fn = shapes.get(shape)
        if fn is not None:
            return fn(rec)
        n = seen.get(shape, 0) + 1
        if n < COMPILE_AFTER or len(shapes) >= _SHAPES_MAX:
            if len(seen) >= _SEEN_MAX:
                seen.clear()
            seen[shape] = n
            return encode(rec)
        seen.pop(shape, None)
        if _compiled[0] >= _COMPILED_MAX:
            _drop_compiled()
        _compiled[0] += 1
        fn = shapes[shape] = _compile(mt, shape, dt_text, view)
        return fn(rec)

    by_shape.shapes = shapes  # type: ignore[attr-defined]  # the compiled ones (for tests)
    if len(_encoders) >= 4096:  # types of registries since dropped, views no longer asked
        _encoders.clear()
        _generic.clear()
        _drop_compiled()
        _shape_tables.clear()
    _shape_tables.append(shapes)
    _encoders[(id(mt), view)] = (mt, by_shape)
    _generic[(id(mt), view)] = (mt, encode, dt_text)
    return by_shape


_generic: dict[tuple[int, frozenset[str] | None], tuple[MsgType, Encoder, Callable[[int], str]]] = {}


def compile_shape(mt: MsgType, shape: tuple[str, ...], view: frozenset[str] | None = None
                  ) -> Encoder:
    """The function ``message_encoder(mt, view)`` compiles for records with exactly the field
    names ``shape`` in that order (for tests: the compiled path without its warm-up)."""
    message_encoder(mt, view)
    return _compile(mt, shape, _generic[(id(mt), view)][2], view)


def _compile(mt: MsgType, shape: tuple[str, ...], dt_text: Callable[[int], str],
             view: frozenset[str] | None = None) -> Encoder:
    """Generated code encoding records of ``shape`` exactly as the generic walk does: the
    pkey fields present (nested, in pkey order, defaults left out), then the other fields of
    the type present, in field order, falsy values (defaults) and non-finite floats left
    out."""
    pkey_names = {f.name for f in mt.pkey_fields}
    names = {n for n in shape if view is None or n in view or n in pkey_names}
    env: dict[str, Any] = {"isfinite": math.isfinite, "f32": float32_shortest_one,
                           "idlong": idlong_to_text, "dt_text": dt_text, "k2j": key_to_json,
                           "dk_text": datekey_to_text, "DKN": DATEKEY_NONE,
                           "isdef": is_default, "encv": encode_value}
    lines = ["def encode(rec):"]
    if mt.pkey_fields:
        lines.append("    pk = {}")
        lines.append("    body = {'pkey': pk}")
    else:
        lines.append("    body = {}")
    index = {f.name: i for i, f in enumerate(mt.fields)}
    for f in mt.pkey_fields:  # the pkey object in pkey order (not field order)
        if f.name in names:
            i = index[f.name]
            env[f"F{i}"] = f
            lines.append(f"    v = rec[{f.name!r}]")
            lines.extend(_pkey_lines(f, i, repr(f.name), env))
    for i, f in enumerate(mt.fields):
        if f.name not in names or f.is_pkey:
            continue
        fv, nm = f"F{i}", repr(f.name)
        env[fv] = f
        lines.append(f"    v = rec[{nm}]")
        c = _code(f)
        if c == _F32:
            lines.append(f"    if v and isfinite(v): body[{nm}] = f32(float(v))")
        elif c == _F64:
            lines.append(f"    if v and isfinite(v): body[{nm}] = float(v)")
        elif c == _INT:
            lines.append(f"    if v: body[{nm}] = int(v)")
        elif c == _IDLONG:
            lines.append(f"    if v: body[{nm}] = idlong(v)")
        elif c == _ENUM:
            assert f.enum is not None
            env[f"N{i}"] = f.enum.names
            lines.append("    if v:")
            lines.append("        i = int(v)")
            lines.append(f"        body[{nm}] = N{i}[i] if 0 <= i < {len(f.enum.names)} else str(i)")
        elif c == _STR:
            lines.append(f"    if v: body[{nm}] = v")
        elif c == _DT:
            lines.append(f"    if v: body[{nm}] = dt_text(v)")
        elif c == _DK:  # day 0 is a date
            lines.append(f"    if (v or v == 0) and v != DKN: body[{nm}] = dk_text(v)")
        elif c == _KEY:
            lines.append(f"    if v: body[{nm}] = k2j(v)")
        else:
            lines.append(f"    if v and not isdef({fv}, v): body[{nm}] = encv({fv}, v)")
    lines.append("    return body")
    exec(compile("\n".join(lines), f"<encoder {mt.name}>", "exec"), env)
    return env["encode"]  # type: ignore[no-any-return]


def _pkey_lines(f: Any, i: int, nm: str, env: dict[str, Any]) -> list[str]:
    """A pkey field: left out when ``is_default``, else ``encode_value`` (inlined for the
    common kinds)."""
    k = f.kind
    if k == "string":
        return [f"    if v is not None and v != '': pk[{nm}] = v"]
    if k == "int":
        conv = "idlong(v)" if f.id_long else "int(v)"
        return [f"    if v is not None and v != 0: pk[{nm}] = {conv}"]
    if k == "enum":
        env[f"N{i}"] = f.enum.names
        return ["    if v is not None and v != 0:",
                "        i = int(v)",
                f"        pk[{nm}] = N{i}[i] if 0 <= i < {len(f.enum.names)} else str(i)"]
    if k in ("TickerKey", "ExpiryKey", "OptionKey"):
        return [f"    if v is not None: pk[{nm}] = k2j(v)"]
    return [f"    if not isdef(F{i}, v): pk[{nm}] = encv(F{i}, v)"]
