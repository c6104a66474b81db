"""``MsgDesc`` and ``FieldDesc`` records describing the registry (getmsgtypes, getschema)."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from ..schema import Field, MsgType, Registry, registry

__all__ = ["field_desc_records", "msg_desc_records"]

_ACTION_BITS = {"Select": 1, "Insert": 2, "Update": 4, "Replace": 8, "Delete": 16}


def _enum_index(enum_name: str, value: str) -> int:
    e = registry().enums[enum_name]
    i = e.index(value)
    return 0 if i is None else i


def _schema_hash(mt: MsgType) -> str:
    text = "|".join(f"{f.num}:{f.name}:{f.type}" for f in mt.fields)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@functools.cache
def _msg_desc_cached(reg_id: int) -> tuple[dict[str, Any], ...]:
    reg = registry()
    out = []
    for mt in reg.types:
        kinds = {f.kind for f in mt.fields}
        token = mt.token if registry().enums["MLinkToken"].index(mt.token) is not None else ""
        if not token and mt.name == "SpdrAutoHedgeState":
            token = "ClientTrading"  # the data dictionary's token (the page says SystemData)
        has_cf = mt.field("clientFirm") is not None
        time_field = "timestamp" if mt.field("timestamp") is not None else ""
        out.append({
            "name": mt.name,
            "mNum": mt.id,
            "schemaHash": _schema_hash(mt),
            "actions": sum(_ACTION_BITS[a] for a in mt.actions),
            "hasTKey": 1 if "TickerKey" in kinds or mt.option_key_field() else 2,
            "hasEKey": 1 if "ExpiryKey" in kinds or "OptionKey" in kinds else 2,
            "hasOKey": 1 if "OptionKey" in kinds else 2,
            "hasCF": 1 if has_cf else 2,
            "mToken": _enum_index("MLinkToken", token) if token else 0,
            "srseProducts": mt.srse_product,
            "desc": mt.description,
            "topic": mt.topic,
            "autoAssignedPkey": 1 if mt.auto_pkey else 2,
            "priTimeField": time_field,
            "_token": mt.token,
        })
    return tuple(out)


def msg_desc_records(reg: Registry) -> list[dict[str, Any]]:
    """One internal MsgDesc record per message type, sorted by name."""
    return [dict(r) for r in _msg_desc_cached(id(reg))]


def _field_desc(pos: int, f: Field, in_repeater: str = "") -> dict[str, Any]:
    e = f.enum
    return {
        "pos": pos,
        "name": f.name,
        "fNum": f.num,
        "isPkey": 1 if f.is_pkey else 2,
        "inRepeater": in_repeater,
        "fType": _enum_index("FieldType", f.ftype),
        "jsonEncType": "HexId" if f.id_long else "",
        "sLen": f.max_len or 0,
        "eName": e.name if e is not None else "",
        "eSet": ",".join(e.names) if e is not None else "",
        "defaultVal": _default_text(f),
        "desc": f.comment,
    }


def _default_text(f: Field) -> str:
    if f.kind == "enum" and f.enum is not None and f.default:
        return f.enum.names[int(f.default)]  # type: ignore[call-overload]
    if f.kind == "float" and f.default:
        return repr(f.default)
    return ""


def field_desc_records(mt: MsgType) -> list[dict[str, Any]]:
    """One internal FieldDesc record per field (repeater members follow their group)."""
    out: list[dict[str, Any]] = []
    for f in mt.fields:
        out.append(_field_desc(len(out) + 1, f))
        if f.group is not None:
            for gf in f.group.fields:
                out.append(_field_desc(len(out) + 1, gf, f.name))
    return out
