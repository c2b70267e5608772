"""Run one ingest batch: stage, validate, quarantine, and merge idempotently, all or nothing.

Owns: the batch lifecycle. Source rows are staged in temporary tables (never persisted), mapped
and validated by the compiled profile query, then one transaction writes the quarantine, merges
good rows into the canonical table (and derived case events or cases), and records the batch.
A crash or kill before COMMIT leaves the warehouse exactly as it was: DuckDB discards an
uncommitted transaction when the file is next opened.

Merge rules, per natural key: a key not yet stored is *loaded*; the same key with the same row
hash is a *duplicate*; a different hash replaces the stored row (*updated*) unless the table has
a version column (``updated_at``) and the stored version is newer (*stale*, kept as it was).

Speed (a million-row CSV in a few seconds): a CSV file that DuckDB reads exactly as the CSV reader
does is not staged through Arrow at all; the mapping query reads it with DuckDB's parallel
``read_csv`` (see ``CsvReader.scan``) and is materialised once, in file order, so that its
``rowid`` numbers the records. Every later step reads that one table. When the target holds no
row of the profile's source system, no stored key can match: the batch is inserted directly,
without the join that classifies rows against the stored ones. The case events a ticket row
implies (profile ``events``) are not written at all: the ``case_event`` view computes them from
the row (``servq.warehouse.events``); they are stored only when a later version replaces the row.
The file's SHA-256 is computed on a second thread meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from servq.errors import SourceError
from servq.ingest.compile import CompiledQuery, compile_profile
from servq.ingest.profile import ID_FIELDS, Profile
from servq.ingest.readers.base import ROW_COLUMN, DirectScan, ReadOptions, ReadStats
from servq.warehouse import events as implied
from servq.warehouse.schema import CASE, CASE_EVENT, LINEAGE, SQL_TYPES, Table
from servq.warehouse.sql import qi, ql, row_hash_sql
from servq.warehouse.store import Warehouse, utcnow

Progress = Callable[[int, int], None]


@dataclass
class MergeCounts:
    loaded: int = 0
    updated: int = 0
    duplicates: int = 0
    stale: int = 0


@dataclass
class IngestResult:
    """What one batch did. ``read`` = loaded + updated + duplicates + quarantined."""

    batch_id: str
    source: str
    profile: str
    target: str
    format: str | None
    encoding: str | None
    delimiter: str | None
    read: int = 0
    loaded: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0
    already_quarantined: int = 0
    flagged: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    derived: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    replay_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _storage(table: Table) -> str:
    """The stored table behind canonical table ``table`` (``case_event`` is a view)."""
    return implied.STORED if table is CASE_EVENT else table.name


def _fault_point(name: str) -> None:
    """Let tests kill a load at a known point: SERVQ_FAULT_SLEEP=<point> pauses here."""
    if os.environ.get("SERVQ_FAULT_SLEEP") == name:
        marker = os.environ.get("SERVQ_FAULT_MARKER")
        if marker:
            Path(marker).write_text(name, encoding="utf-8")
        time.sleep(float(os.environ.get("SERVQ_FAULT_SECONDS", "60")))


def new_batch_id() -> str:
    return f"b{utcnow():%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _typed_null(table: Table, column: str) -> str:
    return f"CAST(NULL AS {SQL_TYPES[table.column(column).type]})"


def _hash_expr(columns: Iterable[str], prefix: str = "") -> str:
    parts = ", ".join(f"coalesce(CAST({prefix}{qi(c)} AS VARCHAR), chr(0))" for c in columns)
    return f"md5(concat_ws(chr(31), {parts}))"


# the free-text column of each target: personal data is masked there before it is stored
TEXT_COLUMNS = {
    "feedback": "text",
    "interaction": "transcript",
    "case": "description",
    "audit": "comment",
    "ops_record": "text",
}
# targets whose text is analysed as it is ingested (sentiment, aspects, risk words, urgency)
ANALYSED_TABLES = frozenset({"feedback", "interaction"})
ANALYSIS_COLUMNS = (
    "sentiment_label",
    "sentiment_score",
    "attitude_score",
    "aspects",
    "risk_categories",
    "urgency",
)


# what a stored value takes in memory before it is compressed, about (a 16-byte slot, and the text
# of longer strings): to tell whether a batch's rows fit in memory until COMMIT
_BYTES_PER_CELL = 24
_BYTE_UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_BYTE_UNITS.update({"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40})


def _memory_limit(con: duckdb.DuckDBPyConnection) -> int | None:
    value = str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", value)
    unit = _BYTE_UNITS.get(m.group(2).upper()) if m else None
    return int(float(m.group(1)) * unit) if m and unit else None


@contextmanager
def _appends_in_memory(con: duckdb.DuckDBPyConnection, cells: int) -> Iterator[None]:
    """Keep the batch's inserted rows in memory until COMMIT, if they fit comfortably.

    By default DuckDB writes a large insert to the file as it goes ("optimistic writes"), each
    row group compressed on the way; that costs about 2.5 times the CPU of writing the same rows
    once at COMMIT (3.8 million stored events: about 5 s against 2 s, for the same file size).
    The rows then wait in memory, so only a batch estimated to need at most a quarter of
    DuckDB's memory limit does so; the estimate counts derived events as if every one were
    stored. The setting is restored afterwards. Either way the commit is atomic.
    """
    switched = False
    try:
        enabled = con.execute("SELECT current_setting('enable_optimistic_write')").fetchall()
        limit = _memory_limit(con)
        if enabled and enabled[0][0] and limit and cells * _BYTES_PER_CELL <= limit // 4:
            con.execute("SET enable_optimistic_write = false")
            switched = True
    except duckdb.Error:
        pass  # an older DuckDB without the setting: it writes as it goes
    try:
        yield
    finally:
        if switched:
            con.execute("SET enable_optimistic_write = true")


class _DirectScanFailed(Exception):
    """DuckDB could not read the file as the reader offered it: the reader must read it."""


class _Batch:
    """One batch's staging state on the warehouse connection."""

    def __init__(self, wh: Warehouse, profile: Profile, source: str, batch_id: str) -> None:
        self.wh = wh
        self.con = wh.con
        self.profile = profile
        self.source = source
        self.batch_id = batch_id
        self.columns: list[str] = []
        self.read = 0
        self.rejected = 0  # rows of _mapped the profile rejects
        self.flagged = 0  # good rows with a flag
        self.direct = False  # the mapping reads the file itself (stage_direct)
        self._temps: list[tuple[str, str]] = []  # (name, TABLE or VIEW)
        self._raw: pa.Table | None = None
        self._text_out: pa.Table | None = None
        self.incoming = "_incoming"  # the relation merged into the target (see text_pass)
        self.changed = ""  # the target's rows this batch loaded or updated (see merge)
        self.updated = ""  # of those, the rows that replaced a stored row (see merge)
        # a case profile with event rules: the registered id its new case rows carry, so that
        # their events are implied, not stored (servq.warehouse.events)
        self.rules_id: str | None = None

    # -- staging --------------------------------------------------------------------------------
    def _temp(self, name: str, sql: str, *, view: bool = False) -> None:
        kind = "VIEW" if view else "TABLE"
        self.con.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS {sql}")
        self._temps.append((name, kind))

    def stage(self, batches: Iterator[pa.RecordBatch], on_batch: Callable[[], None]) -> None:
        """Collect the reader's batches into one Arrow table that DuckDB scans in place.

        Batches may differ in columns (JSON, XES): missing ones become nulls. Nothing is written
        to the warehouse here, so a reader error leaves no trace.
        """
        tables: list[pa.Table] = []
        for batch in batches:
            tables.append(pa.Table.from_batches([batch]))
            self.read += batch.num_rows
            on_batch()
        if tables:
            raw = pa.concat_tables(tables, promote_options="default")
        else:
            raw = pa.table({ROW_COLUMN: pa.array([], pa.int64())})
        self.columns = [n for n in raw.column_names if n != ROW_COLUMN]
        self._raw = raw
        self.con.register("_raw", raw)

    def stage_direct(self, scan: DirectScan) -> None:
        """Let the mapping query read the file itself with DuckDB (see ``Reader.scan``)."""
        self.columns = list(scan.columns)
        self.direct = True
        self._temp("_raw", f"SELECT * FROM {scan.sql}", view=True)

    def cleanup(self) -> None:
        for name, kind in reversed(self._temps):
            if kind == "ARROW":
                self.con.unregister(name)
            else:
                self.con.execute(f"DROP {kind} IF EXISTS {name}")
        self._temps.clear()
        if self._raw is not None:
            self.con.unregister("_raw")
            self._raw = None

    # -- mapping --------------------------------------------------------------------------------
    def map(self) -> CompiledQuery:
        """Map and validate every source row once, into the temporary table ``_mapped``."""
        source_columns = self.columns if self.direct else [ROW_COLUMN, *self.columns]
        compiled = compile_profile(self.profile, source_columns, row_column=not self.direct)
        required_missing = [
            (f, c)
            for f, c in compiled.missing_columns
            if (self.profile.fields.get(f) and self.profile.fields[f].required)
        ]
        if required_missing and self.direct:
            # whether that is an error depends on the file having rows: the reader's path knows
            raise _DirectScanFailed("required columns are missing")
        if required_missing and self.read > 0:
            have = ", ".join(self.columns[:40]) + (" ..." if len(self.columns) > 40 else "")
            need = "; ".join(f"column '{c}' (field {f})" for f, c in required_missing)
            raise SourceError(
                self.source,
                f"profile '{self.profile.name}' needs {need}, which the file does not have. "
                f"Its columns are: {have}",
            )
        if self.direct:
            try:
                self._temp("_mapped_rows", compiled.sql)
            except duckdb.Error as e:
                raise _DirectScanFailed(str(e)) from e
            # created in file order (insertion order is preserved), so rowid numbers the records
            self._temp("_mapped", "SELECT rowid + 1 AS _row, * FROM _mapped_rows", view=True)
        else:
            self._temp("_mapped", compiled.sql)
        read, rejected, flagged = self.con.execute(
            "SELECT count(*), count(*) FILTER (_codes <> ''), "
            "count(*) FILTER (_codes = '' AND _flags <> '') FROM _mapped"
        ).fetchall()[0]
        if self.direct:
            self.read = int(read)
        self.rejected, self.flagged = int(rejected), int(flagged)
        return compiled

    def target_select(self, compiled: CompiledQuery) -> str:
        """SELECT of the target table's data columns from the good rows, ids generated if absent."""
        table = self.profile.table
        id_field = ID_FIELDS[table.name]
        cols = []
        for c in table.column_names:
            if c == "source_system":
                cols.append(f"{ql(self.profile.source_system)} AS source_system")
            elif c == id_field and c in compiled.fields and self.profile.fields[c].required:
                cols.append(qi(c))  # never empty here: a row without it was quarantined
            elif c == id_field:
                # a missing or empty source id falls back to an id made from the row itself
                generated = self._generated_id(table, compiled)
                if c in compiled.fields:
                    generated = f"coalesce({qi(c)}, {generated})"
                cols.append(f"{generated} AS {qi(c)}")
            elif c in compiled.fields:
                cols.append(qi(c))
            else:
                cols.append(f"{_typed_null(table, c)} AS {qi(c)}")
        extra = [qi(f"case__{f}") for f in compiled.case_fields]
        return ", ".join([*cols, *extra, "_row", "_flags"])

    @staticmethod
    def _generated_id(table: Table, compiled: CompiledQuery) -> str:
        """An id for rows whose source has none, stable across loads of the same data.

        Events get a readable ``case/activity/time[/lifecycle]``; other rows a hash of their
        mapped content. Identical rows are numbered (``#2``, ``#3``) in file order, so a log with
        two identical events keeps both and loading it again still matches each to itself.
        """
        if table is CASE_EVENT:
            parts = ["case_id", "activity", "timestamp", "lifecycle"]
            parts = [p for p in parts if p in compiled.fields]
            base = " || '/' || ".join(
                f"strftime({qi(p)}, '%Y-%m-%dT%H:%M:%S.%f')"
                if p == "timestamp"
                else f"coalesce({qi(p)}, '')"
                for p in parts
            )
        else:
            parts = [f for f in compiled.fields if f not in ("attributes", ID_FIELDS[table.name])]
            base = _hash_expr(parts)
        occurrence = (
            f"row_number() OVER (PARTITION BY {', '.join(qi(p) for p in parts)} ORDER BY _row)"
        )
        numbered = f"'#' || CAST({occurrence} AS VARCHAR)"
        return f"{base} || CASE WHEN {occurrence} > 1 THEN {numbered} ELSE '' END"

    # -- writing --------------------------------------------------------------------------------
    def collect_rejects(self, stats: ReadStats) -> None:
        """Gather rejected rows, with their source values as JSON, then let go of the source.

        Runs before the transaction so the (large) staged source can be freed early; only the
        rejected rows are kept.
        """
        self._temp(
            "_bad",
            "SELECT _row, _codes, _detail, _source AS raw, 'json' AS fmt FROM _mapped "
            "WHERE _codes <> ''",
        )
        if stats.rejected:
            rej = pa.table(
                {
                    "_row": [r.row for r in stats.rejected],
                    "_codes": [r.reason for r in stats.rejected],
                    "_detail": [r.detail for r in stats.rejected],
                    "raw": [r.raw for r in stats.rejected],
                    "fmt": ["text"] * len(stats.rejected),
                }
            )
            self.con.register("_servq_rejected", rej)
            try:
                self.con.execute("INSERT INTO _bad SELECT * FROM _servq_rejected")
            finally:
                self.con.unregister("_servq_rejected")
        if self._raw is not None:
            self.con.unregister("_raw")
            self._raw = None

    def write_quarantine(self, result: IngestResult, stats: ReadStats) -> None:
        if not self.rejected and not stats.rejected:
            return  # nothing to quarantine: spare the queries
        now = utcnow()
        profile = self.profile.name
        self.con.execute(
            f"""
            INSERT INTO quarantine
            SELECT ?, b._row, split_part(b._codes, ',', 1), b._codes, b._detail, b.raw, b.fmt,
                   md5({ql(profile)} || chr(31) || b.raw), ?, ?, ?, NULL
            FROM _bad b
            WHERE md5({ql(profile)} || chr(31) || b.raw) NOT IN
                (SELECT raw_hash FROM quarantine WHERE resolved_by IS NULL)
            """,
            [self.batch_id, profile, self.source, now],
        )
        rows = self.con.execute(
            "SELECT split_part(_codes, ',', 1) AS reason, count(*) FROM _bad "
            "GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        result.quarantine_reasons = {str(r): int(n) for r, n in rows}
        result.quarantined = sum(result.quarantine_reasons.values())
        new = self.con.execute(
            "SELECT count(*) FROM quarantine WHERE batch_id = ?", [self.batch_id]
        ).fetchall()[0]
        result.already_quarantined = result.quarantined - (int(new[0]) if new else 0)

    def text_pass(self, incoming: str) -> str:
        """Mask personal data in the target's free-text column and, for feedback and calls,
        add the text analysis (servq.text.analyze); the relation to merge from then on."""
        table = self.profile.table
        column = TEXT_COLUMNS.get(table.name)
        if column is None:
            return incoming
        col = qi(column)
        rows = self.con.execute(
            f"SELECT _row, {col} FROM {incoming} WHERE {col} IS NOT NULL"
        ).fetchall()
        if not rows:
            return incoming
        texts = [r[1] for r in rows]
        if table.name in ANALYSED_TABLES:
            from servq.text.analyze import analyze

            found = analyze(texts)
            out = pa.table(
                {
                    "_row": pa.array([r[0] for r in rows], pa.int64()),
                    "_masked": pa.array(found["masked_text"].tolist(), pa.string()),
                    **{
                        f"_t_{c}": pa.array(
                            found[c].tolist(),
                            pa.float64() if c.endswith("_score") else pa.string(),
                            from_pandas=True,  # NaN (no attitude in the text) is NULL
                        )
                        for c in ANALYSIS_COLUMNS
                    },
                    "_t_language": pa.array(
                        found["language"].tolist(), pa.string(), from_pandas=True
                    ),
                }
            )
            keep = {c: f"coalesce(i.{qi(c)}, t._t_{c})" for c in ANALYSIS_COLUMNS}
            if "language" in table.column_names:
                keep["language"] = "coalesce(i.language, nullif(t._t_language, ''))"
        else:
            from servq.text.pii import mask_many

            out = pa.table(
                {
                    "_row": pa.array([r[0] for r in rows], pa.int64()),
                    "_masked": pa.array(mask_many(texts), pa.string()),
                }
            )
            keep = {}
        self._text_out = out  # kept alive while DuckDB scans it
        self.con.register("_servq_text_out", out)
        self._temps.append(("_servq_text_out", "ARROW"))
        replace = ", ".join(
            [f"coalesce(t._masked, i.{col}) AS {col}"]
            + [f"{expr} AS {qi(c)}" for c, expr in keep.items()]
        )
        self._temp(
            "_incoming_text",
            f"SELECT i.* REPLACE ({replace}) FROM {incoming} i "
            "LEFT JOIN _servq_text_out t ON t._row = i._row",
        )
        self.incoming = "_incoming_text"
        return self.incoming

    def _may_hold_keys_of_batch(self, table: Table) -> bool:
        """Whether ``table`` may already hold a key of this batch: it has a row of the profile's
        source system (every key starts with it, and every row of a batch carries it)."""
        where, params = "", []
        if table.key[0] == "source_system":
            where, params = "WHERE source_system = ?", [self.profile.source_system]
        sql = f"SELECT count(*) FROM (SELECT 1 FROM {qi(_storage(table))} {where} LIMIT 1)"
        row = self.con.execute(sql, params).fetchall()[0]
        return bool(row and row[0])

    def merge(self, table: Table, incoming: str, *, unique: bool = False) -> MergeCounts:
        """Merge relation ``incoming`` (data columns, _row, _flags) into ``table``.

        ``unique`` promises that ``incoming`` has each key once (derived rows), which saves
        a pass over it. Afterwards ``self.changed`` is the relation of the rows that were loaded
        or updated.
        """
        data_cols = table.column_names
        name = qi(_storage(table))
        key = table.key
        version = table.version_column
        keys = ", ".join(qi(k) for k in key)
        total = distinct = 0
        if not unique:
            total, distinct = self.con.execute(
                f"SELECT count(*), count(DISTINCT ({keys})) FROM {incoming}"
            ).fetchall()[0]
        source = incoming
        if table is CASE_EVENT and not unique:
            # events from a log: the cases they belong to stop implying theirs (events.release)
            implied.release(self.con, f"(SELECT DISTINCT source_system, case_id FROM {incoming})")
        if distinct < total:  # the same key twice in one batch: the latest version wins
            order = f"{qi(version)} DESC NULLS LAST, _row DESC" if version else "_row DESC"
            source = f"{incoming}_latest"
            self._temp(
                source,
                f"SELECT * FROM {incoming} "
                f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1",
            )
        row_hash = row_hash_sql(qi(c) for c in data_cols)
        lineage = {
            "source": ql(self.source),
            "batch_id": ql(self.batch_id),
            "ingested_at": f"TIMESTAMP '{utcnow():%Y-%m-%d %H:%M:%S.%f}'",
            "row_hash": "_hash",
            "flags": "NULLIF(_flags, '')",
        }
        assert tuple(lineage) == tuple(c.name for c in LINEAGE)
        columns = [*data_cols, *lineage]
        exprs = [*(qi(c) for c in data_cols), *lineage.values()]
        # a new case row implies its events (rule set self.rules_id); a replaced one stores them
        rules = ql(self.rules_id) if table is CASE and self.rules_id else None
        if table is CASE:
            columns.append(implied.RULES_COLUMN)
            exprs.append("NULL")
        target = f"{name} ({', '.join(qi(c) for c in columns)})"
        counts = MergeCounts()
        self.updated = ""
        if not self._may_hold_keys_of_batch(table):
            # no stored row can have a key of this batch: every row is new, no join needed
            if rules:
                exprs[-1] = rules
            inserted = self.con.execute(
                f"INSERT INTO {target} SELECT {', '.join(exprs)} "
                f"FROM (SELECT *, {row_hash} AS _hash FROM {source})"
            ).fetchall()
            counts.loaded = int(inserted[0][0]) if inserted else 0
            self.changed = source
        else:
            join = " AND ".join(f"t.{qi(k)} = i.{qi(k)}" for k in key)
            v = qi(version) if version else ""
            newer = f"i.{v} IS NULL OR t.{v} IS NULL OR i.{v} >= t.{v}" if version else "TRUE"
            cls = f"{incoming}_cls"
            self._temp(
                cls,
                f"""
                WITH i AS (SELECT *, {row_hash} AS _hash FROM {source})
                SELECT i.*, CASE WHEN t.{qi(key[-1])} IS NULL THEN 'loaded'
                                 WHEN t.row_hash = i._hash THEN 'duplicates'
                                 WHEN {newer} THEN 'updated' ELSE 'stale' END AS _class
                FROM i LEFT JOIN {name} t ON {join}
                """,
            )
            for cls_name, n in self.con.execute(
                f"SELECT _class, count(*) FROM {cls} GROUP BY 1"
            ).fetchall():
                setattr(counts, str(cls_name), int(n))
            if counts.updated:
                self.updated = f"(SELECT * FROM {cls} WHERE _class = 'updated')"
                if table is CASE:  # the replaced rows' implied events become stored ones
                    implied.materialize(self.con, self.updated)
                self.con.execute(
                    f"DELETE FROM {name} t USING {cls} i WHERE {join} AND i._class = 'updated'"
                )
            if counts.loaded or counts.updated:
                if rules:
                    exprs[-1] = f"CASE WHEN _class = 'loaded' THEN {rules} END"
                self.con.execute(
                    f"INSERT INTO {target} SELECT {', '.join(exprs)} FROM {cls} "
                    "WHERE _class IN ('loaded', 'updated')"
                )
            self.changed = f"(SELECT * FROM {cls} WHERE _class IN ('loaded', 'updated'))"
        # rows superseded by a later row of the same key in this very batch count as duplicates
        counts.duplicates += int(total) - int(distinct)
        return counts

    def derive_events(self) -> str | None:
        """Stored case events from the timestamp columns of updated case rows (profile
        ``events``). A newly loaded case row implies its events (``implied_events``)."""
        if not self.profile.events or not self.updated:
            return None
        parts = []
        for ev in self.profile.events:
            cols = implied.event_columns(ev.model_dump())
            inner = ", ".join(f"{v} AS {qi(k)}" for k, v in cols.items())
            parts.append(
                f"SELECT {inner}, _row, '' AS _flags FROM {self.updated} AS c "
                f"WHERE {cols['timestamp']} IS NOT NULL"
            )
        self._temp("_ev_in", " UNION ALL ".join(parts), view=True)
        return "_ev_in"

    def implied_events(self, loaded: int) -> int:
        """How many events the case rows this batch loaded imply (none are stored)."""
        if not self.rules_id or not loaded:
            return 0
        rel = self.changed
        if self.updated:
            rel = f"(SELECT * FROM {self.changed} WHERE _class = 'loaded')"
        sql = implied.count_implied([e.model_dump() for e in self.profile.events], rel)
        return int(self.con.execute(sql).fetchall()[0][0])

    def derive_cases(self, compiled: CompiledQuery) -> str | None:
        """One case row per case id of an event log (profile ``cases``)."""
        if self.profile.cases is None:
            return None
        cols = []
        for c in CASE.column_names:
            if c == "source_system":
                cols.append("any_value(source_system) AS source_system")
            elif c == "case_id":
                cols.append("case_id")
            elif c == "created_at":
                cols.append("min(timestamp) AS created_at")
            elif c == "updated_at":
                cols.append("max(timestamp) AS updated_at")
            elif c in compiled.case_fields:
                cols.append(f"arg_min({qi('case__' + c)}, _row) AS {qi(c)}")
            else:
                cols.append(f"{_typed_null(CASE, c)} AS {qi(c)}")
        self._temp(
            "_case_from_ev",
            f"SELECT {', '.join(cols)}, min(_row) AS _row, '' AS _flags "
            f"FROM {self.incoming} WHERE case_id IS NOT NULL GROUP BY case_id",
        )
        return "_case_from_ev"


def run_batch(
    wh: Warehouse,
    profile: Profile,
    batches: Iterator[pa.RecordBatch],
    stats: ReadStats,
    *,
    source: str,
    sha256: str | Callable[[], str] | None = None,
    file_bytes: int | None = None,
    replay_of: str | None = None,
    progress: Progress | None = None,
    direct: DirectScan | None = None,
) -> IngestResult:
    """Stage ``batches``, validate with ``profile`` and commit everything in one transaction.

    With ``direct`` the mapping reads the file itself and ``batches`` is not used; if DuckDB
    cannot read the file that way, ``_DirectScanFailed`` is raised before anything is written.
    ``sha256`` may be a callable giving the file's hash when it is needed (computed meanwhile).
    """
    started = time.perf_counter()
    started_at = utcnow()
    batch_id = new_batch_id()
    b = _Batch(wh, profile, source, batch_id)
    con = wh.con

    def tick() -> None:
        if progress is not None:
            progress(stats.bytes_read, stats.bytes_total)

    try:
        if direct is not None:
            b.stage_direct(direct)
        else:
            b.stage(batches, tick)
        result = IngestResult(
            batch_id=batch_id,
            source=source,
            profile=profile.name,
            target=profile.target,
            format=stats.format or None,
            encoding=stats.encoding,
            delimiter=stats.delimiter,
            replay_of=replay_of,
        )
        compiled = b.map()
        if direct is not None:
            stats.bytes_read = stats.bytes_total
            tick()
        result.read = b.read + len(stats.rejected)
        b.collect_rejects(stats)
        if compiled.missing_columns:
            missing = ", ".join(sorted({c for _, c in compiled.missing_columns}))
            result.warnings.append(f"optional columns not in the source, left empty: {missing}")
        mapped = "_mapped"
        if compiled.constants:  # the fields the same on every row, which _mapped leaves out
            consts = ", ".join(f"{expr} AS {qi(name)}" for name, expr in compiled.constants)
            mapped = f"(SELECT *, {consts} FROM _mapped)"
        b._temp(
            "_incoming",
            f"SELECT {b.target_select(compiled)} FROM {mapped} WHERE _codes = ''",
            view=True,
        )
        incoming = b.text_pass("_incoming")
        good = b.read - b.rejected
        width = len(profile.table.columns) + len(LINEAGE)
        cells = good * width + good * len(profile.events) * (len(CASE_EVENT.columns) + len(LINEAGE))
        if profile.cases is not None:
            cells += good * (len(CASE.columns) + len(LINEAGE))
        with _appends_in_memory(con, cells):
            _commit(b, result, compiled, stats, incoming, sha256, file_bytes, started, started_at)
    finally:
        b.cleanup()
    return result


def _commit(
    b: _Batch,
    result: IngestResult,
    compiled: CompiledQuery,
    stats: ReadStats,
    incoming: str,
    sha256: str | Callable[[], str] | None,
    file_bytes: int | None,
    started: float,
    started_at: datetime,
) -> None:
    """The batch's one transaction: quarantine, merge, derived rows and the batch's record."""
    con, profile = b.con, b.profile
    con.execute("BEGIN TRANSACTION")
    try:
        if profile.events and profile.table is CASE:
            b.rules_id = implied.register(con, [e.model_dump() for e in profile.events])
        b.write_quarantine(result, stats)
        _fault_point("quarantine")
        counts = b.merge(profile.table, incoming)
        _fault_point("merge")
        result.loaded, result.updated = counts.loaded, counts.updated
        result.duplicates = counts.duplicates + counts.stale
        if counts.stale:
            result.warnings.append(
                f"{counts.stale} row(s) older than the stored version were not applied"
            )
        result.flagged = b.flagged
        if b.rules_id:
            n_implied = b.implied_events(counts.loaded)  # before merge() moves b.changed on
            ev = b.derive_events()
            derived = MergeCounts() if ev is None else b.merge(CASE_EVENT, ev, unique=True)
            derived.loaded += n_implied
            result.derived["case_event"] = asdict(derived)
        cases = b.derive_cases(compiled)
        if cases is not None:
            result.derived["case"] = asdict(b.merge(CASE, cases))
        file_hash = sha256() if callable(sha256) else sha256
        result.seconds = time.perf_counter() - started
        con.execute(
            f"INSERT INTO ingest_batch VALUES ({', '.join(['?'] * 19)})",
            [
                b.batch_id,
                b.source,
                profile.name,
                profile.target,
                result.format,
                result.encoding,
                result.delimiter,
                file_hash,
                file_bytes,
                started_at,
                utcnow(),
                result.read,
                result.loaded,
                result.updated,
                result.duplicates,
                result.quarantined,
                result.flagged,
                json.dumps(result.derived),
                result.replay_of,
            ],
        )
        _fault_point("commit")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


class _FileHash:
    """The SHA-256 of a file, computed on a second thread (hashlib lets go of the GIL)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._value: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="servq-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = file_sha256(self._path)
        except BaseException as e:  # handed to the caller of result()
            self._error = e

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def ingest_path(
    wh: Warehouse, path: Path, profile: Profile, *, progress: Progress | None = None
) -> IngestResult:
    """Load one file with a profile; an unreadable file raises SourceError and writes nothing."""
    from servq.ingest.readers.registry import reader_for

    path = Path(path)
    if not path.is_file():
        raise SourceError(path, "no such file")
    reader = reader_for(path, profile.read.format)
    options = ReadOptions(
        encoding=profile.read.encoding, delimiter=profile.read.delimiter, sheet=profile.read.sheet
    )
    sha = _FileHash(path)
    scan: Callable[[Path, ReadOptions, ReadStats], DirectScan | None] | None = getattr(
        reader, "scan", None
    )
    if scan is not None:
        stats = ReadStats(bytes_total=path.stat().st_size)
        direct = scan(path, options, stats)
        if direct is not None:
            try:
                return run_batch(
                    wh,
                    profile,
                    iter(()),
                    stats,
                    source=str(path),
                    sha256=sha.result,
                    file_bytes=stats.bytes_total,
                    progress=progress,
                    direct=direct,
                )
            except _DirectScanFailed:
                pass  # DuckDB reads it otherwise (a malformed row, bad UTF-8...): read() decides
    stats = ReadStats(bytes_total=path.stat().st_size)
    return run_batch(
        wh,
        profile,
        reader.read(path, options, stats),
        stats,
        source=str(path),
        sha256=sha.result,
        file_bytes=stats.bytes_total,
        progress=progress,
    )


def arrow_as_strings(table: pa.Table, first_row: int = 1) -> pa.Table:
    """Every column as text, plus ``_row``: the shape readers give the engine."""
    cols = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        if name == ROW_COLUMN:
            continue
        if pa.types.is_string(col.type):
            cols[name] = col
        elif pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
            cols[name] = pa.array(
                [None if v is None else v.isoformat() for v in col.to_pylist()], pa.string()
            )
        else:
            cols[name] = col.cast(pa.string())
    if ROW_COLUMN in table.column_names:
        cols[ROW_COLUMN] = table.column(ROW_COLUMN).cast(pa.int64())
    else:
        cols[ROW_COLUMN] = pa.array(range(first_row, first_row + table.num_rows), pa.int64())
    return pa.table(cols)


def ingest_arrow(
    wh: Warehouse,
    table: pa.Table,
    profile: Profile,
    *,
    source: str = "<dataframe>",
    replay_of: str | None = None,
) -> IngestResult:
    """Load an in-memory Arrow table (pandas and polars frames convert to it)."""
    stats = ReadStats(format="arrow")
    strings = arrow_as_strings(table)
    return run_batch(
        wh, profile, iter(strings.to_batches()), stats, source=source, replay_of=replay_of
    )
