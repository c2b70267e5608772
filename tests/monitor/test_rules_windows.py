"""Sliding windows in the metric engine (``Request.windows``), which every metric rule uses:
overlapping windows in one query, durations known only once they ended."""

from __future__ import annotations

from pathlib import Path

import pytest

import servq
from servq.errors import ServqError
from servq.metrics.compute import MetricEngine, Request

from .test_rules_fixtures import load, utc


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    with servq.open_workspace(tmp_path / "ws") as ws:
        load(
            ws,
            "tickets",
            [
                {"ticket_id": "T1", "created_at": utc("2025-01-06 09:00"), "team": "a",
                 "first_reply_at": utc("2025-01-06 09:20")},
                {"ticket_id": "T2", "created_at": utc("2025-01-06 09:30"), "team": "a",
                 "first_reply_at": utc("2025-01-06 10:30")},
                {"ticket_id": "T3", "created_at": utc("2025-01-06 09:45"), "team": "b"},
            ],
        )  # fmt: skip
        yield MetricEngine(ws.warehouse, ws.catalogue)


def test_overlapping_windows_in_one_request(engine: MetricEngine) -> None:
    windows = (
        (utc("2025-01-06 09:00"), utc("2025-01-06 10:00")),  # T1, T2, T3; T2's reply comes later
        (utc("2025-01-06 09:30"), utc("2025-01-06 11:00")),  # T2, T3; T2's reply known by 11:00
        (utc("2025-01-06 09:15"), utc("2025-01-06 09:30")),  # nothing
    )
    got = engine.compute(
        Request(metrics=("cases_created", "first_reply_time"), by=("team",), windows=windows)
    )
    rows = {
        (r.team, r.window_start.to_pydatetime()): (r.cases_created, r.first_reply_time)
        for r in got.itertuples()
    }
    nine, half_past = utc("2025-01-06 09:00"), utc("2025-01-06 09:30")
    assert rows.keys() == {("a", nine), ("a", half_past), ("b", nine), ("b", half_past)}
    assert rows[("a", nine)] == (2, 20 * 60)  # T2 was not replied by 10:00
    assert rows[("a", half_past)] == (1, 60 * 60)
    for start in (nine, half_past):
        cases_b, reply_b = rows[("b", start)]
        assert cases_b == 1 and reply_b != reply_b  # T3 has no reply: NaN


def test_windows_exclude_grains_and_snapshots(engine: MetricEngine) -> None:
    one = ((utc("2025-01-06 09:00"), utc("2025-01-06 10:00")),)
    with pytest.raises(ServqError, match="grain"):
        engine.compute(Request(metrics=("cases_created",), grain="day", windows=one))
    with pytest.raises(ServqError, match="snapshot"):
        engine.compute(Request(metrics=("backlog",), windows=one))
    empty = engine.compute(Request(metrics=("cases_created",), windows=()))
    assert empty.empty and {"window_start", "window_end"} <= set(empty.columns)
