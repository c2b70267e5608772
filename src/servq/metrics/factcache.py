"""Case facts computed once per data version and clock, kept, and reused by every metric query.

Owns: the materialisation of the case facts (:func:`servq.metrics.facts.case_facts`) in the
embedded DuckDB warehouse. Building them means ordering and aggregating the whole event log;
the catalogue then only groups the facts. So the first query that needs the event log after the
data changed builds the facts into a table, and later queries, of any metric, dimension, grain
or filter, read that table.

**Where they are kept.** ``servq metrics refresh`` (and ``servq serve`` as it starts) builds
them into the warehouse file (a table ``_servq_case_facts_<key>`` listed in
``_servq_fact_cache``), where every later query of every process finds them while they are
current. A query that finds none builds them into a temporary table of its connection (at most
``MAX_TEMP_TABLES`` per connection, the oldest dropped): a reading query never writes to the
warehouse file.

**When they are current.** A table is valid for one *fingerprint* of the tables the facts read
(``case``, ``case_event``, ``feedback``, ``interaction``): per table the row count, the XOR of
the row hashes and the latest ingest time, plus the warehouse's schema version. For
``case_event`` that is its stored part: the events a case row implies change with the row.
Every insert and delete, and every row servq writes (ingest, replay, the monitor's live copy:
each sets a new ``row_hash`` or ``ingested_at``), changes it, so no answer is computed from
stale facts. (A hand-written ``UPDATE`` that leaves both alone is not seen: ``servq metrics
refresh --clear``.) Checking it reads three columns (tens of milliseconds per million rows).

**What a table is for.** The *key* is a digest of the SQL that builds it, so it changes with the
fact options (``repeat_days``), with the clock (in business time the durations depend on the
calendar's grid over the data's span) and with servq's own fact definitions after an upgrade.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import ibis.expr.types as ir

from servq.warehouse import events
from servq.warehouse.store import Warehouse, utcnow

FACT_TABLES = ("case", "case_event", "feedback", "interaction")


def _stored(wh: Warehouse, version: int) -> tuple[str, ...]:
    """The stored tables behind ``FACT_TABLES``: from schema version 3, ``case_event`` is a view
    whose implied events are a function of the ``case`` rows, so its stored part suffices."""
    if version >= events.SCHEMA_VERSION:
        return tuple(events.STORED if t == "case_event" else t for t in FACT_TABLES)
    return FACT_TABLES


REGISTRY = "_servq_fact_cache"
MAX_TEMP_TABLES = 2
_names = itertools.count(1)


@dataclass
class _Entry:
    fingerprint: str
    table: str


class _Registry:
    """One connection's temporary fact tables (newest last) and what it remembers."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, _Entry] = OrderedDict()
        self.builds = 0  # how many times this connection built facts (tests read it)
        self.updates = 0  # how many times it brought kept facts up to date case by case
        self.touched = 0  # how many cases the latest such update recomputed
        # each source's time span (the clock grid covers it) for the fingerprint spans_of
        self.spans: dict[str, Any] = {}
        self.spans_of: tuple[Any, ...] | None = None


_registries: weakref.WeakKeyDictionary[Warehouse, _Registry] = weakref.WeakKeyDictionary()
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def cacheable(wh: Any) -> bool:
    """Only the embedded DuckDB warehouse caches (a server engine is asked each time)."""
    return isinstance(wh, Warehouse)


def registry(wh: Warehouse) -> _Registry:
    with _guard:
        reg = _registries.get(wh)
        if reg is None:
            reg = _registries[wh] = _Registry()
        return reg


def _lock(wh: Warehouse) -> threading.Lock:
    """One lock per warehouse file: connections of one process share the database."""
    with _guard:
        return _locks.setdefault(wh.path, threading.Lock())


def fingerprint(wh: Warehouse) -> tuple[Any, ...]:
    """What the case facts are computed from: per table (count, XOR of row hashes, latest
    ingest time), and the schema version."""
    version = wh.schema_version()
    parts = " UNION ALL ".join(
        f'SELECT {i} AS i, count(*), bit_xor(row_hash), max(ingested_at) FROM "{name}"'
        for i, name in enumerate(_stored(wh, version))
    )
    rows = wh.con.execute(f"SELECT * FROM ({parts}) ORDER BY i").fetchall()
    return (version, *(tuple(r[1:]) for r in rows))


