"""bench/ingest: a 1M-row ticket CSV, mapped and validated into the warehouse.

Prints rows/s, wall seconds and peak memory (max RSS of a child process) for servq's ingest and
for DuckDB's own ``read_csv`` of the same file into a table, and the ratio between the two.
servq is measured twice: with the built-in ``tickets`` profile, which also derives about four
case events per ticket (created, first reply, solved, closed: 3.8M events, which the
``case_event`` view computes from the ticket rows instead of storing them, see
docs/warehouse.md), and with the same profile minus its ``events`` (mapping, validation,
quarantine and merge only). After the clock stops, the child counts ``case_event`` to check that
every derived event is there.
Issue #2's goal: >= 250k rows/s, within 5x of the raw read, peak memory <= 2 GB.

    .venv/bin/python bench/ingest.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

CACHE = Path(__file__).resolve().parent / ".cache"

CHANNELS = np.array(["phone", "chat", "email", "app", "walk_in"])
PRIORITIES = np.array(["low", "normal", "high", "urgent"])
STATUSES = np.array(["open", "pending", "solved", "closed"])
SITES = np.array(
    ["上海徐汇店", "北京朝阳店", "广州天河店", "深圳南山店", "成都锦江店", "杭州西湖店"]
)
CATEGORIES = np.array(
    ["退款", "物流配送", "账户问题", "产品质量", "服务态度", "费用争议", "维修安装"]
)


def make_csv(rows: int, path: Path) -> None:
    rng = np.random.default_rng(1)
    start = np.datetime64("2025-01-01T00:00:00")
    created = start + rng.integers(0, 365 * 86400, rows).astype("timedelta64[s]")
    reply = created + rng.integers(60, 8 * 3600, rows).astype("timedelta64[s]")
    resolved = reply + rng.integers(600, 5 * 86400, rows).astype("timedelta64[s]")
    closed = resolved + rng.integers(0, 2 * 86400, rows).astype("timedelta64[s]")
    due = created + np.timedelta64(24 * 3600, "s")
    open_mask = rng.random(rows) < 0.1

    def fmt(a: np.ndarray, mask: np.ndarray | None = None) -> pd.Series:
        s = pd.Series(np.datetime_as_string(a, unit="s")).str.replace("T", " ")
        if mask is not None:
            s[mask] = ""
        return s

    df = pd.DataFrame(
        {
            "ticket_id": [f"T{i:08d}" for i in range(rows)],
            "created_at": fmt(created),
            "first_reply_at": fmt(reply),
            "resolved_at": fmt(resolved, open_mask),
            "closed_at": fmt(closed, open_mask),
            "due_at": fmt(due),
            "channel": rng.choice(CHANNELS, rows),
            "category": rng.choice(CATEGORIES, rows),
            "priority": rng.choice(PRIORITIES, rows),
            "status": np.where(open_mask, "open", rng.choice(STATUSES[2:], rows)),
            "customer_id": rng.integers(1, 200_000, rows).astype(str),
            "team": np.char.add("team-", rng.integers(1, 20, rows).astype(str)),
            "agent": np.char.add("agent-", rng.integers(1, 300, rows).astype(str)),
            "site": rng.choice(SITES, rows),
            "subject": rng.choice(CATEGORIES, rows),
        }
    )
    df.to_csv(path, index=False)


CHILD_RAW = """
import duckdb, sys, time
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")  # a slow read would print its bar to stdout
t = time.perf_counter()
con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [sys.argv[1]])
n = con.execute("SELECT count(*) FROM t").fetchone()[0]
print(time.perf_counter() - t, n)
"""

CHILD_SERVQ = """
import sys, time, servq
ws = servq.open_workspace(sys.argv[2])
profile = ws.profile("tickets")
if sys.argv[3] == "no-events":
    profile = profile.model_copy(update={"events": ()})
t = time.perf_counter()
r = ws.ingest(sys.argv[1], profile)
seconds = time.perf_counter() - t
derived = sum(c["loaded"] for c in r.derived.values())
events = ws.warehouse.con.execute("SELECT count(*) FROM case_event").fetchall()[0][0]
assert events == derived, (events, derived)
print(seconds, r.loaded, r.quarantined, derived)
"""


def run_child(code: str, *args: str) -> tuple[list[str], float]:
    """Run a child Python; return its printed fields and its peak RSS in MB."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed with {proc.returncode}")
    return out.split(), usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"tickets-{args.rows}.csv"
    if not path.exists():
        t = time.perf_counter()
        make_csv(args.rows, path)
        print(
            f"generated {path.name} ({path.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - t:.1f}s"
        )
    raw_out, raw_mb = run_child(CHILD_RAW, str(path))
    raw_s = float(raw_out[0])
    results = {}
    for variant in ("full", "no-events"):
        with tempfile.TemporaryDirectory() as tmp:
            out, mb = run_child(CHILD_SERVQ, str(path), tmp, variant)
        seconds, loaded, derived = float(out[0]), int(out[1]), int(out[3])
        assert loaded == args.rows, f"loaded {loaded} of {args.rows}"
        results[variant] = (seconds, mb, derived)
    print(
        f"duckdb read_csv (baseline):     {raw_s:6.2f} s  {args.rows / raw_s:>10,.0f} rows/s  "
        f"peak {raw_mb:,.0f} MB"
    )
    labels = {
        "full": "servq ingest, tickets profile",
        "no-events": "servq ingest, no derived events",
    }
    summary: dict[str, object] = {
        "rows": args.rows,
        "duckdb_read_csv_seconds": round(raw_s, 2),
        "duckdb_read_csv_peak_mb": round(raw_mb),
        "goal": "rows/s >= 250000, ratio <= 5, peak <= 2048 MB",
    }
    for variant, (seconds, mb, derived) in results.items():
        print(
            f"{labels[variant]:<32}{seconds:6.2f} s  {args.rows / seconds:>10,.0f} rows/s  "
            f"peak {mb:,.0f} MB  ratio {seconds / raw_s:5.2f}x  (+{derived:,} derived rows)"
        )
        summary[variant] = {
            "seconds": round(seconds, 2),
            "rows_per_s": round(args.rows / seconds),
            "peak_mb": round(mb),
            "ratio_to_raw_read": round(seconds / raw_s, 2),
            "derived_rows": derived,
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
