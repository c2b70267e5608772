"""Schema versions of the application store, with Alembic.

``upgrade(engine)`` brings a store to the newest revision (``migrations/versions``). A store
made before migrations existed (its tables created from the declarations, no
``alembic_version``) gets any table it misses, then is stamped with the baseline, so it goes on
from there like any other. A change to a table declaration needs a new revision: the test
``tests/app_store/test_migrations.py`` fails while the declarations and the migrations differ.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"


def _config(connection: object) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Bring the store's schema up to date (idempotent)."""
    from alembic import command
    from alembic.migration import MigrationContext

    from servq.app_store import Base

    with engine.begin() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        config = _config(conn)
        if current is None and inspect(conn).get_table_names():
            # made before migrations: add what it lacks, then it is at the baseline
            Base.metadata.create_all(conn)
            command.stamp(config, BASELINE)  # type: ignore[arg-type]
        command.upgrade(config, "head")  # type: ignore[arg-type]
