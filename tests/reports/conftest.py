"""A demo workspace shared by the report tests, and the demo's own files read with pandas.

The expected figures of the report tests are worked out from ``tickets.csv`` and
``feedback.csv`` (what the demo generator wrote) with pandas, never from servq's metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

import servq
from servq.demo.run import run_demo

TZ = "Asia/Shanghai"
SIZE = 1500
SEED = 7
# the demo's export moment: nothing in its files happens at or after it
EXPORT = pd.Timestamp("2025-11-24T00:00:00+08:00")


@dataclass(frozen=True)
class Demo:
    path: Path
    tickets: pd.DataFrame
    feedback: pd.DataFrame


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("report-demo") / "ws"
    with servq.open_workspace(root) as ws:
        run_demo(ws, size=SIZE, seed=SEED)
    tickets = pd.read_csv(root / "demo-input" / "tickets.csv", dtype=str)
    for col in ("created_at", "first_reply_at", "resolved_at", "due_at"):
        tickets[col] = pd.to_datetime(tickets[col], utc=True, format="ISO8601")
    tickets["day"] = tickets["created_at"].dt.tz_convert(TZ).dt.date
    feedback = pd.read_csv(root / "demo-input" / "feedback.csv", dtype={"score": float})
    feedback["submitted_at"] = pd.to_datetime(feedback["submitted_at"], utc=True, format="ISO8601")
    feedback["day"] = feedback["submitted_at"].dt.tz_convert(TZ).dt.date
    return Demo(root, tickets, feedback)


def created_in(tickets: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    """Tickets created on local days ``start`` to ``end`` (both included)."""
    return tickets[(tickets["day"] >= start) & (tickets["day"] <= end)]


def sla_counts(tickets: pd.DataFrame) -> pd.DataFrame:
    """Per team: cases with a due time, resolved by it, and breached (resolved after it, or
    unresolved once it passed before the export)."""
    due = tickets[tickets["due_at"].notna()]
    met = due["resolved_at"] <= due["due_at"]
    late = (due["resolved_at"] > due["due_at"]) | (
        due["resolved_at"].isna() & (due["due_at"] < EXPORT)
    )
    out = (
        due.assign(met=met, late=late)
        .groupby("team")
        .agg(cases=("ticket_id", "size"), met=("met", "sum"), late=("late", "sum"))
    )
    return out.astype("int64")
