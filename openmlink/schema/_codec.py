"""MLink JSON envelope codec: inbound validation to internal records, outbound encoding.

An internal *record* is a ``dict`` from field name to internal value (see ``_values``):
floats, ints, strings, enum ordinals, flag masks, DateTime ns, DateKey days, key tuples, and
for repeating groups a tuple of such dicts. Inbound records carry only the fields the client
sent; the store fills defaults.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

from ._float32 import float32_shortest, float32_shortest_one
from ._keys import KeyError_, key_from_json, key_to_json
from ._types import INT_RANGES, Field, MsgType
from ._values import (
    DATEKEY_NONE,
    datekey_from_text,
    datekey_to_text,
    datetime_from_text,
    datetime_to_text,
    idlong_from_text,
    idlong_to_text,
)

__all__ = [
    "FIELD_ALIASES",
    "RecordError",
    "decode_record",
    "decode_value",
    "encode_envelope",
    "encode_message",
    "encode_value",
    "encode_values",
    "envelope",
    "fitted",
    "is_default",
    "parse_pkey",
    "pkey_of",
    "pkey_text",
    "split_pkey",
]

#: renamed fields between schema generations: old name (lower case) -> current name
FIELD_ALIASES = {
    "blockauctionstatus": "atsAuctionStatus",
    "blockauctioncounter": "atsAuctionCounter",
    "blockvisibility": "atsVisibility",
}


class RecordError(ValueError):
    """An inbound record is invalid. ``path`` names the place, ``reason`` the problem."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _enum_text(f: Field) -> str:
    assert f.enum is not None
    names = f.enum.names
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"{f.enum.name} ({shown})"


def decode_value(f: Field, v: Any, path: str) -> Any:
    """Validate one inbound JSON value for field ``f`` and return its internal form."""
    kind = f.kind
    if kind == "float":
        if isinstance(v, bool):
            raise RecordError(path, f"expected a number, got {orjson.dumps(v).decode()}")
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, str):
            if v.strip() == "":
                return f.default
            try:
                return float(v)
            except ValueError:
                raise RecordError(path, f"'{v}' is not a number") from None
        raise RecordError(path, f"expected a number, got {type(v).__name__}")
    if kind == "int":
        if f.id_long and isinstance(v, str) and v.strip():
            try:
                return idlong_from_text(v)
            except ValueError as e:
                raise RecordError(path, str(e)) from None
        if isinstance(v, bool):
            raise RecordError(path, f"expected an integer, got {orjson.dumps(v).decode()}")
        if isinstance(v, str):
            if v.strip() == "":
                return f.default
            try:
                v = float(v) if any(c in v for c in ".eE") else int(v)
            except ValueError:
                raise RecordError(path, f"'{v}' is not an integer") from None
        if isinstance(v, float):
            if not v.is_integer():
                raise RecordError(path, f"{v} is not an integer")
            v = int(v)
        if not isinstance(v, int):
            raise RecordError(path, f"expected an integer, got {type(v).__name__}")
        lo, hi = INT_RANGES[f.int_type or "long"]
        if not lo <= v <= hi:
            raise RecordError(path, f"{v} is out of range for {f.int_type} [{lo}, {hi}]")
        return v
    if kind == "string":
        if v is None:
            return ""
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str):
            raise RecordError(path, f"expected a string, got {type(v).__name__}")
        if f.max_len is not None and len(v) > f.max_len:
            raise RecordError(path, f"string of {len(v)} characters exceeds the maximum {f.max_len}")
        return v
    if kind == "enum":
        assert f.enum is not None
        if isinstance(v, str):
            i = f.enum.index(v.strip())
            if i is None:
                if v.strip() == "":
                    return f.default
                raise RecordError(path, f"'{v}' is not a value of enum {_enum_text(f)}")
            return i
        if isinstance(v, int) and not isinstance(v, bool):
            if 0 <= v < len(f.enum.names):
                return v
            raise RecordError(path, f"ordinal {v} is out of range for enum {_enum_text(f)}")
        raise RecordError(path, f"expected an enum name of {_enum_text(f)}")
    if kind == "flag":
        assert f.enum is not None
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, str):
            mask = 0
            for part in v.replace("|", ",").split(","):
                p = part.strip()
                if not p:
                    continue
                i = f.enum.index(p)
                if i is None:
                    raise RecordError(path, f"'{p}' is not a value of flag {_enum_text(f)}")
                mask |= f.enum.codes[i]
            return mask
        raise RecordError(path, f"expected flag names of {_enum_text(f)}")
    if kind == "DateTime":
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, str):
            if v.strip() == "":
                return 0
            try:
                return datetime_from_text(v)
            except ValueError as e:
                raise RecordError(path, str(e)) from None
        raise RecordError(path, "expected a DateTime string yyyy-MM-dd HH:mm:ss.ffffff")
    if kind == "DateKey":
        if isinstance(v, str):
            if v.strip() == "":
                return DATEKEY_NONE
            try:
                return datekey_from_text(v)
            except ValueError as e:
                raise RecordError(path, str(e)) from None
        raise RecordError(path, "expected a date string YYYY-MM-DD")
    if kind in ("TickerKey", "ExpiryKey", "OptionKey"):
        if v is None or v == "":
            return None
        try:
            return key_from_json(kind, v, exact=f.name in ("okey", "ekey", "ticker"))
        except KeyError_ as e:
            raise RecordError(path, str(e)) from None
    if kind == "Repeater":
        assert f.group is not None
        if isinstance(v, dict):
            v = [v]
        if not isinstance(v, list):
            raise RecordError(path, f"repeating group {f.name} must be an array of objects")
        out = []
        for i, item in enumerate(v):
            ipath = f"{path}[{i}]"
            if not isinstance(item, dict):
                raise RecordError(ipath, "expected an object")
            row: dict[str, Any] = {}
            for k, iv in item.items():
                gf = f.group.by_lower.get(str(k).lower())
                if gf is not None:
                    row[gf.name] = decode_value(gf, iv, f"{ipath}.{k}")
            out.append(row)
        return tuple(out)
    raise RecordError(path, f"unsupported field kind {kind}")  # pragma: no cover


