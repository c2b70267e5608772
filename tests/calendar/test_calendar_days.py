"""The day rule, checked against known dates: China's 2025 arrangements, US federal holidays."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from servq.calendar import (
    CalendarRangeError,
    DayKind,
    china_supported_years,
    day_kind,
    load_calendar,
    open_hours,
    parse_calendar,
)

OFFICE = load_calendar("cn-office")
SERVICE = load_calendar("cn-service")
OFFICE_HOURS = ["09:00-12:00", "13:30-18:00"]


def hours(cal_name: str, day: str) -> list[str]:
    return [str(r) for r in open_hours(load_calendar(cal_name), date.fromisoformat(day))]


def days(first: str, last: str) -> list[str]:
    d, end = date.fromisoformat(first), date.fromisoformat(last)
    out = []
    while d <= end:
        out.append(d.isoformat())
        d += timedelta(days=1)
    return out


def test_china_2025_spring_festival() -> None:
    # 调休: Sunday 26 January and Saturday 8 February 2025 were working days
    assert hours("cn-office", "2025-01-26") == OFFICE_HOURS
    assert hours("cn-office", "2025-02-08") == OFFICE_HOURS
    assert day_kind(OFFICE, date(2025, 1, 26)) is DayKind.WORKING
    for day in days("2025-01-28", "2025-02-04"):  # 春节 holiday, 8 days
        assert hours("cn-office", day) == [], day
        assert day_kind(OFFICE, date.fromisoformat(day)) is DayKind.HOLIDAY
    assert hours("cn-office", "2025-01-27") == OFFICE_HOURS  # Monday before the holiday
    assert hours("cn-office", "2025-02-09") == []  # an ordinary Sunday
    assert day_kind(OFFICE, date(2025, 2, 9)) is DayKind.REST


def test_china_2025_national_day() -> None:
    # 国庆+中秋: 1–8 October off; Sunday 28 September and Saturday 11 October worked
    assert hours("cn-office", "2025-09-28") == OFFICE_HOURS
    assert hours("cn-office", "2025-10-11") == OFFICE_HOURS
    for day in days("2025-10-01", "2025-10-08"):
        assert hours("cn-office", day) == [], day
    assert hours("cn-office", "2025-10-09") == OFFICE_HOURS


def test_cn_service_is_open_every_day_but_public_holidays() -> None:
    assert hours("cn-service", "2025-10-12") == ["09:00-21:00"]  # ordinary Sunday
    assert hours("cn-service", "2025-10-11") == ["09:00-21:00"]  # adjusted working Saturday
    assert hours("cn-service", "2025-09-28") == ["09:00-21:00"]  # adjusted working Sunday
    for day in days("2025-10-01", "2025-10-08"):  # weekend days inside the holiday included
        assert hours("cn-service", day) == [], day
    assert day_kind(SERVICE, date(2025, 10, 4)) is DayKind.HOLIDAY


def test_us_federal_holidays_and_observed_days() -> None:
    assert hours("us-office", "2025-07-04") == []  # Independence Day, a Friday
    assert hours("us-office", "2026-07-03") == []  # observed: 4 July 2026 is a Saturday
    assert hours("us-office", "2025-11-27") == []  # Thanksgiving
    assert hours("us-office", "2025-07-03") == ["09:00-17:00"]
    assert hours("us-office", "2025-07-05") == []  # Saturday


def test_overrides_extras_and_adjusted_days() -> None:
    cal = parse_calendar(
        """\
name: shop
timezone: Asia/Shanghai
hours:
  workday: ["09:00-18:00"]
  friday: ["09:00-16:00"]
  saturday: ["10:00-14:00"]
  sunday: []
holidays: china
extra_holidays: ["2025-03-05"]
extra_workdays: ["2025-03-09", "2025-10-02"]
"""
    )

    def h(day: str) -> list[str]:
        return [str(r) for r in open_hours(cal, date.fromisoformat(day))]

    assert h("2025-03-03") == ["09:00-18:00"]  # Monday: workday
    assert h("2025-03-07") == ["09:00-16:00"]  # Friday working day: friday override
    assert h("2025-03-08") == ["10:00-14:00"]  # ordinary Saturday, a rest day: override
    assert h("2025-03-05") == []  # extra holiday
    assert h("2025-03-09") == ["09:00-18:00"]  # extra workday on a Sunday: workday hours
    assert h("2025-10-02") == ["09:00-18:00"]  # extra workday beats the public holiday
    assert h("2025-10-11") == ["09:00-18:00"]  # adjusted working Saturday: workday, not override
    assert h("2025-10-04") == []  # Saturday inside the holiday: closed despite the override
    assert h("2025-10-03") == []  # a Friday public holiday


def test_years_outside_chinese_calendar_raise_naming_the_years() -> None:
    first, last = china_supported_years()
    assert first <= 2025 <= last
    with pytest.raises(CalendarRangeError) as info:
        open_hours(OFFICE, date(last + 1, 3, 2))
    assert f"{first}–{last}" in str(info.value)
    assert str(last + 1) in str(info.value)
    # a country calendar answers for any year
    assert day_kind(load_calendar("us-office"), date(last + 5, 7, 4)) is DayKind.HOLIDAY
