"""Run one ingest batch: stage, validate, quarantine, and merge idempotently, all or nothing.

Owns: the batch lifecycle. Source rows are staged in temporary tables (never persisted), mapped
and validated by the compiled profile query, then one transaction writes the quarantine, merges
good rows into the canonical table (and derived case events or cases), and records the batch.
A crash or kill before COMMIT leaves the warehouse exactly as it was: DuckDB discards an
uncommitted transaction when the file is next opened.

Merge rules, per natural key: a key not yet stored is *loaded*; the same key with the same row
hash is a *duplicate*; a different hash replaces the stored row (*updated*) unless the table has
a version column (``updated_at``) and the stored version is newer (*stale*, kept as it was).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from servq.errors import SourceError
from servq.ingest.compile import CompiledQuery, compile_profile, qi, ql
from servq.ingest.profile import ID_FIELDS, Profile
from servq.ingest.readers.base import ROW_COLUMN, ReadOptions, ReadStats
from servq.warehouse.schema import CASE, CASE_EVENT, LINEAGE, SQL_TYPES, Table
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
        self._temps: list[tuple[str, str]] = []  # (name, TABLE or VIEW)
        self._raw: pa.Table | None = None
        self._text_out: pa.Table | None = None
        self.incoming = "_incoming"  # the relation merged into the target (see text_pass)

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
        compiled = compile_profile(self.profile, [ROW_COLUMN, *self.columns])
        required_missing = [
            (f, c)
            for f, c in compiled.missing_columns
            if (self.profile.fields.get(f) and self.profile.fields[f].required)
        ]
        if required_missing and self.read > 0:
            have = ", ".join(self.columns[:40]) + (" ..." if len(self.columns) > 40 else "")
            need = "; ".join(f"column '{c}' (field {f})" for f, c in required_missing)
            raise SourceError(
                self.source,
                f"profile '{self.profile.name}' needs {need}, which the file does not have. "
                f"Its columns are: {have}",
            )
        self._temp("_mapped", compiled.sql)
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
        """Gather rejected rows, with their raw source values, then let go of the source table.

        Runs before the transaction so the (large) staged source can be freed early; only the
        rejected rows are kept.
        """
        raw_obj = (
            "CAST(json_object("
            + ", ".join(f"{ql(c)}, _raw.{qi(c)}" for c in self.columns)
            + ") AS VARCHAR)"
            if self.columns
            else "'{}'"
        )
        self._temp(
            "_bad",
            f"SELECT m._row, m._codes, m._detail, {raw_obj} AS raw, 'json' AS fmt FROM _mapped m "
            "JOIN _raw USING (_row) WHERE m._codes <> ''",
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

    def write_quarantine(self, result: IngestResult) -> None:
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

    def merge(self, table: Table, incoming: str, *, unique: bool = False) -> MergeCounts:
        """Merge relation ``incoming`` (data columns, _row, _flags) into ``table``.

        ``unique`` promises that ``incoming`` has each key once (derived rows), which saves
        a pass over it.
        """
        data_cols = table.column_names
        key = table.key
        version = table.version_column
        keys = ", ".join(qi(k) for k in key)
        total = distinct = 0
        if not unique:
            total, distinct = self.con.execute(
                f"SELECT count(*), count(DISTINCT ({keys})) FROM {incoming}"
            ).fetchall()[0]
        source = incoming
        if distinct < total:  # the same key twice in one batch: the latest version wins
            order = f"{qi(version)} DESC NULLS LAST, _row DESC" if version else "_row DESC"
            source = (
                f"(SELECT * FROM {incoming} "
                f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1)"
            )
        join = " AND ".join(f"t.{qi(k)} = i.{qi(k)}" for k in key)
        v = qi(version) if version else ""
        newer = f"i.{v} IS NULL OR t.{v} IS NULL OR i.{v} >= t.{v}" if version else "TRUE"
        # hash() is DuckDB's 64-bit row hash: a collision would have to hit two versions of the
        # same key, and a hash change across DuckDB releases only re-writes identical rows once
        row_hash = "CAST(hash(" + ", ".join(qi(c) for c in data_cols) + ") >> 1 AS BIGINT)"
        cls = f"{incoming}_cls"
        self._temp(
            cls,
            f"""
            WITH i AS (SELECT *, {row_hash} AS _hash FROM {source})
            SELECT i.*, CASE WHEN t.{qi(key[-1])} IS NULL THEN 'loaded'
                             WHEN t.row_hash = i._hash THEN 'duplicates'
                             WHEN {newer} THEN 'updated' ELSE 'stale' END AS _class
            FROM i LEFT JOIN {qi(table.name)} t ON {join}
            """,
        )
        counts = MergeCounts()
        for name, n in self.con.execute(
            f"SELECT _class, count(*) FROM {cls} GROUP BY 1"
        ).fetchall():
            setattr(counts, str(name), int(n))
        if counts.updated:
            self.con.execute(
                f"DELETE FROM {qi(table.name)} t USING {cls} i "
                f"WHERE {join} AND i._class = 'updated'"
            )
        lineage = {
            "source": ql(self.source),
            "batch_id": ql(self.batch_id),
            "ingested_at": f"TIMESTAMP '{utcnow():%Y-%m-%d %H:%M:%S.%f}'",
            "row_hash": "_hash",
            "flags": "NULLIF(_flags, '')",
        }
        assert tuple(lineage) == tuple(c.name for c in LINEAGE)
        select = ", ".join([*(qi(c) for c in data_cols), *lineage.values()])
        if counts.loaded or counts.updated:
            self.con.execute(
                f"INSERT INTO {qi(table.name)} SELECT {select} FROM {cls} "
                "WHERE _class IN ('loaded', 'updated')"
            )
        # rows superseded by a later row of the same key in this very batch count as duplicates
        counts.duplicates += int(total) - int(distinct)
        return counts

    def derive_events(self) -> str | None:
        """Case events from the timestamp columns of changed case rows (profile ``events``)."""
        if not self.profile.events:
            return None
        parts = []
        for ev in self.profile.events:
            actor = qi(ev.actor) if ev.actor else "CAST(NULL AS VARCHAR)"
            status = ql(ev.status) if ev.status else "CAST(NULL AS VARCHAR)"
            actor_type = ql(ev.actor_type) if ev.actor_type else "CAST(NULL AS VARCHAR)"
            cols = {
                "source_system": "source_system",
                "event_id": "",
                "case_id": "case_id",
                "activity": ql(ev.activity),
                "timestamp": qi(ev.timestamp),
                "actor": actor,
                "actor_type": actor_type,
                "lifecycle": "CAST(NULL AS VARCHAR)",
                "status": status,
                "public": "CAST(NULL AS BOOLEAN)",
                "attributes": "CAST(NULL AS VARCHAR)",
            }
            inner = ", ".join(f"{v} AS {qi(k)}" for k, v in cols.items() if k != "event_id")
            parts.append(
                f"SELECT {inner}, _row, '' AS _flags FROM {self.incoming}_cls "
                f"WHERE _class IN ('loaded', 'updated') AND {qi(ev.timestamp)} IS NOT NULL"
            )
        union = " UNION ALL ".join(parts)
        event_id = (
            "case_id || '/' || activity || '/' || strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%f')"
            " AS event_id"
        )
        sel = ", ".join(event_id if c == "event_id" else qi(c) for c in CASE_EVENT.column_names)
        self._temp("_ev_in", f"SELECT {sel}, _row, _flags FROM ({union})", view=True)
        return "_ev_in"

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
    sha256: str | None = None,
    file_bytes: int | None = None,
    replay_of: str | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Stage ``batches``, validate with ``profile`` and commit everything in one transaction."""
    started = time.perf_counter()
    started_at = utcnow()
    batch_id = new_batch_id()
    b = _Batch(wh, profile, source, batch_id)
    con = wh.con

    def tick() -> None:
        if progress is not None:
            progress(stats.bytes_read, stats.bytes_total)

    try:
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
        result.read = b.read + len(stats.rejected)
        compiled = b.map()
        b.collect_rejects(stats)
        if compiled.missing_columns:
            missing = ", ".join(sorted({c for _, c in compiled.missing_columns}))
            result.warnings.append(f"optional columns not in the source, left empty: {missing}")
        b._temp(
            "_incoming",
            f"SELECT {b.target_select(compiled)} FROM _mapped WHERE _codes = ''",
            view=True,
        )
        incoming = b.text_pass("_incoming")
        con.execute("BEGIN TRANSACTION")
        try:
            b.write_quarantine(result)
            _fault_point("quarantine")
            counts = b.merge(profile.table, incoming)
            _fault_point("merge")
            result.loaded, result.updated = counts.loaded, counts.updated
            result.duplicates = counts.duplicates + counts.stale
            if counts.stale:
                result.warnings.append(
                    f"{counts.stale} row(s) older than the stored version were not applied"
                )
            flagged = con.execute(f"SELECT count(*) FROM {incoming} WHERE _flags <> ''").fetchall()[
                0
            ]
            result.flagged = int(flagged[0]) if flagged else 0
            ev = b.derive_events()
            if ev is not None:
                result.derived["case_event"] = asdict(b.merge(CASE_EVENT, ev, unique=True))
            cases = b.derive_cases(compiled)
            if cases is not None:
                result.derived["case"] = asdict(b.merge(CASE, cases))
            result.seconds = time.perf_counter() - started
            con.execute(
                f"INSERT INTO ingest_batch VALUES ({', '.join(['?'] * 19)})",
                [
                    batch_id,
                    source,
                    profile.name,
                    profile.target,
                    result.format,
                    result.encoding,
                    result.delimiter,
                    sha256,
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
                    replay_of,
                ],
            )
            _fault_point("commit")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        b.cleanup()
    return result


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
    stats = ReadStats(bytes_total=path.stat().st_size)
    sha = file_sha256(path)
    return run_batch(
        wh,
        profile,
        reader.read(path, options, stats),
        stats,
        source=str(path),
        sha256=sha,
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
