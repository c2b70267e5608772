"""Docs are tested: a profile option or built-in profile that the docs do not mention fails."""

from __future__ import annotations

from pathlib import Path

from servq.ingest.profile import FieldSpec
from servq.ingest.registry import builtin_profiles

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_field_option_is_documented() -> None:
    text = (DOCS / "profiles.md").read_text(encoding="utf-8")
    for name in FieldSpec.model_fields:
        assert f"| `{name}` |" in text, f"docs/profiles.md does not document field option {name}"


def test_every_builtin_profile_is_documented() -> None:
    text = (DOCS / "profiles.md").read_text(encoding="utf-8")
    for name in builtin_profiles():
        assert f"| `{name}` |" in text, f"docs/profiles.md does not list profile {name}"


def test_the_metrics_page_matches_the_catalogue() -> None:
    from servq.metrics.docgen import catalogue_markdown

    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    assert text == catalogue_markdown(), "docs/metrics.md is stale: run `make docs`"
