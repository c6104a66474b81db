"""The compiled form of a message type: fields, enums, repeating groups.

Built once from the schema data files by ``_registry``; everything downstream (codec, query,
store, gateway) reads these frozen objects and never the JSON files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "KEY_KINDS",
    "NUMERIC_KINDS",
    "EnumType",
    "Field",
    "MsgType",
    "Repeater",
]

#: Field kinds (a coarse classification of the schema's type spelling).
NUMERIC_KINDS = frozenset({"float", "int"})
KEY_KINDS = frozenset({"TickerKey", "ExpiryKey", "OptionKey"})

#: integer ranges of the schema's integer types
INT_RANGES: dict[str, tuple[int, int]] = {
    "byte": (-(2**7), 2**8 - 1),
    "short": (-(2**15), 2**15 - 1),
    "ushort": (0, 2**16 - 1),
    "int": (-(2**31), 2**31 - 1),
    "uint": (0, 2**32 - 1),
    "long": (-(2**63), 2**63 - 1),
    "ulong": (0, 2**64 - 1),
}


@dataclass(frozen=True, slots=True)
class EnumType:
    """An MLink enum: ordered member names; JSON carries names, input also accepts ordinals."""

    name: str
    names: tuple[str, ...]
    codes: tuple[int, ...]  # protobuf codes (bit values for flag enums)
    is_flag: bool = False
    by_lower: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    def index(self, text: str) -> int | None:
        """Ordinal of a member name (case-insensitive), or None."""
        return self.by_lower.get(text.lower())

    @property
    def default_index(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a message (or of a repeating group).

    ``kind`` is one of: ``float`` (float/double), ``int`` (all integer types), ``string``
    (string(N), text1, text2, TimeSpan), ``enum``, ``flag``, ``DateTime`` (ns since epoch),
    ``DateKey``, ``TickerKey``, ``ExpiryKey``, ``OptionKey``, ``Repeater``.
    """

    num: int
    name: str
    type: str  # the schema's spelling, e.g. "string(16)", "enum : YesNo"
    kind: str
    ftype: str  # FieldType enum name (FieldDesc.fType)
    enum: EnumType | None = None
    default: object = None  # default as stored internally (see _values.default_of)
    is_pkey: bool = False
    max_len: int | None = None
    int_type: str | None = None  # "byte", "int", "long", ... for kind == "int"
    id_long: bool = False  # long rendered as dashed hex "02BD-B117-8025-5342"
    comment: str = ""
    group: Repeater | None = None  # for kind == "Repeater"
    in_repeater: str = ""


@dataclass(frozen=True, slots=True)
class Repeater:
    name: str
    num: int
    fields: tuple[Field, ...]
    by_lower: dict[str, Field] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class MsgType:
    """A message type of the registry (one schema file)."""

    name: str
    id: int  # mNum; 0 when the sources give none
    topic: str
    token: str
    srse_product: str
    description: str
    fields: tuple[Field, ...]  # top-level fields incl. repeaters (kind == "Repeater")
    pkey: tuple[str, ...]
    actions: frozenset[str]  # subset of {"Select", "Insert", "Update", "Replace", "Delete"}
    auto_pkey: bool = False
    by_lower: dict[str, Field] = field(default_factory=dict, compare=False, hash=False)
    pkey_fields: tuple[Field, ...] = ()
    data_fields: tuple[Field, ...] = ()  # non-pkey, non-repeater fields

    def field(self, name: str) -> Field | None:
        """Case-insensitive lookup of a top-level field or repeater name."""
        return self.by_lower.get(name.lower())

    @property
    def keyed(self) -> bool:
        return bool(self.pkey)

    def option_key_field(self) -> Field | None:
        for f in self.pkey_fields:
            if f.kind in ("OptionKey", "ExpiryKey"):
                return f
        return None
