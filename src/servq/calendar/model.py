"""Calendar definitions: the YAML model of a business calendar and its validation.

Owns: ``CalendarSpec`` (YAML → frozen pydantic), the text form of opening hours
(``"09:00-12:00"``), and loading calendar files. Knows nothing about which dates are holidays
(``days.py``) nor about timestamps (``clock.py``).

A calendar file::

    name: cn-office
    title_en: China office hours
    title_zh: 中国大陆工作时间
    timezone: Asia/Shanghai
    hours:
      workday: ["09:00-12:00", "13:30-18:00"]
      saturday: []
    holidays: china          # china | country:XX | none
    extra_holidays: ["2025-12-31"]
    extra_workdays: []

Almost every rule is checked per field, so pydantic reports all of a file's problems in one pass;
only whole-calendar rules use the ``checks`` hook of :func:`servq.yamlfile.load_model`, which runs
once the fields themselves are valid.
"""

from __future__ import annotations

import itertools
import re
from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from servq.errors import DefinitionError, Problem
from servq.yamlfile import Loc, load_model, load_model_file

DAY_SECONDS = 86_400
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HolidaySource = Literal["china", "country", "none"]

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


class TimeRange(NamedTuple):
    """One open interval of a day, in seconds after local midnight; ``end`` may be 86400 (24:00)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_clock_text(self.start)}-{_clock_text(self.end)}"


def _clock_text(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def _parse_clock(text: str, *, is_end: bool) -> int:
    m = _CLOCK.match(text.strip())
    if m is None:
        raise ValueError(f"'{text}' is not a time of day HH:MM")
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if mi > 59 or s > 59:
        raise ValueError(f"'{text}' is not a time of day HH:MM")
    seconds = h * 3600 + mi * 60 + s
    if seconds > DAY_SECONDS or (seconds == DAY_SECONDS and not is_end) or h > 24:
        what = "an end" if is_end else "a start"
        raise ValueError(f"'{text}' is not {what} time (00:00 to {'24:00' if is_end else '23:59'})")
    return seconds


def _parse_range(value: Any) -> Any:
    if isinstance(value, TimeRange):
        return value
    if not isinstance(value, str):
        # PyYAML reads an unquoted 12:00 as the sexagesimal number 720: say how to fix it
        raise ValueError(f"expected text 'HH:MM-HH:MM' (quote it in YAML), got {value!r}")
    parts = value.split("-")
    if len(parts) != 2:
        raise ValueError(f"'{value}' is not an interval 'HH:MM-HH:MM'")
    start = _parse_clock(parts[0], is_end=False)
    end = _parse_clock(parts[1], is_end=True)
    if end < start:
        raise ValueError(
            f"'{value}' ends before it starts; an interval past midnight is two intervals: "
            f"'...-24:00' on one day and '00:00-...' on the next"
        )
    if end == start:
        raise ValueError(f"'{value}' is empty")
    return TimeRange(start, end)


def _check_order(ranges: tuple[TimeRange, ...]) -> tuple[TimeRange, ...]:
    problems = [
        f"'{cur}' overlaps or comes before '{prev}'"
        for prev, cur in itertools.pairwise(ranges)
        if cur.start < prev.end
    ]
    if problems:
        raise ValueError("; ".join(problems) + " (list intervals in order, without overlaps)")
    return ranges


Interval = Annotated[TimeRange, BeforeValidator(_parse_range)]
DayHours = Annotated[tuple[Interval, ...], AfterValidator(_check_order)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Hours(_Frozen):
    """Open intervals per kind of day. ``None`` (absent) means no override for that weekday."""

    workday: DayHours = Field(description="hours of a working day")
    monday: DayHours | None = None
    tuesday: DayHours | None = None
    wednesday: DayHours | None = None
    thursday: DayHours | None = None
    friday: DayHours | None = None
    saturday: DayHours | None = None
    sunday: DayHours | None = None

    def override(self, weekday: int) -> tuple[TimeRange, ...] | None:
        """The override for a weekday (0 = Monday), or None when the calendar gives none."""
        value: tuple[TimeRange, ...] | None = getattr(self, WEEKDAYS[weekday])
        return value


@cache
def _countries() -> frozenset[str]:
    import holidays

    return frozenset(holidays.list_supported_countries())


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone '{value}' (an IANA name such as Asia/Shanghai)"
        ) from None
    return value


def _holidays(value: str) -> str:
    text = value.strip()
    if text in ("china", "none"):
        return text
    if text.startswith("country:"):
        code = text.removeprefix("country:").strip().upper()
        if code not in _countries():
            raise ValueError(
                f"unknown country code '{code}' for the holidays package (e.g. US, GB, HK, DE)"
            )
        return f"country:{code}"
    raise ValueError(f"'{value}' must be 'china', 'country:XX' (e.g. country:US) or 'none'")


class CalendarSpec(_Frozen):
    """A business calendar: zone, open hours per day, and which dates are holidays."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title_en: str = ""
    title_zh: str = ""
    description: str = ""
    timezone: Annotated[str, AfterValidator(_zone)]
    hours: Hours
    holidays: Annotated[str, AfterValidator(_holidays)] = Field(
        default="none", description="china | country:XX | none"
    )
    extra_holidays: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()

    @field_validator("extra_workdays")
    @classmethod
    def _not_both(cls, value: tuple[date, ...], info: ValidationInfo) -> tuple[date, ...]:
        # A field validator (not a `checks` rule) so this is reported together with every other
        # problem of the file; extra_holidays is validated first, so info.data holds it if valid.
        off = set(info.data.get("extra_holidays", ()))
        both = sorted(d for d in set(value) if d in off)
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"{listed} also in extra_holidays: a date is one or the other")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def holiday_source(self) -> HolidaySource:
        if self.holidays.startswith("country:"):
            return "country"
        return "china" if self.holidays == "china" else "none"

    @property
    def country(self) -> str | None:
        """The country code of ``country:XX`` calendars, else None."""
        return self.holidays.removeprefix("country:") if self.holiday_source == "country" else None


