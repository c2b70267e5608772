"""Backtests on a constructed history: which alerts, when, how many per rule and per day; and
the ``servq rules`` commands."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import servq
from servq.cli.rules_cmd import rules_app
from servq.monitor.evaluate import backtest, evaluation_times
from servq.monitor.rules import parse_rules

from .test_rules_fixtures import load, spread, tickets_at, utc

RULES = """\
rules:
  - name: busy-team
    title_en: Busy team
    title_zh: 团队工单多
    kind: threshold
    metric: cases_created
    by: [team]
    window: 1h
    every: 15m
    op: ">="
    value: 6
  - name: complaints
    kind: risk_words
    sources: [case]
    lists: [zh]
    window: 1h
    every: 15m
"""

# Bursts of cases created five minutes apart: (first case, team, how many, subject)
BURSTS = [
    ("2025-03-03 10:00", "a", 6, "咨询"),
    ("2025-03-03 15:00", "a", 7, "咨询"),
    ("2025-03-04 11:00", "b", 5, "咨询"),  # one short of the threshold
    ("2025-03-05 09:00", "a", 6, "投诉"),  # also complaints
]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    with servq.open_workspace(path) as ws:
        rows = []
        for k, (first, team, n, subject) in enumerate(BURSTS):
            times = spread(utc(first), n, timedelta(minutes=5 * n))
            rows += tickets_at(times, f"B{k}-", team=team, subject=subject)
        load(ws, "tickets", rows)
    return path


def test_backtest_finds_each_burst_once(workspace: Path) -> None:
    with servq.open_workspace(workspace, read_only=True) as ws:
        found = backtest(ws, parse_rules(RULES), "2025-03-03", "2025-03-05", step="15m")
    busy = found[found["rule"] == "busy-team"]
    # 6 cases at 10:00, 10:05 … 10:25: [t − 1h, t) holds 3 of them at 10:15, all 6 at 10:30,
    # 10:45 and 11:00, and 3 (10:15, 10:20, 10:25) at 11:15: fires 10:30, clears 11:15.
    # 7 cases at 15:00 … 15:30: 6 at 15:30 (15:30 itself not yet), 7 at 15:45 and 16:00,
    # 4 at 16:15. Team b's 5 cases never reach 6.
    assert busy[["group", "fired_at", "resolved_at", "peak_value"]].values.tolist() == [
        ["team=a", utc("2025-03-03 10:30"), utc("2025-03-03 11:15"), 6.0],
        ["team=a", utc("2025-03-03 15:30"), utc("2025-03-03 16:15"), 7.0],
        ["team=a", utc("2025-03-05 09:30"), utc("2025-03-05 10:15"), 6.0],
    ]
    assert busy["evaluations"].tolist() == [3, 3, 3]
    complaints = found[found["rule"] == "complaints"]
    # complaints: the 投诉 cases of 09:00 … 09:25 are in [t − 1h, t) for t in (09:00, 10:25]
    assert complaints[["fired_at", "resolved_at", "peak_value"]].values.tolist() == [
        [utc("2025-03-05 09:15"), utc("2025-03-05 10:30"), 6.0]
    ]
    assert found.attrs["step"] == timedelta(minutes=15)
    assert found.attrs["end"] == utc("2025-03-06 00:00")  # the last day is included


def test_evaluation_times_are_the_grid_before_the_end() -> None:
    times = evaluation_times(
        utc("2025-03-03 00:00"), utc("2025-03-03 01:00"), timedelta(minutes=20)
    )
    assert times == [utc("2025-03-03 00:00"), utc("2025-03-03 00:20"), utc("2025-03-03 00:40")]


runner = CliRunner()
app = typer.Typer()
app.add_typer(rules_app, name="rules")


def test_cli_backtest_counts_per_rule_and_day(workspace: Path, tmp_path: Path) -> None:
    file = tmp_path / "rules.yaml"
    file.write_text(RULES, encoding="utf-8")
    args = ["rules", "backtest", str(file), "--from", "2025-03-03", "--to", "2025-03-05"]
    result = runner.invoke(app, [*args, "--step", "15m", "--format", "json", "-w", str(workspace)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["alerts_per_rule"] == [
        {"rule": "busy-team", "alerts": 3},
        {"rule": "complaints", "alerts": 1},
    ]
    assert out["alerts_per_day"] == [
        {"day": "2025-03-03", "rule": "busy-team", "alerts": 2},
        {"day": "2025-03-05", "rule": "busy-team", "alerts": 1},
        {"day": "2025-03-05", "rule": "complaints", "alerts": 1},
    ]
    assert out["total"] == 4 and out["step_seconds"] == 900
    assert out["alerts"][0]["fired_at"].startswith("2025-03-03T10:30")
    table = runner.invoke(app, [*args, "-w", str(workspace)])
    assert table.exit_code == 0, table.output
    for heading in ("Alerts per rule", "每条规则的告警数", "Alerts per day", "每日告警数"):
        assert heading in table.stdout
    assert "2025-03-03 10:30  Busy team: Cases created for team=a" in table.stdout
    assert "团队工单多：team=a最近1小时的新建工单量为6" in table.stdout


def test_cli_validate(tmp_path: Path) -> None:
    good = runner.invoke(app, ["rules", "validate", "standard", "-w", str(tmp_path)])
    assert good.exit_code == 0, good.output
    assert "standard: ok, 8 rules 条规则有效" in good.stdout
    listed = runner.invoke(app, ["rules", "validate", "standard", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    described = json.loads(listed.stdout)
    assert described["valid"] and described["rules"][0] == {
        "name": "slow-first-reply",
        "kind": "threshold",
        "title_en": "Slow first replies",
        "title_zh": "首次响应慢",
        "metric": "first_reply_time",
        "statistic": "p90",
        "by": ["team"],
        "window": "1h",
        "every": "1m",
        "for": "10m",
        "severity": "warning",
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - name: x\n    kind: threshold\n    metric: nope\n    op: '>'\n"
        "    value: 1\n  - name: y\n    kind: anomaly\n    metric: csat\n    z: -1\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["rules", "validate", str(bad), "-w", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{bad}:4: rules[0].metric" in result.stderr
    assert f"{bad}:10: rules[1].z" in result.stderr
    as_json = runner.invoke(
        app, ["rules", "validate", str(bad), "--format", "json", "-w", str(tmp_path)]
    )
    assert as_json.exit_code == 2
    problems = json.loads(as_json.stdout)["problems"]
    assert [(p["line"], p["field"]) for p in problems] == [
        (4, "rules[0].metric"),
        (10, "rules[1].z"),
    ]
