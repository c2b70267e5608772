"""Fixtures of the auth tests: an application store on SQLite, and a fresh PostgreSQL database
on the real server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from servq.app_store import APP_DB_ENV, Store, open_store

PG_ADMIN = os.environ.get("SERVQ_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.delenv(APP_DB_ENV, raising=False)
    with open_store(tmp_path, url=f"sqlite:///{tmp_path / 'app.db'}") as s:
        yield s


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL of a new, empty database on 127.0.0.1:5432, dropped afterwards
    (as in tests/monitor/conftest.py: the server is part of CI, so its absence fails)."""
    psycopg = pytest.importorskip("psycopg")
    name = f"servq_t_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # pragma: no cover - the server is part of CI
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is not reachable: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
