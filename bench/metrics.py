"""bench/metrics: the standard ticket catalogue by team × week over 10M synthetic cases.

Builds once (cached under ``bench/.cache/``) a warehouse of N synthetic cases written straight
into ``case`` with DuckDB SQL, plus the event log servq's ``tickets`` profile derives from such
rows (created, first reply, solved, closed) and, for some cases, a reopen cycle and an on-hold
spell: about 4 events a case (~90 s for 10M cases and 40M events). Without events, reopen rate,
one-touch rate, next reply time and the status-log durations would be constants or empty, so
the default includes them; ``--no-events`` measures the case table alone.

Then, each in its own child process (wall and CPU seconds of the call, peak RSS of the process):

- servq: ``ws.metrics(METRICS, by="team", grain="week")`` in calendar time, and again with
  ``calendar="cn-office"`` (business time, China office hours; periods in Asia/Shanghai);
- plain pandas: the same rows read from DuckDB into pandas (read time reported apart, not
  counted), then servq's fact definitions and a groupby team × week; in business time too,
  with servq's numpy :class:`~servq.calendar.BusinessClock` in place of the SQL clock grid.
  pandas runs on one core, DuckDB on all of them.

Every number is compared between servq and pandas before any figure is printed: a benchmark of
different numbers proves nothing. Snapshot metrics (backlog, overdue) are timed apart with
``--snapshots`` (servq only). On a shared machine use ``--repeat 3`` (the fastest run counts)
and read the CPU seconds too. Issue goal: <= 2 s on DuckDB, >= 1.5x faster than pandas,
business time <= 2x its calendar-time cost.

    .venv/bin/python bench/metrics.py [--cases 10000000] [--repeat 1] [--no-events]
                                      [--no-pandas-business] [--snapshots]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CACHE = Path(__file__).resolve().parent / ".cache"
GENERATOR = 1  # bump when the synthetic data changes: the cached warehouse is rebuilt

METRICS = (
    "cases_created",
    "first_reply_time",
    "first_resolution_time",
    "full_resolution_time",
    "reopen_rate",
    "one_touch_rate",
    "repeat_complaint_rate",
    "closure_rate",
    "on_time_completion_rate",
    "next_reply_time",
    "requester_wait_time",
    "agent_work_time",
    "on_hold_time",
)
SNAPSHOTS = ("backlog", "overdue")
CALENDAR = "cn-office"
GOAL_SECONDS = 2.0
GOAL_PANDAS_RATIO = 1.5
GOAL_BUSINESS_RATIO = 2.0
QUANTILES = {"median": 0.5, "p50": 0.5, "p90": 0.9, "p95": 0.95}

# -- the synthetic warehouse -------------------------------------------------------------------

CREATED_SPAN_DAYS = 340  # created_at over 2025-01-01 .. 2025-12-06; every timestamp stays in 2025

CASES_SQL = """
INSERT INTO "case" BY NAME
WITH r AS (
  SELECT i,
    hash(i, 'team') % 20 AS team_n,
    hash(i, 'agent') % 15 AS agent_n,
    hash(i, 'customer') % {customers} AS cust_n,
    (hash(i, 'anon') % 1000000) / 1e6 AS u_anon,
    (hash(i, 'fav') % 1000000) / 1e6 AS u_fav,
    (hash(i, 'priority') % 1000000) / 1e6 AS u_pri,
    (hash(i, 'replied') % 1000000) / 1e6 AS u_replied,
    (hash(i, 'reply') % 1000000) / 1e6 AS u_reply,
    (hash(i, 'open') % 1000000) / 1e6 AS u_open,
    (hash(i, 'resolve') % 1000000) / 1e6 AS u_resolve,
    (hash(i, 'closed') % 1000000) / 1e6 AS u_closed,
    (hash(i, 'close') % 1000000) / 1e6 AS u_close,
    (hash(i, 'due') % 1000000) / 1e6 AS u_due,
    (hash(i, 'status') % 1000000) / 1e6 AS u_status,
    -- i * prime mod span: every case its own second (no ties for the repeat-complaint window)
    TIMESTAMP '2025-01-01' + to_seconds((i * 7368787) % {span}) AS created_at
  FROM range({n}) AS t(i)
), s AS (
  SELECT *,
    -- half the cases of a customer are about the customer's usual category: repeats happen
    CASE WHEN u_fav < 0.5 THEN hash(cust_n, 'usual') % 7 ELSE hash(i, 'category') % 7 END
      AS cat_n,
    CASE WHEN u_pri < 0.3 THEN 'low' WHEN u_pri < 0.8 THEN 'normal'
         WHEN u_pri < 0.95 THEN 'high' ELSE 'urgent' END AS priority,
    CASE WHEN u_replied < 0.95 THEN created_at
      + to_seconds(30 + least(CAST(-ln(1 - u_reply) * 7200 AS BIGINT), 5 * 86400)) END
      AS first_reply_at
  FROM r
), u AS (
  SELECT *,
    CASE WHEN u_open >= 0.10 THEN coalesce(first_reply_at, created_at)
      + to_seconds(600 + least(CAST(-ln(1 - u_resolve) * 108000 AS BIGINT), 12 * 86400)) END
      AS resolved_at
  FROM s
), v AS (
  SELECT *,
    CASE WHEN resolved_at IS NOT NULL AND u_closed < 0.93 THEN resolved_at
      + to_seconds(60 + least(CAST(-ln(1 - u_close) * 43200 AS BIGINT), 5 * 86400)) END
      AS closed_at
  FROM u
)
SELECT
  'helpdesk' AS source_system,
  'T' || lpad(CAST(i AS VARCHAR), 9, '0') AS case_id,
  'ticket' AS kind,
  (['phone', 'chat', 'email', 'app', 'walk_in'])[1 + CAST(hash(i, 'channel') % 5 AS INTEGER)]
    AS channel,
  (['退款', '物流配送', '账户问题', '产品质量', '服务态度', '费用争议', '维修安装'])
    [1 + CAST(cat_n AS INTEGER)] AS category,
  priority,
  CASE WHEN closed_at IS NOT NULL THEN 'closed' WHEN resolved_at IS NOT NULL THEN 'solved'
       WHEN u_status < 0.6 THEN 'open' WHEN u_status < 0.9 THEN 'pending'
       ELSE 'cancelled' END AS status,
  CASE WHEN u_anon >= 0.02 THEN 'U' || CAST(cust_n AS VARCHAR) END AS customer_id,
  'team-' || lpad(CAST(team_n + 1 AS VARCHAR), 2, '0') AS team,
  'agent-' || lpad(CAST(team_n * 15 + agent_n + 1 AS VARCHAR), 3, '0') AS agent,
  (['上海徐汇店', '北京朝阳店', '广州天河店', '深圳南山店', '成都锦江店', '杭州西湖店'])
    [1 + CAST(hash(i, 'site') % 6 AS INTEGER)] AS site,
  created_at, first_reply_at, resolved_at, closed_at,
  CASE WHEN u_due < 0.97 THEN created_at + to_hours(CASE priority WHEN 'urgent' THEN 4
    WHEN 'high' THEN 24 WHEN 'normal' THEN 48 ELSE 72 END) END AS due_at,
  greatest(created_at, first_reply_at, resolved_at, closed_at) AS updated_at,
  'synthetic' AS source, 'bench' AS batch_id, TIMESTAMP '2026-01-01' AS ingested_at,
  CAST(hash(i) >> 1 AS BIGINT) AS row_hash
