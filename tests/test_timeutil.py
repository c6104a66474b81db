"""The one set of time constants and the New York trade date."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from openmlink import market, timeutil
from openmlink.schema import datetime_from_text
from openmlink.timeutil import NEW_YORK, NS_PER_DAY, NS_PER_YEAR, local_ns, trade_date_of


def test_after_eight_pm_new_york_the_trade_date_is_not_the_utc_date() -> None:
    t = local_ns(date(2025, 3, 3), time(21, 30))
    assert t == datetime_from_text("2025-03-04 02:30:00")
    assert trade_date_of(t) == date(2025, 3, 3)
    assert market.trade_date_of is trade_date_of  # one function, wherever it is imported from


def test_constants() -> None:
    assert NS_PER_DAY == 86_400 * 10**9
    assert NS_PER_YEAR == 365 * NS_PER_DAY
    assert timeutil.NEW_YORK is market.NEW_YORK


@given(d=st.dates(min_value=date(1971, 1, 2), max_value=date(2100, 12, 31)),
       t=st.times())
def test_local_ns_and_trade_date_of_agree(d: date, t: time) -> None:
    ns = local_ns(d, t)
    assert trade_date_of(ns) == d
    # and the instant is that New York wall time (folds aside: zoneinfo picks the first)
    back = datetime.fromtimestamp(ns // 10**9, NEW_YORK) + timedelta(microseconds=(ns // 1000) % 10**6)
    assert back.date() == d
