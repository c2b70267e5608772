"""docs/calendars.md is tested: a calendar field or built-in calendar it does not mention fails."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from servq.calendar import CalendarSpec, Hours, builtin_calendars, open_hours, parse_calendar

DOC = Path(__file__).resolve().parents[2] / "docs" / "calendars.md"


def test_every_calendar_field_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in [*CalendarSpec.model_fields, *Hours.model_fields]:
        assert f"| `{name}` |" in text, f"docs/calendars.md does not document field {name}"


def test_every_builtin_calendar_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in builtin_calendars():
        assert f"| `{name}` |" in text, f"docs/calendars.md does not list calendar {name}"


def test_the_documented_example_is_a_valid_calendar() -> None:
    text = DOC.read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    cal = parse_calendar(example, "docs/calendars.md")
    # the example's saturday: [] must not close an adjusted working Saturday
    assert [str(r) for r in open_hours(cal, date(2025, 2, 8))] == ["09:00-12:00", "13:30-18:00"]
    assert open_hours(cal, date(2025, 12, 31)) == ()
