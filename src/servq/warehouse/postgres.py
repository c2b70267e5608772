"""The PostgreSQL warehouse: a copy of the DuckDB warehouse that metrics can read through Ibis.

Owns: connecting to PostgreSQL from a URL or connection parameters, creating the canonical and
system tables in one schema with the types of ``schema.py``, bulk-copying a DuckDB warehouse into
them in a single transaction, and handing out Ibis tables on the Ibis postgres backend with the
same read surface as :class:`~servq.warehouse.store.Warehouse` (``table``, ``ibis``, ``path``,
``counts``, ``close``), on a backend that uploads in-memory tables (the business-clock grid) with
``COPY`` and drops them once nothing refers to them.

Ingest still writes to DuckDB only; PostgreSQL receives whole-warehouse copies.
"""

from __future__ import annotations

import io
import re
import weakref
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

try:
    import psycopg
    from ibis.backends.postgres import Backend as _IbisPostgres
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "servq's PostgreSQL warehouse needs the postgres extra: pip install 'servq[postgres]'"
    ) from exc
import sqlglot as sg
import sqlglot.expressions as sge
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from servq.errors import WorkspaceError
from servq.warehouse.schema import SQL_TYPES, TABLES, all_columns
from servq.warehouse.sql import qi
from servq.warehouse.store import SYSTEM_TABLES

if TYPE_CHECKING:
    import duckdb
    import ibis.expr.operations as ops
    import ibis.expr.types as ir
    import pyarrow as pa

    from servq.warehouse.store import Warehouse

DEFAULT_SCHEMA = "servq"
# Rows per Arrow batch read from DuckDB and sent as one COPY chunk: large enough that the
# per-batch overhead vanishes, small enough that a wide table never sits whole in memory.
BATCH_ROWS = 65_536

# DuckDB type (as schema.py and the migrations spell it) -> PostgreSQL type.
PG_TYPES: dict[str, str] = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "DOUBLE": "double precision",
    "TIMESTAMP": "timestamp without time zone",
    "BOOLEAN": "boolean",
}

# An unquoted-safe name keeps error messages and docs simple; PostgreSQL folds case otherwise.
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

ConnectTarget = str | Mapping[str, Any]


