"""Shared helpers for the SLA tests (imported, not collected): hand-built tickets and status
logs in a fresh workspace.

Times are written in Beijing time (the tickets and case-events profiles read naive times as
Asia/Shanghai) and compared in UTC through ``bj``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

import servq


def bj(text: str) -> pd.Timestamp:
    """A Beijing wall-clock time as the naive UTC timestamp the warehouse stores."""
    return pd.Timestamp(text, tz="Asia/Shanghai").tz_convert("UTC").tz_localize(None)


def add_tickets(ws: servq.Workspace, rows: list[dict[str, Any]]) -> None:
    """Tickets through the built-in ``tickets`` profile; must load without rejects."""
    result = ws.ingest_frame(pd.DataFrame(rows), "tickets")
    assert result.quarantined == 0, ws.quarantine()


def add_events(ws: servq.Workspace, rows: list[dict[str, Any]]) -> None:
    """Status changes and messages through the built-in ``case-events`` profile."""
    result = ws.ingest_frame(pd.DataFrame(rows), "case-events")
    assert result.quarantined == 0 and result.loaded == len(rows), result