def decode_record(mt: MsgType, message: Any, path: str = "$.message") -> dict[str, Any]:
    """Validate an inbound ``message`` body of type ``mt``.

    Key fields may be nested under ``pkey`` or given flat; names match case-insensitively;
    unknown fields are ignored. Returns only the fields present.

    A field named exactly as in the schema whose value already has its internal form (a
    float, an in-range int, a short enough string, an enum member's exact name, a key object
    seen before) takes its type's compiled converter (``_fast_fields``); anything else takes
    ``decode_value`` (same result, the error naming the place), the path text built only then.
    """
    if not isinstance(message, dict):
        raise RecordError(path, f"message body must be an object, got {type(message).__name__}")
    fast = _fast_fields(mt)
    rec: dict[str, Any] = {}
    items: list[tuple[Any, Any, str | None]] = []  # (name, value, path if not path.name)
    pk = None
    for k, v in message.items():
        if k in fast:
            items.append((k, v, None))
        elif isinstance(k, str) and k.lower() == "pkey" and mt.field("pkey") is None:
            pk = v
        else:
            items.append((k, v, None))
    pk_at = f"{path}.pkey"
    if pk is not None:
        if isinstance(pk, dict):
            items.extend((k, v, "") for k, v in pk.items())
        elif isinstance(pk, str) and len(mt.pkey) == 1:
            items.append((mt.pkey[0], pk, pk_at))
        elif isinstance(pk, str):
            items.extend((k, v, pk_at) for k, v in zip(mt.pkey, split_pkey(mt, pk, pk_at),
                                                        strict=True))
        else:
            raise RecordError(pk_at, "pkey must be an object or a flat key string")
    for k, v, p in items:
        hit = fast.get(k)
        if hit is not None:
            x = hit[1](v)
            if x is not _MISS:
                rec[hit[0].name] = x
                continue
            f = hit[0]
        else:
            name = str(k)
            found = mt.field(name) or mt.field(FIELD_ALIASES.get(name.lower(), ""))
            if found is None:
                continue  # unknown inbound fields are ignored (official clients send extras)
            f = found
        where = f"{path}.{k}" if p is None else f"{pk_at}.{k}" if p == "" else p
        rec[f.name] = decode_value(f, v, where)
    return rec


_MISS = object()
_KEYS_MAX = 4096
#: decoded key objects by (kind, exact, the JSON object's items, their types): a client posts
#: the same few series over and over (bounded; cleared when full)
_keys_seen: dict[tuple[Any, ...], Any] = {}
_fast: dict[int, tuple[MsgType, dict[str, tuple[Field, Any]]]] = {}


def _fast_fields(mt: MsgType) -> dict[str, tuple[Field, Any]]:
    """``mt``'s fields by exact name with their fast converters (built once per type): each
    returns the internal value of a value already in its plain form, else ``_MISS``."""
    got = _fast.get(id(mt))
    if got is None or got[0] is not mt:
        got = _fast[id(mt)] = (mt, {f.name: (f, c) for f in mt.fields
                                    if (c := _fast_converter(f)) is not None})
    return got[1]


