"""The embedded warehouse: one DuckDB file, its migrations, and read access through Ibis.

Owns: opening the warehouse file, applying numbered migrations (``migrations/NNNN_*.sql``) in
order inside a transaction, and handing out Ibis tables for queries. Writes go through
``servq.ingest.engine``, which uses the same connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from servq.errors import WorkspaceError
from servq.warehouse.schema import SYSTEM_COLUMNS, TABLES

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    from ibis.backends.duckdb import Backend

SYSTEM_TABLES = ("ingest_batch", "quarantine")
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The packaged migrations, in version order."""
    found = []
    for entry in resources.files("servq.warehouse.migrations").iterdir():
        m = _MIGRATION_NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mg: mg.version)
    for i, mg in enumerate(found, start=1):
        if mg.version != i:
            raise WorkspaceError(f"migration numbers must run 1, 2, 3...: found {mg.version}")
    return found


def utcnow() -> datetime:
    """Current UTC time without a zone, as every warehouse timestamp is stored."""
    return datetime.now(UTC).replace(tzinfo=None)


class Warehouse:
    """A DuckDB warehouse file (or ``:memory:``), migrated to the newest schema on open."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = str(path)
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise WorkspaceError(
                    f"{self.path} is in use by another servq process; wait for it to finish "
                    "or stop it"
                ) from exc
            raise WorkspaceError(f"cannot open {self.path}: {exc}") from exc
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")
        if not read_only:
            self.migrate()
        self._ibis: Backend | None = None

    # -- schema -------------------------------------------------------------------------------
    def schema_version(self) -> int:
        exists = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        ).fetchall()[0]
        if not exists or exists[0] == 0:
            return 0
        row = self.con.execute(
            "SELECT coalesce(max(version), 0) FROM schema_migrations"
        ).fetchall()[0]
        return int(row[0]) if row else 0

    def migrate(self) -> list[int]:
        """Apply every migration newer than the file's version; each in its own transaction."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
        )
        current = self.schema_version()
        known = migrations()
        if current > len(known):
            raise WorkspaceError(
                f"{self.path} has schema version {current}, newer than this servq "
                f"({len(known)}); upgrade servq"
            )
        applied = []
        for mg in known[current:]:
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.execute(mg.sql)
                self.con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [mg.version, mg.name, utcnow()],
                )
                self.con.execute("COMMIT")
            except Exception:
                self.con.execute("ROLLBACK")
                raise
            applied.append(mg.version)
        return applied

    # -- reading --------------------------------------------------------------------------------
    @property
    def ibis(self) -> Backend:
        """An Ibis backend on this warehouse's connection."""
        if self._ibis is None:
            import ibis

            self._ibis = ibis.duckdb.from_connection(self.con)
        return self._ibis

    def table(self, name: str) -> ir.Table:
        """A canonical or system table as an Ibis expression: data and lineage columns, without
        the columns servq keeps for itself (``SYSTEM_COLUMNS``), as every engine's copy has it."""
        if name not in TABLES and name not in SYSTEM_TABLES:
            known = ", ".join([*TABLES, *SYSTEM_TABLES])
            raise KeyError(f"no table '{name}'; tables: {known}")
        t = self.ibis.table(name)
        own = [c.name for c in SYSTEM_COLUMNS.get(name, ())]
        return t.drop(*own) if own else t

    def read(self, name: str, **filters: Any) -> pd.DataFrame:
        """A whole table (optionally filtered by equality) as a pandas DataFrame."""
        t = self.table(name)
        for col, value in filters.items():
            t = t.filter(t[col] == value)
        df: pd.DataFrame = t.to_pandas()
        return df

    def counts(self) -> dict[str, int]:
        out = {}
        for name in (*TABLES, *SYSTEM_TABLES):
            row = self.con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0]
            out[name] = int(row[0]) if row else 0
        return out

    def close(self) -> None:
        if self._ibis is not None:
            self._ibis = None
        self.con.close()
