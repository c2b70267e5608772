"""Mapping profiles: built-ins load, and a wrong profile names every problem's file, line, field."""

from __future__ import annotations

from pathlib import Path

import pytest

from servq.errors import DefinitionError
from servq.ingest.profile import load_profile_file, parse_profile
from servq.ingest.registry import ProfileRegistry, builtin_profiles

BROKEN = """\
name: my-helpdesk
target: case
timezone: Mars/Olympus
fields:
  case_id: Ticket ID
  created_at: {column: Created, format: "dd/mm/yyyy"}
  colour: Colour
  status:
    column: State
    values: {待处理: open, 已解决: done}
events:
  - {activity: created, timestamp: creatd_at}
"""


def test_builtin_profiles_are_all_there() -> None:
    names = set(builtin_profiles())
    assert {"tickets", "nyc311", "xes", "anonymous-bank"} <= names
    assert {"case-events", "feedback", "calls", "roster", "audits", "outcomes"} <= names


def test_every_problem_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_profile_file(path)
    found = {(p.line, p.field) for p in info.value.problems}
    assert found == {
        (3, "timezone"),
        (6, "fields.created_at.format"),
        (7, "fields.colour.__key__"),
        (10, "fields.status.values.已解决"),
        (12, "events[0].timestamp"),
    }
    text = str(info.value)
    assert f"{path}:3: timezone: unknown time zone 'Mars/Olympus'" in text
    assert "'done' is not a canonical status" in text
    assert "5 problem(s)" in text


def test_schema_errors_are_collected_too() -> None:
    with pytest.raises(DefinitionError) as info:
        parse_profile("name: Bad Name\ntarget: tickets\nfields: {}\n", "x.yaml")
    fields = {p.field for p in info.value.problems}
    assert fields == {"name", "target"}
    assert all(p.line in (1, 2) for p in info.value.problems)


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(DefinitionError) as info:
        parse_profile("name: x\ntarget: case\nfields: {case_id: [\n", "y.yaml")
    assert info.value.problems[0].line is not None
    assert "not valid YAML" in info.value.problems[0].message


def test_user_profiles_register_and_may_not_shadow_builtins(tmp_path: Path) -> None:
    """A user's profile named like a built-in is refused, never silently preferred or ignored:
    asking for the duplicated name is an error that names the clashing file."""
    (tmp_path / "ok.yaml").write_text(
        "name: branch-visits\ntarget: case\nfields:\n  case_id: 编号\n  created_at: 到店时间\n",
        encoding="utf-8",
    )
    (tmp_path / "clash.yaml").write_text(
        "name: tickets\ntarget: case\nfields:\n  case_id: id\n", encoding="utf-8"
    )
    reg = ProfileRegistry([tmp_path])
    assert reg.get("branch-visits").fields["case_id"].column == "编号"
    (problem,) = reg.problems
    assert "also defined by" in problem.message and problem.file.endswith("clash.yaml")
    with pytest.raises(DefinitionError, match=r"clash\.yaml"):
        reg.get("tickets")
    # the other profiles are unaffected
    assert reg.get("nyc311").target == "case"