FROM v
"""

# The four events the tickets profile derives, plus for 5% of resolved cases a reopen cycle
# (solved halfway, reopened by the customer, solved again at resolved_at) and for 10% an
# on-hold spell (on hold at 20%, back to open at 35% of the way to resolution).
EVENTS_SQL = """
INSERT INTO case_event_stored BY NAME
WITH c AS (
  SELECT source_system, case_id, agent, created_at, first_reply_at, resolved_at, closed_at,
    epoch(resolved_at) - epoch(created_at) AS res_s,
    resolved_at IS NOT NULL AND hash(case_id, 'reopen') % 100 < 5 AS reopened,
    resolved_at IS NOT NULL AND hash(case_id, 'hold') % 100 < 10 AS held
  FROM "case"
), e AS (
  SELECT source_system, case_id, 'created' AS activity, created_at AS ts,
    CAST(NULL AS VARCHAR) AS actor, 'customer' AS actor_type, 'new' AS status FROM c
  UNION ALL
  SELECT source_system, case_id, 'first_reply', first_reply_at, agent, 'agent', NULL
  FROM c WHERE first_reply_at IS NOT NULL
  UNION ALL
  SELECT source_system, case_id, 'solved', resolved_at, agent, 'agent', 'solved'
  FROM c WHERE resolved_at IS NOT NULL
  UNION ALL
  SELECT source_system, case_id, 'closed', closed_at, NULL, 'system', 'closed'
  FROM c WHERE closed_at IS NOT NULL
  UNION ALL
  SELECT source_system, case_id, 'solved',
    created_at + to_seconds(CAST(floor(res_s * 0.5) AS BIGINT)), agent, 'agent', 'solved'
  FROM c WHERE reopened
  UNION ALL
  SELECT source_system, case_id, 'reopened',
    created_at + to_seconds(CAST(floor(res_s * 0.7) AS BIGINT)), NULL, 'customer', 'open'
  FROM c WHERE reopened
  UNION ALL
  SELECT source_system, case_id, 'on_hold',
    created_at + to_seconds(CAST(floor(res_s * 0.2) AS BIGINT)), NULL, 'system', 'on_hold'
  FROM c WHERE held
  UNION ALL
  SELECT source_system, case_id, 'resumed',
    created_at + to_seconds(CAST(floor(res_s * 0.35) AS BIGINT)), NULL, 'system', 'open'
  FROM c WHERE held
)
SELECT source_system,
  case_id || '/' || activity || '/' || strftime(ts, '%Y-%m-%dT%H:%M:%S.%f') AS event_id,
  case_id, activity, ts AS "timestamp", actor, actor_type, status,
  'synthetic' AS source, 'bench' AS batch_id, TIMESTAMP '2026-01-01' AS ingested_at,
  CAST(hash(case_id, activity, ts) >> 1 AS BIGINT) AS row_hash
