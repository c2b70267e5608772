"""Case events a case row implies: read through the ``case_event`` view, stored only when needed.

Owns: the rule sets (a profile's ``events``: activity, timestamp field, actor field, status,
actor type) registered in ``_servq_event_rules``, and the ``case_event`` view that readers query.

A ticket export derives about four events per ticket (created, first reply, solved, closed), each
fully determined by the ticket's row. Storing them would write four rows per ticket; instead a
case row loaded for the first time carries the id of its rule set in ``case.event_rules`` and the
view computes its events on read, exactly as they would have been stored: the same event id
(``case_id/activity/time``), the same row hash, and the case row's source, batch and ingest
time. Events from event logs, and the events of a case whose row was later replaced, are stored
in ``case_event_stored``: before a case row with implied events is replaced, its events are
written there (``materialize``), so an update keeps the history just as stored events did.

Readers see no difference: ``case_event`` is every event, stored or implied. Writers target
``case_event_stored``. Everything here runs inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import duckdb

from servq.warehouse.schema import CASE, CASE_EVENT, LINEAGE
from servq.warehouse.sql import qi, ql, row_hash_sql
from servq.warehouse.store import utcnow

VIEW = "case_event"
STORED = "case_event_stored"
IMPLIED = "_servq_implied_event"  # the implied events alone (materialize reads it)
RULES = "_servq_event_rules"
RULES_COLUMN = "event_rules"
RULE_FIELDS = ("activity", "timestamp", "actor", "status", "actor_type")
# the first schema version with implied events (migration 0003)
SCHEMA_VERSION = 3


def normalise(rules: Iterable[Mapping[str, Any]]) -> list[dict[str, str | None]]:
    """Rule dictionaries with exactly ``RULE_FIELDS``, in order, as the registry stores them."""
    out = []
    for r in rules:
        out.append({k: (None if r.get(k) is None else str(r[k])) for k in RULE_FIELDS})
        if not out[-1]["activity"] or not out[-1]["timestamp"]:
            raise ValueError(f"an event rule needs an activity and a timestamp field: {r}")
        if out[-1]["timestamp"] not in CASE.column_names:
            raise ValueError(f"event timestamp {out[-1]['timestamp']!r} is not a case column")
        actor = out[-1]["actor"]
        if actor is not None and actor not in CASE.column_names:
            raise ValueError(f"event actor {actor!r} is not a case column")
    return out


def rules_id(rules: Sequence[Mapping[str, Any]]) -> str:
    """A short stable id of a rule set: the same rules always get the same id."""
    text = json.dumps(normalise(rules), ensure_ascii=False, separators=(",", ":"))
    return "ev-" + hashlib.sha1(text.encode()).hexdigest()[:12]


def event_columns(rule: Mapping[str, str | None]) -> dict[str, str]:
    """The data columns of ``case_event`` as SQL over a case row, for one rule: the event id is
    ``case_id/activity/time`` with the time to the microsecond."""
    ts = qi(str(rule["timestamp"]))
    text = "CAST(NULL AS VARCHAR)"
    when = f"strftime({ts}, '%Y-%m-%dT%H:%M:%S.%f')"
    # concat() is cheaper than ||; case_id is never NULL on a stored case row
    data = {
        "source_system": "source_system",
        "event_id": f"concat(case_id, {ql('/' + str(rule['activity']) + '/')}, {when})",
        "case_id": "case_id",
        "activity": ql(str(rule["activity"])),
        "timestamp": ts,
        "actor": qi(str(rule["actor"])) if rule["actor"] else text,
        "actor_type": ql(str(rule["actor_type"])) if rule["actor_type"] else text,
        "lifecycle": text,
        "status": ql(str(rule["status"])) if rule["status"] else text,
        "public": "CAST(NULL AS BOOLEAN)",
        "attributes": text,
    }
    assert tuple(data) == CASE_EVENT.column_names
    return data


def event_select(rid: str, rule: Mapping[str, str | None], cases: str = "") -> str:
    """The events of one rule for the case rows carrying rule set ``rid`` (only those keyed in
    relation ``cases``, if given): the columns of ``case_event_stored`` in order, data columns
    as ingest derives them (and the same row hash ingest computes), lineage of the case row."""
    data = event_columns(rule)
    row_hash = row_hash_sql(data.values())
    lineage = {
        "source": "source",
        "batch_id": "batch_id",
        "ingested_at": "ingested_at",
        "row_hash": row_hash,
        "flags": "CAST(NULL AS VARCHAR)",
    }
    assert tuple(lineage) == tuple(c.name for c in LINEAGE)
    cols = ", ".join(f"{v} AS {qi(k)}" for k, v in {**data, **lineage}.items())
    only = (
        f" SEMI JOIN {cases} k ON c.source_system = k.source_system AND c.case_id = k.case_id"
        if cases
        else ""
    )
    return (
        f'SELECT {cols} FROM "case" c{only} WHERE {RULES_COLUMN} = {ql(rid)} '
        f"AND {data['timestamp']} IS NOT NULL"
    )


def _registered(con: duckdb.DuckDBPyConnection) -> list[tuple[str, list[dict[str, str | None]]]]:
    rows = con.execute(f"SELECT rules_id, rules FROM {RULES} ORDER BY rules_id").fetchall()
    return [(str(rid), normalise(json.loads(str(text)))) for rid, text in rows]


def _implied_sql(con: duckdb.DuckDBPyConnection) -> str:
    parts = [event_select(rid, rule) for rid, rules in _registered(con) for rule in rules]
    if not parts:  # no rule set yet: an empty relation of the right shape
        return f"SELECT * FROM {STORED} WHERE false"
    return " UNION ALL ".join(parts)


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create ``case_event`` and the implied-events view from the registered rule sets."""
    con.execute(f"CREATE OR REPLACE VIEW {IMPLIED} AS {_implied_sql(con)}")
    con.execute(
        f"CREATE OR REPLACE VIEW {VIEW} AS SELECT * FROM {STORED} UNION ALL SELECT * FROM {IMPLIED}"
    )


