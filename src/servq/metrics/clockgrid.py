"""The business clock as a table any SQL engine can equi-join: one row per UTC day.

Owns: turning a :class:`~servq.calendar.BusinessClock` into a day table keyed by
``floor(epoch_seconds / 86400)``. A row holds the business time before the day starts and the
day's open intervals (``a1..aK`` seconds after UTC midnight, lengths ``l1..lK``; K is the most
intervals any day has, shorter days are padded with empty ones). For a UTC instant t on day d,
``s`` seconds after its midnight::

    B(t) = cum_seconds[d] + Σk clamp(s − a_k[d], 0, l_k[d])

and its local wall time is t + ``offset_a`` before ``switch_s`` and t + ``offset_b`` after (the
two differ only on a day the zone changes its clock). An equi-join on an integer key runs on
every engine Ibis reaches (DuckDB, PostgreSQL, Spark, ...), where an ASOF join does not, and a
day grid stays small: ten years are 3,653 rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from servq.calendar import BusinessClock

DAY = 86_400
NS = 1_000_000_000


def _offset(zone: ZoneInfo, epoch_s: int) -> int:
    off = datetime.fromtimestamp(epoch_s, tz=UTC).astimezone(zone).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def _switch(zone: ZoneInfo, day: int, before: int) -> int:
    """Seconds after UTC midnight of ``day`` at which the zone's offset stops being ``before``."""
    lo, hi = 0, DAY - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if _offset(zone, day * DAY + mid) == before:
            lo = mid + 1
        else:
            hi = mid
    return lo


