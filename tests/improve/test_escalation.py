"""Escalation of the improvement loop through the monitor's alerts, on a clock the test moves:
across a weekend, China's adjusted working days (2025-09-28 Sunday, 2025-10-11 Saturday) and the
National Day holiday (2025-10-01..08), on ``24x7`` and on the business calendar ``cn-office``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from servq.app_store import Store, open_store
from servq.improve import (
    OVERDUE_RULE,
    UNCLAIMED_RULE,
    ImproveConfig,
    ImprovementService,
    escalation_signals,
    run_escalation,
)
from servq.monitor.alerts import AlertManager
from servq.monitor.signals import Signal

SH = ZoneInfo("Asia/Shanghai")


def sh(*parts: int) -> datetime:
    """A wall-clock time in Shanghai as naive UTC."""
    return datetime(*parts, tzinfo=SH).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


FRIDAY_18 = sh(2025, 9, 26, 18, 0)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def store(workspace: Path) -> Iterator[Store]:
    with open_store(workspace, url=f"sqlite:///{workspace / 'app.db'}") as s:
        yield s


def service_on(store: Store, clock: Clock, **config: object) -> ImprovementService:
    return ImprovementService(store, clock=clock, config=ImproveConfig(**config))


def rules_at(service: ImprovementService, now: datetime) -> list[tuple[str, bool, str]]:
    return [
        (s.rule, s.firing, s.labels.get("level", "1")) for s in escalation_signals(service, now)
    ]


def _urgent(service: ImprovementService) -> dict[str, object]:
    p = service.open_problem("Weekend backlog", source="metric", by="wang")
    service.claim(p["id"], "support-a", "li", "wang")
    return service.add_plan(p["id"], "Extra agents", "urgent", "li", "support-a", "wang")


# -- urgent plans ----------------------------------------------------------------------------------


def test_an_urgent_plan_on_cn_office_is_not_overdue_over_the_holiday(store: Store) -> None:
    clock = Clock(FRIDAY_18)
    service = service_on(store, clock, urgent_calendar="cn-office")
    plan = _urgent(service)
    due = sh(2025, 10, 13, 12, 0)
    assert plan["due_at"] == due
    for quiet in (
        sh(2025, 9, 28, 18, 0),  # when 24x7 would be overdue
        sh(2025, 9, 30, 18, 0),
        sh(2025, 10, 1, 12, 0),  # National Day
        sh(2025, 10, 5, 9, 0),
        sh(2025, 10, 8, 23, 59),
        sh(2025, 10, 11, 18, 0),  # adjusted working Saturday, counted
        sh(2025, 10, 13, 11, 59),
    ):
        assert rules_at(service, quiet) == [], quiet
    assert service.get_plan(str(plan["id"]))["escalation_level"] == 0
    assert rules_at(service, due) == [(OVERDUE_RULE, True, "1")]
    # level 2: another 24 open hours of cn-office, Thursday 2025-10-16 15:00
    assert rules_at(service, sh(2025, 10, 16, 14, 59)) == [(OVERDUE_RULE, True, "1")]
    assert rules_at(service, sh(2025, 10, 16, 15, 0)) == [
        (OVERDUE_RULE, True, "1"),
        (OVERDUE_RULE, True, "2"),
    ]
    got = service.get_plan(str(plan["id"]))
    assert (got["escalation_level"], got["escalated_at"]) == (2, sh(2025, 10, 16, 15, 0))
    marks = [e for e in got["history"] if e["action"] == "escalate"]
    assert [(e["who"], e["field"], e["old"], e["new"]) for e in marks] == [
        ("system", "escalation_level", 0, 1),
        ("system", "escalated_at", None, due.isoformat()),
        ("system", "escalation_level", 1, 2),
        ("system", "escalated_at", due.isoformat(), sh(2025, 10, 16, 15, 0).isoformat()),
    ]


def test_an_urgent_plan_on_24x7_is_overdue_on_sunday_evening(store: Store) -> None:
    clock = Clock(FRIDAY_18)
    service = service_on(store, clock)
    plan = _urgent(service)
    assert plan["due_at"] == sh(2025, 9, 28, 18, 0)
    assert rules_at(service, sh(2025, 9, 28, 17, 59)) == []
    assert rules_at(service, sh(2025, 9, 28, 18, 0)) == [(OVERDUE_RULE, True, "1")]
    assert [r[2] for r in rules_at(service, sh(2025, 9, 29, 18, 0))] == ["1", "2"]


def test_overdue_alerts_fire_once_and_resolve_when_the_plan_is_done(
    store: Store, workspace: Path
) -> None:
    clock = Clock(FRIDAY_18)
    service = service_on(store, clock)
    plan = _urgent(service)
    pid = str(plan["id"])
    manager = AlertManager(store)
    first = run_escalation(store, workspace, sh(2025, 9, 28, 18, 0))
    assert [(n.reason, n.alert.rule, n.alert.severity) for n in first] == [
        ("firing", OVERDUE_RULE, "critical")
    ]
    alert = first[0].alert
    assert alert.labels == {"plan_id": pid, "problem_id": "P-0001", "team": "support-a"}
    assert alert.kind == "threshold" and alert.details["kind_detail"] == "urgent_plan_overdue"
    assert "urgent plan A-0001 of problem P-0001 is overdue" in alert.summary_en
    assert "2025-09-28 18:00 Asia/Shanghai" in alert.summary_en
    assert "紧急整改计划 A-0001" in alert.summary_zh and "已逾期" in alert.summary_zh
    # the same condition later is the same alert: no second notice
    assert run_escalation(store, workspace, sh(2025, 9, 28, 20, 0)) == []
    assert [a.count for a in manager.list(rule=OVERDUE_RULE)] == [2]
    second = run_escalation(store, workspace, sh(2025, 9, 29, 18, 0))
    assert [(n.reason, n.alert.labels.get("level")) for n in second] == [("firing", "2")]
    assert "escalation level 2" in second[0].alert.summary_en
    assert "升级至第 2 级" in second[0].alert.summary_zh
    assert len(manager.list(rule=OVERDUE_RULE, state="open")) == 2
    # done: both resolve
    for status in ("approved", "in_progress", "done"):
        service.set_plan_status(pid, status, "li")
    cleared = run_escalation(store, workspace, sh(2025, 9, 29, 19, 0))
    assert sorted((n.reason, n.alert.labels.get("level", "1")) for n in cleared) == [
        ("resolved", "1"),
        ("resolved", "2"),
    ]
    assert manager.list(rule=OVERDUE_RULE, state="open") == []
    assert run_escalation(store, workspace, sh(2025, 9, 29, 20, 0)) == []


def test_a_not_effective_urgent_plan_past_due_is_overdue_and_a_normal_plan_never(
    store: Store,
) -> None:
    clock = Clock(FRIDAY_18)
    service = service_on(store, clock)
    plan = _urgent(service)
    service.add_plan(
        "P-0001", "Slow", "normal", "li", "support-a", "w", due_at=FRIDAY_18 + timedelta(hours=1)
    )
    for status in ("approved", "in_progress", "done"):
        service.set_plan_status(str(plan["id"]), status, "li")
    assert rules_at(service, sh(2025, 9, 28, 19, 0)) == []
    service.record_verdict(str(plan["id"]), {"status": "not_met"}, "qa")
    assert rules_at(service, sh(2025, 9, 28, 19, 0)) == [(OVERDUE_RULE, True, "1")]


# -- unclaimed problems ----------------------------------------------------------------------------


def test_an_unclaimed_problem_escalates_after_3_days_and_resolves_once_claimed(
    store: Store, workspace: Path
) -> None:
    clock = Clock(FRIDAY_18)
    service = service_on(store, clock)
    p = service.open_problem("Repeat complaints", source="metric", by="wang", department="site-sh")
    assert p["claim_due_at"] == sh(2025, 9, 29, 18, 0)
    manager = AlertManager(store)
    assert run_escalation(store, workspace, sh(2025, 9, 29, 17, 59)) == []
    assert service.get_problem("P-0001")["state"] == "open"
    notices = run_escalation(store, workspace, sh(2025, 9, 29, 18, 0))
    assert [(n.reason, n.alert.rule, n.alert.severity) for n in notices] == [
        ("firing", UNCLAIMED_RULE, "warning")
    ]
    listed = manager.list(rule=UNCLAIMED_RULE)
    assert len(listed) == 1 and listed[0].state == "firing"
    alert = listed[0]
    assert alert.labels == {"problem_id": "P-0001", "department": "site-sh"}
    assert alert.summary_en.startswith(
        "problem P-0001 unclaimed for 3 days; escalated to the committee"
    )
    assert alert.summary_zh.startswith("问题 P-0001 已 3 天无人认领，已升级至质量委员会")
    assert alert.details["kind_detail"] == "unclaimed_problem"
    got = service.get_problem("P-0001")
    assert (got["state"], got["escalated_at"]) == ("escalated", sh(2025, 9, 29, 18, 0))
    assert [
        (e["who"], e["field"], e["new"]) for e in got["history"] if e["action"] == "escalate"
    ] == [
        ("system", "state", "escalated"),
        ("system", "escalated_at", sh(2025, 9, 29, 18, 0).isoformat()),
    ]
    assert [u["id"] for u in service.unclaimed()] == ["P-0001"]
    # once claimed, the alert resolves
    clock.now = sh(2025, 9, 30, 9, 0)
    service.claim("P-0001", "site-sh", "zhou", "boss")
    resolved = run_escalation(store, workspace, sh(2025, 9, 30, 9, 0))
    assert [(n.reason, n.alert.id) for n in resolved] == [("resolved", alert.id)]
    assert manager.get(alert.id).state == "resolved"
    assert manager.get(alert.id).resolved_by == "system"
    assert service.get_problem("P-0001")["state"] == "claimed"
    assert run_escalation(store, workspace, sh(2025, 10, 9, 9, 0)) == []


def test_claim_days_on_cn_office_count_working_days(store: Store) -> None:
    clock = Clock(FRIDAY_18)
    service = service_on(store, clock, claim_calendar="cn-office")
    weekend = service.open_problem("a", source="manual", by="w")
    # Sunday 28 (adjusted working day), Monday 29, Tuesday 30: due Tuesday 18:00
    assert weekend["claim_due_at"] == sh(2025, 9, 30, 18, 0)
    clock.now = sh(2025, 9, 30, 10, 0)
    holiday = service.open_problem("b", source="manual", by="w", department="support-b")
    # 3 working days = 22.5 open hours: 6.5 left on the 30th, the holiday, then 10-09 (7.5),
    # 10-10 (7.5) and the first hour of 10-11 (the adjusted working Saturday)
    assert holiday["claim_due_at"] == sh(2025, 10, 11, 10, 0)
    assert rules_at(service, sh(2025, 9, 30, 17, 59)) == []
    assert rules_at(service, sh(2025, 9, 30, 18, 0)) == [(UNCLAIMED_RULE, True, "1")]
    for quiet in (sh(2025, 10, 3, 12, 0), sh(2025, 10, 8, 23, 0), sh(2025, 10, 11, 9, 59)):
        assert [s.labels["problem_id"] for s in escalation_signals(service, quiet)] == ["P-0001"]
    late = escalation_signals(service, sh(2025, 10, 11, 10, 0))
    assert [s.labels["problem_id"] for s in late] == ["P-0001", "P-0002"]
    assert "3 working days (cn-office)" in late[1].summary_en
    assert "3 个工作日（cn-office）" in late[1].summary_zh


def test_one_working_day_across_the_national_day_holiday(store: Store) -> None:
    clock = Clock(sh(2025, 9, 30, 10, 0))
    service = service_on(store, clock, claim_calendar="cn-office", claim_days=1)
    p = service.open_problem("a", source="manual", by="w")
    assert p["claim_due_at"] == sh(2025, 10, 9, 10, 0)
    assert rules_at(service, sh(2025, 10, 8, 23, 59)) == []
    assert rules_at(service, sh(2025, 10, 9, 10, 0)) == [(UNCLAIMED_RULE, True, "1")]


def test_the_workspace_configuration_drives_run_escalation(store: Store, workspace: Path) -> None:
    (workspace / "improve.yaml").write_text(
        "claim_days: 1\nclaim_calendar: cn-office\n", encoding="utf-8"
    )
    clock = Clock(sh(2025, 9, 30, 10, 0))
    service = ImprovementService.for_workspace(store, workspace, clock=clock)
    service.open_problem("a", source="manual", by="w")
    assert run_escalation(store, workspace, sh(2025, 10, 8, 12, 0)) == []
    assert len(run_escalation(store, workspace, sh(2025, 10, 9, 10, 0))) == 1


def test_other_alerts_are_left_alone(store: Store, workspace: Path) -> None:
    manager = AlertManager(store)
    manager.process([Signal("csat_low", "threshold", {"team": "a"}, True, FRIDAY_18)], FRIDAY_18)
    assert run_escalation(store, workspace, FRIDAY_18 + timedelta(days=30)) == []
    assert [a.state for a in manager.list(state="all")] == ["firing"]


# -- the running monitor ---------------------------------------------------------------------------


def test_the_monitor_escalates_on_its_tick(store: Store, workspace: Path) -> None:
    from servq.monitor.runtime import Monitor

    clock = Clock(FRIDAY_18)
    service = service_on(store, clock)
    service.open_problem("Nobody's", source="manual", by="w", department="support-c")
    monitor = Monitor(store, workspace)
    assert monitor.step(FRIDAY_18) == []
    later = FRIDAY_18 + timedelta(days=3, minutes=1)
    notices = monitor.step(later)
    assert [(n.reason, n.alert.rule) for n in notices] == [("firing", UNCLAIMED_RULE)]
    service.claim("P-0001", "support-c", "qian", "w")
    resolved = monitor.step(later + timedelta(minutes=5))
    assert [(n.reason, n.alert.rule) for n in resolved] == [("resolved", UNCLAIMED_RULE)]


def test_a_broken_configuration_does_not_stop_the_monitor(
    store: Store, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from servq.monitor.runtime import Monitor

    (workspace / "improve.yaml").write_text("claim_days: [\n", encoding="utf-8")
    monitor = Monitor(store, workspace)
    with caplog.at_level("ERROR", logger="servq.monitor"):
        assert monitor.step(FRIDAY_18) == []
    assert "escalating the improvement loop failed" in caplog.text