FROM e
"""


def warehouse_dir(cases: int, events: bool) -> Path:
    return CACHE / f"metrics-g{GENERATOR}-{cases}{'' if events else '-noevents'}"


def build(cases: int, events: bool) -> tuple[Path, dict[str, Any]]:
    """The cached workspace (built when missing) and what it holds."""
    import servq

    folder = warehouse_dir(cases, events)
    ready = folder / "ready.json"
    if ready.exists():
        with servq.open_workspace(folder):  # an older cached file takes the new migrations
            pass
        info: dict[str, Any] = json.loads(ready.read_text())
        return folder, info
    shutil.rmtree(folder, ignore_errors=True)
    t = time.perf_counter()
    with servq.open_workspace(folder) as ws:  # the migrations create the tables
        con = ws.warehouse.con
        con.execute("SET preserve_insertion_order = false")
        con.execute(
            CASES_SQL.format(n=cases, customers=max(cases // 5, 1), span=CREATED_SPAN_DAYS * 86400)
        )
        if events:
            con.execute(EVENTS_SQL)
        con.execute("CHECKPOINT")
        counts = ws.counts()
    info = {
        "cases": counts["case"],
        "events": counts["case_event"],
        "build_seconds": round(time.perf_counter() - t, 1),
    }
    ready.write_text(json.dumps(info))
    print(
        f"built {folder.name}: {info['cases']:,} cases, {info['events']:,} events "
        f"in {info['build_seconds']:.1f}s"
    )
    return folder, info


# -- servq ---------------------------------------------------------------------------------------

CHILD_SERVQ = """
import sys, time
import servq
import servq.metrics.compute  # imports (ibis, ...) and the catalogue are not timed
ws = servq.open_workspace(sys.argv[1], read_only=True)
ws.catalogue
metrics = sys.argv[4].split(",")
calendar = None if sys.argv[2] == "-" else sys.argv[2]
t, cpu = time.perf_counter(), time.process_time()
df = ws.metrics(metrics, by="team", grain="week", calendar=calendar)
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
if sys.argv[3] != "-":
    df.to_parquet(sys.argv[3])
# the same question again in the same process: what a running server answers with
t = time.perf_counter()
ws.metrics(metrics, by="team", grain="week", calendar=calendar)
print(seconds, len(df), cpu, 0, time.perf_counter() - t)
"""

# `servq metrics refresh`: build the case facts and keep them in the warehouse file
CHILD_REFRESH = """
import sys, time
import servq
import servq.metrics.compute
from servq.metrics import factcache
ws = servq.open_workspace(sys.argv[1])
ws.catalogue
if sys.argv[2] == "clear":
    factcache.clear(ws.warehouse)
    print(0, 0, 0)
    raise SystemExit
calendar = None if sys.argv[2] == "-" else sys.argv[2]
t, cpu = time.perf_counter(), time.process_time()
info = ws.refresh_facts([calendar])[0]
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
assert info["built"], info
print(seconds, info["kept"][-1]["rows"], cpu)
"""


def run_child(args: list[str]) -> tuple[list[str], float]:
    """Run a child Python; return its printed fields and its peak RSS in MB."""
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"child {args[:2]} failed with {code}")
    return out.split(), usage.ru_maxrss / 1024


def best_of(repeat: int, args: list[str]) -> tuple[list[str], float]:
    """The fastest of ``repeat`` runs (a shared machine adds noise, never removes it)."""
    runs = [run_child(args) for _ in range(repeat)]
    return min(runs, key=lambda r: float(r[0][0]))


# -- plain pandas ----------------------------------------------------------------------------

REPLY_ACTIVITIES = ("first_reply", "agent_replied", "reply", "agent_reply", "replied")
CASE_COLUMNS = (
    "source_system, case_id, status, customer_id, category, team, "
    "created_at, first_reply_at, resolved_at, closed_at, due_at"
)
EVENT_COLUMNS = "rowid, source_system, case_id, activity, timestamp, actor_type, status, public"
LOW_CARDINALITY = ("source_system", "status", "category", "team", "activity", "actor_type")
NAT = np.iinfo(np.int64).min


def _read(path: Path, sql: str) -> pd.DataFrame:
    """A query's rows as pandas: low-cardinality strings as categoricals (dictionary-encoded on
    the way), ids as Arrow-backed strings, timestamps as datetime64."""
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    with duckdb.connect(str(path / "warehouse.duckdb"), read_only=True) as con:
        table = con.sql(sql).to_arrow_table()
    for name in LOW_CARDINALITY:
        if name in table.column_names:
            i = table.column_names.index(name)
            table = table.set_column(i, name, pc.dictionary_encode(table[name]))
    df = table.to_pandas()
    del table
    pa.default_memory_pool().release_unused()
    return df


def pandas_read(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The case and event rows servq reads. Event ids are read only for events of a case that
    share an instant (the ids order them), by ``rowid``."""
    return _read(path, f'SELECT {CASE_COLUMNS} FROM "case"'), _read(
        path, f"SELECT {EVENT_COLUMNS} FROM case_event_stored"
    )


def _ns(s: pd.Series) -> np.ndarray:
    """A datetime column as int64 nanoseconds, NaT as the int64 minimum."""
    return s.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _week(ns: np.ndarray) -> np.ndarray:
    """Monday 00:00 of each instant's week (DuckDB's date_trunc('week'))."""
    days = np.floor_divide(ns, 86400 * 10**9)
    monday = days - (days + 3) % 7  # 1970-01-01 was a Thursday
    return (monday * 86400 * 10**9).astype("datetime64[ns]")


def _first_in_run(k: np.ndarray) -> np.ndarray:
    """True where a sorted key array starts a new value."""
    return np.r_[True, k[1:] != k[:-1]] if len(k) else np.zeros(0, bool)