def clock_grid(clock: BusinessClock) -> pd.DataFrame:
    """Days covering the span: day, cum_seconds, a1.., l1.., offset_a, switch_s, offset_b."""
    seg = clock.segments()
    starts = seg["segment_start"].to_numpy().astype("datetime64[ns]").astype(np.int64) // NS
    ends = seg["segment_end"].to_numpy().astype("datetime64[ns]").astype(np.int64) // NS
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    origin = int(np.asarray(clock.origin).astype("datetime64[s]").astype(np.int64))
    horizon = int(np.asarray(clock.horizon).astype("datetime64[s]").astype(np.int64))
    first_day = -(-origin // DAY)  # the first whole UTC day inside the span: B is defined there
    last_day = horizon // DAY - 1
    days = np.arange(first_day, last_day + 1, dtype=np.int64)
    # split every open interval at UTC midnights into pieces, one per day it touches
    d0 = starts // DAY
    d1 = (ends - 1) // DAY
    counts = d1 - d0 + 1
    seg_idx = np.repeat(np.arange(len(starts)), counts)
    piece_day = d0[seg_idx] + (
        np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    )
    piece_a = np.maximum(starts[seg_idx], piece_day * DAY) - piece_day * DAY
    piece_b = np.minimum(ends[seg_idx], (piece_day + 1) * DAY) - piece_day * DAY
    inside = (piece_day >= first_day) & (piece_day <= last_day)
    piece_day, piece_a, piece_b = piece_day[inside], piece_a[inside], piece_b[inside]
    row = piece_day - first_day
    order = np.lexsort((piece_a, row))
    row, piece_a, piece_b = row[order], piece_a[order], piece_b[order]
    per_day = np.bincount(row, minlength=len(days)) if len(row) else np.zeros(len(days), int)
    k_max = max(int(per_day.max()) if len(per_day) else 0, 1)
    rank = np.arange(len(row)) - np.repeat(np.cumsum(per_day) - per_day, per_day)
    a = np.zeros((len(days), k_max), dtype=np.float64)
    length = np.zeros((len(days), k_max), dtype=np.float64)
    a[row, rank] = piece_a
    length[row, rank] = piece_b - piece_a
    day_starts = (days * DAY).astype("datetime64[s]")
    cum = np.asarray(clock.elapsed(day_starts), dtype=np.float64)
    zone = clock.calendar.zone
    local = pd.DatetimeIndex(day_starts.astype("datetime64[ns]"), tz="UTC").tz_convert(zone)
    offset_a = (local.tz_localize(None).asi8 // NS - days * DAY).astype(np.int64)
    ends_local = pd.DatetimeIndex(
        ((days + 1) * DAY - 1).astype("datetime64[s]").astype("datetime64[ns]"), tz="UTC"
    ).tz_convert(zone)
    offset_b = (ends_local.tz_localize(None).asi8 // NS - ((days + 1) * DAY - 1)).astype(np.int64)
    switch = np.full(len(days), DAY, dtype=np.int64)
    for i in np.nonzero(offset_a != offset_b)[0]:  # only the zone's clock-change days
        switch[i] = _switch(zone, int(days[i]), int(offset_a[i]))
    out = {"day": days, "cum_seconds": cum}
    for k in range(k_max):
        out[f"a{k + 1}"] = a[:, k]
        out[f"l{k + 1}"] = length[:, k]
    out |= {"offset_a": offset_a, "switch_s": switch, "offset_b": offset_b}
    return pd.DataFrame(out)


def _k(grid: ir.Table) -> int:
    return sum(1 for c in grid.columns if c.startswith("a") and c[1:].isdigit())


def business_seconds(grid: ir.Table) -> Callable[[ir.Table, str, str, str], ir.Table]:
    """A ``seconds`` function for the fact builders: B(end) − B(start) through the grid."""
    k_max = _k(grid)
    g = grid.rename({"day_key": "day"})

    def b_of(t: ir.Table, column: str, tag: str) -> tuple[ir.Table, list[str]]:
        key = f"_{tag}_d"
        t = t.mutate(**{key: (t[column].epoch_seconds() // DAY).cast("int64")})
        cols = ["day_key", "cum_seconds", *[f"{p}{k + 1}" for k in range(k_max) for p in "al"]]
        sel = g.select(**{f"_{tag}_{c}": g[c] for c in cols})
        t = t.left_join(sel, t[key] == sel[f"_{tag}_day_key"])
        s = (t[column].epoch_seconds() - t[key] * DAY).cast("float64")
        total = t[f"_{tag}_cum_seconds"]
        for k in range(1, k_max + 1):
            into = s - t[f"_{tag}_a{k}"]
            total = total + ibis.greatest(ibis.least(into, t[f"_{tag}_l{k}"]), 0.0)
        t = t.mutate(**{f"_{tag}_b": total})
        return t, [key, *[f"_{tag}_{c}" for c in cols]]

    def seconds(t: ir.Table, start: str, end: str, out: str) -> ir.Table:
        t, drop_a = b_of(t, start, f"{out}_s")
        t, drop_b = b_of(t, end, f"{out}_e")
        value = ibis.ifelse(
            t[start].notnull() & t[end].notnull(), t[f"_{out}_e_b"] - t[f"_{out}_s_b"], ibis.null()
        ).cast("float64")
        return t.mutate(**{out: value}).drop(*drop_a, *drop_b, f"_{out}_s_b", f"_{out}_e_b")

    return seconds


def with_local_time(t: ir.Table, grid: ir.Table, column: str, out: str) -> ir.Table:
    """Add column ``out``: ``column`` (UTC) as wall time in the grid's zone."""
    g = grid.rename({"day_key": "day"})
    key = f"_{out}_d"
    t = t.mutate(**{key: (t[column].epoch_seconds() // DAY).cast("int64")})
    sel = g.select(
        **{
            f"_{out}_k": g.day_key,
            f"_{out}_oa": g.offset_a,
            f"_{out}_sw": g.switch_s,
            f"_{out}_ob": g.offset_b,
        }
    )
    t = t.left_join(sel, t[key] == sel[f"_{out}_k"])
    s = t[column].epoch_seconds() - t[key] * DAY
    offset = ibis.ifelse(s < t[f"_{out}_sw"], t[f"_{out}_oa"], t[f"_{out}_ob"])
    t = t.mutate(**{out: t[column] + offset.as_interval("s")})
    return t.drop(key, f"_{out}_k", f"_{out}_oa", f"_{out}_sw", f"_{out}_ob")
