"""The ``servq report`` commands: build a report for a period, list and send scheduled reports.

Owns: the ``report_app`` Typer group. ``servq report --period 2025-W10 --format pdf`` writes one
report and prints its path; ``servq report schedules`` lists the schedules of
``<workspace>/reports.yaml`` with their next run; ``servq report send ID`` delivers one now;
``servq report run-due`` delivers every schedule that is due (for cron or a timer). Alerts come
from the workspace's application store when it has one (``<workspace>/app.db`` or
``SERVQ_APP_DB``). Like the other ``servq.cli.*_cmd`` modules it imports nothing from
``servq.cli.main``. Times given without an offset are UTC.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from servq.cli.common import JsonOpt, WorkspaceOpt, err_console
from servq.cli.common import fail as _fail
from servq.cli.common import print_json as _print_json
from servq.errors import ServqError
from servq.workspace import Workspace, default_workspace_path

if TYPE_CHECKING:
    from servq.app_store import Store
    from servq.reports.schedule import ReportDelivery

report_app = typer.Typer(
    help="Service-quality reports: build, schedule, send. 服务质量报告：生成、定时与发送。",
)

console = Console(width=None if sys.stdout.isatty() else 200)


class ReportFormat(StrEnum):
    html = "html"
    pdf = "pdf"
    xlsx = "xlsx"


class Lang(StrEnum):
    zh = "zh"
    en = "en"


NowOpt = Annotated[
    str | None,
    typer.Option("--now", help="Act as if it were this ISO time (no offset = UTC) [default: now]"),
]


def _root(workspace: Path | None) -> Path:
    return workspace or default_workspace_path()


def _now(text: str | None) -> datetime:
    """An aware time: ``text`` (ISO; no offset = UTC) or the clock."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(
            f"--now {text}: not an ISO time such as 2025-03-10T09:00+08:00 / "
            f"不是 ISO 格式的时间，例如 2025-03-10T09:00+08:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _has_store(root: Path) -> bool:
    from servq.app_store import APP_DB_ENV, APP_DB_FILE

    return bool(os.environ.get(APP_DB_ENV)) or (root / APP_DB_FILE).is_file()


@contextmanager
def _opened(
    workspace: Path | None, *, need_store: bool
) -> Iterator[tuple[Workspace, Store | None]]:
    """The workspace (read-only) and its application store: opened when the workspace has
    one, or always with ``need_store`` (schedules record their runs there)."""
    from servq.app_store import open_store

    root = _root(workspace)
    try:
        ws = Workspace(root, read_only=True)
    except ServqError as exc:
        raise _fail(str(exc)) from None
    try:
        store = open_store(root) if need_store or _has_store(root) else None
        try:
            yield ws, store
        finally:
            if store is not None:
                store.close()
    finally:
        ws.close()


