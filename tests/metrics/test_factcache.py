"""Case facts are built once per data version and clock, kept by `servq metrics refresh`, and
never read stale: new rows, a new clock or a new process each get the right numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

import servq
from servq.metrics import factcache

# one ticket, its status log: new 09:00–09:10, open 09:10–09:40, on hold 09:40–10:40,
# open 10:40–10:45, pending 10:45–11:00, open 11:00–11:30, solved 11:30 (UTC)
LOG_T1 = [
    ("2025-03-03T09:00:00Z", "created", "customer", "new"),
    ("2025-03-03T09:10:00Z", "agent_replied", "agent", "open"),
    ("2025-03-03T09:40:00Z", "status_changed", "agent", "on_hold"),
    ("2025-03-03T10:40:00Z", "customer_replied", "customer", "open"),
    ("2025-03-03T10:45:00Z", "agent_replied", "agent", "pending"),
    ("2025-03-03T11:00:00Z", "customer_replied", "customer", "open"),
    ("2025-03-03T11:20:00Z", "agent_replied", "agent", None),
    ("2025-03-03T11:30:00Z", "solved", "agent", "solved"),
]
# a second ticket: new 02:00–02:05, open 02:05–02:20, solved 02:20: 20 minutes of work
LOG_T2 = [
    ("2025-03-04T02:00:00Z", "created", "customer", "new"),
    ("2025-03-04T02:05:00Z", "agent_replied", "agent", "open"),
    ("2025-03-04T02:20:00Z", "solved", "agent", "solved"),
]


def _load(ws: servq.Workspace, ticket: str, log: list[tuple[str, str, str, str | None]]) -> None:
    ws.ingest_frame(pd.DataFrame({"ticket_id": [ticket], "created_at": [log[0][0]]}), "tickets")
    ws.ingest_frame(
        pd.DataFrame(
            {
                "ticket_id": [ticket] * len(log),
                "timestamp": [x[0] for x in log],
                "activity": [x[1] for x in log],
                "actor_type": [x[2] for x in log],
                "status": [x[3] for x in log],
                "public": ["true"] * len(log),
            }
        ),
        "case-events",
    )


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servq", *args], capture_output=True, text=True, check=False
    )


def test_facts_are_built_once_and_rebuilt_when_data_arrives(tmp_path: Path) -> None:
    with servq.open_workspace(tmp_path / "ws") as ws:
        _load(ws, "T1", LOG_T1)
        reg = factcache.registry(ws.warehouse)
        first = ws.metrics(["agent_work_time", "on_hold_time"]).iloc[0]
        # 10 + 30 + 5 + 30 minutes new/open; 60 minutes on hold
        assert first.agent_work_time == 75 * 60
        assert first.on_hold_time == 60 * 60
        assert reg.builds == 1
        # other metrics, other slices: the same facts
        ws.metrics(["next_reply_time", "one_touch_rate"], by="team", grain="day")
        assert reg.builds == 1
        # a reading query keeps nothing in the warehouse file
        assert factcache.kept(ws.warehouse) == []

        _load(ws, "T2", LOG_T2)
        second = ws.metrics(["agent_work_time", "on_hold_time"]).iloc[0]
        assert reg.builds == 2
        assert second.agent_work_time == (75 + 20) * 60 / 2
        assert second.on_hold_time == 60 * 60 / 2  # T2 has a status log and no hold: 0

        # loading the same rows again changes nothing: the facts stay current
        _load(ws, "T2", LOG_T2)
        ws.metrics(["agent_work_time"])
        assert reg.builds == 2


def test_refresh_keeps_the_facts_for_later_processes(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    with servq.open_workspace(root) as ws:
        _load(ws, "T1", LOG_T1)
        _load(ws, "T2", LOG_T2)

    done = _cli("metrics", "refresh", "--json", "-w", str(root))
    assert done.returncode == 0, done.stderr
    (info,) = json.loads(done.stdout)
    assert info["built"] is True
    assert [k["rows"] for k in info["kept"]] == [2]

    # a new read-only process finds them: nothing is built, the numbers are the same
    with servq.open_workspace(root, read_only=True) as ws:
        got = ws.metrics(["agent_work_time", "first_reply_time"]).iloc[0]
        assert factcache.registry(ws.warehouse).builds == 0
    assert got.agent_work_time == (75 + 20) * 60 / 2
    assert got.first_reply_time == (10 + 5) * 60 / 2

    again = _cli("metrics", "refresh", "--json", "-w", str(root))
    assert json.loads(again.stdout)[0]["built"] is False

    # new data: the kept facts are stale, so a reader builds its own instead of using them
    with servq.open_workspace(root) as ws:
        _load(
            ws,
            "T3",
            [
                ("2025-03-05T08:00:00Z", "created", "customer", "new"),
                ("2025-03-05T09:00:00Z", "agent_replied", "agent", "open"),
                ("2025-03-05T09:30:00Z", "solved", "agent", "solved"),
            ],
        )
    with servq.open_workspace(root, read_only=True) as ws:
        got = ws.metrics(["first_reply_time"]).iloc[0]
        assert factcache.registry(ws.warehouse).builds == 1
    assert got.first_reply_time == (10 + 5 + 60) * 60 / 3

    cleared = _cli("metrics", "refresh", "--clear", "--json", "-w", str(root))
    assert json.loads(cleared.stdout) == {"dropped": 1}
    with servq.open_workspace(root, read_only=True) as ws:
        assert factcache.kept(ws.warehouse) == []


def test_business_time_facts_are_kept_apart_from_calendar_time(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    with servq.open_workspace(root) as ws:
        _load(ws, "T1", LOG_T1)
        _load(ws, "T2", LOG_T2)
        fresh = ws.metrics(["agent_work_time"], calendar="cn-office").iloc[0]
    done = _cli("metrics", "refresh", "--calendar", "cn-office", "--json", "-w", str(root))
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)[-1]["kept"]) == 2  # calendar time and cn-office

    with servq.open_workspace(root, read_only=True) as ws:
        business = ws.metrics(["agent_work_time"], calendar="cn-office").iloc[0]
        calendar = ws.metrics(["agent_work_time"]).iloc[0]
        assert factcache.registry(ws.warehouse).builds == 0
    # T2's work (02:00–02:20 UTC = 10:00–10:20 in Shanghai, a Tuesday) is all office time;
    # T1's (17:00–19:30 Shanghai, a Monday) is mostly after 18:00: business time is less
    assert business.agent_work_time == fresh.agent_work_time
    assert business.agent_work_time < calendar.agent_work_time
