"""The ``servq sla`` commands, run through a Typer app that mounts ``sla_app`` as main will."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from sla_helpers import add_tickets
from typer.testing import CliRunner

import servq
from servq.cli.sla_cmd import sla_app

app = typer.Typer()
app.add_typer(sla_app, name="sla")
runner = CliRunner()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    with servq.open_workspace(path) as ws:
        add_tickets(
            ws,
            [
                # Monday 09:00 Beijing; standard default rule: first reply 4 h
                {
                    "ticket_id": "OK",
                    "created_at": "2025-01-06 09:00",
                    "first_reply_at": "2025-01-06 10:00",
                    "priority": "normal",
                    "team": "a",
                },
                # urgent: first reply 30 min, answered after 2 h
                {
                    "ticket_id": "LATE",
                    "created_at": "2025-01-06 09:00",
                    "first_reply_at": "2025-01-06 11:00",
                    "priority": "urgent",
                    "team": "b",
                },
            ],
        )
    return path


def test_policies(workspace: Path) -> None:
    (workspace / "sla").mkdir()
    (workspace / "sla" / "mine.yaml").write_text(
        "name: mine\ncalendar: 24x7\nrules:\n  - targets: {first_reply: 1h}\n", encoding="utf-8"
    )
    (workspace / "sla" / "bad.yaml").write_text("name: bad\n", encoding="utf-8")
    result = runner.invoke(app, ["sla", "policies", "-w", str(workspace), "--json"])
    assert result.exit_code == 0, result.output
    start = result.stdout.index("[")
    found = {p["name"]: p for p in json.loads(result.stdout[start:])}
    assert {"standard", "always-on", "government-10-workdays", "mine"} <= set(found)
    assert found["mine"]["origin"].endswith("mine.yaml")
    assert found["standard"]["targets"] == ["first_reply", "next_reply", "resolution"]
    # a broken file is skipped with its problems on stderr, the rest still listed
    assert "bad.yaml" in result.stderr and "skipped" in result.stderr
    table = runner.invoke(app, ["sla", "policies", "-w", str(workspace)])
    assert table.exit_code == 0 and "standard" in table.stdout


def test_status_json_csv_and_table(workspace: Path) -> None:
    result = runner.invoke(
        app, ["sla", "status", "--policy", "standard", "-w", str(workspace), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["policy"] == "standard" and out["as_of"].startswith("2025-01-06T03:00")
    fr = next(r for r in out["attainment"] if r["target"] == "first_reply")
    assert (fr["achieved"], fr["breached"], fr["attainment"]) == (1, 1, 0.5)

    result = runner.invoke(
        app,
        [
            "sla",
            "status",
            "-p",
            "standard",
            "-w",
            str(workspace),
            "--by",
            "team",
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("target,team,active,at_risk,paused,achieved,breached")
    assert any(line.startswith("first_reply,b,") and line.endswith(",0.0") for line in lines)

    result = runner.invoke(app, ["sla", "status", "-p", "standard", "-w", str(workspace)])
    assert result.exit_code == 0 and "50.0%" in result.stdout


def test_cases_filtered_by_state(workspace: Path) -> None:
    result = runner.invoke(
        app,
        [
            "sla",
            "cases",
            "-p",
            "standard",
            "-w",
            str(workspace),
            "--state",
            "breached",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["cases"]
    # LATE: urgent first reply 30 min, due 09:30 Beijing = 01:30 UTC
    assert [(r["case_id"], r["target"]) for r in rows] == [("LATE", "first_reply")]
    assert rows[0]["due_at"].startswith("2025-01-06T01:30:00")
    assert rows[0]["seconds_left"] == -5400

    result = runner.invoke(
        app, ["sla", "cases", "-p", "standard", "-w", str(workspace), "--target", "resolution"]
    )
    assert result.exit_code == 0 and "OK" in result.stdout and "LATE" in result.stdout


def test_errors_exit_2_with_one_message(workspace: Path, tmp_path: Path) -> None:
    for args in (
        ["sla", "status", "-p", "nope", "-w", str(workspace)],
        ["sla", "status", "-p", "standard", "-w", str(workspace), "--by", "colour"],
        ["sla", "status", "-p", "standard", "-w", str(workspace), "--as-of", "yesterday-ish"],
        ["sla", "cases", "-p", "standard", "-w", str(workspace), "--state", "late"],
        ["sla", "status", "-p", "standard", "-w", str(tmp_path / "missing")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.stderr and "Traceback" not in result.output


def test_validate(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: good\ncalendar: 24x7\nrules:\n  - targets: {first_reply: 1h}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ncalendar: 24x7\nrules:\n  - when: {priority: high}\n"
        "    targets: {first_reply: soon}\n"
    )
    result = runner.invoke(app, ["sla", "validate", str(good), str(bad), "-w", str(tmp_path)])
    assert result.exit_code == 1
    assert "good.yaml: ok" in result.stdout
    assert f"{bad}:3: rules: no default rule" in result.stderr
    assert f"{bad}:5: rules[0].targets.first_reply" in result.stderr
