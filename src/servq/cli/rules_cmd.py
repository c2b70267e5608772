"""The ``servq rules`` commands: check a rule file, and backtest it over history.

Owns: the ``rules_app`` Typer group and how its results are printed (Rich tables with Chinese
and English headings for people, JSON for scripts). ``validate`` exits 0 when the file is valid
and 2 with every problem as ``file:line: field: message``; ``backtest`` replays history through
the same engine ``servq serve`` runs and prints how many alerts each rule would have raised,
per day, and the first alerts with their times, so a rule is tuned before it is switched on.
Output helpers are shared with ``servq.cli.sla_cmd``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from servq.cli.common import WorkspaceOpt, err_console
from servq.cli.common import fail as _fail
from servq.cli.common import print_json as _print_json
from servq.cli.sla_cmd import _print_frame, _records, _root, console
from servq.errors import DefinitionError, ServqError
from servq.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

    from servq.monitor.rules import AnyRule, RuleSet

rules_app = typer.Typer(
    help="Alert rules: validate and backtest. 告警规则：校验与回测。",
    no_args_is_help=True,
)


class Format(StrEnum):
    table = "table"
    json = "json"


FileArg = Annotated[
    str, typer.Argument(help="Rule file (YAML), or a built-in one by name: standard")
]
FormatOpt = Annotated[Format, typer.Option("--format", help="table or json")]


def _load(name: str, workspace: Path | None) -> RuleSet:
    """The rules of a file, checked against the workspace's own metrics, calendars and word
    lists too; DefinitionError lists every problem."""
    from servq.monitor.rules import find_rules

    return find_rules(name, _root(workspace))


def _describe(rule: AnyRule) -> dict[str, Any]:
    from servq.monitor.rules.model import span_text

    return {
        "name": rule.name,
        "kind": rule.kind,
        "title_en": rule.title("en"),
        "title_zh": rule.title("zh"),
        "metric": getattr(rule, "metric", None),
        "statistic": getattr(rule, "statistic", None),
        "by": list(rule.by),
        "window": span_text(rule.window.total_seconds()),
        "every": span_text(rule.every.total_seconds()),
        "for": span_text(rule.for_.total_seconds()),
        "severity": rule.severity,
    }


@rules_app.command("validate")
def validate(file: FileArg, fmt: FormatOpt = Format.table, workspace: WorkspaceOpt = None) -> None:
    """Check a rule file; every problem is listed with file, line and field. 校验规则文件。"""
    try:
        rules = _load(file, workspace)
    except DefinitionError as exc:
        if fmt is Format.json:
            _print_json(
                {
                    "file": file,
                    "valid": False,
                    "problems": [
                        {"file": p.file, "line": p.line, "field": p.field, "message": p.message}
                        for p in exc.problems
                    ],
                }
            )
        for prob in exc.problems:
            err_console.print(f"[red]{prob}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    except ServqError as exc:
        raise _fail(str(exc)) from None
    described = [_describe(r) for r in rules.rules]
    if fmt is Format.json:
        _print_json({"file": file, "valid": True, "rules": described})
        return
    import pandas as pd

    table = pd.DataFrame(described)[["name", "kind", "metric", "by", "window", "for", "severity"]]
    table["by"] = table["by"].map(", ".join)
    _print_frame(table, f"Rules 规则: {file}")
    console.print(f"{file}: ok, {len(described)} rules 条规则有效", highlight=False)


def _counts(alerts: pd.DataFrame, rules: RuleSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Alerts per rule (every rule, zero included) and per rule × day (UTC)."""
    import pandas as pd

    names = [r.name for r in rules.rules]
    per_rule = (
        alerts.groupby("rule").size().reindex(names, fill_value=0).rename("alerts").reset_index()
    )
    days = alerts.assign(day=alerts["fired_at"].dt.strftime("%Y-%m-%d"))
    per_day = days.groupby(["day", "rule"]).size().rename("alerts").reset_index()
    if per_day.empty:
        per_day = pd.DataFrame(columns=["day", "rule", "alerts"])
    return per_rule, per_day


@rules_app.command("backtest")
def backtest_cmd(
    file: FileArg,
    start: Annotated[str, typer.Option("--from", help="First day (UTC), e.g. 2025-10-01")],
    end: Annotated[str, typer.Option("--to", help="Last day (UTC), included")],
    step: Annotated[
        str | None,
        typer.Option(help="Evaluate every this long (15m, 1h) [default: each rule's `every`]"),
    ] = None,
    limit: Annotated[int, typer.Option(help="How many alerts to list")] = 20,
    fmt: FormatOpt = Format.table,
    workspace: WorkspaceOpt = None,
) -> None:
    """How many alerts the rules would have raised over history, and when.
    回测：历史上会触发多少告警、何时触发。

    Times are UTC. A rule is evaluated as it would have been live: at each step, over the
    window ending then, with its `for` and `every`.
    """
    from servq.monitor.evaluate import backtest

    try:
        rules = _load(file, workspace)
        with Workspace(_root(workspace), read_only=True) as ws:
            alerts = backtest(ws, rules, start, end, step)
    except (ServqError, ValueError) as exc:
        raise _fail(str(exc)) from None
    per_rule, per_day = _counts(alerts, rules)
    first = alerts.head(limit)
    shown = first[["rule", "group", "fired_at", "resolved_at", "peak_value", "threshold"]]
    span = alerts.attrs
    if fmt is Format.json:
        _print_json(
            {
                "file": file,
                "from": span["start"].isoformat(),
                "to": span["end"].isoformat(),
                "step_seconds": span["step"].total_seconds(),
                "alerts_per_rule": _records(per_rule),
                "alerts_per_day": _records(per_day),
                "alerts": _records(first.drop(columns=["labels"])),
                "total": len(alerts),
            }
        )
        return
    console.print(
        f"Backtest 回测 {file}: {span['start']:%Y-%m-%d %H:%M} – {span['end']:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    _print_frame(per_rule, "Alerts per rule 每条规则的告警数")
    _print_frame(per_day, "Alerts per day 每日告警数 (UTC)")
    _print_frame(shown, f"First {len(shown)} of {len(alerts)} alerts 前{len(shown)}条告警 (UTC)")
    for row in first.itertuples():
        console.print(f"{row.fired_at:%Y-%m-%d %H:%M}  {row.summary_en}", highlight=False)
        console.print(f"{'':16}  {row.summary_zh}", highlight=False)
