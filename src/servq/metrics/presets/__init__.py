"""Industry presets: metric packs for healthcare, banking, e-commerce, logistics, government
services, education and telecom.

Owns: the pack format (``Preset``), loading and validating the built-in ``*.yaml`` packs beside
this file, and handing their metrics to the catalogue as ordinary metric files. A pack holds the
industry's own metrics (in the ``MetricSpec`` format, ids prefixed by the pack's ``prefix``), the
standard and preset metrics it watches (``dashboard``), suggested targets, a suggested business
calendar and the category, kind, ... codes its filters expect (``vocabulary``). Imports no I/O
beyond reading the packs; the catalogue imports this module, never the other way round.

>>> from servq.metrics.presets import load_presets
>>> load_presets()["government"].calendar
'cn-office'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from servq.errors import DefinitionError, Problem
from servq.metrics.model import MetricSpec, validate_metric
from servq.yamlfile import Loader, Loc, load_model, parse_yaml

__all__ = ["Preset", "Target", "Term", "load_presets", "parse_preset", "preset_metric_files"]

ORIGIN = "servq:metrics/presets"
# the warehouse table behind each fact source: its enumerated columns are checked too
_SOURCE_TABLE = {"case": "case", "interaction": "interaction", "feedback": "feedback"}
# source columns whose values are free text per source system: a pack that filters on them must
# declare the codes it expects, so a user knows what to map their export's values onto
FREE_TEXT = {"kind", "category", "subcategory", "queue", "call_type", "priority", "scenario"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Term(_Frozen):
    """What a vocabulary code means, in both languages."""

    en: str = Field(min_length=1)
    zh: str = Field(min_length=1)


class Target(_Frozen):
    """A suggested target; ``warn`` lies on the worse side, as the metric's direction says."""

    target: float
    warn: float | None = None
    note_en: str = ""
    note_zh: str = ""


class Preset(_Frozen):
    preset: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", description="the pack's id")
    prefix: str = Field(pattern=r"^[a-z][a-z0-9]*$", description="every metric id starts prefix_")
    title_en: str = Field(min_length=1)
    title_zh: str = Field(min_length=1)
    description_en: str = Field(min_length=1)
    description_zh: str = Field(min_length=1)
    calendar: str = Field(description="suggested business calendar")
    vocabulary: dict[str, dict[str, Term]] = Field(
        default_factory=dict, description="column → code → meaning, for every code a filter uses"
    )
    metrics: tuple[MetricSpec, ...] = ()
    dashboard: tuple[str, ...] = Field(min_length=1)
    targets: dict[str, Target] = Field(default_factory=dict)

    def metric_ids(self) -> list[str]:
        return [m.id for m in self.metrics]


# -- checks ---------------------------------------------------------------------------------------
def _enums() -> dict[str, dict[str, tuple[str, ...]]]:
    from servq.warehouse.schema import CASE, FEEDBACK, INTERACTION

    tables = {t.name: t.enums for t in (CASE, INTERACTION, FEEDBACK)}
    return {src: tables[name] for src, name in _SOURCE_TABLE.items()}


def _filter_values(cond: Any) -> list[Any]:
    """The literal values a filter condition compares against (not params, not flags)."""
    if isinstance(cond, dict):
        out: list[Any] = []
        for op, v in cond.items():
            if op in ("eq", "ne"):
                out.append(v)
            elif op in ("in", "not_in") and isinstance(v, list | tuple):
                out.extend(v)
        return out
    if isinstance(cond, list | tuple):
        return list(cond)
    return [cond]


def _check_codes(
    p: Preset, enums: Mapping[str, Mapping[str, tuple[str, ...]]]
) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    for i, m in enumerate(p.metrics):
        filters: list[tuple[Loc, dict[str, Any]]] = [(("metrics", i, "filter"), m.filter)]
        filters += [
            (("metrics", i, "measures", name, "filter"), ms.filter)
            for name, ms in m.measures.items()
        ]
        for loc, flt in filters:
            for col, cond in flt.items():
                values = [
                    v for v in _filter_values(cond) if isinstance(v, str) and not v.startswith("$")
                ]
                allowed = enums.get(m.source, {}).get(col)
                for v in values:
                    if allowed is not None:
                        if v not in allowed:
                            problems.append(
                                (
                                    (*loc, col),
                                    f"'{v}' is not a {col} value; use {', '.join(allowed)}",
                                )
                            )
                    elif col in FREE_TEXT and v not in p.vocabulary.get(col, {}):
                        problems.append(
                            (
                                (*loc, col),
                                f"'{v}' is not declared under vocabulary.{col}: declare every "
                                "code a filter expects, in both languages",
                            )
                        )
    return problems


