"""Business calendars and the business clock: open hours, holidays, business durations, deadlines.

Owns: the calendar package's public API. ``model`` reads calendar YAML, ``days`` says what each
date is, ``registry`` finds calendars by name, ``clock`` does the arithmetic.

>>> from servq.calendar import BusinessClock
>>> clock = BusinessClock("weekdays-9-17", "2025-01-01", "2025-12-31")
>>> clock.duration("2025-01-03 16:00", "2025-01-06 10:00")  # Friday 16:00 to Monday 10:00
7200.0
"""

from servq.calendar.clock import BusinessClock, ClockSpanError
from servq.calendar.days import (
    CalendarRangeError,
    DayKind,
    DayRule,
    china_supported_years,
    day_kind,
    open_hours,
)
from servq.calendar.model import (
    CalendarSpec,
    Hours,
    TimeRange,
    load_calendar_file,
    parse_calendar,
)
from servq.calendar.registry import (
    CalendarEntry,
    CalendarRegistry,
    builtin_calendars,
    load_calendar,
)

__all__ = [
    "BusinessClock",
    "CalendarEntry",
    "CalendarRangeError",
    "CalendarRegistry",
    "CalendarSpec",
    "ClockSpanError",
    "DayKind",
    "DayRule",
    "Hours",
    "TimeRange",
    "builtin_calendars",
    "china_supported_years",
    "day_kind",
    "load_calendar",
    "load_calendar_file",
    "open_hours",
    "parse_calendar",
]
