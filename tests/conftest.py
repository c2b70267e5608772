"""Shared fixtures: the real public data sets beside the checkout, fresh workspaces, and a
fresh PostgreSQL database per test on the real server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import servq

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
PG_ADMIN = os.environ.get("SERVQ_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL of a new, empty database on 127.0.0.1:5432, dropped afterwards. The
    server is part of CI (``.ci/run`` starts it), so its absence fails the test."""
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


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real data sets not found at {DATA}")
    return DATA


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[servq.Workspace]:
    with servq.open_workspace(tmp_path / "ws") as w:
        yield w
