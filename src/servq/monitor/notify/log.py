"""The delivery log: one row per attempt to send a notification, kept in the application store.

Owns: the table ``notification_delivery`` and reading it back. A row says which delivery and
attempt it was, when (naive UTC), how long the notifier waited before it, whether it was
delivered, the answer (HTTP or SMTP code, error, an excerpt of the reply) and an excerpt of what
was sent. Addresses and secrets are never written: robot URLs carry their access tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from servq.app_store import Base, Store

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only
PAYLOAD_EXCERPT_CHARS = 2000


class NotificationDelivery(Base):
    __tablename__ = "notification_delivery"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    alert_id: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    waited_seconds: Mapped[float] = mapped_column(Float)
    ok: Mapped[bool] = mapped_column(Boolean)
    final: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_excerpt: Mapped[str] = mapped_column(Text)
    payload_excerpt: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class DeliveryRecord:
    """One logged attempt. ``final`` marks the last attempt of its delivery."""

    delivery_id: str
    channel: str
    kind: str
    fingerprint: str
    alert_id: str
    state: str
    attempt: int
    at: datetime
    waited_seconds: float
    ok: bool
    final: bool
    status_code: int | None
    error: str | None
    response_excerpt: str
    payload_excerpt: str


RECORD_FIELDS = tuple(DeliveryRecord.__dataclass_fields__)


def write(store: Store, record: DeliveryRecord) -> None:
    """Append one attempt to the log (committed at once, so a crash loses nothing sent)."""
    values = {name: getattr(record, name) for name in RECORD_FIELDS}
    values["payload_excerpt"] = record.payload_excerpt[:PAYLOAD_EXCERPT_CHARS]
    with store.session() as s:
        s.add(NotificationDelivery(**values))


def read(store: Store, fingerprint: str | None = None, limit: int = 100) -> list[DeliveryRecord]:
    """The newest ``limit`` attempts, newest first; only one alert's with ``fingerprint``."""
    query = select(NotificationDelivery)
    if fingerprint is not None:
        query = query.where(NotificationDelivery.fingerprint == fingerprint)
    query = query.order_by(NotificationDelivery.at.desc(), NotificationDelivery.id.desc())
    with store.session() as s:
        rows = s.scalars(query.limit(limit)).all()
        return [DeliveryRecord(**{n: getattr(row, n) for n in RECORD_FIELDS}) for row in rows]
