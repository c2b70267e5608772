"""The application store's schema comes from its Alembic migrations, and they match the table
declarations: a change to a declaration without a migration fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from servq.app_store import Base, load_models, open_store
from servq.app_store.migrate import BASELINE


def differences(url: str) -> list[object]:
    load_models()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            diff: list[object] = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            return diff
    finally:
        engine.dispose()


def revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rev: str | None = MigrationContext.configure(conn).get_current_revision()
            return rev
    finally:
        engine.dispose()


def test_a_new_sqlite_store_is_made_by_the_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    open_store(tmp_path, url=url).close()
    assert revision(url) == BASELINE
    assert differences(url) == []
    open_store(tmp_path, url=url).close()  # again: nothing to do
    assert revision(url) == BASELINE


def test_a_new_postgresql_store_is_made_by_the_migrations(pg_url: str) -> None:
    open_store(url=pg_url).close()
    assert revision(pg_url) == BASELINE
    assert differences(pg_url) == []


def test_a_store_from_before_migrations_is_completed_and_stamped(tmp_path: Path) -> None:
    """A store whose tables were created from the declarations, some of them missing (made by
    an older servq), keeps its rows, gets the missing tables and is stamped."""
    load_models()
    url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = create_engine(url)
    old = [t for name, t in Base.metadata.tables.items() if name in ("alert", "silence")]
    Base.metadata.create_all(engine, tables=old)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO silence (matchers, starts_at, ends_at, created_by, reason) "
                "VALUES ('{}', '2025-01-01', '2025-01-02', 'zhang', 'kept')"
            )
        )
    engine.dispose()
    open_store(tmp_path, url=url).close()
    assert revision(url) == BASELINE
    assert differences(url) == []
    engine = create_engine(url)
    with engine.connect() as conn:
        assert "auth_user" in inspect(conn).get_table_names()
        assert conn.execute(text("SELECT reason FROM silence")).scalar_one() == "kept"
    engine.dispose()


@pytest.mark.parametrize("name", ["alert", "auth_user", "improve_plan", "report_run"])
def test_the_baseline_creates_the_tables(tmp_path: Path, name: str) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    open_store(tmp_path, url=url).close()
    engine = create_engine(url)
    with engine.connect() as conn:
        assert name in inspect(conn).get_table_names()
    engine.dispose()
