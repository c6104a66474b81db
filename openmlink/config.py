"""Strict decoding of configuration into typed structures (msgspec ``Struct`` types declared
with ``forbid_unknown_fields=True``).

``convert(data, Type, where)`` turns a mapping (a TOML table, a dict of options) into ``Type``
or raises ``ConfigError`` naming ``where`` and the field, with a suggestion for a misspelt
name: ``keys.toml [[key]] #2: unknown field 'client_firm' (did you mean 'clientFirm'?)``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from .errors import ConfigError

__all__ = ["convert", "did_you_mean", "encoded_names", "read_toml", "validated"]

T = TypeVar("T")

_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`(?: - at `(?P<at>[^`]*)`)?$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]*)`(?: - at `(?P<at>[^`]*)`)?$")
_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]*)`, got `(?P<got>[^`]*)`(?: - at `(?P<at>[^`]*)`)?$")
_OTHER = re.compile(r"^(?P<what>.*?)(?: - at `(?P<at>[^`]*)`)?$")

#: msgspec's type words -> words for people who write TOML
_WORDS = {"array": "a list", "str": "a string", "int": "an integer", "float": "a number",
          "bool": "true or false", "object": "a table", "null": "nothing", "datetime": "a date-time",
          "date": "a date", "time": "a time"}


def _word(t: str) -> str:
    return _WORDS.get(t, t)


def encoded_names(typ: type) -> list[str]:
    """The field names of a Struct type as they are written in a file."""
    return [f.encode_name for f in msgspec.structs.fields(typ)]


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice (ignoring case and ``_``), or ``""``."""
    canon = {c.lower().replace("_", ""): c for c in choices}
    key = name.lower().replace("_", "")
    if key in canon:
        return f" (did you mean '{canon[key]}'?)"
    near = difflib.get_close_matches(key, list(canon), n=1, cutoff=0.6)
    return f" (did you mean '{canon[near[0]]}'?)" if near else ""


def _field_of(at: str | None) -> str:
    """``$.tokens[1]`` -> ``tokens[1]``."""
    if not at:
        return ""
    return at[2:] if at.startswith("$.") else at.lstrip("$")


def _reason(e: msgspec.ValidationError, typ: type, data: Any) -> str:
    text = str(e)
    m = _UNKNOWN.match(text)
    if m:
        return f"unknown field '{m['name']}'{did_you_mean(m['name'], encoded_names(typ))}"
    m = _MISSING.match(text)
    if m:
        return f"missing required field '{m['name']}'"
    m = _EXPECTED.match(text)
    if m:
        field = _field_of(m["at"])
        want = _word(m["want"])
        if m["want"] == "array" and isinstance(data, Mapping):
            # say what the list holds when the Struct says so (list[str] -> strings)
            hint = _list_item_word(typ, field)
            if hint:
                want = f"a list of {hint}"
        return f"field '{field}': expected {want}, got {m['got']}"
    m = _OTHER.match(text)
    assert m is not None  # the pattern matches any text
    field = _field_of(m["at"])
    what = m["what"].replace("`", "")
    return f"field '{field}': {what}" if field else what


def _list_item_word(typ: type, field: str) -> str:
    for f in msgspec.structs.fields(typ):
        if f.encode_name == field:
            args = [a for a in getattr(f.type, "__args__", ()) if a is not Ellipsis]
            if len(args) == 1 and isinstance(args[0], type):
                return {"str": "strings", "int": "integers", "float": "numbers"}.get(
                    args[0].__name__, args[0].__name__)
    return ""


def convert(data: Any, typ: type[T], where: str) -> T:
    """``data`` (a mapping) as ``typ``; a ``ConfigError`` starting with ``where`` otherwise."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    try:
        return msgspec.convert(dict(data), typ)
    except msgspec.ValidationError as e:
        raise ConfigError(f"{where}: {_reason(e, typ, data)}") from None


def validated(obj: T, where: str = "") -> T:
    """``obj`` (a Struct built in code, e.g. from command-line options) checked against its
    type's declared bounds and types; a ``ConfigError`` starting with ``where`` otherwise."""
    typ = type(obj)
    return convert(msgspec.to_builtins(obj), typ, where or typ.__name__)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The TOML document at ``path``; a ``ConfigError`` naming the file if it cannot be read
    or is not TOML."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