def _fp_text(fp: tuple[Any, ...]) -> str:
    return json.dumps(fp, default=str)


def _writable(wh: Warehouse) -> bool:
    if wh.path == ":memory:":
        return False
    row = wh.con.execute(
        "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    return bool(row) and not row[0][0]


def calendar_digest(spec: Any) -> str:
    """A short stable digest of a business calendar: its definition and the versions of the
    holiday packages it reads. Business durations are differences of the clock, so facts
    built with one calendar stay right when later data widens the clock's span."""
    from importlib import metadata

    versions = []
    for package in ("chinesecalendar", "holidays"):
        try:
            versions.append(metadata.version(package))
        except metadata.PackageNotFoundError:
            versions.append("")
    text = spec.model_dump_json() + ",".join(versions)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


_code: str | None = None


def _code_digest() -> str:
    """A digest of servq's fact definitions: kept facts built by another version are not used."""
    global _code
    if _code is None:
        from pathlib import Path

        from servq.metrics import clockgrid, facts

        h = hashlib.sha1()
        for file in (facts.__file__, clockgrid.__file__, __file__):
            h.update(Path(str(file)).read_bytes())
        _code = h.hexdigest()
    return _code


def cached_facts(
    wh: Warehouse,
    options: tuple[Any, ...],
    build: Callable[[], ir.Table],
    extra_key: str = "",
    fp: tuple[Any, ...] | None = None,
    *,
    keep: bool = False,
    clock: str = "",
    build_for: Callable[[ir.Table], ir.Table] | None = None,
) -> ir.Table:
    """The facts ``build()`` gives, from a table that is current for the data, built when there
    is none. ``options`` (hashable, with a stable ``repr``) are what ``build`` depends on besides
    the data and servq's code; ``extra_key`` tells apart builds with different in-memory inputs
    (the clock grid). A build goes into a temporary table of the connection, or with ``keep``
    (and a connection that may write) into the warehouse file for every later process; there,
    facts kept for older data are brought up to date case by case when ``build_for(keys)``
    (the facts of the cases in the table ``keys``) is given and only rows were added.
    ``clock`` (the calendar's name, '' for calendar time) is recorded with kept facts."""
    key = hashlib.sha1((_code_digest() + repr(options)).encode()).hexdigest()[:16]
    key += f"-{extra_key}" if extra_key else ""
    reg = registry(wh)
    with _lock(wh):
        current = _fp_text(fp if fp is not None else fingerprint(wh))
        entry = reg.entries.get(key)
        persist = keep and _writable(wh)
        if entry is not None and entry.fingerprint == current and not persist:
            reg.entries.move_to_end(key)
            return wh.ibis.table(entry.table)
        kept = _kept_table(wh, key, current)
        if kept is not None:
            if entry is not None and entry.fingerprint != current:  # free a stale copy
                _drop(wh, entry.table, temp=True)
                del reg.entries[key]
            return wh.ibis.table(kept)
        if persist and build_for is not None:
            updated = _update(wh, key, build_for)
            if updated is not None:
                return wh.ibis.table(updated)
        reg.builds += 1
        expr = build()
        if persist:
            return wh.ibis.table(_keep(wh, key, clock, current, expr))
        if entry is not None:
            _drop(wh, entry.table, temp=True)
            del reg.entries[key]
        name = f"_servq_case_facts_tmp{next(_names)}"
        wh.ibis.create_table(name, obj=expr, temp=True)
        reg.entries[key] = _Entry(current, name)
        while len(reg.entries) > MAX_TEMP_TABLES:
            _, old = reg.entries.popitem(last=False)
            _drop(wh, old.table, temp=True)
        return wh.ibis.table(name)


REGISTRY_COLUMNS = ("name", "key", "clock", "code", "fingerprint", "built_at", "rows", "updates")


def _registry_exists(wh: Warehouse) -> bool:
    """Whether the file has a registry of kept facts in this version's layout (one of another
    layout is ignored, and replaced by the next build)."""
    row = wh.con.execute(
        "SELECT list(column_name) FROM duckdb_columns() "
        "WHERE table_name = ? AND database_name = current_database()",
        [REGISTRY],
    ).fetchall()
    return bool(row and row[0][0]) and set(REGISTRY_COLUMNS) <= set(row[0][0])


def _kept_table(wh: Warehouse, key: str, fp: str) -> str | None:
    """The table in the warehouse file that holds current facts for ``key``, if any."""
    if not _registry_exists(wh):
        return None
    row = wh.con.execute(
        f"SELECT name FROM {REGISTRY} WHERE key = ? AND fingerprint = ?", [key, fp]
    ).fetchall()
    return str(row[0][0]) if row else None


def _ensure_registry(wh: Warehouse) -> None:
    if not _registry_exists(wh):  # none, or one of an older layout: its tables go with it
        found = wh.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary",
            [REGISTRY],
        ).fetchall()
        if found[0][0]:
            for (old,) in wh.con.execute(f"SELECT name FROM {REGISTRY}").fetchall():
                wh.con.execute(f'DROP TABLE IF EXISTS "{old}"')
            wh.con.execute(f"DROP TABLE {REGISTRY}")
    wh.con.execute(
        f"CREATE TABLE IF NOT EXISTS {REGISTRY} (name VARCHAR PRIMARY KEY, key VARCHAR, "
        "clock VARCHAR, code VARCHAR, fingerprint VARCHAR, built_at TIMESTAMP, rows BIGINT, "
        "updates INTEGER)"
    )


