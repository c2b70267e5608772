"""The demo's improvement loop: one problem taken from detection to a verified standard.

Owns: the story the dashboard's improvement pages show after ``servq demo``. In the planted
shortage week (2025-10-20, see ``servq.demo.planted``) the phone team's tickets breach their SLA;
the monitor raises the alerts (``servq.demo.alerts``). Then, on the demo's own dates:

1. Thursday 23 Oct: the quality manager opens a problem from one of those breach alerts;
2. the phone team's owner claims it the same day;
3. Friday 24 Oct: a 5-Why with the phone, online and complaints teams finds the root causes
   in the three layers (data, process, people);
4. an urgent plan ("standby pool and a daily backlog check") is approved and in progress on
   24 Oct; the fix takes effect on Monday 27 Oct, in the middle of the problem's month;
5. Monday 24 Nov: the plan is done and verified from the data — the phone team's full
   resolution time over 27 Oct – 23 Nov against the shortage week, with the ≤ 85% criterion;
6. the verified plan becomes a standard (SOP) and two complainants are called back; a member of
   staff's suggestion of the month is recorded.

Done once per workspace (the store remembers it), after the demo's alerts are in the store.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from servq.errors import ServqError

CURSOR = "demo_loop"
TEAM = "电话客服组"
CRITERION = (
    f"full_resolution_time[team={TEAM}] in 2025-10-27..2025-11-23 <= 85% of 2025-10-20..2025-10-26"
)


class _Clock:
    """The demo's story time (naive UTC), moved on by hand."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def load_demo_loop(workspace: Path) -> dict[str, Any] | None:
    """Take the demo problem through the loop; None when it was done before (or the alerts
    are missing). Returns the problem id, plan id and the verdict."""
    from servq.app_store import open_store
    from servq.improve.loop import LoopService, feed_revisit
    from servq.improve.service import ImprovementService
    from servq.improve.verify import parse_criterion, verify
    from servq.monitor.alerts import AlertManager
    from servq.monitor.runtime import read_cursor, write_cursor
    from servq.workspace import Workspace

    with open_store(workspace) as store:
        if read_cursor(store, CURSOR) > 0:
            return None
        alerts = [
            a
            for a in AlertManager(store).list(state=None, limit=None)
            if a.labels.get("team") == TEAM
            and a.kind == "sla_breach"
            and date(2025, 10, 20) <= a.starts_at.date() <= date(2025, 10, 23)
        ]
        if not alerts:
            return None
        alert = min(alerts, key=lambda a: a.starts_at)
        clock = _Clock(datetime(2025, 10, 23, 2, 0))  # 10:00 in Shanghai
        improve = ImprovementService.for_workspace(store, workspace, clock=clock)
        loop = LoopService(store, clock=clock)

        with Workspace(workspace) as ws:
            numbers = {
                label: ws.metrics(
                    ["full_resolution_time", "cases_created"],
                    where={"team": [TEAM]},
                    start=lo,
                    end=hi,
                    timezone="Asia/Shanghai",
                )
                .iloc[0][["full_resolution_time", "cases_created"]]
                .round(1)
                .to_dict()
                for label, lo, hi in (
                    ("2025-09-29..2025-10-19", "2025-09-29", "2025-10-19"),
                    ("2025-10-20..2025-10-22", "2025-10-20", "2025-10-22"),
                )
            }
        problem = improve.open_problem(
            "Phone team tickets overdue in the shortage week / 人手短缺周电话客服组工单大面积超时",
            source="alert",
            source_ref=str(alert.id),
            by="quality",
            severity="high",
            department=TEAM,
            description=(
                f"{len(alerts)} SLA breach alerts for {TEAM} from Monday 20 Oct; the first: "
                f"{alert.summary_en} / 自 10 月 20 日起{TEAM}出现 {len(alerts)} 条 SLA 超时预警。"
            ),
            evidence={
                "alert": {"id": alert.id, "rule": alert.rule, "summary_en": alert.summary_en},
                "metric": {
                    "query": {
                        "metrics": ["full_resolution_time", "cases_created"],
                        "where": {"team": [TEAM]},
                        "timezone": "Asia/Shanghai",
                    },
                    "numbers": numbers,
                },
                "cases": sorted({a.labels["case_id"] for a in alerts if "case_id" in a.labels}),
            },
        )
        pid = problem["id"]
        clock.at += timedelta(hours=2)
        improve.claim(pid, TEAM, "phone-owner", "phone-owner")

        clock.at = datetime(2025, 10, 24, 1, 30)
        improve.save_retro(
            pid,
            [
                {"name": "phone-owner", "department": TEAM},
                {"name": "online-owner", "department": "在线客服组"},
                {"name": "quality", "department": "质量管理部"},
            ],
            [
                {
                    "id": "w1",
                    "parent": None,
                    "why": "Why were phone tickets resolved late all week? 为何整周工单超时？",
                    "because": "Only a third of the agents were on shift. 仅三分之一坐席在岗。",
                },
                {
                    "id": "w2",
                    "parent": "w1",
                    "why": "Why was nobody brought in? 为何没有补位？",
                    "because": "The roster has no standby pool. 排班没有机动人员池。",
                    "layer": "process",
                    "root_cause": True,
                },
                {
                    "id": "w3",
                    "parent": "w1",
                    "why": "Why was it seen only after three days? 为何三天后才发现？",
                    "because": "The backlog was not watched per team. 未按团队监控积压。",
                    "layer": "data",
                    "root_cause": True,
                },
                {
                    "id": "w4",
                    "parent": "w2",
                    "why": "Why could other teams not help? 为何其他团队无法支援？",
                    "because": "Few agents are trained on phone work. 接受电话业务培训的坐席太少。",
                    "layer": "people",
                    "root_cause": True,
                },
            ],
            [
                "Keep a standby pool of 3 trained agents. 设立 3 人机动坐席池。",
                "Check the backlog per team every morning. 每日早会按团队检查积压。",
            ],
            "phone-owner",
        )
        with Workspace(workspace) as ws:
            criterion = parse_criterion(CRITERION, catalogue=ws.catalogue)
        plan = improve.add_plan(
            pid,
            "Standby pool and a daily backlog check / 机动坐席池与每日积压检查",
            "urgent",
            "phone-owner",
            TEAM,
            "phone-owner",
            acceptance=[criterion.to_dict()],
        )
        aid = plan["id"]
        clock.at += timedelta(hours=1)
        improve.set_plan_status(aid, "approved", "quality", "approved at the daily meeting")
        clock.at += timedelta(hours=1)
        improve.set_plan_status(aid, "in_progress", "phone-owner", "standby pool from 27 Oct")
        clock.at = datetime(2025, 10, 27, 1, 0)
        improve.set_plan_status(aid, "done", "phone-owner", "pool and morning check in place")

        clock.at = datetime(2025, 11, 24, 2, 0)  # the month after: the data are in
        with Workspace(workspace) as ws:
            verdict = verify(ws, criterion, now=clock.at).as_dict()
        if verdict["status"] != "met":
            raise ServqError(f"the demo's plan did not verify: {verdict['explanation_en']}")
        improve.record_verdict(
            aid,
            {"status": "met", "criteria": [verdict], "checked_at": clock.at.isoformat() + "Z"},
            "quality",
        )
        loop.publish_sop(
            aid,
            "Standby pool and morning backlog check / 机动坐席池与早会积压检查",
            "1. Keep three phone-trained agents on standby each week.\n"
            "2. At 09:00 check each team's open and overdue tickets; call in the standby pool "
            "when a team's overdue count doubles.\n"
            "1. 每周安排 3 名接受电话业务培训的机动坐席。\n"
            "2. 每天 09:00 检查各团队未结与超时工单；超时量翻倍时启用机动坐席。",
            date(2025, 11, 24),
            by="quality",
        )
        for n, outcome in ((1, "satisfied"), (2, "unreachable")):
            case = (problem.get("evidence") or {}).get("cases") or [f"demo-{n}"]
            visit = loop.add_revisit(
                pid, str(case[0]) if n == 1 else f"{case[0]}-{n}", due_at=clock.at, by="quality"
            )
            answered = loop.record_revisit(visit["id"], outcome, by="phone-owner")
            feed_revisit(store, answered, department=TEAM)
        idea = loop.suggest(
            "Call back before closing a complaint",
            "Agents should call the customer before closing a complaint ticket. "
            "关闭投诉工单前先回访客户。",
            author_kind="staff",
            author="online-owner",
            department="投诉处理组",
        )
        loop.vote(idea["id"], "quality")
        loop.vote(idea["id"], "phone-owner")
        write_cursor(store, CURSOR, 1)
        # the answered call-back goes into the warehouse now (servq serve would within 30 s)
        from servq.monitor.sink import WarehouseSink

        with Workspace(workspace) as ws:
            WarehouseSink(store, workspace).flush(datetime.now(), ws)
        return {"problem": pid, "plan": aid, "verdict": verdict}
