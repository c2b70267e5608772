"""Fixtures of the auth tests: an application store on SQLite, and a fresh PostgreSQL database
on the real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from servq.app_store import APP_DB_ENV, Store, open_store


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.delenv(APP_DB_ENV, raising=False)
    with open_store(tmp_path, url=f"sqlite:///{tmp_path / 'app.db'}") as s:
        yield s
