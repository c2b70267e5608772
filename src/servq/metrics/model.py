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
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from servq.errors import DefinitionError, Problem
from servq.yamlfile import Loader, Loc, load_model

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
    source: Literal["case", "feedback", "interaction", "audit"]
    time: str = Field(description="the fact column that places a row in a period")
    filter: dict[str, Any] = Field(default_factory=dict, description="applies to every measure")
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


def validate_metric(
    m: MetricSpec, columns: dict[str, set[str]] | None = None
) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    cols = columns.get(m.source) if columns else None
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
        if ms.agg != "count" and ms.column is None:
            problems.append((("measures", name, "agg"), f"{ms.agg} needs a column"))
        if ms.column is not None and cols is not None and ms.column not in cols:
            problems.append(
                (("measures", name, "column"), f"'{ms.column}' is not a column of {m.source}")
            )
        problems += _check_filter(ms.filter, ("measures", name, "filter"), cols)
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
