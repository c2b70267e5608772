"""Metric definitions: YAML → frozen pydantic models, with every problem reported at once.

Owns: what a metric *is* (names in Chinese and English, definition, unit, direction, SERVQUAL
dimension, the fact relation it reads, its measures and formula) and loading catalogues from the
package, presets and a workspace's ``metrics/`` folder. How a metric is *calculated* lives in
``compute``; declaration and calculation are kept apart so the same definition runs on any
engine.

A metric is one or more **measures** (an aggregate of a fact column over the rows that pass a
filter) combined by a **formula** (arithmetic over measure names)::

    id: csat
    source: feedback
    time: submitted_at
    measures:
      good:  {agg: count, filter: {survey: csat, score: {gte: 4}}}
      rated: {agg: count, filter: {survey: csat, score: {not_null: true}}}
    formula: 100 * good / rated

A measure may read **another fact source** (``source: roster``, with its own ``time`` column),
for a ratio across two tables such as occupancy (handling time of calls over rostered time).
Such a metric needs a ``scope``: the measure whose rows say where the metric is defined, and the
key its rows are matched on (``per: [agent]``). The other measures are then counted only for
the keys and local days (hours, at an hour grain) where the scope measure has rows, and take the
dimensions the metric is sliced by (team, site) from the scope measure's rows; see
``compute.MetricEngine`` for how. Rows of a *span* source (a roster shift, ``start_at`` to
``end_at``) are cut at period boundaries, each piece counting its own share of the time.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from servq.errors import DefinitionError, Problem
from servq.yamlfile import Loader, Loc, load_model

Source = Literal["case", "feedback", "interaction", "audit", "roster"]
Agg = Literal["count", "sum", "mean", "median", "p50", "p90", "p95", "min", "max", "count_distinct"]
STAT_AGGS: tuple[Agg, ...] = ("mean", "median", "p50", "p90", "p95")
SERVQUAL = ("reliability", "assurance", "tangibles", "empathy", "responsiveness")
FILTER_OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "not_null", "is_null")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Measure(_Frozen):
    agg: Agg = "count"
    column: str | None = Field(default=None, description="fact column; not needed for count")
    filter: dict[str, Any] = Field(default_factory=dict)
    source: Source | None = Field(
        default=None, description="another fact source this measure reads (default: the metric's)"
    )
    time: str | None = Field(
        default=None,
        description="the column that places this measure's rows in periods; required with a "
        "source of its own (for a span source, the span's start: its rows are split)",
    )


class Scope(_Frozen):
    """Where a metric reading several sources is defined: the keys and local days (hours, at
    an hour grain) where the measure ``measure`` is above zero. The other measures count only
    there, and the metric's dimensions are taken from ``measure``'s source."""

    measure: str = Field(description="the measure whose rows define where the metric has a value")
    per: tuple[str, ...] = Field(
        default=(), description="the key rows of every source are matched on, e.g. [agent]"
    )


class MetricSpec(_Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_en: str
    name_zh: str
    definition_en: str = ""
    definition_zh: str = ""
    formula_text: str = Field(default="", description="the formula in words, for people")
    unit: Literal["seconds", "percent", "count", "score", "ratio", "calls", "cases"]
    direction: Literal["higher_is_better", "lower_is_better", "neutral"]
    servqual: Literal["reliability", "assurance", "tangibles", "empathy", "responsiveness"]
    source: Source
    time: str = Field(description="the fact column that places a row in a period")
    filter: dict[str, Any] = Field(
        default_factory=dict, description="applies to every measure of the metric's own source"
    )
    measures: dict[str, Measure]
    formula: str = Field(description="arithmetic over measure names, e.g. 100 * good / rated")
    stats: tuple[Agg, ...] = Field(
        default=(), description="extra statistics of a single-measure duration: p50, p90, ..."
    )
    business_time: bool = Field(
        default=False, description="durations follow the business calendar when one is given"
    )
    params: dict[str, float] = Field(default_factory=dict)
    variant: str = Field(default="", description="which of several industry variants this is")
    kind: Literal["aggregate", "snapshot"] = Field(
        default="aggregate",
        description="snapshot: rows open at the end of each period (backlog), not a sum over it",
    )
    opens: str | None = Field(default=None, description="snapshot: when a row starts being open")
    closes: str | None = Field(default=None, description="snapshot: when it stops (null: still)")
    overdue_from: str | None = Field(
        default=None, description="snapshot: count a row only once this column's time has passed"
    )
    scope: Scope | None = Field(
        default=None,
        description="for measures from several sources: where the metric is defined",
    )

    def measure_source(self, name: str) -> str:
        """The fact source measure ``name`` reads."""
        return self.measures[name].source or self.source

    def sources(self) -> dict[str, list[str]]:
        """Measure names per fact source, the metric's own source first."""
        out: dict[str, list[str]] = {self.source: []}
        for name in self.measures:
            out.setdefault(self.measure_source(name), []).append(name)
        return {k: v for k, v in out.items() if v}

    def measure_time(self, name: str) -> str:
        """The column that places measure ``name``'s rows in periods."""
        return self.measures[name].time or self.time

    @model_validator(mode="before")
    @classmethod
    def _single_measure(cls, data: Any) -> Any:
        # `value` + `agg` is shorthand for one measure named `value` with the formula `value`
        if isinstance(data, dict) and "value" in data and "measures" not in data:
            data = dict(data)
            m = {"agg": data.pop("agg", "mean"), "column": data.pop("value")}
            data["measures"] = {"value": m}
            data.setdefault("formula", "value")
        return data


