"""Builders shared by the rule tests (no tests here): hand-made tickets, calls and feedback
loaded through the built-in profiles, with times written in UTC."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd

import servq
from servq.monitor.rules import RuleSet, parse_rules


def utc(text: str) -> datetime:
    """A naive UTC datetime from ``2025-01-06 09:00``."""
    return datetime.fromisoformat(text)


def iso(when: datetime) -> str:
    """How the profiles read a UTC time (they take naive times as Beijing time)."""
    return when.isoformat() + "+00:00"


def load(ws: servq.Workspace, profile: str, rows: list[dict[str, Any]]) -> None:
    """Rows through a built-in profile; every row must load."""
    frame = pd.DataFrame(
        [{k: iso(v) if isinstance(v, datetime) else v for k, v in row.items()} for row in rows]
    )
    frame = frame.astype(object).where(frame.notna(), None)  # a missing value is empty
    result = ws.ingest_frame(frame, profile)
    assert result.quarantined == 0 and result.loaded == len(rows), ws.quarantine()


def tickets_at(times: list[datetime], prefix: str, **fields: Any) -> list[dict[str, Any]]:
    """One ticket created at each time, ids ``prefix0``, ``prefix1``…"""
    return [
        {"ticket_id": f"{prefix}{i}", "created_at": t, "channel": "web", **fields}
        for i, t in enumerate(times)
    ]


def spread(start: datetime, count: int, within: timedelta) -> list[datetime]:
    """``count`` times evenly spaced from ``start`` inside ``within``."""
    return [start + within * i / count for i in range(count)]


def rules(text: str) -> RuleSet:
    return parse_rules(text, "test-rules.yaml")
