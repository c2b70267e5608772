"""Laws of business time, checked with hypothesis on every built-in calendar and a DST-heavy one.

B is a non-decreasing function of t, so: durations add up, deadlines invert durations, both are
monotone, durations never exceed calendar time, and nothing depends on how the inputs are
chunked or on how long a span the clock was built for. A slow day-by-day reference written
independently of the clock's searchsorted code must agree with it.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servq.calendar import BusinessClock, CalendarSpec, load_calendar, open_hours, parse_calendar

# Night hours in London. The clocks change on Sundays at 01:00 UTC: in spring 01:00–02:00 does
# not exist, so 01:30 (an end and a start) falls in the gap; in autumn 01:00–02:00 happens twice.
LONDON_NIGHTS = parse_calendar(
    """\
name: london-nights
timezone: Europe/London
hours:
  workday: ["00:30-02:30", "22:00-24:00"]
  saturday: ["00:00-03:00"]
  sunday: ["00:30-01:30", "01:45-02:30", "23:00-24:00"]
holidays: country:GB
"""
)
NAMES = ["24x7", "cn-office", "cn-service", "us-office", "weekdays-9-17", "london-nights"]
US = 10**3  # ns per microsecond
EXACT = 1e-6  # seconds: the clock is exact in ns; this only absorbs float64 rounding


def calendar(name: str) -> CalendarSpec:
    return LONDON_NIGHTS if name == "london-nights" else load_calendar(name)


@cache
def clock(name: str) -> BusinessClock:
    return BusinessClock(calendar(name), "2024-06-01", "2025-12-31")


@cache
def long_clock(name: str) -> BusinessClock:
    return BusinessClock(calendar(name), "2023-02-01", "2026-06-30", pad_days=50)


LOW, HIGH = datetime(2024, 6, 1), datetime(2025, 12, 31)
# the weekends of the 2025 clock changes in London and New York, in UTC
CHANGES = [
    (datetime(2025, 3, 29), 3),
    (datetime(2025, 10, 25), 3),
    (datetime(2025, 3, 8), 3),
    (datetime(2025, 11, 1), 3),
]
anywhere = st.datetimes(min_value=LOW, max_value=HIGH)
near_changes = st.one_of(
    *(st.datetimes(min_value=d, max_value=d + timedelta(days=n)) for d, n in CHANGES)
)
# arbitrary instants, instants near clock changes, and instants on round hours and half hours
# (where intervals begin and end)
instants = st.one_of(
    anywhere,
    near_changes,
    st.one_of(anywhere, near_changes).map(
        lambda d: d.replace(minute=d.minute // 15 * 15, second=0, microsecond=0)
    ),
).map(lambda d: np.datetime64(d, "ns"))
# up to two days of business time, in microseconds (a deadline must stay inside the span)
business_seconds = st.one_of(
    st.integers(0, 2 * 86400),
    st.integers(0, 2 * 86400 * 10**6).map(lambda us: us / 10**6),
)
calendars = pytest.mark.parametrize("name", NAMES)
fast = settings(max_examples=120, deadline=None)


@calendars
@fast
@given(a=instants, b=instants, c=instants)
def test_durations_add_up(name: str, a: np.datetime64, b: np.datetime64, c: np.datetime64) -> None:
    k = clock(name)
    assert abs(k.duration(a, b) + k.duration(b, c) - k.duration(a, c)) <= EXACT
    assert k.duration(a, b) == -k.duration(b, a)


@calendars
@fast
@given(t=instants, s=business_seconds)
def test_add_inverts_duration(name: str, t: np.datetime64, s: float) -> None:
    k = clock(name)
    u = k.add(t, s)
    assert u >= t
    assert abs(k.duration(t, u) - s) <= EXACT
    if s > 0:
        # the last nanosecond before a deadline is open time, so no earlier instant would do
        assert k.is_open(u - np.timedelta64(1, "ns"))
        assert k.duration(t, u - np.timedelta64(1, "ns")) < s


@calendars
@fast
@given(t1=instants, t2=instants, s1=business_seconds, s2=business_seconds)
def test_add_is_monotone(
    name: str, t1: np.datetime64, t2: np.datetime64, s1: float, s2: float
) -> None:
    k = clock(name)
    t1, t2 = min(t1, t2), max(t1, t2)
    s1, s2 = min(s1, s2), max(s1, s2)
    assert k.add(t1, s1) <= k.add(t2, s1)
    assert k.add(t1, s1) <= k.add(t1, s2)


@calendars
@fast
@given(a=instants, b=instants)
def test_durations_are_between_zero_and_calendar_time(
    name: str, a: np.datetime64, b: np.datetime64
) -> None:
    k = clock(name)
    a, b = min(a, b), max(a, b)
    d = k.duration(a, b)
    assert 0 <= d <= (b - a) / np.timedelta64(1, "s") + EXACT
    if name == "24x7":
        assert abs(d - (b - a) / np.timedelta64(1, "s")) <= EXACT


@calendars
@fast
@given(
    pairs=st.lists(st.tuples(instants, instants), min_size=1, max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=5),
)
def test_chunking_and_span_do_not_change_results(
    name: str, pairs: list[tuple[np.datetime64, np.datetime64]], cuts: list[int]
) -> None:
    k = clock(name)
    a = np.array([p[0] for p in pairs], dtype="datetime64[ns]")
    b = np.array([p[1] for p in pairs], dtype="datetime64[ns]")
    whole = k.duration(a, b)
    bounds = sorted({0, len(a), *(c for c in cuts if c < len(a))})
    pieces = [k.duration(a[i:j], b[i:j]) for i, j in itertools.pairwise(bounds)]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    np.testing.assert_array_equal([k.duration(x, y) for x, y in zip(a, b, strict=True)], whole)
    # a clock built on a longer span: B differs by a constant, durations and deadlines do not
    longer = long_clock(name)
    np.testing.assert_array_equal(longer.duration(a, b), whole)
    np.testing.assert_array_equal(longer.add(a, 3600.5), k.add(a, 3600.5))
    np.testing.assert_array_equal(longer.is_open(a), k.is_open(a))


def _utc(day: date, seconds: int, zone: ZoneInfo) -> datetime:
    wall = datetime.combine(day, datetime.min.time()) + timedelta(seconds=seconds)
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def reference_duration(cal: CalendarSpec, a: datetime, b: datetime) -> float:
    """Day by day, interval by interval, with zoneinfo: slow and plain, for calendars whose
    intervals never start or end inside a clock change."""
    zone = cal.zone
    total = 0.0
    day = a.date() - timedelta(days=2)
    while day <= b.date() + timedelta(days=1):
        for r in open_hours(cal, day):
            start, end = _utc(day, r.start, zone), _utc(day, r.end, zone)
            overlap = (min(end, b) - max(start, a)).total_seconds()
            total += max(overlap, 0.0)
        day += timedelta(days=1)
    return total


@pytest.mark.parametrize("name", ["cn-office", "cn-service", "us-office", "weekdays-9-17"])
@settings(max_examples=60, deadline=None)
@given(a=instants, days=st.floats(0, 20), frac=st.floats(0, 1))
def test_agrees_with_a_day_by_day_reference(
    name: str, a: np.datetime64, days: float, frac: float
) -> None:
    b = a + np.timedelta64(int(days * frac * 86400 * 10**6), "us")
    b = min(b, np.datetime64(HIGH, "ns"))
    start = a.astype("datetime64[us]").item()
    end = b.astype("datetime64[us]").item()
    expected = reference_duration(calendar(name), start, end)
    assert abs(clock(name).duration(a, b) - expected) <= EXACT
