"""The ``report_run`` table: which scheduled report was sent for which period.

Owns: one row per (schedule, period), declared on :class:`servq.app_store.Base` when this module
is imported (the application store imports it through ``MODEL_MODULES``), and the claim that
keeps a period from being sent twice: a delivery first *claims* its row (state ``sending``); the
UNIQUE (schedule_id, period) constraint lets only one process hold it. A delivery that failed
(state ``failed``) may be claimed again, and so may a claim left ``sending`` for longer than
``stale_after`` by a process that died; a ``sent`` row never is. Imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from servq.app_store import Base, JSONType, Store

RunState = Literal["sending", "sent", "failed"]
STALE_AFTER = timedelta(hours=1)
_ID = BigInteger().with_variant(Integer, "sqlite")


class ReportRunRow(Base):
    """One scheduled report for one period: claimed, then sent or failed."""

    __tablename__ = "report_run"
    __table_args__ = (UniqueConstraint("schedule_id", "period", name="uq_report_run_period"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    schedule_id: Mapped[str] = mapped_column(String(200), index=True)
    period: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16))
    claimed_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    recipients: Mapped[list[str]] = mapped_column(JSONType)
    files: Mapped[list[str]] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


@dataclass(frozen=True)
class ReportRun:
    """A row of ``report_run`` as plain data; times naive UTC."""

    schedule_id: str
    period: str
    state: str
    claimed_at: datetime
    finished_at: datetime | None
    attempts: int
    recipients: tuple[str, ...]
    files: tuple[str, ...]
    error: str | None

    @classmethod
    def of(cls, row: ReportRunRow) -> ReportRun:
        return cls(
            schedule_id=row.schedule_id,
            period=row.period,
            state=row.state,
            claimed_at=row.claimed_at,
            finished_at=row.finished_at,
            attempts=row.attempts,
            recipients=tuple(row.recipients or ()),
            files=tuple(row.files or ()),
            error=row.error,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "schedule_id": self.schedule_id,
            "period": self.period,
            "state": self.state,
            "claimed_at": self.claimed_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "attempts": self.attempts,
            "recipients": list(self.recipients),
            "files": list(self.files),
            "error": self.error,
        }


def claim(
    store: Store,
    schedule_id: str,
    period: str,
    now: datetime,
    *,
    stale_after: timedelta = STALE_AFTER,
) -> bool:
    """Take the (schedule, period) for sending; False when it was sent or is being sent."""
    try:
        with store.session() as s:
            row = s.scalars(
                select(ReportRunRow).where(
                    ReportRunRow.schedule_id == schedule_id, ReportRunRow.period == period
                )
            ).first()
            if row is None:
                s.add(
                    ReportRunRow(
                        schedule_id=schedule_id,
                        period=period,
                        state="sending",
                        claimed_at=now,
                        attempts=0,
                        recipients=[],
                        files=[],
                    )
                )
                return True
            if row.state == "sent":
                return False
            if row.state == "sending" and row.claimed_at > now - stale_after:
                return False
            # failed, or a stale claim: take it over unless another process just did
            taken = s.execute(
                update(ReportRunRow)
                .where(
                    ReportRunRow.id == row.id,
                    ReportRunRow.state == row.state,
                    ReportRunRow.claimed_at == row.claimed_at,
                )
                .values(state="sending", claimed_at=now, error=None)
            )
            return bool(getattr(taken, "rowcount", 0))
    except IntegrityError:  # another process inserted the same claim first
        return False


def finish(
    store: Store,
    schedule_id: str,
    period: str,
    *,
    ok: bool,
    now: datetime,
    attempts: int,
    recipients: tuple[str, ...] = (),
    files: tuple[str, ...] = (),
    error: str | None = None,
) -> None:
    """Record how the claimed delivery ended: ``sent`` (never sent again) or ``failed``."""
    with store.session() as s:
        s.execute(
            update(ReportRunRow)
            .where(ReportRunRow.schedule_id == schedule_id, ReportRunRow.period == period)
            .values(
                state="sent" if ok else "failed",
                finished_at=now,
                attempts=attempts,
                recipients=list(recipients),
                files=list(files),
                error=error,
            )
        )


def get_run(store: Store, schedule_id: str, period: str) -> ReportRun | None:
    with store.session() as s:
        row = s.scalars(
            select(ReportRunRow).where(
                ReportRunRow.schedule_id == schedule_id, ReportRunRow.period == period
            )
        ).first()
        return None if row is None else ReportRun.of(row)


def was_sent(store: Store, schedule_id: str, period: str) -> bool:
    run = get_run(store, schedule_id, period)
    return run is not None and run.state == "sent"


def runs(store: Store, schedule_id: str | None = None, limit: int = 100) -> list[ReportRun]:
    """Recorded runs, newest claim first; only one schedule's with ``schedule_id``."""
    query = select(ReportRunRow).order_by(ReportRunRow.claimed_at.desc(), ReportRunRow.id.desc())
    if schedule_id is not None:
        query = query.where(ReportRunRow.schedule_id == schedule_id)
    with store.session() as s:
        return [ReportRun.of(r) for r in s.scalars(query.limit(limit))]
