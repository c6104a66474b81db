"""Calendar facts: holidays, monthly/weekly expiries, settlement instants, last close."""

from __future__ import annotations

from datetime import date, time

from openmlink.market import (
    ExpiryCycle,
    expiry_dates,
    holidays,
    last_close_at_or_before,
    monthly_expiry,
    third_friday,
)
from openmlink.market._calendar import local_ns, session_state, weekly_expiry
from openmlink.schema._values import datetime_from_text, datetime_to_text


def test_nyse_holidays_follow_the_rules():
    h = holidays(2026)
    assert date(2026, 4, 3) in h  # Good Friday
    assert date(2026, 6, 19) in h  # Juneteenth
    assert date(2026, 7, 3) in h  # Independence Day observed on Friday
    assert date(2026, 11, 26) in h  # Thanksgiving
    assert date(2021, 12, 31) not in holidays(2021)  # Saturday New Year's Day not observed
    assert date(2021, 6, 18) not in holidays(2021)  # Juneteenth from 2022 only


def test_monthlies_are_third_fridays_moved_before_holidays():
    assert third_friday(2023, 9) == date(2023, 9, 15)
    assert monthly_expiry(2023, 9) == date(2023, 9, 15)
    assert monthly_expiry(2025, 4) == date(2025, 4, 17)  # Good Friday 2025-04-18
    assert monthly_expiry(2027, 6) == date(2027, 6, 17)  # Juneteenth observed 2027-06-18
    for m in range(1, 13):
        d = monthly_expiry(2026, m)
        assert d.weekday() in (3, 4) and 15 <= d.day <= 21


def test_weekly_on_a_holiday_friday_moves_to_thursday():
    assert weekly_expiry(date(2026, 4, 3)) == date(2026, 4, 2)
    assert weekly_expiry(date(2026, 12, 25)) == date(2026, 12, 24)


def test_expiry_cycle_lists_dailies_weeklies_monthlies_quarterlies_and_leaps():
    today = date(2026, 11, 23)
    got = expiry_dates(ExpiryCycle(daily_days=7, weeklies=4, monthlies=3, quarterlies=2,
                                   leaps=2), today)
    assert got == sorted(set(got))
    assert got[0] == today
    assert date(2026, 11, 26) not in got  # Thanksgiving
    assert monthly_expiry(2026, 12) in got and monthly_expiry(2027, 1) in got
    assert monthly_expiry(2027, 3) in got and monthly_expiry(2027, 6) in got
    assert monthly_expiry(2028, 1) in got and monthly_expiry(2029, 1) in got
    monthly_only = expiry_dates(ExpiryCycle(monthlies=2, quarterlies=0), today)
    assert monthly_only == [monthly_expiry(2026, 12), monthly_expiry(2027, 1)]


def test_last_close_at_or_before_a_cboe_file_time():
    t = datetime_from_text("2023-09-14 20:31:00")  # 4:31 PM EDT
    assert datetime_to_text(last_close_at_or_before(t)) == "2023-09-14 20:00:00.000000"
    sat = datetime_from_text("2023-09-16 15:00:00")
    assert datetime_to_text(last_close_at_or_before(sat)) == "2023-09-15 20:00:00.000000"
    morning = datetime_from_text("2023-09-14 14:00:00")  # 10:00 EDT, before the close
    assert datetime_to_text(last_close_at_or_before(morning)) == "2023-09-13 20:00:00.000000"
    winter = datetime_from_text("2023-12-15 22:00:00")
    assert datetime_to_text(last_close_at_or_before(winter)) == "2023-12-15 21:00:00.000000"


def test_session_state_names_are_market_status_members():
    d = date(2026, 11, 23)
    assert session_state(local_ns(d, time(10, 0))) == "Open"
    assert session_state(local_ns(d, time(17, 0))) == "AfterHours"
    assert session_state(local_ns(date(2026, 11, 22), time(12))) == "Closed"
