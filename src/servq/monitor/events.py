"""The events servq takes in real time, over HTTP (``POST /api/v1/events``) and from NATS.

Owns: the event model and its validation, one event at a time, so one bad event in a batch is
rejected with its reason while the others are stored. Every event has ``event_id`` (the
sender's id: the same id sent twice is stored once), ``type``, ``case_id`` and ``timestamp``
(ISO 8601 *with* an offset: a time without one is ambiguous and is refused). Other fields by
type::

    case_created         status (default new), priority, channel, category, team, site, agent,
                         customer_id, created_by (customer | agent), text
    case_updated         any of priority, channel, category, team, site, agent, customer_id
    case_status_changed  status (required)
    agent_replied        agent, text
    customer_replied     text
    case_resolved        (status becomes solved) agent
    case_reopened        (status becomes open)
    case_closed          (status becomes closed)
    feedback_received    score and/or text; survey (csat | nps | ces | review | revisit), scale_max
    call_finished        queue_seconds, talk_seconds, hold_seconds, wrap_seconds, answered,
                         agent, queue, transcript

Unknown fields are kept in ``attributes``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from servq.warehouse.schema import CASE_STATUSES, CHANNELS, PRIORITIES, SURVEYS

EventType = Literal[
    "case_created",
    "case_updated",
    "case_status_changed",
    "agent_replied",
    "customer_replied",
    "case_resolved",
    "case_reopened",
    "case_closed",
    "feedback_received",
    "call_finished",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
# event types that change a case's live state (the others are stored for the warehouse)
CASE_TYPES = frozenset(EVENT_TYPES) - {"feedback_received", "call_finished"}
# the status an event type sets, when it sets one by itself
STATUS_OF = {"case_resolved": "solved", "case_reopened": "open", "case_closed": "closed"}

_KNOWN = {"priority": PRIORITIES, "channel": CHANNELS, "status": CASE_STATUSES, "survey": SURVEYS}


class Event(BaseModel):
    """One event; see the module docstring for the fields of each type."""

    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=True)

    event_id: str = Field(min_length=1, max_length=200)
    type: EventType
    case_id: str = Field(min_length=1, max_length=200)
    timestamp: datetime
    status: str | None = None
    priority: str | None = None
    channel: str | None = None
    category: str | None = None
    team: str | None = None
    site: str | None = None
    agent: str | None = None
    customer_id: str | None = None
    created_by: Literal["customer", "agent"] | None = None
    text: str | None = None
    score: float | None = None
    survey: str | None = None
    scale_max: float | None = None
    queue_seconds: float | None = Field(default=None, ge=0)
    talk_seconds: float | None = Field(default=None, ge=0)
    hold_seconds: float | None = Field(default=None, ge=0)
    wrap_seconds: float | None = Field(default=None, ge=0)
    answered: bool | None = None
    queue: str | None = None
    transcript: str | None = None

    @field_validator("timestamp")
    @classmethod
    def _with_offset(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("needs a UTC offset, e.g. 2025-03-01T09:30:00+08:00 or ...Z")
        return value

    @field_validator("priority", "channel", "status", "survey")
    @classmethod
    def _known_value(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return None
        allowed = _KNOWN[info.field_name]
        if value not in allowed:
            raise ValueError(f"unknown {info.field_name} {value!r} (one of {', '.join(allowed)})")
        return value

    @model_validator(mode="after")
    def _fields_of_type(self) -> Event:
        if self.type == "case_status_changed" and self.status is None:
            raise ValueError("a case_status_changed event needs a status")
        if self.type == "feedback_received" and self.score is None and not self.text:
            raise ValueError("a feedback_received event needs a score or a text")
        return self

    @cached_property
    def at(self) -> datetime:
        """The timestamp as naive UTC (the store's convention)."""
        return self.timestamp.astimezone(UTC).replace(tzinfo=None)

    @property
    def attributes(self) -> dict[str, Any]:
        """Fields the model does not know, kept as sent."""
        return dict(self.model_extra or {})

    def new_status(self) -> str | None:
        """The status the case has after this event, if the event sets one."""
        return status_after(self.type, self.status)


def status_after(kind: str, status: str | None) -> str | None:
    """The status a case has after an event of type ``kind`` carrying ``status``, None when
    such an event sets none; a case is created ``new`` unless the event says otherwise."""
    if kind == "case_created":
        return status or "new"
    if kind == "case_status_changed":
        return status
    return STATUS_OF.get(kind)


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "event"
        got = err.get("input")
        shown = "" if isinstance(got, dict) or got is None else f" (got {str(got)[:60]!r})"
        parts.append(f"{where}: {err['msg']}{shown}")
    return "; ".join(parts)


def parse_event(raw: Any) -> Event | str:
    """An :class:`Event`, or the reason it is rejected (one line, every problem named)."""
    if not isinstance(raw, dict):
        return f"an event is a JSON object (got {type(raw).__name__})"
    try:
        return Event.model_validate(raw)
    except ValidationError as exc:
        return _reason(exc)


def event_id_of(raw: Any) -> str | None:
    """The event id of a raw event, when it has a usable one (for answering about rejects)."""
    if isinstance(raw, dict):
        value = raw.get("event_id")
        if isinstance(value, str | int) and str(value).strip():
            return str(value).strip()
    return None