@report_app.callback(invoke_without_command=True)
def report(
    ctx: typer.Context,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            "-p",
            help="2025-W10 (ISO week), 2025-03 (month), 2025-Q1 or 2025-03-05..2025-03-11.",
        ),
    ] = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="html, pdf or xlsx.")
    ] = ReportFormat.html,
    lang: Annotated[Lang, typer.Option("--lang", help="zh or en.")] = Lang.zh,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output file [default: servq-report-PERIOD.FORMAT]"),
    ] = None,
    timezone: Annotated[
        str, typer.Option("--timezone", "--tz", help="Time zone of days and periods.")
    ] = "Asia/Shanghai",
    team: Annotated[
        list[str] | None, typer.Option("--team", help="Only this team (repeat for several).")
    ] = None,
    site: Annotated[
        list[str] | None, typer.Option("--site", help="Only this site (repeat for several).")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Build the service-quality report of a period and print the file's path.
    生成指定周期的服务质量报告并输出文件路径。"""
    if ctx.invoked_subcommand is not None:
        return
    if period is None:
        typer.echo(ctx.get_help())
        raise _fail("give --period (or a command: schedules, send, run-due) / 请指定 --period")
    from servq.reports.build import build_report
    from servq.reports.period import parse_period
    from servq.reports.render import render

    scope = {k: v for k, v in (("team", team), ("site", site)) if v}
    try:
        p = parse_period(period)
        with _opened(workspace, need_store=False) as (ws, store):
            built = build_report(ws, store, p, lang=lang.value, timezone=timezone, scope=scope)
            data = render(built, fmt.value)
    except ServqError as exc:
        raise _fail(str(exc)) from None
    target = out or Path(f"servq-report-{p.file_label()}.{fmt.value}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except OSError as exc:
        raise _fail(f"cannot write {target}: {exc} / 无法写入 {target}") from None
    typer.echo(str(target))


@report_app.command("schedules")
def schedules_cmd(
    workspace: WorkspaceOpt = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Scheduled reports (<workspace>/reports.yaml) and when each runs next.
    列出定时报告及下次发送时间。"""
    from servq.reports.runs import runs
    from servq.reports.schedule import load_schedules, next_run, period_for_run

    moment = _now(now)
    root = _root(workspace)
    try:
        schedules = load_schedules(root)
    except ServqError as exc:
        raise _fail(str(exc)) from None
    last: dict[str, str] = {}
    if schedules and _has_store(root):
        from servq.app_store import open_store

        with open_store(root) as store:
            for run in reversed(runs(store, limit=10_000)):
                if run.state == "sent":
                    last[run.schedule_id] = run.period
    listed = []
    try:
        for s in schedules:
            upcoming = next_run(s, moment)
            listed.append((s, upcoming, period_for_run(s, upcoming).label, last.get(s.id)))
    except ServqError as exc:  # a date beyond the holiday data chinesecalendar has
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(
            [
                {
                    "id": s.id,
                    "period": s.period,
                    "formats": list(s.formats),
                    "lang": s.lang,
                    "timezone": s.timezone,
                    "channel": s.channel,
                    "scope": s.scope or {},
                    "next_run": upcoming.isoformat(),
                    "next_period": covers,
                    "last_sent": sent,
                }
                for s, upcoming, covers, sent in listed
            ]
        )
        return
    if not listed:
        console.print("no report schedules (reports.yaml) / 没有定时报告", highlight=False)
        return
    t = Table(title="Report schedules 定时报告")
    for col in ("id", "period", "formats", "lang", "channel", "scope", "next run"):
        t.add_column(col)
    t.add_column("covers")
    t.add_column("last sent")
    for s, upcoming, covers, sent in listed:
        scope = "; ".join(f"{k}={','.join(v)}" for k, v in (s.scope or {}).items())
        t.add_row(
            s.id,
            s.period,
            ",".join(s.formats),
            s.lang,
            s.channel,
            scope or "-",
            f"{upcoming:%Y-%m-%d %H:%M} ({s.timezone})",
            covers,
            sent or "-",
        )
    console.print(t)


def _print_delivery(result: ReportDelivery) -> None:
    if result.skipped:
        console.print(
            f"{result.schedule_id} {result.period}: already sent, skipped / 已发送过，跳过",
            highlight=False,
        )
    elif result.sent:
        console.print(
            f"{result.schedule_id} {result.period}: sent to {', '.join(result.recipients)} "
            f"({', '.join(result.files)}) / 已发送",
            highlight=False,
        )
    else:
        err_console.print(
            f"[bold red]failed:[/] {result.schedule_id} {result.period}: {result.error} / 发送失败",
            highlight=False,
        )


@report_app.command("send")
def send_cmd(
    schedule_id: Annotated[str, typer.Argument(help="Schedule id (servq report schedules).")],
    workspace: WorkspaceOpt = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deliver a scheduled report now: the last complete period before --now, once.
    立即发送一个定时报告（同一周期只发送一次）。"""
    from servq.reports.schedule import deliver, get_schedule

    moment = _now(now)
    try:
        schedule = get_schedule(_root(workspace), schedule_id)
        with _opened(workspace, need_store=True) as (ws, store):
            assert store is not None
            result = deliver(schedule, ws, store, moment)
    except ServqError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(result.as_dict())
    else:
        _print_delivery(result)
    if not (result.sent or result.skipped):
        raise typer.Exit(code=1)


@report_app.command("run-due")
def run_due_cmd(
    workspace: WorkspaceOpt = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deliver every scheduled report that is due (for cron or a systemd timer).
    发送所有已到时间的定时报告。"""
    from servq.reports.schedule import deliver, due_schedules, load_schedules

    moment = _now(now)
    results = []
    try:
        schedules = load_schedules(_root(workspace))
        if schedules:
            with _opened(workspace, need_store=True) as (ws, store):
                assert store is not None
                for due in due_schedules(schedules, store, moment):
                    results.append(deliver(due.schedule, ws, store, moment))
    except ServqError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json([r.as_dict() for r in results])
    else:
        if not results:
            console.print("nothing due / 没有到期的报告", highlight=False)
        for r in results:
            _print_delivery(r)
    if any(not (r.sent or r.skipped) for r in results):
        raise typer.Exit(code=1)


class PackFormat(StrEnum):
    html = "html"
    pdf = "pdf"


@report_app.command("committee")
def committee_cmd(
    month: Annotated[str, typer.Option("--month", "-m", help="The month, e.g. 2026-03.")],
    fmt: Annotated[
        PackFormat | None,
        typer.Option("--format", "-f", help="html or pdf [default: the --out suffix, else html]."),
    ] = None,
    lang: Annotated[Lang, typer.Option("--lang", help="zh or en.")] = Lang.zh,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output file [default: servq-committee-MONTH.FORMAT]"),
    ] = None,
    workspace: WorkspaceOpt = None,
    store_url: Annotated[
        str | None, typer.Option("--store", help="Application store URL [env SERVQ_APP_DB].")
    ] = None,
    now: NowOpt = None,
) -> None:
    """The quality committee's monthly pack: top problems, unclaimed problems, overdue plans,
    verified wins, plans that did not work, suggestions. 质量管理委员会月度材料。"""
    from servq.app_store import open_store
    from servq.improve.committee import committee_pack, render_pack
    from servq.improve.loop import LoopService
    from servq.improve.service import ImprovementService

    moment = _now(now).astimezone(UTC).replace(tzinfo=None)
    root = _root(workspace)
    if fmt is None:
        fmt = (
            PackFormat.pdf if out is not None and out.suffix.lower() == ".pdf" else PackFormat.html
        )
    try:
        with open_store(root, url=store_url) as store:
            service = ImprovementService.for_workspace(store, root)
            pack = committee_pack(service, LoopService(store), month, lang=lang.value, now=moment)
            data = render_pack(pack, fmt.value)
    except ServqError as exc:
        raise _fail(str(exc)) from None
    target = out or Path(f"servq-committee-{month}.{fmt.value}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except OSError as exc:
        raise _fail(f"cannot write {target}: {exc} / 无法写入 {target}") from None
    typer.echo(str(target))
