"""SLA policy files: durations, rules, every problem with its line, and the registry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from servq.calendar import load_calendar
from servq.errors import DefinitionError, ServqError
from servq.sla import (
    PolicyRegistry,
    builtin_policies,
    load_policy,
    parse_duration,
    parse_policy,
    workday_seconds,
)

GOOD = """\
name: standard-test
title_en: Standard support SLA
title_zh: 标准服务等级协议
calendar: cn-office
pause_statuses: [pending, on_hold]
warn_at: 0.8
rules:
  - when: {priority: urgent}
    targets: {first_reply: 30m, next_reply: 1h, resolution: 4h}
  - when: {priority: high, channel: [phone, chat]}
    targets: {first_reply: 1h, resolution: 8h}
  - targets: {first_reply: 4h, resolution: 3d}
"""


@pytest.mark.parametrize(
    ("text", "seconds", "days"),
    [
        ("30m", 1800, 0),
        ("1h", 3600, 0),
        ("2h30m", 9000, 0),
        ("1.5h", 5400, 0),
        ("45s", 45, 0),
        ("3d", 3 * 86400, 0),  # d = 24 hours of business time
        ("10bd", 0, 10),
        ("1bd4h", 4 * 3600, 1),
        (" 2H ", 7200, 0),
    ],
)
def test_durations(text: str, seconds: float, days: float) -> None:
    d = parse_duration(text)
    assert (d.seconds, d.business_days) == (seconds, days)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("30", "not a duration"),
        (30, "a number needs a unit"),
        ("1h1h", "twice"),
        ("0m", "zero"),
        ("2 weeks", "not a duration"),
        ("-1h", "not a duration"),
    ],
)
def test_bad_durations(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


def test_bd_is_the_open_time_of_a_workday() -> None:
    # cn-office is open 09:00-12:00 and 13:30-18:00: 3 h + 4.5 h = 7.5 h a working day
    assert workday_seconds(load_calendar("cn-office")) == 7.5 * 3600
    assert workday_seconds(load_calendar("weekdays-9-17")) == 8 * 3600
    assert workday_seconds(load_calendar("24x7")) == 24 * 3600
    assert parse_duration("10bd").total_seconds(7.5 * 3600) == 75 * 3600


def test_a_good_policy() -> None:
    p = parse_policy(GOOD)
    assert p.name == "standard-test" and p.calendar == "cn-office"
    assert p.pause_statuses == ("pending", "on_hold") and p.warn_at == 0.8
    assert p.rules[1].when == {"priority": ("high",), "channel": ("phone", "chat")}
    assert p.rules[2].is_default and p.rules[2].targets["resolution"].seconds == 3 * 86400
    assert p.targets() == ("first_reply", "next_reply", "resolution")


def test_first_matching_rule_wins() -> None:
    p = parse_policy(GOOD)
    cases = pd.DataFrame(
        {
            "priority": ["urgent", "urgent", "high", "high", None, "low"],
            "channel": ["phone", "email", "chat", "email", "phone", None],
            "category": ["a", "b", "c", "d", "e", "f"],
        }
    )
    # urgent phone matches rule 0 and the default: rule 0 wins; high email is not phone/chat;
    # a missing priority meets no condition, so it falls to the default
    assert p.match(cases).tolist() == [0, 0, 1, 2, 2, 2]


BAD = """\
name: Bad Name
calendar: nowhere
pause_statuses: [pending, closed]
warn_at: 1.5
rules:
  - when: {priority: urgnet}
    targets: {first_reply: 30 minutes, resolve: 4h}
  - when: {team: A}
    targets: {first_reply: 1h}
"""


def test_every_problem_with_its_line() -> None:
    with pytest.raises(DefinitionError) as info:
        parse_policy(BAD, "bad.yaml")
    found = {(p.line, p.field): p.message for p in info.value.problems}
    assert all(p.file == "bad.yaml" for p in info.value.problems)
    assert "should match pattern" in found[(1, "name")]
    assert "no calendar 'nowhere'" in found[(2, "calendar")]
    assert "ends a case" in found[(3, "pause_statuses[1]")]
    assert "less than or equal to 1" in found[(4, "warn_at")]
    assert "no default rule" in found[(5, "rules")]
    assert "unknown priority 'urgnet'" in found[(6, "rules[0].when")]
    assert "'30 minutes' is not a duration" in found[(7, "rules[0].targets.first_reply")]
    assert "'first_reply', 'next_reply' or 'resolution'" in found[(7, "rules[0].targets.resolve")]
    assert "'priority', 'channel' or 'category'" in found[(8, "rules[1].when.team")]
    assert len(found) == 9
    # listed in file order, so the message reads top to bottom
    lines = [p.line or 0 for p in info.value.problems]
    assert lines == sorted(lines)


def test_rules_that_can_never_match() -> None:
    text = """\