def validate_calendar(spec: CalendarSpec) -> list[tuple[Loc, str]]:
    """Whole-calendar rules; every problem is returned, none raised."""
    problems: list[tuple[Loc, str]] = []
    days = [spec.hours.workday, *(spec.hours.override(i) for i in range(7))]
    if not any(days):
        problems.append((("hours",), "the calendar is never open: give hours for some day"))
    return problems


def _impossible_dates(text: str, file: str) -> DefinitionError:
    """Problems for unquoted impossible dates such as 2025-02-30.

    PyYAML turns an unquoted date into a ``date`` while loading and raises a plain ValueError
    (not a YAMLError) for an impossible one, which ``load_model`` does not catch; a calendar is
    full of dates, so find each such scalar and report it with its line like any other problem.
    """
    problems: list[Problem] = []

    def walk(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, f"{path}.{key.value}" if path else str(key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{path}[{i}]")
        elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:timestamp":
            try:
                yaml.SafeLoader(node.value).construct_yaml_timestamp(node)
            except ValueError as exc:
                problems.append(
                    Problem(file, node.start_mark.line + 1, path, f"'{node.value}': {exc}")
                )

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, "")
    return DefinitionError(problems or [Problem(file, None, "", "a value is not valid")])


def parse_calendar(text: str, file: str = "<calendar>") -> CalendarSpec:
    """A calendar from YAML text; raises DefinitionError listing every problem."""
    try:
        return load_model(CalendarSpec, text, file, checks=validate_calendar)
    except ValueError:
        raise _impossible_dates(text, file) from None


def load_calendar_file(path: Path) -> CalendarSpec:
    """A calendar from a YAML file; raises DefinitionError listing every problem."""
    try:
        return load_model_file(CalendarSpec, path, checks=validate_calendar)
    except ValueError:
        raise _impossible_dates(path.read_text(encoding="utf-8"), str(path)) from None
