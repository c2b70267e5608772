"""The warehouse schema comes from numbered migrations and matches the canonical schema."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from servq.errors import WorkspaceError
from servq.warehouse.schema import CASE_EVENT, SQL_TYPES, TABLES, all_columns, stored_columns
from servq.warehouse.store import Warehouse, migrations


def test_migrated_tables_match_the_schema_module(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    for table in TABLES.values():
        rows = wh.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [table.name],
        ).fetchall()
        assert rows == [(c.name, SQL_TYPES[c.type]) for c in stored_columns(table)]
    # case_event is a view over the stored events and the implied ones (servq.warehouse.events)
    stored = wh.con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'case_event_stored' ORDER BY ordinal_position"
    ).fetchall()
    assert stored == [(c.name, SQL_TYPES[c.type]) for c in all_columns(CASE_EVENT)]
    kinds = dict(
        wh.con.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_name IN ('case', 'case_event', 'case_event_stored')"
        ).fetchall()
    )
    assert kinds == {"case": "BASE TABLE", "case_event": "VIEW", "case_event_stored": "BASE TABLE"}
    assert wh.schema_version() == len(migrations())
    wh.close()


def test_a_version_2_warehouse_keeps_its_stored_events(tmp_path: Path) -> None:
    """Before version 3 every derived event was stored in the table case_event: upgrading moves
    them to case_event_stored, and the case_event view still returns each of them."""
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations "
        "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    for mg in migrations()[:2]:
        con.execute(mg.sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [mg.version, mg.name])
    cols = ", ".join(["?"] * 16)
    con.execute(
        f"INSERT INTO case_event VALUES ({cols})",
        [
            "hd",
            "A1/created/2025-01-01T01:00:00.000000",
            "A1",
            "created",
            "2025-01-01 01:00:00",
            None,
            "customer",
            None,
            "new",
            None,
            None,
            "f.csv",
            "b1",
            "2025-02-01 00:00:00",
            7,
            None,
        ],
    )
    con.close()
    wh = Warehouse(path)
    assert wh.schema_version() == len(migrations())
    rows = wh.con.execute("SELECT event_id, case_id, row_hash FROM case_event").fetchall()
    assert rows == [("A1/created/2025-01-01T01:00:00.000000", "A1", 7)]
    assert wh.con.execute("SELECT count(*) FROM case_event_stored").fetchall() == [(1,)]
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