name: shadowed
calendar: 24x7
rules:
  - when: {channel: [phone, chat]}
    targets: {first_reply: 1h}
  - when: {channel: phone, priority: high}
    targets: {first_reply: 30m}
  - targets: {first_reply: 4h}
  - when: {priority: urgent}
    targets: {first_reply: 10m}
"""
    with pytest.raises(DefinitionError) as info:
        parse_policy(text, "shadowed.yaml")
    found = {(p.line, p.field): p.message for p in info.value.problems}
    # every high phone case is a phone case, which rules[0] takes first
    assert "never used: rules[0]" in found[(6, "rules[1]")]
    # after a rule without conditions nothing is reached
    assert "never used: rules[2] has no conditions" in found[(9, "rules[3]")]
    assert len(found) == 2


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("name: x\ncalendar: 24x7\nrules: []\n", "rules", "at least 1 item"),
        ("name: x\ncalendar: 24x7\nrules:\n  - targets: {}\n", "rules[0].targets", "at least 1"),
        ("name: x\nrules:\n  - targets: {first_reply: 1h}\n", "calendar", "Field required"),
        (
            "name: x\ncalendar: 24x7\nrules:\n  - targets: {first_reply: 1h}\n    extra: 1\n",
            "rules[0].extra",
            "Extra inputs",
        ),
        (
            "name: x\ncalendar: 24x7\nrules:\n  - when: {channel: []}\n"
            "    targets: {resolution: 1h}\n  - targets: {resolution: 1h}\n",
            "rules[0].when.channel",
            "empty list",
        ),
    ],
)
def test_more_problems(text: str, field: str, message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_policy(text)
    assert any(p.field == field and message in p.message for p in info.value.problems), info.value


def test_builtin_policies() -> None:
    found = builtin_policies()
    assert {"standard", "always-on", "government-10-workdays"} <= set(found)
    assert found["standard"].policy.calendar == "cn-office"
    assert found["always-on"].policy.calendar == "24x7"
    gov = found["government-10-workdays"].policy
    assert gov.calendar == "cn-office"
    assert gov.rules[-1].targets["resolution"].business_days == 10
    for entry in found.values():
        assert entry.policy.rules[-1].is_default, entry.policy.name


def test_workspace_policies_and_duplicates(tmp_path: Path) -> None:
    sla = tmp_path / "sla"
    cal = tmp_path / "calendars"
    sla.mkdir()
    cal.mkdir()
    # a workspace policy may use a workspace calendar
    (cal / "shop.yaml").write_text(
        "name: shop\ntimezone: Asia/Shanghai\nhours:\n  workday: ['10:00-22:00']\n"
        "  saturday: ['10:00-22:00']\n  sunday: ['10:00-22:00']\nholidays: china\n",
        encoding="utf-8",
    )
    (sla / "shop.yaml").write_text(
        "name: shop\ncalendar: shop\nrules:\n  - targets: {first_reply: 2h}\n", encoding="utf-8"
    )
    (sla / "copy.yaml").write_text(GOOD.replace("standard-test", "standard"), encoding="utf-8")
    (sla / "broken.yaml").write_text("name: broken\ncalendar: 24x7\n", encoding="utf-8")
    reg = PolicyRegistry.for_workspace(tmp_path)
    names = [e.policy.name for e in reg.entries()]
    assert "shop" in names and "broken" not in names
    assert reg.get("shop").calendar_spec([cal]).name == "shop"
    # a user file may not shadow a built-in: asking for the name names both
    with pytest.raises(DefinitionError, match="also defined by built-in"):
        reg.get("standard")
    with pytest.raises(DefinitionError, match="rules"):
        reg.get("broken")
    with pytest.raises(ServqError, match="known policies: always-on"):
        reg.get("nope")
    # a path works too
    assert load_policy(str(sla / "shop.yaml"), calendar_folders=[cal]).name == "shop"
    # without the workspace calendars the shop policy's calendar is unknown
    with pytest.raises(DefinitionError, match="no calendar 'shop'"):
        load_policy(str(sla / "shop.yaml"))
