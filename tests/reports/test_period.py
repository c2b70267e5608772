"""Report periods: ISO weeks (across year boundaries), months, quarters, ranges, bad input."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from servq.reports.period import (
    Period,
    PeriodError,
    iso_weeks_in,
    last_complete,
    parse_period,
)


def test_iso_week_in_the_middle_of_a_year() -> None:
    p = parse_period("2025-W10")
    assert p == Period("2025-W10", "week", date(2025, 3, 3), date(2025, 3, 9))
    assert p.days == 7
    assert p.previous == Period("2025-W09", "week", date(2025, 2, 24), date(2025, 3, 2))


@pytest.mark.parametrize(
    ("text", "start", "end", "previous"),
    [
        # week 1 of 2025 starts on Monday 30 December 2024
        ("2025-W01", date(2024, 12, 30), date(2025, 1, 5), "2024-W52"),
        # 2020 has 53 ISO weeks; its last one ends on 3 January 2021
        ("2020-W53", date(2020, 12, 28), date(2021, 1, 3), "2020-W52"),
        ("2021-W01", date(2021, 1, 4), date(2021, 1, 10), "2020-W53"),
        # week 1 of 2026 starts in 2025
        ("2026-W01", date(2025, 12, 29), date(2026, 1, 4), "2025-W52"),
        ("2025w2", date(2025, 1, 6), date(2025, 1, 12), "2025-W01"),
    ],
)
def test_iso_weeks_across_year_boundaries(text: str, start: date, end: date, previous: str) -> None:
    p = parse_period(text)
    assert (p.start, p.end, p.previous.label) == (start, end, previous)
    assert p.start.weekday() == 0 and p.days == 7


def test_weeks_per_year() -> None:
    assert iso_weeks_in(2020) == 53
    assert iso_weeks_in(2025) == 52
    assert iso_weeks_in(2026) == 53


def test_months_quarters_and_their_previous() -> None:
    march = parse_period("2025-03")
    assert (march.start, march.end, march.kind) == (date(2025, 3, 1), date(2025, 3, 31), "month")
    assert parse_period("2025-01").previous.label == "2024-12"
    feb = parse_period("2024-03").previous
    assert (feb.label, feb.end) == ("2024-02", date(2024, 2, 29))  # leap year
    q1 = parse_period("2025-Q1")
    assert (q1.start, q1.end) == (date(2025, 1, 1), date(2025, 3, 31))
    assert q1.previous == Period("2024-Q4", "quarter", date(2024, 10, 1), date(2024, 12, 31))


def test_ranges_compare_with_the_same_number_of_days_before() -> None:
    p = parse_period("2025-03-05..2025-03-11")
    assert (p.start, p.end, p.days, p.kind) == (date(2025, 3, 5), date(2025, 3, 11), 7, "range")
    assert p.previous.label == "2025-02-26..2025-03-04"
    assert parse_period("2025-03-05/2025-03-06").label == "2025-03-05..2025-03-06"
    day = parse_period("2025-01-01")
    assert (day.days, day.previous.label) == (1, "2024-12-31")
    assert p.file_label() == "2025-03-05_2025-03-11"


def test_utc_bounds_are_local_midnights() -> None:
    lo, hi = parse_period("2025-W10").utc_bounds("Asia/Shanghai")
    assert (lo, hi) == (datetime(2025, 3, 2, 16), datetime(2025, 3, 9, 16))


def test_last_complete_week_and_month() -> None:
    assert last_complete("week", date(2025, 10, 9)).label == "2025-W40"
    assert last_complete("week", date(2025, 1, 6)).label == "2025-W01"
    assert last_complete("week", date(2025, 1, 5)).label == "2024-W52"
    assert last_complete("month", date(2025, 1, 1)).label == "2024-12"


@pytest.mark.parametrize(
    ("text", "english", "chinese"),
    [
        ("2025-W53", "2025 has ISO weeks 1–52", "没有第 53 周"),
        ("2025-W00", "not 0", "周"),
        ("2025-13", "month 13 is not 1–12", "月份 13"),
        ("2025-Q5", "quarter 5 is not 1–4", "季度 5"),
        ("2025-03-11..2025-03-05", "ends (2025-03-05) before it starts", "早于开始日期"),
        ("2025-02-30", "is not a real date", "不是有效日期"),
        ("last week", "write an ISO week", "请写 ISO 周"),
        ("", "it is empty", "周期为空"),
        ("0999-01", "out of range", "超出范围"),
    ],
)
def test_bad_periods_say_why_in_both_languages(text: str, english: str, chinese: str) -> None:
    with pytest.raises(PeriodError) as info:
        parse_period(text)
    message = str(info.value)
    assert english in message and chinese in message
    assert "2025-W10" in message  # an example of what works
    assert isinstance(info.value, ValueError)