def _fast_converter(f: Field) -> Any:
    """The fast path of ``decode_value`` for ``f`` (None for a kind that has none)."""
    kind, miss = f.kind, _MISS
    if kind == "float":
        def conv(v: Any) -> Any:
            t = type(v)
            return v if t is float else float(v) if t is int else miss
    elif kind == "int":
        lo, hi = INT_RANGES[f.int_type or "long"]

        def conv(v: Any) -> Any:
            return v if type(v) is int and lo <= v <= hi else miss
    elif kind == "string":
        most = f.max_len if f.max_len is not None else math.inf

        def conv(v: Any) -> Any:
            return v if type(v) is str and len(v) <= most else miss
    elif kind == "enum":
        assert f.enum is not None
        e = f.enum
        exact = {n: i for i, n in enumerate(e.names) if e.by_lower.get(n.lower()) == i}

        def conv(v: Any) -> Any:
            return exact.get(v, miss) if type(v) is str else miss
    elif kind == "DateTime":
        def conv(v: Any) -> Any:
            return v if type(v) is int else miss
    elif kind in ("TickerKey", "ExpiryKey", "OptionKey"):
        whole = f.name in ("okey", "ekey", "ticker")

        def conv(v: Any) -> Any:
            if type(v) is not dict:
                return miss
            k = (kind, whole, tuple(v.items()), tuple(map(type, v.values())))
            try:
                got = _keys_seen.get(k)
            except TypeError:  # an unhashable member: the slow path says what is wrong
                return miss
            if got is None:
                try:
                    got = key_from_json(kind, v, exact=whole)
                except KeyError_:
                    return miss
                if len(_keys_seen) >= _KEYS_MAX:
                    _keys_seen.clear()
                _keys_seen[k] = got
            return got
    else:
        return None
    return conv


def split_pkey(mt: MsgType, text: str, path: str, partial: bool = False) -> list[str]:
    """The parts of a flat pkey text (spec 2.3: fields in pkey order joined by ``|``); with
    ``partial`` a leading subset of the parts is enough (a pkey filter)."""
    parts = text.split("|")
    if len(parts) > len(mt.pkey) or (not partial and len(parts) != len(mt.pkey)):
        raise RecordError(
            path,
            f"{mt.name} pkey has {len(mt.pkey)} parts ({'|'.join(mt.pkey)}), got {len(parts)} "
            f"in '{text}'",
        )
    return parts


def parse_pkey(mt: MsgType, raw: Any, path: str = "pkey") -> tuple[Any, ...]:
    """The pkey tuple of a pkey given as a flat text (``AAPL-NMS-EQT|1|alice``), as the text
    of a JSON object, or as an object (REST ``pkey=``, WebSocket ``msgPKey``). Raises
    ``RecordError`` naming ``path`` and the part at fault."""
    if not mt.pkey:
        raise RecordError(path, f"{mt.name} has no primary key")
    if isinstance(raw, str) and raw.lstrip().startswith("{"):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise RecordError(path, f"not valid JSON ({e})") from None
    if isinstance(raw, dict):
        return pkey_of(mt, decode_record(mt, {"pkey": raw}, path=path))
    if not isinstance(raw, str):
        raise RecordError(path, f"expected a pkey text or object, got {type(raw).__name__}")
    vals = []
    for f, part in zip(mt.pkey_fields, split_pkey(mt, raw, path), strict=True):
        fpath = f"{path}.{f.name}"
        if f.kind in ("TickerKey", "ExpiryKey", "OptionKey"):
            try:
                vals.append(key_from_json(f.kind, part.strip(),
                                          exact=f.name in ("okey", "ekey", "ticker")))
            except KeyError_ as e:
                raise RecordError(fpath, str(e)) from None
        else:
            vals.append(decode_value(f, part, fpath))
    return tuple(vals)


def pkey_of(mt: MsgType, rec: dict[str, Any]) -> tuple[Any, ...]:
    """The record's primary key as a tuple of internal values (pkey field order)."""
    return tuple(rec.get(f.name, f.default) for f in mt.pkey_fields)


def pkey_text(mt: MsgType, pk: tuple[Any, ...]) -> str:
    """Flat string form of a pkey tuple: parts joined by ``|`` (spec 2.3)."""
    got = _pkey_texts.get(id(mt))
    if got is None or got[0] is not mt:
        got = _pkey_texts[id(mt)] = (mt, _pkey_texter(mt))
    return got[1](pk)