def pandas_metrics(
    cases: pd.DataFrame,
    events: pd.DataFrame,
    stats: dict[str, list[str]],
    calendar: str | None,
    event_ids: Any = None,
    repeat_days: int = 7,
) -> pd.DataFrame:
    """servq's case facts and catalogue definitions, in pandas: one row per team × week.

    Drops the id columns of ``events`` once keyed (memory). ``event_ids(rowids)`` reads the ids
    of the given events (a Series by rowid): only simultaneous events of a case need them.
    """
    clock = None
    zone = None
    if calendar:
        from servq.calendar import BusinessClock

        stamps = [cases[c] for c in ("created_at", "first_reply_at", "resolved_at")]
        stamps += [cases["closed_at"], cases["due_at"], events["timestamp"]]
        lo = min(s.min() for s in stamps if s.notna().any())
        hi = max(s.max() for s in stamps if s.notna().any())
        clock = BusinessClock(calendar, lo, hi)
        zone = clock.calendar.timezone

    def b_of(ns: np.ndarray) -> np.ndarray:
        """Seconds on the clock of each instant: differences are durations; NaT gives NaN."""
        out = ns / 1e9 if clock is None else clock.elapsed(ns.view("datetime64[ns]"))
        out[ns == NAT] = np.nan
        return out

    # -- the event log keyed by case (0..n-1), in (case, time, event id) order
    n = len(cases)
    case_index = pd.MultiIndex.from_arrays([cases["source_system"], cases["case_id"]])
    ev_case = case_index.get_indexer(
        pd.MultiIndex.from_arrays([events["source_system"], events["case_id"]])
    )
    del case_index
    del events["source_system"], events["case_id"]
    rows = np.flatnonzero(ev_case >= 0)  # events of unknown cases join nothing
    key = ev_case[rows].astype(np.int64)
    del ev_case
    ts = _ns(events["timestamp"])[rows]
    if (ts == NAT).any():
        raise SystemExit("events without a timestamp: this pandas version does not order them")
    order = np.lexsort((ts, key))
    key, ts = key[order], ts[order]
    tied = (key[1:] == key[:-1]) & (ts[1:] == ts[:-1])
    if tied.any():
        # events of a case at the same instant: their ids order them (only theirs are read)
        tied = np.r_[tied, False] | np.r_[False, tied]
        rowids = events["rowid"].to_numpy()[rows[order][tied]]
        ids = event_ids(rowids)
        rank = np.zeros(len(key), np.int64)
        rank[tied] = pd.factorize(ids.reindex(rowids).to_numpy(), sort=True)[0]
        again = np.lexsort((rank, ts, key))
        key, ts, order = key[again], ts[again], order[again]
    take = rows[order]
    del rows, order
    act = events["activity"].take(take).reset_index(drop=True)
    actor = events["actor_type"].take(take).reset_index(drop=True)
    status = events["status"].take(take).reset_index(drop=True)
    public = events["public"].take(take).reset_index(drop=True)
    del take
    is_reply = (act.isin(REPLY_ACTIVITIES) | ((actor == "agent") & public.fillna(True))).to_numpy(
        dtype=bool
    )
    is_customer = ((actor == "customer") & (act != "created")).to_numpy(dtype=bool)
    ev_b = b_of(ts)

    def per_case_ts(mask: np.ndarray, how: str, key: np.ndarray, ts: np.ndarray) -> np.ndarray:
        s = pd.Series(ts[mask]).groupby(key[mask]).agg(how)
        return s.reindex(np.arange(n), fill_value=NAT).to_numpy(dtype=np.int64)

    # replies: the first, the second, and how many distinct reply times
    rk, rts = key[is_reply], ts[is_reply]
    first = _first_in_run(rk)
    reply1 = np.full(n, NAT, np.int64)
    reply1[rk[first]] = rts[first]
    second = np.r_[False, first[:-1] & ~first[1:]] if len(rk) else first
    reply2 = np.full(n, NAT, np.int64)
    reply2[rk[second]] = rts[second]
    new_time = _first_in_run(rk) | _first_in_run(rts)
    agent_replies = np.bincount(rk[new_time], minlength=n)

    # status moves
    st_open = (status == "open").to_numpy(dtype=bool)
    st_solved = (status == "solved").to_numpy(dtype=bool)
    ev_open = per_case_ts(st_open, "min", key, ts)
    ev_solved_first = per_case_ts(st_solved, "min", key, ts)
    ev_solved_last = per_case_ts(st_solved, "max", key, ts)
    solved_times = pd.Series(ts[st_solved]).groupby(key[st_solved]).nunique()
    ev_solved_n = solved_times.reindex(np.arange(n), fill_value=0).to_numpy()
    ev_closed = per_case_ts((status == "closed").to_numpy(dtype=bool), "max", key, ts)
    ev_reopened = np.bincount(key[(act == "reopened").to_numpy(dtype=bool)], minlength=n)
    by_agent = ((act == "created") & (actor == "agent")).to_numpy(dtype=bool)
    agent_created = np.bincount(key[by_agent], minlength=n) > 0

    # time in each status: from a status change to the next one of the same case
    has_status = status.notna().to_numpy()
    sk, sb, sstat = key[has_status], ev_b[has_status], status[has_status].to_numpy()
    has_next = np.r_[sk[1:] == sk[:-1], False] if len(sk) else has_status[:0]
    secs = np.r_[sb[1:] - sb[:-1], np.nan] if len(sk) else sb

    def status_sum(names: tuple[str, ...]) -> np.ndarray:
        m = has_next & np.isin(sstat, names)
        s = pd.Series(secs[m]).groupby(sk[m]).sum()
        return s.reindex(np.arange(n)).to_numpy()  # cases without such an interval: NaN

    wait_new_open = status_sum(("new", "open"))
    wait_on_hold = status_sum(("on_hold",))
    wait_pending = status_sum(("pending",))

    # each customer message (after the one that opened the case) to the next agent reply
    msg = is_customer | is_reply
    mk, mb, mreply = key[msg], ev_b[msg], is_reply[msg]
    next_b = pd.Series(np.where(mreply, mb, np.nan)).bfill().to_numpy()
    next_key = pd.Series(np.where(mreply, mk, np.nan)).bfill().to_numpy()
    pair = ~mreply & (next_key == mk)
    pairs = np.bincount(mk[pair], minlength=n)
    pair_total = np.bincount(mk[pair], weights=next_b[pair] - mb[pair], minlength=n)
    del act, actor, status, public, key, ts, ev_b, is_reply, is_customer, msg, mk, mb, next_b

    # -- case facts
    def coalesce(*arrays: np.ndarray) -> np.ndarray:
        out = arrays[0].copy()
        for a in arrays[1:]:
            gap = out == NAT
            out[gap] = a[gap]
        return out

    created = _ns(cases["created_at"])
    due = _ns(cases["due_at"])
    first_reply = coalesce(
        _ns(cases["first_reply_at"]), np.where(agent_created, reply2, reply1), ev_open
    )
    resolved = coalesce(ev_solved_last, _ns(cases["resolved_at"]))
    first_resolved = coalesce(ev_solved_first, _ns(cases["resolved_at"]))
    closed = coalesce(_ns(cases["closed_at"]), ev_closed)
    is_resolved = resolved != NAT
    is_closed = closed != NAT
    has_due = due != NAT
    created_b = b_of(created)
    has_status_log = ~(np.isnan(wait_new_open) & np.isnan(wait_on_hold) & np.isnan(wait_pending))
    logged = is_resolved & has_status_log  # the status-log durations' filter
    reopened = (ev_reopened > 0) | (ev_solved_n > 1)
    is_done = is_resolved | is_closed | (cases["status"] == "cancelled").to_numpy(dtype=bool)

    # repeat complaint: the same customer's previous case of the same category within N days
    rep = pd.DataFrame(
        {"s": cases["source_system"], "c": cases["customer_id"], "g": cases["category"]}
    )
    rep["t"] = created
    rep = rep.sort_values(["s", "c", "g", "t"], kind="stable")
    same = (
        (rep["s"] == rep["s"].shift())
        & (rep["c"] == rep["c"].shift())
        & (rep["g"] == rep["g"].shift())
    )
    gap = rep["t"] - rep["t"].shift()
    repeat = (same & rep["c"].notna() & (gap <= repeat_days * 86400 * 10**9)).sort_index()
    repeat_complaint = repeat.to_numpy(dtype=bool)
    del rep, same, gap, repeat

    nan = np.nan
    facts = {
        "first_reply_time": b_of(first_reply) - created_b,
        "first_resolution_time": b_of(first_resolved) - created_b,
        "full_resolution_time": b_of(resolved) - created_b,
        "requester_wait_time": np.where(
            logged, np.nan_to_num(wait_new_open) + np.nan_to_num(wait_on_hold), nan
        ),
        "agent_work_time": np.where(logged, wait_new_open, nan),
        "resolved": is_resolved,
        "reopened": is_resolved & reopened,
        "one_touch": is_resolved & (agent_replies <= 1),
        "repeats": repeat_complaint,
        "nr_total": pair_total,
        "nr_pairs": pairs,
        "hold_total": np.where(logged, wait_on_hold, nan),
        "hold_cases": logged,
        "done": is_done,
        "counted": is_closed & has_due,
        "on_time": is_closed & has_due & (closed <= due),
    }
    return aggregate(cases["team"].array, created, due, closed, facts, stats, zone)


