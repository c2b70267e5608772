"""Closing the loop with customers and staff: revisits, the suggestion box and standards (SOPs).

Owns: four application-store tables, declared on :class:`servq.app_store.Base` when this module
is imported (the store imports it through ``MODEL_MODULES``), and :class:`LoopService`, the
transactions on them.

- ``improve_revisit``: a call-back to a complainant after a problem was worked on. Each call is
  an attempt; ``unreachable`` keeps the revisit open for another try, ``satisfied`` and
  ``not_satisfied`` close it. :meth:`LoopService.revisit_satisfaction` is the *revisit
  satisfaction* metric: satisfied / (satisfied + not satisfied); revisits whose last attempt
  was ``unreachable`` are reported apart and left out of the denominator.
- ``improve_suggestion`` and ``improve_vote``: the suggestion box of staff and customers, one
  vote per voter (``UNIQUE (suggestion_id, voter)``), the count kept on the suggestion.
- ``improve_sop``: standard operating procedures written from an improvement plan, versioned
  (``(id, version)`` is the key); the version in force on a day is the latest whose effective
  date has come.

Problems (``P-0001``) and plans (``A-0001``) live in other tables of the improve package; they
are referred to by their text id only, without foreign keys, so this module stands alone.

Personal data: free text that may be shown publicly (suggestion titles and texts, revisit
customer references and notes) is masked with :func:`servq.text.pii.mask` *before* it is
stored; :func:`public_suggestion` is the only view of a suggestion meant for the public. SOP
bodies are standards written by staff for staff and are stored as written (masking would
damage the service numbers they must quote). Timestamps are naive UTC; months are UTC months.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar, get_args

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Mapped, Session, mapped_column

from servq.app_store import Base, Store
from servq.errors import ServqError
from servq.text.pii import find_pii, mask
from servq.warehouse.store import utcnow

__all__ = [
    "AUTHOR_KINDS",
    "OUTCOMES",
    "SUGGESTION_STATUSES",
    "VOTER_KEY_ENV",
    "LoopError",
    "LoopService",
    "RevisitRow",
    "SopRow",
    "SuggestionRow",
    "VoteRow",
    "customer_voter",
    "public_suggestion",
]

Outcome = Literal["satisfied", "not_satisfied", "unreachable"]
AuthorKind = Literal["staff", "customer"]
SuggestionStatus = Literal["new", "accepted", "rejected", "became_problem"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
AUTHOR_KINDS: tuple[str, ...] = get_args(AuthorKind)
SUGGESTION_STATUSES: tuple[str, ...] = get_args(SuggestionStatus)
CLOSING_OUTCOMES = frozenset({"satisfied", "not_satisfied"})

# secret of the customer voter hash; set it in production so hashes cannot be recomputed
VOTER_KEY_ENV = "SERVQ_VOTER_KEY"

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_ID_TRIES = 20  # new text ids are max + 1; a clash with a concurrent writer is retried

T = TypeVar("T")


class LoopError(ServqError):
    """A revisit, suggestion or SOP request that cannot be done; the message says why in
    English and Chinese."""


def _error(en: str, zh: str) -> LoopError:
    return LoopError(f"{en} / {zh}")


# -- tables ---------------------------------------------------------------------------------------
class RevisitRow(Base):
    """One call-back to a complainant about a problem. Open while ``done_at`` is null."""

    __tablename__ = "improve_revisit"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    problem_id: Mapped[str] = mapped_column(String(40), index=True)
    case_id: Mapped[str] = mapped_column(String(200))
    customer_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)  # masked
    due_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    assigned_to: Mapped[str | None] = mapped_column(String(200), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(Text, default="")  # one masked line per attempt
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    done_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class SuggestionRow(Base):
    """One suggestion of a member of staff or a customer; title and text are stored masked."""

    __tablename__ = "improve_suggestion"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)  # S-0001
    author_kind: Mapped[str] = mapped_column(String(16))
    author: Mapped[str | None] = mapped_column(String(200), nullable=True)
    department: Mapped[str | None] = mapped_column(String(200), nullable=True)
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    status: Mapped[str] = mapped_column(String(20), default="new")
    problem_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    votes: Mapped[int] = mapped_column(Integer, default=0)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class VoteRow(Base):
    """One voter's vote for a suggestion; a second vote of the same voter is refused."""

    __tablename__ = "improve_vote"
    __table_args__ = (UniqueConstraint("suggestion_id", "voter", name="uq_improve_vote_voter"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    suggestion_id: Mapped[str] = mapped_column(
        String(20), ForeignKey("improve_suggestion.id", ondelete="CASCADE"), index=True
    )
    voter: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime)


class SopRow(Base):
    """One version of a standard operating procedure; ``(id, version)`` is the key."""

    __tablename__ = "improve_sop"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)  # SOP-0001
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    plan_id: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # markdown
    effective_date: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)


