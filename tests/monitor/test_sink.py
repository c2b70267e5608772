"""Live events reach the warehouse: cases, their events, feedback and calls, once each, and the
catalogue's metrics computed on them give the numbers worked out by hand."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

import servq
from servq.app_store import Store, open_store
from servq.monitor.runtime import Monitor, MonitorConfig, read_cursor
from servq.monitor.sink import WarehouseSink
from servq.monitor.store import accept

NOW = datetime(2025, 3, 3, 8, 0)  # naive UTC: 16:00 Beijing

EVENTS = [
    {"event_id": "e1", "type": "case_created", "case_id": "C-1", "priority": "high",
     "channel": "chat", "team": "hotline", "site": "sh", "timestamp": "2025-03-03T09:00:00+08:00"},
    {"event_id": "e2", "type": "agent_replied", "case_id": "C-1", "agent": "li",
     "timestamp": "2025-03-03T09:10:00+08:00"},
    {"event_id": "e3", "type": "case_resolved", "case_id": "C-1",
     "timestamp": "2025-03-03T11:00:00+08:00"},
    {"event_id": "e4", "type": "case_created", "case_id": "C-2", "priority": "normal",
     "channel": "email", "team": "hotline", "site": "bj",
     "timestamp": "2025-03-03T10:00:00+08:00"},
    {"event_id": "e5", "type": "agent_replied", "case_id": "C-2", "agent": "wang",
     "timestamp": "2025-03-03T10:30:00+08:00"},
    {"event_id": "f1", "type": "feedback_received", "case_id": "C-1", "score": 5,
     "survey": "csat", "scale_max": 5, "text": "很快就解决了",
     "timestamp": "2025-03-03T12:00:00+08:00"},
    {"event_id": "f2", "type": "feedback_received", "case_id": "C-2", "score": 2,
     "survey": "csat", "scale_max": 5, "timestamp": "2025-03-03T12:30:00+08:00"},
    {"event_id": "k1", "type": "call_finished", "case_id": "C-1", "answered": True,
     "queue_seconds": 20, "talk_seconds": 300, "agent": "li",
     "timestamp": "2025-03-03T09:05:00+08:00"},
    {"event_id": "k2", "type": "call_finished", "case_id": "C-9", "answered": False,
     "queue_seconds": 90, "timestamp": "2025-03-03T09:06:00+08:00"},
]  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "ws", url=f"sqlite:///{tmp_path / 'app.db'}") as s:
        yield s


def test_a_flush_copies_cases_events_feedback_and_calls(store: Store, tmp_path: Path) -> None:
    accept(store, EVENTS, NOW)
    sink = WarehouseSink(store, tmp_path / "ws")
    result = sink.flush(NOW)
    assert result.events == 9
    with servq.open_workspace(tmp_path / "ws") as ws:
        cases = ws.read("case").set_index("case_id")
        assert sorted(cases.index) == ["C-1", "C-2"]  # no case for the call of C-9
        c1 = cases.loc["C-1"]
        assert (c1["status"], c1["priority"], c1["team"], c1["site"]) == (
            "solved",
            "high",
            "hotline",
            "sh",
        )
        assert str(c1["created_at"]) == "2025-03-03 01:00:00"  # naive UTC
        assert str(c1["first_reply_at"]) == "2025-03-03 01:10:00"
        assert str(c1["resolved_at"]) == "2025-03-03 03:00:00"
        assert cases.loc["C-2", "status"] == "new"
        events = ws.read("case_event")
        assert sorted(events["event_id"]) == ["e1", "e2", "e3", "e4", "e5"]
        replied = events.set_index("event_id").loc["e2"]
        assert (replied["actor"], replied["actor_type"]) == ("li", "agent")
        feedback = ws.read("feedback").set_index("feedback_id")
        assert feedback.loc["f1", "score"] == 5 and feedback.loc["f1", "text"] == "很快就解决了"
        calls = ws.read("interaction").set_index("interaction_id")
        assert calls.loc["k1", "outcome"] == "answered"
        assert calls.loc["k2", "outcome"] == "abandoned"
        # the catalogue on live data: first replies of 10 and 30 minutes; CSAT 1 good of 2
        m = ws.metrics(["first_reply_time", "csat"])
        assert m["first_reply_time"].iloc[0] == pytest.approx(1200.0)
        assert m["csat"].iloc[0] == pytest.approx(50.0)  # percent


def test_flushing_again_adds_only_what_is_new_and_updates_the_case(
    store: Store, tmp_path: Path
) -> None:
    sink = WarehouseSink(store, tmp_path / "ws")
    accept(store, EVENTS[:5], NOW)
    sink.flush(NOW)
    assert sink.flush(NOW).events == 5  # the recent window re-reads; the warehouse drops them
    later = [
        {"event_id": "e6", "type": "case_resolved", "case_id": "C-2",
         "timestamp": "2025-03-03T15:00:00+08:00"},
        {"event_id": "e7", "type": "case_closed", "case_id": "C-1",
         "timestamp": "2025-03-03T15:30:00+08:00"},
    ]  # fmt: skip
    accept(store, later, NOW)
    result = sink.flush(NOW)
    with servq.open_workspace(tmp_path / "ws") as ws:
        counts = ws.counts()
        assert (counts["case"], counts["case_event"]) == (2, 7)
        cases = ws.read("case").set_index("case_id")
        assert cases.loc["C-2", "status"] == "solved"
        assert (cases.loc["C-1", "status"], str(cases.loc["C-1", "closed_at"])) == (
            "closed",
            "2025-03-03 07:30:00",
        )
    # a new sink (a restart) starts from the stored cursor: nothing to copy
    assert WarehouseSink(store, tmp_path / "ws").flush(NOW).events == 0
    assert result.cursor >= 7


def test_the_running_monitor_copies_events_on_its_own(store: Store, tmp_path: Path) -> None:
    ws_path = tmp_path / "ws"
    config = MonitorConfig(warehouse_seconds=0.2, poll_seconds=0.1)
    monitor = Monitor(store, ws_path, config)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(monitor.run(stop),))
    thread.start()
    try:
        top = accept(store, EVENTS, NOW).last_seq
        deadline = datetime.now().timestamp() + 20
        while read_cursor(store, "warehouse") < top and datetime.now().timestamp() < deadline:
            threading.Event().wait(0.1)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
    with servq.open_workspace(ws_path) as ws:
        counts = ws.counts()
        assert (counts["case"], counts["case_event"], counts["feedback"]) == (2, 5, 2)
