"""Calendar YAML: every problem reported with its line and field; the registry and built-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from servq.calendar import (
    CalendarRegistry,
    TimeRange,
    builtin_calendars,
    load_calendar,
    load_calendar_file,
    parse_calendar,
)
from servq.errors import DefinitionError, Problem, ServqError

GOOD = """\
name: night-desk
title_en: Night desk
title_zh: 夜间值班
timezone: Europe/London
hours:
  workday: ["00:00-06:00", "22:00-24:00"]
  saturday: ["10:00-14:00"]
  sunday: []
holidays: country:gb
extra_holidays: [2025-12-31]
extra_workdays: ["2025-12-27"]
"""


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(DefinitionError) as info:
        parse_calendar(text, "cal.yaml")
    return info.value.problems


def test_a_good_calendar_is_read_into_typed_values() -> None:
    cal = parse_calendar(GOOD)
    assert cal.hours.workday == (TimeRange(0, 6 * 3600), TimeRange(22 * 3600, 86400))
    assert str(cal.hours.workday[1]) == "22:00-24:00"
    assert cal.hours.saturday == (TimeRange(36000, 50400),)
    assert cal.hours.sunday == ()
    assert cal.hours.monday is None  # absent: no override, workday applies
    assert cal.holidays == "country:GB"  # the code is normalised to upper case
    assert cal.country == "GB"
    assert cal.holiday_source == "country"
    assert str(cal.extra_holidays[0]) == "2025-12-31"


def test_a_file_with_several_problems_reports_all_with_lines() -> None:
    text = """\
name: Office Hours
timezone: Asia/Shangai
hours:
  workday: ["9am-5pm"]
  saturday: ["09:00-12:00", "11:00-13:00"]
  sunday: ["18:00-09:00"]
  monday:
    - "09:00-24:30"
    - "13:00-12:00:00"
    - 12:00
  friday: ["14:00-18:00", "09:00-12:00"]
holidays: country:ZZ
extra_holidays: ["2025-12-31"]
extra_workdays: ["2025-10-11", "2025-12-31"]
colour: blue
"""
    found = {(p.line, p.field): p.message for p in problems_of(text)}
    expected = {
        (1, "name"): "should match pattern",
        (2, "timezone"): "unknown time zone 'Asia/Shangai'",
        (4, "hours.workday[0]"): "'9am' is not a time of day",
        (5, "hours.saturday"): "'11:00-13:00' overlaps",
        (6, "hours.sunday[0]"): "ends before it starts",
        (8, "hours.monday[0]"): "'24:30' is not an end time",
        (9, "hours.monday[1]"): "ends before it starts",
        (10, "hours.monday[2]"): "quote it in YAML",
        (11, "hours.friday"): "'09:00-12:00' overlaps or comes before '14:00-18:00'",
        (12, "holidays"): "unknown country code 'ZZ'",
        (14, "extra_workdays"): "2025-12-31 also in extra_holidays",
        (15, "colour"): "Extra inputs are not permitted",
    }
    for where, words in expected.items():
        assert where in found, f"no problem reported at {where}: {found}"
        assert words in found[where]
    assert len(found) == len(expected)


def test_each_interval_rule() -> None:
    def one(hours: str) -> str:
        text = f"name: x\ntimezone: UTC\nhours:\n  workday: {hours}\n"
        (problem,) = problems_of(text)
        assert problem.line == 4
        return problem.message

    assert "is empty" in one('["09:00-09:00"]')
    assert "not an interval" in one('["09:00"]')
    assert "not a start time" in one('["24:00-24:00"]')
    assert "not a time of day" in one('["09:60-10:00"]')
    assert "overlaps" in one('["09:00-12:00", "10:00-11:00"]')
    # touching intervals are fine; 24:00 is an end
    assert parse_calendar("name: x\ntimezone: UTC\nhours: {workday: [00:00-12:00, 12:00-24:00]}")


def test_holiday_source_spellings() -> None:
    base = "name: x\ntimezone: UTC\nhours: {workday: ['09:00-17:00']}\n"
    assert parse_calendar(base + "holidays: china").holiday_source == "china"
    assert parse_calendar(base + "holidays: none").holiday_source == "none"
    assert parse_calendar(base).holiday_source == "none"  # the default
    (problem,) = problems_of(base + "holidays: japan")
    assert problem.line == 4 and "country:XX" in problem.message


def test_whole_calendar_rules_use_the_checks_hook() -> None:
    (problem,) = problems_of("name: x\ntimezone: UTC\nhours:\n  workday: []\n  saturday: []\n")
    assert problem.line == 3 and problem.field == "hours" and "never open" in problem.message


def test_an_impossible_unquoted_date_is_a_problem_not_a_crash() -> None:
    # PyYAML raises a bare ValueError while building the date object
    text = "name: x\ntimezone: UTC\nhours: {workday: [09:00-17:00]}\nextra_holidays: [2025-02-30]"
    (problem,) = problems_of(text)
    assert problem.line == 4 and problem.field == "extra_holidays[0]"
    assert "2025-02-30" in problem.message


def test_builtins_are_valid_and_named_as_documented() -> None:
    cals = builtin_calendars()
    assert sorted(cals) == ["24x7", "cn-office", "cn-service", "us-office", "weekdays-9-17"]
    office = cals["cn-office"].calendar
    assert [str(r) for r in office.hours.workday] == ["09:00-12:00", "13:30-18:00"]
    assert office.timezone == "Asia/Shanghai" and office.holidays == "china"
    assert cals["us-office"].calendar.holidays == "country:US"
    assert cals["weekdays-9-17"].calendar.timezone == "UTC"


def test_workspace_calendars_are_found_and_duplicate_names_refused(tmp_path: Path) -> None:
    folder = tmp_path / "calendars"
    folder.mkdir()
    (folder / "night.yaml").write_text(GOOD, encoding="utf-8")
    (folder / "copy.yaml").write_text(
        GOOD.replace("name: night-desk", "name: cn-office"), encoding="utf-8"
    )
    (folder / "broken.yaml").write_text("name: broken\ntimezone: Mars/Base\n", encoding="utf-8")

    assert load_calendar("night-desk", folders=[folder]).timezone == "Europe/London"
    assert load_calendar("24x7", folders=[folder]).name == "24x7"
    with pytest.raises(DefinitionError, match="also defined by built-in"):
        load_calendar("cn-office", folders=[folder])
    with pytest.raises(DefinitionError) as info:
        load_calendar("broken", folders=[folder])
    assert {p.field for p in info.value.problems} >= {"timezone", "hours"}
    registry = CalendarRegistry([folder])
    assert len(registry.problems) == 3  # the duplicate, and two in the broken file
    assert "night-desk" in [e.calendar.name for e in registry.entries()]

    # by path: no registration, so no clash with the built-in of the same name
    assert load_calendar(folder / "copy.yaml").name == "cn-office"
    assert load_calendar_file(folder / "night.yaml").name == "night-desk"
    with pytest.raises(ServqError, match="known calendars: 24x7, cn-office"):
        load_calendar("nope")


def test_two_user_files_with_one_name_are_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        (folder / "night.yaml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(DefinitionError, match="night-desk"):
        load_calendar("night-desk", folders=[a, b])
