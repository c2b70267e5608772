"""Plans of the improvement loop: tiers and due times, the workflow (every allowed move and the
refused ones), verdicts closing the problem, milestones, department owners' rights, the main flow
on PostgreSQL, and the ``servq improve`` command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from servq.app_store import APP_DB_ENV, Store, open_store
from servq.auth import Principal
from servq.cli.improve_cmd import improve_app
from servq.improve import (
    Forbidden,
    ImproveConfig,
    ImproveError,
    ImprovementService,
    can_edit,
    check_edit,
)
from servq.monitor.alerts import AlertManager
from servq.monitor.signals import Signal

T0 = datetime(2025, 9, 26, 10, 0)  # Friday 18:00 in Shanghai
PEOPLE = [{"name": "li", "department": "support-a"}, {"name": "zhao", "department": "qa"}]
NODES = [
    {"id": 1, "parent": None, "why": "Slow weekend replies"},
    {
        "id": 2,
        "parent": 1,
        "why": "Why?",
        "because": "roster",
        "layer": "process",
        "root_cause": True,
    },
]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path, url=f"sqlite:///{tmp_path / 'app.db'}") as s:
        yield s


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def service(store: Store, clock: Clock) -> ImprovementService:
    return ImprovementService(store, clock=clock)


@pytest.fixture
def problem(service: ImprovementService) -> str:
    p = service.open_problem("Slow weekend replies", source="metric", by="wang")
    service.claim(p["id"], "support-a", "li", "wang")
    return str(p["id"])


def _plan(service: ImprovementService, problem: str, tier: str = "normal", **kw: Any) -> str:
    plan = service.add_plan(problem, "New roster", tier, "li", "support-a", "li", **kw)
    return str(plan["id"])


# -- adding ----------------------------------------------------------------------------------------


def test_add_plan_numbers_drafts_and_moves_the_problem_to_improve(
    service: ImprovementService, problem: str
) -> None:
    first = service.add_plan(
        problem,
        "Weekend roster",
        "normal",
        "li",
        "support-a",
        "wang",
        acceptance=[{"metric": "first_reply_time", "target": "<= 2h"}],
    )
    second = service.add_plan(problem, "Training", "normal", "chen", "support-a", "wang")
    assert (first["id"], second["id"]) == ("A-0001", "A-0002")
    assert (first["status"], first["tier"], first["due_at"], first["verdict"]) == (
        "draft",
        "normal",
        None,
        None,
    )
    assert first["acceptance"] == [{"metric": "first_reply_time", "target": "<= 2h"}]
    assert (first["opened_by"], first["opened_at"], first["escalation_level"]) == ("wang", T0, 0)
    assert service.get_problem(problem)["stage"] == "improve"
    assert [p["id"] for p in service.list_plans(problem)] == ["A-0001", "A-0002"]
    assert [p["id"] for p in service.list_plans(department="support-a", tier="normal")] == [
        "A-0001",
        "A-0002",
    ]
    assert service.list_plans(status="approved") == []


def test_urgent_plans_are_due_48_hours_later_unless_told(
    service: ImprovementService, problem: str
) -> None:
    urgent = service.add_plan(problem, "Extra agent", "urgent", "li", "support-a", "wang")
    assert urgent["due_at"] == T0 + timedelta(hours=48)  # Sunday 18:00 Shanghai on 24x7
    given = datetime(2025, 9, 27, 2, 0, tzinfo=UTC)
    told = service.add_plan(problem, "Call back", "urgent", "li", "support-a", "wang", due_at=given)
    assert told["due_at"] == datetime(2025, 9, 27, 2, 0)


def test_urgent_plans_on_a_business_calendar_skip_weekends_and_holidays(
    store: Store, clock: Clock
) -> None:
    config = ImproveConfig(urgent_calendar="cn-office")
    service = ImprovementService(store, clock=clock, config=config)
    p = service.open_problem("x", source="manual", by="w")
    plan = service.add_plan(p["id"], "Extra agent", "urgent", "li", "support-a", "wang")
    # 48 open hours of cn-office (7.5 a working day) from Friday 2025-09-26 18:00: the adjusted
    # working days Sunday 28 and Saturday 10-11, the National Day holiday skipped: Monday
    # 2025-10-13 12:00 in Shanghai
    assert plan["due_at"] == datetime(2025, 10, 13, 4, 0)


def test_long_term_plans_follow_milestones(service: ImprovementService, problem: str) -> None:
    plan = service.add_plan(
        problem,
        "Roster system",
        "long_term",
        "li",
        "support-a",
        "wang",
        milestones=[
            {"title": "pick a tool", "due": "2025-10-31"},
            {"title": "roll out", "due": datetime(2025, 12, 1, 2, 0)},
        ],
    )
    assert plan["milestones"] == [
        {"title": "pick a tool", "due": "2025-10-31", "done_at": None},
        {"title": "roll out", "due": "2025-12-01T02:00:00", "done_at": None},
    ]
    done = service.complete_milestone(plan["id"], "roll out", "li")
    assert done["milestones"][1]["done_at"] == T0.isoformat()
    done = service.complete_milestone(plan["id"], 0, "li", at=datetime(2025, 10, 30))
    assert done["milestones"][0]["done_at"] == "2025-10-30T00:00:00"
    with pytest.raises(ImproveError, match="already done"):
        service.complete_milestone(plan["id"], 0, "li")
    with pytest.raises(ImproveError, match="no milestone 'launch'"):
        service.complete_milestone(plan["id"], "launch", "li")
    with pytest.raises(ImproveError, match="no milestone 5"):
        service.complete_milestone(plan["id"], 5, "li")
    events = [e for e in service.history("plan", plan["id"]) if e["action"] == "milestone"]
    assert [(e["who"], e["field"], e["note"]) for e in events] == [
        ("li", "milestones", "roll out"),
        ("li", "milestones", "pick a tool"),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tier": "someday"}, "unknown tier"),
        ({"owner": ""}, "owner must not be empty"),
        ({"milestones": [{"title": "x", "due": "soon"}]}, "expected a date"),
        ({"milestones": [{"title": "", "due": "2025-10-01"}]}, "title must not be empty"),
        ({"acceptance": ["faster"]}, "acceptance"),
    ],
)
def test_add_plan_refuses_what_it_cannot_store(
    service: ImprovementService, problem: str, change: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {
        "title": "x",
        "tier": "normal",
        "owner": "li",
        "department": "support-a",
        "by": "wang",
        **change,
    }
    with pytest.raises(ImproveError, match=message):
        service.add_plan(problem, **args)
    with pytest.raises(ImproveError, match="no problem P-0404"):
        service.add_plan("P-0404", "x", "normal", "li", "support-a", "wang")


# -- the workflow ----------------------------------------------------------------------------------

ALLOWED = [
    ("draft", "approved"),
    ("approved", "in_progress"),
    ("in_progress", "done"),
    ("done", "verified"),
    ("done", "not_effective"),
    ("not_effective", "in_progress"),
]
PATHS = {
    "draft": [],
    "approved": ["approved"],
    "in_progress": ["approved", "in_progress"],
    "done": ["approved", "in_progress", "done"],
    "verified": ["approved", "in_progress", "done", "verified"],
    "not_effective": ["approved", "in_progress", "done", "not_effective"],
}


def _walk(service: ImprovementService, plan: str, to: str) -> None:
    for status in PATHS[to]:
        service.set_plan_status(plan, status, "li")


@pytest.mark.parametrize(("start", "end"), ALLOWED)
def test_every_allowed_move(
    service: ImprovementService, problem: str, start: str, end: str
) -> None:
    plan = _plan(service, problem)
    _walk(service, plan, start)
    moved = service.set_plan_status(plan, end, "boss", note="why not")
    assert moved["status"] == end
    last = service.history("plan", plan)[-1]
    assert (last["who"], last["field"], last["old"], last["new"], last["note"]) == (
        "boss",
        "status",
        start,
        end,
        "why not",
    )


REFUSED = [
    ("draft", "in_progress"),
    ("draft", "done"),
    ("draft", "verified"),
    ("approved", "done"),
    ("approved", "not_effective"),
    ("in_progress", "verified"),
    ("in_progress", "approved"),
    ("done", "in_progress"),
    ("verified", "in_progress"),
    ("verified", "not_effective"),
    ("not_effective", "done"),
    ("not_effective", "verified"),
]


@pytest.mark.parametrize(("start", "end"), REFUSED)
def test_other_moves_are_refused_with_a_clear_error(
    service: ImprovementService, problem: str, start: str, end: str
) -> None:
    plan = _plan(service, problem)
    _walk(service, plan, start)
    before = service.history("plan", plan)
    with pytest.raises(ImproveError, match=f"cannot go from {start} to {end}"):
        service.set_plan_status(plan, end, "li")
    assert service.history("plan", plan) == before
    assert service.get_plan(plan)["status"] == start


def test_same_status_and_unknown_status_are_refused(
    service: ImprovementService, problem: str
) -> None:
    plan = _plan(service, problem)
    with pytest.raises(ImproveError, match="already draft"):
        service.set_plan_status(plan, "draft", "li", admin=True)
    with pytest.raises(ImproveError, match="unknown status 'finished'"):
        service.set_plan_status(plan, "finished", "li")
    with pytest.raises(ImproveError, match="no plan A-0404"):
        service.set_plan_status("A-0404", "approved", "li")


@pytest.mark.parametrize("start", ["approved", "in_progress", "done", "verified", "not_effective"])
def test_back_to_draft_is_for_administrators_only(
    service: ImprovementService, problem: str, start: str
) -> None:
    plan = _plan(service, problem)
    _walk(service, plan, start)
    with pytest.raises(Forbidden, match="only an administrator"):
        service.set_plan_status(plan, "draft", "li")
    assert service.set_plan_status(plan, "draft", "root", admin=True)["status"] == "draft"
    problem_row = service.get_problem(problem)
    assert (problem_row["state"], problem_row["stage"]) == ("claimed", "improve")


# -- verdicts and the problem's stage --------------------------------------------------------------


def test_verdicts_move_the_problem_to_verify_and_close_it_when_all_are_verified(
    service: ImprovementService, problem: str, clock: Clock
) -> None:
    a, b = _plan(service, problem), _plan(service, problem)
    for plan in (a, b):
        _walk(service, plan, "done")
    with pytest.raises(ImproveError, match="'status'"):
        service.record_verdict(a, {"effect": 1}, "qa")
    verdict = {"status": "met", "metric": "first_reply_time", "before": 9.2, "after": 1.8}
    got = service.record_verdict(a, verdict, "qa")
    assert (got["status"], got["verdict"]) == ("verified", verdict)
    p = service.get_problem(problem)
    assert (p["stage"], p["state"]) == ("verify", "claimed")
    # the second plan did not work: re-work, then it does
    got = service.record_verdict(b, {"status": "not_met", "after": 8.0}, "qa")
    assert got["status"] == "not_effective"
    assert service.get_problem(problem)["stage"] == "verify"
    service.set_plan_status(b, "in_progress", "li", note="re-work")
    assert service.get_problem(problem)["stage"] == "improve"
    service.set_plan_status(b, "done", "li")
    clock.now = T0 + timedelta(days=30)
    service.record_verdict(b, {"status": "met"}, "qa")
    p = service.get_problem(problem)
    assert (p["stage"], p["state"], p["closed_at"]) == ("closed", "closed", clock.now)
    verdicts = [e for e in p["history"] if e["action"] == "verdict" and e["field"] == "verdict"]
    assert [e["new"]["status"] for e in verdicts] == ["met", "not_met", "met"]
    assert {e["who"] for e in verdicts} == {"qa"}


def test_a_verdict_needs_a_done_plan(service: ImprovementService, problem: str) -> None:
    plan = _plan(service, problem)
    _walk(service, plan, "in_progress")
    with pytest.raises(ImproveError, match="needs a plan that is done"):
        service.record_verdict(plan, {"status": "met"}, "qa")


def test_a_later_verdict_reopens_a_closed_problem(
    service: ImprovementService, problem: str
) -> None:
    plan = _plan(service, problem)
    _walk(service, plan, "done")
    service.record_verdict(plan, {"status": "met"}, "qa")
    assert service.get_problem(problem)["state"] == "closed"
    service.record_verdict(plan, {"status": "not_met", "note": "came back"}, "qa")
    p = service.get_problem(problem)
    assert (p["state"], p["stage"], p["closed_at"]) == ("claimed", "verify", None)
    assert service.get_plan(plan)["status"] == "not_effective"


def test_setting_verified_by_hand_also_closes(service: ImprovementService, problem: str) -> None:
    plan = _plan(service, problem)
    _walk(service, plan, "verified")
    assert service.get_problem(problem)["state"] == "closed"
    with pytest.raises(ImproveError, match="is closed"):
        service.add_plan(problem, "more", "normal", "li", "support-a", "wang")


# -- department owners -----------------------------------------------------------------------------


def test_a_department_owner_edits_only_their_departments_plans(
    service: ImprovementService, problem: str
) -> None:
    mine = service.add_plan(problem, "a", "normal", "li", "support-a", "wang")
    theirs = service.add_plan(problem, "b", "normal", "wu", "logistics", "wang")
    owner = Principal(7, "li", "Li", "department_owner", ("support-a",), None, "zh", "session")
    assert can_edit(owner, mine["department"])
    check_edit(owner, mine["department"])
    service.set_plan_status(mine["id"], "approved", owner.username)
    assert not can_edit(owner, theirs["department"])
    with pytest.raises(Forbidden, match="li \\(department_owner\\) may not change"):
        check_edit(owner, theirs["department"])
    for role in ("analyst", "agent", "viewer"):
        other = Principal(8, "x", "X", role, ("support-a", "logistics"), None, "zh", "token")
        for plan in (mine, theirs):
            assert not can_edit(other, plan["department"])
            with pytest.raises(Forbidden):
                check_edit(other, plan["department"])
    for role in ("admin", "quality_manager"):
        boss = Principal(9, "b", "B", role, (), None, "zh", "session")
        assert can_edit(boss, mine["department"]) and can_edit(boss, theirs["department"])


# -- PostgreSQL ------------------------------------------------------------------------------------


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    """A store on a new, empty database of the local PostgreSQL server (tests/conftest.py)."""
    store = open_store(url=pg_url)
    try:
        yield store
    finally:
        store.close()


def test_the_main_flow_on_postgresql(pg_store: Store, tmp_path: Path) -> None:
    from servq.improve import escalation_signals

    assert pg_store.dialect == "postgresql"
    clock = Clock(T0)
    service = ImprovementService(pg_store, clock=clock)
    manager = AlertManager(pg_store)
    manager.process([Signal("csat_low", "threshold", {"team": "support-a"}, True, T0)], T0)
    p = service.open_from_alert(manager.list()[0], "wang")
    assert p["id"] == "P-0001" and p["evidence"]["alert"]["labels"] == {"team": "support-a"}
    service.claim(p["id"], "support-a", "li", "wang")
    assert service.save_retro(p["id"], PEOPLE, NODES, ["own the roster"], "li") == []
    plan = service.add_plan(p["id"], "Extra agent", "urgent", "li", "support-a", "li")
    assert plan["due_at"] == T0 + timedelta(hours=48)
    clock.now = T0 + timedelta(hours=49)
    signals = escalation_signals(service, clock.now)
    assert [(s.rule, s.firing) for s in signals] == [("improve.plan_overdue", True)]
    manager.process(signals, clock.now)
    for status in ("approved", "in_progress", "done"):
        service.set_plan_status(plan["id"], status, "li")
    manager.process(escalation_signals(service, clock.now), clock.now)
    assert [a.state for a in manager.list(rule="improve.plan_overdue", state="all")] == ["resolved"]
    service.record_verdict(plan["id"], {"status": "met", "after": 1.5}, "qa")
    got = service.get_problem(p["id"])
    assert (got["state"], got["stage"]) == ("closed", "closed")
    assert got["retro"]["complete"] is True
    assert got["plans"][0]["verdict"] == {"status": "met", "after": 1.5}
    assert got["plans"][0]["escalation_level"] == 1
    actions = [e["action"] for e in got["history"]]
    assert actions[0] == "open" and "escalate" in actions and actions[-1] == "verdict"
    # JSON columns round-trip on JSONB (lists, nested, None)
    assert got["retro"]["nodes"][1]["layer"] == "process"
    assert got["retro"]["nodes"][0]["layer"] is None


def test_numbers_stay_unique_when_several_services_open_problems_on_postgresql(
    pg_store: Store,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    service = ImprovementService(pg_store, clock=lambda: T0)

    def open_one(i: int) -> str:
        return str(service.open_problem(f"p{i}", source="manual", by="w")["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(open_one, range(24)))
    assert sorted(ids) == [f"P-{n:04d}" for n in range(1, 25)]


# -- the command line ------------------------------------------------------------------------------

app = typer.Typer()
app.add_typer(improve_app, name="improve")
runner = CliRunner()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(APP_DB_ENV, raising=False)  # the store must be the workspace's file
    path = tmp_path / "ws"
    path.mkdir()
    return path


def cli(workspace: Path, *args: str, code: int = 0) -> Any:
    """Run ``servq improve ARGS --json`` and return its JSON (or the result when it failed)."""
    result = runner.invoke(app, ["improve", *args, "-w", str(workspace)])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if code == 0 and "--json" in args else result


def test_the_command_line_flow(workspace: Path) -> None:
    opened = cli(
        workspace,
        "problems",
        "open",
        "Slow replies",
        "--source",
        "metric",
        "--severity",
        "high",
        "--department",
        "support-a",
        "--by",
        "wang",
        "--json",
    )
    pid = opened["problem"]["id"]
    assert (pid, opened["problem"]["severity"]) == ("P-0001", "high")
    listed = cli(workspace, "problems", "list", "--unclaimed", "--json")
    assert [p["id"] for p in listed["problems"]] == [pid]
    claimed = cli(
        workspace,
        "problems",
        "claim",
        pid,
        "-d",
        "support-a",
        "--owner",
        "li",
        "--by",
        "wang",
        "--json",
    )
    assert claimed["problem"]["state"] == "claimed"
    retro = workspace / "retro.yaml"
    retro.write_text(
        "participants:\n  - {name: li, department: support-a}\n"
        "nodes:\n  - {id: 1, parent: null, why: slow}\n"
        "  - {id: 2, parent: 1, why: why, because: roster, root_cause: true}\n"
        "conclusions: [own the roster]\n",
        encoding="utf-8",
    )
    saved = cli(workspace, "retro", "set", pid, "--file", str(retro), "--by", "li", "--json")
    assert saved["complete"] is False and len(saved["issues"]) == 2
    people = cli(workspace, "retro", "set", pid, "--file", str(retro), "--json")
    assert people["issues"] == saved["issues"]
    added = cli(
        workspace,
        "plans",
        "add",
        pid,
        "--title",
        "Extra agent",
        "--tier",
        "urgent",
        "--owner",
        "li",
        "-d",
        "support-a",
        "--by",
        "li",
        "--json",
    )
    plan = added["plan"]
    assert plan["id"] == "A-0001" and plan["due_at"]
    long_term = cli(
        workspace,
        "plans",
        "add",
        pid,
        "--title",
        "Roster tool",
        "--tier",
        "long_term",
        "--owner",
        "li",
        "-d",
        "support-a",
        "--milestone",
        "pick=2025-12-01",
        "--due",
        "2026-03-01T18:00",
        "--json",
    )
    assert long_term["plan"]["milestones"] == [
        {"title": "pick", "due": "2025-12-01", "done_at": None}
    ]
    assert long_term["plan"]["due_at"] == "2026-03-01T10:00:00"  # read in Asia/Shanghai
    moved = cli(workspace, "plans", "status", "A-0001", "approved", "--note", "ok", "--json")
    assert moved["plan"]["status"] == "approved"
    refused = cli(workspace, "plans", "status", "A-0001", "verified", code=2)
    assert "cannot go from approved to verified" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    not_admin = cli(workspace, "plans", "status", "A-0001", "draft", code=2)
    assert "only an administrator" in not_admin.output
    cli(workspace, "plans", "status", "A-0001", "draft", "--admin", "--json")
    done = cli(workspace, "plans", "milestone", "A-0002", "pick", "--json")
    assert done["plan"]["milestones"][0]["done_at"]
    plans = cli(workspace, "plans", "list", "--problem", pid, "--json")
    assert [p["id"] for p in plans["plans"]] == ["A-0001", "A-0002"]
    shown = cli(workspace, "problems", "show", pid, "--json")["problem"]
    assert shown["retro"]["version"] == 1  # saved twice, unchanged the second time
    assert {e["action"] for e in shown["history"]} >= {"open", "claim", "retro_create", "status"}
    # the tables for people print too
    for args in (("problems", "list"), ("problems", "show", pid), ("plans", "list")):
        result = runner.invoke(app, ["improve", *args, "-w", str(workspace)])
        assert result.exit_code == 0, result.output
        assert pid in result.output


def test_the_command_line_escalates(workspace: Path) -> None:
    cli(workspace, "problems", "open", "Nobody's", "--department", "support-b", "--json")
    quiet = cli(workspace, "escalate", "--json")
    assert quiet["notices"] == []
    later = datetime.now(UTC) + timedelta(days=4)
    out = cli(workspace, "escalate", "--now", later.isoformat(), "--json")
    assert [n["alert"]["rule"] for n in out["notices"]] == ["improve.unclaimed"]
    assert out["notices"][0]["alert"]["labels"] == {
        "problem_id": "P-0001",
        "department": "support-b",
    }
    again = runner.invoke(
        app, ["improve", "escalate", "--now", later.isoformat(), "-w", str(workspace)]
    )
    assert again.exit_code == 0 and "Nothing to escalate" in again.output


def test_the_command_line_opens_a_problem_from_an_alert(workspace: Path) -> None:
    with open_store(workspace) as store:
        AlertManager(store).process(
            [Signal("backlog_high", "threshold", {"team": "a"}, True, T0, summary_en="big")], T0
        )
    out = cli(workspace, "problems", "open", "--from-alert", "1", "--json")
    assert out["problem"]["source_ref"] == "1" and out["problem"]["department"] == "a"
    missing = cli(workspace, "problems", "open", "--from-alert", "99", code=2)
    assert "no alert 99" in missing.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("problems", "show", "P-0404"), "no problem P-0404"),
        (("problems", "open"), "give a TITLE or --from-alert"),
        (("problems", "open", "x", "--source", "rumour"), "unknown source"),
        (("problems", "list", "--state", "lost"), "unknown state"),
        (
            ("plans", "add", "P-0001", "--title", "x", "--owner", "o", "-d", "d", "--tier", "soon"),
            "unknown tier",
        ),
        (
            (
                "plans",
                "add",
                "P-0001",
                "--title",
                "x",
                "--owner",
                "o",
                "-d",
                "d",
                "--milestone",
                "no-date",
            ),
            "cannot read milestone",
        ),
        (("plans", "status", "A-0404", "approved"), "no plan A-0404"),
        (("retro", "set", "P-0001", "--file", "missing.yaml"), "cannot read"),
        (("escalate", "--now", "tomorrow"), "cannot read time"),
    ],
)
def test_command_line_errors_are_one_line_with_status_2(
    workspace: Path, args: tuple[str, ...], message: str
) -> None:
    result = cli(workspace, *args, code=2)
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_a_bad_configuration_file_is_a_one_line_error(workspace: Path) -> None:
    (workspace / "improve.yaml").write_text("claim_days: -1\n", encoding="utf-8")
    result = cli(workspace, "problems", "list", code=2)
    assert "improve.yaml:1: claim_days" in result.output


def test_main_registers_the_improve_group() -> None:
    from servq.cli.main import app as main_app

    result = CliRunner().invoke(main_app, ["improve", "--help"])
    assert result.exit_code == 0
    for word in ("problems", "retro", "plans", "escalate"):
        assert word in result.output
