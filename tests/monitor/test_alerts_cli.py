"""``servq alerts``: list, ack, resolve, silence, unsilence, transitions and groups, end to end.

Alerts are raised in a workspace's SQLite store through :class:`AlertManager`, then every change
goes through the command line and is read back from its JSON output.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from servq.app_store import APP_DB_ENV, open_store
from servq.cli.alerts_cmd import alerts_app
from servq.monitor.alerts import AlertManager
from servq.monitor.signals import Signal

app = typer.Typer()
app.add_typer(alerts_app, name="alerts")
runner = CliRunner()
T0 = datetime(2025, 10, 9, 2, 0)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with three firing alerts: ids 1 (team a, sh), 2 (team a, bj), 3 (team b)."""
    monkeypatch.delenv(APP_DB_ENV, raising=False)  # the store must be the workspace's file
    path = tmp_path / "ws"
    with open_store(path) as store:
        AlertManager(store).process(
            [
                Signal("backlog_high", "threshold", {"team": "a", "site": "sh"}, True, T0),
                Signal("backlog_high", "threshold", {"team": "a", "site": "bj"}, True, T0),
                Signal(
                    "csat_low",
                    "threshold",
                    {"team": "b", "site": "sh"},
                    True,
                    T0,
                    summary_en="CSAT 71%",
                    summary_zh="满意度 71%",
                ),
            ],
            T0,
        )
    return path


def run(workspace: Path, *args: str, code: int = 0) -> Any:
    """Run ``servq alerts ARGS`` and return its parsed JSON (or the result when it failed)."""
    result = runner.invoke(app, ["alerts", *args, "-w", str(workspace)])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if code == 0 and "--format" in args else result


def test_list_filters_and_prints_json(workspace: Path) -> None:
    found = run(workspace, "list", "--format", "json")["alerts"]
    assert sorted(a["id"] for a in found) == [1, 2, 3]
    assert {a["state"] for a in found} == {"firing"}
    assert found[0]["starts_at"] == "2025-10-09T02:00:00"

    by_rule = run(workspace, "list", "--rule", "csat_low", "--format", "json")["alerts"]
    assert [(a["id"], a["summary_zh"]) for a in by_rule] == [(3, "满意度 71%")]
    by_label = run(workspace, "list", "--match", "site=sh", "--format", "json")["alerts"]
    assert sorted(a["id"] for a in by_label) == [1, 3]

    table = run(workspace, "list")
    assert "Alerts 告警" in table.stdout and "backlog_high" in table.stdout


def test_ack_resolve_and_transitions_round_trip(workspace: Path) -> None:
    before = _utcnow()
    acked = run(workspace, "ack", "1", "--by", "li.wei", "--note", "on it", "--format", "json")
    after = _utcnow()
    assert (acked["alert"]["state"], acked["alert"]["acknowledged_by"]) == (
        "acknowledged",
        "li.wei",
    )
    acked_at = datetime.fromisoformat(acked["alert"]["acknowledged_at"])
    assert before <= acked_at <= after  # the command passes the real now, in UTC

    resolved = run(workspace, "resolve", "2", "--by", "wang", "--format", "json")["alert"]
    assert (resolved["state"], resolved["resolved_by"]) == ("resolved", "wang")

    open_ids = [a["id"] for a in run(workspace, "list", "--format", "json")["alerts"]]
    assert sorted(open_ids) == [1, 3]  # the default is open alerts
    acked_only = run(workspace, "list", "--state", "acknowledged", "--format", "json")
    assert [a["id"] for a in acked_only["alerts"]] == [1]

    history = run(workspace, "transitions", "1", "--format", "json")["transitions"]
    assert [(t["from_state"], t["to_state"], t["who"], t["note"]) for t in history] == [
        (None, "firing", "system", "opened / 告警触发"),
        ("firing", "acknowledged", "li.wei", "on it"),
    ]
    assert history[1]["at"] == acked["alert"]["acknowledged_at"]

    shown = run(workspace, "transitions", "2")
    assert "wang" in shown.stdout and "resolved" in shown.stdout


