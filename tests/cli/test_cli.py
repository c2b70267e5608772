"""The command line, run as a user runs it: a real subprocess, its output parsed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HEADER = "ticket_id,created_at,closed_at,channel,priority,status,team,subject"


def servq(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servq", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def servq_json(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Any:
    p = servq(*args, "--json", cwd=cwd, env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_ingest_json_quarantine_and_replay(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text(
        "\n".join(
            [
                HEADER,
                "T1,2025-03-01 09:00,,phone,high,open,A,x",
                "T2,2025-03-01 09:00,,fax,high,open,A,y",
                "T3,someday,,phone,high,open,A,z",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    # default workspace is ./servq-data in the current folder
    out = servq_json("ingest", str(f), "--profile", "tickets", cwd=tmp_path)
    for key in ("read", "loaded", "duplicates", "quarantined", "quarantine_reasons", "batch_id"):
        assert key in out
    assert (out["read"], out["loaded"], out["duplicates"], out["quarantined"]) == (3, 1, 0, 2)
    assert out["quarantine_reasons"] == {"unknown_value:channel": 1, "bad_timestamp:created_at": 1}
    assert (tmp_path / "servq-data" / "warehouse.duckdb").is_file()

    listed = servq_json("quarantine", "list", cwd=tmp_path)
    assert {(r["batch_id"], r["reason"], r["rows"]) for r in listed} == {
        (out["batch_id"], "unknown_value:channel", 1),
        (out["batch_id"], "bad_timestamp:created_at", 1),
    }
    shown = servq_json("quarantine", "show", out["batch_id"], cwd=tmp_path)
    assert [r["row_number"] for r in shown] == [2, 3]
    human = servq("quarantine", "show", out["batch_id"], cwd=tmp_path)
    assert human.returncode == 0 and "fax" in human.stdout

    # fix the profile in YAML (no code) and replay what now passes
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(
        "name: tickets-fixed\ntarget: case\nsystem: helpdesk\ntimezone: Asia/Shanghai\n"
        "fields:\n  case_id: {column: ticket_id, required: true}\n"
        "  created_at: {column: created_at, required: true}\n"
        "  channel: {column: channel, values: {phone: phone, fax: letter}}\n",
        encoding="utf-8",
    )
    again = servq_json(
        "quarantine", "replay", out["batch_id"], "--profile", str(fixed), cwd=tmp_path
    )
    assert (again["read"], again["loaded"], again["quarantined"]) == (2, 1, 1)
    assert again["quarantine_reasons"] == {"bad_timestamp:created_at": 1}
    still = servq_json("quarantine", "list", cwd=tmp_path)
    assert [(r["batch_id"], r["reason"]) for r in still] == [
        (again["batch_id"], "bad_timestamp:created_at")
    ]

    # loading the same file again loads nothing
    twice = servq_json("ingest", str(f), "--profile", "tickets", cwd=tmp_path)
    assert (twice["loaded"], twice["duplicates"]) == (0, 1)


def test_workspace_option_and_env(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text(HEADER + "\nT1,2025-03-01 09:00,,phone,high,open,A,x\n", encoding="utf-8")
    servq_json("ingest", str(f), "-p", "tickets", "--workspace", str(tmp_path / "a"), cwd=tmp_path)
    servq_json(
        "ingest",
        str(f),
        "-p",
        "tickets",
        cwd=tmp_path,
        env={"SERVQ_WORKSPACE": str(tmp_path / "b")},
    )
    for name in ("a", "b"):
        st = servq_json("status", "--workspace", str(tmp_path / name), cwd=tmp_path)
        assert st["tables"]["case"] == 1


def test_errors_are_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    p = servq("ingest", str(tmp_path / "nope.csv"), "-p", "tickets", cwd=tmp_path)
    assert p.returncode == 2
    assert "no such file" in p.stderr and "Traceback" not in p.stderr
    p = servq("ingest", str(tmp_path / "nope.csv"), "-p", "no-such-profile", cwd=tmp_path)
    assert p.returncode == 2 and "known profiles" in p.stderr


def test_profiles_list_and_validate(tmp_path: Path) -> None:
    names = {p["name"] for p in servq_json("profiles", "list", cwd=tmp_path)}
    assert {"tickets", "nyc311", "xes", "anonymous-bank"} <= names
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntarget: case\nfields:\n  case_id: id\n  colour: c\n", encoding="utf-8")
    p = servq("profiles", "validate", str(bad), cwd=tmp_path)
    assert p.returncode == 1
    assert f"{bad}:5: fields.colour" in p.stderr
    shown = servq("profiles", "show", "nyc311", cwd=tmp_path)
    assert shown.returncode == 0 and "Unique Key" in shown.stdout


def test_make_without_target_lists_the_tasks() -> None:
    repo = Path(__file__).resolve().parents[2]
    p = subprocess.run(["make", "-s"], cwd=repo, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0
    assert "make demo" in p.stdout and "make test" in p.stdout
