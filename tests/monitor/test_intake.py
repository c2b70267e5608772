"""Event intake: per-event answers, de-duplication, quarantine of bad events, out-of-order
events, and the same on PostgreSQL."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from servq.app_store import Store, open_store
from servq.monitor.store import (
    IntakeEvent,
    IntakeReject,
    accept,
    changed_cases,
    counts,
    open_cases,
)

NOW = datetime(2025, 3, 3, 6, 0)


def ev(eid: str, type_: str, case: str, ts: str, **fields: object) -> dict[str, object]:
    return {"event_id": eid, "type": type_, "case_id": case, "timestamp": ts, **fields}


# the life of one case, Beijing time (UTC+8); times in UTC are 8 hours earlier
LIFE = [
    ev("a1", "case_created", "C1", "2025-03-03T09:00:00+08:00", priority="high", team="T1"),
    ev("a2", "agent_replied", "C1", "2025-03-03T09:20:00+08:00", agent="li"),
    ev("a3", "customer_replied", "C1", "2025-03-03T10:00:00+08:00"),
    ev("a4", "case_status_changed", "C1", "2025-03-03T10:05:00+08:00", status="pending"),
    ev("a5", "case_status_changed", "C1", "2025-03-03T10:30:00+08:00", status="open"),
    ev("a6", "agent_replied", "C1", "2025-03-03T11:00:00+08:00", agent="wang"),
    ev("a7", "customer_replied", "C1", "2025-03-03T11:10:00+08:00"),
]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path)


def test_answers_per_event_and_stores_each_once(store: Store) -> None:
    batch = [
        LIFE[0],
        LIFE[1],
        LIFE[1],  # repeated inside the batch
        ev("b1", "case_status_changed", "C1", "2025-03-03T10:00:00"),  # no offset
        ev("b2", "case_status_changed", "C1", "2025-03-03T10:00:00+08:00"),  # no status
        ev("b3", "case_created", "C2", "2025-03-03T10:00:00Z", priority="critical"),
        ev("b4", "case_teleported", "C2", "2025-03-03T10:00:00Z"),
        "not an object",
    ]
    result = accept(store, batch, NOW)
    got = [(a.event_id, a.status) for a in result.answers]
    assert got == [
        ("a1", "accepted"),
        ("a2", "accepted"),
        ("a2", "duplicate"),
        ("b1", "rejected"),
        ("b2", "rejected"),
        ("b3", "rejected"),
        ("b4", "rejected"),
        (None, "rejected"),
    ]
    reasons = [a.reason or "" for a in result.answers]
    assert "UTC offset" in reasons[3]
    assert "needs a status" in reasons[4]
    assert "unknown priority 'critical'" in reasons[5]
    assert "type" in reasons[6]
    assert "JSON object" in reasons[7]
    assert result.counts() == {"accepted": 2, "duplicate": 1, "rejected": 5}
    # nothing is lost: the five refused events are in the quarantine with their reasons
    with store.session() as s:
        rejected = s.execute(select(IntakeReject.event_id, IntakeReject.reason)).all()
    assert [r[0] for r in rejected] == ["b1", "b2", "b3", "b4", None]
    # the same batch again: everything stored answers duplicate, nothing is stored twice
    again = accept(store, batch[:3], NOW)
    assert [a.status for a in again.answers] == ["duplicate"] * 3
    assert counts(store) == {"events": 2, "rejected": 5, "open_cases": 1}


def _final_state(store: Store) -> dict[str, object]:
    cases, _ = open_cases(store)
    (case,) = cases
    return {
        "created_at": case.created_at,
        "status": case.status,
        "statuses": [s for s, _ in case.statuses],
        "first_reply_at": case.first_reply_at,
        "awaiting_reply_since": case.awaiting_reply_since,
        "agent": case.agent,
        "agent_replies": case.agent_replies,
        "team": case.team,
    }


EXPECTED = {
    "created_at": datetime(2025, 3, 3, 1, 0),
    "status": "open",
    "statuses": ["new", "pending", "open"],
    "first_reply_at": datetime(2025, 3, 3, 1, 20),  # 09:20 Beijing
    # the customer wrote at 10:00, answered at 11:00; wrote again at 11:10: still waiting
    "awaiting_reply_since": datetime(2025, 3, 3, 3, 10),
    "agent": "wang",
    "agent_replies": 2,
    "team": "T1",
}


def test_case_state_from_events_in_order(store: Store) -> None:
    accept(store, LIFE, NOW)
    assert _final_state(store) == EXPECTED


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_out_of_order_arrival_gives_the_same_state(tmp_path: Path, seed: int) -> None:
    store = open_store(tmp_path)
    shuffled = LIFE.copy()
    random.Random(seed).shuffle(shuffled)
    # one event a batch, in a shuffled order, some sent twice
    for e in shuffled + shuffled[:3]:
        accept(store, [e], NOW)
    assert _final_state(store) == EXPECTED
    with store.session() as s:
        assert s.execute(select(func.count()).select_from(IntakeEvent)).scalar_one() == 7


def test_events_before_the_case_exists_wait_for_it(store: Store) -> None:
    accept(store, [LIFE[1]], NOW)  # a reply to a case not created yet
    assert counts(store)["open_cases"] == 0
    accept(store, [LIFE[0]], NOW)
    cases, _ = open_cases(store)
    assert cases[0].first_reply_at == datetime(2025, 3, 3, 1, 20)


def test_agent_created_case_counts_first_reply_from_the_second_reply(store: Store) -> None:
    accept(
        store,
        [
            ev("c1", "case_created", "C9", "2025-03-03T09:00:00Z", created_by="agent"),
            ev("c2", "agent_replied", "C9", "2025-03-03T09:01:00Z"),
            ev("c3", "agent_replied", "C9", "2025-03-03T09:30:00Z"),
        ],
        NOW,
    )
    cases, _ = open_cases(store)
    assert cases[0].first_reply_at == datetime(2025, 3, 3, 9, 30)


def test_resolved_case_is_no_longer_open_and_changes_are_read_incrementally(
    store: Store,
) -> None:
    first = accept(store, LIFE[:2], NOW)
    cases, seq = changed_cases(store, 0)
    assert [c.case_id for c in cases] == ["C1"] and seq == first.last_seq
    assert changed_cases(store, seq) == ([], seq)  # nothing new
    accept(store, [ev("d0", "customer_replied", "C1", "2025-03-03T11:30:00+08:00")], NOW)
    cases, seq = changed_cases(store, seq)
    assert cases[0].awaiting_reply_since == datetime(2025, 3, 3, 3, 30)
    accept(store, [ev("d1", "case_resolved", "C1", "2025-03-03T12:00:00+08:00")], NOW)
    cases, seq2 = changed_cases(store, seq)
    assert cases[0].status == "solved" and cases[0].resolved_at == datetime(2025, 3, 3, 4, 0)
    # the solve ends the wait for a reply: a reopen does not revive it
    assert cases[0].awaiting_reply_since is None
    assert counts(store)["open_cases"] == 0
    accept(store, [ev("d2", "case_reopened", "C1", "2025-03-03T13:00:00+08:00")], NOW)
    cases, _ = changed_cases(store, seq2)
    assert cases[0].status == "open" and cases[0].resolved_at is None


def test_postgresql_store_deduplicates_too(pg_url: str) -> None:
    store = open_store(url=pg_url)
    try:
        first = accept(store, LIFE, NOW)
        again = accept(store, LIFE, NOW)
        assert first.counts()["accepted"] == 7
        assert again.counts() == {"accepted": 0, "duplicate": 7, "rejected": 0}
        assert _final_state(store) == EXPECTED
    finally:
        store.close()
