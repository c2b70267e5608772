"""Live events into the warehouse, so metrics, rules and reports see them.

Owns: :class:`WarehouseSink`. Events taken in over HTTP or NATS are stored in the application
store first (that is what their answer promises); the sink copies them into the DuckDB
warehouse through the ordinary ingest path, with the internal profiles in ``live_profiles/``
(source system ``live``, timestamps in naive UTC):

- every case event → ``case_event`` (activity = the event type; actor and actor type from it);
- the case's state after its events → ``case`` (created, first reply, resolution and close
  times, status and labels; a newer state replaces an older one);
- ``feedback_received`` → ``feedback``; ``call_finished`` → ``interaction``.

The sink keeps a cursor in the store (``monitor_cursor`` row ``warehouse``). A flush that
fails leaves the cursor where it was and is tried again; what it had loaded counts once,
because the warehouse drops rows it already holds. Events committed out of sequence order by
two workers (each commits its batch in one transaction, so the gap is a batch's commit time)
are caught by re-reading the intake of the ``recent_seconds`` before the last flush.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import or_, select

from servq.app_store import Store
from servq.monitor.events import CASE_TYPES, status_after
from servq.monitor.runtime import read_cursor, write_cursor
from servq.monitor.store import IntakeEvent, MonitorCase, state_from_json
from servq.workspace import Workspace, open_workspace

log = logging.getLogger("servq.monitor.sink")

CURSOR = "warehouse"
_ACTOR = {"agent_replied": "agent", "customer_replied": "customer"}
_CASE_COLUMNS = (
    "case_id", "channel", "category", "priority", "status", "customer_id", "team", "agent",
    "site", "created_at", "first_reply_at", "resolved_at", "closed_at", "updated_at",
)  # fmt: skip


_CALL_FIELDS = (
    "queue", "agent", "team", "site", "queue_seconds", "talk_seconds", "hold_seconds",
    "wrap_seconds", "transcript",
)  # fmt: skip


def _profile(name: str) -> Path:
    return Path(str(resources.files("servq.monitor").joinpath("live_profiles", f"{name}.yaml")))


def _utc_text(value: Any) -> str | None:
    """Naive UTC text as the live profiles read it."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return str(value.isoformat(sep=" "))


@dataclass
class SinkResult:
    """What one flush copied: rows by warehouse table, and the cursor after it."""

    events: int = 0
    loaded: dict[str, int] = field(default_factory=dict)
    cursor: int = 0


class WarehouseSink:
    """Copies the store's new events into a workspace's warehouse (see the module doc)."""

    def __init__(
        self,
        store: Store,
        workspace: Path,
        *,
        recent_seconds: float = 5.0,
    ) -> None:
        self.store = store
        self.workspace = Path(workspace)
        self.recent = timedelta(seconds=recent_seconds)
        self._last_flush: datetime | None = None

    @contextmanager
    def _warehouse(self, ws: Workspace | None) -> Iterator[Workspace]:
        if ws is not None:
            yield ws
            return
        with open_workspace(self.workspace) as opened:
            yield opened

    def flush(self, now: datetime, ws: Workspace | None = None) -> SinkResult:
        """Copy what arrived since the last flush; ``ws`` is an open workspace to use (else
        the workspace is opened for the flush and closed after it)."""
        result = SinkResult(cursor=read_cursor(self.store, CURSOR))
        since = self._last_flush - self.recent if self._last_flush else None
        rows = self._read(result.cursor, since)
        if not rows:
            self._last_flush = now
            return result
        frames = self._frames(rows)
        with self._warehouse(ws) as warehouse:
            for profile, frame in frames.items():
                if frame.empty:
                    continue
                loaded = warehouse.ingest_frame(frame, _profile(profile), source="live")
                result.loaded[profile] = loaded.loaded
        result.events = len(rows)
        result.cursor = max(result.cursor, max(r["seq"] for r in rows))
        write_cursor(self.store, CURSOR, result.cursor)
        self._last_flush = now
        return result

    def _read(self, cursor: int, since: datetime | None) -> list[dict[str, Any]]:
        t = IntakeEvent
        newer = t.seq > cursor
        cond = or_(newer, t.received_at >= since) if since is not None else newer
        with self.store.session() as s:
            found = s.execute(
                select(t.seq, t.event_id, t.type, t.case_id, t.occurred_at, t.payload)
                .where(cond)
                .order_by(t.seq)
            ).all()
        return [r._asdict() for r in found]

    def _frames(self, rows: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
        events: list[dict[str, Any]] = []
        feedback: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        cases: set[str] = set()
        for r in rows:
            p = r["payload"] or {}
            kind = r["type"]
            at = _utc_text(r["occurred_at"])
            if kind in CASE_TYPES:
                cases.add(r["case_id"])
                events.append(
                    {
                        "event_id": r["event_id"],
                        "case_id": r["case_id"],
                        "activity": kind,
                        "timestamp": at,
                        "actor": p.get("agent") if kind == "agent_replied" else None,
                        "actor_type": _ACTOR.get(kind, "system"),
                        "status": status_after(kind, p.get("status")),
                        "public": "true" if kind in _ACTOR else None,
                    }
                )
            elif kind == "feedback_received":
                feedback.append(
                    {
                        "feedback_id": r["event_id"],
                        "case_id": r["case_id"],
                        "submitted_at": at,
                        "survey": p.get("survey"),
                        "score": p.get("score"),
                        "scale_min": p.get("scale_min"),
                        "scale_max": p.get("scale_max"),
                        **{k: p.get(k) for k in ("channel", "site", "team", "agent")},
                        "customer_id": p.get("customer_id"),
                        "text": p.get("text"),
                    }
                )
            elif kind == "call_finished":
                answered = p.get("answered")
                calls.append(
                    {
                        "interaction_id": r["event_id"],
                        "case_id": r["case_id"],
                        "ended_at": at,
                        **{k: p.get(k) for k in _CALL_FIELDS},
                        "outcome": None
                        if answered is None
                        else ("answered" if answered else "abandoned"),
                    }
                )
        return {
            "live-events": pd.DataFrame(events),
            "live-cases": pd.DataFrame(self._cases(cases), columns=list(_CASE_COLUMNS)),
            "live-feedback": pd.DataFrame(feedback),
            "live-calls": pd.DataFrame(calls),
        }

    def _cases(self, case_ids: set[str]) -> list[dict[str, Any]]:
        if not case_ids:
            return []
        out: list[dict[str, Any]] = []
        ids = sorted(case_ids)
        with self.store.session() as s:
            for i in range(0, len(ids), 1000):
                for state_json, last in s.execute(
                    select(MonitorCase.state, MonitorCase.last_event_at).where(
                        MonitorCase.case_id.in_(ids[i : i + 1000])
                    )
                ):
                    state = state_from_json(state_json)
                    closed = next((t for st, t in reversed(state.statuses) if st == "closed"), None)
                    out.append(
                        {
                            "case_id": state.case_id,
                            "channel": state.channel,
                            "category": state.category,
                            "priority": state.priority,
                            "status": state.status,
                            "customer_id": state.customer_id,
                            "team": state.team,
                            "agent": state.agent,
                            "site": state.site,
                            "created_at": _utc_text(state.created_at),
                            "first_reply_at": _utc_text(state.first_reply_at),
                            "resolved_at": _utc_text(state.resolved_at),
                            "closed_at": _utc_text(closed) if state.status == "closed" else None,
                            "updated_at": _utc_text(last),
                        }
                    )
        return out
