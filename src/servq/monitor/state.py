"""The live state of one open case, as the monitor keeps it between events.

Built by ``store`` from the event stream (``case_created``, ``case_status_changed``,
``agent_replied``, ``customer_replied``, ``case_resolved``…), persisted with every event, and
read by ``timers`` to place SLA deadlines. All times are naive UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# statuses of the canonical warehouse (servq.warehouse.schema.CASE_STATUSES)
DONE_STATUSES = frozenset({"solved", "closed", "cancelled"})


@dataclass
class CaseState:
    """What the monitor knows of a case now.

    ``statuses`` is the case's status history: ``(status, since)`` in time order, the last one
    is the current status. ``awaiting_reply_since`` is the first customer message not yet
    answered by an agent after the first reply (the start of a next-reply clock), else None.
    ``version`` grows by one with every event applied, so a stale timer can be told apart.
    """

    case_id: str
    created_at: datetime
    statuses: list[tuple[str, datetime]]
    priority: str | None = None
    channel: str | None = None
    category: str | None = None
    team: str | None = None
    site: str | None = None
    agent: str | None = None
    customer_id: str | None = None
    created_by_agent: bool = False
    agent_replies: int = 0
    first_reply_at: datetime | None = None
    awaiting_reply_since: datetime | None = None
    resolved_at: datetime | None = None
    version: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.statuses[-1][0]

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATUSES

    def labels(self) -> dict[str, str]:
        """The grouping labels of the case that alerts carry (only those known)."""
        out = {"case_id": self.case_id}
        for key in ("team", "site", "agent", "priority", "channel", "category"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out
