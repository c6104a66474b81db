"""Security keys: TickerKey, ExpiryKey, OptionKey (spec section 2.3).

JSON form ``{"at":"EQT","ts":"NMS","tk":"AAPL","dt":"2025-07-18","xx":200,"cp":"Put"}`` and
flat form ``AAPL-NMS-EQT-2025-07-18-200-P``. Flat strings are parsed from the right, since a
symbol may itself contain dashes. ``str(key)`` is the canonical flat form and
``parse_key(kind, str(key)) == key`` always holds.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ._values import datekey_from_text

__all__ = [
    "ASSET_TYPES",
    "CALL_PUT",
    "TICKER_SRCS",
    "ExpiryKey",
    "KEY_MEMBERS",
    "KeyError_",
    "OptionKey",
    "TickerKey",
    "format_strike",
    "key_from_json",
    "key_kind_of",
    "key_member_names",
    "key_to_json",
    "parse_any_key",
    "parse_key",
]


class KeyError_(ValueError):
    """A key could not be parsed; the message says why."""


# filled by the registry from enums.json (AssetType, TickerSrc, CallPut)
ASSET_TYPES: dict[str, str] = {}
TICKER_SRCS: dict[str, str] = {}
CALL_PUT: dict[str, str] = {}
CP_SHORT = {"c": "Call", "p": "Put", "call": "Call", "put": "Put", "pair": "Pair", "both": "Pair"}
_CP_FLAT = {"Call": "C", "Put": "P", "Pair": "B"}
TK_MAX_LEN = 12


def format_strike(xx: float) -> str:
    """Shortest round-tripping decimal form, never in exponent notation (a '-' would break
    the flat key): 200 -> '200', 62.5 -> '62.5'."""
    return np.format_float_positional(float(xx), trim="-")


def _at(text: str) -> str:
    v = ASSET_TYPES.get(text.lower())
    if v is None:
        raise KeyError_(f"unknown asset type '{text}'")
    return v


def _ts(text: str) -> str:
    v = TICKER_SRCS.get(text.lower())
    if v is None:
        raise KeyError_(f"unknown ticker source '{text}'")
    return v


def _tk(text: str) -> str:
    if not text:
        raise KeyError_("empty symbol")
    if len(text) > TK_MAX_LEN:
        raise KeyError_(f"symbol '{text}' is longer than {TK_MAX_LEN} characters")
    return text


def _dt(text: str) -> str:
    try:
        datekey_from_text(text)
    except ValueError as e:
        raise KeyError_(str(e)) from None
    y, m, d = text.split("-")
    return f"{int(y):04d}-{int(m):02d}-{int(d):02d}"


def _xx(value: Any) -> float:
    if isinstance(value, bool):
        raise KeyError_(f"strike {value!r} is not a number")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise KeyError_(f"strike {value!r} is not a number") from None
    if not math.isfinite(x) or x < 0:
        raise KeyError_(f"strike {value!r} must be a finite number >= 0")
    return x


def _cp(text: str) -> str:
    v = CP_SHORT.get(text.lower()) or CALL_PUT.get(text.lower())
    if v is None:
        raise KeyError_(f"'{text}' is not a call/put flag (C, P, Call, Put)")
    return v


class TickerKey(NamedTuple):
    at: str
    ts: str
    tk: str

    def __str__(self) -> str:
        return f"{self.tk}-{self.ts}-{self.at}"


class ExpiryKey(NamedTuple):
    at: str
    ts: str
    tk: str
    dt: str

    def __str__(self) -> str:
        return f"{self.tk}-{self.ts}-{self.at}-{self.dt}"

    @property
    def ticker(self) -> TickerKey:
        return TickerKey(self.at, self.ts, self.tk)


class OptionKey(NamedTuple):
    at: str
    ts: str
    tk: str
    dt: str
    xx: float
    cp: str

    def __str__(self) -> str:
        return (
            f"{self.tk}-{self.ts}-{self.at}-{self.dt}-{format_strike(self.xx)}-{_CP_FLAT[self.cp]}"
        )

    @property
    def ticker(self) -> TickerKey:
        return TickerKey(self.at, self.ts, self.tk)

    @property
    def expiry(self) -> ExpiryKey:
        return ExpiryKey(self.at, self.ts, self.tk, self.dt)


Key = TickerKey | ExpiryKey | OptionKey
_KIND_PARTS = {"TickerKey": 3, "ExpiryKey": 6, "OptionKey": 8}


def parse_key(kind: str, text: str) -> Key:
    """Parse a flat key string of exactly the given kind."""
    if not isinstance(text, str):
        raise KeyError_(f"{kind} must be a string, got {type(text).__name__}")
    parts = text.strip().split("-")
    n = _KIND_PARTS[kind]
    if len(parts) < n:
        raise KeyError_(f"'{text}' is not a {kind} ({_FORMS[kind]})")
    tail = parts[len(parts) - n + 1:]
    tk = _tk("-".join(parts[: len(parts) - n + 1]))
    if kind == "TickerKey":
        return TickerKey(_at(tail[1]), _ts(tail[0]), tk)
    dt = _dt("-".join(tail[2:5]))
    if kind == "ExpiryKey":
        return ExpiryKey(_at(tail[1]), _ts(tail[0]), tk, dt)
    return OptionKey(_at(tail[1]), _ts(tail[0]), tk, dt, _xx(tail[5]), _cp(tail[6]))


_FORMS = {
    "TickerKey": "SYMBOL-SOURCE-ASSET, e.g. AAPL-NMS-EQT",
    "ExpiryKey": "SYMBOL-SOURCE-ASSET-YYYY-MM-DD, e.g. SPY-NMS-EQT-2025-05-16",
    "OptionKey": "SYMBOL-SOURCE-ASSET-YYYY-MM-DD-STRIKE-C|P, e.g. AAPL-NMS-EQT-2025-07-18-200-P",
}


def parse_any_key(text: str) -> Key:
    """Parse the longest key form the text holds (OptionKey, else ExpiryKey, else TickerKey)."""
    first_fit: str | None = None
    nparts = len(text.strip().split("-")) if isinstance(text, str) else 0
    for kind in ("OptionKey", "ExpiryKey", "TickerKey"):
        try:
            return parse_key(kind, text)
        except KeyError_ as e:
            if first_fit is None and nparts >= _KIND_PARTS[kind]:
                first_fit = f"'{text}' is not a {kind}: {e}"
    if first_fit is not None and nparts >= _KIND_PARTS["ExpiryKey"]:
        raise KeyError_(first_fit)
    raise KeyError_(f"'{text}' is not a security key ({_FORMS['TickerKey']}, optionally "
                    f"followed by -YYYY-MM-DD and -STRIKE-C|P)")


def key_kind_of(key: Key) -> str:
    return type(key).__name__


def key_from_json(kind: str, obj: Any, *, exact: bool = True) -> Key:
    """Parse a key given as a JSON object (or as its flat string form).

    With ``exact=False`` a shorter key is accepted too (an OptionKey-typed ``secKey`` holds a
    TickerKey for a stock order, an ExpiryKey-typed ``hedgeSecKey`` may hold a TickerKey).
    """
    if isinstance(obj, str):
        if exact:
            return parse_key(kind, obj)
        key = parse_any_key(obj)
        if _KIND_PARTS[key_kind_of(key)] > _KIND_PARTS[kind]:
            raise KeyError_(f"'{obj}' is not a {kind} ({_FORMS[kind]})")
        return key
    if not isinstance(obj, dict):
        raise KeyError_(f"{kind} must be an object or a string, got {type(obj).__name__}")
    low = {str(k).lower(): v for k, v in obj.items()}
    have = kind
    if not exact:
        if "dt" not in low or low.get("dt") in ("", None):
            have = "TickerKey"
        elif kind == "OptionKey" and "xx" not in low and "cp" not in low:
            have = "ExpiryKey"
    need = ("at", "ts", "tk") + (("dt",) if have != "TickerKey" else ()) + (
        ("xx", "cp") if have == "OptionKey" else ()
    )
    for m in need:
        if m not in low:
            raise KeyError_(f"{kind} lacks member '{m}'")
        v = low[m]
        if m in ("at", "ts", "cp") and isinstance(v, int) and not isinstance(v, bool):
            low[m] = _enum_by_ordinal(m, v)
        elif m != "xx" and not isinstance(v, str):
            raise KeyError_(f"{kind} member '{m}' must be a string")
    at, ts, tk = _at(low["at"]), _ts(low["ts"]), _tk(low["tk"])
    if have == "TickerKey":
        return TickerKey(at, ts, tk)
    dt = _dt(low["dt"])
    if have == "ExpiryKey":
        return ExpiryKey(at, ts, tk, dt)
    return OptionKey(at, ts, tk, dt, _xx(low["xx"]), _cp(low["cp"]))


_ORDINALS: dict[str, list[str]] = {}


def _enum_by_ordinal(member: str, i: int) -> str:
    names = _ORDINALS.get(member, [])
    if 0 <= i < len(names):
        return names[i]
    raise KeyError_(f"ordinal {i} is out of range for key member '{member}'")


def key_to_json(key: Key) -> dict[str, Any]:
    """The JSON object of a key (a new dict each call: callers may change it); the records
    of one series repeat its key, so the object is built once and copied (bounded memo)."""
    d = _key_objects.get(key)
    if d is None:
        d = _key_object(key)
        if len(_key_objects) >= _KEY_OBJECTS_MAX:
            _key_objects.clear()
        _key_objects[key] = d
    return dict(d)


_KEY_OBJECTS_MAX = 1 << 14
_key_objects: dict[Key, dict[str, Any]] = {}


def _key_object(key: Key) -> dict[str, Any]:
    d: dict[str, Any] = {"at": key.at, "ts": key.ts, "tk": key.tk}
    if isinstance(key, (ExpiryKey, OptionKey)):
        d["dt"] = key.dt
    if isinstance(key, OptionKey):
        x = key.xx
        d["xx"] = int(x) if x.is_integer() and abs(x) < 2**53 else x
        d["cp"] = key.cp
    return d


#: the members of each key kind, in flat-string order (the store keeps one column per member)
KEY_MEMBERS: dict[str, tuple[str, ...]] = {
    "TickerKey": ("at", "ts", "tk"),
    "ExpiryKey": ("at", "ts", "tk", "dt"),
    "OptionKey": ("at", "ts", "tk", "dt", "xx", "cp"),
}


def key_member_names(member: str) -> tuple[str, ...]:
    """Member names of the enum behind a key member ('at', 'ts' or 'cp'), in ordinal order."""
    if member == "at":
        return tuple(ASSET_TYPES.values())
    if member == "ts":
        return tuple(TICKER_SRCS.values())
    if member == "cp":
        return ("Call", "Put", "Pair")
    raise ValueError(f"key member {member!r} is not an enum")


def install_key_enums(asset: list[str], source: list[str], callput: list[str]) -> None:
    """Called once by the registry with the enum member lists."""
    ASSET_TYPES.clear()
    ASSET_TYPES.update({n.lower(): n for n in asset})
    TICKER_SRCS.clear()
    TICKER_SRCS.update({n.lower(): n for n in source})
    CALL_PUT.clear()
    CALL_PUT.update({n.lower(): n for n in callput})
    _ORDINALS.update({"at": list(asset), "ts": list(source), "cp": list(callput)})