def formula_names(formula: str) -> set[str] | str:
    """Names a formula uses, or an error message when it is not plain arithmetic."""
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as exc:
        return f"not a formula: {exc.msg}"
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif not isinstance(
            node,
            (
                ast.Expression,
                ast.BinOp,
                ast.UnaryOp,
                ast.Constant,
                ast.Load,
                ast.operator,
                ast.unaryop,
            ),
        ):
            return (
                f"only + - * / ( ) numbers and measure names are allowed, not {type(node).__name__}"
            )
    return names


def _check_filter(flt: dict[str, Any], loc: Loc, columns: set[str] | None) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    for col, cond in flt.items():
        if columns is not None and col not in columns:
            problems.append(((*loc, col), f"'{col}' is not a column of the source"))
        if isinstance(cond, dict):
            for op in cond:
                if op not in FILTER_OPS:
                    problems.append(
                        ((*loc, col, op), f"unknown operator; use {', '.join(FILTER_OPS)}")
                    )
    return problems


def _check_sources(m: MetricSpec, columns: dict[str, set[str]] | None) -> list[tuple[Loc, str]]:
    """Measures of other sources: each with a time column, all under a scope."""
    problems: list[tuple[Loc, str]] = []
    times: dict[str, str] = {}
    for name, ms in m.measures.items():
        src = m.measure_source(name)
        loc: Loc = ("measures", name, "time")
        if src == m.source:
            if ms.time is not None and ms.time != m.time:
                problems.append((loc, f"measures of {m.source} are placed by the metric's time"))
            continue
        if ms.time is None:
            problems.append((loc, f"a measure of another source ({src}) needs its own time"))
            continue
        if columns is not None and ms.time not in columns.get(src, set()):
            problems.append((loc, f"'{ms.time}' is not a column of {src}"))
        if times.setdefault(src, ms.time) != ms.time:
            problems.append((loc, f"measures of {src} must share one time column"))
    if m.scope is None:
        if len(m.sources()) > 1:
            problems.append(
                (
                    ("scope",),
                    "a metric reading several sources needs a scope: the measure whose rows "
                    "define where it has a value, and the key they are matched on",
                )
            )
        return problems
    if m.scope.measure not in m.measures:
        problems.append((("scope", "measure"), f"'{m.scope.measure}' is not a measure"))
    if m.kind != "aggregate":
        problems.append((("scope",), "a snapshot metric cannot have a scope"))
    if m.stats:
        problems.append((("stats",), "a metric with a scope has no extra statistics"))
    for name, ms in m.measures.items():
        if ms.agg not in ("count", "sum"):
            problems.append(
                (
                    ("measures", name, "agg"),
                    "a metric with a scope adds measures up from keys and days: use sum or count",
                )
            )
    if columns is not None:
        for src in m.sources():
            for col in m.scope.per:
                if col not in columns.get(src, set()):
                    problems.append((("scope", "per"), f"'{col}' is not a column of {src}"))
    return problems


