"""The message-type registry, compiled once from the schema data files in ``data/``.

``registry()`` returns the process-wide ``Registry``; building it parses every schema file,
resolves enum types and classifies each field, so that decoding and querying never look at
the JSON again.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

from . import _keys
from ._types import INT_RANGES, EnumType, Field, MsgType, Repeater
from ._values import DATEKEY_NONE, datekey_from_text, datetime_from_text

__all__ = ["ADMIN_ACTIONS", "CLIENT_ACTIONS", "ID_LONG_FIELDS", "Registry", "registry"]

#: Which actions clients may take per message type (MsgDesc.actions, "SIURD").
#: Every type not listed is published by the server only and is read-only ("Select").
CLIENT_ACTIONS: dict[str, str] = {
    "SpdrParentOrder": "SI",  # orders are immutable once stored; changes come as new parents
    "SpdrParentLimit": "SIUR",  # limit replaces of a working broker (seed posts I and U)
    "SpdrParentCancel": "SI",
    "NoticeResponse": "SIUD",  # auction responses: replace by responseId chain, cancel by delete
    "SpanRiskCalculator": "SIURD",  # calculator inputs
    "SpdrTheoExpSurface": "SIURD",  # client theo surfaces
    "SpdrTheoExp2PtCurve": "SIURD",
    "SpdrOptTheoRecord": "SIURD",
    "TickerItemDef": "SIURD",  # client ticker baskets (MLinkStream.tickerBasket)
    "SpdrAutoHedgeControl": "SIURD",  # autohedge configuration per group (trading.md §4)
    # risk-group controls: isDisabled and the group's limits (trading.md §1.9); a firm-bound
    # key posts its own firm's (riskFirm) only
    "SpdrRiskGroupControl": "SIUR",
}

#: openmlink extensions, not MLink: actions only an operator's key (``admin = true`` in the
#: keys file) may take beyond ``CLIENT_ACTIONS``.  An update of a SpdrParentExecution with
#: ``execStatus`` Bust (or Correct and a new ``fillPrice``) busts (corrects) that fill
#: (docs/trading.md "Busts and corrections").
ADMIN_ACTIONS: dict[str, str] = {"SpdrParentExecution": "U"}

#: Types whose pkey the server assigns on insert (MsgDesc.autoAssignedPkey).
AUTO_PKEY = frozenset({"SpdrParentOrder"})

#: ``long`` fields carried on the wire as 16 hex digits in 4 dashed groups (spec 2.4).
ID_LONG_FIELDS = frozenset(
    {
        "parentNumber", "baseParentNumber", "modifyNumber", "bParentNumber", "sParentNumber",
        "noticeNumber", "groupingCode", "riskGroupId", "fillNumber", "triggerGroupId",
    }
)

_ACTION_NAMES = {"S": "Select", "I": "Insert", "U": "Update", "R": "Replace", "D": "Delete"}
_STRING_RE = re.compile(r"^string(?:\((\d+)\))?$")
_FTYPE = {
    "double": "Double", "float": "Float", "long": "Long", "int": "Int", "uint": "UInt",
    "short": "Short", "ushort": "UShort", "byte": "Byte", "ulong": "ULong", "text1": "Text1",
    "text2": "Text2", "DateTime": "DateTime", "DateKey": "DateKey", "TimeSpan": "TimeSpan",
    "TickerKey": "TickerKey", "ExpiryKey": "ExpiryKey", "OptionKey": "OptionKey",
}


class Registry:
    """All message types, by name (case-insensitive) and by numeric id."""

    def __init__(self, types: list[MsgType], enums: dict[str, EnumType]) -> None:
        self.types: tuple[MsgType, ...] = tuple(sorted(types, key=lambda t: t.name))
        self.enums = enums
        self._by_lower = {t.name.lower(): t for t in types}
        self._by_id = {t.id: t for t in types if t.id}

    def get(self, name_or_id: str | int) -> MsgType | None:
        """Look a type up by name (any case) or by numeric id (int or digit string)."""
        if isinstance(name_or_id, int):
            return self._by_id.get(name_or_id)
        text = name_or_id.strip()
        if text.isdigit():
            return self._by_id.get(int(text))
        return self._by_lower.get(text.lower())

    def __getitem__(self, name: str) -> MsgType:
        t = self.get(name)
        if t is None:
            raise KeyError(name)
        return t

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.types)

    def __len__(self) -> int:
        return len(self.types)


def _load_json(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath("data", name).read_text("utf-8"))


def _build_enums(raw: dict[str, Any]) -> dict[str, EnumType]:
    out: dict[str, EnumType] = {}
    for name, members in raw.items():
        if name.startswith("_"):
            continue
        names = tuple(m["name"] for m in members)
        codes = tuple(
            (m.get("protoCode") if m.get("protoCode") is not None else i)
            for i, m in enumerate(members)
        )
        by_lower: dict[str, int] = {}
        for i, n in enumerate(names):
            by_lower.setdefault(n.lower(), i)
        out[name] = EnumType(name, names, codes, False, by_lower)
    return out


def _flag_enum(e: EnumType) -> EnumType:
    return EnumType(e.name, e.names, e.codes, True, dict(e.by_lower))


def _default_of(kind: str, raw: Any, enum: EnumType | None, name: str) -> Any:
    if kind == "float":
        return float(raw) if raw not in (None, "") else 0.0
    if kind == "int":
        return int(float(raw)) if raw not in (None, "") else 0
    if kind == "string":
        return "" if raw is None else str(raw)
    if kind == "enum":
        if raw not in (None, "") and enum is not None:
            i = enum.index(str(raw))
            if i is None:
                raise ValueError(f"default '{raw}' of {name} is not in enum {enum.name}")
            return i
        return 0
    if kind == "flag":
        return 0
    if kind == "DateTime":
        # a documented default (e.g. "2000-01-01") is only a display convention: 0 = unset
        if raw not in (None, ""):
            datetime_from_text(str(raw))
        return 0
    if kind == "DateKey":
        return datekey_from_text(str(raw)) if raw not in (None, "") else DATEKEY_NONE
    return None  # keys, repeaters


def _build_field(
    raw: dict[str, Any], enums: dict[str, EnumType], in_repeater: str = ""
) -> Field:
    t = raw["type"].strip()
    enum: EnumType | None = None
    max_len: int | None = None
    int_type: str | None = None
    if t.startswith("enum") or t.startswith("flag"):
        ename = (raw.get("enum") or t.split(":", 1)[1]).strip()
        base = enums.get(ename)
        if base is None:
            values = raw.get("values") or ["None"]
            base = EnumType(
                ename, tuple(values), tuple(range(len(values))), False,
                {v.lower(): i for i, v in enumerate(values)},
            )
            enums[ename] = base
        kind = "enum" if t.startswith("enum") else "flag"
        enum = base if kind == "enum" else _flag_enum(base)
        ftype = "Enum" if kind == "enum" else "Flag"
    elif t in ("double", "float"):
        kind, ftype = "float", _FTYPE[t]
    elif t in INT_RANGES:
        kind, ftype, int_type = "int", _FTYPE[t], t
    elif (m := _STRING_RE.match(t)) is not None:
        kind, ftype = "string", "String"
        max_len = int(m.group(1)) if m.group(1) else None
    elif t in ("text1", "text2", "TimeSpan"):
        kind, ftype = "string", _FTYPE[t]
    elif t in ("DateTime", "DateKey", "TickerKey", "ExpiryKey", "OptionKey"):
        kind, ftype = t, t
    else:
        raise ValueError(f"unknown field type {t!r} of {raw['name']}")
    name = raw["name"]
    return Field(
        num=int(raw["num"]),
        name=name,
        type=t,
        kind=kind,
        ftype=ftype,
        enum=enum,
        default=_default_of(kind, raw.get("default"), enum, name),
        is_pkey=bool(raw.get("pkey")),
        max_len=max_len,
        int_type=int_type,
        id_long=(kind == "int" and int_type == "long" and name in ID_LONG_FIELDS),
        comment=raw.get("comment") or "",
        in_repeater=in_repeater,
    )


def _build_type(raw: dict[str, Any], enums: dict[str, EnumType]) -> MsgType:
    name = raw["name"]
    fields = [_build_field(f, enums) for f in raw["fields"]]
    for g in raw.get("repeated") or []:
        gfields = tuple(_build_field(f, enums, g["name"]) for f in g["fields"])
        rep = Repeater(g["name"], int(g["num"]), gfields, {f.name.lower(): f for f in gfields})
        fields.append(
            Field(num=int(g["num"]), name=g["name"], type="Repeater", kind="Repeater",
                  ftype="Repeater", default=(), comment=g.get("comment") or "", group=rep)
        )
    by_lower: dict[str, Field] = {}
    for f in fields:
        by_lower.setdefault(f.name.lower(), f)
    pkey = tuple(raw.get("pkey") or ())
    pkey_fields = tuple(by_lower[p.lower()] for p in pkey)
    data_fields = tuple(f for f in fields if not f.is_pkey and f.kind != "Repeater")
    actions = {_ACTION_NAMES[c] for c in CLIENT_ACTIONS.get(name, "S")}
    return MsgType(
        name=name,
        id=int(raw.get("id") or 0),
        topic=raw.get("topic") or "",
        token=raw.get("mlinkToken") or "",
        srse_product=raw.get("srseProduct") or "",
        description=raw.get("description") or "",
        fields=tuple(fields),
        pkey=pkey,
        actions=frozenset(actions),
        auto_pkey=name in AUTO_PKEY,
        by_lower=by_lower,
        pkey_fields=pkey_fields,
        data_fields=data_fields,
    )


@functools.cache
def registry() -> Registry:
    """The registry of every message type in the package's schema data (built once)."""
    enums = _build_enums(_load_json("enums.json"))
    keys = _load_json("keys.json")["valueLists"]
    _keys.install_key_enums(
        list(enums["AssetType"].names),
        list(enums["TickerSrc"].names),
        [m["name"] for m in keys["CallPut"]],
    )
    types = []
    for entry in sorted(resources.files(__package__).joinpath("data").iterdir(),
                        key=lambda p: p.name):
        fname = entry.name
        if not fname.endswith(".json") or fname in ("enums.json", "keys.json"):
            continue
        types.append(_build_type(json.loads(entry.read_text("utf-8")), enums))
    return Registry(types, enums)
