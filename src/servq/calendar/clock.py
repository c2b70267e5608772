"""The business clock: a calendar turned into a table of cumulative open time over a span.

Owns: converting a calendar's local opening hours into UTC open intervals for a span of dates,
and the vectorised arithmetic on them: B(t) (open seconds since the clock's origin), business
durations B(b) − B(a), deadlines B⁻¹(B(t) + s), and the segment table a SQL engine joins to
compute the same numbers.

Timestamps are read as UTC: naive values are UTC (the warehouse stores naive UTC), aware ones
are converted. All arithmetic is on int64 nanoseconds, so results do not drift with the size of
the span; seconds are returned as float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast, overload
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from servq.calendar.days import CalendarRangeError, DayRule, range_message, supported_years
from servq.calendar.model import CalendarSpec
from servq.calendar.registry import load_calendar
from servq.errors import ServqError

if TYPE_CHECKING:
    from pandas._libs.tslibs.nattype import NaTType

    TimeScalar: TypeAlias = datetime | np.datetime64 | str | NaTType
    TimeArray: TypeAlias = npt.NDArray[Any] | pd.Series[Any] | pd.Index[Any] | list[Any]
    SecondsScalar: TypeAlias = (
        float | int | np.floating[Any] | np.integer[Any] | timedelta | np.timedelta64
    )
    SecondsArray: TypeAlias = npt.NDArray[Any] | pd.Series[Any] | list[Any]

Int64Array: TypeAlias = "npt.NDArray[np.int64]"
FloatArray: TypeAlias = "npt.NDArray[np.float64]"

NS = 1_000_000_000
NAT = np.iinfo(np.int64).min
DEFAULT_PAD_DAYS = 35
_EPOCH = datetime(1970, 1, 1)


class ClockSpanError(ServqError):
    """A timestamp or deadline outside the span a BusinessClock was built for."""


# -- converting inputs ------------------------------------------------------------------------


def _scalar_ns(value: Any) -> int:
    if pd.isna(value):
        return int(NAT)
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.as_unit("ns").value)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, np.ndarray | pd.Series | pd.Index | list | tuple)


def _times_ns(value: Any) -> Int64Array:
    """Any supported time input as int64 nanoseconds since the epoch, UTC; NaT as NAT."""
    if _is_scalar(value):
        return np.array([_scalar_ns(value)], dtype=np.int64)
    if isinstance(value, pd.Series | pd.Index):
        if isinstance(value.dtype, pd.DatetimeTZDtype):
            if isinstance(value, pd.Series):
                value = value.dt.tz_convert(None)
            else:
                value = pd.DatetimeIndex(value).tz_convert(None)
        if value.dtype.kind == "M":
            ns: Int64Array = value.to_numpy(dtype="datetime64[ns]").view(np.int64)
            return ns
        value = value.to_numpy()
    arr = np.asarray(value)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]", copy=False).view(np.int64)
    # strings, datetime objects (maybe aware), None: let pandas parse; naive ones are taken as UTC
    parsed = pd.DatetimeIndex(pd.to_datetime(arr.ravel(), utc=True)).tz_convert(None)
    return parsed.to_numpy(dtype="datetime64[ns]").view(np.int64).reshape(arr.shape)


def _seconds_ns(value: Any) -> tuple[Int64Array, npt.NDArray[np.bool_]]:
    """Seconds (numbers or timedeltas) as int64 nanoseconds, with a mask of missing values."""
    if isinstance(value, timedelta):
        value = np.timedelta64(pd.Timedelta(value).value, "ns")
    if isinstance(value, pd.Series | pd.Index):
        value = value.to_numpy()
    arr = np.asarray(value)
    if arr.dtype.kind == "m":
        ns = arr.astype("timedelta64[ns]").view(np.int64)
        return ns, ns == NAT
    f = arr.astype(np.float64)
    missing = np.isnan(f)
    if np.isinf(f).any():
        raise ClockSpanError("an infinite number of seconds has no deadline")
    ns = np.rint(np.where(missing, 0.0, f) * NS).astype(np.int64)
    return ns, missing


# -- local opening hours to UTC ---------------------------------------------------------------


def _ns(utc: datetime) -> int:
    return (utc.replace(tzinfo=None) - _EPOCH) // timedelta(microseconds=1) * 1000


def _wall_to_utc_ns(wall: datetime, zone: ZoneInfo) -> int:
    """The UTC instant of a local wall-clock time, in ns.

    An ambiguous time (clocks going back) is its first occurrence. A time that does not exist
    (clocks jumping forward) is moved to the instant of the jump, as pandas' "shift_forward"
    does: mapping it with either offset would let an interval end before it starts.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return _ns(first)
    # inside the gap fold=0 applies the offset from before the jump (a later instant) and fold=1
    # the one from after it (an earlier instant); the jump lies between, found to the second
    lo = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    hi = int(first.timestamp())
    after = first.astimezone(zone).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi * NS


