"""Fact relations: one row per case, call, survey answer or audit item, with derived columns.

Owns: the Ibis expressions that turn warehouse tables into the rows metrics aggregate. Written
once as Ibis, they run unchanged on DuckDB, PostgreSQL and any engine Ibis reaches.

Case facts combine the case row with its event log:

- ``first_reply_at``: the case's own value, else the first agent reply in the log (an event
  ``first_reply``/``agent_replied``/``reply``, or by an ``agent`` actor and public), else the first
  move to status ``open`` (a ticket taken in charge). For a case an agent created, the first
  reply is the second agent reply. Bots are never agents.
- ``first_resolved_at`` / ``resolved_at``: first and latest move to ``solved`` (reopen cycles
  included in the latest), else the case's ``resolved_at``.
- ``reopened``: a ``reopened`` event, or more than one move to ``solved``.
- ``agent_replies``: the number of agent replies; ``one_touch`` = resolved with at most one.
- ``repeat_complaint``: the same customer raised a case of the same category within
  ``repeat_days`` (default 7) before this one.
- ``agent_work_seconds`` (statuses new + open), ``on_hold_seconds``, ``requester_wait_seconds``
  (new + open + on hold): time between status changes in the event log; the interval a case is
  still in is not counted, so use them on resolved cases.
- ``next_reply_total_seconds`` / ``next_reply_count``: every customer message (after the one
  that opened the case) paired with the next agent reply; their ratio is the pair-weighted mean.
- ``has_feedback``: a survey answer or review is linked to the case.
- ``contacts``: calls and chats linked to the case; ``first_contact_resolved`` = resolved with
  exactly one contact. ``visits``: the linked interactions of channel ``walk_in`` alone.

Interaction facts: ``repeat_contact``: the same customer had an offered call or chat within
``repeat_days`` (default 7) before this one.

Roster facts: one row per rostered shift (``ops_record`` rows of kind ``roster``) with a start
and an end after it; ``staffed_seconds`` is the shift's length. A roster is a *span*
source (``SPANS``): when metrics place its rows in periods, a shift is cut at every period
boundary it crosses and each piece counts its own seconds (08:00–17:00 gives 2 h to the
08:00–10:00 hours of an hour grain). Overlapping shifts of one agent each count in full.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

if TYPE_CHECKING:
    from servq.warehouse.store import Warehouse

REPLY_ACTIVITIES = ("first_reply", "agent_replied", "reply", "agent_reply", "replied")
DURATIONS = {
    # fact column: (start, end)
    "first_reply_seconds": ("created_at", "first_reply_at"),
    "first_resolution_seconds": ("created_at", "first_resolved_at"),
    "full_resolution_seconds": ("created_at", "resolved_at"),
    "close_seconds": ("created_at", "closed_at"),
}
CALL_DURATIONS: dict[str, tuple[str, str]] = {}
REPEAT_DAYS = 7  # the default window of repeat complaints and repeat contacts


# adds column `out` = seconds from column `start` to column `end` (calendar or business time)
Seconds = Callable[[ir.Table, str, str, str], ir.Table]


def calendar_seconds(t: ir.Table, start: str, end: str, out: str) -> ir.Table:
    return t.mutate(**{out: (t[end].epoch_seconds() - t[start].epoch_seconds()).cast("float64")})


def _event_facts(e: ir.Table, is_reply: ir.BooleanValue, seconds: Seconds) -> ir.Table:
    """Everything case facts take from the event log, per case, from one ordered pass.

    One window over each case's events in (time, event id) order gives, per event: its rank
    among the case's agent replies, the previous reply's time (a reply at a new instant counts
    once), the next status change, and the next agent reply. Then one aggregation per case:

    - replies: the first and second reply, and how many distinct reply instants;
    - status moves: first move to ``open``, first and latest to ``solved``, latest to
      ``closed``, ``reopened`` events, whether an agent created the case;
    - time per status class: from a status change to the next one (the interval a case is still
      in, or a terminal status, is open-ended and not counted);
    - next replies: every customer message (after the one that opened the case) paired with the
      next agent reply, summed, and the number of pairs.
    """
    is_customer = (e.actor_type == "customer") & (e.activity != "created")
    ev = e.select(
        "source_system",
        "case_id",
        "timestamp",
        "event_id",
        "activity",
        "actor_type",
        "status",
        is_reply=is_reply.fill_null(False),
        is_customer=is_customer.fill_null(False),
    )
    group = [ev.source_system, ev.case_id]
    order = [ev.timestamp, ev.event_id]
    reply_ts = ibis.ifelse(ev.is_reply, ev.timestamp, ibis.null())
    status_ts = ibis.ifelse(ev.status.notnull(), ev.timestamp, ibis.null())
    ev = ev.mutate(
        reply_rank=ibis.ifelse(ev.is_reply, 1, 0)
        .sum()
        .over(ibis.window(group_by=group, order_by=order, rows=(None, 0))),
        prev_reply_ts=reply_ts.max().over(
            ibis.window(group_by=group, order_by=order, rows=(None, -1))
        ),
        next_status_ts=status_ts.min().over(
            ibis.window(group_by=group, order_by=order, rows=(1, None))
        ),
        next_reply_ts=reply_ts.min().over(
            ibis.window(group_by=group, order_by=order, rows=(0, None))
        ),
    )
    ev = seconds(ev, "timestamp", "next_status_ts", "status_secs")
    ev = seconds(ev, "timestamp", "next_reply_ts", "reply_secs")
    in_status = ev.status.notnull() & ev.next_status_ts.notnull()
    pair = ev.is_customer & ~ev.is_reply & ev.next_reply_ts.notnull()
    new_instant = (
        ev.is_reply
        & ev.timestamp.notnull()
        & (ev.prev_reply_ts.isnull() | (ev.prev_reply_ts != ev.timestamp))
    )
    return ev.group_by(["source_system", "case_id"]).aggregate(
        reply1=ev.timestamp.min(where=ev.is_reply & (ev.reply_rank == 1)),
        reply2=ev.timestamp.min(where=ev.is_reply & (ev.reply_rank == 2)),
        # a reply derived from a ticket's first_reply_at and the same reply in the event log
        # share their time: counting distinct instants counts it once
        agent_replies=ev.count(where=new_instant),
        **_moves(ev),
        wait_new_open=ev.status_secs.sum(where=in_status & ev.status.isin(("new", "open"))),
        wait_on_hold=ev.status_secs.sum(where=in_status & (ev.status == "on_hold")),
        wait_pending=ev.status_secs.sum(where=in_status & (ev.status == "pending")),
        next_reply_total_seconds=ev.reply_secs.sum(where=pair),
        next_reply_count=ev.count(where=pair),
    )


def _moves(e: ir.Table) -> dict[str, Any]:
    """Per-case aggregates of the status moves: first move to open, first and latest to solved,
    latest to closed, reopened events, whether an agent created the case."""
    return {
        "ev_open": e.timestamp.min(where=e.status == "open"),
        "ev_solved_first": e.timestamp.min(where=e.status == "solved"),
        "ev_solved_last": e.timestamp.max(where=e.status == "solved"),
        "ev_closed": e.timestamp.max(where=e.status == "closed"),
        "ev_reopened": (e.activity == "reopened").sum(),
        "agent_created": ((e.activity == "created") & (e.actor_type == "agent")).any(),
    }


def _status_moves(e: ir.Table) -> ir.Table:
    """The status moves alone, per case (no ordering needed): what closure and completion
    metrics read when nothing asks for replies or time per status."""
    return e.group_by(["source_system", "case_id"]).aggregate(**_moves(e))


# which columns of the case facts each costly part feeds (the rest come from the case row)
_REPLY_COLUMNS = frozenset({"first_reply_at", "first_reply_seconds", "agent_replies", "one_touch"})
_EVENT_COLUMNS = _REPLY_COLUMNS | {
    "first_resolved_at",
    "resolved_at",
    "closed_at",
    "reopened",
    "done_at",
    "is_resolved",
    "is_closed",
    "is_done",
    "closed_on_time",
    "first_contact_resolved",
    "first_resolution_seconds",
    "full_resolution_seconds",
    "close_seconds",
}
_STATUS_COLUMNS = frozenset(
    {"agent_work_seconds", "on_hold_seconds", "requester_wait_seconds", "has_status_log"}
)
_NEXT_REPLY_COLUMNS = frozenset({"next_reply_total_seconds", "next_reply_count"})
_CONTACT_COLUMNS = frozenset({"contacts", "visits", "first_contact_resolved", "has_contacts"})
# the case-fact columns that read the event log or other tables (the rest is the case row)
COSTLY_CASE_COLUMNS = (
    _EVENT_COLUMNS
    | _STATUS_COLUMNS
    | _NEXT_REPLY_COLUMNS
    | _CONTACT_COLUMNS
    | {"has_feedback", "repeat_complaint"}
)


def case_facts(
    wh: Warehouse,
    *,
    repeat_days: int = REPEAT_DAYS,
    seconds: Seconds = calendar_seconds,
    needed: frozenset[str] | None = None,
    only: ir.Table | None = None,
) -> ir.Table:
    """One row per case. ``seconds(t, start, end)`` measures intervals (business time or not).

    ``needed``: the columns the caller will read (None: all). The event-log parts that feed
    none of them (replies, status times, next replies, contacts, feedback, the repeat window)
    are not computed: their columns are there, typed, but null or false. A count of cases by
    week then reads the case table alone instead of aggregating the whole event log."""
    # ``only``: a table of (source_system, case_id): the facts of these cases alone (kept facts
    # brought up to date). For repeat complaints to be right it must hold whole customer and
    # category groups (factcache does that).

    def wants(group: frozenset[str] | set[str]) -> bool:
        return needed is None or bool(needed & group)

    c = wh.table("case")
    e = wh.table("case_event")
    fb = wh.table("feedback")
    calls = wh.table("interaction")
    if only is not None:
        keys2 = ["source_system", "case_id"]
        c, e = c.semi_join(only, keys2), e.semi_join(only, keys2)
        fb, calls = fb.semi_join(only, keys2), calls.semi_join(only, keys2)
    is_reply = e.activity.isin(REPLY_ACTIVITIES) | (
        (e.actor_type == "agent") & e.public.fill_null(True)
    )
    fb_linked = fb.filter(fb.case_id.notnull())
    feedback = fb_linked.group_by(["source_system", "case_id"]).aggregate(
        feedback_n=fb_linked.count()
    )
    linked = calls.filter(calls.case_id.notnull())
    contacts = linked.group_by(["source_system", "case_id"]).aggregate(
        contacts=linked.count(), visits=linked.count(where=linked.channel == "walk_in")
    )
    keys = ["source_system", "case_id"]
    parts: list[ir.Table] = []
    nulls: dict[str, Any] = {}

    def part(wanted: bool, table: Callable[[], ir.Table], absent: dict[str, str]) -> None:
        # a part nobody reads is not joined: its columns are typed nulls on the case row
        if wanted:
            parts.append(table())
        else:
            nulls.update({name: ibis.null().cast(kind) for name, kind in absent.items()})

    replies = {"reply1": "timestamp", "reply2": "timestamp", "agent_replies": "int64"}
    moves = {
        "ev_open": "timestamp",
        "ev_solved_first": "timestamp",
        "ev_solved_last": "timestamp",
        "ev_closed": "timestamp",
        "ev_reopened": "int64",
        "agent_created": "boolean",
    }
    status = {"wait_new_open": "float64", "wait_on_hold": "float64", "wait_pending": "float64"}
    next_replies = {"next_reply_total_seconds": "float64", "next_reply_count": "int64"}
    if wants(_REPLY_COLUMNS | _STATUS_COLUMNS | _NEXT_REPLY_COLUMNS):
        # one ordered pass over the event log serves replies, moves, status times, next replies
        part(True, lambda: _event_facts(e, is_reply, seconds), {})
    else:
        part(False, lambda: e, {**replies, **status, **next_replies})
        part(wants(_EVENT_COLUMNS), lambda: _status_moves(e), moves)
    part(wants(_CONTACT_COLUMNS), lambda: contacts, {"contacts": "int64", "visits": "int64"})
    part(wants({"has_feedback"}), lambda: feedback, {"feedback_n": "int64"})
    j = c.mutate(**nulls) if nulls else c
    for table in parts:
        j = j.left_join(table, keys)
    first_reply = ibis.coalesce(
        j.first_reply_at,
        ibis.ifelse(j.agent_created.fill_null(False), j.reply2, j.reply1),
        j.ev_open,
    )
    resolved = ibis.coalesce(j.ev_solved_last, j.resolved_at)
    first_resolved = ibis.coalesce(j.ev_solved_first, j.resolved_at)
    closed = ibis.coalesce(j.closed_at, j.ev_closed)
    replies_n = j.agent_replies.fill_null(0)
    f = j.select(
        "source_system",
        "case_id",
        "kind",
        "channel",
        "category",
        "subcategory",
        "priority",
        "status",
        "customer_id",
        "team",
        "agent",
        "site",
        "region",
        "created_at",
        "due_at",
        first_reply_at=first_reply,
        first_resolved_at=first_resolved,
        resolved_at=resolved,
        closed_at=closed,
        agent_replies=replies_n.cast("int64"),
        # more than one move to solved: a first and a latest at different instants
        reopened=(j.ev_reopened.fill_null(0) > 0)
        | (j.ev_solved_first < j.ev_solved_last).fill_null(False),
        agent_work_seconds=j.wait_new_open,
        on_hold_seconds=j.wait_on_hold,
        requester_wait_seconds=j.wait_new_open.fill_null(0) + j.wait_on_hold.fill_null(0),
        has_status_log=j.wait_new_open.notnull()
        | j.wait_on_hold.notnull()
        | j.wait_pending.notnull(),
        next_reply_total_seconds=j.next_reply_total_seconds.fill_null(0),
        next_reply_count=j.next_reply_count.fill_null(0).cast("int64"),
        contacts=j.contacts.fill_null(0).cast("int64"),
        visits=j.visits.fill_null(0).cast("int64"),
        has_feedback=j.feedback_n.fill_null(0) > 0,
    )
    for name, (a, b) in DURATIONS.items():
        f = seconds(f, a, b, name)
    f = f.mutate(
        done_at=ibis.coalesce(f.resolved_at, f.closed_at),
        is_resolved=f.resolved_at.notnull(),
        is_closed=f.closed_at.notnull(),
        is_done=f.resolved_at.notnull() | f.closed_at.notnull() | f.status.isin(("cancelled",)),
        one_touch=f.resolved_at.notnull() & (f.agent_replies <= 1),
        closed_on_time=f.closed_at.notnull() & f.due_at.notnull() & (f.closed_at <= f.due_at),
        has_due=f.due_at.notnull(),
        first_contact_resolved=f.resolved_at.notnull() & (f.contacts == 1),
        has_contacts=f.contacts > 0,
    )
    if not wants({"repeat_complaint"}):
        return f.mutate(repeat_complaint=ibis.literal(False))
    # same customer, same category, previous case within repeat_days: ordered on the five
    # columns it needs, not on the whole fact row, then joined back
    r = c.select("source_system", "case_id", "customer_id", "category", "created_at")
    w = ibis.window(group_by=[r.source_system, r.customer_id, r.category], order_by=r.created_at)
    prev = r.created_at.lag().over(w)
    gap = r.created_at.epoch_seconds() - prev.epoch_seconds()
    r = r.select(
        "source_system",
        "case_id",
        repeat_complaint=(
            r.customer_id.notnull() & prev.notnull() & (gap <= repeat_days * 86400)
        ).fill_null(False),
    )
    f = f.left_join(r, keys).drop("source_system_right", "case_id_right")
    return f.mutate(repeat_complaint=f.repeat_complaint.fill_null(False))


def interaction_facts(
    wh: Warehouse, *, short_abandon_seconds: float = 5, repeat_days: int = REPEAT_DAYS
) -> ir.Table:
    t = wh.table("interaction")
    queue = t.queue_seconds.fill_null(0)
    abandoned = t.outcome.isin(("abandoned", "short_abandoned"))
    short = (t.outcome == "short_abandoned") | (abandoned & (queue < short_abandon_seconds))
    offered = t.outcome.isin(("answered", "abandoned", "short_abandoned"))
    # the same customer's latest offered contact before this one, any queue or channel
    before = ibis.window(
        group_by=[t.source_system, t.customer_id], order_by=[t.arrived_at], rows=(None, -1)
    )
    prev = ibis.ifelse(offered, t.arrived_at, ibis.null()).max().over(before)
    gap = t.arrived_at.epoch_seconds() - prev.epoch_seconds()
    return t.mutate(
        answered=t.outcome == "answered",
        abandoned=abandoned,
        short_abandoned=short,
        offered=offered,
        repeat_contact=(
            t.customer_id.notnull() & prev.notnull() & (gap <= repeat_days * 86400)
        ).fill_null(False),
        wait_seconds=queue,
        handle_seconds=(
            t.talk_seconds.fill_null(0) + t.hold_seconds.fill_null(0) + t.wrap_seconds.fill_null(0)
        ),
    )


def feedback_facts(wh: Warehouse) -> ir.Table:
    t = wh.table("feedback")
    return t.mutate(answered=t.score.notnull() | t.text.notnull())


def audit_facts(wh: Warehouse) -> ir.Table:
    t = wh.table("audit")
    return t.mutate(
        weighted_score=t.score * t.weight.fill_null(1),
        weighted_max=t.max_score * t.weight.fill_null(1),
    )


def roster_facts(wh: Warehouse) -> ir.Table:
    """Rostered shifts; a shift without a start, or ending before it starts, is left out."""
    t = wh.table("ops_record")
    t = t.filter(
        (t.kind == "roster") & t.start_at.notnull() & t.end_at.notnull() & (t.end_at > t.start_at)
    )
    return t.select(
        "source_system",
        "record_id",
        "agent",
        "team",
        "site",
        "start_at",
        "end_at",
        staffed_seconds=(t.end_at.epoch_seconds() - t.start_at.epoch_seconds()).cast("float64"),
    )


@dataclass(frozen=True)
class Span:
    """A fact source whose rows are time intervals: cut at period boundaries, each piece's
    ``seconds`` column is its own length."""

    start: str
    end: str
    seconds: str


SPANS: dict[str, Span] = {"roster": Span("start_at", "end_at", "staffed_seconds")}
# the warehouse tables a fact source reads, where they differ from its name
SOURCE_TABLES: dict[str, tuple[str, ...]] = {
    "case": ("case", "case_event"),
    "roster": ("ops_record",),
}

FACTS: dict[str, Callable[..., ir.Table]] = {
    "case": case_facts,
    "interaction": interaction_facts,
    "feedback": feedback_facts,
    "audit": audit_facts,
    "roster": roster_facts,
}