def _keep(wh: Warehouse, key: str, clock: str, fp: str, expr: ir.Table) -> str:
    """Build the facts into the warehouse file, replacing older ones for the same key, in one
    transaction: a crash leaves the previous state."""
    name = f"_servq_case_facts_{key.replace('-', '_')}"
    wh.con.execute("BEGIN TRANSACTION")
    try:
        _ensure_registry(wh)
        # facts built by another servq version (or for the same key) serve nobody: drop them
        stale = wh.con.execute(
            f"SELECT name FROM {REGISTRY} WHERE code IS DISTINCT FROM ? OR name = ?",
            [_code_digest(), name],
        ).fetchall()
        for (old,) in stale:
            wh.con.execute(f'DROP TABLE IF EXISTS "{old}"')
            wh.con.execute(f"DELETE FROM {REGISTRY} WHERE name = ?", [old])
        # stored in order of creation: the usual period grouping then meets its groups one
        # after another (quantiles of 10M cases by team x week: 1.3 s -> 0.95 s)
        ordered = expr.order_by("created_at") if "created_at" in expr.columns else expr
        wh.ibis.create_table(name, obj=ordered)
        rows = wh.con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]
        wh.con.execute(
            f"INSERT INTO {REGISTRY} VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            [name, key, clock, _code_digest(), fp, utcnow(), rows],
        )
        wh.con.execute("COMMIT")
    except Exception:
        wh.con.execute("ROLLBACK")
        raise
    return name


_NEW = "ingested_at > coalesce(CAST(? AS TIMESTAMP), '-infinity'::TIMESTAMP)"


