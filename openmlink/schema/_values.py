"""Scalar encodings of the MLink JSON wire format (spec section 2.4).

Internal forms: DateTime = int nanoseconds since the UNIX epoch (UTC); DateKey = int days
since the epoch; ID-style longs = int; enums = ordinal index; flags = int bit mask.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from ..timeutil import NS_PER_SECOND

__all__ = [
    "DATEKEY_NONE",
    "datekey_from_text",
    "datekey_to_text",
    "datetime_from_text",
    "datetime_to_text",
    "idlong_from_text",
    "idlong_to_text",
]

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: stored value of an unset DateKey
DATEKEY_NONE = -(2**31)

_DATE_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DT_RE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?Z?$"
)
_IDLONG_RE = re.compile(r"^[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}$")


def datekey_from_text(text: str) -> int:
    """``YYYY-MM-DD`` -> days since 1970-01-01. Raises ValueError with the reason."""
    got = _DAYS.get(text)
    if got is not None:
        return got
    days = _datekey_from_text(text)
    if len(_DAYS) >= _DAYS_MAX:
        _DAYS.clear()
    _DAYS[text] = days
    return days


_DAYS: dict[str, int] = {}  # days by text: every key of a series carries the same expiry text
_DAYS_MAX = 4096


def _datekey_from_text(text: str) -> int:
    m = _DATE_RE.match(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not a date of the form YYYY-MM-DD")
    y, mo, d = (int(g) for g in m.groups())
    try:
        return date(y, mo, d).toordinal() - _EPOCH_ORDINAL
    except ValueError as e:
        raise ValueError(f"'{text}' is not a valid date ({e})") from None


def datekey_to_text(days: int) -> str:
    return date.fromordinal(int(days) + _EPOCH_ORDINAL).isoformat()


def datetime_from_text(text: str) -> int:
    """``YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]`` (UTC) -> ns since the epoch."""
    m = _DT_RE.match(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not a DateTime of the form yyyy-MM-dd HH:mm:ss.ffffff")
    y, mo, d, hh, mi, ss, frac = m.groups()
    try:
        dt = datetime(
            int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0),
            tzinfo=UTC,
        )
    except ValueError as e:
        raise ValueError(f"'{text}' is not a valid DateTime ({e})") from None
    ns = int(dt.timestamp()) * NS_PER_SECOND
    if frac:
        ns += int(frac.ljust(9, "0"))
    return ns


def datetime_to_text(ns: int) -> str:
    """ns since the epoch -> ``yyyy-MM-dd HH:mm:ss.ffffff`` (UTC, microseconds)."""
    ns = int(ns)
    secs, rem = divmod(ns, NS_PER_SECOND)
    last = _LAST_SECOND  # (second, its text): the clock's times come in runs of one second
    if last[0] != secs:
        last = _remember_second(secs)
    return f"{last[1]}.{rem // 1000:06d}"


def _remember_second(secs: int) -> tuple[int, str]:
    global _LAST_SECOND
    _LAST_SECOND = (secs, f"{datetime.fromtimestamp(secs, tz=UTC):%Y-%m-%d %H:%M:%S}")
    return _LAST_SECOND


_LAST_SECOND: tuple[int, str] = (-(2**63), "")


def idlong_from_text(text: str) -> int:
    """``02BD-B117-8025-5342`` (or a plain integer) -> int."""
    t = text.strip()
    if _IDLONG_RE.match(t):
        v = int(t.replace("-", ""), 16)
        return v - 2**64 if v >= 2**63 else v
    try:
        return int(t)
    except ValueError:
        raise ValueError(f"'{text}' is not an id of the form XXXX-XXXX-XXXX-XXXX") from None


def idlong_to_text(v: int) -> str:
    """int -> ``02BD-B117-8025-5342`` (the ids of a record's versions repeat: remembered,
    bounded)."""
    try:
        txt = _idlong_texts.get(v)
    except TypeError:  # not hashable (a 0-d array): converted, not remembered
        return _idlong_text(v)
    if txt is None:
        txt = _idlong_text(v)
        if len(_idlong_texts) >= _IDLONG_TEXTS_MAX:
            _idlong_texts.clear()
        _idlong_texts[v] = txt
    return txt


def _idlong_text(v: int) -> str:
    h = f"{int(v) & 0xFFFFFFFFFFFFFFFF:016X}"
    return f"{h[0:4]}-{h[4:8]}-{h[8:12]}-{h[12:16]}"


_IDLONG_TEXTS_MAX = 1 << 16
_idlong_texts: dict[int, str] = {}
