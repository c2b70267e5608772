"""Problems of the improvement loop: opening, claiming (问题认领制), 5-Why retrospectives, the
history of every change, permissions of each role and the configuration file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from servq.app_store import Store, open_store
from servq.auth import Principal
from servq.errors import DefinitionError
from servq.improve import (
    ConflictError,
    Forbidden,
    ImproveConfig,
    ImproveError,
    ImprovementService,
    RetroError,
    can_edit,
    check_edit,
    retro_findings,
)
from servq.improve.model import clean_nodes, clean_participants
from servq.monitor.alerts import AlertManager
from servq.monitor.signals import Signal

T0 = datetime(2025, 9, 26, 10, 0)  # Friday 18:00 in Shanghai


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "ws", url=f"sqlite:///{tmp_path / 'app.db'}") as s:
        yield s


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def service(store: Store, clock: Clock) -> ImprovementService:
    return ImprovementService(store, clock=clock)


def principal(role: str, departments: tuple[str, ...] = ()) -> Principal:
    return Principal(1, f"u-{role}", role, role, departments, None, "en", "session")


GOOD_PEOPLE = [
    {"name": "li", "department": "support-a"},
    {"name": "zhao", "department": "logistics"},
]
GOOD_NODES: list[dict[str, Any]] = [
    {"id": 1, "parent": None, "why": "Weekend replies take 9 hours"},
    {"id": 2, "parent": 1, "why": "Why so slow?", "because": "one agent on Sundays"},
    {"id": 3, "parent": 2, "why": "Why one agent?", "because": "roster copied from 2023"},
    {
        "id": 4,
        "parent": 3,
        "why": "Why never updated?",
        "because": "no owner of the roster",
        "layer": "process",
        "root_cause": True,
    },
]


# -- opening ---------------------------------------------------------------------------------------


def test_open_problem_numbers_masks_and_sets_the_claim_deadline(
    service: ImprovementService,
) -> None:
    first = service.open_problem(
        "Slow weekend replies 周末回复慢",
        source="metric",
        by="wang",
        source_ref="first_reply_time by team, week",
        evidence={
            "metric": {"query": "first_reply_time --by team", "value": 9.2, "baseline": 2.0},
            "cases": ["C-1", 2],
            "texts": ["请回电 13812345678", "mail me at li@example.com"],
        },
        severity="high",
        department="support-a",
    )
    second = service.open_problem("Rude agent", source="text", by="wang")
    assert (first["id"], second["id"]) == ("P-0001", "P-0002")
    assert (first["state"], first["stage"], first["owner"]) == ("open", "monitor", None)
    assert first["department"] == "support-a"
    assert first["evidence"]["cases"] == ["C-1", "2"]
    assert first["evidence"]["texts"][0] == "请回电 138****5678"
    assert "li@example.com" not in first["evidence"]["texts"][1]
    assert first["opened_at"] == T0
    assert first["claim_due_at"] == T0 + timedelta(days=3)  # default: 3 days on 24x7
    assert second["severity"] == "medium"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": "rumour"}, "unknown source"),
        ({"severity": "huge"}, "unknown severity"),
        ({"title": "  "}, "title must not be empty"),
        ({"by": ""}, "by must not be empty"),
        ({"evidence": ["not", "a", "mapping"]}, "evidence must be a mapping"),
        ({"evidence": {"texts": "one text"}}, "evidence.texts"),
    ],
)
def test_open_problem_refuses_what_it_cannot_store(
    service: ImprovementService, change: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"title": "x", "source": "manual", "by": "wang", **change}
    title = args.pop("title")
    with pytest.raises(ImproveError, match=message):
        service.open_problem(title, **args)
    assert service.list_problems() == []


def test_open_from_alert_takes_the_evidence_and_the_team(
    service: ImprovementService, store: Store
) -> None:
    manager = AlertManager(store)
    signal = Signal(
        "csat_low",
        "threshold",
        {"team": "support-b", "site": "sh", "case_id": "C-9"},
        True,
        T0,
        severity="critical",
        value=0.71,
        threshold=0.85,
        summary_en="CSAT 71% below 85%",
        summary_zh="满意度 71%，低于 85%",
    )
    manager.process([signal], T0)
    alert = manager.list()[0]
    problem = service.open_from_alert(alert, "wang")
    assert problem["source"] == "alert"
    assert problem["source_ref"] == str(alert.id)
    assert problem["department"] == "support-b"
    assert problem["severity"] == "high"
    assert problem["title"] == "CSAT 71% below 85% / 满意度 71%，低于 85%"
    evidence = problem["evidence"]
    assert evidence["alert"]["labels"] == {"team": "support-b", "site": "sh", "case_id": "C-9"}
    assert (evidence["alert"]["value"], evidence["alert"]["threshold"]) == (0.71, 0.85)
    assert evidence["alert"]["summary_zh"] == "满意度 71%，低于 85%"
    assert evidence["metric"] == {"rule": "csat_low", "value": 0.71, "threshold": 0.85}
    assert evidence["cases"] == ["C-9"]
    # the same alert again is the same problem, not a second one
    assert service.open_from_alert(alert, "zhang")["id"] == problem["id"]
    assert len(service.list_problems()) == 1


def test_open_from_an_alert_without_team_has_no_department(
    service: ImprovementService, store: Store
) -> None:
    manager = AlertManager(store)
    manager.process([Signal("backlog_high", "threshold", {"site": "bj"}, True, T0)], T0)
    problem = service.open_from_alert(manager.list()[0], "wang")
    assert problem["department"] is None
    assert problem["title"] == "backlog_high"
    assert problem["severity"] == "medium"


def test_list_problems_filters(service: ImprovementService) -> None:
    a = service.open_problem("a", source="manual", by="w", department="support-a")
    service.open_problem("b", source="audit", by="w", department="support-b")
    service.claim(a["id"], "support-a", "li", "w")
    assert [p["id"] for p in service.list_problems(state="claimed")] == ["P-0001"]
    assert [p["id"] for p in service.list_problems(state="open")] == ["P-0002"]
    assert [p["id"] for p in service.list_problems(department="support-b")] == ["P-0002"]
    assert [p["id"] for p in service.list_problems(stage="analyse")] == ["P-0001"]
    assert [p["id"] for p in service.unclaimed()] == ["P-0002"]
    with pytest.raises(ImproveError, match="unknown state"):
        service.list_problems(state="lost")
    with pytest.raises(ImproveError, match="unknown stage"):
        service.list_problems(stage="done")


def test_get_problem_of_an_unknown_id_is_a_clear_error(service: ImprovementService) -> None:
    with pytest.raises(ImproveError, match="no problem P-0042"):
        service.get_problem("P-0042")


# -- claiming --------------------------------------------------------------------------------------


def test_claim_sets_department_owner_state_and_stage(
    service: ImprovementService, clock: Clock
) -> None:
    p = service.open_problem("Slow replies", source="metric", by="wang")
    at = clock.advance(hours=5)
    claimed = service.claim(p["id"], "support-a", "li", "zhang")
    assert (claimed["state"], claimed["stage"]) == ("claimed", "analyse")
    assert (claimed["department"], claimed["owner"], claimed["claimed_at"]) == (
        "support-a",
        "li",
        at,
    )
    assert service.unclaimed() == []
    history = service.get_problem(p["id"])["history"]
    claims = {(e["field"], e["old"], e["new"]) for e in history if e["action"] == "claim"}
    assert claims == {
        ("department", None, "support-a"),
        ("owner", None, "li"),
        ("state", "open", "claimed"),
        ("claimed_at", None, at.isoformat()),
        ("stage", "monitor", "analyse"),
    }
    assert {e["who"] for e in history if e["action"] == "claim"} == {"zhang"}


def test_a_claimed_problem_can_be_handed_over_and_a_closed_one_not_claimed(
    service: ImprovementService,
) -> None:
    p = service.open_problem("Slow replies", source="metric", by="wang")
    service.claim(p["id"], "support-a", "li", "wang")
    handed = service.claim(p["id"], "support-b", "chen", "wang")
    assert (handed["department"], handed["owner"], handed["state"]) == (
        "support-b",
        "chen",
        "claimed",
    )
    events = [e for e in service.history("problem", p["id"]) if e["action"] == "handover"]
    assert {(e["field"], e["old"], e["new"]) for e in events} >= {
        ("department", "support-a", "support-b"),
        ("owner", "li", "chen"),
    }
    closed = service.close_problem(p["id"], "wang", "duplicate of P-0002")
    assert (closed["state"], closed["stage"]) == ("closed", "closed")
    with pytest.raises(ImproveError, match="is closed"):
        service.claim(p["id"], "support-a", "li", "wang")
    with pytest.raises(ImproveError, match="department must not be empty"):
        service.claim("P-0001", " ", "li", "wang")


# -- history ---------------------------------------------------------------------------------------


def test_every_change_is_in_the_history_with_who_and_when(
    service: ImprovementService, clock: Clock
) -> None:
    p = service.open_problem("Slow replies", source="metric", by="wang")
    t1 = clock.advance(hours=1)
    service.claim(p["id"], "support-a", "li", "zhang")
    t2 = clock.advance(hours=1)
    service.save_retro(p["id"], GOOD_PEOPLE, GOOD_NODES, ["Roster owned by team lead"], "li")
    t3 = clock.advance(hours=1)
    plan = service.add_plan(p["id"], "New roster", "normal", "li", "support-a", "li")
    t4 = clock.advance(hours=1)
    service.set_plan_status(plan["id"], "approved", "boss", note="ok")
    history = service.get_problem(p["id"])["history"]
    seen = [(e["at"], e["who"], e["entity"], e["action"], e["field"]) for e in history]
    assert seen[0] == (T0, "wang", "problem", "open", None)
    assert history[0]["new"]["title"] == "Slow replies"
    assert (t1, "zhang", "problem", "claim", "state") in seen
    assert (t2, "li", "retro", "retro_create", None) in seen
    assert (t3, "li", "plan", "plan_add", None) in seen
    assert (t3, "li", "problem", "plan_add", "stage") in seen
    assert (t4, "boss", "plan", "status", "status") in seen
    status = next(e for e in history if e["action"] == "status")
    assert (status["old"], status["new"], status["note"]) == ("draft", "approved", "ok")
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)
    # the per-entity view gives the same rows
    assert [e["id"] for e in service.history("plan", plan["id"])] == [
        e["id"] for e in history if e["entity"] == "plan"
    ]


# -- 5-Why -----------------------------------------------------------------------------------------


def test_a_complete_retro_has_no_findings_and_moves_the_stage(
    service: ImprovementService,
) -> None:
    p = service.open_problem("Slow replies", source="metric", by="wang")
    assert (
        service.save_retro(p["id"], GOOD_PEOPLE, GOOD_NODES, ["Give the roster an owner"], "li")
        == []
    )
    got = service.get_problem(p["id"])
    assert got["stage"] == "analyse"
    retro = got["retro"]
    assert (retro["complete"], retro["issues"], retro["version"]) == (True, [], 1)
    assert retro["nodes"][1] == {
        "id": "2",
        "parent": "1",
        "why": "Why so slow?",
        "because": "one agent on Sundays",
        "layer": None,
        "root_cause": False,
    }
    assert retro["participants"] == GOOD_PEOPLE


def test_a_retro_of_one_department_is_incomplete(service: ImprovementService) -> None:
    p = service.open_problem("Slow replies", source="metric", by="wang")
    people = [{"name": "li", "department": "support-a"}, {"name": "wu", "department": "support-a"}]
    findings = service.save_retro(p["id"], people, GOOD_NODES, [], "li")
    assert len(findings) == 1
    assert "at least two" in findings[0] and "至少需要两个部门" in findings[0]
    assert service.get_problem(p["id"])["retro"]["complete"] is False


def test_a_root_cause_without_layer_is_incomplete(service: ImprovementService) -> None:
    p = service.open_problem("Slow replies", source="metric", by="wang")
    nodes = [dict(n) for n in GOOD_NODES]
    nodes[3]["layer"] = None
    findings = service.save_retro(p["id"], GOOD_PEOPLE, nodes, [], "li")
    assert findings == [
        "node 4 is a root cause without a layer (data, process or people) / "
        "根本原因节点 4 未标注层级（数据、流程或人员）"
    ]


def test_a_cycle_and_a_missing_parent_are_found() -> None:
    nodes = clean_nodes(
        [
            {"id": "p", "parent": None, "why": "problem"},
            {"id": "a", "parent": "b", "why": "a"},
            {"id": "b", "parent": "c", "why": "b"},
            {"id": "c", "parent": "a", "why": "c", "layer": "data", "root_cause": True},
            {"id": "d", "parent": "zz", "why": "d"},
        ]
    )
    findings = retro_findings(clean_participants(GOOD_PEOPLE), nodes)
    assert any("form a cycle" in f and "a → b → c → a" in f for f in findings)
    assert any("parent zz does not exist" in f for f in findings)
    assert sum("cycle" in f for f in findings) == 1  # reported once


def test_a_self_parent_is_a_cycle_and_two_roots_are_not_a_tree() -> None:
    nodes = clean_nodes(
        [
            {"id": 1, "parent": None, "why": "problem"},
            {"id": 2, "parent": None, "why": "another problem"},
            {"id": 3, "parent": 3, "why": "me", "layer": "people", "root_cause": True},
        ]
    )
    findings = retro_findings(clean_participants(GOOD_PEOPLE), nodes)
    assert any("3 → 3" in f for f in findings)
    assert any("2 node(s) without a parent" in f for f in findings)


def test_a_retro_without_root_cause_is_incomplete() -> None:
    nodes = clean_nodes([{"id": 1, "parent": None, "why": "problem"}])
    assert retro_findings(clean_participants(GOOD_PEOPLE), nodes) == [
        "no node is marked as a root cause / 尚未标记根本原因"
    ]


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ("not a list", "nodes: expected a list"),
        ([{"id": 1, "why": "x", "layer": "money"}], "'money' is not one of"),
        ([{"id": 1, "why": "x"}, {"id": "1", "why": "y"}], "used twice"),
        ([{"id": 1, "why": ""}], "why: expected a non-empty text"),
        ([{"id": 1, "why": "x", "colour": "red"}], "unknown field"),
        ([{"id": 1, "why": "x", "root_cause": "yes"}], "true or false"),
        ([{"why": "x"}], "id: expected"),
    ],
)
def test_a_wrong_shape_is_refused_and_nothing_saved(
    service: ImprovementService, nodes: Any, message: str
) -> None:
    p = service.open_problem("Slow replies", source="metric", by="wang")
    with pytest.raises(RetroError, match=message):
        service.save_retro(p["id"], GOOD_PEOPLE, nodes, [], "li")
    assert service.get_problem(p["id"])["retro"] is None


def test_participants_need_name_and_department(service: ImprovementService) -> None:
    p = service.open_problem("Slow replies", source="metric", by="wang")
    with pytest.raises(RetroError, match=r"participants\[0\].department"):
        service.save_retro(p["id"], [{"name": "li"}], GOOD_NODES, [], "li")


def test_saving_again_is_a_new_version_with_the_changes_in_the_history(
    service: ImprovementService, clock: Clock
) -> None:
    p = service.open_problem("Slow replies", source="metric", by="wang")
    service.save_retro(p["id"], GOOD_PEOPLE[:1], GOOD_NODES, [], "li")
    at = clock.advance(minutes=30)
    assert service.save_retro(p["id"], GOOD_PEOPLE, GOOD_NODES, ["Owner"], "zhao") == []
    retro = service.get_problem(p["id"])["retro"]
    assert (retro["version"], retro["complete"], retro["updated_by"]) == (2, True, "zhao")
    assert (retro["created_by"], retro["updated_at"]) == ("li", at)
    changes = {
        e["field"]: (e["old"], e["new"])
        for e in service.history("retro", p["id"])
        if e["action"] == "retro_update"
    }
    assert set(changes) == {"participants", "conclusions", "complete", "issues", "version"}
    assert changes["complete"] == (False, True)
    assert changes["version"] == (1, 2)
    # saving the same thing again changes nothing and writes nothing
    before = len(service.history("retro", p["id"]))
    service.save_retro(p["id"], GOOD_PEOPLE, GOOD_NODES, ["Owner"], "zhao")
    assert len(service.history("retro", p["id"])) == before
    # a stale version is refused
    with pytest.raises(ConflictError, match="version 2"):
        service.save_retro(p["id"], GOOD_PEOPLE, GOOD_NODES, [], "li", expected_version=1)
    service.save_retro(p["id"], GOOD_PEOPLE, GOOD_NODES, [], "li", expected_version=2)
    assert service.get_problem(p["id"])["retro"]["version"] == 3


# -- permissions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "departments", "department", "allowed"),
    [
        ("admin", (), "support-a", True),
        ("admin", (), None, True),
        ("quality_manager", (), "support-b", True),
        ("department_owner", ("support-a",), "support-a", True),
        ("department_owner", ("support-a", "logistics"), "logistics", True),
        ("department_owner", ("support-a",), "support-b", False),
        ("department_owner", ("support-a",), None, False),
        ("department_owner", (), "support-a", False),
        ("analyst", ("support-a",), "support-a", False),
        ("agent", ("support-a",), "support-a", False),
        ("viewer", (), "support-a", False),
    ],
)
def test_can_edit_by_role(
    role: str, departments: tuple[str, ...], department: str | None, allowed: bool
) -> None:
    who = principal(role, departments)
    assert can_edit(who, department) is allowed
    if allowed:
        check_edit(who, department)
    else:
        with pytest.raises(Forbidden, match="may not change") as exc:
            check_edit(who, department)
        assert "无权修改" in str(exc.value)


# -- configuration ---------------------------------------------------------------------------------


def test_the_workspace_configuration_is_read(tmp_path: Path) -> None:
    assert ImproveConfig.for_workspace(tmp_path) == ImproveConfig()
    (tmp_path / "improve.yaml").write_text(
        "claim_days: 2\nclaim_calendar: cn-office\nurgent_hours: 24\n"
        "urgent_calendar: cn-office\ntimezone: Asia/Shanghai\n",
        encoding="utf-8",
    )
    config = ImproveConfig.for_workspace(tmp_path)
    assert (config.claim_days, config.claim_calendar, config.urgent_hours) == (2, "cn-office", 24)


def test_a_bad_configuration_lists_every_problem_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "improve.yaml").write_text(
        "claim_days: 0\ntimezone: Mars/Base\ncolour: red\n", encoding="utf-8"
    )
    with pytest.raises(DefinitionError) as exc:
        ImproveConfig.for_workspace(tmp_path)
    text = str(exc.value)
    assert "improve.yaml:1: claim_days" in text
    assert "improve.yaml:2: timezone" in text
    assert "improve.yaml:3: colour" in text
    (tmp_path / "improve.yaml").write_text("urgent_calendar: mars-office\n", encoding="utf-8")
    with pytest.raises(DefinitionError, match=r"improve.yaml:1: urgent_calendar: no calendar"):
        ImproveConfig.for_workspace(tmp_path)


def test_a_workspace_calendar_can_be_used(tmp_path: Path) -> None:
    folder = tmp_path / "calendars"
    folder.mkdir()
    (folder / "night.yaml").write_text(
        "name: night-desk\ntimezone: Asia/Shanghai\nhours:\n  workday: ['20:00-24:00']\n"
        "  saturday: []\n  sunday: []\nholidays: none\n",
        encoding="utf-8",
    )
    (tmp_path / "improve.yaml").write_text("claim_calendar: night-desk\n", encoding="utf-8")
    with open_store(tmp_path, url=f"sqlite:///{tmp_path / 'app.db'}") as store:
        service = ImprovementService.for_workspace(store, tmp_path, clock=lambda: T0)
        p = service.open_problem("x", source="manual", by="w")
    # Friday 18:00 Shanghai; 3 nights of 4 hours: Fri, Mon, Tue → Tuesday 24:00 Shanghai
    assert p["claim_due_at"] == datetime(2025, 9, 30, 16, 0)


# -- the documentation ----------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "improve.md"


def _yaml_blocks() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return [part.split("```", 1)[0] for part in text.split("```yaml\n")[1:]]


def test_every_configuration_field_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in ImproveConfig.model_fields:
        assert f"| `{name}` |" in text, f"docs/improve.md does not document {name}"


def test_the_documented_examples_are_valid(service: ImprovementService) -> None:
    import yaml

    retro, config = _yaml_blocks()
    assert ImproveConfig.from_yaml(config, "docs/improve.md") == ImproveConfig()
    data = yaml.safe_load(retro)
    p = service.open_problem("Slow weekend replies", source="metric", by="wang")
    found = service.save_retro(
        p["id"], data["participants"], data["nodes"], data["conclusions"], "li"
    )
    assert found == []