DURATION_IDS = (
    "first_reply_time",
    "first_resolution_time",
    "full_resolution_time",
    "requester_wait_time",
    "agent_work_time",
)


def aggregate(
    team: Any,
    created: np.ndarray,
    due: np.ndarray,
    closed: np.ndarray,
    facts: dict[str, np.ndarray],
    stats: dict[str, list[str]],
    zone: str | None,
) -> pd.DataFrame:
    """The catalogue by team × week from per-case facts (int64 ns instants, NaT as the int64
    minimum; durations in seconds; flags): what servq's catalogue definitions compute."""

    # -- periods: weeks of UTC time, or of local time on a calendar
    def period(ns: np.ndarray) -> np.ndarray:
        if zone is None:
            return _week(ns)
        wall = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC").tz_convert(zone)
        return _week(wall.tz_localize(None).asi8)

    def block(
        times: np.ndarray, columns: dict[str, np.ndarray], measures: dict[str, tuple[str, str]]
    ) -> pd.DataFrame:
        """Rows with a time, by team × period: measures are (aggregate, column) pairs; a list of
        quantiles of one column is one groupby call."""
        rows = times != NAT
        g = pd.DataFrame({"team": team[rows], "period": period(times[rows])})
        for name, values in columns.items():
            g[name] = values[rows]
        grouped = g.groupby(["team", "period"], dropna=False, observed=True, sort=False)
        out = pd.DataFrame(index=grouped.size().index)
        quantiles: dict[str, list[str]] = {}
        for name, (how, column) in measures.items():
            if how == "size":
                out[name] = grouped.size()
            elif how == "sum_or_null":
                out[name] = grouped[column].sum(min_count=1)
            elif how in QUANTILES:
                quantiles.setdefault(column, []).append(name)
            else:
                out[name] = grouped[column].agg(how)
        for column, names in quantiles.items():
            qs = [QUANTILES[measures[name][0]] for name in names]
            wide = grouped[column].quantile(qs).unstack()
            for name, q in zip(names, qs, strict=True):
                out[name] = wide[q]
        return out

    def rate(a: pd.Series, b: pd.Series) -> pd.Series:
        return 100.0 * a.astype("float64") / b.astype("float64").replace(0, np.nan)

    nan = np.nan
    columns = {k: facts[k] for k in DURATION_IDS}
    for c in ("resolved", "reopened", "one_touch", "repeats", "nr_total", "nr_pairs"):
        columns[c] = facts[c]
    columns["hold_total"] = facts["hold_total"]
    columns["hold_cases"] = facts["hold_cases"]
    measures: dict[str, tuple[str, str]] = {"n": ("size", "")}
    for mid in DURATION_IDS:
        measures[mid] = ("mean", mid)
        for st in stats.get(mid, []):
            measures[f"{mid}_{st}"] = (st, mid)
    for c in ("resolved", "reopened", "one_touch", "repeats", "nr_total", "nr_pairs"):
        measures[c] = ("sum", c)
    measures["hold_total"] = ("sum_or_null", "hold_total")
    measures["hold_cases"] = ("sum", "hold_cases")
    by_created = block(created, columns, measures)
    del columns
    res = pd.DataFrame(index=by_created.index)
    res["cases_created"] = by_created["n"].astype("float64")
    for mid in DURATION_IDS:
        res[mid] = by_created[mid]
        for st in stats.get(mid, []):
            res[f"{mid}_{st}"] = by_created[f"{mid}_{st}"]
    res["reopen_rate"] = rate(by_created["reopened"], by_created["resolved"])
    res["one_touch_rate"] = rate(by_created["one_touch"], by_created["resolved"])
    res["repeat_complaint_rate"] = rate(by_created["repeats"], by_created["n"])
    res["next_reply_time"] = by_created["nr_total"] / by_created["nr_pairs"].replace(0, nan)
    res["on_hold_time"] = by_created["hold_total"] / by_created["hold_cases"].replace(0, nan)

    by_due = block(due, {"done": facts["done"]}, {"n": ("size", ""), "done": ("sum", "done")})
    closure = pd.DataFrame({"closure_rate": rate(by_due["done"], by_due["n"])})
    by_closed = block(
        closed,
        {"counted": facts["counted"], "on_time": facts["on_time"]},
        {"closed": ("sum", "counted"), "on_time": ("sum", "on_time")},
    )
    on_time = pd.DataFrame(
        {"on_time_completion_rate": rate(by_closed["on_time"], by_closed["closed"])}
    )
    out = res.join(closure, how="outer").join(on_time, how="outer").reset_index()
    out["team"] = out["team"].astype(str)
    return out.sort_values(["team", "period"], kind="stable").reset_index(drop=True)


