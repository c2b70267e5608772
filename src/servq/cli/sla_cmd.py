"""The ``servq sla`` commands: list and check SLA policies, attainment, per-case target rows.

Owns: the ``sla_app`` Typer group and how SLA results are printed (Rich tables for people, CSV
and JSON for scripts). It follows the conventions of ``servq.cli.main`` (``--workspace``, one
clear error message and exit status 2) but imports nothing from it, so ``main`` can import this
module at its top without an import cycle.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from servq.cli.common import WorkspaceOpt, err_console
from servq.cli.common import fail as _fail
from servq.cli.common import print_json as _print_json
from servq.errors import DefinitionError, ServqError
from servq.workspace import Workspace, default_workspace_path

if TYPE_CHECKING:
    import pandas as pd

sla_app = typer.Typer(
    help="SLA policies, attainment and breaches. 服务等级协议：策略、达成率与超时。",
    no_args_is_help=True,
)

console = Console()


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


PolicyOpt = Annotated[
    str, typer.Option("--policy", "-p", help="Policy name (servq sla policies) or YAML path")
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Evaluate as of this ISO time (naive = UTC) [default: newest timestamp in the data]",
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format", help="table, csv or json")]


def _root(workspace: Path | None) -> Path:
    return workspace or default_workspace_path()


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(
        df.to_json(orient="records", date_format="iso", force_ascii=False)
    )
    return records


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v) or str(v) in ("NaT", "<NA>", "nan"):
        return "–"
    if isinstance(v, float):
        return f"{v:,.0f}" if v == int(v) else f"{v:,.2f}"
    if hasattr(v, "strftime"):
        return str(v.strftime("%Y-%m-%d %H:%M:%S"))
    return str(v)


def _span(seconds: float) -> str:
    """Business seconds as ``-1h05m`` for people (hours only: a day of business time is
    ambiguous, 24 h or one working day); csv and json keep the seconds."""
    sign = "-" if seconds < 0 else ""
    h, mi = divmod(round(abs(seconds)) // 60, 60)
    return f"{sign}{h}h{mi:02d}m"


def _print_frame(
    df: pd.DataFrame,
    title: str,
    *,
    percent: tuple[str, ...] = (),
    spans: tuple[str, ...] = (),
) -> None:
    t = Table(title=title)
    for col in df.columns:
        t.add_column(str(col), justify="right" if df[col].dtype.kind in "fiu" else "left")
    for row in df.itertuples(index=False):
        cells = []
        for col, v in zip(df.columns, row, strict=True):
            if col in percent and isinstance(v, float) and v == v:
                cells.append(f"{v:.1%}")
            elif col in spans and isinstance(v, float) and v == v:
                cells.append(_span(v))
            else:
                cells.append(_cell(v))
        t.add_row(*cells)
    console.print(t)


def _evaluate(workspace: Path | None, policy: str, as_of: str | None) -> tuple[pd.DataFrame, str]:
    """Rows of :func:`servq.sla.evaluate` and the as-of time used, or a clean exit 2."""
    import pandas as pd

    from servq.sla import evaluate

    try:
        with Workspace(_root(workspace), read_only=True) as ws:
            df = evaluate(ws, policy, as_of=as_of)
    except ServqError as exc:
        raise _fail(str(exc)) from None
    used = df.attrs.get("as_of")
    return df, "" if used is None else pd.Timestamp(used).isoformat()


@sla_app.command("policies")
def policies(
    workspace: WorkspaceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Built-in and workspace SLA policies. 列出服务等级协议策略。"""
    from servq.sla import PolicyRegistry

    reg = PolicyRegistry.for_workspace(_root(workspace))
    entries = reg.entries()
    if as_json:
        _print_json(
            [
                {
                    "name": e.policy.name,
                    "title_en": e.policy.title_en,
                    "title_zh": e.policy.title_zh,
                    "calendar": e.policy.calendar,
                    "pause_statuses": list(e.policy.pause_statuses),
                    "warn_at": e.policy.warn_at,
                    "rules": len(e.policy.rules),
                    "targets": list(e.policy.targets()),
                    "origin": e.origin,
                }
                for e in entries
            ]
        )
    else:
        t = Table(title="SLA policies 服务等级协议")
        for col in ("name", "title", "标题", "calendar", "targets", "rules", "origin"):
            t.add_column(col)
        for e in entries:
            p = e.policy
            t.add_row(
                p.name,
                p.title_en,
                p.title_zh,
                p.calendar,
                ", ".join(p.targets()),
                str(len(p.rules)),
                e.origin,
            )
        console.print(t)
    for prob in reg.problems:
        err_console.print(f"[yellow]skipped:[/] {prob}", highlight=False, soft_wrap=True)


