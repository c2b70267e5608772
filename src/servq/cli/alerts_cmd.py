"""The ``servq alerts`` commands: list, acknowledge, resolve and silence alerts, and their history.

Owns: the ``alerts_app`` Typer group and how alerts are printed (Rich tables for people,
``--format json`` for scripts). Works on the workspace's application store (``open_store``:
``<workspace>/app.db``, or ``SERVQ_APP_DB``) under the workspace's ``alerts.yaml`` policy when
there is one. Like ``servq.cli.sla_cmd`` it imports nothing from ``servq.cli.main``. Times are
UTC; a time given without an offset is read as UTC.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from servq.app_store import open_store
from servq.cli.common import ByOpt, WorkspaceOpt
from servq.cli.common import fail as _fail
from servq.cli.common import print_json as _print_json
from servq.cli.common import who as _who
from servq.errors import ServqError
from servq.monitor.alerts import STATE_FILTERS, Alert, AlertManager, AlertPolicy, Silence
from servq.monitor.alerts.policy import parse_span
from servq.workspace import default_workspace_path

alerts_app = typer.Typer(
    help="Alerts: list, acknowledge, resolve, silence. 告警：查看、确认、解决、静默。",
    no_args_is_help=True,
)

console = Console(width=None if sys.stdout.isatty() else 200)


class Format(StrEnum):
    table = "table"
    json = "json"


FormatOpt = Annotated[Format, typer.Option("--format", help="table or json")]
AlertId = Annotated[int, typer.Argument(help="Alert id (servq alerts list)")]
NoteOpt = Annotated[str, typer.Option("--note", help="Why, for the history")]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _time(text: str) -> datetime:
    """ISO time; with an offset converted to UTC, without one taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(
            f"cannot read time '{text}': use e.g. 2025-10-01T18:00 / 时间格式错误"
        ) from None
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


@contextmanager
def _manager(workspace: Path | None) -> Iterator[AlertManager]:
    """The workspace's alert manager; any servq error ends the command with status 2."""
    root = workspace or default_workspace_path()
    try:
        with open_store(root) as store:
            yield AlertManager(store, AlertPolicy.for_workspace(root))
    except ServqError as exc:
        raise _fail(str(exc)) from None