FACT_COLUMNS = (
    "team, created_at, due_at, closed_at, first_reply_seconds, first_resolution_seconds, "
    "full_resolution_seconds, requester_wait_seconds, agent_work_seconds, on_hold_seconds, "
    "has_status_log, is_resolved, reopened, one_touch, repeat_complaint, "
    "next_reply_total_seconds, next_reply_count, is_done, is_closed, has_due, closed_on_time"
)


def pandas_from_facts(f: pd.DataFrame, stats: dict[str, list[str]], zone: str | None) -> Any:
    """The same catalogue from servq's kept case facts (one row per case): the like-for-like
    baseline for a query that reads them."""
    resolved = f["is_resolved"].to_numpy(dtype=bool)
    logged = resolved & f["has_status_log"].to_numpy(dtype=bool)
    nan = np.nan

    def num(c: str) -> np.ndarray:
        return f[c].to_numpy(dtype="float64", na_value=nan)

    def flag(c: str) -> np.ndarray:
        return f[c].to_numpy(dtype=bool, na_value=False)

    facts = {
        "first_reply_time": num("first_reply_seconds"),
        "first_resolution_time": num("first_resolution_seconds"),
        "full_resolution_time": num("full_resolution_seconds"),
        "requester_wait_time": np.where(logged, num("requester_wait_seconds"), nan),
        "agent_work_time": np.where(logged, num("agent_work_seconds"), nan),
        "resolved": resolved,
        "reopened": resolved & flag("reopened"),
        "one_touch": flag("one_touch"),
        "repeats": flag("repeat_complaint"),
        "nr_total": num("next_reply_total_seconds"),
        "nr_pairs": f["next_reply_count"].to_numpy(dtype="int64"),
        "hold_total": np.where(logged, num("on_hold_seconds"), nan),
        "hold_cases": logged,
        "done": flag("is_done"),
        "counted": flag("is_closed") & flag("has_due"),
        "on_time": flag("closed_on_time"),
    }
    created, due, closed = _ns(f["created_at"]), _ns(f["due_at"]), _ns(f["closed_at"])
    return aggregate(f["team"].array, created, due, closed, facts, stats, zone)


def pandas_child(folder: str, calendar: str, out: str, stats_json: str) -> None:
    path = Path(folder)
    t = time.perf_counter()
    cases, events = pandas_read(path)
    read_s = time.perf_counter() - t

    def event_ids(rowids: np.ndarray) -> pd.Series:
        import duckdb

        with duckdb.connect(str(path / "warehouse.duckdb"), read_only=True) as con:
            con.register("wanted", pd.DataFrame({"r": rowids}))
            sql = (
                "SELECT rowid, event_id FROM case_event_stored "
                "WHERE rowid IN (SELECT r FROM wanted)"
            )
            df = con.sql(sql).df()
        return df.set_index("rowid")["event_id"]

    t, cpu = time.perf_counter(), time.process_time()
    cal = None if calendar == "-" else calendar
    df = pandas_metrics(cases, events, json.loads(stats_json), cal, event_ids)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    df.to_parquet(out)
    print(seconds, len(df), cpu, read_s)