@sla_app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Policy YAML files")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Check policy files; every problem is listed with file, line and field. 校验策略文件。"""
    from servq.sla import load_policy_file
    from servq.sla.registry import CALENDAR_FOLDER

    folders = [_root(workspace) / CALENDAR_FOLDER]
    failed = False
    for f in files:
        try:
            p = load_policy_file(f, calendar_folders=folders)
        except DefinitionError as exc:
            failed = True
            for prob in exc.problems:
                err_console.print(f"[red]{prob}[/]", highlight=False, soft_wrap=True)
            continue
        console.print(
            f"{f}: ok (policy '{p.name}', {len(p.rules)} rules, calendar {p.calendar})",
            highlight=False,
        )
    if failed:
        raise typer.Exit(code=1)


@sla_app.command("status")
def status(
    policy: PolicyOpt,
    by: Annotated[
        str | None, typer.Option(help="Group by columns, comma-separated: team,priority")
    ] = None,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = Format.table,
    workspace: WorkspaceOpt = None,
) -> None:
    """SLA attainment per target, with counts by state. SLA 达成率及各状态数量。

    attainment = achieved / (achieved + breached): targets met over targets that ended.
    """
    from servq.sla import attainment

    df, used = _evaluate(workspace, policy, as_of)
    keys = [c.strip() for c in by.split(",") if c.strip()] if by else []
    try:
        table = attainment(df, by=keys)
    except ServqError as exc:
        raise _fail(str(exc)) from None
    if fmt is Format.csv:
        sys.stdout.write(table.to_csv(index=False))
    elif fmt is Format.json:
        _print_json({"policy": policy, "as_of": used, "attainment": _records(table)})
    else:
        _print_frame(table, f"SLA attainment 达成率: {policy}", percent=("attainment",))
        console.print(f"as of {used} UTC", highlight=False)


@sla_app.command("cases")
def cases(
    policy: PolicyOpt,
    state: Annotated[
        str | None,
        typer.Option(help="Only this state: active, at_risk, paused, achieved or breached"),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Only this target: first_reply, next_reply or resolution")
    ] = None,
    as_of: AsOfOpt = None,
    limit: Annotated[int | None, typer.Option(help="At most this many rows")] = None,
    fmt: FormatOpt = Format.table,
    workspace: WorkspaceOpt = None,
) -> None:
    """One row per case and target, with deadline and state. 逐案件的目标、截止时间与状态。

    Times are UTC; seconds are business seconds on the policy's calendar.
    """
    from servq.sla import STATES, TARGETS

    if state is not None and state not in STATES:
        raise _fail(f"unknown state '{state}': use one of {', '.join(STATES)}")
    if target is not None and target not in TARGETS:
        raise _fail(f"unknown target '{target}': use one of {', '.join(TARGETS)}")
    df, used = _evaluate(workspace, policy, as_of)
    if state is not None:
        df = df[df["state"] == state]
    if target is not None:
        df = df[df["target"] == target]
    if limit is not None:
        df = df.head(limit)
    if fmt is Format.csv:
        sys.stdout.write(df.to_csv(index=False))
    elif fmt is Format.json:
        _print_json({"policy": policy, "as_of": used, "cases": _records(df)})
    else:
        shown = df[
            [
                "case_id",
                "target",
                "rule",
                "started_at",
                "due_at",
                "stopped_at",
                "state",
                "elapsed_seconds",
                "seconds_left",
            ]
        ]
        _print_frame(
            shown,
            f"SLA targets 目标 ({len(df):,} rows, times UTC): {policy}",
            spans=("elapsed_seconds", "seconds_left"),
        )
        console.print(f"as of {used} UTC", highlight=False)
