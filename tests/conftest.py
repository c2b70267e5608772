"""Shared fixtures: the real public data sets beside the checkout, and fresh workspaces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import servq

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real data sets not found at {DATA}")
    return DATA


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[servq.Workspace]:
    with servq.open_workspace(tmp_path / "ws") as w:
        yield w
