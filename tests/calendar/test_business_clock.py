"""Business clock facts computed by hand: deadlines, China's holidays, lunch breaks, DST, SQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache

import duckdb
import numpy as np
import pandas as pd
import pytest

from servq.calendar import BusinessClock, ClockSpanError, parse_calendar
from servq.errors import ServqError

H = 3600


@cache
def clock(name: str) -> BusinessClock:
    return BusinessClock(name, "2025-01-01", "2025-12-31")


def utc(text: str) -> np.datetime64:
    return np.datetime64(text, "ns")


def beijing(text: str) -> np.datetime64:
    """A Beijing wall time as naive UTC (China has no DST: always UTC+8)."""
    return utc(text) - np.timedelta64(8, "h")


def new_york(text: str, offset_hours: int) -> np.datetime64:
    return utc(text) - np.timedelta64(offset_hours, "h")


def test_friday_1700_plus_8_business_hours_is_monday_1700() -> None:
    c = clock("weekdays-9-17")
    # 3 January 2025 is a Friday; the deadline lands exactly on Monday's closing time, which is
    # the deadline itself, not Tuesday 09:00
    assert c.add(utc("2025-01-03T17:00"), 8 * H) == utc("2025-01-06T17:00")
    assert c.add(utc("2025-01-03T16:00"), 8 * H) == utc("2025-01-06T16:00")
    assert c.add(utc("2025-01-04T12:00"), 1 * H) == utc("2025-01-06T10:00")  # from a Saturday
    assert c.add(utc("2025-01-04T12:00"), 0) == utc("2025-01-04T12:00")  # zero: t itself
    assert c.add(utc("2025-01-06T10:00"), -2 * H) == utc("2025-01-03T16:00")  # backwards
    assert c.duration(utc("2025-01-03T17:00"), utc("2025-01-06T17:00")) == 8 * H


def test_lunch_break_on_cn_office() -> None:
    c = clock("cn-office")
    # 11:30–12:00 and 13:30–14:00 on Thursday 2 January 2025
    assert c.duration(beijing("2025-01-02T11:30"), beijing("2025-01-02T14:00")) == 1 * H
    assert not c.is_open(beijing("2025-01-02T12:30"))
    assert c.is_open(beijing("2025-01-02T13:30"))
    assert not c.is_open(beijing("2025-01-02T18:00"))  # closed at the closing instant
    # 30 minutes before lunch + 30 minutes: the deadline is the start of lunch
    assert c.add(beijing("2025-01-02T11:30"), 1800) == beijing("2025-01-02T12:00")
    assert c.add(beijing("2025-01-02T11:30"), 1801) == beijing("2025-01-02T13:30:01")


def day_total(c: BusinessClock, day: str) -> float:
    return c.duration(beijing(f"{day}T00:00"), beijing(f"{day}T00:00") + np.timedelta64(1, "D"))


def test_china_2025_days_through_the_clock() -> None:
    c = clock("cn-office")
    full = 3 * H + 4.5 * H  # 09:00–12:00 + 13:30–18:00
    for day in ("2025-01-26", "2025-02-08", "2025-09-28", "2025-10-11", "2025-10-09"):
        assert day_total(c, day) == full, day
    for day in ("2025-01-28", "2025-02-01", "2025-02-04", "2025-10-01", "2025-10-08", "2025-10-12"):
        assert day_total(c, day) == 0, day
    s = clock("cn-service")
    assert day_total(s, "2025-10-12") == 12 * H  # ordinary Sunday: open
    assert day_total(s, "2025-10-04") == 0  # Saturday inside the National Day holiday


def test_duration_across_the_national_day_holiday() -> None:
    c = clock("cn-office")
    # Tue 30 Sep 17:00–18:00 = 1 h; 1–8 Oct closed; Thu 9 Oct 09:00–10:00 = 1 h
    assert c.duration(beijing("2025-09-30T17:00"), beijing("2025-10-09T10:00")) == 2 * H
    # Tue 30 Sep 10:00–12:00 + 13:30–18:00 = 6.5 h; 9 and 10 Oct full days, 7.5 h each;
    # Sat 11 Oct (adjusted working day) 09:00–12:00 + 13:30–15:00 = 4.5 h  → 26 h
    assert c.duration(beijing("2025-09-30T10:00"), beijing("2025-10-11T15:00")) == 26 * H
    # and the deadline of 2 h from 30 Sep 17:00 is 9 Oct 10:00
    assert c.add(beijing("2025-09-30T17:00"), 2 * H) == beijing("2025-10-09T10:00")
    # reversed pair: negative, same size
    assert c.duration(beijing("2025-10-09T10:00"), beijing("2025-09-30T17:00")) == -2 * H


def test_us_office_across_the_dst_changes() -> None:
    c = clock("us-office")
    # 9 March 2025: New York moves from EST (UTC−5) to EDT (UTC−4)
    assert c.is_open(new_york("2025-03-07T16:30", -5))
    assert not c.is_open(new_york("2025-03-07T08:30", -5))
    assert c.is_open(new_york("2025-03-10T09:30", -4))
    # the same UTC hour: 16:30 EST (open) a week before, 17:30 EDT (closed) after the change
    assert c.is_open(utc("2025-03-03T21:30"))
    assert not c.is_open(utc("2025-03-10T21:30"))
    # Friday 16:00 EST + 2 h = Monday 10:00 EDT
    assert c.add(new_york("2025-03-07T16:00", -5), 2 * H) == new_york("2025-03-10T10:00", -4)
    # the two weeks around the change hold exactly 10 days of 8 h
    assert c.duration(utc("2025-03-03T00:00"), utc("2025-03-15T00:00")) == 10 * 8 * H
    # 2 November 2025: back to EST
    assert c.add(new_york("2025-10-31T16:00", -4), 2 * H) == new_york("2025-11-03T10:00", -5)
    assert c.duration(new_york("2025-10-31T16:00", -4), new_york("2025-11-03T10:00", -5)) == 2 * H


def test_clock_changes_inside_open_hours() -> None:
    cal = parse_calendar(
        """\