def _check_preset(
    p: Preset,
    columns: dict[str, set[str]],
    standard: set[str],
    calendars: set[str],
) -> list[tuple[Loc, str]]:
    """Everything about one pack that its schema cannot say."""
    problems: list[tuple[Loc, str]] = []
    if p.calendar not in calendars:
        problems.append(
            (
                ("calendar",),
                f"no built-in calendar '{p.calendar}'; use {', '.join(sorted(calendars))}",
            )
        )
    seen: set[str] = set()
    for i, m in enumerate(p.metrics):
        for where, msg in validate_metric(m, columns):
            problems.append((("metrics", i, *where), msg))
        if not m.id.startswith(f"{p.prefix}_"):
            problems.append((("metrics", i, "id"), f"a {p.preset} metric id starts '{p.prefix}_'"))
        if m.id in standard:
            problems.append((("metrics", i, "id"), f"'{m.id}' is a standard metric"))
        if m.id in seen:
            problems.append((("metrics", i, "id"), f"metric '{m.id}' defined twice"))
        seen.add(m.id)
        for part in ("definition_en", "definition_zh", "formula_text"):
            if not getattr(m, part).strip():
                problems.append((("metrics", i, part), "a preset metric says this, in words"))
    problems += _check_codes(p, _enums())
    known = standard | seen
    on_board: set[str] = set()
    for i, mid in enumerate(p.dashboard):
        if mid not in known:
            problems.append(
                (("dashboard", i), f"'{mid}' is neither a standard metric nor one of this pack's")
            )
        if mid in on_board:
            problems.append((("dashboard", i), f"'{mid}' is listed twice"))
        on_board.add(mid)
    by_id = {m.id: m for m in p.metrics}
    for mid, t in p.targets.items():
        loc: Loc = ("targets", mid)
        if mid not in on_board:
            problems.append((loc, f"'{mid}' has a target but is not on the dashboard"))
            continue
        spec = by_id.get(mid)
        direction, unit = (spec.direction, spec.unit) if spec else _standard_kind(mid)
        if direction == "neutral":
            problems.append((loc, f"'{mid}' is neutral: it has no better side to aim for"))
        elif t.warn is not None:
            worse = t.warn <= t.target if direction == "higher_is_better" else t.warn >= t.target
            if not worse:
                side = "below" if direction == "higher_is_better" else "above"
                problems.append(
                    (
                        (*loc, "warn"),
                        f"'{mid}' is {direction.replace('_', ' ')}: warn lies {side} the target",
                    )
                )
        if unit == "percent":
            for part, v in (("target", t.target), ("warn", t.warn)):
                if v is not None and not 0 <= v <= 100:
                    problems.append(((*loc, part), "a percent lies between 0 and 100"))
    for i, m in enumerate(p.metrics):
        if m.id not in on_board:
            problems.append((("metrics", i, "id"), f"'{m.id}' is not on the pack's dashboard"))
    return problems


# -- the standard catalogue, read directly: the Catalogue itself loads presets ------------------
@lru_cache(maxsize=1)
def _standard_specs() -> dict[str, tuple[str, str]]:
    """Standard metric id → (direction, unit), from the built-in catalogue files."""
    out: dict[str, tuple[str, str]] = {}
    root = resources.files("servq.metrics.catalogue")
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            data = yaml.load(entry.read_text(encoding="utf-8"), Loader=Loader) or {}
            for item in data.get("metrics", []):
                out[item["id"]] = (item.get("direction", "neutral"), item.get("unit", ""))
    return out