def pandas_facts_child(folder: str, calendar: str, out: str, stats_json: str) -> None:
    """pandas on servq's kept case facts (read into pandas first, not counted)."""
    import duckdb

    import servq
    from servq.metrics import factcache

    path = Path(folder)
    with servq.open_workspace(path, read_only=True) as ws:
        kept = factcache.kept(ws.warehouse)
    zone = None
    business = calendar != "-"
    names = [k["name"] for k in kept if ("-" in k["key"]) == business]
    if len(names) != 1:
        raise SystemExit(f"expected one kept fact table for {calendar}, found {names}")
    if business:
        from servq.calendar import load_calendar

        zone = load_calendar(calendar).timezone
    t = time.perf_counter()
    with duckdb.connect(str(path / "warehouse.duckdb"), read_only=True) as con:
        facts = con.sql(f'SELECT {FACT_COLUMNS} FROM "{names[0]}"').to_arrow_table()
    f = facts.to_pandas()
    del facts
    read_s = time.perf_counter() - t
    t, cpu = time.perf_counter(), time.process_time()
    df = pandas_from_facts(f, json.loads(stats_json), zone)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    df.to_parquet(out)
    print(seconds, len(df), cpu, read_s)


# -- comparing -----------------------------------------------------------------------------------


def compare(servq_df: pd.DataFrame, pandas_df: pd.DataFrame, label: str) -> tuple[int, float]:
    """Fail unless both give the same rows and numbers; return (values compared, max rel diff)."""
    keys = ["team", "period"]
    a = servq_df.copy()
    b = pandas_df.copy()
    for df in (a, b):
        df["team"] = df["team"].astype(str)
        df["period"] = pd.to_datetime(df["period"]).astype("datetime64[ns]")
    missing = sorted(set(a.columns) - set(b.columns))
    extra = sorted(set(b.columns) - set(a.columns))
    if missing or extra:
        raise SystemExit(f"{label}: columns differ; pandas lacks {missing}, has extra {extra}")
    j = a.merge(b, on=keys, how="outer", suffixes=("_s", "_p"), indicator=True)
    if (j["_merge"] != "both").any():
        odd = j.loc[j["_merge"] != "both", [*keys, "_merge"]]
        raise SystemExit(f"{label}: {len(odd)} team × week rows in one result only:\n{odd.head()}")
    worst = 0.0
    compared = 0
    bad = []
    for c in a.columns:
        if c in keys:
            continue
        x = j[f"{c}_s"].to_numpy(dtype="float64")
        y = j[f"{c}_p"].to_numpy(dtype="float64")
        same = np.isclose(x, y, rtol=1e-9, atol=1e-6, equal_nan=True)
        compared += int(np.count_nonzero(~np.isnan(x)))
        both = ~np.isnan(x) & ~np.isnan(y)
        if both.any():
            rel = np.abs(x[both] - y[both]) / np.maximum(np.abs(y[both]), 1e-12)
            worst = max(worst, float(rel.max()))
        if not same.all():
            i = int(np.argmax(~same))
            bad.append(
                f"  {c}: {int((~same).sum())} differ, e.g. {j.loc[i, keys].tolist()} "
                f"servq {x[i]!r} pandas {y[i]!r}"
            )
    if bad:
        raise SystemExit(f"{label}: servq and pandas disagree\n" + "\n".join(bad))
    return compared, worst


# -- main ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    seconds: float  # wall seconds of the computation
    cpu: float  # CPU seconds of the computation, all threads (steadier on a shared machine)
    peak_mb: float  # max RSS of the child process
    rows: int
    read: float = 0.0  # pandas: seconds reading DuckDB into pandas, not counted
    again: float = 0.0  # servq: the same query again in the same process

    def line(self, label: str, extra: str = "") -> str:
        return (
            f"{label:<34}{self.seconds:7.2f} s  (cpu {self.cpu:6.1f} s)  "
            f"peak {self.peak_mb:7,.0f} MB{extra}"
        )

    def figures(self) -> dict[str, float]:
        out = {
            "seconds": round(self.seconds, 2),
            "cpu_seconds": round(self.cpu, 1),
            "peak_mb": round(self.peak_mb),
        }
        if self.read:
            out["read_seconds_not_counted"] = round(self.read, 1)
        if self.again:
            out["again_same_process_seconds"] = round(self.again, 2)
        return out