def _update(wh: Warehouse, key: str, build_for: Callable[[ir.Table], ir.Table]) -> str | None:
    """Bring kept facts for ``key`` up to date by recomputing only the cases that new rows
    touch; None (and nothing changed) when that cannot be done exactly: no kept facts, another
    schema version, or rows of the old data changed or removed (then rebuild).

    The cases recomputed: every case with a new case, event, feedback or interaction row, and
    every other case of the same customer and category (a new case can make the next one a
    repeat complaint). Runs in one transaction and checks that the result has one row per case.
    """
    if not _registry_exists(wh):
        return None
    row = wh.con.execute(
        f"SELECT name, fingerprint FROM {REGISTRY} WHERE key = ? AND code = ?",
        [key, _code_digest()],
    ).fetchall()
    if not row:
        return None
    name, stored = str(row[0][0]), json.loads(row[0][1])
    wh.con.execute("BEGIN TRANSACTION")
    try:
        now = fingerprint(wh)
        if stored[0] != now[0]:
            wh.con.execute("ROLLBACK")
            return None
        marks = []
        for i, table in enumerate(_stored(wh, now[0])):
            count, xor, latest = stored[i + 1]
            marks.append(latest)
            # every row of the old data still there, unchanged: only rows were added
            have = wh.con.execute(
                f'SELECT count(*), bit_xor(row_hash) FROM "{table}" WHERE NOT ({_NEW})',
                [latest],
            ).fetchall()[0]
            if (have[0], have[1]) != (count, xor):
                wh.con.execute("ROLLBACK")
                return None
        wh.con.execute(
            "CREATE OR REPLACE TEMP TABLE _servq_touched AS "
            "SELECT DISTINCT source_system, case_id FROM ("
            f'SELECT source_system, case_id FROM "case" WHERE {_NEW} UNION ALL '
            f"SELECT source_system, case_id FROM {_stored(wh, now[0])[1]} WHERE {_NEW} UNION ALL "
            f"SELECT source_system, case_id FROM feedback WHERE case_id IS NOT NULL AND {_NEW} "
            "UNION ALL SELECT source_system, case_id FROM interaction "
            f"WHERE case_id IS NOT NULL AND {_NEW})",
            marks,
        )
        # the customer and category groups of touched cases, as they are and as they were
        wh.con.execute(
            'INSERT INTO _servq_touched SELECT c.source_system, c.case_id FROM "case" c '
            "JOIN (SELECT DISTINCT c.source_system, c.customer_id, c.category "
            'FROM "case" c JOIN _servq_touched t USING (source_system, case_id) '
            "WHERE c.customer_id IS NOT NULL UNION "
            f'SELECT f.source_system, f.customer_id, f.category FROM "{name}" f '
            "JOIN _servq_touched t USING (source_system, case_id) "
            "WHERE f.customer_id IS NOT NULL) g "
            "ON c.source_system = g.source_system AND c.customer_id = g.customer_id "
            "AND c.category IS NOT DISTINCT FROM g.category "
            "ANTI JOIN _servq_touched t "
            "ON c.source_system = t.source_system AND c.case_id = t.case_id"
        )
        touched = wh.con.execute("SELECT count(*) FROM _servq_touched").fetchall()[0][0]
        wh.con.execute(
            f'DELETE FROM "{name}" f USING _servq_touched t '
            "WHERE f.source_system = t.source_system AND f.case_id = t.case_id"
        )
        wh.ibis.insert(name, build_for(wh.ibis.table("_servq_touched")))
        rows = wh.con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]
        if rows != now[1][0]:  # one row per case, or something is off: rebuild instead
            wh.con.execute("ROLLBACK")
            return None
        wh.con.execute(
            f"UPDATE {REGISTRY} SET fingerprint = ?, built_at = ?, rows = ?, "
            "updates = updates + 1 WHERE name = ?",
            [_fp_text(now), utcnow(), rows, name],
        )
        wh.con.execute("DROP TABLE _servq_touched")
        wh.con.execute("COMMIT")
    except Exception:
        wh.con.execute("ROLLBACK")
        raise
    registry(wh).updates += 1
    registry(wh).touched = int(touched)
    return name


def kept(wh: Warehouse) -> list[dict[str, Any]]:
    """The fact tables kept in the warehouse file: name, key, clock (calendar name, '' for
    calendar time), fingerprint, built_at, rows, updates (case-by-case updates since built)."""
    if not _registry_exists(wh):
        return []
    cur = wh.con.execute(
        f"SELECT name, key, clock, fingerprint, built_at, rows, updates FROM {REGISTRY}"
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def clear(wh: Warehouse) -> int:
    """Drop every fact table this connection made or (when it may write) the file keeps;
    return how many."""
    reg = registry(wh)
    n = 0
    with _lock(wh):
        for entry in reg.entries.values():
            _drop(wh, entry.table, temp=True)
            n += 1
        reg.entries.clear()
        if _writable(wh) and _registry_exists(wh):
            for row in wh.con.execute(f"SELECT name FROM {REGISTRY}").fetchall():
                _drop(wh, row[0], temp=False)
                n += 1
            wh.con.execute(f"DROP TABLE {REGISTRY}")
    return n


def _drop(wh: Warehouse, table: str, *, temp: bool) -> None:
    # a closed connection took its temporary tables with it
    with contextlib.suppress(duckdb.Error):
        wh.con.execute(f'DROP TABLE IF EXISTS {"temp." if temp else ""}"{table}"')