def _standard_kind(metric_id: str) -> tuple[str, str]:
    return _standard_specs().get(metric_id, ("neutral", ""))


def _context() -> tuple[dict[str, set[str]], set[str], set[str]]:
    from servq.calendar.registry import builtin_calendars
    from servq.metrics.catalogue_registry import fact_columns

    return fact_columns(), set(_standard_specs()), set(builtin_calendars())


# -- loading --------------------------------------------------------------------------------------
def parse_preset(text: str, file: str) -> Preset:
    """One pack, validated: every problem at once, each with its file, line and field."""
    columns, standard, calendars = _context()
    return load_model(
        Preset, text, file, checks=lambda p: _check_preset(p, columns, standard, calendars)
    )


def _pack_texts() -> list[tuple[str, str]]:
    root = resources.files(__name__)
    return [
        (f"{ORIGIN}/{e.name}", e.read_text(encoding="utf-8"))
        for e in sorted(root.iterdir(), key=lambda e: e.name)
        if e.name.endswith(".yaml")
    ]


def _cross_checks(packs: Iterable[tuple[str, str, Preset]]) -> list[Problem]:
    """What no single pack can see: ids, prefixes and metric ids unique across packs."""
    problems: list[Problem] = []
    names: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    metrics: dict[str, str] = {}
    for origin, text, p in packs:
        _, lines = parse_yaml(text, origin)
        stem = origin.rsplit("/", 1)[-1].removesuffix(".yaml")
        if stem != p.preset:
            problems.append(
                Problem(origin, lines.line(("preset",)), "preset", f"the file is named {stem}.yaml")
            )
        for key, table, what in ((p.preset, names, "preset"), (p.prefix, prefixes, "prefix")):
            if key in table:
                problems.append(
                    Problem(
                        origin, lines.line((what,)), what, f"'{key}' is also used by {table[key]}"
                    )
                )
            table[key] = origin
        for i, m in enumerate(p.metrics):
            if m.id in metrics:
                problems.append(
                    Problem(
                        origin,
                        lines.line(("metrics", i, "id")),
                        f"metrics[{i}].id",
                        f"metric '{m.id}' is already defined in {metrics[m.id]}",
                    )
                )
            metrics[m.id] = origin
    return problems


@lru_cache(maxsize=1)
def _load() -> tuple[tuple[str, str, Preset], ...]:
    loaded: list[tuple[str, str, Preset]] = []
    problems: list[Problem] = []
    for origin, text in _pack_texts():
        try:
            loaded.append((origin, text, parse_preset(text, origin)))
        except DefinitionError as exc:
            problems.extend(exc.problems)
    problems += _cross_checks(loaded)
    if problems:
        raise DefinitionError(problems)
    return tuple(loaded)


def load_presets() -> dict[str, Preset]:
    """Every built-in pack by id, validated; a DefinitionError lists every problem found."""
    return {p.preset: p for _, _, p in _load()}


def metrics_block(text: str, file: str) -> str:
    """The pack's ``metrics:`` section alone, every other line blank: a metric file whose line
    numbers are the pack's own, so an error found later still points into the pack."""
    node = yaml.compose(text, Loader=Loader)
    keep: range | None = None
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "metrics":
                end = value.end_mark.line + (1 if value.end_mark.column > 0 else 0)
                keep = range(key.start_mark.line, max(end, key.start_mark.line + 1))
    if keep is None:
        return "metrics: []\n"
    lines = text.splitlines()
    out = "\n".join(line if i in keep else "" for i, line in enumerate(lines)) + "\n"
    original = (yaml.load(text, Loader=Loader) or {}).get("metrics")
    if (yaml.load(out, Loader=Loader) or {}).get("metrics") != original:
        # an anchor defined outside the section, or a layout this cut cannot keep
        raise DefinitionError(
            [Problem(file, None, "metrics", "the metrics section must stand on its own")]
        )
    return out


def preset_metric_files() -> list[tuple[str, str]]:
    """(origin, YAML text of a ``metrics:`` list) per pack, for the catalogue to register its
    preset metrics exactly as it registers the built-in files. Validates every pack first."""
    return [(origin, metrics_block(text, origin)) for origin, text, _ in _load()]