def validate_metric(
    m: MetricSpec, columns: dict[str, set[str]] | None = None
) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    cols = columns.get(m.source) if columns else None
    problems += _check_sources(m, columns)
    names = formula_names(m.formula)
    if isinstance(names, str):
        problems.append((("formula",), names))
    else:
        for n in sorted(names - set(m.measures) - set(m.params)):
            problems.append((("formula",), f"'{n}' is neither a measure nor a param"))
    if cols is not None and m.time not in cols:
        problems.append((("time",), f"'{m.time}' is not a column of {m.source}"))
    problems += _check_filter(m.filter, ("filter",), cols)
    for name, ms in m.measures.items():
        src = m.measure_source(name)
        mcols = columns.get(src) if columns else None
        if ms.agg != "count" and ms.column is None:
            problems.append((("measures", name, "agg"), f"{ms.agg} needs a column"))
        if ms.column is not None and mcols is not None and ms.column not in mcols:
            problems.append(
                (("measures", name, "column"), f"'{ms.column}' is not a column of {src}")
            )
        problems += _check_filter(ms.filter, ("measures", name, "filter"), mcols)
    if m.kind == "snapshot":
        for part in ("opens", "closes"):
            if getattr(m, part) is None:
                problems.append(((part,), "a snapshot metric needs opens and closes"))
        for part in ("opens", "closes", "overdue_from"):
            col = getattr(m, part)
            if col is not None and cols is not None and col not in cols:
                problems.append(((part,), f"'{col}' is not a column of {m.source}"))
    if m.stats and len(m.measures) != 1:
        problems.append((("stats",), "stats apply to single-measure metrics only"))
    return problems


def parse_catalogue(
    text: str, file: str, columns: dict[str, set[str]] | None = None
) -> list[MetricSpec]:
    """A YAML file holding a list of metrics (under ``metrics:``)."""
    data = yaml.load(text, Loader=Loader) or {}
    items = data.get("metrics", []) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise DefinitionError([Problem(file, 1, "metrics", "expected a list under 'metrics:'")])
    out: list[MetricSpec] = []
    problems: list[Problem] = []
    # validate each item on its own so one bad metric does not hide the others' problems; the
    # line map comes from the whole document, so errors still carry their true line numbers
    from servq.yamlfile import parse_yaml

    _, lines = parse_yaml(text, file)
    for i, item in enumerate(items):
        try:
            spec = load_model(
                MetricSpec,
                yaml.safe_dump(item, allow_unicode=True),
                file,
                checks=lambda m: validate_metric(m, columns),
            )
            out.append(spec)
        except DefinitionError as exc:
            for p in exc.problems:
                loc: tuple[str | int, ...] = (
                    "metrics",
                    i,
                    *[x for x in p.field.replace("[", ".").replace("]", "").split(".") if x],
                )
                fixed_loc = tuple(int(x) if isinstance(x, str) and x.isdigit() else x for x in loc)
                problems.append(
                    Problem(
                        file,
                        lines.line(fixed_loc),
                        f"metrics[{i}].{p.field}" if p.field else f"metrics[{i}]",
                        p.message,
                    )
                )
    seen: dict[str, int] = {}
    for i, spec in enumerate(out):
        if spec.id in seen:
            problems.append(
                Problem(
                    file,
                    lines.line(("metrics", i, "id")),
                    "id",
                    f"metric '{spec.id}' defined twice",
                )
            )
        seen[spec.id] = i
    if problems:
        raise DefinitionError(problems)
    return out


def load_catalogue_file(path: Path, columns: dict[str, set[str]] | None = None) -> list[MetricSpec]:
    return parse_catalogue(path.read_text(encoding="utf-8"), str(path), columns)