def test_a_change_the_state_refuses_is_a_clear_error(workspace: Path) -> None:
    run(workspace, "ack", "1", "--by", "li")
    again = run(workspace, "ack", "1", "--by", "zhang", code=2)
    assert "already acknowledged by li" in again.output and "已由 li" in again.output
    missing = run(workspace, "resolve", "99", code=2)
    assert "no alert 99" in missing.output
    bad_state = run(workspace, "list", "--state", "closed", code=2)
    assert "unknown state 'closed'" in bad_state.output


def test_silence_for_a_duration_then_unsilence(workspace: Path) -> None:
    before = _utcnow()
    made = run(
        workspace,
        "silence",
        "--match", "team=a",
        "--match", "rule=backlog_high",
        "--for", "2h",
        "--reason", "migration 迁移",
        "--by", "ops",
        "--format", "json",
    )["silence"]  # fmt: skip
    after = _utcnow()
    assert made["matchers"] == {"team": "a", "rule": "backlog_high"}
    assert (made["created_by"], made["reason"]) == ("ops", "migration 迁移")
    ends = datetime.fromisoformat(made["ends_at"])
    assert before + timedelta(hours=2) <= ends <= after + timedelta(hours=2)

    muted = {
        a["id"]: a["silenced_by"] for a in run(workspace, "list", "--format", "json")["alerts"]
    }
    assert muted == {1: [made["id"]], 2: [made["id"]], 3: []}
    in_force = run(workspace, "silences", "--format", "json")["silences"]
    assert [s["id"] for s in in_force] == [made["id"]]

    ended = run(workspace, "unsilence", str(made["id"]), "--by", "lead", "--format", "json")
    assert ended["silence"]["cancelled_by"] == "lead"
    assert run(workspace, "silences", "--format", "json")["silences"] == []
    assert len(run(workspace, "silences", "--all", "--format", "json")["silences"]) == 1
    after_end = run(workspace, "list", "--format", "json")["alerts"]
    assert all(a["silenced_by"] == [] for a in after_end)


def test_silence_until_a_time_with_an_offset_is_stored_in_utc(workspace: Path) -> None:
    args = ["silence", "--match", "site=sh", "--until", "2099-01-01T08:00+08:00"]
    made = run(workspace, *args, "--format", "json")["silence"]
    assert made["ends_at"] == "2099-01-01T00:00:00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--match", "team=a"], "--until or --for"),
        (["--match", "team=a", "--for", "2h", "--until", "2099-01-01"], "--until or --for"),
        (["--match", "team", "--for", "2h"], "use key=value"),
        (["--match", "team=a", "--for", "3bd"], "calendar time"),
        (["--match", "team=a", "--until", "2000-01-01"], "must end after now"),
        (["--match", "team=a", "--until", "tomorrow"], "cannot read time"),
    ],
)
def test_silence_refuses_what_it_cannot_read(
    workspace: Path, args: list[str], message: str
) -> None:
    assert message in run(workspace, "silence", *args, code=2).output


def test_groups_by_team_and_site(workspace: Path) -> None:
    by_team = run(workspace, "groups", "--format", "json")["groups"]
    assert [(g["key"], g["count"], g["alert_ids"]) for g in by_team] == [
        ({"team": "a"}, 2, [1, 2]),
        ({"team": "b"}, 1, [3]),
    ]
    by_site = run(workspace, "groups", "--by", "site,rule", "--format", "json")["groups"]
    assert [(g["key"]["site"], g["key"]["rule"], g["count"]) for g in by_site] == [
        ("bj", "backlog_high", 1),
        ("sh", "backlog_high", 1),
        ("sh", "csat_low", 1),
    ]


def test_the_workspace_policy_is_used_and_its_problems_reported(workspace: Path) -> None:
    (workspace / "alerts.yaml").write_text(
        "inhibit:\n  - source: {rule: csat_low}\n    target: {rule: backlog_high}\n"
        "    equal: [site]\n",
        encoding="utf-8",
    )
    found = run(workspace, "list", "--format", "json")["alerts"]
    assert {a["id"]: a["inhibited_by"] for a in found} == {1: [3], 2: [], 3: []}

    (workspace / "alerts.yaml").write_text("repeat_interval: often\n", encoding="utf-8")
    broken = run(workspace, "list", code=2)
    assert "alerts.yaml:1" in broken.output and "repeat_interval" in broken.output


def test_main_registers_the_alerts_group() -> None:
    from servq.cli.main import app as main_app

    names = {group.name for group in main_app.registered_groups}
    assert "alerts" in names
