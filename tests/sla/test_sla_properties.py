"""Laws of SLA deadlines, checked with hypothesis.

Without pauses the business time from start to deadline is the target exactly. With pauses,
the unpaused business time from start to deadline is the target, and a nanosecond earlier it is
less: the deadline is the earliest such instant. A loop-per-target reference, written
independently of the vectorised ``schedule``, must agree with it.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import servq
from servq.calendar import BusinessClock, load_calendar
from servq.sla import evaluate, load_policy, schedule
from servq.sla.evaluate import pad_days

CALENDARS = ["24x7", "cn-office", "cn-service", "weekdays-9-17", "us-office"]
LOW, HIGH = datetime(2025, 1, 1), datetime(2025, 11, 30)
LONGEST = 20 * 86400
EXACT = 1e-6


@cache
def clock(name: str) -> BusinessClock:
    # padded the way evaluate() pads, so even the longest target's deadline lies inside the
    # span (20 days of office time is about three months of calendar time)
    pad = pad_days(load_calendar(name), LONGEST)
    return BusinessClock(name, LOW, HIGH + timedelta(days=31), pad_days=pad)


times = st.datetimes(min_value=LOW, max_value=HIGH).map(lambda d: d.replace(microsecond=0))
targets = st.integers(min_value=1, max_value=LONGEST)


def ns(values: list[datetime]) -> np.ndarray:
    return np.array(values, dtype="datetime64[ns]")


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(CALENDARS),
    st.lists(st.tuples(times, targets), min_size=1, max_size=30),
)
# found by CI: a 20-day office-time target near the end of the data runs into the next March
@example("cn-office", [(datetime(2025, 11, 26), 1_701_000)])
def test_no_pause_deadline_is_target_business_seconds_away(
    name: str, items: list[tuple[datetime, int]]
) -> None:
    c = clock(name)
    start = ns([t for t, _ in items])
    target = np.array([s for _, s in items], dtype=np.float64)
    end = ns([HIGH + timedelta(days=1)] * len(items))
    none = np.array([], dtype=np.intp)
    empty = np.array([], dtype="datetime64[ns]")
    sch = schedule(c, start, end, target, none, empty, empty)
    # business elapsed between created and due equals the target, plus nothing paused
    assert np.allclose(c.duration(start, sch.due), target, rtol=0, atol=EXACT)
    assert (sch.paused == 0).all()
    assert (sch.due == c.add(start, target)).all()


def _active(
    c: BusinessClock, start: datetime, u: np.datetime64, pauses: list[tuple[datetime, datetime]]
) -> float:
    """Reference: business time from start to u, minus the paused part of it."""
    total = c.duration(start, u)
    for a, b in pauses:
        lo, hi = max(np.datetime64(a), np.datetime64(start)), min(np.datetime64(b), u)
        if hi > lo:
            total -= c.duration(lo, hi)
    return float(total)


@st.composite
def runs(draw: st.DrawFn) -> tuple[datetime, int, list[tuple[datetime, datetime]]]:
    start = draw(times)
    target = draw(st.integers(min_value=60, max_value=5 * 86400))
    # pauses around and after the start, in order, not overlapping (touching is allowed)
    gaps = draw(st.lists(st.integers(0, 3 * 86400), min_size=0, max_size=8))
    lengths = draw(st.lists(st.integers(1, 2 * 86400), min_size=len(gaps), max_size=len(gaps)))
    t = start - timedelta(seconds=draw(st.integers(0, 86400)))
    pauses = []
    for gap, length in zip(gaps, lengths, strict=True):
        a = t + timedelta(seconds=gap)
        b = a + timedelta(seconds=length)
        pauses.append((a, b))
        t = b
    return start, target, pauses


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CALENDARS), st.lists(runs(), min_size=1, max_size=10))
def test_pauses_push_the_deadline_by_exactly_the_paused_time(
    name: str, items: list[tuple[datetime, int, list[tuple[datetime, datetime]]]]
) -> None:
    c = clock(name)
    start = ns([s for s, _, _ in items])
    target = np.array([t for _, t, _ in items], dtype=np.float64)
    end = ns([HIGH + timedelta(days=20)] * len(items))
    rows = np.array([i for i, (_, _, p) in enumerate(items) for _ in p], dtype=np.intp)
    p_start = ns([a for _, _, p in items for a, _ in p])
    p_end = ns([b for _, _, p in items for _, b in p])
    sch = schedule(c, start, end, target, rows, p_start, p_end)
    for i, (s, t, pauses) in enumerate(items):
        due = sch.due[i]
        assert abs(_active(c, s, due, pauses) - t) <= EXACT, (i, due)
        # the earliest such instant: a nanosecond before, the target is not used up yet
        before = due - np.timedelta64(1, "ns")
        assert _active(c, s, before, pauses) < t, (i, due)
        # elapsed to the end excludes every pause
        assert abs(sch.elapsed[i] - _active(c, s, end[i], pauses)) <= EXACT


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.sampled_from(["standard", "always-on", "government-10-workdays"]),
    st.lists(times, min_size=1, max_size=25),
)
def test_evaluate_due_is_target_after_created(policy: str, created: list[datetime]) -> None:
    # a workspace per example: pytest's tmp_path is one folder for all of hypothesis' examples
    with tempfile.TemporaryDirectory() as tmp, servq.open_workspace(Path(tmp)) as ws:
        frame = pd.DataFrame(
            {
                "ticket_id": [f"T{i}" for i in range(len(created))],
                # the tickets profile reads naive times as Beijing time: give UTC explicitly
                "created_at": [t.isoformat() + "+00:00" for t in created],
                "priority": "normal",
                "status": "open",
            }
        )
        ws.ingest_frame(frame, "tickets")
        df = evaluate(ws, policy)
        assert len(df) >= len(created)
        c = clock(load_policy(policy).calendar)
        got = c.duration(df.started_at.to_numpy(), df.due_at.to_numpy())
        # nothing is paused, so created → due is the target in business seconds
        assert np.allclose(got, df.target_seconds.to_numpy(), rtol=0, atol=EXACT)
        assert (df.paused_seconds == 0).all()
