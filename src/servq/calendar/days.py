"""The day rule: which dates of a calendar are working days, holidays or rest days, and their hours.

Owns: the one place that asks ``chinese_calendar`` and ``holidays`` about dates. Every date is
exactly one of:

- **working**: ``extra_workdays``; else (``china``) ``chinese_calendar.is_workday`` — Monday to
  Friday outside public holidays plus the adjusted working days (调休上班); else (``country:XX``
  and ``none``) Monday to Friday that is not a holiday;
- **holiday**: ``extra_holidays``; else a public holiday of the source (for ``china`` every day
  off of a holiday period, weekends inside it included);
- **rest**: anything else, i.e. an ordinary Saturday or Sunday.

``extra_workdays`` wins over everything, then ``extra_holidays``, then the source.

Hours: a holiday is closed. A working day from Monday to Friday uses that weekday's override when
the calendar gives one, else ``workday``. A working day on a Saturday or Sunday (an adjusted
working day, or an extra workday on a weekend) uses ``workday``: it stands in for a weekday, so a
``saturday`` override (often ``[]``) must not close it. A rest day uses its weekday's override
when given, else it is closed.

``chinese_calendar`` knows only the years its release covers; asking about another year raises
:class:`CalendarRangeError` naming the years it knows, never a guess.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import cache
from typing import Any

from servq.calendar.model import CalendarSpec, TimeRange
from servq.errors import ServqError


class CalendarRangeError(ServqError):
    """A date outside the years the calendar's holiday data covers."""


class DayKind(StrEnum):
    WORKING = "working"
    HOLIDAY = "holiday"
    REST = "rest"


@cache
def china_supported_years() -> tuple[int, int]:
    """First and last year the installed ``chinesecalendar`` release has holiday data for."""
    from chinese_calendar import constants

    years = [d.year for d in constants.holidays]
    return min(years), max(years)


def supported_years(spec: CalendarSpec) -> tuple[int, int] | None:
    """Years the calendar can answer for, or None when any year is fine."""
    return china_supported_years() if spec.holiday_source == "china" else None


def _china_version() -> str:
    import chinese_calendar

    return str(getattr(chinese_calendar, "__version__", "?"))


def range_message(spec: CalendarSpec, what: str) -> str:
    first, last = china_supported_years()
    return (
        f"calendar '{spec.name}' takes China's holidays and adjusted working days from "
        f"chinesecalendar {_china_version()}, which knows the years {first}–{last} only; "
        f"{what} is outside them (upgrade chinesecalendar when the State Council publishes "
        f"a new year's arrangement)"
    )


class DayRule:
    """Classifies dates of one calendar and gives their open hours (see the module docstring)."""

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        self._extra_work = frozenset(spec.extra_workdays)
        self._extra_off = frozenset(spec.extra_holidays)
        self._country: Any = None
        if spec.country is not None:
            import holidays

            # expand=True (the default) fills in further years lazily as dates are asked about
            self._country = holidays.country_holidays(spec.country)

    def kind(self, day: date) -> DayKind:
        if day in self._extra_work:
            return DayKind.WORKING
        if day in self._extra_off:
            return DayKind.HOLIDAY
        source = self.spec.holiday_source
        if source == "china":
            return self._china(day)
        if source == "country" and day in self._country:
            return DayKind.HOLIDAY
        return DayKind.WORKING if day.weekday() < 5 else DayKind.REST

    def _china(self, day: date) -> DayKind:
        import chinese_calendar
        from chinese_calendar import constants

        first, last = china_supported_years()
        if not first <= day.year <= last:
            raise CalendarRangeError(range_message(self.spec, day.isoformat()))
        if chinese_calendar.is_workday(day):
            return DayKind.WORKING
        # is_workday is False for ordinary weekends too; only the listed dates are public holidays
        return DayKind.HOLIDAY if day in constants.holidays else DayKind.REST

    def hours(self, day: date) -> tuple[TimeRange, ...]:
        kind = self.kind(day)
        if kind is DayKind.HOLIDAY:
            return ()
        override = self.spec.hours.override(day.weekday())
        if kind is DayKind.WORKING:
            if day.weekday() >= 5 or override is None:
                return self.spec.hours.workday
            return override
        return override or ()


def day_kind(spec: CalendarSpec, day: date) -> DayKind:
    """Whether ``day`` is a working day, a holiday or a rest day in ``spec``."""
    return DayRule(spec).kind(day)


def open_hours(spec: CalendarSpec, day: date) -> tuple[TimeRange, ...]:
    """The open intervals of ``day`` in the calendar's local time (empty when closed)."""
    return DayRule(spec).hours(day)