def _generic_pkey_text(mt: MsgType, pk: tuple[Any, ...]) -> str:
    return "|".join(
        encode_text(f, v) for f, v in zip(mt.pkey_fields, pk, strict=True)
    )


_pkey_texts: dict[int, tuple[MsgType, Any]] = {}


def _pkey_texter(mt: MsgType) -> Any:
    """``pkey_text`` for ``mt`` as generated code: the tuple unpacked (a length mismatch is a
    ValueError, as the generic ``zip(strict=True)``) and each part's ``encode_text`` inlined
    for its kind."""
    fields = mt.pkey_fields
    if not fields:
        return lambda pk: _generic_pkey_text(mt, pk)
    if len(_pkey_texts) >= 4096:  # types of registries since dropped
        _pkey_texts.clear()
    env: dict[str, Any] = {"f32": float32_shortest_one, "idlong": idlong_to_text,
                           "dt_text": datetime_to_text, "dk_text": datekey_to_text,
                           "DKN": DATEKEY_NONE, "encode_text": encode_text,
                           "isinstance": isinstance, "str": str}
    parts = []
    for i, f in enumerate(fields):
        v, k = f"v{i}", f.kind
        env[f"F{i}"] = f
        if k in ("TickerKey", "ExpiryKey", "OptionKey"):
            parts.append(f"('' if {v} is None else str({v}))")
        elif k == "float":
            parts.append(f"repr(f32(float({v})))" if f.ftype == "Float" else f"repr(float({v}))")
        elif k == "int":
            parts.append(f"idlong({v})" if f.id_long else f"str(int({v}))")
        elif k == "string":
            parts.append(f"({v} if isinstance({v}, str) else str({v}))")
        elif k == "enum" and f.enum is not None:
            env[f"N{i}"] = f.enum.names
            parts.append(f"(N{i}[{v}] if 0 <= {v} < {len(f.enum.names)} and {v}.__class__ is int "
                         f"else encode_text(F{i}, {v}))")
        elif k == "DateTime":
            parts.append(f"dt_text({v})")
        elif k == "DateKey":
            parts.append(f"('' if {v} == DKN else dk_text({v}))")
        else:
            parts.append(f"encode_text(F{i}, {v})")
    names = ", ".join(f"v{i}" for i in range(len(fields)))
    src = f"def text(pk):\n    {names}, = pk\n    return '|'.join(({', '.join(parts)},))\n"
    exec(compile(src, f"<pkey_text {mt.name}>", "exec"), env)
    return env["text"]


def encode_text(f: Field, v: Any) -> str:
    """Text form of one internal value (flat keys, enum names, dates)."""
    kind = f.kind
    if kind in ("TickerKey", "ExpiryKey", "OptionKey"):
        return "" if v is None else str(v)
    if kind == "float":
        return repr(float32_shortest_one(float(v)) if f.ftype == "Float" else float(v))
    j = encode_value(f, v)
    return j if isinstance(j, str) else str(j)


def is_default(f: Field, v: Any) -> bool:
    if v is None:
        return True
    kind = f.kind
    if kind == "float":
        return v == 0.0 or not math.isfinite(v)  # NaN/inf have no JSON form: left out
    if kind in ("int", "enum", "flag", "DateTime"):
        return v == 0
    if kind == "string":
        return v == ""
    if kind == "DateKey":
        return v == DATEKEY_NONE
    if kind == "Repeater":
        return len(v) == 0
    return False


def encode_value(f: Field, v: Any) -> Any:
    """Internal value -> JSON value."""
    kind = f.kind
    if kind == "float":  # a schema float goes out in single precision (MLink's form)
        x = float(v)
        if not math.isfinite(x):
            return None
        return float32_shortest_one(x) if f.ftype == "Float" else x
    if kind == "int":
        return idlong_to_text(v) if f.id_long else int(v)
    if kind == "string":
        return v
    if kind == "enum":
        assert f.enum is not None
        return f.enum.names[int(v)] if 0 <= int(v) < len(f.enum.names) else str(int(v))
    if kind == "flag":
        assert f.enum is not None
        names = [n for n, c in zip(f.enum.names, f.enum.codes, strict=True) if c and int(v) & c]
        return ",".join(names) if names else f.enum.names[0]
    if kind == "DateTime":
        return datetime_to_text(v)
    if kind == "DateKey":
        return "" if v == DATEKEY_NONE else datekey_to_text(v)
    if kind in ("TickerKey", "ExpiryKey", "OptionKey"):
        return key_to_json(v)
    if kind == "Repeater":
        assert f.group is not None
        return [
            {gf.name: encode_value(gf, row[gf.name]) for gf in f.group.fields
             if gf.name in row and not is_default(gf, row[gf.name])}
            for row in v
        ]
    raise ValueError(kind)  # pragma: no cover