# -- helpers --------------------------------------------------------------------------------------
def _naive_utc(moment: datetime, what: str) -> datetime:
    if not isinstance(moment, datetime):
        raise _error(f"{what}: expected a date and time", f"{what}：需要日期时间")
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def _required(value: Any, what: str, *, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise _error(f"{what} is required", f"{what} 不能为空")
    if len(text) > limit:
        raise _error(f"{what} is longer than {limit} characters", f"{what} 超过 {limit} 个字符")
    return text


def _optional(value: Any, what: str, *, limit: int) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _required(value, what, limit=limit)


def _month_range(month: str) -> tuple[datetime, datetime]:
    """``2026-03`` → [2026-03-01, 2026-04-01) as naive UTC datetimes."""
    found = _MONTH.match(month.strip()) if isinstance(month, str) else None
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise _error(
            f"cannot read month {month!r}: use e.g. 2026-03",
            f"月份格式错误：{month!r}，例如 2026-03",
        )
    year, mon = int(found.group(1)), int(found.group(2))
    start = datetime(year, mon, 1)
    end = datetime(year + 1, 1, 1) if mon == 12 else datetime(year, mon + 1, 1)
    return start, end


def _bound(value: date | datetime | None, what: str, *, end: bool) -> datetime | None:
    """A period bound as naive UTC: a datetime as given (the end excluded); a date is its
    midnight, and an end date counts whole (up to the next midnight)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _naive_utc(value, what)
    if isinstance(value, date):
        midnight = datetime(value.year, value.month, value.day)
        return midnight + timedelta(days=1) if end else midnight
    raise _error(f"{what}: expected a date or a date and time", f"{what}：需要日期或日期时间")


def _as_date(value: Any, what: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _error(
        f"{what}: expected a date such as 2026-04-01", f"{what}：需要日期，例如 2026-04-01"
    )


def customer_voter(token: str, *, key: str | None = None) -> str:
    """The voter name of a customer: ``customer:`` and an HMAC-SHA256 of their token (an
    open id, a phone number, a survey link token), so the token itself is never stored.
    ``key`` defaults to ``$SERVQ_VOTER_KEY``; set it, or anyone can recompute the hash of a
    phone number."""
    text = _required(token, "customer token", limit=1000)
    secret = key if key is not None else os.environ.get(VOTER_KEY_ENV, "servq")
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    return f"customer:{digest[:40]}"


def _month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def public_suggestion(row: SuggestionRow | Mapping[str, Any]) -> dict[str, Any]:
    """What the public may see of a suggestion: title, masked text, votes, status and month,
    never its author, department or anything about a customer. ``row`` is a
    :class:`SuggestionRow` or a dict from :class:`LoopService`."""
    if isinstance(row, SuggestionRow):
        title, text, votes, status, created = (
            row.title,
            row.text,
            row.votes,
            row.status,
            row.created_at,
        )
    else:
        title, text, votes, status = row["title"], row["text"], row["votes"], row["status"]
        created = row["created_at"]
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
    # masked again: a row written by other code may not have been
    return {
        "title": mask(title),
        "text": mask(text),
        "votes": int(votes or 0),
        "status": status,
        "month": _month_of(created),
    }


# -- the service ----------------------------------------------------------------------------------
class LoopService:
    """Revisits, suggestions and SOPs on an application store. ``clock`` returns naive UTC
    (default: the system clock). Every method is one transaction; errors are
    :class:`LoopError`."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or utcnow

    def _now(self) -> datetime:
        return _naive_utc(self.clock(), "clock")

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self.store.session() as s:
            yield s

    def _with_new_id(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a transaction, again when a new text id clashed with another
        writer's (the primary key refuses the second)."""
        for attempt in range(_ID_TRIES):
            try:
                with self._session() as s:
                    return work(s)
            except IntegrityError:
                if attempt == _ID_TRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _next_id(s: Session, column: InstrumentedAttribute[str], prefix: str) -> str:
        """``PREFIX-0001`` or one more than the highest number in use (longer ids first, so
        ``S-10000`` follows ``S-9999``)."""
        last = s.scalar(
            select(column)
            .where(column.like(f"{prefix}-%"))
            .order_by(func.length(column).desc(), column.desc())
            .limit(1)
        )
        number = 1
        if last:
            tail = last.rsplit("-", 1)[-1]
            number = int(tail) + 1 if tail.isdigit() else 1
        return f"{prefix}-{number:04d}"

    # -- revisits ---------------------------------------------------------------------------------
    def _revisit_dict(self, row: RevisitRow, now: datetime) -> dict[str, Any]:
        is_open = row.done_at is None
        return {
            "id": row.id,
            "problem_id": row.problem_id,
            "case_id": row.case_id,
            "customer_ref": row.customer_ref,
            "due_at": row.due_at,
            "assigned_to": row.assigned_to,
            "outcome": row.outcome,
            "attempts": row.attempts,
            "note": row.note,
            "last_attempt_at": row.last_attempt_at,
            "done_at": row.done_at,
            "done_by": row.done_by,
            "created_at": row.created_at,
            "created_by": row.created_by,
            "open": is_open,
            "overdue": is_open and row.due_at < now,
        }

    def add_revisit(
        self,
        problem_id: str,
        case_id: str,
        *,
        due_at: datetime,
        customer_ref: str | None = None,
        assigned_to: str | None = None,
        by: str,
    ) -> dict[str, Any]:
        """Plan a call-back to the complainant of ``case_id`` about ``problem_id`` by
        ``due_at`` (naive = UTC). ``customer_ref`` (a phone number, a name) is stored masked."""
        problem = _required(problem_id, "problem id", limit=40)
        case = _required(case_id, "case id", limit=200)
        due = _naive_utc(due_at, "due_at")
        ref = _optional(customer_ref, "customer reference", limit=200)
        row = RevisitRow(
            problem_id=problem,
            case_id=case,
            customer_ref=None if ref is None else mask(ref),
            due_at=due,
            assigned_to=_optional(assigned_to, "assignee", limit=200),
            outcome=None,
            attempts=0,
            note="",
            created_at=self._now(),
            created_by=_required(by, "by", limit=200),
        )
        with self._session() as s:
            s.add(row)
            s.flush()
            return self._revisit_dict(row, row.created_at)

    def record_revisit(
        self,
        revisit_id: int,
        outcome: str,
        *,
        by: str,
        note: str = "",
        retry_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Record one call of a revisit: ``satisfied`` or ``not_satisfied`` closes it,
        ``unreachable`` leaves it open for another try (``retry_at`` moves its due time).
        Every call counts as an attempt and adds a masked line to the note."""
        if outcome not in OUTCOMES:
            raise _error(
                f"unknown outcome {outcome!r}: use {', '.join(OUTCOMES)}",
                f"未知回访结果 {outcome!r}，可选：{', '.join(OUTCOMES)}",
            )
        who = _required(by, "by", limit=200)
        if retry_at is not None and outcome != "unreachable":
            raise _error(
                "a retry time goes with an unreachable outcome only",
                "只有“联系不上”才能设定重试时间",
            )
        retry = None if retry_at is None else _naive_utc(retry_at, "retry_at")
        now = self._now()
        with self._session() as s:
            row = s.scalars(
                select(RevisitRow).where(RevisitRow.id == revisit_id).with_for_update()
            ).first()
            if row is None:
                raise _error(f"no revisit {revisit_id}", f"回访 {revisit_id} 不存在")
            if row.done_at is not None:
                raise _error(
                    f"revisit {revisit_id} is already closed ({row.outcome})",
                    f"回访 {revisit_id} 已结束（{row.outcome}）",
                )
            line = f"[{now:%Y-%m-%d %H:%M} {who}] {outcome}"
            if note and note.strip():
                line += f": {mask(' '.join(note.split()))}"
            row.note = f"{row.note}\n{line}" if row.note else line
            row.attempts = (row.attempts or 0) + 1
            row.outcome = outcome
            row.last_attempt_at = now
            if outcome in CLOSING_OUTCOMES:
                row.done_at, row.done_by = now, who
            elif retry is not None:
                row.due_at = retry
            s.flush()
            return self._revisit_dict(row, now)

    def list_revisits(
        self, problem_id: str | None = None, open_only: bool = False
    ) -> list[dict[str, Any]]:
        """Revisits, earliest due first; of one problem, or only those still open."""
        query = select(RevisitRow).order_by(RevisitRow.due_at, RevisitRow.id)
        if problem_id is not None:
            query = query.where(RevisitRow.problem_id == problem_id.strip())
        if open_only:
            query = query.where(RevisitRow.done_at.is_(None))
        now = self._now()
        with self._session() as s:
            return [self._revisit_dict(r, now) for r in s.scalars(query)]

    def revisit_satisfaction(
        self,
        problem_id: str | None = None,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
    ) -> dict[str, Any]:
        """The revisit satisfaction metric: ``rate`` = satisfied / (satisfied + not
        satisfied), ``None`` when no one answered. Revisits whose last call was unreachable
        are counted in ``unreachable`` and left out of the denominator; ``pending`` are
        open revisits not called yet. The period (``start`` ≤ t < ``end``; an end *date*
        counts whole) applies to the time of the last call, and for pending ones to the due
        time."""
        lo, hi = _bound(start, "start", end=False), _bound(end, "end", end=True)
        if lo is not None and hi is not None and hi <= lo:
            raise _error("the period ends before it starts", "统计区间的结束早于开始")
        query = select(RevisitRow)
        if problem_id is not None:
            query = query.where(RevisitRow.problem_id == problem_id.strip())
        counts = dict.fromkeys((*OUTCOMES, "pending"), 0)
        with self._session() as s:
            for row in s.scalars(query):
                moment = row.due_at if row.outcome is None else row.last_attempt_at
                if moment is None or (lo is not None and moment < lo):
                    continue
                if hi is not None and moment >= hi:
                    continue
                counts[row.outcome or "pending"] += 1
        answered = counts["satisfied"] + counts["not_satisfied"]
        rate = counts["satisfied"] / answered if answered else None
        return {
            "problem_id": problem_id,
            "start": lo,
            "end": hi,
            "satisfied": counts["satisfied"],
            "not_satisfied": counts["not_satisfied"],
            "answered": answered,
            "rate": rate,
            "percent": None if rate is None else round(rate * 100, 1),
            "unreachable": counts["unreachable"],
            "pending": counts["pending"],
        }

    # -- suggestions ------------------------------------------------------------------------------
    @staticmethod
    def _suggestion_dict(row: SuggestionRow) -> dict[str, Any]:
        return {
            "id": row.id,
            "author_kind": row.author_kind,
            "author": row.author,
            "department": row.department,
            "title": row.title,
            "text": row.text,
            "created_at": row.created_at,
            "month": _month_of(row.created_at),
            "status": row.status,
            "problem_id": row.problem_id,
            "votes": row.votes,
            "decided_by": row.decided_by,
            "decided_at": row.decided_at,
        }

    def suggest(
        self,
        title: str,
        text: str,
        *,
        author_kind: str,
        author: str | None = None,
        department: str | None = None,
    ) -> dict[str, Any]:
        """Put a suggestion in the box as ``S-0001``, ``S-0002``, ... Staff give their name;
        a customer may stay anonymous (``author=None``). Title and text are masked first."""
        if author_kind not in AUTHOR_KINDS:
            raise _error(
                f"unknown author kind {author_kind!r}: use {', '.join(AUTHOR_KINDS)}",
                f"未知提交人类型 {author_kind!r}，可选：{', '.join(AUTHOR_KINDS)}",
            )
        name = _optional(author, "author", limit=200)
        if author_kind == "staff" and name is None:
            raise _error("a staff suggestion needs its author", "员工建议需要填写提交人")
        clean_title = mask(_required(title, "title", limit=300))
        clean_text = mask(_required(text, "text", limit=20000))
        dept = _optional(department, "department", limit=200)
        now = self._now()

        def work(s: Session) -> dict[str, Any]:
            row = SuggestionRow(
                id=self._next_id(s, SuggestionRow.id, "S"),
                author_kind=author_kind,
                author=name,
                department=dept,
                title=clean_title,
                text=clean_text,
                created_at=now,
                status="new",
                problem_id=None,
                votes=0,
            )
            s.add(row)
            s.flush()
            return self._suggestion_dict(row)

        return self._with_new_id(work)

    def vote(self, suggestion_id: str, voter: str) -> int:
        """Vote for a suggestion; the suggestion's vote count afterwards. A voter's second
        vote changes nothing. A voter name holding personal data (a phone number) is
        stored as :func:`customer_voter` of it."""
        who = _required(voter, "voter", limit=200)
        if find_pii(who):
            who = customer_voter(who)
        now = self._now()
        with self._session() as s:
            row = s.scalars(
                select(SuggestionRow).where(SuggestionRow.id == suggestion_id).with_for_update()
            ).first()
            if row is None:
                raise _error(f"no suggestion {suggestion_id}", f"建议 {suggestion_id} 不存在")
            known = s.scalar(
                select(VoteRow.id).where(VoteRow.suggestion_id == row.id, VoteRow.voter == who)
            )
            if known is not None:
                return row.votes
            try:
                with s.begin_nested():
                    s.add(VoteRow(suggestion_id=row.id, voter=who, at=now))
            except IntegrityError:  # the same voter, at the same moment, elsewhere
                s.refresh(row)
                return row.votes
            s.execute(
                update(SuggestionRow)
                .where(SuggestionRow.id == row.id)
                .values(votes=SuggestionRow.votes + 1)
            )
            s.refresh(row)
            return row.votes

    def list_suggestions(
        self, month: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Suggestions, oldest first; of one UTC month (``2026-03``) and/or one status."""
        query = select(SuggestionRow).order_by(SuggestionRow.created_at, SuggestionRow.id)
        if month is not None:
            lo, hi = _month_range(month)
            query = query.where(SuggestionRow.created_at >= lo, SuggestionRow.created_at < hi)
        if status is not None:
            if status not in SUGGESTION_STATUSES:
                raise _error(
                    f"unknown status {status!r}: use {', '.join(SUGGESTION_STATUSES)}",
                    f"未知状态 {status!r}，可选：{', '.join(SUGGESTION_STATUSES)}",
                )
            query = query.where(SuggestionRow.status == status)
        with self._session() as s:
            return [self._suggestion_dict(r) for r in s.scalars(query)]

    def best_of_month(self, month: str) -> dict[str, Any] | None:
        """The suggestion of ``month`` (UTC, ``2026-03``) with the most votes, whatever its
        status; between equals the earliest. ``None`` when the month had none."""
        lo, hi = _month_range(month)
        query = (
            select(SuggestionRow)
            .where(SuggestionRow.created_at >= lo, SuggestionRow.created_at < hi)
            .order_by(SuggestionRow.votes.desc(), SuggestionRow.created_at, SuggestionRow.id)
            .limit(1)
        )
        with self._session() as s:
            row = s.scalars(query).first()
            return None if row is None else self._suggestion_dict(row)

    def set_suggestion_status(
        self, id: str, status: str, by: str, problem_id: str | None = None
    ) -> dict[str, Any]:
        """Accept or reject a suggestion, or record that it became problem ``problem_id``
        (required for ``became_problem``, refused with any other status)."""
        if status not in SUGGESTION_STATUSES:
            raise _error(
                f"unknown status {status!r}: use {', '.join(SUGGESTION_STATUSES)}",
                f"未知状态 {status!r}，可选：{', '.join(SUGGESTION_STATUSES)}",
            )
        problem = _optional(problem_id, "problem id", limit=40)
        if status == "became_problem" and problem is None:
            raise _error(
                "became_problem needs the id of the problem (e.g. P-0001)",
                "转为问题时需要填写问题编号（例如 P-0001）",
            )
        if status != "became_problem" and problem is not None:
            raise _error(
                "a problem id goes with the became_problem status only",
                "只有“已转为问题”状态才能填写问题编号",
            )
        who = _required(by, "by", limit=200)
        with self._session() as s:
            row = s.scalars(
                select(SuggestionRow).where(SuggestionRow.id == id).with_for_update()
            ).first()
            if row is None:
                raise _error(f"no suggestion {id}", f"建议 {id} 不存在")
            row.status = status
            row.problem_id = problem
            row.decided_by, row.decided_at = who, self._now()
            s.flush()
            return self._suggestion_dict(row)

    # -- SOPs -------------------------------------------------------------------------------------
    @staticmethod
    def _sop_dict(row: SopRow) -> dict[str, Any]:
        return {
            "id": row.id,
            "version": row.version,
            "plan_id": row.plan_id,
            "title": row.title,
            "body": row.body,
            "effective_date": row.effective_date,
            "created_by": row.created_by,
            "created_at": row.created_at,
        }

    def publish_sop(
        self,
        plan_id: str,
        title: str,
        body: str,
        effective_date: date,
        *,
        by: str,
        sop_id: str | None = None,
    ) -> dict[str, Any]:
        """Publish a standard from plan ``plan_id``: a new SOP (``SOP-0001``, version 1), or,
        with ``sop_id``, the next version of that SOP (which must exist)."""
        plan = _required(plan_id, "plan id", limit=40)
        clean_title = _required(title, "title", limit=300)
        if not isinstance(body, str) or not body.strip():
            raise _error("the SOP body is required", "SOP 正文不能为空")
        day = _as_date(effective_date, "effective_date")
        who = _required(by, "by", limit=200)
        wanted = None if sop_id is None else _required(sop_id, "SOP id", limit=20)
        now = self._now()

        def work(s: Session) -> dict[str, Any]:
            if wanted is None:
                new_id, version = self._next_id(s, SopRow.id, "SOP"), 1
            else:
                last = s.scalar(select(func.max(SopRow.version)).where(SopRow.id == wanted))
                if last is None:
                    raise _error(f"no SOP {wanted}", f"SOP {wanted} 不存在")
                new_id, version = wanted, last + 1
            row = SopRow(
                id=new_id,
                version=version,
                plan_id=plan,
                title=clean_title,
                body=body,
                effective_date=day,
                created_by=who,
                created_at=now,
            )
            s.add(row)
            s.flush()
            return self._sop_dict(row)

        return self._with_new_id(work)

    def _versions(self, s: Session, sop_id: str) -> list[SopRow]:
        rows = list(s.scalars(select(SopRow).where(SopRow.id == sop_id).order_by(SopRow.version)))
        if not rows:
            raise _error(f"no SOP {sop_id}", f"SOP {sop_id} 不存在")
        return rows

    def sop_history(self, sop_id: str) -> list[dict[str, Any]]:
        """Every version of an SOP, the first first."""
        with self._session() as s:
            return [self._sop_dict(r) for r in self._versions(s, sop_id)]

    def sop_in_force(self, sop_id: str, on: date) -> dict[str, Any] | None:
        """The version of an SOP in force on day ``on``: the highest version whose effective
        date is on or before it; ``None`` before its first effective date."""
        day = _as_date(on, "on")
        with self._session() as s:
            rows = [r for r in self._versions(s, sop_id) if r.effective_date <= day]
            return self._sop_dict(rows[-1]) if rows else None

    def list_sops(self, plan_id: str | None = None) -> list[dict[str, Any]]:
        """The latest version of every SOP (of one plan's, when given), by id."""
        query = select(SopRow).order_by(SopRow.id, SopRow.version)
        with self._session() as s:
            latest: dict[str, SopRow] = {}
            for row in s.scalars(query):
                latest[row.id] = row
        found = [self._sop_dict(r) for r in latest.values()]
        if plan_id is not None:
            found = [d for d in found if d["plan_id"] == plan_id.strip()]
        return sorted(found, key=lambda d: (len(d["id"]), d["id"]))


def feed_revisit(
    store: Store, revisit: Mapping[str, Any], *, department: str | None = None
) -> bool:
    """Send an answered revisit to the warehouse as feedback (survey ``revisit``, score 1
    satisfied or 0 not satisfied), through the event intake that ``servq serve`` copies into
    the warehouse: the catalogue metric ``revisit_satisfaction`` then reads it by team, site or
    period like any survey. Unreachable and pending revisits send nothing. Sending the same
    revisit again stores it once. Returns whether an event was sent."""
    from servq.monitor.store import accept

    outcome = revisit.get("outcome")
    if outcome not in ("satisfied", "not_satisfied"):
        return False
    done = revisit.get("done_at") or utcnow()
    if isinstance(done, str):
        done = datetime.fromisoformat(done)
    event = {
        "event_id": f"revisit-{revisit['id']}",
        "type": "feedback_received",
        "case_id": str(revisit["case_id"]),
        "timestamp": _naive_utc(done, "done_at").isoformat() + "Z",
        "survey": "revisit",
        "score": 1.0 if outcome == "satisfied" else 0.0,
        "scale_max": 1.0,
        "team": department,
    }
    result = accept(store, [event], utcnow(), source="revisit")
    return result.counts()["rejected"] == 0
