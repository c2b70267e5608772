"""The ``servq loop`` commands: revisits to complainants, the suggestion box and SOPs.

Owns: the ``loop_app`` Typer group (sub-groups ``revisit``, ``suggest`` and ``sop``) and how
their results are printed (Rich tables for people, ``--json`` for scripts). Works on the
application store of ``--workspace`` (or ``--store`` / ``SERVQ_APP_DB``) through
:class:`servq.improve.loop.LoopService`. Errors are one line (exit status 2) as in
``servq.cli.sla_cmd``, with user text escaped from console markup; imports nothing from
``servq.cli.main``. Times are UTC; a time given without an offset is read as UTC.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from servq.app_store import open_store
from servq.cli.common import ByOpt, JsonOpt, StoreOpt, WorkspaceOpt
from servq.cli.common import fail as _fail
from servq.cli.common import print_json as _print_json
from servq.cli.common import who as _who
from servq.errors import ServqError
from servq.improve.loop import (
    AUTHOR_KINDS,
    OUTCOMES,
    SUGGESTION_STATUSES,
    LoopService,
    customer_voter,
    public_suggestion,
)
from servq.workspace import default_workspace_path

loop_app = typer.Typer(
    help="Closing the loop: revisits, the suggestion box, SOPs. 闭环：回访、意见箱、标准作业程序。",
    no_args_is_help=True,
)
revisit_app = typer.Typer(
    help="Call-backs to complainants and revisit satisfaction. 投诉回访与回访满意度。",
    no_args_is_help=True,
)
suggest_app = typer.Typer(
    help="The suggestion box of staff and customers. 员工与客户意见箱。", no_args_is_help=True
)
sop_app = typer.Typer(
    help="Standard operating procedures and their versions. 标准作业程序（SOP）及其版本。",
    no_args_is_help=True,
)
loop_app.add_typer(revisit_app, name="revisit")
loop_app.add_typer(suggest_app, name="suggest")
loop_app.add_typer(sop_app, name="sop")

# no console markup: titles, texts and notes are user text and may hold "[...]"
console = Console(width=None if sys.stdout.isatty() else 200, markup=False)
ProblemOpt = Annotated[str | None, typer.Option("--problem", help="Problem id, e.g. P-0001")]
SuggestionArg = Annotated[str, typer.Argument(help="Suggestion id, e.g. S-0001")]
SopArg = Annotated[str, typer.Argument(help="SOP id, e.g. SOP-0001")]


# -- helpers --------------------------------------------------------------------------------------
@contextmanager
def _service(workspace: Path | None, store: str | None) -> Iterator[LoopService]:
    """The loop service on the workspace's store; any servq error ends with status 2."""
    try:
        with open_store(workspace or default_workspace_path(), url=store) as app_store:
            yield LoopService(app_store)
    except ServqError as exc:
        raise _fail(str(exc)) from None


def _time(text: str, option: str) -> datetime:
    """An ISO time: with an offset converted to UTC, without one taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _fail(
            f"{option}: cannot read time '{text}': use e.g. 2026-03-05T10:00 / 时间格式错误"
        ) from None
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise _fail(
            f"{option}: cannot read date '{text}': use e.g. 2026-04-01 / 日期格式错误"
        ) from None


def _day_or_time(text: str, option: str) -> date | datetime:
    """A date (``2026-03-01``) or a time (``2026-03-01T08:00``)."""
    stripped = text.strip()
    if len(stripped) == 10:
        return _day(stripped, option)
    return _time(stripped, option)


def _when(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _table(title: str, columns: tuple[str, ...], rows: list[list[str]]) -> Table:
    t = Table(title=title)
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*row)
    return t


# -- revisits -------------------------------------------------------------------------------------
_REVISIT_COLUMNS = (
    "id",
    "problem",
    "case",
    "customer",
    "due (UTC)",
    "assigned",
    "outcome",
    "attempts",
    "done",
)


def _revisit_cells(r: dict[str, Any]) -> list[str]:
    due = _when(r["due_at"]) + (" overdue 逾期" if r["overdue"] else "")
    done = "–" if r["done_at"] is None else f"{_when(r['done_at'])} {r['done_by']}"
    return [
        str(r["id"]),
        r["problem_id"],
        r["case_id"],
        r["customer_ref"] or "–",
        due,
        r["assigned_to"] or "–",
        r["outcome"] or "–",
        str(r["attempts"]),
        done,
    ]


@revisit_app.command("add")
def revisit_add(
    problem_id: Annotated[str, typer.Argument(help="Problem id, e.g. P-0001")],
    case_id: Annotated[str, typer.Argument(help="Case (ticket) id of the complaint")],
    due: Annotated[str, typer.Option("--due", help="Call back by, ISO time (no offset = UTC)")],
    customer: Annotated[
        str | None, typer.Option("--customer", help="Who to call; stored masked")
    ] = None,
    assign: Annotated[str | None, typer.Option("--assign", help="Who makes the call")] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Plan a call-back to a complainant about a problem. 为问题安排对投诉人的回访。"""
    due_at = _time(due, "--due")
    with _service(workspace, store) as svc:
        r = svc.add_revisit(
            problem_id,
            case_id,
            due_at=due_at,
            customer_ref=customer,
            assigned_to=assign,
            by=_who(by),
        )
    if as_json:
        _print_json({"revisit": r})
    else:
        console.print(
            f"revisit {r['id']} for {r['problem_id']} / case {r['case_id']} due "
            f"{_when(r['due_at'])} UTC / 回访 {r['id']} 已安排，截止 {_when(r['due_at'])}（UTC）"
        )