def _check_schema(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise WorkspaceError(
            f"PostgreSQL schema name {schema!r} must be lower-case letters, digits and _, "
            "starting with a letter or _, at most 63 characters"
        )
    return schema


def conninfo(url_or_params: ConnectTarget) -> str:
    """A libpq connection string from a URL (``postgresql://user@host:5432/db``) or parameters.

    Parameters follow libpq (``host``, ``port``, ``user``, ``password``, ``dbname``);
    ``database`` is accepted for ``dbname`` as Ibis spells it.
    """
    if isinstance(url_or_params, str):
        return make_conninfo(url_or_params)
    params = dict(url_or_params)
    if "database" in params:
        params.setdefault("dbname", params.pop("database"))
    return make_conninfo("", **params)


def describe(url_or_params: ConnectTarget) -> str:
    """``host:port/dbname`` for messages: never the password."""
    try:
        d = conninfo_to_dict(conninfo(url_or_params))
    except psycopg.ProgrammingError:
        return "<invalid connection string>"
    return f"{d.get('host', 'localhost')}:{d.get('port', 5432)}/{d.get('dbname', '')}"


def connect_psycopg(
    url_or_params: ConnectTarget, *, autocommit: bool = False
) -> psycopg.Connection:
    """A psycopg connection; a refused or failed connection is a :class:`WorkspaceError`."""
    try:
        return psycopg.connect(conninfo(url_or_params), autocommit=autocommit)
    except psycopg.Error as exc:
        raise WorkspaceError(
            f"cannot connect to PostgreSQL at {describe(url_or_params)}: {exc}".strip()
        ) from exc


def _copyable(dtype: Any) -> bool:
    """Types whose Arrow CSV text PostgreSQL reads back as the same value."""
    return bool(
        dtype.is_integer()
        or dtype.is_floating()
        or dtype.is_string()
        or dtype.is_boolean()
        or (dtype.is_timestamp() and dtype.timezone is None)
    )


class PostgresBackend(_IbisPostgres):  # type: ignore[misc]
    """The Ibis postgres backend, with in-memory tables uploaded by ``COPY``.

    Stock Ibis inserts an in-memory table row by row; the clock grid behind every time-zone or
    business-time query has a row per day of the data's span (9,500 for a 26-year span, and it
    was 96 times more when the grid had quarter hours), and ``COPY`` keeps that upload cheap.
    Stock Ibis also keeps each uploaded temporary table until the session ends, so a long-lived
    warehouse would pile up one grid per query; here a table is dropped at the next upload once
    its expression is gone.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._servq_uploads: dict[str, weakref.ref[ops.InMemoryTable]] = {}

    def _register_in_memory_table(self, op: ops.InMemoryTable) -> None:
        self._drop_unused_uploads()
        if not all(_copyable(t) for t in op.schema.types):
            # nested, decimal, zoned and null-typed columns keep Ibis's own path and its errors
            super()._register_in_memory_table(op)
        else:
            create = sge.Create(
                kind="TABLE",
                this=sge.Schema(
                    this=sg.to_identifier(op.name, quoted=True),
                    expressions=op.schema.to_sqlglot_column_defs(self.dialect),
                ),
                properties=sge.Properties(expressions=[sge.TemporaryProperty()]),
            ).sql(self.dialect)
            copy = sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv, ENCODING 'UTF8')").format(
                sql.Identifier(op.name)
            )
            data = op.data.to_pyarrow(op.schema)
            with self.con.cursor() as cur, self.con.transaction():
                cur.execute(create)
                with cur.copy(copy) as cp:
                    for chunk in _csv_chunks(data.to_reader(BATCH_ROWS)):
                        cp.write(chunk)
                # a temporary table has no statistics until analysed, and the planner then
                # assumes a small table for what is often the largest side of the slot join
                cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(op.name)))
        self._servq_uploads[op.name] = weakref.ref(op)

    def _drop_unused_uploads(self) -> None:
        # dropped here rather than from a weakref callback: a callback can fire in the middle
        # of another statement on this same connection, which psycopg would block on forever
        dead = [name for name, ref in self._servq_uploads.items() if ref() is None]
        if not dead:
            return
        with self.con.cursor() as cur, self.con.transaction():
            for name in dead:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
                del self._servq_uploads[name]


def connect(url_or_params: ConnectTarget, schema: str = DEFAULT_SCHEMA) -> PostgresWarehouse:
    """Open a PostgreSQL warehouse, e.g. ``connect("postgresql://postgres@127.0.0.1:5432/test")``."""
    return PostgresWarehouse(url_or_params, schema)


class PostgresWarehouse:
    """The servq tables in one PostgreSQL schema, read through the Ibis postgres backend.

    Has the read surface metrics use, so ``MetricEngine(PostgresWarehouse(url), catalogue)``
    computes in PostgreSQL. Fill the schema first with :func:`copy_to_postgres`.
    """

    def __init__(self, url_or_params: ConnectTarget, schema: str = DEFAULT_SCHEMA) -> None:
        self.schema = _check_schema(schema)
        self.where = f"{describe(url_or_params)} schema {schema}"
        # autocommit: every Ibis query runs in its own short transaction, so a long-lived
        # warehouse object never holds a snapshot or locks that would block the next copy
        self.con = connect_psycopg(url_or_params, autocommit=True)
        try:
            missing = sorted(set(_ALL_TABLES) - set(self._existing_tables()))
            if missing:
                raise WorkspaceError(
                    f"PostgreSQL at {self.where} lacks servq tables {', '.join(missing)}: "
                    "copy a warehouse there first (servq.warehouse.postgres.copy_to_postgres)"
                )
            self._ibis: PostgresBackend = PostgresBackend.from_connection(self.con)
        except BaseException:
            self.con.close()
            raise

    def _existing_tables(self) -> list[str]:
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (self.schema,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def __enter__(self) -> PostgresWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> str:
        # compute looks for a workspace's own calendars beside the warehouse file; there is no
        # such folder beside a server, and ":memory:" is what tells it to look nowhere
        return ":memory:"

    @property
    def ibis(self) -> PostgresBackend:
        """The Ibis postgres backend on this warehouse's connection."""
        return self._ibis

    def table(self, name: str) -> ir.Table:
        """A canonical or system table of the schema as an Ibis expression."""
        if name not in _ALL_TABLES:
            raise KeyError(f"no table '{name}'; tables: {', '.join(_ALL_TABLES)}")
        return self._ibis.table(name, database=self.schema)

    def counts(self) -> dict[str, int]:
        out = {}
        for name in _ALL_TABLES:
            q = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(self.schema, name))
            row = self.con.execute(q).fetchone()
            out[name] = int(row[0]) if row else 0
        return out

    def close(self) -> None:
        self.con.close()


_ALL_TABLES: tuple[str, ...] = (*TABLES, *SYSTEM_TABLES)


