"""Case facts are built once per data version and clock, kept by `servq metrics refresh`, and
never read stale: new rows, a new clock or a new process each get the right numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from metrics_helpers import LOG_T1, load_status_log

import servq
from servq.metrics import factcache

# a second ticket: new 02:00–02:05, open 02:05–02:20, solved 02:20: 20 minutes of work
LOG_T2 = [
    ("2025-03-04T02:00:00Z", "created", "customer", "new"),
    ("2025-03-04T02:05:00Z", "agent_replied", "agent", "open"),
    ("2025-03-04T02:20:00Z", "solved", "agent", "solved"),
]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servq", *args], capture_output=True, text=True, check=False
    )


def test_facts_are_built_once_and_rebuilt_when_data_arrives(tmp_path: Path) -> None:
    with servq.open_workspace(tmp_path / "ws") as ws:
        load_status_log(ws, "T1", LOG_T1)
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

        load_status_log(ws, "T2", LOG_T2)
        second = ws.metrics(["agent_work_time", "on_hold_time"]).iloc[0]
        assert reg.builds == 2
        assert second.agent_work_time == (75 + 20) * 60 / 2
        assert second.on_hold_time == 60 * 60 / 2  # T2 has a status log and no hold: 0

        # loading the same rows again changes nothing: the facts stay current
        load_status_log(ws, "T2", LOG_T2)
        ws.metrics(["agent_work_time"])
        assert reg.builds == 2


def test_refresh_keeps_the_facts_for_later_processes(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    with servq.open_workspace(root) as ws:
        load_status_log(ws, "T1", LOG_T1)
        load_status_log(ws, "T2", LOG_T2)

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

    # new data: the load brings the kept facts up to date, case by case
    with servq.open_workspace(root) as ws:
        load_status_log(
            ws,
            "T3",
            [
                ("2025-03-05T08:00:00Z", "created", "customer", "new"),
                ("2025-03-05T09:00:00Z", "agent_replied", "agent", "open"),
                ("2025-03-05T09:30:00Z", "solved", "agent", "solved"),
            ],
        )
        # once after the ticket, once after its events; T3 alone was recomputed each time
        assert factcache.registry(ws.warehouse).updates == 2
        assert factcache.registry(ws.warehouse).touched == 1
    with servq.open_workspace(root, read_only=True) as ws:
        got = ws.metrics(["first_reply_time"]).iloc[0]
        assert factcache.registry(ws.warehouse).builds == 0
    assert got.first_reply_time == (10 + 5 + 60) * 60 / 3

    # facts that are stale (here: a row written by hand, past servq) are not used: a reader
    # builds its own
    with servq.open_workspace(root) as ws:
        ws.warehouse.con.execute(
            'INSERT INTO "case" (source_system, case_id, created_at, first_reply_at, source, '
            "batch_id, ingested_at, row_hash) VALUES ('tickets', 'T4', TIMESTAMP '2025-03-06', "
            "TIMESTAMP '2025-03-06 00:30:00', 'hand', 'hand', TIMESTAMP '2025-01-01', 42)"
        )
    with servq.open_workspace(root, read_only=True) as ws:
        got = ws.metrics(["first_reply_time"]).iloc[0]
        assert factcache.registry(ws.warehouse).builds == 1
    assert got.first_reply_time == (10 + 5 + 60 + 30) * 60 / 4

    cleared = _cli("metrics", "refresh", "--clear", "--json", "-w", str(root))
    assert json.loads(cleared.stdout) == {"dropped": 1}
    with servq.open_workspace(root, read_only=True) as ws:
        assert factcache.kept(ws.warehouse) == []


def test_business_time_facts_are_kept_apart_from_calendar_time(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    with servq.open_workspace(root) as ws:
        load_status_log(ws, "T1", LOG_T1)
        load_status_log(ws, "T2", LOG_T2)
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


# -- kept facts brought up to date case by case -------------------------------------------------


def _facts_frame(ws: servq.Workspace, table: str) -> pd.DataFrame:
    df = ws.warehouse.con.execute(f'SELECT * FROM "{table}"').df()
    return df.sort_values(["source_system", "case_id"]).reset_index(drop=True)


def _fresh(ws: servq.Workspace, calendar: str | None) -> pd.DataFrame:
    """The facts built from scratch, the way a query does when nothing is kept."""
    from servq.metrics.compute import MetricEngine, Request

    engine = MetricEngine(ws.warehouse, ws.catalogue)
    factcache.clear(ws.warehouse)  # drops kept facts: compare against a clean build
    engine.compute(Request(metrics=("full_resolution_time",), calendar=calendar))
    (entry,) = factcache.registry(ws.warehouse).entries.values()
    return _facts_frame(ws, entry.table)


def test_kept_facts_follow_new_loads_case_by_case(tmp_path: Path) -> None:
    from servq.demo.generator import generate_demo

    manifest = generate_demo(tmp_path / "input", size=400, seed=3)
    tickets = pd.read_csv(manifest.files["tickets"], dtype=str)
    events = pd.read_csv(manifest.files["ticket_events"], dtype=str)
    tickets = tickets.sort_values("created_at", kind="stable")
    cut = tickets.created_at.iloc[len(tickets) * 6 // 10]
    early = tickets[tickets.created_at < cut]
    # the first load: the early tickets and what had happened to them before the cut
    first_events = events[events.ticket_id.isin(early.ticket_id) & (events.timestamp < cut)]
    root = tmp_path / "ws"
    with servq.open_workspace(root) as ws:
        ws.ingest_frame(early, "tickets")
        ws.ingest_frame(first_events, "case-events")
        ws.refresh_facts([None, "cn-office"])
        kept = {k["clock"]: k["name"] for k in factcache.kept(ws.warehouse)}
        assert set(kept) == {"", "cn-office"}

        # the second load: new tickets, later events of the early ones, surveys and calls
        ws.ingest_frame(tickets[tickets.created_at >= cut], "tickets")
        later = events.drop(first_events.index)
        assert later.ticket_id.isin(early.ticket_id).any()  # old cases get new events
        ws.ingest_frame(later, "case-events")
        ws.ingest(manifest.files["feedback"], "feedback")
        ws.ingest(manifest.files["calls"], "calls")
        reg = factcache.registry(ws.warehouse)
        assert reg.updates >= 4 and reg.builds == 2  # updated in place, never rebuilt
        info = {k["clock"]: k for k in factcache.kept(ws.warehouse)}
        assert info[""]["rows"] == len(tickets)
        assert info[""]["updates"] >= 4
        # the kept facts are current: a query builds nothing
        before = reg.builds
        got = ws.metrics(["repeat_complaint_rate", "fcr"]).iloc[0]
        assert reg.builds == before
        updated = {clock: _facts_frame(ws, name) for clock, name in kept.items()}
        # and equal, row by row and column by column, to facts built from scratch
        for clock in ("", "cn-office"):
            fresh = _fresh(ws, clock or None)
            pd.testing.assert_frame_equal(updated[clock], fresh, check_exact=False, rtol=1e-12)
        again = ws.metrics(["repeat_complaint_rate", "fcr"]).iloc[0]
        assert got.equals(again)


def test_kept_facts_are_rebuilt_when_stored_rows_change(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    with servq.open_workspace(root) as ws:
        load_status_log(ws, "T1", LOG_T1)
        load_status_log(ws, "T2", LOG_T2)
        ws.refresh_facts()
        reg = factcache.registry(ws.warehouse)
        builds = reg.builds
        # a newer version of T2 (another category) replaces a stored row: not an append
        ws.ingest_frame(
            pd.DataFrame({"ticket_id": ["T2"], "created_at": [LOG_T2[0][0]], "category": ["退款"]}),
            "tickets",
        )
        assert reg.builds == builds + 1
        (k,) = factcache.kept(ws.warehouse)
        assert k["updates"] == 0  # rebuilt, not updated
        facts = _facts_frame(ws, k["name"])
        category = facts.set_index("case_id").category
        assert category["T2"] == "退款" and pd.isna(category["T1"])
