"""The demo's ticket log as the real-time events a ticketing system would send to servq.

Owns: :func:`demo_events`, which turns ``tickets.csv`` and ``ticket_events.csv`` of a generated
demo into events of ``POST /api/v1/events`` (see :mod:`servq.monitor.events`), and
:data:`DEMO_POLICY`, the SLA policy whose resolution targets are the demo's ``due_at``. With
them, ``servq replay --demo`` runs twelve weeks of the demo through the live monitor.

Mapping, per row of ``ticket_events.csv``: ``created`` → ``case_created`` with the ticket's
fields; ``assigned`` → ``case_updated`` (the agent) and ``case_status_changed``;
``agent_replied`` by an agent → ``agent_replied`` (bot greetings are left out: they are not a
reply by a person); ``customer_replied`` → ``customer_replied``; ``status_changed`` →
``case_status_changed``; ``solved``/``reopened``/``closed`` → ``case_resolved``/
``case_reopened``/``case_closed``. A row that also changes the status (a reply that leaves the
ticket pending) adds a ``case_status_changed`` with the id ``<event_id>:status``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

_BEIJING = timezone(timedelta(hours=8))
# the policy file shipped beside this module
DEMO_POLICY_FILE = "demo-due.yaml"

_DIRECT = {
    "solved": "case_resolved",
    "reopened": "case_reopened",
    "closed": "case_closed",
    "status_changed": "case_status_changed",
}
_CASE_FIELDS = ("priority", "channel", "category", "team", "site", "customer_id")


def demo_policy_path(folder: Path) -> Path:
    """Write the demo's SLA policy into ``folder`` (a workspace's ``sla/``) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DEMO_POLICY_FILE
    text = resources.files(__package__).joinpath(DEMO_POLICY_FILE).read_text(encoding="utf-8")
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def export_moment(input_dir: Path) -> datetime:
    """The export instant of a generated demo as naive UTC: the Beijing midnight after its
    last event (the generator writes nothing at or after it)."""
    last: datetime | None = None
    with (input_dir / "ticket_events.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            at = datetime.fromisoformat(row["timestamp"])
            last = at if last is None or at > last else last
    if last is None:
        raise ValueError(f"{input_dir / 'ticket_events.csv'} has no events")
    local = last.astimezone(_BEIJING)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=_BEIJING)
    return midnight.astimezone(UTC).replace(tzinfo=None)


def _tickets(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return {row["ticket_id"]: row for row in csv.DictReader(f)}


def demo_events(input_dir: Path) -> Iterator[dict[str, Any]]:
    """The events of a generated demo (``tickets.csv`` and ``ticket_events.csv`` in
    ``input_dir``), in the order of the log."""
    tickets = _tickets(input_dir / "tickets.csv")
    with (input_dir / "ticket_events.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            yield from _convert(row, tickets)


def _convert(row: dict[str, str], tickets: dict[str, dict[str, str]]) -> Iterator[dict[str, Any]]:
    eid, case_id, at = row["event_id"], row["ticket_id"], row["timestamp"]
    activity, actor_type, status = row["activity"], row["actor_type"], row["status"]
    base = {"case_id": case_id, "timestamp": at}
    ticket = tickets.get(case_id, {})
    if activity == "created":
        fields = {k: ticket[k] for k in _CASE_FIELDS if ticket.get(k)}
        yield {
            "event_id": eid,
            "type": "case_created",
            **base,
            **fields,
            "status": status or "new",
            "created_by": "customer",
            "text": ticket.get("subject", ""),
        }
        return
    if activity == "assigned":
        if ticket.get("agent"):
            yield {"event_id": f"{eid}:agent", "type": "case_updated", **base,
                   "agent": ticket["agent"]}  # fmt: skip
    elif activity == "agent_replied":
        if actor_type != "agent":
            return
        yield {"event_id": eid, "type": "agent_replied", **base, "agent": row["actor"]}
    elif activity == "customer_replied":
        yield {"event_id": eid, "type": "customer_replied", **base}
    elif activity in _DIRECT:
        event = {"event_id": eid, "type": _DIRECT[activity], **base}
        if activity == "status_changed":
            event["status"] = status
        yield event
        return
    else:
        return
    if status:
        yield {"event_id": f"{eid}:status", "type": "case_status_changed", **base,
               "status": status}  # fmt: skip