name: ny-nights
timezone: America/New_York
hours:
  workday: ["00:00-24:00"]
  saturday: ["00:00-24:00"]
  sunday: ["01:00-01:30", "02:30-03:30", "12:00-13:00"]
"""
    )
    c = BusinessClock(cal, "2025-03-01", "2025-11-30")
    # an ordinary Saturday is 24 h
    sat = new_york("2025-03-08T00:00", -5)
    assert c.duration(sat, new_york("2025-03-09T00:00", -5)) == 24 * H
    # Sunday 9 March: 01:00–01:30 EST; 02:30 does not exist, so it opens at the jump (03:00 EDT)
    # and runs to 03:30 EDT: 30 min; 12:00–13:00: 1 h
    sun = c.duration(new_york("2025-03-09T00:00", -5), new_york("2025-03-10T00:00", -4))
    assert sun == 0.5 * H + 0.5 * H + 1 * H
    assert c.is_open(utc("2025-03-09T07:00"))  # 03:00 EDT
    # Sunday 2 November: 01:00–01:30 is the first (EDT) occurrence: 05:00–05:30 UTC
    assert c.is_open(utc("2025-11-02T05:10"))
    assert not c.is_open(utc("2025-11-02T06:10"))  # the second 01:10, EST
    # Saturday 1 Nov 00:00 EDT → Monday 3 Nov 00:00 EST: Sat 24 h + Sun (0.5 + 1 + 1) h
    total = c.duration(new_york("2025-11-01T00:00", -4), new_york("2025-11-03T00:00", -5))
    assert total == 24 * H + 2.5 * H


def test_inputs_of_every_kind_and_nat() -> None:
    c = clock("weekdays-9-17")
    fri, mon = "2025-01-03 16:00", "2025-01-06 10:00"
    assert c.duration(fri, mon) == 2 * H
    assert c.duration(datetime(2025, 1, 3, 16), datetime(2025, 1, 6, 10)) == 2 * H
    aware = datetime(2025, 1, 3, 17, tzinfo=timezone(timedelta(hours=1)))  # 16:00 UTC
    assert c.duration(aware, pd.Timestamp(mon)) == 2 * H
    for unit in ("s", "us", "ns"):
        a = np.array([fri, "NaT"], dtype=f"datetime64[{unit}]")
        out = c.duration(a, np.datetime64(mon))
        assert out[0] == 2 * H and np.isnan(out[1])
    series = pd.Series([pd.Timestamp(fri), pd.NaT]).dt.tz_localize("UTC")
    out = c.duration(series, [mon, mon])
    assert out[0] == 2 * H and np.isnan(out[1])
    assert np.isnan(c.elapsed(pd.NaT))
    assert np.isnan(c.duration(np.datetime64("NaT"), mon))
    assert np.isnat(c.add(pd.NaT, 60))
    deadlines = c.add(np.array([fri, fri, "NaT"], dtype="datetime64[s]"), [3600.0, np.nan, 1.0])
    assert deadlines.dtype == np.dtype("datetime64[ns]")
    assert deadlines[0] == utc("2025-01-03T17:00") and np.isnat(deadlines[1:]).all()
    assert c.add(fri, timedelta(hours=2)) == utc("2025-01-06T10:00")
    assert c.add(fri, np.timedelta64(2, "h")) == utc("2025-01-06T10:00")
    assert c.is_open([fri, None, mon]).tolist() == [True, False, True]
    assert isinstance(c.is_open(fri), bool) and isinstance(c.elapsed(fri), float)
    grid = np.array([[fri, mon], [mon, fri]], dtype="datetime64[ns]")
    assert c.duration(grid, mon).tolist() == [[2 * H, 0.0], [0.0, 2 * H]]


def test_outside_the_span_is_an_error_not_a_guess() -> None:
    c = clock("weekdays-9-17")
    assert c.origin <= utc("2025-01-01") and c.horizon >= utc("2026-01-01")
    with pytest.raises(ClockSpanError, match="1 timestamp"):
        c.duration(["2025-03-03", "2030-01-01"], "2025-03-04")
    with pytest.raises(ClockSpanError, match="deadline"):
        c.add(utc("2025-12-31T12:00"), 1000 * H)
    with pytest.raises(ServqError, match="before its start"):
        BusinessClock("24x7", "2025-02-01", "2025-01-01")


def test_china_clock_stops_at_the_data_years() -> None:
    from servq.calendar import CalendarRangeError, china_supported_years

    first, last = china_supported_years()
    with pytest.raises(CalendarRangeError, match=f"{first}–{last}"):
        BusinessClock("cn-office", f"{last}-06-01", f"{last + 1}-01-15")
    # a span ending at the last known day works: only the padding is cut
    c = BusinessClock("cn-office", f"{last}-06-01", f"{last}-12-31")
    assert c.horizon == np.datetime64(f"{last}-12-31T16:00", "ns")  # midnight Beijing
    with pytest.raises(ClockSpanError, match=f"covers {first}–{last} only"):
        c.add(np.datetime64(f"{last}-12-30T01:00"), 100 * H)


def test_segments_give_the_same_numbers_in_duckdb() -> None:
    c = clock("cn-office")
    rng = np.random.default_rng(7)
    lo, hi = utc("2025-01-01").astype(np.int64), utc("2025-12-01").astype(np.int64)
    opened = (rng.integers(lo, hi, 2000) // 10**9 * 10**9).view("datetime64[ns]")
    closed = opened + rng.integers(0, 30 * 86400, 2000).astype("timedelta64[s]")
    segments = c.segments()  # DuckDB reads both data frames by their variable names
    # include instants exactly on segment boundaries
    opened[:10] = segments.segment_start.to_numpy()[100:110]
    closed[:10] = segments.segment_end.to_numpy()[120:130]
    tickets = pd.DataFrame({"id": np.arange(2000), "opened": opened, "closed": closed})
    sql = """
        WITH stamps AS (
            SELECT id, opened AS ts, -1 AS sign FROM tickets
            UNION ALL
            SELECT id, closed AS ts, 1 AS sign FROM tickets
        )
        SELECT id,
               sum(sign * (s.cum_before_seconds
                           + least(greatest(epoch(ts) - epoch(s.segment_start), 0),
                                   epoch(s.segment_end) - epoch(s.segment_start))))
                 AS business_seconds
        FROM stamps ASOF JOIN segments s ON stamps.ts >= s.segment_start
        GROUP BY id ORDER BY id
    """
    con = duckdb.connect()
    from_sql = con.execute(sql).df()["business_seconds"].to_numpy()
    expected = c.duration(tickets["opened"], tickets["closed"])
    np.testing.assert_allclose(from_sql, expected, rtol=0, atol=1e-6)
    assert (expected > 0).mean() > 0.9


def test_segments_table_shape() -> None:
    seg = clock("24x7").segments()
    assert list(seg.columns) == ["segment_start", "segment_end", "cum_before_seconds"]
    # always open: the whole span is one segment starting at the origin
    assert len(seg) == 1 and seg.segment_start[0] == clock("24x7").origin
    seg = clock("weekdays-9-17").segments()
    assert seg.segment_start.is_monotonic_increasing and seg.segment_start.is_unique
    assert (seg.segment_end >= seg.segment_start).all()
    assert seg.cum_before_seconds.iloc[0] == 0
