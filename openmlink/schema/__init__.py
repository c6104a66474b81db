"""Message-type registry, security keys and the MLink JSON codec."""

from ._keys import (
    ExpiryKey,
    KeyError_,
    OptionKey,
    TickerKey,
    format_strike,
    key_from_json,
    key_to_json,
    parse_any_key,
    parse_key,
)
from ._registry import CLIENT_ACTIONS, ID_LONG_FIELDS, Registry, registry
from ._types import EnumType, Field, MsgType, Repeater

__all__ = [
    "CLIENT_ACTIONS",
    "ID_LONG_FIELDS",
    "EnumType",
    "ExpiryKey",
    "Field",
    "KeyError_",
    "MsgType",
    "OptionKey",
    "Registry",
    "Repeater",
    "TickerKey",
    "format_strike",
    "key_from_json",
    "key_to_json",
    "parse_any_key",
    "parse_key",
    "registry",
]
