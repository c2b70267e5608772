"""The warehouse schema comes from numbered migrations and matches the canonical schema."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from servq.errors import WorkspaceError
from servq.warehouse.schema import SQL_TYPES, TABLES, all_columns
from servq.warehouse.store import Warehouse, migrations


def test_migrated_tables_match_the_schema_module(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    for table in TABLES.values():
        rows = wh.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [table.name],
        ).fetchall()
        assert rows == [(c.name, SQL_TYPES[c.type]) for c in all_columns(table)]
    assert wh.schema_version() == len(migrations())
    wh.close()


def test_reopening_applies_nothing_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    Warehouse(path).close()
    wh = Warehouse(path)
    assert wh.migrate() == []
    wh.con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    wh.close()
    with pytest.raises(WorkspaceError, match="newer than this servq"):
        Warehouse(path)


def test_a_second_writer_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    Warehouse(path).close()
    script = (
        "import sys, time\nfrom servq.warehouse.store import Warehouse\n"
        "w = Warehouse(sys.argv[1]); print('ready', flush=True); time.sleep(30)\n"
    )
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        with pytest.raises(WorkspaceError, match="in use by another servq process"):
            Warehouse(path)
    finally:
        proc.kill()
        proc.wait()
    assert isinstance(duckdb.__version__, str)
