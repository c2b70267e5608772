"""The tables of the alert lifecycle in the application store.

Owns: ``alert`` (one row per episode of a condition: opened by a firing signal, closed when it
resolves), ``alert_transition`` (every change of an alert, with who and when) and ``silence``
(label matchers that mute notices until an end time). Nothing here decides anything: the rules
live in :mod:`servq.monitor.alerts.manager`.

``alert.open_fingerprint`` equals ``fingerprint`` while the alert is open and is NULL once it is
resolved. Its UNIQUE constraint is the portable "at most one open alert per fingerprint": NULLs
never collide, so resolved episodes of one fingerprint pile up freely, while two processes that
both try to open the same condition cannot both commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from servq.app_store import Base, JSONType

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only


class AlertRow(Base):
    """One alert: a condition (rule × labels) from the moment it fired until it resolved."""

    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(32), index=True)
    open_fingerprint: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    rule: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSONType)
    summary_en: Mapped[str] = mapped_column(Text, default="")
    summary_zh: Mapped[str] = mapped_column(Text, default="")
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType)
    starts_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    first_notified_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_notified_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    count: Mapped[int] = mapped_column(Integer, default=1)


class AlertTransitionRow(Base):
    """One change of an alert: a state change, or an escalation (``from_state == to_state``)."""

    __tablename__ = "alert_transition"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(_ID, ForeignKey("alert.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    who: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime)
    note: Mapped[str] = mapped_column(Text, default="")


class SilenceRow(Base):
    """Label matchers under which alerts raise no notices from ``starts_at`` to ``ends_at``."""

    __tablename__ = "silence"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    matchers: Mapped[dict[str, str]] = mapped_column(JSONType)
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    ends_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
