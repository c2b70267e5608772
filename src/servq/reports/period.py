"""Report periods: an ISO week, a month, a quarter or a range of days, and the one before it.

Owns: reading the period a user names (``2025-W10``, ``2025-03``, ``2025-Q1``,
``2025-03-05..2025-03-11`` or a single day ``2025-03-05``), the previous period a report compares
with (the week, month or quarter before; for a range, the same number of days right before it),
the last complete week or month before a moment (what a scheduled report covers) and the UTC
instants a period spans in a time zone. Imports no I/O.

>>> p = parse_period("2025-W01")
>>> (p.start.isoformat(), p.end.isoformat(), p.previous.label)
('2024-12-30', '2025-01-05', '2024-W52')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from servq.errors import ServqError

PeriodKind = Literal["week", "month", "quarter", "range"]

_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q(\d)$", re.IGNORECASE)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# a range is written with two dots; "/" (ISO 8601 intervals) is accepted too
_RANGE = re.compile(r"^(\S+?)\s*(?:\.\.|/)\s*(\S+)$")
MIN_YEAR, MAX_YEAR = 1900, 2999

EXAMPLES = "2025-W10, 2025-03, 2025-Q1, 2025-03-05..2025-03-11"


class PeriodError(ServqError, ValueError):
    """A period that cannot be read; the message says why, in English and Chinese."""


def _bad(text: str, en: str, zh: str) -> PeriodError:
    return PeriodError(
        f"bad period '{text}': {en} (examples: {EXAMPLES}) / 无法识别的周期 '{text}'：{zh}"
        f"（示例：{EXAMPLES}）"
    )


def iso_weeks_in(year: int) -> int:
    """52 or 53: the number of ISO weeks of ``year`` (28 December is always in the last)."""
    return date(year, 12, 28).isocalendar().week


def _last_day_of_month(year: int, month: int) -> date:
    first_next = date(year + (month == 12), month % 12 + 1, 1)
    return first_next - timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """A span of whole local days, ``start`` to ``end`` both included.

    ``label`` is how it is written (``2025-W10``); ``kind`` says how it was given, which decides
    what :attr:`previous` is.
    """

    label: str
    kind: PeriodKind
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> Period:
        """The period a report compares with: the week, month or quarter before, or for a
        range the same number of days ending the day before it starts."""
        before = self.start - timedelta(days=1)
        if self.kind == "week":
            return week_of(before)
        if self.kind == "month":
            return month_of(before)
        if self.kind == "quarter":
            return quarter_of(before)
        return day_range(before - timedelta(days=self.days - 1), before)

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def utc_bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """The period as naive UTC instants ``[first, last)``: local midnight of ``start`` to
        local midnight after ``end``, in ``timezone`` (the warehouse stores naive UTC)."""
        zone = ZoneInfo(timezone)

        def utc(day: date) -> datetime:
            local = datetime(day.year, day.month, day.day, tzinfo=zone)
            return local.astimezone(UTC).replace(tzinfo=None)

        return utc(self.start), utc(self.end + timedelta(days=1))

    def span_text(self) -> str:
        """``2025-03-03 – 2025-03-09``."""
        return f"{self.start.isoformat()} – {self.end.isoformat()}"

    def file_label(self) -> str:
        """The label in a form fit for a file name (``2025-03-05_2025-03-11``)."""
        return self.label.replace("..", "_")


def week_of(day: date) -> Period:
    """The ISO week holding ``day``, labelled with its ISO year (2024-12-30 is in 2025-W01)."""
    iso = day.isocalendar()
    monday = day - timedelta(days=iso.weekday - 1)
    return Period(f"{iso.year}-W{iso.week:02d}", "week", monday, monday + timedelta(days=6))


def month_of(day: date) -> Period:
    return Period(
        f"{day.year}-{day.month:02d}",
        "month",
        date(day.year, day.month, 1),
        _last_day_of_month(day.year, day.month),
    )


def quarter_of(day: date) -> Period:
    q = (day.month - 1) // 3 + 1
    first_month = 3 * (q - 1) + 1
    return Period(
        f"{day.year}-Q{q}",
        "quarter",
        date(day.year, first_month, 1),
        _last_day_of_month(day.year, first_month + 2),
    )


def day_range(start: date, end: date) -> Period:
    label = start.isoformat() if start == end else f"{start.isoformat()}..{end.isoformat()}"
    return Period(label, "range", start, end)


def last_complete(kind: Literal["week", "month"], day: date) -> Period:
    """The last week or month that ended before ``day`` (a local date)."""
    current = week_of(day) if kind == "week" else month_of(day)
    return current.previous


def _year(text: str, value: str) -> int:
    year = int(value)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise _bad(
            text,
            f"year {year} is out of range {MIN_YEAR}–{MAX_YEAR}",
            f"年份 {year} 超出范围 {MIN_YEAR}–{MAX_YEAR}",
        )
    return year


def _day(text: str, value: str) -> date:
    if not _DAY.match(value):
        raise _bad(
            text, f"'{value}' is not a date YYYY-MM-DD", f"'{value}' 不是 YYYY-MM-DD 格式的日期"
        )
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise _bad(text, f"{value} is not a real date", f"{value} 不是有效日期") from None
    _year(text, str(day.year))
    return day


def parse_period(text: str) -> Period:
    """A period from its written form; :class:`PeriodError` (bilingual) when it is not one.

    ``2025-W10`` (ISO week, Monday to Sunday; ``2025W10`` too), ``2025-03`` (month),
    ``2025-Q1`` (quarter), ``2025-03-05..2025-03-11`` (days, both included; ``/`` works as
    the separator too) or ``2025-03-05`` (one day).
    """
    raw = text
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        raise _bad(str(raw), "it is empty", "周期为空")
    if m := _WEEK.match(text):
        year, week = _year(text, m.group(1)), int(m.group(2))
        weeks = iso_weeks_in(year)
        if not 1 <= week <= weeks:
            raise _bad(
                text,
                f"{year} has ISO weeks 1–{weeks}, not {week}",
                f"{year} 年的 ISO 周为第 1–{weeks} 周，没有第 {week} 周",
            )
        return week_of(date.fromisocalendar(year, week, 1))
    if m := _QUARTER.match(text):
        year, q = _year(text, m.group(1)), int(m.group(2))
        if not 1 <= q <= 4:
            raise _bad(text, f"quarter {q} is not 1–4", f"季度 {q} 不在 1–4 之间")
        return quarter_of(date(year, 3 * q, 1))
    if m := _MONTH.match(text):
        year, month = _year(text, m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise _bad(text, f"month {month} is not 1–12", f"月份 {month} 不在 1–12 之间")
        return month_of(date(year, month, 1))
    if m := _RANGE.match(text):
        start, end = _day(text, m.group(1)), _day(text, m.group(2))
        if end < start:
            raise _bad(
                text,
                f"the range ends ({end}) before it starts ({start})",
                f"结束日期 {end} 早于开始日期 {start}",
            )
        return day_range(start, end)
    if _DAY.match(text):
        day = _day(text, text)
        return day_range(day, day)
    raise _bad(
        text,
        "write an ISO week, a month, a quarter or a range of days",
        "请写 ISO 周、月份、季度或日期范围",
    )


def check_timezone(name: str) -> str:
    """``name`` when it is a known IANA time zone; else a bilingual :class:`ServqError`."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ServqError(
            f"unknown time zone '{name}' (an IANA name such as Asia/Shanghai) / "
            f"未知时区 '{name}'（应为 IANA 时区名，如 Asia/Shanghai）"
        ) from None
    return name