def _columns(duck: duckdb.DuckDBPyConnection, name: str) -> list[tuple[str, str]]:
    """(column, PostgreSQL type) of a table, in the order they are copied."""
    if name in TABLES:
        cols = [(c.name, SQL_TYPES[c.type]) for c in all_columns(TABLES[name])]
    else:
        # the system tables are defined only by the migrations, so the DuckDB file says best
        rows = duck.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? AND table_schema = 'main' AND table_catalog = current_database() "
            "ORDER BY ordinal_position",
            [name],
        ).fetchall()
        cols = [(str(c), str(t)) for c, t in rows]
        if not cols:
            raise WorkspaceError(f"the DuckDB warehouse has no table {name}: is it migrated?")
    out = []
    for col, duck_type in cols:
        if duck_type not in PG_TYPES:
            raise WorkspaceError(
                f"column {name}.{col} has type {duck_type}, which has no PostgreSQL mapping yet"
            )
        out.append((col, PG_TYPES[duck_type]))
    return out


def _create_sql(schema: str, name: str, columns: list[tuple[str, str]]) -> sql.Composed:
    defs = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(col), sql.SQL(pg_type)) for col, pg_type in columns
    )
    key = sql.SQL("")
    if name == "ingest_batch":
        key = sql.SQL(", PRIMARY KEY (batch_id)")
    return sql.SQL("CREATE TABLE {} ({}{})").format(sql.Identifier(schema, name), defs, key)


def _csv_chunks(reader: pa.RecordBatchReader) -> Iterator[bytes]:
    """CSV bytes per Arrow batch, in the dialect PostgreSQL's ``COPY ... CSV`` reads back exactly.

    Arrow quotes every string, so an empty string arrives as ``""`` and stays distinct from a
    null (an unquoted empty field); floats are written shortest-round-trip, so values are exact.
    """
    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(include_header=False, delimiter=",")
    for batch in reader:
        if batch.num_rows == 0:
            continue
        buf = io.BytesIO()
        pacsv.write_csv(batch, buf, options)
        yield buf.getvalue()


def copy_to_postgres(
    wh: Warehouse,
    url_or_params: ConnectTarget,
    schema: str = DEFAULT_SCHEMA,
    *,
    replace: bool = True,
) -> dict[str, int]:
    """Copy every canonical and system table of ``wh`` into ``schema`` of a PostgreSQL database.

    One PostgreSQL transaction: either every table is there with every row, or nothing changed.
    ``replace`` drops and re-creates the schema's servq tables; without it, a schema that already
    holds any of them is refused. DuckDB is read in one snapshot, so an ingest running meanwhile
    is either wholly in the copy or not at all. Returns rows copied per table.
    """
    _check_schema(schema)
    # a cursor is a second connection to the same database: its transaction gives a snapshot
    # without disturbing whatever the warehouse's own connection is doing
    duck = wh.con.cursor()
    duck.execute("BEGIN TRANSACTION")
    copied: dict[str, int] = {}
    try:
        pg = connect_psycopg(url_or_params)
    except BaseException:
        duck.close()
        raise
    try:
        with pg.transaction(), pg.cursor() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            existing = {
                str(r[0])
                for r in cur.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (schema,),
                ).fetchall()
            }
            clash = sorted(existing & set(_ALL_TABLES))
            if clash and not replace:
                raise WorkspaceError(
                    f"PostgreSQL schema {schema} at {describe(url_or_params)} already holds "
                    f"{', '.join(clash)}; pass replace=True to overwrite them"
                )
            for name in _ALL_TABLES:
                columns = _columns(duck, name)
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, name)))
                cur.execute(_create_sql(schema, name, columns))
                names = [c for c, _ in columns]
                select = f"SELECT {', '.join(map(qi, names))} FROM {qi(name)}"
                copy = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, ENCODING 'UTF8')").format(
                    sql.Identifier(schema, name),
                    sql.SQL(", ").join(sql.Identifier(c) for c in names),
                )
                with cur.copy(copy) as cp:
                    for chunk in _csv_chunks(duck.sql(select).to_arrow_reader(BATCH_ROWS)):
                        cp.write(chunk)
                copied[name] = cur.rowcount
            # fresh tables have no statistics: without them the planner guesses row counts for
            # the joins and window functions behind the case facts and often guesses badly
            for name in _ALL_TABLES:
                cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, name)))
    except psycopg.Error as exc:
        raise WorkspaceError(
            f"copy to PostgreSQL at {describe(url_or_params)} schema {schema} failed, nothing "
            f"was changed: {exc}"
        ) from exc
    finally:
        duck.close()
        pg.close()
    return copied
