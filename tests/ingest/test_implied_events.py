"""Case events a ticket row implies are computed by the case_event view, not stored, and read
exactly as the stored events of earlier servq versions: same ids, same history across updates.

The expected events are written out by hand from the CSV below (the tickets profile reads naive
times in Asia/Shanghai, UTC+8, and stores UTC).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import servq
from servq.ingest import engine
from servq.workspace import Workspace

HEADER = "ticket_id,created_at,first_reply_at,resolved_at,closed_at,channel,agent,status\n"
V1 = (
    HEADER + "T1,2025-03-01 09:00:00,,,,phone,,open\n"
    "T2,2025-03-01 10:00:00,2025-03-01 10:30:00,2025-03-01 12:00:00,2025-03-01 13:00:00,"
    "chat,li,closed\n"
    "T3,2025-03-02 08:00:00,2025-03-02 08:05:00,,,email,wang,open\n"
)
# T2 closed later (a new closed event; the old one stays in the history); T3 solved
V2 = (
    HEADER + "T1,2025-03-01 09:00:00,,,,phone,,open\n"
    "T2,2025-03-01 10:00:00,2025-03-01 10:30:00,2025-03-01 12:00:00,2025-03-01 14:00:00,"
    "chat,li,closed\n"
    "T3,2025-03-02 08:00:00,2025-03-02 08:05:00,2025-03-02 09:00:00,,email,wang,solved\n"
)
# (event_id, activity, actor, actor_type, status), T1..T3 as loaded from V1
V1_EVENTS = [
    ("T1/created/2025-03-01T01:00:00.000000", "created", None, "customer", "new"),
    ("T2/created/2025-03-01T02:00:00.000000", "created", None, "customer", "new"),
    ("T2/first_reply/2025-03-01T02:30:00.000000", "first_reply", "li", "agent", None),
    ("T2/solved/2025-03-01T04:00:00.000000", "solved", "li", "agent", "solved"),
    ("T2/closed/2025-03-01T05:00:00.000000", "closed", None, "system", "closed"),
    ("T3/created/2025-03-02T00:00:00.000000", "created", None, "customer", "new"),
    ("T3/first_reply/2025-03-02T00:05:00.000000", "first_reply", "wang", "agent", None),
]


def _events(ws: Workspace) -> list[tuple[object, ...]]:
    rows = ws.warehouse.con.execute(
        "SELECT event_id, activity, actor, actor_type, status FROM case_event ORDER BY event_id"
    ).fetchall()
    return [tuple(r) for r in rows]


def _count(ws: Workspace, sql: str) -> int:
    return int(ws.warehouse.con.execute(sql).fetchall()[0][0])


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return servq.open_workspace(tmp_path / "ws")


def _csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_ticket_events_are_read_through_the_view_and_not_stored(
    ws: Workspace, tmp_path: Path
) -> None:
    r = ws.ingest(_csv(tmp_path, "v1.csv", V1), "tickets")
    assert r.loaded == 3
    assert r.derived["case_event"] == {"loaded": 7, "updated": 0, "duplicates": 0, "stale": 0}
    assert _events(ws) == sorted(V1_EVENTS)
    assert _count(ws, "SELECT count(*) FROM case_event_stored") == 0
    # each event carries the lineage of the row that implies it
    lineage = ws.warehouse.con.execute(
        "SELECT DISTINCT source, batch_id, flags FROM case_event"
    ).fetchall()
    assert lineage == [(str(tmp_path / "v1.csv"), r.batch_id, None)]
    # the Ibis surface shows the canonical columns only
    assert "event_rules" not in ws.table("case").columns
    again = ws.ingest(_csv(tmp_path, "v1.csv", V1), "tickets")
    assert (again.loaded, again.duplicates) == (0, 3)
    assert again.derived["case_event"]["loaded"] == 0
    assert _events(ws) == sorted(V1_EVENTS)


def test_the_same_rows_through_arrow_imply_the_same_events(ws: Workspace, tmp_path: Path) -> None:
    frame = pd.read_csv(_csv(tmp_path, "v1.csv", V1), dtype=str, keep_default_na=False)
    r = ws.ingest_frame(frame, "tickets")
    assert r.derived["case_event"]["loaded"] == 7
    assert _events(ws) == sorted(V1_EVENTS)


def test_an_update_stores_the_old_events_and_keeps_the_history(
    ws: Workspace, tmp_path: Path
) -> None:
    first = ws.ingest(_csv(tmp_path, "v1.csv", V1), "tickets")
    hashes = dict(ws.warehouse.con.execute("SELECT event_id, row_hash FROM case_event").fetchall())
    second = ws.ingest(_csv(tmp_path, "v2.csv", V2), "tickets")
    assert (second.loaded, second.updated, second.duplicates) == (0, 2, 1)
    # T2: created, first reply and solved unchanged, closed at a new time; T3: created and
    # first reply unchanged, solved new. Unchanged events are duplicates only if the stored
    # copy has the very hash the view computed.
    assert second.derived["case_event"] == {
        "loaded": 2,
        "updated": 0,
        "duplicates": 5,
        "stale": 0,
    }
    new = [
        ("T2/closed/2025-03-01T06:00:00.000000", "closed", None, "system", "closed"),
        ("T3/solved/2025-03-02T01:00:00.000000", "solved", "wang", "agent", "solved"),
    ]
    assert _events(ws) == sorted(V1_EVENTS + new)
    con = ws.warehouse.con
    # T1 still implies its event; T2 and T3's events are stored now, the old ones with the
    # first batch's lineage and hash
    assert con.execute(
        'SELECT case_id, event_rules IS NOT NULL FROM "case" ORDER BY case_id'
    ).fetchall() == [("T1", True), ("T2", False), ("T3", False)]
    stored = con.execute("SELECT event_id, batch_id, row_hash FROM case_event_stored").fetchall()
    assert len(stored) == 8
    for event_id, batch, row_hash in stored:
        if event_id in hashes:
            assert (batch, row_hash) == (first.batch_id, hashes[event_id])
        else:
            assert batch == second.batch_id
    # loading V2 again changes nothing
    third = ws.ingest(_csv(tmp_path, "v2b.csv", V2), "tickets")
    assert (third.loaded, third.updated, third.duplicates) == (0, 0, 3)
    assert len(_events(ws)) == 9


def test_a_new_ticket_in_a_later_batch_is_implied_too(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(_csv(tmp_path, "v1.csv", V1), "tickets")
    later = V1 + "T4,2025-03-03 09:00:00,2025-03-03 09:10:00,,,app,zhao,open\n"
    r = ws.ingest(_csv(tmp_path, "v3.csv", later), "tickets")
    assert (r.loaded, r.duplicates) == (1, 3)
    assert r.derived["case_event"]["loaded"] == 2
    assert _count(ws, "SELECT count(*) FROM case_event_stored") == 0
    assert _count(ws, "SELECT count(*) FROM case_event WHERE case_id = 'T4'") == 2


def test_an_event_log_that_rebuilds_a_case_keeps_its_implied_events(
    ws: Workspace, tmp_path: Path
) -> None:
    ws.ingest(_csv(tmp_path, "v1.csv", V1), "tickets")
    log = pd.DataFrame(
        {
            "case:concept:name": ["T1", "T1"],
            "concept:name": ["Take in charge ticket", "Resolve ticket"],
            "time:timestamp": ["2025-03-01T01:20:00Z", "2025-03-01T03:00:00Z"],
        }
    )
    r = ws.ingest_frame(log, "xes", system="helpdesk")
    assert r.loaded == 2
    assert r.derived["case"]["updated"] == 1  # T1's row is now the one built from its log
    # its implied created event was stored before the row was replaced
    assert V1_EVENTS[0] in _events(ws)
    assert _count(ws, "SELECT count(*) FROM case_event_stored WHERE activity = 'created'") == 1
    assert _count(ws, "SELECT count(*) FROM case_event WHERE case_id = 'T1'") == 3
    assert _count(ws, "SELECT count(*) FROM case_event") == 9


def test_a_log_event_with_an_implied_events_id_replaces_it(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(_csv(tmp_path, "v1.csv", V1), "tickets")
    log = pd.DataFrame(
        {
            "event_id": ["T2/closed/2025-03-01T05:00:00.000000", "T2/note"],
            "ticket_id": ["T2", "T2"],
            "activity": ["closed", "note"],
            "timestamp": ["2025-03-01 13:00:00", "2025-03-01 13:30:00"],
            "actor": ["ops", "ops"],
        }
    )
    r = ws.ingest_frame(log, "case-events")
    assert (r.loaded, r.updated, r.duplicates) == (1, 1, 0)
    rows = ws.warehouse.con.execute(
        "SELECT event_id, actor FROM case_event WHERE case_id = 'T2' ORDER BY event_id"
    ).fetchall()
    assert rows == [
        ("T2/closed/2025-03-01T05:00:00.000000", "ops"),
        ("T2/created/2025-03-01T02:00:00.000000", None),
        ("T2/first_reply/2025-03-01T02:30:00.000000", "li"),
        ("T2/note", "ops"),
        ("T2/solved/2025-03-01T04:00:00.000000", "li"),
    ]
    # only T2 stopped implying its events
    assert ws.warehouse.con.execute(
        'SELECT case_id FROM "case" WHERE event_rules IS NULL'
    ).fetchall() == [("T2",)]
    assert _count(ws, "SELECT count(*) FROM case_event") == 8


def test_a_failed_batch_registers_no_rule_set(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(name: str) -> None:
        if name == "merge":
            raise RuntimeError("stopped at merge")

    monkeypatch.setattr(engine, "_fault_point", fail)
    with pytest.raises(RuntimeError, match="stopped at merge"):
        ws.ingest(_csv(tmp_path, "v1.csv", V1), "tickets")
    assert _count(ws, "SELECT count(*) FROM _servq_event_rules") == 0
    assert _count(ws, 'SELECT count(*) FROM "case"') == 0
    assert _events(ws) == []
    monkeypatch.undo()
    ws.ingest(_csv(tmp_path, "v1.csv", V1), "tickets")
    assert _events(ws) == sorted(V1_EVENTS)