def measure(repeat: int, args: list[str]) -> Run:
    fields, mb = best_of(repeat, args)
    read = float(fields[3]) if len(fields) > 3 else 0.0
    again = float(fields[4]) if len(fields) > 4 else 0.0
    return Run(float(fields[0]), float(fields[2]), mb, int(fields[1]), read, again)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="runs per variant; the fastest counts")
    ap.add_argument("--no-events", action="store_true", help="the case table alone")
    ap.add_argument(
        "--no-pandas-business", action="store_true", help="skip pandas in business time"
    )
    ap.add_argument("--snapshots", action="store_true", help="also time backlog and overdue")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--facts-child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        pandas_child(*args.child)
        return
    if args.facts_child:
        pandas_facts_child(*args.facts_child)
        return

    from servq.metrics.catalogue_registry import Catalogue

    CACHE.mkdir(exist_ok=True)
    folder, info = build(args.cases, not args.no_events)
    catalogue = Catalogue([])
    stats = {m: list(catalogue.get(m).stats) for m in METRICS}
    me = str(Path(__file__).resolve())
    variants = {"calendar": "-", "business": CALENDAR}
    cold: dict[str, Run] = {}
    warm: dict[str, Run] = {}
    refresh: dict[str, Run] = {}
    pandas: dict[str, Run] = {}
    pandas_facts: dict[str, Run] = {}
    checks: dict[str, tuple[int, float]] = {}
    run_child(["-c", CHILD_REFRESH, str(folder), "clear"])  # cold means no kept facts
    with tempfile.TemporaryDirectory() as tmp:
        # cold: a fresh process, nothing kept: the query builds the facts from the event log
        for variant, cal in variants.items():
            out = f"{tmp}/cold-{variant}.parquet"
            cold[variant] = measure(
                args.repeat, ["-c", CHILD_SERVQ, str(folder), cal, out, ",".join(METRICS)]
            )
            if variant == "business" and args.no_pandas_business:
                continue
            pout = f"{tmp}/pandas-{variant}.parquet"
            pandas[variant] = measure(
                args.repeat, [me, "--child", str(folder), cal, pout, json.dumps(stats)]
            )
            checks[f"cold {variant}"] = compare(
                pd.read_parquet(out), pd.read_parquet(pout), f"cold {variant}"
            )
        # refresh: build and keep the facts (servq metrics refresh), then warm: a fresh
        # read-only process that finds them
        for variant, cal in variants.items():
            refresh[variant] = measure(1, ["-c", CHILD_REFRESH, str(folder), cal])
            out = f"{tmp}/warm-{variant}.parquet"
            warm[variant] = measure(
                args.repeat, ["-c", CHILD_SERVQ, str(folder), cal, out, ",".join(METRICS)]
            )
            reference = f"{tmp}/pandas-{variant}.parquet"
            if not Path(reference).exists():
                reference = f"{tmp}/cold-{variant}.parquet"
            checks[f"warm {variant}"] = compare(
                pd.read_parquet(out), pd.read_parquet(reference), f"warm {variant}"
            )
            fout = f"{tmp}/pandas-facts-{variant}.parquet"
            pandas_facts[variant] = measure(
                args.repeat, [me, "--facts-child", str(folder), cal, fout, json.dumps(stats)]
            )
            checks[f"pandas on facts {variant}"] = compare(
                pd.read_parquet(fout), pd.read_parquet(reference), f"pandas on facts {variant}"
            )
        snap = None
        if args.snapshots:
            snap = measure(
                args.repeat, ["-c", CHILD_SERVQ, str(folder), "-", "-", ",".join(SNAPSHOTS)]
            )

    n_stats = sum(len(v) for v in stats.values())
    print(
        f"{info['cases']:,} cases, {info['events']:,} events; {len(METRICS)} metrics "
        f"(+{n_stats} medians/p90/p95) by team × week: {cold['calendar'].rows:,} rows; "
        f"best of {args.repeat}"
    )
    for label, (n_cmp, worst) in checks.items():
        print(f"  {label}: same as pandas on {n_cmp:,} numbers (max relative diff {worst:.1e})")
    summary: dict[str, Any] = {
        "cases": info["cases"],
        "events": info["events"],
        "metrics": len(METRICS),
        "statistics": n_stats,
        "rows": cold["calendar"].rows,
        "repeat": args.repeat,
    }
    print("\nwarm: the case facts are kept (servq metrics refresh, or any earlier query)")
    for variant in variants:
        w, pf = warm[variant], pandas_facts[variant]
        ratio = pf.seconds / w.seconds
        print(w.line(f"servq, {variant} time", f"  (again in the process: {w.again:.2f} s)"))
        print(
            pf.line(
                f"pandas on the same facts, {variant}",
                f"  pandas/servq {ratio:5.2f}x  (+{pf.read:.1f} s reading)",
            )
        )
        summary[f"warm_servq_{variant}"] = w.figures()
        summary[f"warm_pandas_{variant}"] = pf.figures()
        summary[f"warm_ratio_pandas_to_servq_{variant}"] = round(ratio, 2)
    print("\ncold: nothing kept; servq builds the facts from the event log in the query")
    for variant in variants:
        c = cold[variant]
        print(c.line(f"servq, {variant} time"))
        summary[f"cold_servq_{variant}"] = c.figures()
        if variant in pandas:
            p = pandas[variant]
            ratio = p.seconds / c.seconds
            print(
                p.line(
                    f"pandas from the event log, {variant}",
                    f"  pandas/servq {ratio:5.2f}x  (+{p.read:.1f} s reading)",
                )
            )
            summary[f"cold_pandas_{variant}"] = p.figures()
            summary[f"cold_ratio_pandas_to_servq_{variant}"] = round(ratio, 2)
    print("\nrefresh: building and keeping the facts")
    for variant in variants:
        print(refresh[variant].line(f"servq metrics refresh, {variant}"))
        summary[f"refresh_{variant}"] = refresh[variant].figures()
    bus_warm = warm["business"].seconds / warm["calendar"].seconds
    bus_cold = cold["business"].seconds / cold["calendar"].seconds
    print(f"\nbusiness / calendar time: warm {bus_warm:.2f}x, cold {bus_cold:.2f}x")
    summary["ratio_business_to_calendar"] = {"warm": round(bus_warm, 2), "cold": round(bus_cold, 2)}
    if snap is not None:
        print(snap.line("servq, backlog + overdue (calendar)", f"  {snap.rows:,} rows"))
        summary["servq_snapshots"] = snap.figures()
    summary["goal"] = (
        f"servq <= {GOAL_SECONDS} s, pandas/servq >= {GOAL_PANDAS_RATIO}, "
        f"business/calendar <= {GOAL_BUSINESS_RATIO}"
    )
    cold_ratio = pandas["calendar"].seconds / cold["calendar"].seconds
    warm_ratio = pandas_facts["calendar"].seconds / warm["calendar"].seconds
    summary["goal_met"] = {
        "seconds_warm": warm["calendar"].seconds <= GOAL_SECONDS,
        "seconds_warm_again": warm["calendar"].again <= GOAL_SECONDS,
        "seconds_cold": cold["calendar"].seconds <= GOAL_SECONDS,
        "pandas_ratio_warm": warm_ratio >= GOAL_PANDAS_RATIO,
        "pandas_ratio_cold": cold_ratio >= GOAL_PANDAS_RATIO,
        "business_ratio_warm": bus_warm <= GOAL_BUSINESS_RATIO,
        "business_ratio_cold": bus_cold <= GOAL_BUSINESS_RATIO,
    }
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
