"""The metric catalogue: built-in definitions, industry presets and a workspace's own files.

Owns: finding metrics by id. Built-ins register exactly as a user's file would; an id defined
twice is refused with both places named.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from servq.errors import DefinitionError, Problem, ServqError
from servq.metrics.model import MetricSpec, load_catalogue_file, parse_catalogue
from servq.metrics.presets import preset_metric_files


@dataclass(frozen=True)
class MetricEntry:
    spec: MetricSpec
    origin: str


@lru_cache(maxsize=1)
def fact_columns() -> dict[str, set[str]]:
    """The columns of every fact relation, read off an empty in-memory warehouse."""
    from servq.metrics.facts import FACTS
    from servq.warehouse.store import Warehouse

    wh = Warehouse(":memory:")
    try:
        return {name: set(build(wh).columns) for name, build in FACTS.items()}
    finally:
        wh.close()


def _builtin_files() -> list[tuple[str, str]]:
    root = resources.files("servq.metrics.catalogue")
    return [
        (f"servq:metrics/{e.name}", e.read_text(encoding="utf-8"))
        for e in sorted(root.iterdir(), key=lambda e: e.name)
        if e.name.endswith(".yaml")
    ]


class Catalogue:
    """Every known metric: built-ins, industry presets' own metrics, then ``*.yaml`` metric files
    in ``folders``."""

    def __init__(self, folders: list[Path] | None = None) -> None:
        self._entries: dict[str, MetricEntry] = {}
        problems: list[Problem] = []
        cols = fact_columns()
        sources: list[tuple[str, list[MetricSpec]]] = []
        for origin, text in [*_builtin_files(), *preset_metric_files()]:
            sources.append((origin, parse_catalogue(text, origin, cols)))
        for folder in folders or []:
            if folder.is_dir():
                for path in sorted(folder.glob("*.yaml")):
                    try:
                        sources.append((str(path), load_catalogue_file(path, cols)))
                    except DefinitionError as exc:
                        problems.extend(exc.problems)
        for origin, specs in sources:
            for spec in specs:
                if spec.id in self._entries:
                    problems.append(
                        Problem(
                            origin,
                            None,
                            "id",
                            f"metric '{spec.id}' is already defined in "
                            f"{self._entries[spec.id].origin}",
                        )
                    )
                    continue
                self._entries[spec.id] = MetricEntry(spec, origin)
        if problems:
            raise DefinitionError(problems)

    def get(self, metric_id: str) -> MetricSpec:
        if metric_id not in self._entries:
            known = ", ".join(sorted(self._entries))
            raise ServqError(f"no metric '{metric_id}'; metrics: {known}")
        return self._entries[metric_id].spec

    def entries(self) -> list[MetricEntry]:
        return sorted(self._entries.values(), key=lambda e: (e.spec.source, e.spec.id))

    def __contains__(self, metric_id: str) -> bool:
        return metric_id in self._entries