def _department_of(store: Any, problem_id: str) -> str | None:
    """The problem's department (for the revisit's feedback row), when the problem exists."""
    from servq.improve.model import ImproveError
    from servq.improve.service import ImprovementService

    try:
        department = ImprovementService(store).get_problem(problem_id).get("department")
    except ImproveError:
        return None
    return None if department is None else str(department)


@revisit_app.command("done")
def revisit_done(
    revisit_id: Annotated[int, typer.Argument(help="Revisit id (servq loop revisit list)")],
    outcome: Annotated[str, typer.Argument(help=f"Outcome: {', '.join(OUTCOMES)}")],
    note: Annotated[str, typer.Option("--note", help="What was said; stored masked")] = "",
    retry_at: Annotated[
        str | None,
        typer.Option("--retry-at", help="Unreachable: try again by this time (ISO, UTC)"),
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Record a call: satisfied / not_satisfied close the revisit, unreachable keeps it open.
    记录一次回访：满意/不满意即结束，联系不上可再次回访。"""
    if outcome not in OUTCOMES:
        raise _fail(f"unknown outcome '{outcome}': use {', '.join(OUTCOMES)} / 未知回访结果")
    retry = None if retry_at is None else _time(retry_at, "--retry-at")
    with _service(workspace, store) as svc:
        r = svc.record_revisit(revisit_id, outcome, by=_who(by), note=note, retry_at=retry)
        # answered revisits reach the warehouse as feedback (metric revisit_satisfaction)
        from servq.improve.loop import feed_revisit

        feed_revisit(svc.store, r, department=_department_of(svc.store, str(r["problem_id"])))
    if as_json:
        _print_json({"revisit": r})
    elif r["open"]:
        console.print(
            f"revisit {r['id']}: {outcome}, attempt {r['attempts']}, still open (due "
            f"{_when(r['due_at'])} UTC) / 回访 {r['id']}：第 {r['attempts']} 次未联系上，仍待回访"
        )
    else:
        console.print(
            f"revisit {r['id']} closed: {outcome} after {r['attempts']} attempt(s) / "
            f"回访 {r['id']} 已结束：{outcome}（共 {r['attempts']} 次）"
        )


@revisit_app.command("list")
def revisit_list(
    problem: ProblemOpt = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only revisits still open")] = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Revisits, earliest due first. 回访列表（按截止时间）。"""
    with _service(workspace, store) as svc:
        found = svc.list_revisits(problem, open_only=open_only)
    if as_json:
        _print_json({"revisits": found})
    elif found:
        rows = [_revisit_cells(r) for r in found]
        console.print(_table(f"Revisits 回访 ({len(found)})", _REVISIT_COLUMNS, rows))
    else:
        console.print("No revisits. 没有回访。")


@revisit_app.command("satisfaction")
def revisit_satisfaction(
    problem: ProblemOpt = None,
    start: Annotated[
        str | None, typer.Option("--from", help="From this date or time (UTC), included")
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="To this date (whole day included) or time (excluded), UTC"),
    ] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Revisit satisfaction: satisfied / (satisfied + not satisfied); unreachable apart.
    回访满意度：满意 /（满意 + 不满意），联系不上的单独列出、不计入分母。"""
    lo = None if start is None else _day_or_time(start, "--from")
    hi = None if end is None else _day_or_time(end, "--to")
    with _service(workspace, store) as svc:
        fig = svc.revisit_satisfaction(problem, lo, hi)
    if as_json:
        _print_json({"satisfaction": fig})
        return
    rate = "–" if fig["percent"] is None else f"{fig['percent']:.1f}%"
    console.print(
        f"revisit satisfaction {rate} ({fig['satisfied']} satisfied of {fig['answered']} "
        f"answered); unreachable {fig['unreachable']}, not called yet {fig['pending']}\n"
        f"回访满意度 {rate}（{fig['answered']} 位回答者中 {fig['satisfied']} 位满意）；"
        f"联系不上 {fig['unreachable']}，尚未回访 {fig['pending']}",
        highlight=False,
    )


# -- suggestions ----------------------------------------------------------------------------------
def _suggestion_rows(found: list[dict[str, Any]], public: bool) -> Table:
    if public:
        cols: tuple[str, ...] = ("month", "title", "text", "votes", "status")
        rows = [
            [p["month"], p["title"], p["text"], str(p["votes"]), p["status"]]
            for p in (public_suggestion(d) for d in found)
        ]
    else:
        cols = ("id", "created (UTC)", "from", "department", "title", "votes", "status", "problem")
        rows = [
            [
                d["id"],
                _when(d["created_at"]),
                f"{d['author_kind']} {d['author'] or '(anonymous 匿名)'}",
                d["department"] or "–",
                d["title"],
                str(d["votes"]),
                d["status"],
                d["problem_id"] or "–",
            ]
            for d in found
        ]
    return _table(f"Suggestions 建议 ({len(found)})", cols, rows)


@suggest_app.command("add")
def suggest_add(
    title: Annotated[str, typer.Argument(help="Short title")],
    text: Annotated[str, typer.Argument(help="The suggestion; personal data is masked")],
    kind: Annotated[
        str, typer.Option("--kind", help=f"Who suggests: {', '.join(AUTHOR_KINDS)}")
    ] = "staff",
    author: Annotated[
        str | None,
        typer.Option("--author", help="Name [staff: your user name; customers: anonymous]"),
    ] = None,
    department: Annotated[str | None, typer.Option("--department", help="Department")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Put a suggestion in the box. 提交一条建议。"""
    if kind not in AUTHOR_KINDS:
        raise _fail(f"unknown kind '{kind}': use {', '.join(AUTHOR_KINDS)} / 未知提交人类型")
    name = author if author or kind == "customer" else _who(None)
    with _service(workspace, store) as svc:
        d = svc.suggest(title, text, author_kind=kind, author=name, department=department)
    if as_json:
        _print_json({"suggestion": d})
    else:
        console.print(f"suggestion {d['id']} added / 建议 {d['id']} 已提交: {d['title']}")


@suggest_app.command("vote")
def suggest_vote(
    suggestion_id: SuggestionArg,
    voter: Annotated[
        str | None, typer.Option("--voter", help="Voting user [default: your user name]")
    ] = None,
    customer_token: Annotated[
        str | None,
        typer.Option("--customer-token", help="A customer's token; only its hash is stored"),
    ] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Vote for a suggestion; one vote per voter. 为建议投票（每人一票）。"""
    if voter and customer_token:
        raise _fail("give --voter or --customer-token, not both / 只能给出其中之一")
    who = customer_voter(customer_token) if customer_token else _who(voter)
    with _service(workspace, store) as svc:
        votes = svc.vote(suggestion_id, who)
    if as_json:
        _print_json({"suggestion_id": suggestion_id, "votes": votes})
    else:
        console.print(f"{suggestion_id}: {votes} vote(s) / {votes} 票")


@suggest_app.command("list")
def suggest_list(
    month: Annotated[str | None, typer.Option("--month", help="UTC month, e.g. 2026-03")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help=f"One of {', '.join(SUGGESTION_STATUSES)}")
    ] = None,
    public: Annotated[
        bool, typer.Option("--public", help="Only what the public may see (no author)")
    ] = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Suggestions, oldest first. 建议列表。"""
    with _service(workspace, store) as svc:
        found = svc.list_suggestions(month, status)
    if as_json:
        _print_json({"suggestions": [public_suggestion(d) for d in found] if public else found})
    elif found:
        console.print(_suggestion_rows(found, public))
    else:
        console.print("No suggestions. 没有建议。")


@suggest_app.command("best")
def suggest_best(
    month: Annotated[str, typer.Argument(help="UTC month, e.g. 2026-03")],
    public: Annotated[
        bool, typer.Option("--public", help="Only what the public may see (no author)")
    ] = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """The suggestion of the month: most votes, the earliest between equals. 月度最佳建议。"""
    with _service(workspace, store) as svc:
        best = svc.best_of_month(month)
    shown = best if best is None or not public else public_suggestion(best)
    if as_json:
        _print_json({"month": month, "best": shown})
    elif best is None:
        console.print(f"No suggestions in {month}. {month} 没有建议。")
    else:
        console.print(_suggestion_rows([best], public))


@suggest_app.command("status")
def suggest_status(
    suggestion_id: SuggestionArg,
    status: Annotated[str, typer.Argument(help=f"One of {', '.join(SUGGESTION_STATUSES)}")],
    problem: ProblemOpt = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Accept or reject a suggestion, or link the problem it became. 采纳、驳回或转为问题。"""
    with _service(workspace, store) as svc:
        d = svc.set_suggestion_status(suggestion_id, status, _who(by), problem_id=problem)
    if as_json:
        _print_json({"suggestion": d})
    else:
        linked = f" → {d['problem_id']}" if d["problem_id"] else ""
        console.print(f"{d['id']}: {d['status']}{linked} / 状态已更新")


# -- SOPs -----------------------------------------------------------------------------------------
def _print_sop(d: dict[str, Any], heading: str) -> None:
    console.print(
        f"{d['id']} v{d['version']} — {d['title']} ({heading}; effective 生效 "
        f"{d['effective_date']}, plan 计划 {d['plan_id']}, by {d['created_by']})",
        highlight=False,
    )
    console.print(d["body"], highlight=False)


@sop_app.command("publish")
def sop_publish(
    plan_id: Annotated[str, typer.Argument(help="Improvement plan id, e.g. A-0001")],
    title: Annotated[str, typer.Argument(help="Title of the SOP")],
    effective: Annotated[str, typer.Option("--effective", help="In force from, e.g. 2026-04-01")],
    body: Annotated[str | None, typer.Option("--body", help="The SOP text (markdown)")] = None,
    body_file: Annotated[
        Path | None, typer.Option("--body-file", help="Read the SOP text from this file")
    ] = None,
    sop_id: Annotated[
        str | None, typer.Option("--sop", help="Publish a new version of this SOP")
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Publish an SOP, or with --sop a new version of one. 发布 SOP 或其新版本。"""
    if (body is None) == (body_file is None):
        raise _fail("give --body or --body-file, one of them / 请给出 --body 或 --body-file 之一")
    if body_file is not None:
        try:
            body = body_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(f"cannot read {body_file}: {exc} / 无法读取文件") from None
    day = _day(effective, "--effective")
    with _service(workspace, store) as svc:
        d = svc.publish_sop(plan_id, title, body or "", day, by=_who(by), sop_id=sop_id)
    if as_json:
        _print_json({"sop": d})
    else:
        console.print(
            f"{d['id']} version {d['version']} published, effective {d['effective_date']} / "
            f"{d['id']} 第 {d['version']} 版已发布，{d['effective_date']} 生效"
        )


@sop_app.command("show")
def sop_show(
    sop_id: SopArg,
    on: Annotated[
        str | None, typer.Option("--on", help="The version in force on this day [today, UTC]")
    ] = None,
    version: Annotated[int | None, typer.Option("--version", help="This version")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """An SOP as in force on a day (or one version). 查看某日生效的 SOP（或指定版本）。"""
    if on is not None and version is not None:
        raise _fail("give --on or --version, not both / 只能给出 --on 或 --version 之一")
    day = datetime.now(UTC).date() if on is None else _day(on, "--on")
    with _service(workspace, store) as svc:
        if version is None:
            d = svc.sop_in_force(sop_id, day)
        else:
            d = next((v for v in svc.sop_history(sop_id) if v["version"] == version), None)
            if d is None:
                raise _fail(f"{sop_id} has no version {version} / 没有该版本")
    if as_json:
        _print_json({"sop": d, "on": None if version is not None else day})
    elif d is None:
        console.print(f"{sop_id} is not in force on {day} yet. {sop_id} 在 {day} 尚未生效。")
    else:
        _print_sop(d, f"version {version}" if version is not None else f"in force on {day}")


@sop_app.command("history")
def sop_history(
    sop_id: SopArg,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Every version of an SOP. SOP 的全部版本。"""
    with _service(workspace, store) as svc:
        found = svc.sop_history(sop_id)
    if as_json:
        _print_json({"sop_id": sop_id, "versions": found})
        return
    rows = [
        [
            str(d["version"]),
            str(d["effective_date"]),
            d["plan_id"],
            d["title"],
            d["created_by"],
            _when(d["created_at"]),
        ]
        for d in found
    ]
    cols = ("version", "effective", "plan", "title", "by", "published (UTC)")
    console.print(_table(f"{sop_id}: versions 版本", cols, rows))


@sop_app.command("list")
def sop_list(
    plan: Annotated[str | None, typer.Option("--plan", help="Only SOPs of this plan")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Every SOP, latest version. 全部 SOP（最新版本）。"""
    with _service(workspace, store) as svc:
        found = svc.list_sops(plan)
    if as_json:
        _print_json({"sops": found})
    elif found:
        rows = [
            [d["id"], str(d["version"]), str(d["effective_date"]), d["plan_id"], d["title"]]
            for d in found
        ]
        cols = ("id", "latest version", "effective", "plan", "title")
        console.print(_table(f"SOPs ({len(found)})", cols, rows))
    else:
        console.print("No SOPs. 没有 SOP。")