def _local_date(ns: int, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(ns // NS, UTC).astimezone(zone).date()


class BusinessClock:
    """Business time of one calendar over a span of dates, precomputed as UTC open intervals.

    ``B(t)`` is the open (business) time from :attr:`origin` to ``t``, in seconds. Build a clock
    for the span of your data (``start`` and ``end``, naive UTC or aware); it is padded by
    ``pad_days`` on both sides so deadlines past ``end`` still resolve. A timestamp outside
    ``[origin, horizon]`` raises :class:`ClockSpanError` rather than returning a clipped number.

    Every method takes scalars or arrays (numpy datetime64 of any unit, pandas Series/Index,
    lists) and returns a scalar or a numpy array accordingly; NaT in gives NaN (seconds), NaT
    (instants) or False (``is_open``) out.
    """

    def __init__(
        self,
        calendar: CalendarSpec | str | Path,
        start: TimeScalar,
        end: TimeScalar,
        *,
        pad_days: int = DEFAULT_PAD_DAYS,
        folders: Sequence[Path] | None = None,
    ) -> None:
        self.calendar = load_calendar(calendar, folders)
        zone = self.calendar.zone
        start_ns, end_ns = _scalar_ns(start), _scalar_ns(end)
        if NAT in (start_ns, end_ns):
            raise ServqError("a BusinessClock needs a start and an end, not NaT")
        if end_ns < start_ns:
            raise ServqError("a BusinessClock's end comes before its start")
        if pad_days < 0:
            raise ServqError("pad_days cannot be negative")
        first, last = _local_date(start_ns, zone), _local_date(end_ns, zone)
        first_day, last_day = first - timedelta(days=pad_days), last + timedelta(days=pad_days)
        self._limit = ""
        years = supported_years(self.calendar)
        if years is not None:
            if first.year < years[0] or last.year > years[1]:
                raise CalendarRangeError(
                    range_message(self.calendar, f"the span {first} to {last}")
                )
            # padding is a convenience: it stops at the data's edge instead of failing the clock
            if first_day.year < years[0] or last_day.year > years[1]:
                first_day = max(first_day, date(years[0], 1, 1))
                last_day = min(last_day, date(years[1], 12, 31))
                first_y, last_y = years
                self._limit = (
                    f" (the padding stops at {first_day} and {last_day}: China's holiday data "
                    f"covers {first_y}–{last_y} only)"
                )
        origin = _wall_to_utc_ns(datetime.combine(first_day, time()), zone)
        horizon = _wall_to_utc_ns(datetime.combine(last_day + timedelta(days=1), time()), zone)
        starts, ends = self._intervals(first_day, last_day, origin)
        lengths = ends - starts
        cum_end = np.cumsum(lengths)
        self._origin, self._horizon = origin, horizon
        self._starts, self._ends, self._lengths = starts, ends, lengths
        self._cum_before = cum_end - lengths
        self._cum_end = cum_end
        self._total = int(cum_end[-1])

    def _intervals(self, first: date, last: date, origin: int) -> tuple[Int64Array, Int64Array]:
        # A zero-length interval at the origin makes index 0 always valid: every t in the span
        # has an interval starting at or before it, B(origin) = 0, and the earliest instant with
        # B = 0 is the origin itself. It merges away when the first opening is at the origin.
        zone = self.calendar.zone
        rule = DayRule(self.calendar)
        starts, ends = [origin], [origin]
        day = first
        while day <= last:
            midnight = datetime.combine(day, time())
            for r in rule.hours(day):
                a = _wall_to_utc_ns(midnight + timedelta(seconds=r.start), zone)
                b = _wall_to_utc_ns(midnight + timedelta(seconds=r.end), zone)
                if b <= a:
                    continue  # swallowed by a clock change
                if a <= ends[-1]:
                    ends[-1] = max(ends[-1], b)  # touching intervals (24:00 then 00:00) are one
                else:
                    starts.append(a)
                    ends.append(b)
            day += timedelta(days=1)
        return np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)

    # -- span -------------------------------------------------------------------------------------
    @property
    def origin(self) -> np.datetime64:
        """Where B = 0: local midnight ``pad_days`` before ``start``, as naive UTC."""
        return np.datetime64(self._origin, "ns")

    @property
    def horizon(self) -> np.datetime64:
        """The last instant the clock answers for: local midnight after ``end`` + ``pad_days``."""
        return np.datetime64(self._horizon, "ns")

    @property
    def total_seconds(self) -> float:
        """Open seconds from :attr:`origin` to :attr:`horizon`."""
        return self._total / NS

    def _checked(self, ns: Int64Array) -> tuple[Int64Array, npt.NDArray[np.bool_]]:
        missing = ns == NAT
        clean = np.where(missing, self._origin, ns) if missing.any() else ns
        if clean.size and (clean.min() < self._origin or clean.max() > self._horizon):
            outside = int(np.count_nonzero((clean < self._origin) | (clean > self._horizon)))
            lo = np.datetime64(int(clean.min()), "ns")
            hi = np.datetime64(int(clean.max()), "ns")
            raise ClockSpanError(
                f"{outside} timestamp(s) outside the clock's span {self.origin} to "
                f"{self.horizon} (UTC) of calendar '{self.calendar.name}': the values run from "
                f"{lo} to {hi}; build the clock with a span covering them{self._limit}"
            )
        return clean, missing

    def _index(self, clean: Int64Array) -> npt.NDArray[np.intp]:
        """Index of the last interval starting at or before each t (the origin sentinel: ≥ 0)."""
        i = np.searchsorted(self._starts, clean, side="right")
        i -= 1
        return i

    def _b(self, clean: Int64Array) -> Int64Array:
        i = self._index(clean)
        # np.take rather than fancy indexing: several times faster on 10M indices here. No clamp
        # at 0 is needed (unlike the SQL form): interval i starts at or before t by construction.
        into = clean - np.take(self._starts, i)
        np.minimum(into, np.take(self._lengths, i), out=into)
        into += np.take(self._cum_before, i)
        return into

    # -- arithmetic -------------------------------------------------------------------------------
    @overload
    def elapsed(self, t: TimeScalar) -> float: ...
    @overload
    def elapsed(self, t: TimeArray) -> FloatArray: ...
    def elapsed(self, t: TimeScalar | TimeArray) -> float | FloatArray:
        """B(t): open seconds from :attr:`origin` to ``t``. Only differences carry meaning."""
        clean, missing = self._checked(_times_ns(t))
        out = self._b(clean) / NS
        out[missing] = np.nan
        return float(out[0]) if _is_scalar(t) else out

    @overload
    def duration(self, a: TimeScalar, b: TimeScalar) -> float: ...
    @overload
    def duration(self, a: TimeArray, b: TimeScalar | TimeArray) -> FloatArray: ...
    @overload
    def duration(self, a: TimeScalar, b: TimeArray) -> FloatArray: ...
    def duration(self, a: TimeScalar | TimeArray, b: TimeScalar | TimeArray) -> float | FloatArray:
        """Business seconds from ``a`` to ``b``: B(b) − B(a).

        Negative when ``b`` is before ``a`` (``duration(b, a) == -duration(a, b)``), so sums of
        consecutive legs add up; clip at 0 if a reversed pair is a data error for you.
        """
        ca, ma = self._checked(_times_ns(a))
        cb, mb = self._checked(_times_ns(b))
        out = (self._b(cb) - self._b(ca)) / NS
        out[np.broadcast_to(ma, out.shape) | np.broadcast_to(mb, out.shape)] = np.nan
        return float(out[0]) if _is_scalar(a) and _is_scalar(b) else out

    @overload
    def add(self, t: TimeScalar, seconds: SecondsScalar) -> np.datetime64: ...
    @overload
    def add(self, t: TimeArray, seconds: SecondsScalar | SecondsArray) -> npt.NDArray[Any]: ...
    @overload
    def add(self, t: TimeScalar, seconds: SecondsArray) -> npt.NDArray[Any]: ...
    def add(
        self, t: TimeScalar | TimeArray, seconds: SecondsScalar | SecondsArray
    ) -> np.datetime64 | npt.NDArray[Any]:
        """The deadline ``seconds`` of business time after ``t``: the earliest u with
        B(u) = B(t) + seconds, as naive UTC datetime64[ns].

        A deadline that lands exactly on a closing time is that closing time, not the next
        opening. ``add(t, 0)`` is ``t`` itself even when closed (not pulled back to the last
        closing). Negative seconds count backwards: the earliest instant with that much business
        time left before ``t``. NaT or NaN in gives NaT out.
        """
        ct, mt = self._checked(_times_ns(t))
        s, ms = _seconds_ns(seconds)
        target = self._b(ct) + s
        missing = np.broadcast_to(mt, target.shape) | np.broadcast_to(ms, target.shape)
        bad = ~missing & ((target < 0) | (target > self._total))
        if bad.any():
            raise ClockSpanError(
                f"{int(np.count_nonzero(bad))} deadline(s) fall outside the clock's span "
                f"{self.origin} to {self.horizon} (UTC) of calendar '{self.calendar.name}'; "
                f"build the clock with a span reaching them{self._limit}"
            )
        target = np.where(missing, 0, target)
        j = np.searchsorted(self._cum_end, target, side="left")
        u = np.take(self._starts, j) + (target - np.take(self._cum_before, j))
        u = np.where(s >= 0, np.maximum(u, ct), u)
        u[missing] = NAT
        out = u.view("datetime64[ns]")
        if _is_scalar(t) and _is_scalar(seconds):
            return cast(np.datetime64, out[0])
        result: npt.NDArray[Any] = out
        return result

    @overload
    def is_open(self, t: TimeScalar) -> bool: ...
    @overload
    def is_open(self, t: TimeArray) -> npt.NDArray[np.bool_]: ...
    def is_open(self, t: TimeScalar | TimeArray) -> bool | npt.NDArray[np.bool_]:
        """Whether the calendar is open at ``t`` (intervals are closed at the start, open at the
        end: open at 09:00, closed at 17:00)."""
        clean, missing = self._checked(_times_ns(t))
        out = (clean < np.take(self._ends, self._index(clean))) & ~missing
        return bool(out[0]) if _is_scalar(t) else out

    # -- for SQL engines --------------------------------------------------------------------------
    def segments(self) -> pd.DataFrame:
        """The open intervals with the business time before each, for computing B(t) in SQL.

        Columns ``segment_start``, ``segment_end`` (naive UTC, datetime64[ns]) and
        ``cum_before_seconds`` (float64). For a timestamp t in [origin, horizon], take the last
        segment with ``segment_start <= t`` (an ASOF join, or a range join on
        [segment_start, lead(segment_start))) and compute::

            B(t) = cum_before_seconds
                   + clamp(t - segment_start, 0, segment_end - segment_start)   -- in seconds

        A business duration is B(b) − B(a). The first row may be a zero-length segment at the
        origin so that every t in the span has a segment. In DuckDB::

            SELECT e.*, s.cum_before_seconds
                   + least(greatest(epoch(e.ts) - epoch(s.segment_start), 0),
                           epoch(s.segment_end) - epoch(s.segment_start)) AS b
            FROM events e ASOF JOIN segments s ON e.ts >= s.segment_start
        """
        return pd.DataFrame(
            {
                "segment_start": self._starts.view("datetime64[ns]"),
                "segment_end": self._ends.view("datetime64[ns]"),
                "cum_before_seconds": self._cum_before / NS,
            }
        )

    def __repr__(self) -> str:
        return (
            f"BusinessClock({self.calendar.name!r}, origin={self.origin}, horizon={self.horizon}, "
            f"segments={len(self._starts)})"
        )