def _by_unique(x: np.ndarray, fn: Any) -> list[Any]:
    """Apply ``fn`` once per distinct value and gather."""
    uniq, inv = np.unique(x, return_inverse=True)
    out = np.empty(len(uniq), dtype=object)
    out[:] = [fn(v) for v in uniq.tolist()]
    return out[inv.reshape(-1)].tolist()


def encode_values(f: Field, x: np.ndarray) -> list[Any]:
    """The column form of ``encode_value``: JSON values of an array of internal values of
    ``f`` (numeric, enum, flag, DateTime, DateKey kinds), None where the value is the default
    (left out on the wire). Same JSON as ``encode_value`` value by value, built per column."""
    k = f.kind
    if len(x) == 0:
        return []
    if k == "float":  # a schema float goes out in single precision (MLink's form)
        bad = (x == 0.0) | ~np.isfinite(x)
        if bad.all():
            return [None] * len(x)
        return _none_where(float32_shortest(x) if f.ftype == "Float" else x, bad)
    if k == "enum":
        assert f.enum is not None
        names = np.array([None, *f.enum.names[1:]], dtype=object)
        idx = x.astype(np.int64)
        if (idx < 0).any() or (idx >= len(names)).any():
            return [encode_value(f, v) if v else None for v in idx.tolist()]
        return names[idx].tolist()
    if k == "DateKey":
        return _by_unique(x, lambda v: None if v == DATEKEY_NONE else encode_value(f, v))
    if k not in ("int", "flag", "DateTime"):
        raise ValueError(f"encode_values: field {f.name} of kind {k} is not a column of scalars")
    zero = x == 0
    if zero.all():
        return [None] * len(x)
    if k == "int" and not f.id_long:
        return _none_where(x, zero)
    vals: list[Any]
    if k == "DateTime":
        txt = x.astype("datetime64[ns]").astype("datetime64[us]").astype(str)
        vals = list(np.char.replace(txt.astype(str), "T", " ").tolist())
    else:  # ID-style longs and flags: text per distinct value
        vals = _by_unique(x, lambda v: encode_value(f, v))
    if zero.any():
        for i in np.flatnonzero(zero).tolist():
            vals[i] = None
    return vals


def _none_where(x: np.ndarray, mask: np.ndarray) -> list[Any]:
    """``x`` as Python values, None where ``mask``."""
    if not mask.any():
        return x.tolist()  # type: ignore[no-any-return]
    vals = np.array(x.tolist(), dtype=object)
    vals[mask] = None
    return vals.tolist()  # type: ignore[no-any-return]


def encode_message(
    mt: MsgType, rec: dict[str, Any], view: frozenset[str] | None = None
) -> dict[str, Any]:
    """Internal record -> JSON ``message`` body: pkey nested, default values left out."""
    body: dict[str, Any] = {}
    if mt.pkey_fields:
        body["pkey"] = {
            f.name: encode_value(f, rec[f.name])
            for f in mt.pkey_fields
            if f.name in rec and not is_default(f, rec[f.name])
        }
    for f in mt.fields:
        if f.is_pkey or (view is not None and f.name not in view):
            continue
        v = rec.get(f.name)
        if v is None or is_default(f, v):
            continue
        body[f.name] = encode_value(f, v)
    return body


def fitted(data: bytes) -> bytes:
    """``data`` copied into a bytes object of its own size, for bytes that are kept (queued,
    cached, batched). orjson (3.12 on, measured with 3.13) returns every ``dumps`` result inside
    the buffer it wrote it in, 4 KiB at least: an 89-byte heartbeat kept 4,120 bytes of C heap
    (``mallinfo2``), invisible to ``sys.getsizeof`` and to Python's object counts -- 50 clients
    that stopped reading grew a soak's heap by ~1.2 MiB a minute (bench/soak.py), and a history
    batch of 4,096 versions waiting for its commit held 16 MiB (32 KiB copied to size). The
    copy costs ~0.15 us CPU per result of 0.1-1 KiB (bench/bench_held_bytes.py)."""
    return memoryview(data).tobytes()


def envelope(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"header": {"mTyp": name}, "message": body}


def encode_envelope(mt: MsgType, rec: dict[str, Any], view: frozenset[str] | None = None) -> bytes:
    return orjson.dumps(envelope(mt.name, encode_message(mt, rec, view)))
