"""The project's one set of time constants and New York date conversions.

Instants are int nanoseconds since the UNIX epoch (UTC). Year fractions are Act/365
(``NS_PER_YEAR``). The trade date of an instant is its New York calendar date
(``trade_date_of``): after 20:00 New York the UTC date is already tomorrow, the trade date is
not. Everyone may import this module (tools/check_layers.py); the analytics kernels take year
fractions and need none of it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

__all__ = ["DAYS_PER_YEAR", "NEW_YORK", "NS_PER_DAY", "NS_PER_SECOND", "NS_PER_YEAR", "local_ns",
           "trade_date_of"]

NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND
#: Act/365: the days of a year fraction
DAYS_PER_YEAR = 365.0
#: Act/365 year in nanoseconds (a float: year fractions are floats)
NS_PER_YEAR = DAYS_PER_YEAR * NS_PER_DAY
NEW_YORK = ZoneInfo("America/New_York")


def trade_date_of(t_ns: int) -> date:
    """The trade date of an instant: its New York calendar date."""
    secs, _ = divmod(int(t_ns), NS_PER_SECOND)
    return datetime.fromtimestamp(secs, tz=UTC).astimezone(NEW_YORK).date()


def local_ns(d: date, t: time) -> int:
    """New York local date and time -> ns since the epoch."""
    dt = datetime.combine(d, t, tzinfo=NEW_YORK)
    return int(dt.timestamp()) * NS_PER_SECOND + dt.microsecond * 1000
