"""``divString`` of SpanRiskCalculator: ``[yearsToExpiry, years1:amt1, ...]`` or
``[-1, date1:amt1, ...]`` (dates ``YYYY-MM-DD``).

The first number is the years-to-expiry the schedule was written for (informational; a
dividend after the option's effective years is ignored by the pricer), or -1 when the
dividend times are ex-dates.  Ex-dates become years from ``today`` (Act/365).  Amounts are
cash per share.  An empty string (or ``[]``) means no dividends.
"""

from __future__ import annotations

from datetime import date

__all__ = ["DivStringError", "parse_div_string"]

Dividends = tuple[tuple[float, ...], tuple[float, ...]]


class DivStringError(ValueError):
    """The text is not one of the two documented forms (the message is short)."""


def parse_div_string(text: str, today: date) -> Dividends:
    """(ex_times_years, amounts) of a divString, sorted by time; raises DivStringError."""
    s = (text or "").strip()
    if s.startswith("["):
        if not s.endswith("]"):
            raise DivStringError("divString: missing ]")
        s = s[1:-1]
    s = s.strip()
    if not s:
        return (), ()
    parts = [p.strip() for p in s.split(",")]
    try:
        head = float(parts[0])
    except ValueError:
        raise DivStringError("divString: bad first item") from None
    by_date = head == -1.0
    times: list[float] = []
    amts: list[float] = []
    for p in parts[1:]:
        if not p:
            continue
        if ":" not in p:
            raise DivStringError("divString: need when:amt")
        when, amt = p.rsplit(":", 1)
        try:
            a = float(amt)
            if by_date:
                t = (date.fromisoformat(when.strip()) - today).days / 365.0
            else:
                t = float(when)
        except ValueError:
            raise DivStringError("divString: bad item") from None
        if a < 0:
            raise DivStringError("divString: negative amt")
        times.append(t)
        amts.append(a)
    order = sorted(range(len(times)), key=times.__getitem__)
    return tuple(times[i] for i in order), tuple(amts[i] for i in order)
