"""The ``servq improve`` commands: problems, claiming, 5-Why retrospectives, plans, escalation.

Owns: the ``improve_app`` Typer group (``problems``, ``retro``, ``plans``, ``escalate``) and how
the improvement loop is printed (Rich tables for people, ``--json`` for scripts). Works on the
application store of ``--workspace`` (or ``--store`` / ``SERVQ_APP_DB``) under the workspace's
``improve.yaml``. Times are shown in that file's ``timezone`` (default Asia/Shanghai), and a time
typed without an offset is read in it; ``--json`` gives naive UTC ISO text, as the store keeps.
Shares the one-line error (exit status 2) with ``servq.cli.sla_cmd``; imports nothing from
``servq.cli.main``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from servq.app_store import open_store
from servq.cli.common import ByOpt, JsonOpt, StoreOpt, WorkspaceOpt
from servq.cli.common import fail as _fail
from servq.cli.common import print_json as _print_json
from servq.cli.common import who as _who
from servq.errors import ServqError
from servq.improve.model import PLAN_STATUSES, SEVERITIES, SOURCES, TIERS
from servq.improve.service import ImprovementService
from servq.workspace import default_workspace_path

improve_app = typer.Typer(
    help="The improvement loop: problems, 5-Why retrospectives, plans, escalation. "
    "持续改进闭环：问题、5-Why 复盘、整改计划与升级。",
    no_args_is_help=True,
)
problems_app = typer.Typer(help="Problems and who claimed them. 问题与认领。", no_args_is_help=True)
retro_app = typer.Typer(help="5-Why retrospectives. 5-Why 复盘。", no_args_is_help=True)
plans_app = typer.Typer(
    help="Improvement plans: urgent, normal, long-term. 整改计划：紧急、常规、长期。",
    no_args_is_help=True,
)
improve_app.add_typer(problems_app, name="problems")
improve_app.add_typer(retro_app, name="retro")
improve_app.add_typer(plans_app, name="plans")

console = Console(width=None if sys.stdout.isatty() else 200)

NoteOpt = Annotated[str, typer.Option("--note", help="Why, for the history")]
ProblemArg = Annotated[str, typer.Argument(help="Problem id, e.g. P-0001 问题编号")]
PlanArg = Annotated[str, typer.Argument(help="Plan id, e.g. A-0001 计划编号")]
DepartmentOpt = Annotated[
    str | None, typer.Option("--department", "-d", help="Department (team) 部门")
]


@contextmanager
def _service(workspace: Path | None, store: str | None) -> Iterator[ImprovementService]:
    """The improvement service of the workspace's store; any servq error ends the command."""
    root = workspace or default_workspace_path()
    try:
        with open_store(root, url=store) as app_store:
            yield ImprovementService.for_workspace(app_store, root)
    except ServqError as exc:
        raise _fail(str(exc)) from None


def _zone(service: ImprovementService) -> ZoneInfo:
    return ZoneInfo(service.config.timezone)


def _time(text: str, zone: ZoneInfo) -> datetime:
    """ISO time as naive UTC; without an offset it is read in ``zone``."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(
            f"cannot read time '{text}': use e.g. 2025-10-01T18:00 / 时间格式错误"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC).replace(tzinfo=None)


def _when(moment: Any, zone: ZoneInfo) -> str:
    if not isinstance(moment, datetime):
        return "–"
    return f"{moment.replace(tzinfo=UTC).astimezone(zone):%Y-%m-%d %H:%M}"


def _read_data(path: Path) -> Any:
    """A YAML (or JSON) file's data; a file that cannot be read or parsed is one error."""
    from servq.yamlfile import parse_yaml, read_definition

    data, _ = parse_yaml(read_definition(path), str(path))
    return data


