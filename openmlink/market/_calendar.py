"""US equity-options calendar: exchange holidays, sessions and expiry cycles.

All dates are ``datetime.date``; instants are int nanoseconds since the epoch (UTC). Session
times are New York local time (``America/New_York``), so daylight saving is handled by
``zoneinfo``. Holidays follow the NYSE rules (New Year's Day, Martin Luther King Jr. Day,
Washington's Birthday, Good Friday, Memorial Day, Juneteenth from 2022, Independence Day,
Labor Day, Thanksgiving, Christmas; Saturday holidays observed on the Friday before, Sunday
holidays on the Monday after, except that a Saturday New Year's Day is not observed).

Expiry cycles (``ExpiryCycle``) describe which dates a root lists relative to a trade date:
dailies (every trading day), weeklies (Fridays, or the trading day before when Friday is a
holiday), standard monthlies (third Friday, or the Thursday before when it is a holiday),
quarterlies (March/June/September/December monthlies further out) and LEAPS (January
monthlies of the following years).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, time, timedelta

from ..timeutil import NEW_YORK, local_ns, trade_date_of

__all__ = [
    "CLOSE_TIME",
    "NEW_YORK",
    "OPEN_TIME",
    "ExpiryCycle",
    "expiry_dates",
    "holidays",
    "is_trading_day",
    "last_close_at_or_before",
    "local_ns",
    "monthly_expiry",
    "next_trading_day",
    "previous_trading_day",
    "session_state",
    "third_friday",
    "trade_date_of",
    "weekly_expiry",
]

OPEN_TIME = time(9, 30)
CLOSE_TIME = time(16, 0)


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th (1-based) ``weekday`` (Mon=0) of a month; n=-1 is the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(d: date) -> date | None:
    if d.weekday() == 5:
        return None if (d.month, d.day) == (1, 1) else d - timedelta(days=1)
    if d.weekday() == 6:
        return d + timedelta(days=1)
    return d


@functools.cache
def holidays(year: int) -> frozenset[date]:
    """NYSE full-day holidays of ``year``."""
    fixed = [date(year, 1, 1), date(year, 7, 4), date(year, 12, 25)]
    if year >= 2022:
        fixed.append(date(year, 6, 19))
    out = {o for d in fixed if (o := _observed(d)) is not None}
    # a Saturday New Year's Day of next year is not observed on this year's Dec 31 (NYSE rule)
    out |= {
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _easter(year) - timedelta(days=2),  # Good Friday
        _nth_weekday(year, 5, 0, -1),  # Memorial Day
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
    }
    return frozenset(out)


def is_trading_day(d: date) -> bool:
    return d.weekday() < 5 and d not in holidays(d.year)


def next_trading_day(d: date) -> date:
    """The first trading day strictly after ``d``."""
    d += timedelta(days=1)
    while not is_trading_day(d):
        d += timedelta(days=1)
    return d


def previous_trading_day(d: date) -> date:
    """The last trading day strictly before ``d``."""
    d -= timedelta(days=1)
    while not is_trading_day(d):
        d -= timedelta(days=1)
    return d


def last_close_at_or_before(t_ns: int) -> int:
    """The most recent regular-session close (16:00 New York) at or before ``t_ns``."""
    d = trade_date_of(t_ns)
    if is_trading_day(d) and local_ns(d, CLOSE_TIME) <= t_ns:
        return local_ns(d, CLOSE_TIME)
    return local_ns(previous_trading_day(d), CLOSE_TIME)


def session_state(t_ns: int) -> str:
    """``Open`` in the regular session, ``PreOpen`` 4:00-9:30, ``AfterHours`` 16:00-20:00,
    else ``Closed`` (names of the MarketStatus enum)."""
    d = trade_date_of(t_ns)
    if not is_trading_day(d):
        return "Closed"
    if local_ns(d, OPEN_TIME) <= t_ns < local_ns(d, CLOSE_TIME):
        return "Open"
    if local_ns(d, time(4, 0)) <= t_ns < local_ns(d, OPEN_TIME):
        return "PreOpen"
    if local_ns(d, CLOSE_TIME) <= t_ns < local_ns(d, time(20, 0)):
        return "AfterHours"
    return "Closed"


def third_friday(year: int, month: int) -> date:
    return _nth_weekday(year, month, 4, 3)


def monthly_expiry(year: int, month: int) -> date:
    """Standard monthly expiry: the third Friday, or the trading day before it when the
    Friday is a holiday (e.g. Good Friday)."""
    d = third_friday(year, month)
    return d if is_trading_day(d) else previous_trading_day(d)


def weekly_expiry(friday: date) -> date:
    """A Friday weekly, moved to the trading day before when the Friday is a holiday."""
    return friday if is_trading_day(friday) else previous_trading_day(friday)


@dataclass(frozen=True, slots=True)
class ExpiryCycle:
    """Which expiries a root lists, relative to a trade date.

    ``daily_days``: calendar days ahead within which every trading day is an expiry (0 = no
    dailies; ``daily_weekdays`` restricts them, e.g. (0, 2, 4) for Mon/Wed/Fri);
    ``weeklies``: number of Friday weeklies; ``monthlies``: number of standard monthlies;
    ``quarterlies``: further quarterly monthlies; ``leaps``: January LEAPS expiries more
    than eight months out.
    """

    daily_days: int = 0
    daily_weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    weeklies: int = 0
    monthlies: int = 3
    quarterlies: int = 2
    leaps: int = 0


def expiry_dates(cycle: ExpiryCycle, today: date) -> list[date]:
    """Sorted expiry dates listed on ``today`` (expiries on ``today`` itself included)."""
    out: set[date] = set()
    if cycle.daily_days:
        d = today
        end = today + timedelta(days=cycle.daily_days)
        while d <= end:
            if is_trading_day(d) and d.weekday() in cycle.daily_weekdays:
                out.add(d)
            d += timedelta(days=1)
    friday = today + timedelta(days=(4 - today.weekday()) % 7)
    for i in range(cycle.weeklies):
        w = weekly_expiry(friday + timedelta(days=7 * i))
        if w >= today:
            out.add(w)
    months: list[date] = []
    y, m = today.year, today.month
    while len(months) < cycle.monthlies + 24:
        e = monthly_expiry(y, m)
        if e >= today:
            months.append(e)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    out.update(months[: cycle.monthlies])
    last = months[cycle.monthlies - 1] if cycle.monthlies else today
    q = [e for e in months[cycle.monthlies:] if e.month in (3, 6, 9, 12) and e > last]
    out.update(q[: cycle.quarterlies])
    year, added = today.year + 1, 0
    while added < cycle.leaps:
        leap = monthly_expiry(year, 1)
        if leap > today + timedelta(days=240):
            out.add(leap)
            added += 1
        year += 1
    return sorted(out)
