"""The canonical, engine-neutral warehouse schema.

Owns: the tables every capability reads (case, case_event, interaction, feedback, audit, outcome,
ops_record), their columns and types, and each table's natural key. Imports nothing that does I/O.

All timestamps are stored as UTC without a zone (``TIMESTAMP``); readers convert from the source's
zone on the way in, so every engine compares instants the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "int", "float", "timestamp", "bool", "json"]

SQL_TYPES: dict[ColumnType, str] = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOLEAN",
    "json": "VARCHAR",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    doc: str = ""


@dataclass(frozen=True)
class Table:
    """A canonical table: its data columns, its natural key and what one row means."""

    name: str
    doc: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    # Column whose value orders versions of the same key ("a newer version updates it").
    version_column: str | None = None
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, type_: ColumnType = "string", doc: str = "") -> Column:
    return Column(name, type_, doc)


# Lineage columns carried by every canonical row, so any number can be traced to its file.
LINEAGE: tuple[Column, ...] = (
    _c("source", doc="file path or URI the row came from"),
    _c("batch_id", doc="ingest batch that last wrote the row"),
    _c("ingested_at", "timestamp", "UTC time the row was written"),
    _c("row_hash", "int", "hash of the row's data columns; equal hash means the same version"),
    _c("flags", doc="comma-separated data-quality flags raised by the profile's checks"),
)

CHANNELS = ("phone", "chat", "email", "app", "web", "walk_in", "social", "sms", "letter", "other")
CASE_STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed", "cancelled")
PRIORITIES = ("low", "normal", "high", "urgent")
ACTOR_TYPES = ("agent", "customer", "system", "bot")
OUTCOMES = (
    "answered",
    "abandoned",
    "short_abandoned",
    "phantom",
    "transferred",
    "callback",
    "other",
)
SURVEYS = ("csat", "nps", "ces", "review", "revisit", "other")

CASE = Table(
    name="case",
    doc="A ticket, complaint, request or visit: one row per case, its latest known version.",
    key=("source_system", "case_id"),
    version_column="updated_at",
    enums={"channel": CHANNELS, "status": CASE_STATUSES, "priority": PRIORITIES},
    columns=(
        _c("source_system", doc="which system the ids belong to (the profile's system)"),
        _c("case_id", doc="the case id in the source system"),
        _c("kind", doc="ticket, complaint, request, visit, ..."),
        _c("channel"),
        _c("category"),
        _c("subcategory"),
        _c("priority"),
        _c("status"),
        _c("customer_id"),
        _c("team"),
        _c("agent"),
        _c("site"),
        _c("region"),
        _c("subject"),
        _c("description"),
        _c("created_at", "timestamp"),
        _c("first_reply_at", "timestamp"),
        _c("resolved_at", "timestamp"),
        _c("closed_at", "timestamp"),
        _c("due_at", "timestamp"),
        _c("updated_at", "timestamp"),
        _c("attributes", "json", "source columns kept as they were, as a JSON object"),
    ),
)

CASE_EVENT = Table(
    name="case_event",
    doc="One status change or activity of a case: the event log behind durations and mining.",
    key=("source_system", "event_id"),
    enums={"actor_type": ACTOR_TYPES, "status": CASE_STATUSES},
    columns=(
        _c("source_system"),
        _c("event_id", doc="source id, or a hash of case, activity, time, lifecycle, occurrence"),
        _c("case_id"),
        _c("activity"),
        _c("timestamp", "timestamp"),
        _c("actor"),
        _c("actor_type", doc="agent, customer, system or bot"),
        _c("lifecycle", doc="XES lifecycle:transition (start, complete, ...)"),
        _c("status", doc="canonical case status after the event, when it changes it"),
        _c("public", "bool", "a reply the customer sees"),
        _c("attributes", "json"),
    ),
)

# what servq.text works out of a row's free text as it is ingested (feedback and calls)
TEXT_ANALYSIS = (
    _c("sentiment_label", doc="positive, negative or neutral, from the shipped model"),
    _c("sentiment_score", "float", "0..1: 1 praise, 0 complaint, 0.5 no opinion"),
    _c("attitude_score", "float", "polarity of what the text says of staff attitude, -1..1"),
    _c("aspects", "json", "aspect → polarity (-1..1) for each service aspect mentioned"),
    _c("risk_categories", doc="comma-separated risk-word categories found (legal, media...)"),
    _c("urgency", doc="high, medium or low"),
)

INTERACTION = Table(
    name="interaction",
    doc="A call or chat: queue and talk times, outcome and transcript.",
    key=("source_system", "interaction_id"),
    enums={"channel": CHANNELS, "outcome": OUTCOMES},
    columns=(
        _c("source_system"),
        _c("interaction_id"),
        _c("case_id"),
        _c("channel"),
        _c("direction", doc="inbound or outbound"),
        _c("queue"),
        _c("priority"),
        _c("call_type"),
        _c("customer_id"),
        _c("agent"),
        _c("team"),
        _c("site"),
        _c("arrived_at", "timestamp", "entered the system (IVR or chat widget)"),
        _c("queued_at", "timestamp", "entered the agent queue"),
        _c("answered_at", "timestamp", "an agent picked up"),
        _c("ended_at", "timestamp"),
        _c("ivr_seconds", "float"),
        _c("queue_seconds", "float"),
        _c("talk_seconds", "float"),
        _c("hold_seconds", "float"),
        _c("wrap_seconds", "float"),
        _c("outcome", doc="answered, abandoned, short_abandoned, phantom, transferred, ..."),
        _c("transcript", doc="personal data masked at ingest"),
        *TEXT_ANALYSIS,
        _c("attributes", "json"),
    ),
)

FEEDBACK = Table(
    name="feedback",
    doc="A survey answer or review: score, free text, link to a case.",
    key=("source_system", "feedback_id"),
    enums={"survey": SURVEYS, "channel": CHANNELS},
    columns=(
        _c("source_system"),
        _c("feedback_id"),
        _c("case_id"),
        _c("interaction_id"),
        _c("survey", doc="csat, nps, ces, review, revisit (a call-back after a complaint)"),
        _c("channel"),
        _c("site"),
        _c("team"),
        _c("agent"),
        _c("customer_id"),
        _c("submitted_at", "timestamp"),
        _c("score", "float"),
        _c("scale_min", "float"),
        _c("scale_max", "float"),
        _c("text", doc="the comment, personal data masked at ingest"),
        _c("language", doc="zh, en, ... when known (detected at ingest when not given)"),
        *TEXT_ANALYSIS,
        _c("attributes", "json"),
    ),
)

AUDIT = Table(
    name="audit",
    doc="One scored checklist item of a mystery-shopper or third-party visit.",
    key=("source_system", "audit_id"),
    columns=(
        _c("source_system"),
        _c("audit_id", doc="visit and item; unique per scored item"),
        _c("visit_id"),
        _c("scorecard"),
        _c("scenario", doc="online or onsite"),
        _c("site"),
        _c("channel"),
        _c("auditor"),
        _c("visited_at", "timestamp"),
        _c("item"),
        _c("score", "float"),
        _c("max_score", "float"),
        _c("weight", "float"),
        _c("comment"),
        _c("attributes", "json"),
    ),
)

OUTCOME = Table(
    name="outcome",
    doc="A business result (order, renewal, churn) for value linkage.",
    key=("source_system", "outcome_id"),
    columns=(
        _c("source_system"),
        _c("outcome_id"),
        _c("customer_id"),
        _c("case_id"),
        _c("site"),
        _c("kind", doc="order, renewal, churn, ..."),
        _c("occurred_at", "timestamp"),
        _c("value", "float"),
        _c("currency"),
        _c("attributes", "json"),
    ),
)

OPS_RECORD = Table(
    name="ops_record",
    doc="An operational record: maintenance log, roster shift, anything that predicts trouble.",
    key=("source_system", "record_id"),
    columns=(
        _c("source_system"),
        _c("record_id"),
        _c("kind", doc="roster, maintenance, incident, ..."),
        _c("site"),
        _c("team"),
        _c("agent"),
        _c("start_at", "timestamp"),
        _c("end_at", "timestamp"),
        _c("value", "float"),
        _c("text"),
        _c("attributes", "json"),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t for t in (CASE, CASE_EVENT, INTERACTION, FEEDBACK, AUDIT, OUTCOME, OPS_RECORD)
}


# Columns servq keeps for itself after the lineage columns of a stored table.
SYSTEM_COLUMNS: dict[str, tuple[Column, ...]] = {
    "case": (
        _c(
            "event_rules",
            doc="the rule set (servq.warehouse.events) whose events this case row implies; "
            "NULL when its events, if any, are stored",
        ),
    ),
}


def all_columns(table: Table) -> tuple[Column, ...]:
    """Data columns followed by lineage columns: what every engine's copy of the table has."""
    return table.columns + LINEAGE


def stored_columns(table: Table) -> tuple[Column, ...]:
    """The physical column order of the table in the embedded warehouse: ``all_columns`` and
    then servq's own columns (``SYSTEM_COLUMNS``)."""
    return all_columns(table) + SYSTEM_COLUMNS.get(table.name, ())