def _check(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    if value is not None and value not in allowed:
        raise _fail(f"unknown {what} '{value}': use {', '.join(allowed)} / 未知的 {what}")


# -- problems --------------------------------------------------------------------------------------


def _problems_table(rows: list[dict[str, Any]], zone: ZoneInfo) -> Table:
    t = Table(title=f"Problems 问题 ({len(rows)}, times {zone.key})")
    for col in ("id", "state", "stage", "severity", "department", "owner", "title", "opened"):
        t.add_column(col, overflow="fold")
    t.add_column("claim by 认领截止", overflow="fold")
    for r in rows:
        t.add_row(
            r["id"],
            r["state"],
            r["stage"],
            r["severity"],
            r["department"] or "",
            r["owner"] or "",
            r["title"],
            _when(r["opened_at"], zone),
            _when(r["claim_due_at"], zone) if r["state"] in ("open", "escalated") else "",
        )
    return t


@problems_app.command("list")
def problems_list(
    state: Annotated[str | None, typer.Option(help="open, claimed, escalated or closed")] = None,
    department: DepartmentOpt = None,
    stage: Annotated[
        str | None, typer.Option(help="monitor, analyse, improve, verify or closed")
    ] = None,
    unclaimed: Annotated[
        bool, typer.Option("--unclaimed", help="Only problems nobody claimed yet.")
    ] = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Problems, in number order. 问题列表。"""
    with _service(workspace, store) as service:
        if unclaimed:
            rows = service.unclaimed()
        else:
            rows = service.list_problems(state=state, department=department, stage=stage)
        zone = _zone(service)
    if as_json:
        _print_json({"problems": rows})
    elif rows:
        console.print(_problems_table(rows, zone))
    else:
        console.print("No problems. 没有问题。")


@problems_app.command("open")
def problems_open(
    title: Annotated[str | None, typer.Argument(help="What is wrong 问题标题")] = None,
    source: Annotated[str, typer.Option(help=f"Where it was found: {', '.join(SOURCES)}")] = (
        "manual"
    ),
    description: Annotated[str, typer.Option(help="More words 描述")] = "",
    source_ref: Annotated[
        str | None, typer.Option("--source-ref", help="Alert id, metric query, ...")
    ] = None,
    severity: Annotated[str, typer.Option(help=f"{', '.join(SEVERITIES)}")] = "medium",
    department: DepartmentOpt = None,
    evidence: Annotated[
        Path | None, typer.Option(help="YAML/JSON file: {metric: ..., cases: [...], texts: [...]}")
    ] = None,
    from_alert: Annotated[
        int | None, typer.Option("--from-alert", help="Open it from this alert (its evidence).")
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Record a problem (or take one from an alert). 登记问题（或从告警生成）。"""
    if from_alert is None and not title:
        raise _fail("give a TITLE or --from-alert ID / 请给出标题或 --from-alert 告警编号")
    who = _who(by)
    with _service(workspace, store) as service:
        if from_alert is not None:
            from servq.monitor.alerts import AlertManager

            alert = AlertManager(service.store).get(from_alert)
            row = service.open_from_alert(alert, who)
        else:
            data = None if evidence is None else _read_data(evidence)
            if data is not None and not isinstance(data, dict):
                raise _fail(f"{evidence}: expected a mapping / 证据文件应为映射")
            row = service.open_problem(
                title or "",
                source=source,
                by=who,
                description=description,
                source_ref=source_ref,
                evidence=data,
                severity=severity,
                department=department,
            )
        zone = _zone(service)
    if as_json:
        _print_json({"problem": row})
    else:
        console.print(
            f"problem {row['id']} opened by {row['opened_by']}; to be claimed by "
            f"{_when(row['claim_due_at'], zone)} ({zone.key}) / 问题 {row['id']} 已登记，"
            f"请在 {_when(row['claim_due_at'], zone)} 前认领",
            highlight=False,
        )


def _history_table(events: list[dict[str, Any]], zone: ZoneInfo) -> Table:
    t = Table(title=f"History 历史 (times {zone.key})")
    for col in ("at", "who", "what", "action", "field", "old", "new", "note"):
        t.add_column(col, overflow="fold")
    for e in events:
        t.add_row(
            _when(e["at"], zone),
            e["who"],
            f"{e['entity']} {e['entity_id']}",
            e["action"],
            e["field"] or "",
            "" if e["old"] is None or e["field"] is None else _short(e["old"]),
            "" if e["new"] is None or e["field"] is None else _short(e["new"]),
            e["note"],
        )
    return t


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


@problems_app.command("show")
def problems_show(
    problem_id: ProblemArg,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """A problem with its retrospective, plans and history. 问题详情（复盘、计划、历史）。"""
    with _service(workspace, store) as service:
        row = service.get_problem(problem_id)
        zone = _zone(service)
    if as_json:
        _print_json({"problem": row})
        return
    console.print(
        f"[bold]{row['id']}[/] {row['title']}\n"
        f"state 状态 {row['state']} · stage 阶段 {row['stage']} · severity 严重程度 "
        f"{row['severity']} · source 来源 {row['source']} {row['source_ref'] or ''}\n"
        f"department 部门 {row['department'] or '–'} · owner 负责人 {row['owner'] or '–'} · "
        f"opened 登记 {_when(row['opened_at'], zone)} by {row['opened_by']} · claim by 认领截止 "
        f"{_when(row['claim_due_at'], zone)} ({zone.key})",
        highlight=False,
    )
    if row["description"]:
        console.print(row["description"], highlight=False)
    retro = row["retro"]
    if retro is not None:
        done = "complete 完整" if retro["complete"] else "incomplete 不完整"
        console.print(f"5-Why retrospective 复盘: version {retro['version']}, {done}")
        for issue in retro["issues"]:
            console.print(f"  - {issue}", highlight=False)
        for text in retro["conclusions"]:
            console.print(f"  conclusion 结论: {text}", highlight=False)
    if row["plans"]:
        console.print(_plans_table(row["plans"], zone))
    console.print(_history_table(row["history"], zone))


@problems_app.command("claim")
def problems_claim(
    problem_id: ProblemArg,
    department: Annotated[str, typer.Option("--department", "-d", help="Claiming department")],
    owner: Annotated[str, typer.Option("--owner", help="Who answers for it 负责人")],
    by: ByOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Claim a problem for a department. 部门认领问题。"""
    with _service(workspace, store) as service:
        row = service.claim(problem_id, department, owner, _who(by))
    if as_json:
        _print_json({"problem": row})
    else:
        console.print(
            f"problem {row['id']} claimed by {row['department']} (owner {row['owner']}) / "
            f"问题 {row['id']} 已由 {row['department']} 认领，负责人 {row['owner']}",
            highlight=False,
        )


@problems_app.command("close")
def problems_close(
    problem_id: ProblemArg,
    note: NoteOpt = "",
    by: ByOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Close a problem by hand (duplicate, not a problem). 手动关闭问题。"""
    with _service(workspace, store) as service:
        row = service.close_problem(problem_id, _who(by), note)
    if as_json:
        _print_json({"problem": row})
    else:
        console.print(f"problem {row['id']} closed / 问题 {row['id']} 已关闭", highlight=False)


# -- retrospectives --------------------------------------------------------------------------------


@retro_app.command("set")
def retro_set(
    problem_id: ProblemArg,
    file: Annotated[
        Path, typer.Option("--file", "-f", help="YAML: participants, nodes, conclusions")
    ],
    version: Annotated[
        int | None,
        typer.Option("--version", help="Refuse if someone saved another version since this one."),
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Save a problem's 5-Why retrospective from a YAML file. 从 YAML 文件保存 5-Why 复盘。"""
    with _service(workspace, store) as service:
        data = _read_data(file)
        if not isinstance(data, dict):
            raise _fail(f"{file}: expected a mapping with participants and nodes / 应为映射")
        unknown = sorted(set(data) - {"participants", "nodes", "conclusions"})
        if unknown:
            raise _fail(f"{file}: unknown field(s) {', '.join(unknown)} / 未知字段")
        findings = service.save_retro(
            problem_id,
            data.get("participants") or [],
            data.get("nodes") or [],
            data.get("conclusions") or [],
            _who(by),
            expected_version=version,
        )
    if as_json:
        _print_json({"problem_id": problem_id, "complete": not findings, "issues": findings})
        return
    if not findings:
        console.print(
            f"retrospective of {problem_id} saved: complete / {problem_id} 的复盘已保存：完整"
        )
        return
    console.print(
        f"retrospective of {problem_id} saved, not complete yet / "
        f"{problem_id} 的复盘已保存，尚不完整:",
        highlight=False,
    )
    for finding in findings:
        console.print(f"  - {finding}", highlight=False)


# -- plans -----------------------------------------------------------------------------------------


def _plans_table(rows: list[dict[str, Any]], zone: ZoneInfo) -> Table:
    t = Table(title=f"Plans 整改计划 ({len(rows)}, times {zone.key})")
    for col in ("id", "problem", "tier", "status", "department", "owner", "title", "due"):
        t.add_column(col, overflow="fold")
    t.add_column("escalated 升级", overflow="fold")
    for r in rows:
        due = _when(r["due_at"], zone)
        if r.get("overdue"):
            due += " overdue 逾期"
        done = sum(1 for m in r["milestones"] if m.get("done_at"))
        title = r["title"]
        if r["milestones"]:
            title += f" (milestones {done}/{len(r['milestones'])})"
        t.add_row(
            r["id"],
            r["problem_id"],
            r["tier"],
            r["status"],
            r["department"],
            r["owner"],
            title,
            due,
            f"level {r['escalation_level']}" if r["escalation_level"] else "",
        )
    return t


def _milestone(text: str) -> dict[str, str]:
    title, sep, due = text.rpartition("=")
    if not sep or not title.strip() or not due.strip():
        raise _fail(f"cannot read milestone '{text}': use TITLE=YYYY-MM-DD / 里程碑格式：标题=日期")
    return {"title": title.strip(), "due": due.strip()}


@plans_app.command("add")
def plans_add(
    problem_id: ProblemArg,
    title: Annotated[str, typer.Option("--title", help="What will be done 计划内容")],
    owner: Annotated[str, typer.Option("--owner", help="Who does it 负责人")],
    department: Annotated[str, typer.Option("--department", "-d", help="Department 部门")],
    tier: Annotated[str, typer.Option(help=f"{', '.join(TIERS)}")] = "normal",
    due: Annotated[
        str | None,
        typer.Option(help="Due time, ISO [urgent: urgent_hours of the urgent calendar]"),
    ] = None,
    milestone: Annotated[
        list[str] | None,
        typer.Option("--milestone", help="TITLE=YYYY-MM-DD (repeatable; long-term plans)"),
    ] = None,
    acceptance: Annotated[
        Path | None, typer.Option(help="YAML/JSON file: a list of acceptance criteria")
    ] = None,
    criterion: Annotated[
        list[str] | None,
        typer.Option(
            "--criterion",
            help="An acceptance criterion in words (repeatable), e.g. "
            "'aht[team=A] in 2026-Q1 <= 85% of 2025-Q4' 验收标准",
        ),
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Add a plan to a problem. 为问题添加整改计划。"""
    _check(tier, TIERS, "tier")
    steps = [_milestone(m) for m in milestone or []]
    with _service(workspace, store) as service:
        zone = _zone(service)
        criteria = [] if acceptance is None else _read_data(acceptance)
        if not isinstance(criteria, list):
            raise _fail(f"{acceptance}: expected a list of criteria / 验收标准应为列表")
        criteria = _checked_criteria([*criteria, *(criterion or [])], workspace)
        row = service.add_plan(
            problem_id,
            title,
            tier,
            owner,
            department,
            _who(by),
            due_at=None if due is None else _time(due, zone),
            milestones=steps,
            acceptance=criteria,
        )
    if as_json:
        _print_json({"plan": row})
    else:
        due_text = "" if row["due_at"] is None else f", due {_when(row['due_at'], zone)}"
        console.print(
            f"plan {row['id']} ({row['tier']}) added to {problem_id}{due_text} ({zone.key}) / "
            f"整改计划 {row['id']} 已添加",
            highlight=False,
        )


def _checked_criteria(raw: list[Any], workspace: Path | None) -> list[dict[str, Any]]:
    """Each criterion parsed and checked against the workspace's metric catalogue."""
    from servq.improve.verify import parse_criterion
    from servq.metrics.catalogue_registry import Catalogue

    root = workspace or default_workspace_path()
    catalogue = Catalogue([root / "metrics"])
    try:
        return [parse_criterion(c, catalogue=catalogue).to_dict() for c in raw]
    except ServqError as exc:
        raise _fail(str(exc)) from None


@plans_app.command("verify")
def plans_verify(
    plan_id: Annotated[str, typer.Argument(help="Plan id, e.g. A-0001")],
    now: Annotated[
        str | None, typer.Option(help="Judge as of this ISO time [default: now]")
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Check the plan's acceptance criteria from the data and record the verdict (verified or
    not effective). 用数据验证整改计划的验收标准并记录结论。"""
    from servq.improve.verify import parse_criterion, verify
    from servq.workspace import Workspace

    root = workspace or default_workspace_path()
    with _service(workspace, store) as service:
        zone = _zone(service)
        moment = None if now is None else _time(now, zone)
        plan = service.get_plan(plan_id)
        if not plan.get("acceptance"):
            raise _fail(f"plan {plan_id} has no acceptance criteria / 整改计划没有验收标准")
        try:
            with Workspace(root, read_only=True) as ws:
                verdicts = [
                    verify(ws, parse_criterion(c, catalogue=ws.catalogue), now=moment).as_dict()
                    for c in plan["acceptance"]
                ]
        except ServqError as exc:
            raise _fail(str(exc)) from None
        statuses = [v["status"] for v in verdicts]
        recorded = None
        if not any(x in ("pending", "insufficient_data") for x in statuses):
            overall = {
                "status": "met" if all(x == "met" for x in statuses) else "not_met",
                "criteria": verdicts,
                "checked_at": (moment or datetime.now(UTC).replace(tzinfo=None)).isoformat() + "Z",
            }
            recorded = service.record_verdict(plan_id, overall, _who(by))
    if as_json:
        _print_json({"plan": recorded, "verdicts": verdicts})
        return
    for v in verdicts:
        console.print(f"{v['status']}: {v['explanation_en']}", highlight=False)
        console.print(f"  {v['explanation_zh']}", highlight=False)
    if recorded is not None:
        console.print(f"plan {plan_id}: {recorded['status']} / 结论已记录", highlight=False)
    else:
        console.print("not recorded: a period is not over or data are missing / 暂不记录")


@plans_app.command("status")
def plans_status(
    plan_id: PlanArg,
    status: Annotated[str, typer.Argument(help=f"{', '.join(PLAN_STATUSES)}")],
    note: NoteOpt = "",
    admin: Annotated[
        bool, typer.Option("--admin", help="Act as an administrator (needed to go back to draft)")
    ] = False,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Move a plan along its workflow. 变更整改计划状态。"""
    with _service(workspace, store) as service:
        row = service.set_plan_status(plan_id, status, _who(by), note, admin=admin)
    if as_json:
        _print_json({"plan": row})
    else:
        console.print(
            f"plan {row['id']} is now {row['status']} / 整改计划 {row['id']} 状态：{row['status']}",
            highlight=False,
        )


@plans_app.command("milestone")
def plans_milestone(
    plan_id: PlanArg,
    milestone: Annotated[str, typer.Argument(help="Milestone title, or its position from 0")],
    note: NoteOpt = "",
    by: ByOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Mark a milestone of a plan done. 标记里程碑完成。"""
    which: int | str = int(milestone) if milestone.isdigit() else milestone
    with _service(workspace, store) as service:
        row = service.complete_milestone(plan_id, which, _who(by), note=note)
    if as_json:
        _print_json({"plan": row})
    else:
        console.print(f"milestone {milestone} of {plan_id} done / 里程碑已完成", highlight=False)


@plans_app.command("list")
def plans_list(
    problem: Annotated[str | None, typer.Option("--problem", help="Only this problem's")] = None,
    status: Annotated[str | None, typer.Option(help=f"{', '.join(PLAN_STATUSES)}")] = None,
    department: DepartmentOpt = None,
    tier: Annotated[str | None, typer.Option(help=f"{', '.join(TIERS)}")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Plans, in number order. 整改计划列表。"""
    with _service(workspace, store) as service:
        rows = service.list_plans(problem, status=status, department=department, tier=tier)
        zone = _zone(service)
    if as_json:
        _print_json({"plans": rows})
    elif rows:
        console.print(_plans_table(rows, zone))
    else:
        console.print("No plans. 没有整改计划。")


# -- escalation ------------------------------------------------------------------------------------


@improve_app.command("escalate")
def escalate(
    now: Annotated[
        str | None, typer.Option("--now", help="Escalate as of this time, ISO [now]")
    ] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Escalate unclaimed problems and overdue urgent plans through the alerts (what the
    running monitor does by itself). 升级无人认领的问题与逾期的紧急计划（监测进程会自动执行）。"""
    from servq.improve.escalation import run_escalation

    root = workspace or default_workspace_path()
    with _service(workspace, store) as service:
        moment = service.now() if now is None else _time(now, _zone(service))
        notices = run_escalation(service.store, root, moment)
    if as_json:
        _print_json({"at": moment, "notices": [n.as_dict() for n in notices]})
        return
    if not notices:
        console.print("Nothing to escalate. 没有需要升级的事项。")
        return
    for n in notices:
        a = n.alert
        console.print(
            f"{n.reason}: alert {a.id} {a.rule} — {a.summary_en} / {a.summary_zh}",
            highlight=False,
        )