def _when(moment: datetime | None) -> str:
    return "–" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _labels(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _muted(alert: Alert) -> str:
    parts = [f"silence {i}" for i in alert.silenced_by]
    parts += [f"inhibited by {i}" for i in alert.inhibited_by]
    return ", ".join(parts)


def _alerts_table(alerts: list[Alert]) -> Table:
    t = Table(title=f"Alerts 告警 ({len(alerts)}, times UTC)")
    for col in ("id", "state", "severity", "rule", "labels", "summary", "since", "count"):
        t.add_column(col, overflow="fold")
    t.add_column("muted 静默/抑制", overflow="fold")
    for a in alerts:
        summary = " / ".join(s for s in (a.summary_en, a.summary_zh) if s)
        t.add_row(
            str(a.id),
            a.state,
            a.severity,
            a.rule,
            _labels(a.labels),
            summary,
            _when(a.starts_at),
            str(a.count),
            _muted(a),
        )
    return t


# what each change by hand is called, in English and Chinese
_CHANGES = {"ack": ("acknowledged", "确认"), "resolve": ("resolved", "解决")}


def _change(
    action: str,
    alert_id: int,
    by: str | None,
    note: str,
    fmt: Format,
    workspace: Path | None,
) -> None:
    """Acknowledge or resolve one alert as ``by`` and print the result."""
    who = _who(by)
    with _manager(workspace) as manager:
        alert = getattr(manager, action)(alert_id, who, _now(), note=note)
    if fmt is Format.json:
        _print_json({"alert": alert.as_dict()})
    else:
        en, zh = _CHANGES[action]
        console.print(f"alert {alert.id} {en} by {who} / 告警 {alert.id} 已由 {who} {zh}")


@alerts_app.command("list")
def list_alerts(
    state: Annotated[
        str, typer.Option(help="firing, acknowledged, resolved, open (the first two) or all")
    ] = "open",
    rule: Annotated[str | None, typer.Option(help="Only alerts of this rule")] = None,
    match: Annotated[
        list[str] | None, typer.Option("--match", help="Only alerts with label=value (repeat)")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first")] = 200,
    fmt: FormatOpt = Format.table,
    workspace: WorkspaceOpt = None,
) -> None:
    """Alerts, newest first, with what mutes them. 告警列表（最新在前），并显示静默与抑制。"""
    if state not in STATE_FILTERS:
        raise _fail(f"unknown state '{state}': use {', '.join(STATE_FILTERS)} / 未知状态")
    labels = _matchers(match or [])
    with _manager(workspace) as manager:
        found = manager.list(state=state, rule=rule, labels=labels or None, limit=limit, now=_now())
    if fmt is Format.json:
        _print_json({"alerts": [a.as_dict() for a in found]})
    elif found:
        console.print(_alerts_table(found))
    else:
        console.print("No alerts. 没有告警。")


@alerts_app.command("ack")
def ack(
    alert_id: AlertId,
    by: ByOpt = None,
    note: NoteOpt = "",
    fmt: FormatOpt = Format.table,
    workspace: WorkspaceOpt = None,
) -> None:
    """Take a firing alert: no more reminders or escalations. 确认告警：停止提醒与升级。"""
    _change("ack", alert_id, by, note, fmt, workspace)


@alerts_app.command("resolve")
def resolve(
    alert_id: AlertId,
    by: ByOpt = None,
    note: NoteOpt = "",
    fmt: FormatOpt = Format.table,
    workspace: WorkspaceOpt = None,
) -> None:
    """Close an alert by hand. 手动解决告警。"""
    _change("resolve", alert_id, by, note, fmt, workspace)


def _matchers(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise _fail(f"cannot read '{item}': use key=value / 请使用 键=值 的形式")
        out[key.strip()] = value.strip()
    return out


def _until(until: str | None, span: str | None, now: datetime) -> datetime:
    if (until is None) == (span is None):
        raise _fail("give --until or --for, one of them / 请给出 --until 或 --for 之一")
    if until is not None:
        return _time(until)
    try:
        return now + parse_span(span)
    except ValueError as exc:
        raise _fail(f"--for: {exc}") from None


def _silences_table(silences: list[Silence]) -> Table:
    t = Table(title="Silences 静默 (times UTC)")
    for col in ("id", "matchers", "from", "until", "by", "reason", "cancelled"):
        t.add_column(col, overflow="fold")
    for s in silences:
        cancelled = "" if s.cancelled_at is None else f"{_when(s.cancelled_at)} {s.cancelled_by}"
        t.add_row(
            str(s.id),
            _labels(s.matchers),
            _when(s.starts_at),
            _when(s.ends_at),
            s.created_by,
            s.reason,
            cancelled,
        )
    return t


@alerts_app.command("silence")
def silence(
    match: Annotated[
        list[str],
        typer.Option("--match", help="label=value the alerts must have (repeat); rule=NAME too"),
    ],
    until: Annotated[
        str | None, typer.Option("--until", help="End time, ISO (no offset = UTC)")
    ] = None,
    span: Annotated[str | None, typer.Option("--for", help="Duration: 30m, 2h, 1d")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the others")] = "",
    by: ByOpt = None,
    fmt: FormatOpt = Format.table,
    workspace: WorkspaceOpt = None,
) -> None:
    """Mute notices of matching alerts until a time; alerts are still recorded.
    静默匹配的告警直到指定时间（告警仍会记录）。"""
    now, who = _now(), _who(by)
    matchers, ends = _matchers(match), _until(until, span, now)
    with _manager(workspace) as manager:
        silence_id = manager.silence(matchers, ends, who, now, reason=reason)
        created = next(s for s in manager.silences() if s.id == silence_id)
    if fmt is Format.json:
        _print_json({"silence": created.as_dict()})
    else:
        console.print(
            f"silence {silence_id} until {_when(ends)} UTC: {_labels(matchers)} / "
            f"静默 {silence_id} 至 {_when(ends)}（UTC）"
        )


@alerts_app.command("silences")
def silences(
    all_rows: Annotated[bool, typer.Option("--all", help="Include ended ones.")] = False,
    fmt: FormatOpt = Format.table,
    workspace: WorkspaceOpt = None,
) -> None:
    """Silences in force (or all of them). 当前生效的静默（或全部）。"""
    with _manager(workspace) as manager:
        found = manager.silences(None if all_rows else _now())
    if fmt is Format.json:
        _print_json({"silences": [s.as_dict() for s in found]})
    elif found:
        console.print(_silences_table(found))
    else:
        console.print("No silences. 没有静默。")


@alerts_app.command("unsilence")
def unsilence(
    silence_id: Annotated[int, typer.Argument(help="Silence id (servq alerts silences)")],
    by: ByOpt = None,
    fmt: FormatOpt = Format.table,
    workspace: WorkspaceOpt = None,
) -> None:
    """End a silence now. 立即结束静默。"""
    who = _who(by)
    with _manager(workspace) as manager:
        ended = manager.unsilence(silence_id, who, _now())
    if fmt is Format.json:
        _print_json({"silence": ended.as_dict()})
    else:
        console.print(f"silence {silence_id} ended by {who} / 静默 {silence_id} 已由 {who} 结束")


@alerts_app.command("transitions")
def transitions(
    alert_id: AlertId, fmt: FormatOpt = Format.table, workspace: WorkspaceOpt = None
) -> None:
    """Every change of an alert, with who and when. 告警的每一次变化（谁、何时）。"""
    with _manager(workspace) as manager:
        found = manager.transitions(alert_id)
    if fmt is Format.json:
        _print_json({"alert_id": alert_id, "transitions": [t.as_dict() for t in found]})
        return
    t = Table(title=f"Alert 告警 {alert_id}: history 历史 (times UTC)")
    for col in ("at", "from", "to", "who", "note"):
        t.add_column(col, overflow="fold")
    for tr in found:
        t.add_row(_when(tr.at), tr.from_state or "–", tr.to_state, tr.who, tr.note)
    console.print(t)


@alerts_app.command("groups")
def groups(
    by: Annotated[
        str | None, typer.Option(help="Keys, comma-separated: team,site,rule [policy's group_by]")
    ] = None,
    state: Annotated[str, typer.Option(help="Which alerts, as in `list`")] = "open",
    fmt: FormatOpt = Format.table,
    workspace: WorkspaceOpt = None,
) -> None:
    """Alerts counted by team, site, rule or any label. 按团队、站点、规则等分组统计告警。"""
    keys = [k.strip() for k in by.split(",") if k.strip()] if by else None
    with _manager(workspace) as manager:
        found = manager.groups(by=keys, state=state)
    if fmt is Format.json:
        _print_json({"groups": [g.as_dict() for g in found]})
        return
    t = Table(title="Alert groups 告警分组")
    for col in ("group", "count", "states", "alert ids"):
        t.add_column(col, overflow="fold")
    for g in found:
        states = ", ".join(f"{k} {v}" for k, v in sorted(g.states.items()))
        t.add_row(_labels(g.key), str(g.count), states, ", ".join(map(str, g.alert_ids)))
    console.print(t)
