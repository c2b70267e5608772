"""The application store: alerts, timers, intake events, notifications, users (later plans).

Owns: the SQLAlchemy declarative ``Base`` every application table is declared on, and
:func:`open_store`, which connects and brings the schema up to date. SQLite in the workspace is
the embedded default (``servq-data/app.db``); set ``SERVQ_APP_DB`` (or pass ``url``) to a
PostgreSQL URL such as ``postgresql+psycopg://postgres@127.0.0.1:5432/test`` for production.

Conventions for every table: timestamps are naive UTC (``DateTime`` without time zone), ids of
things users see are text, JSON payloads use :data:`JSONType`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Engine, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

APP_DB_ENV = "SERVQ_APP_DB"
APP_DB_FILE = "app.db"

JSONType = JSON().with_variant(JSONB(), "postgresql")

# modules that declare tables on Base; imported before the schema is created or migrated
MODEL_MODULES = (
    "servq.monitor.store",
    "servq.monitor.timers",
    "servq.monitor.alerts",
    "servq.monitor.notify",
    "servq.monitor.runtime",
    "servq.auth.tables",
    "servq.reports.runs",
    "servq.improve.model",
    "servq.improve.loop",
)


class Base(DeclarativeBase):
    """Declarative base of every application-store table."""


def load_models() -> None:
    """Import every module that declares tables, so ``Base.metadata`` knows them all."""
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a module still being written
            if exc.name != name:
                raise


def store_url(workspace: Path | str | None = None, url: str | None = None) -> str:
    """The store's URL: ``url``, else ``$SERVQ_APP_DB``, else SQLite in the workspace."""
    if url:
        return url
    if os.environ.get(APP_DB_ENV):
        return os.environ[APP_DB_ENV]
    from servq.workspace import default_workspace_path

    folder = Path(workspace) if workspace is not None else default_workspace_path()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / APP_DB_FILE).resolve()}"


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    # transactions are begun by _sqlite_begin, not by the driver
    dbapi_conn.isolation_level = None  # type: ignore[attr-defined]
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL: readers do not block the writer; several processes may share the file
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # take the write lock when the transaction starts, not when it first writes: two
    # processes reading then writing the same rows would otherwise deadlock (SQLITE_BUSY)
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """A connected application store. ``with store.session() as s:`` commits on success."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as s:
            yield s

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(workspace: Path | str | None = None, *, url: str | None = None) -> Store:
    """Connect to the application store and bring its schema up to date."""
    resolved = store_url(workspace, url)
    engine = create_engine(resolved, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    load_models()
    from servq.app_store.migrate import upgrade

    upgrade(engine)
    return Store(engine)


__all__ = ["APP_DB_ENV", "Base", "JSONType", "Store", "load_models", "open_store", "store_url"]
