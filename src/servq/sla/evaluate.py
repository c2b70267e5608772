"""SLA evaluation: every case's targets under a policy, their deadlines, states and attainment.

Owns: turning the warehouse (case facts and the case_event log) into one row per case × target
with its business-time deadline, and ``attainment`` over those rows. All clock arithmetic is
vectorised over every target at once with :class:`servq.calendar.BusinessClock`; pandas groupbys
and merges over events stand in for per-case loops.

What a target measures (start → stop):

- ``first_reply``: created → the case's first reply as case facts define it (the first agent
  reply; the second one when an agent created the case; else the first move to ``open``).
- ``next_reply``: a customer message after the first reply → the next agent reply. A message
  is an event by a ``customer`` actor that is not ``created`` and not private, or an activity
  ``customer_replied``; an agent reply is what case facts count as one. Several customer
  messages before a reply are one cycle, timed from the first. A cycle the case is solved,
  closed or cancelled in before any reply is dropped: nobody waits for that answer.
  ``next_reply="worst"`` (the default) keeps one row per case, its worst cycle;
  ``"each"`` keeps every cycle (column ``cycle`` numbers them from 1).
- ``resolution``: created → the start of the case's final run of solved/closed statuses, i.e.
  the latest solve when reopen cycles happened. A reopened case runs again until it is solved
  again; a cancelled case has no resolution target.

A target that never stopped is dropped when the case ended without it (a case solved without a
reply has no first-reply row).

The clock stops while the case is in one of the policy's pause statuses, read from the status
history in case_event (a status holds from its event to the next status event); with
``solved`` among them, the time between a solve and a reopen is not counted either. Elapsed
time is business time from start to stop (or ``as_of``) minus paused business time; the
deadline is the earliest instant whose unpaused business time since start equals the target,
so only pauses before the deadline push it (a pause after a breach does not move the deadline
past it). A pause still running at ``as_of`` pushes the deadline as if it ended at ``as_of``.

States: ``achieved`` (stopped with elapsed < target), ``breached`` (elapsed ≥ target, stopped
or not: a breach is at the due instant itself), ``paused`` (running, case in a pause status),
``at_risk`` (running, elapsed ≥ warn_at × target), ``active`` (running).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from servq.calendar import BusinessClock, CalendarSpec
from servq.calendar.clock import DEFAULT_PAD_DAYS
from servq.errors import ServqError
from servq.metrics.facts import REPLY_ACTIVITIES, case_facts
from servq.sla.model import DONE_STATUSES, TARGETS, SlaPolicy, TargetName, workday_seconds
from servq.sla.registry import CALENDAR_FOLDER, POLICY_FOLDER, load_policy
from servq.warehouse.store import Warehouse
from servq.workspace import Workspace

if TYPE_CHECKING:
    from datetime import datetime

STATES = ("active", "at_risk", "paused", "achieved", "breached")
# for next_reply="worst": the cycle a case is judged by is the first in this order
_SEVERITY = {"breached": 0, "at_risk": 1, "paused": 2, "active": 3, "achieved": 4}
DIMENSIONS = ("priority", "channel", "category", "team", "agent", "site", "region")
COLUMNS = (
    "source_system",
    "case_id",
    "target",
    "cycle",
    "rule",
    *DIMENSIONS,
    "created_at",
    "target_seconds",
    "started_at",
    "due_at",
    "stopped_at",
    "ended_at",
    "state",
    "elapsed_seconds",
    "paused_seconds",
    "seconds_left",
)
_TIMES = ("created_at", "first_reply_at", "resolved_at", "closed_at")
_CASE_COLUMNS = ("source_system", "case_id", "status", *DIMENSIONS, *_TIMES)
_EVENT_COLUMNS = (
    "source_system",
    "case_id",
    "event_id",
    "timestamp",
    "status",
    "activity",
    "actor_type",
    "public",
)
NS = 1_000_000_000
# float business seconds are exact to the nanosecond for real spans; rounding to the
# microsecond removes the last-bit noise so that "elapsed == target" compares equal
_DIGITS = 6

DatetimeArray = npt.NDArray[np.datetime64]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class Schedule(NamedTuple):
    """Per target: deadline (NaT beyond the calendar's known years), elapsed and paused time."""

    due: DatetimeArray
    elapsed: FloatArray
    paused: FloatArray


def _ns(values: Any) -> DatetimeArray:
    arr: DatetimeArray = np.asarray(values, dtype="datetime64[ns]")
    return arr


def schedule(
    clock: BusinessClock,
    started: DatetimeArray,
    ended: DatetimeArray,
    target_seconds: FloatArray,
    pause_row: IntArray,
    pause_start: DatetimeArray,
    pause_end: DatetimeArray,
) -> Schedule:
    """Deadlines and elapsed business time of many targets at once, with pauses.

    Target ``i`` runs from ``started[i]`` to ``ended[i]`` (its stop, or the evaluation time);
    pause ``j`` of target ``pause_row[j]`` lasts from ``pause_start[j]`` to ``pause_end[j]``
    (pauses of one target must not overlap; they are clipped to the target's run). The
    deadline is the earliest u with B(u) − B(start) − paused business time before u = target.
    """
    n = len(started)
    started, ended = _ns(started), _ns(ended)
    ended = np.maximum(ended, started)
    target = np.asarray(target_seconds, dtype=np.float64)
    b_start = clock.elapsed(started)
    b_end = clock.elapsed(ended)

    rows = np.asarray(pause_row, dtype=np.intp)
    ps = np.maximum(_ns(pause_start), started[rows])
    pe = np.minimum(_ns(pause_end), ended[rows])
    keep = pe > ps
    rows, ps, pe = rows[keep], ps[keep], pe[keep]
    order = np.lexsort((ps, rows))
    rows, ps, pe = rows[order], ps[order], pe[order]
    b_ps = clock.elapsed(ps)
    length = clock.elapsed(pe) - b_ps
    paused = np.bincount(rows, weights=length, minlength=n).astype(np.float64)
    # unpaused business time of the target when each pause begins
    paused_before = pd.Series(length).groupby(rows).cumsum().to_numpy() - length
    active_at = b_ps - b_start[rows] - paused_before

    # The deadline lies in the stretch of running time before the first pause that begins once
    # the target is used up; that stretch starts at the previous pause's end (or the start).
    gap = started.copy()
    active_gap = np.zeros(n, dtype=np.float64)
    with_pauses = np.unique(rows)
    last = np.searchsorted(rows, with_pauses, side="right") - 1
    gap[with_pauses] = pe[last]
    active_gap[with_pauses] = active_at[last]
    hits = np.flatnonzero(np.round(active_at, _DIGITS) >= target[rows])
    hit_rows, first = np.unique(rows[hits], return_index=True)
    k = hits[first]
    prev = np.maximum(k - 1, 0)
    has_prev = (k > 0) & (rows[prev] == hit_rows)
    gap[hit_rows] = np.where(has_prev, pe[prev], started[hit_rows])
    active_gap[hit_rows] = np.where(has_prev, active_at[prev], 0.0)
    remaining = target - active_gap

    # a deadline past the last year the calendar knows (China's holidays) stays NaT rather
    # than failing the whole evaluation: the state needs only elapsed time
    due = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    reachable = clock.elapsed(gap) + remaining <= clock.total_seconds - 1.0
    if reachable.any():
        due[reachable] = clock.add(gap[reachable], remaining[reachable])
    elapsed = np.maximum(np.round(b_end - b_start - paused, _DIGITS), 0.0)
    return Schedule(due, elapsed, np.round(paused, _DIGITS))


def pad_days(calendar: CalendarSpec, longest_seconds: float) -> int:
    """Days of padding a clock needs past the data so the longest target's deadline fits."""
    week = [calendar.hours.override(d) for d in range(7)]
    hours = [
        (w if w is not None else calendar.hours.workday) if d < 5 else (w or ())
        for d, w in enumerate(week)
    ]
    weekly = sum(r.end - r.start for day in hours for r in day)
    if weekly <= 0:
        return 2 * 366
    days = longest_seconds / weekly * 7
    # a quarter more plus a month covers public holidays (China's longest break is 8–9 days)
    return max(DEFAULT_PAD_DAYS, math.ceil(days * 1.25) + 30)


# -- reading the warehouse --------------------------------------------------------------------


def _source(source: Workspace | Warehouse) -> tuple[Warehouse, Path | None]:
    if isinstance(source, Workspace):
        return source.warehouse, source.path
    if isinstance(source, Warehouse):
        return source, None
    raise ServqError(f"evaluate needs a Workspace or a Warehouse, not a {type(source).__name__}")


def _to_utc(value: datetime | np.datetime64 | pd.Timestamp | str) -> np.datetime64:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ServqError(f"cannot read '{value}' as a time (use ISO 8601)") from None
    if pd.isna(ts):
        raise ServqError("as_of cannot be empty")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return np.datetime64(ts.as_unit("ns").value, "ns")


def _load(wh: Warehouse) -> tuple[pd.DataFrame, pd.DataFrame]:
    cases: pd.DataFrame = case_facts(wh).select(*_CASE_COLUMNS).to_pandas()
    events: pd.DataFrame = wh.table("case_event").select(*_EVENT_COLUMNS).to_pandas()
    for col in _TIMES:
        cases[col] = cases[col].astype("datetime64[ns]")
    events["timestamp"] = events["timestamp"].astype("datetime64[ns]")
    return cases, events


def _newest(cases: pd.DataFrame, events: pd.DataFrame) -> np.datetime64 | None:
    found = [cases[c].max() for c in _TIMES] + [events["timestamp"].max()]
    found = [t for t in found if not pd.isna(t)]
    if not found:
        return None
    return _to_utc(max(found))


class _History(NamedTuple):
    """The status log read as intervals, and what it says about each case at ``as_of``."""

    pauses: pd.DataFrame  # ci, start, end
    resolved: DatetimeArray  # start of the final solved/closed run, else NaT
    done: npt.NDArray[np.bool_]  # solved, closed or cancelled at as_of
    cancelled: npt.NDArray[np.bool_]
    paused_now: npt.NDArray[np.bool_]
    done_events: pd.DataFrame  # ci, done_at: every move to a done status


def _history(
    cases: pd.DataFrame, events: pd.DataFrame, as_of: np.datetime64, pause: Sequence[str]
) -> _History:
    n = len(cases)
    st = events[events["status"].notna()].sort_values(
        ["ci", "timestamp", "event_id"], kind="stable"
    )
    st = st.assign(until=st.groupby("ci")["timestamp"].shift(-1).fillna(as_of))
    last = st.groupby("ci").tail(1)
    current = pd.Series(pd.NA, index=range(n), dtype="object")
    current[last["ci"].to_numpy()] = last["status"].to_numpy()
    logged = current.notna().to_numpy()
    # cases without any status event: the case row is all there is
    case_status = cases["status"].astype("object")
    fallback_stop = cases["resolved_at"].fillna(cases["closed_at"]).to_numpy("datetime64[ns]")
    status = current.where(logged, case_status)

    is_done = st["status"].isin(DONE_STATUSES)
    st = st.assign(pos=st.groupby("ci").cumcount())
    last_active = st[~is_done].groupby("ci")["pos"].max()
    run = st[st["pos"] > st["ci"].map(last_active).fillna(-1)]
    run_start = run.groupby("ci")["timestamp"].min()
    resolved = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    resolved[run_start.index.to_numpy()] = run_start.to_numpy("datetime64[ns]")
    resolved = np.where(logged, resolved, fallback_stop)
    cancelled = (status == "cancelled").to_numpy(dtype=bool)
    resolved[cancelled] = np.datetime64("NaT")
    done = status.isin(DONE_STATUSES).to_numpy(dtype=bool) | (~logged & ~np.isnat(resolved))

    in_pause = st[st["status"].isin(pause)]
    pauses = pd.DataFrame(
        {"ci": in_pause["ci"], "start": in_pause["timestamp"], "end": in_pause["until"]}
    )
    paused_now = (logged & current.isin(pause).to_numpy(dtype=bool)) & ~done
    done_events = st.loc[is_done, ["ci", "timestamp"]].rename(columns={"timestamp": "done_at"})
    return _History(pauses, resolved, done, cancelled, paused_now, done_events)


def _reply_cycles(
    cases: pd.DataFrame, events: pd.DataFrame, done_events: pd.DataFrame
) -> pd.DataFrame:
    """Next-reply cycles: ci, start (first unanswered customer message), stop (the reply)."""
    public = events["public"].astype("boolean")
    actor = events["actor_type"].astype("object")
    activity = events["activity"].astype("object")
    is_agent = (
        activity.isin(REPLY_ACTIVITIES) | ((actor == "agent") & public.fillna(True))
    ).to_numpy(dtype=bool)
    is_customer = (
        ((actor == "customer") & public.fillna(True) & (activity != "created"))
        | (activity == "customer_replied")
    ).to_numpy(dtype=bool) & ~is_agent
    msgs = events.loc[is_customer, ["ci", "timestamp"]]
    first_reply = cases["first_reply_at"].to_numpy("datetime64[ns]")[msgs["ci"].to_numpy()]
    # messages before the first reply are what the first_reply target already times
    msgs = msgs[msgs["timestamp"].to_numpy() > first_reply].sort_values("timestamp")
    if msgs.empty:
        return pd.DataFrame({"ci": [], "start": [], "stop": []}).astype(
            {"ci": np.intp, "start": "datetime64[ns]", "stop": "datetime64[ns]"}
        )
    replies = (
        events.loc[is_agent, ["ci", "timestamp"]]
        .rename(columns={"timestamp": "reply_at"})
        .sort_values("reply_at")
    )
    m = pd.merge_asof(
        msgs, replies, left_on="timestamp", right_on="reply_at", by="ci", direction="forward"
    )
    m = pd.merge_asof(
        m,
        done_events.sort_values("done_at"),
        left_on="timestamp",
        right_on="done_at",
        by="ci",
        direction="forward",
    )
    unanswered = m["done_at"].notna() & (m["reply_at"].isna() | (m["done_at"] < m["reply_at"]))
    m = m[~unanswered]
    cycles = m.groupby(["ci", "reply_at"], dropna=False)["timestamp"].min().reset_index()
    return cycles.rename(columns={"timestamp": "start", "reply_at": "stop"})


def _target_seconds(
    policy: SlaPolicy, rule: IntArray, target: TargetName, workday: float
) -> FloatArray:
    per_rule = np.array(
        [
            r.targets[target].total_seconds(workday) if target in r.targets else np.nan
            for r in policy.rules
        ]
        + [np.nan],  # rule −1: no rule matched
        dtype=np.float64,
    )
    out: FloatArray = per_rule[rule]
    return out


def _empty(policy: str, as_of: np.datetime64 | None) -> pd.DataFrame:
    df = pd.DataFrame({c: [] for c in COLUMNS})
    for c in ("created_at", "started_at", "due_at", "stopped_at", "ended_at"):
        df[c] = df[c].astype("datetime64[ns]")
    for c in ("target_seconds", "elapsed_seconds", "paused_seconds", "seconds_left"):
        df[c] = df[c].astype("float64")
    df["cycle"] = df["cycle"].astype("int64")
    df.attrs.update(policy=policy, as_of=None if as_of is None else pd.Timestamp(as_of))
    return df


def evaluate(
    source: Workspace | Warehouse,
    policy: SlaPolicy | str | Path,
    *,
    as_of: datetime | np.datetime64 | pd.Timestamp | str | None = None,
    next_reply: Literal["worst", "each"] = "worst",
) -> pd.DataFrame:
    """One row per case × target of ``policy``, as known at ``as_of``.

    ``policy`` is a policy, a name (built-in, or from ``<workspace>/sla`` when ``source`` is a
    workspace) or a YAML path. ``as_of`` (naive = UTC) defaults to the newest timestamp in the
    data, not the wall clock, so the same data always gives the same answer; events after it
    are ignored and cases created after it are left out.

    Columns: see :data:`COLUMNS`; times are naive UTC, seconds are business seconds.
    ``df.attrs`` holds the ``policy`` name and the ``as_of`` time used.
    """
    if next_reply not in ("worst", "each"):
        raise ServqError(f"next_reply must be 'worst' or 'each', not {next_reply!r}")
    wh, root = _source(source)
    calendar_folders = [root / CALENDAR_FOLDER] if root is not None else None
    pol = load_policy(
        policy,
        [root / POLICY_FOLDER] if root is not None else None,
        calendar_folders=calendar_folders,
    )
    calendar = pol.calendar_spec(calendar_folders)
    cases, events = _load(wh)
    cutoff = _to_utc(as_of) if as_of is not None else _newest(cases, events)
    if cutoff is None:
        return _empty(pol.name, None)

    cases = cases[cases["created_at"].notna() & (cases["created_at"] <= cutoff)]
    cases = cases.reset_index(drop=True)
    for col in _TIMES:
        cases[col] = cases[col].where(cases[col] <= cutoff)
    ids = cases[["source_system", "case_id"]].assign(ci=np.arange(len(cases), dtype=np.intp))
    events = events[events["timestamp"] <= cutoff].merge(ids, on=["source_system", "case_id"])
    if cases.empty:
        return _empty(pol.name, cutoff)

    hist = _history(cases, events, cutoff, pol.pause_statuses)
    rule = pol.match(cases)
    workday = workday_seconds(calendar)
    created = cases["created_at"].to_numpy("datetime64[ns]")
    first_reply = cases["first_reply_at"].to_numpy("datetime64[ns]")

    parts = []
    all_cases = np.arange(len(cases), dtype=np.intp)
    for target in TARGETS:
        seconds = _target_seconds(pol, rule, target, workday)
        if target == "next_reply":
            cyc = _reply_cycles(cases, events, hist.done_events)
            ci = cyc["ci"].to_numpy(dtype=np.intp)
            start, stop = cyc["start"].to_numpy("datetime64[ns]"), cyc["stop"].to_numpy()
        else:
            ci = all_cases
            start = created
            stop = first_reply if target == "first_reply" else hist.resolved
            if target == "resolution":
                ci = ci[~hist.cancelled]
                start, stop = start[ci], stop[ci]
        part = pd.DataFrame(
            {
                "ci": ci,
                "target": target,
                "target_seconds": seconds[ci],
                "started_at": start,
                "stopped_at": _ns(stop),
            }
        )
        parts.append(part[part["target_seconds"].notna()])
    rows = pd.concat(parts, ignore_index=True)
    # a target still running on a case that has ended will never stop: it does not count
    ci = rows["ci"].to_numpy(dtype=np.intp)
    rows = rows[~(rows["stopped_at"].isna().to_numpy() & hist.done[ci])].reset_index(drop=True)
    if rows.empty:
        return _empty(pol.name, cutoff)
    ci = rows["ci"].to_numpy(dtype=np.intp)
    rows["cycle"] = rows.sort_values("started_at").groupby(["ci", "target"]).cumcount() + 1

    started = rows["started_at"].to_numpy("datetime64[ns]")
    stopped = rows["stopped_at"].to_numpy("datetime64[ns]")
    ended = np.where(np.isnat(stopped), cutoff, stopped)
    target_s = rows["target_seconds"].to_numpy(np.float64)
    clock = BusinessClock(
        calendar, started.min(), cutoff, pad_days=pad_days(calendar, float(target_s.max()))
    )
    links = hist.pauses.merge(pd.DataFrame({"ci": ci, "row": np.arange(len(rows))}), on="ci")
    sch = schedule(
        clock,
        started,
        ended,
        target_s,
        links["row"].to_numpy(np.intp),
        links["start"].to_numpy("datetime64[ns]"),
        links["end"].to_numpy("datetime64[ns]"),
    )

    is_stopped = ~np.isnat(stopped)
    over = sch.elapsed >= target_s
    state = np.select(
        [
            is_stopped & ~over,
            over,
            hist.paused_now[ci],
            sch.elapsed >= np.round(pol.warn_at * target_s, _DIGITS),
        ],
        ["achieved", "breached", "paused", "at_risk"],
        "active",
    )
    rows["due_at"] = sch.due
    rows["ended_at"] = np.where(is_stopped, stopped, np.where(over, sch.due, np.datetime64("NaT")))
    rows["state"] = state
    rows["elapsed_seconds"] = sch.elapsed
    rows["paused_seconds"] = sch.paused
    rows["seconds_left"] = np.round(target_s - sch.elapsed, _DIGITS)
    labels = np.array([r.label(i) for i, r in enumerate(pol.rules)] + [""], dtype=object)
    rows["rule"] = labels[rule[ci]]
    for col in ("source_system", "case_id", *DIMENSIONS, "created_at"):
        rows[col] = cases[col].to_numpy()[ci]

    if next_reply == "worst":
        rows["_severity"] = rows["state"].map(_SEVERITY)
        rows = rows.sort_values(["ci", "target", "_severity", "seconds_left"], kind="stable")
        rows = rows.groupby(["ci", "target"], sort=False).head(1)
    rows["_order"] = rows["target"].map({t: i for i, t in enumerate(TARGETS)})
    rows = rows.sort_values(["source_system", "case_id", "_order", "cycle"], kind="stable")
    out: pd.DataFrame = rows[list(COLUMNS)].reset_index(drop=True)
    out["cycle"] = out["cycle"].astype("int64")
    out["created_at"] = out["created_at"].astype("datetime64[ns]")
    out["ended_at"] = out["ended_at"].astype("datetime64[ns]")
    out.attrs.update(policy=pol.name, as_of=pd.Timestamp(cutoff))
    return out


def attainment(df: pd.DataFrame, by: str | Sequence[str] = ()) -> pd.DataFrame:
    """SLA attainment per target (and ``by`` columns) from :func:`evaluate` rows.

    attainment = achieved / (achieved + breached): targets met over targets that ended, as the
    glossary defines SLA attainment; running targets (active, at risk, paused) are counted but
    left out of the ratio. NaN when no target ended. Columns: target, *by, one count per state,
    total, ended, attainment.
    """
    keys = ["target", *([by] if isinstance(by, str) else list(by))]
    missing = [k for k in keys if k not in df.columns]
    if missing:
        known = ", ".join(c for c in df.columns if df[c].dtype.kind in "OSUT" or c in DIMENSIONS)
        raise ServqError(f"cannot group by {', '.join(missing)}: use one of {known}")
    if df.empty:
        counts = pd.DataFrame(columns=[*keys, *STATES])
    else:
        counts = (
            df.groupby([*keys, "state"], dropna=False)
            .size()
            .unstack("state", fill_value=0)
            .reindex(columns=list(STATES), fill_value=0)
            .reset_index()
        )
        counts.columns.name = None
    for s in STATES:
        counts[s] = counts[s].astype("int64")
    counts["total"] = counts[list(STATES)].sum(axis=1).astype("int64")
    counts["ended"] = (counts["achieved"] + counts["breached"]).astype("int64")
    ended = counts["ended"].astype("float64")
    counts["attainment"] = (counts["achieved"] / ended.where(ended > 0)).astype("float64")
    counts["_order"] = counts["target"].map({t: i for i, t in enumerate(TARGETS)})
    counts = counts.sort_values(["_order", *keys[1:]], kind="stable", na_position="last")
    out: pd.DataFrame = counts.drop(columns="_order").reset_index(drop=True)
    return out