def register(con: duckdb.DuckDBPyConnection, rules: Sequence[Mapping[str, Any]]) -> str:
    """The id of ``rules``, registering it (and re-creating the views) if it is new."""
    rid = rules_id(rules)
    known = con.execute(f"SELECT count(*) FROM {RULES} WHERE rules_id = ?", [rid]).fetchall()
    if not known[0][0]:
        text = json.dumps(normalise(rules), ensure_ascii=False)
        con.execute(f"INSERT INTO {RULES} VALUES (?, ?, ?)", [rid, text, utcnow()])
        create_views(con)
    return rid


def count_implied(rules: Sequence[Mapping[str, Any]], relation: str) -> str:
    """SQL counting the events ``rules`` imply for the case rows of ``relation``."""
    counts = " + ".join(f"count({qi(str(r['timestamp']))})" for r in normalise(rules))
    return f"SELECT {counts or '0'} FROM {relation}"


def materialize(con: duckdb.DuckDBPyConnection, cases: str) -> int:
    """Store the implied events of the case rows keyed in relation ``cases`` (columns
    ``source_system``, ``case_id``), before those rows are replaced. Returns the rows stored."""
    # the key filter goes into each part, before the event columns are computed
    parts = [event_select(rid, rule, cases) for rid, rules in _registered(con) for rule in rules]
    if not parts:
        return 0
    out = con.execute(f"INSERT INTO {STORED} {' UNION ALL '.join(parts)}").fetchall()
    return int(out[0][0]) if out else 0


def release(con: duckdb.DuckDBPyConnection, cases: str) -> int:
    """Store the implied events of the case rows keyed in ``cases`` and stop implying them: an
    event log about the same cases is then merged against every event of theirs (an event it
    brings with an implied event's id updates that event instead of doubling it)."""
    stored = materialize(con, cases)
    if stored:
        con.execute(
            f'UPDATE "case" c SET {RULES_COLUMN} = NULL FROM {cases} k '
            "WHERE c.source_system = k.source_system AND c.case_id = k.case_id "
            f"AND c.{RULES_COLUMN} IS NOT NULL"
        )
    return stored
