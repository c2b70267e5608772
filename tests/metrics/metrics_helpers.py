"""Shared test data for the metrics tests (imported by bare name, as tests/sla/sla_helpers.py)."""

from __future__ import annotations

import pandas as pd

import servq

# one ticket, its status log: new 09:00–09:10, open 09:10–09:40, on hold 09:40–10:40,
# open 10:40–10:45, pending 10:45–11:00, open 11:00–11:30, solved 11:30 (UTC)
LOG_T1 = [
    ("2025-03-03T09:00:00Z", "created", "customer", "new"),
    ("2025-03-03T09:10:00Z", "agent_replied", "agent", "open"),
    ("2025-03-03T09:40:00Z", "status_changed", "agent", "on_hold"),
    ("2025-03-03T10:40:00Z", "customer_replied", "customer", "open"),
    ("2025-03-03T10:45:00Z", "agent_replied", "agent", "pending"),
    ("2025-03-03T11:00:00Z", "customer_replied", "customer", "open"),
    ("2025-03-03T11:20:00Z", "agent_replied", "agent", None),
    ("2025-03-03T11:30:00Z", "solved", "agent", "solved"),
]


def load_status_log(
    ws: servq.Workspace, ticket: str, log: list[tuple[str, str, str, str | None]]
) -> None:
    """A ticket created at the log's first time, then its log through the case-events profile."""
    ws.ingest_frame(pd.DataFrame({"ticket_id": [ticket], "created_at": [log[0][0]]}), "tickets")
    ws.ingest_frame(
        pd.DataFrame(
            {
                "ticket_id": [ticket] * len(log),
                "timestamp": [x[0] for x in log],
                "activity": [x[1] for x in log],
                "actor_type": [x[2] for x in log],
                "status": [x[3] for x in log],
                "public": ["true"] * len(log),
            }
        ),
        "case-events",
    )
