"""Verify an improvement plan from the data: acceptance criteria written as metric conditions.

Owns: reading a criterion (YAML, a mapping or a short text form), computing the metric before
and after with :meth:`Workspace.metrics` (the numbers the dashboard shows), the statistics that
say whether the change is real, a check that the case mix did not move under the metric, and a
verdict in English and Chinese.

A criterion is one of two kinds::

    # relative: the period's value against a share of a baseline period's value
    {metric: aht, where: {team: [A]}, period: 2026-Q1, baseline: 2025-Q4, op: "<=", ratio: 0.85}
    # absolute, optionally sustained over consecutive weeks (days, months, quarters)
    {metric: repeat_complaint_rate, where: {site: [S3]}, period: 2026-03-02..2026-03-29,
     op: "<", value: 2, grain: week, consecutive: 4}

and in text::

    aht[team=A] in 2026-Q1 <= 85% of 2025-Q4
    repeat_complaint_rate[site=S3] in 2026-03-02..2026-03-29 < 2 for 4 consecutive weeks

Periods are local days in ``timezone`` (default Asia/Shanghai), both ends included. An absolute
criterion is compared with ``baseline`` too when one is given, else with the period just before
(of the same length), so that the verdict can say whether anything changed at all.

**Statistics.** Chosen from the metric's definition:

- *duration*: the mean of one seconds column (first reply, resolution, AHT). Such times are
  skewed, so the two periods are compared with a Mann–Whitney U test, and the 95% confidence
  interval of the change (ratio of means − 1, or difference of means for an absolute criterion)
  is a percentile bootstrap with a fixed seed.
- *proportion*: ``k × numerator / denominator`` where both sides are counts (or ±sums of counts)
  and, row by row, a row counted in the numerator is counted in the denominator (CSAT, repeat
  complaints, abandonment, FCR). This is checked on the rows themselves, not assumed. Tested
  with a two-proportion z-test (Fisher's exact test when an expected cell count is below 5);
  the interval is Newcombe's hybrid score interval of the difference, built on Wilson
  intervals, and for a relative criterion the MOVER-R interval of the ratio on the same Wilson
  intervals.
- *other* (counts, snapshots, means of scores, ratios of sums, several sources): the values are
  compared as they are and no test is named (``test`` is null).

**Verdict rule.**

1. ``pending``: the period (or the baseline) is not over at ``now``; values so far are given.
2. ``insufficient_data``: the period has no value, or a relative criterion's baseline has none
   (there is no target), or a tested metric has fewer than ``min_rows`` rows on a side it needs;
   for a sustained criterion, no sub-period has a value.
3. ``met``: the condition holds on the dashboard's numbers — ``after op ratio × before`` or
   ``after op value``; for a sustained criterion, ``consecutive`` complete sub-periods in a row
   each hold it (``consecutive`` absent: every complete sub-period).
4. ``not_met``: not met, but the metric moved significantly in the wanted direction (``<``/``<=``
   want a decrease, ``>``/``>=`` an increase): p < 0.05 and the 95% interval does not reach 0.
5. ``not_effective``: not met, and no significant change in the wanted direction — which is
   always so for a metric no test applies to.

**Case mix.** Over the categorical dimensions of the facts (channel, category, priority, team,
site, region, queue; those fixed by ``where`` are left out), the shares of the rows before and
after are compared with a chi-square test and the total variation distance (TVD). The after rows
are then reweighted to the before shares of the most shifted dimension (the mix-standardised
effect). ``mix_warning`` is set when a dimension moved (p < 0.01 and TVD ≥ 0.1), or when the
standardised effect differs from the raw one by more than half of it (and by at least 2% of the
before value, so that noise around a zero effect does not raise it).
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import yaml

from servq.errors import ServqError
from servq.reports.period import (
    Period,
    check_timezone,
    month_of,
    parse_period,
    quarter_of,
    week_of,
)

if TYPE_CHECKING:
    from servq.metrics.catalogue_registry import Catalogue
    from servq.metrics.model import MetricSpec
    from servq.workspace import Workspace

Status = Literal["met", "not_met", "not_effective", "pending", "insufficient_data"]
StatKind = Literal["duration", "proportion", "other"]
SustainGrain = Literal["day", "week", "month", "quarter"]

DEFAULT_TIMEZONE = "Asia/Shanghai"
OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_OP_ALIASES = {"≤": "<=", "≥": ">=", "=<": "<=", "=>": ">=", "＜": "<", "＞": ">"}
SUSTAIN_GRAINS: tuple[SustainGrain, ...] = ("day", "week", "month", "quarter")
MIX_DIMENSIONS = ("channel", "category", "priority", "team", "site", "region", "queue")
MIX_MAX_LEVELS = 50
ALPHA = 0.05
MIX_P = 0.01
MIX_TVD = 0.1
MIX_MATERIAL = 0.02
MIN_ROWS = 10
RESAMPLES = 2000
SEED = 20240607
Z95 = 1.959963984540054
_NONE_LEVEL = "(none)"

_DIM_ZH = {
    "team": "团队",
    "site": "网点",
    "channel": "渠道",
    "category": "类别",
    "subcategory": "子类别",
    "priority": "优先级",
    "region": "区域",
    "agent": "坐席",
    "queue": "队列",
    "survey": "问卷",
}
_GRAIN_ZH = {"day": "天", "week": "周", "month": "个月", "quarter": "个季度"}
_STATUS_EN = {
    "met": "Met",
    "not_met": "Not met",
    "not_effective": "Not effective",
    "pending": "Pending",
    "insufficient_data": "Insufficient data",
}
_STATUS_ZH = {
    "met": "已达成",
    "not_met": "未达成",
    "not_effective": "未见成效",
    "pending": "待验证",
    "insufficient_data": "数据不足",
}
_TEST_EN = {
    "mann_whitney_u": "Mann–Whitney U test",
    "two_proportion_z": "two-proportion z-test",
    "fisher_exact": "Fisher's exact test",
}
_TEST_ZH = {
    "mann_whitney_u": "Mann–Whitney U 检验",
    "two_proportion_z": "两比例 z 检验",
    "fisher_exact": "Fisher 精确检验",
}


def _error(en: str, zh: str) -> ServqError:
    return ServqError(f"{en} / {zh}")


@lru_cache(maxsize=1)
def _builtin_catalogue() -> Catalogue:
    from servq.metrics.catalogue_registry import Catalogue

    return Catalogue()


# -- criteria -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Criterion:
    """An acceptance criterion. Give ``ratio`` (relative to ``baseline``) or ``value``
    (absolute), never both. ``grain`` makes it sustained: every complete day/week/month/quarter
    of the period, or ``consecutive`` of them in a row, must hold the condition."""

    metric: str
    period: str
    op: str
    ratio: float | None = None
    value: float | None = None
    baseline: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    grain: SustainGrain | None = None
    consecutive: int | None = None
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        op = str(self.op).strip()
        op = _OP_ALIASES.get(op, op)
        if op not in OPS:
            raise _error(
                f"unknown operator {self.op!r}: use <, <=, > or >=",
                f"未知的比较符 {self.op!r}：请用 <、<=、> 或 >=",
            )
        object.__setattr__(self, "op", op)
        if not isinstance(self.metric, str) or not self.metric.strip():
            raise _error("a criterion needs a metric", "验收标准须指定指标")
        object.__setattr__(self, "metric", self.metric.strip())
        if self.ratio is None and self.value is None:
            raise _error(
                f"criterion on {self.metric}: give a ratio (of a baseline period) or a value",
                f"指标 {self.metric} 的验收标准须给出 ratio（相对基期的比例）或 value（绝对值）",
            )
        if self.ratio is not None and self.value is not None:
            raise _error(
                "give either a ratio (relative criterion) or a value (absolute), not both",
                "ratio（相对标准）与 value（绝对标准）只能给一个",
            )
        if self.ratio is not None:
            ratio = _number(self.ratio, "ratio")
            if ratio <= 0:
                raise _error(
                    f"ratio must be above 0, not {ratio:g}", f"ratio 必须大于 0，而不是 {ratio:g}"
                )
            object.__setattr__(self, "ratio", ratio)
        if self.value is not None:
            object.__setattr__(self, "value", _number(self.value, "value"))
        for text in (self.period, self.baseline):
            if text is not None:
                parse_period(str(text))  # raises a bilingual PeriodError
        object.__setattr__(self, "period", parse_period(str(self.period)).label)
        if self.baseline is not None:
            object.__setattr__(self, "baseline", parse_period(str(self.baseline)).label)
        check_timezone(self.timezone)
        if self.grain is not None and self.grain not in SUSTAIN_GRAINS:
            raise _error(
                f"grain {self.grain!r} cannot be sustained over: use {', '.join(SUSTAIN_GRAINS)}",
                f"持续期粒度 {self.grain!r} 无效：请用 {', '.join(SUSTAIN_GRAINS)}",
            )
        if self.consecutive is not None:
            if self.grain is None:
                raise _error(
                    "consecutive needs a grain (day, week, month or quarter)",
                    "consecutive 须配合 grain（day、week、month 或 quarter）",
                )
            if isinstance(self.consecutive, bool) or int(self.consecutive) != self.consecutive:
                raise _error("consecutive must be a whole number", "consecutive 必须是整数")
            object.__setattr__(self, "consecutive", int(self.consecutive))
            if self.consecutive < 1:
                raise _error("consecutive must be at least 1", "consecutive 至少为 1")
        if self.grain is not None:
            have = len(complete_buckets(self.period_span, self.grain))
            need = self.consecutive or 1
            if have < need:
                raise _error(
                    f"{self.period} holds {have} complete {self.grain}(s), fewer than {need}",
                    f"{self.period} 只包含 {have} 个完整的{_GRAIN_ZH[self.grain]}，少于 {need}",
                )
        if not isinstance(self.where, Mapping):
            raise _error("where must be a mapping {column: values}", "where 须为 {列: 取值} 映射")
        where: dict[str, Any] = {}
        for col, cond in self.where.items():
            if isinstance(cond, Mapping):
                where[str(col)] = dict(cond)
            elif isinstance(cond, list | tuple | set):
                where[str(col)] = list(cond)
            else:
                where[str(col)] = [cond]
        object.__setattr__(self, "where", where)

    # -- reading ------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, catalogue: Catalogue | None = None) -> Criterion:
        """From a mapping (YAML, JSON); the metric is checked against ``catalogue`` (default:
        the built-in one)."""
        if not isinstance(data, Mapping):
            raise _error("a criterion must be a mapping", "验收标准须为映射（键: 值）")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise _error(
                f"unknown criterion field(s): {', '.join(unknown)}; fields: {', '.join(known)}",
                f"验收标准中有未知字段：{', '.join(unknown)}",
            )
        for required in ("metric", "period", "op"):
            if data.get(required) in (None, ""):
                raise _error(f"a criterion needs '{required}'", f"验收标准缺少 '{required}'")
        crit = cls(**{str(k): v for k, v in data.items()})
        crit.check(catalogue)
        return crit

    @classmethod
    def from_yaml(cls, text: str, *, catalogue: Catalogue | None = None) -> Criterion:
        data = yaml.safe_load(text)
        if not isinstance(data, Mapping):
            raise _error("a criterion in YAML must be a mapping", "YAML 验收标准须为映射")
        return cls.from_dict(data, catalogue=catalogue)

    @classmethod
    def parse(cls, text: str, *, catalogue: Catalogue | None = None) -> Criterion:
        """From the short text form, e.g. ``aht[team=A] in 2026-Q1 <= 85% of 2025-Q4`` or
        ``repeat_complaint_rate[site=S3] in 2026-03-02..2026-03-29 < 2 for 4 consecutive
        weeks``. ``[col=v1|v2, col2=v]`` filters; ``vs PERIOD`` sets an absolute criterion's
        baseline; ``each week`` needs every complete week; ``tz=Zone`` the time zone."""
        m = _TEXT.match(text or "")
        if m is None:
            raise _error(
                f"cannot read criterion {text!r}; write e.g. "
                "'aht[team=A] in 2026-Q1 <= 85% of 2025-Q4' or "
                "'csat[site=S3] in 2026-03 >= 90 for 4 consecutive weeks'",
                f"无法识别验收标准 {text!r}；示例：'aht[team=A] in 2026-Q1 <= 85% of 2025-Q4'",
            )
        g = m.groupdict()
        number = float(g["num"])
        data: dict[str, Any] = {"metric": g["metric"], "period": g["period"], "op": g["op"]}
        if g["where"]:
            data["where"] = _parse_where(g["where"])
        if g["baseline"]:
            if g["vs"]:
                raise _error(
                    "write either 'of PERIOD' (relative) or 'vs PERIOD', not both",
                    "'of 周期'（相对）与 'vs 周期' 只能写一个",
                )
            data["baseline"] = g["baseline"]
            data["ratio"] = number / 100 if g["pct"] else number
        else:
            data["value"] = number
            if g["vs"]:
                data["baseline"] = g["vs"]
        if g["k"]:
            data["grain"] = g["grain"].lower()
            data["consecutive"] = int(g["k"])
        elif g["each"]:
            data["grain"] = g["each"].lower()
        if g["tz"]:
            data["timezone"] = g["tz"]
        crit = cls.from_dict(data, catalogue=catalogue)
        if g["pct"] and not g["baseline"]:
            spec = (catalogue or _builtin_catalogue()).get(crit.metric)
            if spec.unit != "percent":
                raise _error(
                    f"{crit.metric} is in {spec.unit}, not percent: write the value without %",
                    f"{crit.metric} 的单位是 {spec.unit}，不是百分比：数值请勿加 %",
                )
        return crit

    def check(self, catalogue: Catalogue | None = None) -> None:
        """The metric exists and the ``where`` columns are columns of its facts."""
        from servq.metrics.catalogue_registry import fact_columns

        cat = catalogue or _builtin_catalogue()
        if self.metric not in cat:
            raise _error(
                f"unknown metric {self.metric!r}; `servq metrics list` shows them",
                f"未知指标 {self.metric!r}；可用 `servq metrics list` 查看",
            )
        spec = cat.get(self.metric)
        columns = fact_columns().get(spec.source, set())
        for col in self.where:
            if col not in columns:
                raise _error(
                    f"{self.metric} cannot be filtered by {col!r}; columns: "
                    + ", ".join(sorted(columns)),
                    f"指标 {self.metric} 不能按 {col!r} 筛选",
                )

    # -- derived ------------------------------------------------------------------------------
    @property
    def kind(self) -> Literal["relative", "absolute"]:
        return "relative" if self.ratio is not None else "absolute"

    @property
    def period_span(self) -> Period:
        return parse_period(self.period)

    @property
    def baseline_span(self) -> Period:
        """The baseline, else the period right before (same kind; a range: same length)."""
        return parse_period(self.baseline) if self.baseline else self.period_span.previous

    @property
    def wanted(self) -> int:
        """−1 when the criterion asks for a decrease (< or <=), +1 for an increase."""
        return -1 if self.op in ("<", "<=") else 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric": self.metric}
        if self.where:
            out["where"] = dict(self.where)
        out["period"] = self.period
        if self.baseline:
            out["baseline"] = self.baseline
        out["op"] = self.op
        if self.ratio is not None:
            out["ratio"] = self.ratio
        if self.value is not None:
            out["value"] = self.value
        if self.grain:
            out["grain"] = self.grain
        if self.consecutive is not None:
            out["consecutive"] = self.consecutive
        out["timezone"] = self.timezone
        return out

    def text(self) -> str:
        """The short text form (what :meth:`parse` reads)."""
        out = self.metric
        if self.where:
            parts = []
            for col, cond in self.where.items():
                if isinstance(cond, Mapping):
                    raise _error(
                        "an operator filter has no text form; use the YAML form",
                        "带运算符的筛选条件没有文本形式，请用 YAML",
                    )
                parts.append(f"{col}={'|'.join(str(v) for v in cond)}")
            out += f"[{', '.join(parts)}]"
        out += f" in {self.period} {self.op} "
        if self.ratio is not None:
            out += f"{_g(self.ratio * 100)}% of {self.baseline_span.label}"
        else:
            out += _g(self.value or 0.0)
            if self.baseline:
                out += f" vs {self.baseline}"
        if self.grain and self.consecutive is not None:
            out += f" for {self.consecutive} consecutive {self.grain}s"
        elif self.grain:
            out += f" each {self.grain}"
        if self.timezone != DEFAULT_TIMEZONE:
            out += f" tz={self.timezone}"
        return out

    def describe(self, lang: str = "en", catalogue: Catalogue | None = None) -> str:
        """The criterion as a sentence in English (``en``) or Chinese (``zh``)."""
        cat = catalogue or _builtin_catalogue()
        spec = cat.get(self.metric) if self.metric in cat else None
        unit = spec.unit if spec is not None else ""
        zh = lang.lower().startswith("zh")
        if spec is not None:
            name = f"{spec.name_zh}（{self.metric}）" if zh else f"{spec.name_en} ({self.metric})"
        else:
            name = self.metric
        op = {"<=": "≤", ">=": "≥"}.get(self.op, self.op)
        base = self.baseline_span.label
        if self.ratio is None:
            target = _unit_value(self.value or 0.0, unit)
        elif zh:
            target = f"{base} 的 {_g(self.ratio * 100)}%"
        else:
            target = f"{_g(self.ratio * 100)}% of its {base} value"
        if zh:
            scope = _where_zh(self.where)
            who = f"{scope} 的" if scope else ""
            if self.grain is None:
                return f"{who}{name}在 {self.period} {op} {target}"
            if self.consecutive is not None:
                run = f"连续 {self.consecutive} {_GRAIN_ZH[self.grain]}"
            else:
                run = f"每{_GRAIN_ZH[self.grain].lstrip('个')}"
            return f"{who}{name}在 {self.period} 内{run} {op} {target}"
        scope = _where_en(self.where)
        who = f" for {scope}" if scope else ""
        if self.grain is None:
            return f"{name}{who} in {self.period} {op} {target}"
        if self.consecutive is not None:
            run = f"in {self.consecutive} consecutive {self.grain}s within {self.period}"
        else:
            run = f"in every {self.grain} of {self.period}"
        return f"{name}{who} {op} {target} {run}"


_TEXT = re.compile(
    r"""^\s*(?P<metric>[a-z][a-z0-9_]*)\s*
    (?:\[(?P<where>[^\]]*)\])?\s*
    (?:in\s+)?(?P<period>[0-9][0-9A-Za-z\-./]*)\s*
    (?P<op><=|>=|=<|=>|<|>|≤|≥)\s*
    (?P<num>[-+]?\d+(?:\.\d+)?)\s*(?P<pct>%)?\s*
    (?:of\s+(?P<baseline>[0-9][0-9A-Za-z\-./]*))?\s*
    (?:vs\.?\s+(?P<vs>[0-9][0-9A-Za-z\-./]*))?\s*
    (?:for\s+(?P<k>\d+)\s+consecutive\s+(?P<grain>day|week|month|quarter)s?
       |each\s+(?P<each>day|week|month|quarter))?\s*
    (?:tz\s*=\s*(?P<tz>\S+))?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


def _parse_where(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in re.split(r"[,;]", text):
        if not part.strip():
            continue
        if "=" not in part:
            raise _error(
                f"cannot read filter {part.strip()!r}: write column=value|value",
                f"无法识别筛选条件 {part.strip()!r}：请写 列=值|值",
            )
        col, values = part.split("=", 1)
        out[col.strip()] = [v.strip() for v in values.split("|") if v.strip()]
    return out


def parse_criterion(
    data: str | Mapping[str, Any] | Criterion, *, catalogue: Catalogue | None = None
) -> Criterion:
    """A criterion from a mapping, a YAML document or the short text form."""
    if isinstance(data, Criterion):
        data.check(catalogue)
        return data
    if isinstance(data, Mapping):
        return Criterion.from_dict(data, catalogue=catalogue)
    text = str(data)
    if re.search(r"^\s*metric\s*:", text, re.MULTILINE) or text.lstrip().startswith("{"):
        return Criterion.from_yaml(text, catalogue=catalogue)
    return Criterion.parse(text, catalogue=catalogue)


def _number(value: Any, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise _error(f"{name} must be a number, not {value!r}", f"{name} 必须是数字") from None
    if isinstance(value, bool) or not math.isfinite(out):
        raise _error(f"{name} must be a finite number", f"{name} 必须是有限数字")
    return out


def complete_buckets(period: Period, grain: SustainGrain) -> list[Period]:
    """The whole days, ISO weeks, months or quarters that lie inside ``period``."""
    if grain == "day":
        days = [period.start + timedelta(days=i) for i in range(period.days)]
        return [Period(d.isoformat(), "range", d, d) for d in days]
    make: Callable[[date], Period] = {"week": week_of, "month": month_of, "quarter": quarter_of}[
        grain
    ]
    out: list[Period] = []
    bucket = make(period.start)
    while bucket.start <= period.end:
        if bucket.start >= period.start and bucket.end <= period.end:
            out.append(bucket)
        bucket = make(bucket.end + timedelta(days=1))
    return out


# -- metric shapes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Shape:
    """How a metric is computed from rows, as far as the statistics need to know."""

    kind: StatKind
    measure: str | None = None  # duration: the measure averaged
    numerator: Mapping[str, int] = field(default_factory=dict)  # proportion: measure → ±1
    denominator: Mapping[str, int] = field(default_factory=dict)
    scale: float = 1.0


def _linear(node: ast.AST) -> dict[str, float] | None:
    """``node`` as Σ coefficient × name, or None when it is not that."""
    if isinstance(node, ast.Name):
        return {node.id: 1.0}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _linear(node.operand)
        return None if inner is None else {k: -v for k, v in inner.items()}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        left, right = _linear(node.left), _linear(node.right)
        if left is None or right is None:
            return None
        sign = 1.0 if isinstance(node.op, ast.Add) else -1.0
        out = dict(left)
        for k, v in right.items():
            out[k] = out.get(k, 0.0) + sign * v
        return {k: v for k, v in out.items() if v != 0}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for const, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(const, ast.Constant) and isinstance(const.value, int | float):
                inner = _linear(other)
                return None if inner is None else {k: v * const.value for k, v in inner.items()}
    return None


def _ratio_form(node: ast.AST) -> tuple[dict[str, float], dict[str, float], float] | None:
    """``node`` as ``scale × (Σ a·name) / (Σ b·name)``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for const, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(const, ast.Constant) and isinstance(const.value, int | float):
                inner = _ratio_form(other)
                if inner is not None:
                    return inner[0], inner[1], inner[2] * float(const.value)
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        num, den = _linear(node.left), _linear(node.right)
        if num and den:
            return num, den, 1.0
    return None


def metric_shape(spec: MetricSpec) -> StatKind:
    """``duration``, ``proportion`` (by its formula; the rows may still say otherwise) or
    ``other``: which statistics suit the metric."""
    return _shape(spec).kind


def _shape(spec: MetricSpec) -> _Shape:
    other = _Shape("other")
    if spec.scope is not None or spec.kind != "aggregate":
        return other
    if any(m.source not in (None, spec.source) for m in spec.measures.values()):
        return other
    try:
        tree = ast.parse(spec.formula, mode="eval").body
    except SyntaxError:
        return other
    if isinstance(tree, ast.Name) and tree.id in spec.measures:
        m = spec.measures[tree.id]
        if m.agg == "mean" and m.column and spec.unit == "seconds":
            return _Shape("duration", measure=tree.id)
        return other
    form = _ratio_form(tree)
    if form is None:
        return other
    num, den, scale = form
    names = set(num) | set(den)
    if not names <= set(spec.measures) or any(spec.measures[n].agg != "count" for n in names):
        return other
    a = {abs(v) for v in num.values()}
    b = {abs(v) for v in den.values()}
    if len(a) != 1 or len(b) != 1:
        return other
    ka, kb = a.pop(), b.pop()
    # rows taken out of the numerator must be taken out of the denominator too (abandonment
    # less short abandons over offered less short abandons); NPS's promoters − detractors is no
    # share of anything
    if any(v < 0 and den.get(k, 0) >= 0 for k, v in num.items()):
        return other
    return _Shape(
        "proportion",
        numerator={k: int(math.copysign(1, v)) for k, v in num.items()},
        denominator={k: int(math.copysign(1, v)) for k, v in den.items()},
        scale=scale * ka / kb,
    )


# -- rows ---------------------------------------------------------------------------------------
def _rows(
    ws: Workspace,
    spec: MetricSpec,
    where: Mapping[str, Any],
    span: Period,
    timezone: str,
    dims: Sequence[str],
) -> pd.DataFrame:
    """The metric's fact rows in ``span``, as ``metric_rows`` selects them (the metric's filter,
    ``where``, the time column within the local days), with one indicator column per measure
    (``_in_<name>``: the row passes the measure's filter) and its value (``_val_<name>``)."""
    import ibis

    from servq.metrics.compute import filter_expr, metric_facts

    params = dict(spec.params)
    t = metric_facts(ws.warehouse, spec, where, *span.utc_bounds(timezone))
    cols: dict[str, Any] = {"_time": t[spec.time]}
    for d in dims:
        cols[d] = t[d].cast("string")
    for name, m in spec.measures.items():
        if m.source not in (None, spec.source):
            continue
        cond = filter_expr(t, m.filter, params) if m.filter else None
        cols[f"_in_{name}"] = cond.fill_null(False) if cond is not None else ibis.literal(True)
        if m.column:
            cols[f"_val_{name}"] = t[m.column].cast("float64")
    df: pd.DataFrame = t.select(**cols).to_pandas()
    return df


@dataclass
class _Sample:
    """The rows a metric uses in one period and each row's value (None: no per-row value)."""

    frame: pd.DataFrame
    values: np.ndarray[Any, np.dtype[np.float64]] | None


def _sample(shape: _Shape, rows: pd.DataFrame) -> _Sample | None:
    """Rows and per-row values; None when the rows contradict the shape (a numerator row that
    is not in the denominator)."""
    if shape.kind == "duration":
        assert shape.measure is not None
        mask = rows[f"_in_{shape.measure}"].astype(bool) & rows[f"_val_{shape.measure}"].notna()
        used = rows[mask.to_numpy()]
        return _Sample(used, used[f"_val_{shape.measure}"].to_numpy(dtype="float64"))
    if shape.kind == "proportion":
        num = np.zeros(len(rows), dtype="int64")
        den = np.zeros(len(rows), dtype="int64")
        for name, sign in shape.numerator.items():
            num += sign * rows[f"_in_{name}"].to_numpy(dtype=bool).astype("int64")
        for name, sign in shape.denominator.items():
            den += sign * rows[f"_in_{name}"].to_numpy(dtype=bool).astype("int64")
        ok = np.isin(num, (0, 1)).all() and np.isin(den, (0, 1)).all() and (num <= den).all()
        if not ok:
            return None
        keep = den == 1
        return _Sample(rows[keep], num[keep].astype("float64"))
    return _Sample(rows, None)


# -- statistics ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Stats:
    effect: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    test: str | None = None
    p_value: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """95% interval of p2 − p1 (Newcombe's hybrid score method on Wilson intervals)."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1)
    l2, u2 = wilson(x2, n2)
    d = p2 - p1
    return (
        d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2),
        d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2),
    )


def mover_ratio(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float] | None:
    """95% interval of p2 / p1 (MOVER-R on Wilson intervals); None when p1 is 0."""
    if x1 == 0:
        return None
    a, b = x2 / n2, x1 / n1  # numerator and denominator proportions
    la, ua = wilson(x2, n2)
    lb, ub = wilson(x1, n1)
    prod = a * b
    d_low = ub * (2 * b - ub)
    disc_low = max(prod * prod - la * ub * (2 * a - la) * (2 * b - ub), 0.0)
    low = (prod - math.sqrt(disc_low)) / d_low if d_low > 0 else 0.0
    d_high = lb * (2 * b - lb)
    disc_high = max(prod * prod - ua * lb * (2 * a - ua) * (2 * b - lb), 0.0)
    high = (prod + math.sqrt(disc_high)) / d_high if d_high > 0 else math.inf
    return max(low, 0.0), high


def _proportion_stats(x1: int, n1: int, x2: int, n2: int, relative: bool, scale: float) -> _Stats:
    from scipy import stats

    p1, p2 = x1 / n1, x2 / n2
    table = [[x1, n1 - x1], [x2, n2 - x2]]
    total = n1 + n2
    successes, failures = x1 + x2, total - x1 - x2
    expected = min(n * c / total for n in (n1, n2) for c in (successes, failures))
    if expected < 5:
        test = "fisher_exact"
        p_value = float(stats.fisher_exact(table)[1])
    else:
        test = "two_proportion_z"
        pooled = successes / total
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        p_value = 1.0 if se == 0 else float(2 * stats.norm.sf(abs(p2 - p1) / se))
    d_low, d_high = newcombe_difference(x1, n1, x2, n2)
    extra: dict[str, Any] = {
        "successes_before": x1,
        "successes_after": x2,
        "difference": scale * (p2 - p1),
        "difference_ci": [scale * d_low, scale * d_high],
        "ci_method": "newcombe_wilson",
    }
    if not relative:
        return _Stats(scale * (p2 - p1), scale * d_low, scale * d_high, test, p_value, extra)
    if x1 == 0:
        return _Stats(None, None, None, test, p_value, extra)
    ratio = mover_ratio(x1, n1, x2, n2)
    assert ratio is not None
    extra["ci_method"] = "mover_r_wilson"
    high = ratio[1] - 1 if math.isfinite(ratio[1]) else None
    return _Stats(p2 / p1 - 1, ratio[0] - 1, high, test, p_value, extra)


def _bootstrap(
    x: np.ndarray[Any, np.dtype[np.float64]],
    y: np.ndarray[Any, np.dtype[np.float64]],
    relative: bool,
    resamples: int,
    seed: int,
) -> tuple[float, float]:
    """Percentile 95% interval of mean(y)/mean(x) − 1 (or mean(y) − mean(x)). The values are
    sorted first, so the interval does not depend on the order the engine returned the rows."""
    x, y = np.sort(x), np.sort(y)
    rng = np.random.default_rng(seed)
    out = np.empty(resamples, dtype="float64")
    chunk = max(1, 2_000_000 // max(len(x), len(y)))
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(0, resamples, chunk):
            k = min(chunk, resamples - i)
            mx = x[rng.integers(0, len(x), size=(k, len(x)))].mean(axis=1)
            my = y[rng.integers(0, len(y), size=(k, len(y)))].mean(axis=1)
            out[i : i + k] = my / mx - 1 if relative else my - mx
    out = out[np.isfinite(out)]
    if out.size == 0:
        return math.nan, math.nan
    lo, hi = np.percentile(out, [2.5, 97.5])
    return float(lo), float(hi)


def _duration_stats(
    x: np.ndarray[Any, np.dtype[np.float64]],
    y: np.ndarray[Any, np.dtype[np.float64]],
    relative: bool,
    resamples: int,
    seed: int,
) -> _Stats:
    from scipy import stats

    mx, my = float(x.mean()), float(y.mean())
    if relative and mx == 0:
        return _Stats(None)
    effect = my / mx - 1 if relative else my - mx
    p = float(stats.mannwhitneyu(y, x, alternative="two-sided").pvalue)
    lo, hi = _bootstrap(x, y, relative, resamples, seed)
    extra = {"ci_method": "bootstrap_percentile", "resamples": resamples, "seed": seed}
    return _Stats(
        effect,
        None if math.isnan(lo) else lo,
        None if math.isnan(hi) else hi,
        "mann_whitney_u",
        None if math.isnan(p) else p,
        extra,
    )


def _compare(
    shape: _Shape,
    before: _Sample | None,
    after: _Sample | None,
    v_before: float | None,
    v_after: float | None,
    relative: bool,
    resamples: int,
    seed: int,
) -> _Stats:
    """Effect, interval and test of after against before."""
    tested = (
        shape.kind != "other"
        and before is not None
        and after is not None
        and before.values is not None
        and after.values is not None
        and len(before.values) >= 2
        and len(after.values) >= 2
    )
    if tested:
        assert before is not None and after is not None
        assert before.values is not None and after.values is not None
        if shape.kind == "duration":
            return _duration_stats(before.values, after.values, relative, resamples, seed)
        x1, n1 = int(before.values.sum()), len(before.values)
        x2, n2 = int(after.values.sum()), len(after.values)
        return _proportion_stats(x1, n1, x2, n2, relative, shape.scale)
    if v_before is None or v_after is None:
        return _Stats(None)
    if relative:
        return _Stats(None if v_before == 0 else v_after / v_before - 1)
    return _Stats(v_after - v_before)


# -- case mix -----------------------------------------------------------------------------------
def _levels(frame: pd.DataFrame, dim: str) -> pd.Series:
    return frame[dim].astype("object").where(frame[dim].notna(), _NONE_LEVEL).astype(str)


def _mix(
    shape: _Shape,
    dims: Sequence[str],
    before: _Sample,
    after: _Sample,
    v_before: float | None,
    raw_effect: float | None,
    relative: bool,
) -> dict[str, Any] | None:
    """Shares per dimension before and after, chi-square p, TVD and the effect with the after
    rows reweighted to the before shares; None when there is nothing to compare."""
    from scipy import stats

    if before.frame.empty or after.frame.empty:
        return None
    out: list[dict[str, Any]] = []
    for dim in dims:
        lb, la = _levels(before.frame, dim), _levels(after.frame, dim)
        counts = pd.DataFrame({"before": lb.value_counts(), "after": la.value_counts()}).fillna(0)
        counts = counts[(counts["before"] + counts["after"]) > 0]
        if len(counts) < 2 or len(counts) > MIX_MAX_LEVELS:
            continue
        sb = counts["before"] / counts["before"].sum()
        sa = counts["after"] / counts["after"].sum()
        tvd = float(0.5 * (sb - sa).abs().sum())
        p = float(stats.chi2_contingency(counts.to_numpy().T, correction=False)[1])
        entry: dict[str, Any] = {
            "dimension": dim,
            "chi2_p": p,
            "tvd": tvd,
            "shifted": bool(p < MIX_P and tvd >= MIX_TVD),
            "shares_before": {str(k): float(v) for k, v in sb.items()},
            "shares_after": {str(k): float(v) for k, v in sa.items()},
            "standardised_effect": None,
        }
        if before.values is not None and after.values is not None:
            entry["standardised_effect"] = _standardised(
                shape, lb, la, before.values, after.values, relative
            )
        out.append(entry)
    if not out:
        return None
    top = max(out, key=lambda e: e["tvd"])
    std = top["standardised_effect"]
    differs = False
    if std is not None and raw_effect is not None:
        gap = abs(std - raw_effect)
        base = 1.0 if relative else abs(v_before or 0.0)
        material = gap >= MIX_MATERIAL * base if base > 0 else gap > 0
        differs = gap > 0.5 * abs(raw_effect) and material
    return {
        "dimensions": out,
        "most_shifted": top["dimension"],
        "standardised_effect": std,
        "raw_effect": raw_effect,
        "shifted": [e["dimension"] for e in out if e["shifted"]],
        "standardised_differs": differs,
    }


def _standardised(
    shape: _Shape,
    lb: pd.Series,
    la: pd.Series,
    xb: np.ndarray[Any, np.dtype[np.float64]],
    xa: np.ndarray[Any, np.dtype[np.float64]],
    relative: bool,
) -> float | None:
    """The effect with both periods' per-level means weighted by the before shares, over the
    levels both periods have."""
    mb = pd.Series(xb, index=lb.to_numpy()).groupby(level=0).agg(["mean", "size"])
    ma = pd.Series(xa, index=la.to_numpy()).groupby(level=0).agg(["mean", "size"])
    common = mb.index.intersection(ma.index)
    if len(common) == 0:
        return None
    w = mb.loc[common, "size"] / mb.loc[common, "size"].sum()
    before = float((w * mb.loc[common, "mean"]).sum()) * shape.scale
    after = float((w * ma.loc[common, "mean"]).sum()) * shape.scale
    if relative:
        return None if before == 0 else after / before - 1
    return after - before


# -- verdict ------------------------------------------------------------------------------------
@dataclass
class Verdict:
    """The outcome of :func:`verify`; :meth:`as_dict` is JSON-ready."""

    criterion: str
    criterion_zh: str
    spec: dict[str, Any]
    status: Status
    metric: str
    unit: str
    statistic: StatKind
    period: dict[str, str]
    baseline: dict[str, str]
    before: float | None
    after: float | None
    n_before: int
    n_after: int
    target: float | None
    effect: float | None
    effect_kind: Literal["relative", "difference"]
    ci_low: float | None
    ci_high: float | None
    test: str | None
    p_value: float | None
    per_period: list[dict[str, Any]] | None
    mix_warning: str | None
    mix_shift: dict[str, Any] | None
    explanation_en: str
    explanation_zh: str
    as_of: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        cleaned = _json_ready(asdict(self))
        assert isinstance(cleaned, dict)
        return cleaned


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, date | datetime | pd.Timestamp):
        return value.isoformat()
    return value


def _utc_naive(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC).replace(tzinfo=None)
    if now.tzinfo is None:
        return now
    return now.astimezone(UTC).replace(tzinfo=None)


def _value(df: pd.DataFrame, metric: str) -> float | None:
    if df.empty or metric not in df.columns:
        return None
    v = df[metric].iloc[0]
    return None if pd.isna(v) else float(v)


def _span(p: Period) -> dict[str, str]:
    return {"label": p.label, "start": p.start.isoformat(), "end": p.end.isoformat()}


def _local_days(frame: pd.DataFrame, timezone: str) -> np.ndarray[Any, np.dtype[np.datetime64]]:
    """The local day of each row's time (naive UTC in the warehouse)."""
    stamps = pd.to_datetime(frame["_time"]).dt.tz_localize("UTC").dt.tz_convert(timezone)
    return stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")


def _per_period(
    ws: Workspace,
    c: Criterion,
    sample: _Sample | None,
    rows: pd.DataFrame,
    target: float | None,
) -> tuple[list[dict[str, Any]], bool]:
    """Each complete sub-period's value, rows and whether it holds; and whether a run of
    ``consecutive`` (else all) of them holds."""
    assert c.grain is not None
    buckets = complete_buckets(c.period_span, c.grain)
    where = dict(c.where) or None
    df = ws.metrics(
        c.metric,
        grain=c.grain,
        start=c.period_span.start,
        end=c.period_span.end,
        where=where,
        timezone=c.timezone,
    )
    values: dict[date, float] = {}
    if not df.empty and "period" in df.columns:
        for p, v in zip(df["period"], df[c.metric], strict=True):
            if pd.notna(v):
                values[pd.Timestamp(p).date()] = float(v)
    frame = sample.frame if sample is not None else rows
    days = _local_days(frame, c.timezone)
    out: list[dict[str, Any]] = []
    for b in buckets:
        v = values.get(b.start)
        lo, hi = np.datetime64(b.start, "D"), np.datetime64(b.end, "D")
        n = int(((days >= lo) & (days <= hi)).sum())
        ok = None if v is None or target is None else bool(OPS[c.op](v, target))
        out.append(
            {
                "period": b.label,
                "start": b.start.isoformat(),
                "end": b.end.isoformat(),
                "value": v,
                "n": n,
                "ok": ok,
            }
        )
    need = c.consecutive or len(buckets)
    run = best = 0
    for e in out:
        run = run + 1 if e["ok"] else 0
        best = max(best, run)
    return out, best >= need


def verify(
    ws: Workspace,
    criterion: Criterion,
    *,
    now: datetime | None = None,
    min_rows: int = MIN_ROWS,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Verdict:
    """Check ``criterion`` on the workspace's data as of ``now`` (default: the present; naive
    means UTC). See the module documentation for the statistics and the verdict rule."""
    c = criterion
    cat = ws.catalogue
    c.check(cat)
    spec = cat.get(c.metric)
    shape = _shape(spec)
    period, base = c.period_span, c.baseline_span
    where = dict(c.where) or None
    as_of = _utc_naive(now)
    relative = c.kind == "relative"

    def value(p: Period) -> float | None:
        df = ws.metrics(c.metric, start=p.start, end=p.end, where=where, timezone=c.timezone)
        return _value(df, c.metric)

    v_after, v_before = value(period), value(base)

    from servq.metrics.catalogue_registry import fact_columns

    columns = fact_columns().get(spec.source, set())
    dims = [d for d in MIX_DIMENSIONS if d in columns and d not in c.where]
    rows_after = _rows(ws, spec, c.where, period, c.timezone, dims)
    rows_before = _rows(ws, spec, c.where, base, c.timezone, dims)
    s_after, s_before = _sample(shape, rows_after), _sample(shape, rows_before)
    if shape.kind != "other" and (
        s_after is None
        or s_before is None
        or not _agrees(s_after, v_after, shape)
        or not _agrees(s_before, v_before, shape)
    ):
        # the rows do not add up to the dashboard's number this way: no test
        shape = _Shape("other")
        s_after, s_before = _sample(shape, rows_after), _sample(shape, rows_before)
    assert s_after is not None and s_before is not None
    n_after, n_before = len(s_after.frame), len(s_before.frame)

    target: float | None
    if relative:
        assert c.ratio is not None
        target = None if v_before is None else c.ratio * v_before
    else:
        target = c.value
    st = _compare(shape, s_before, s_after, v_before, v_after, relative, resamples, seed)

    per_period: list[dict[str, Any]] | None = None
    sustained_ok = False
    if c.grain is not None:
        per_period, sustained_ok = _per_period(ws, c, s_after, rows_after, target)

    over = as_of >= max(period.utc_bounds(c.timezone)[1], base.utc_bounds(c.timezone)[1])
    tested = shape.kind != "other"
    status: Status
    if not over:
        status = "pending"
    elif (
        v_after is None
        or (relative and v_before is None)
        or (tested and n_after < min_rows)
        or (tested and relative and n_before < min_rows)
        or (per_period is not None and all(e["value"] is None for e in per_period))
    ):
        status = "insufficient_data"
    elif (
        sustained_ok
        if per_period is not None
        else (target is not None and OPS[c.op](v_after, target))
    ):
        status = "met"
    elif _significant(st, c.wanted, n_before >= min_rows):
        status = "not_met"
    else:
        status = "not_effective"

    mix = (
        _mix(shape, dims, s_before, s_after, v_before, st.effect, relative)
        if n_after and n_before
        else None
    )
    mix_warning = _mix_warning(mix, c, spec, relative)
    verdict = Verdict(
        criterion=c.describe("en", cat),
        criterion_zh=c.describe("zh", cat),
        spec=c.to_dict(),
        status=status,
        metric=c.metric,
        unit=spec.unit,
        statistic=shape.kind,
        period=_span(period),
        baseline=_span(base),
        before=v_before,
        after=v_after,
        n_before=n_before,
        n_after=n_after,
        target=target,
        effect=st.effect,
        effect_kind="relative" if relative else "difference",
        ci_low=st.ci_low,
        ci_high=st.ci_high,
        test=st.test,
        p_value=st.p_value,
        per_period=per_period,
        mix_warning=mix_warning[0] if mix_warning else None,
        mix_shift=mix,
        explanation_en="",
        explanation_zh="",
        as_of=as_of.replace(tzinfo=UTC).isoformat(),
        details=dict(st.extra),
    )
    verdict.explanation_en, verdict.explanation_zh = _explain(verdict, c, spec, min_rows)
    if mix_warning:
        verdict.explanation_en += " " + mix_warning[1]
        verdict.explanation_zh += mix_warning[2]
    return verdict


def _agrees(sample: _Sample, dashboard: float | None, shape: _Shape) -> bool:
    """The per-row values give back the dashboard's number (the shape read the formula
    right)."""
    if sample.values is None:
        return True
    if len(sample.values) == 0:
        return dashboard is None
    mine = float(sample.values.mean()) * shape.scale
    if dashboard is None:
        return False
    return math.isclose(mine, dashboard, rel_tol=1e-6, abs_tol=1e-9)


def _significant(st: _Stats, wanted: int, enough: bool) -> bool:
    """A change in the wanted direction: p < 0.05 and the 95% interval clear of 0."""
    if not enough or st.p_value is None or st.ci_low is None or st.ci_high is None:
        return False
    if st.p_value >= ALPHA:
        return False
    return st.ci_high < 0 if wanted < 0 else st.ci_low > 0


# -- words --------------------------------------------------------------------------------------
def _g(x: float) -> str:
    return f"{x:.6g}"


def _unit_value(v: float, unit: str) -> str:
    if unit == "percent":
        return f"{_g(v)}%"
    if unit == "seconds":
        return f"{_g(v)} s"
    return _g(v)


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit == "seconds":
        if abs(v) >= 3600:
            return f"{v:,.0f} s ({v / 3600:.2f} h)"
        if abs(v) >= 60:
            return f"{v:,.0f} s ({v / 60:.1f} min)"
        return f"{v:.1f} s"
    if unit == "percent":
        return f"{v:.2f}%"
    return f"{v:.4g}"


def _fmt_effect(v: float | None, kind: str, unit: str, zh: bool = False) -> str:
    if v is None:
        return "—"
    if kind == "relative":
        return f"{v * 100:+.1f}%"
    if unit == "percent":
        return f"{v:+.2f} 个百分点" if zh else f"{v:+.2f} points"
    if unit == "seconds":
        return f"{v:+,.0f} s"
    return f"{v:+.4g}"


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "p —"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _where_en(where: Mapping[str, Any]) -> str:
    parts = []
    for col, cond in where.items():
        if isinstance(cond, Mapping):
            parts.append(" and ".join(f"{col} {op} {v}" for op, v in cond.items()))
        else:
            parts.append(f"{col} {', '.join(str(v) for v in cond)}")
    return "; ".join(parts)


def _where_zh(where: Mapping[str, Any]) -> str:
    parts = []
    for col, cond in where.items():
        name = _DIM_ZH.get(col, col)
        if isinstance(cond, Mapping):
            parts.append("且".join(f"{name} {op} {v}" for op, v in cond.items()))
        else:
            parts.append(f"{name} {'、'.join(str(v) for v in cond)}")
    return "；".join(parts)


def _explain(v: Verdict, c: Criterion, spec: MetricSpec, min_rows: int) -> tuple[str, str]:
    unit = spec.unit
    op = {"<=": "≤", ">=": "≥"}.get(c.op, c.op)
    p, b = v.period["label"], v.baseline["label"]
    after, before, target = _fmt(v.after, unit), _fmt(v.before, unit), _fmt(v.target, unit)
    eff_en = _fmt_effect(v.effect, v.effect_kind, unit)
    eff_zh = _fmt_effect(v.effect, v.effect_kind, unit, zh=True)
    ci_en = ci_zh = ""
    if v.ci_low is not None and v.ci_high is not None:
        lo_en = _fmt_effect(v.ci_low, v.effect_kind, unit)
        hi_en = _fmt_effect(v.ci_high, v.effect_kind, unit)
        lo_zh = _fmt_effect(v.ci_low, v.effect_kind, unit, zh=True)
        hi_zh = _fmt_effect(v.ci_high, v.effect_kind, unit, zh=True)
        ci_en, ci_zh = f", 95% CI {lo_en} to {hi_en}", f"，95% 置信区间 {lo_zh} 至 {hi_zh}"
    if v.test is not None:
        test_en = f"{_TEST_EN[v.test]} {_fmt_p(v.p_value)}"
        test_zh = f"{_TEST_ZH[v.test]} {_fmt_p(v.p_value)}"
    else:
        test_en = "no statistical test applies to this metric; values compared as they are"
        test_zh = "该指标不适用统计检验，仅比较数值"
    change_en = f"{eff_en} against {before} in {b}{ci_en}; {test_en}"
    change_zh = f"相对 {b} 的 {before} 变化 {eff_zh}{ci_zh}；{test_zh}"
    if c.kind == "relative":
        goal_en = f"target {op} {target} ({_g((c.ratio or 0) * 100)}% of {b})"
        goal_zh = f"目标 {op} {target}（{b} 的 {_g((c.ratio or 0) * 100)}%）"
    else:
        goal_en, goal_zh = f"target {op} {target}", f"目标 {op} {target}"
    sustained_en = sustained_zh = ""
    if v.per_period is not None and c.grain is not None:
        marks = [
            f"{e['period']} {_fmt(e['value'], unit)}"
            + ("" if e["ok"] is None else (" ✓" if e["ok"] else " ✗"))
            for e in v.per_period
        ]
        need = c.consecutive or len(v.per_period)
        sustained_en = (
            f" Needed {need} consecutive {c.grain}(s) holding it: " + "; ".join(marks) + "."
        )
        sustained_zh = f"需连续 {need} {_GRAIN_ZH[c.grain]}达标：" + "；".join(marks) + "。"
    head_en, head_zh = _STATUS_EN[v.status], _STATUS_ZH[v.status]
    if v.status == "pending":
        en = (
            f"{head_en}: {p} (or {b}) is not over at {v.as_of[:16]} UTC. So far {after} "
            f"({v.n_after} rows), {change_en}; {goal_en}."
        )
        zh = (
            f"{head_zh}：截至 {v.as_of[:16]} UTC，{p}（或 {b}）尚未结束。目前为 {after}"
            f"（{v.n_after} 行），{change_zh}；{goal_zh}。"
        )
        return en + sustained_en, zh + sustained_zh
    if v.status == "insufficient_data":
        need_en = f"both {p} and {b}" if c.kind == "relative" else p
        need_zh = f"{p} 与 {b} 均" if c.kind == "relative" else f" {p} "
        en = (
            f"{head_en}: {v.n_after} rows in {p} (value {after}) and {v.n_before} in {b} "
            f"(value {before}); a verdict needs a value in {need_en}"
            + (f" and at least {min_rows} rows there" if v.statistic != "other" else "")
            + "."
        )
        zh = (
            f"{head_zh}：{p} 有 {v.n_after} 行（值 {after}），"
            f"{b} 有 {v.n_before} 行（值 {before}）；判定需要{need_zh}有值"
            + (f"且至少 {min_rows} 行" if v.statistic != "other" else "")
            + "。"
        )
        return en + sustained_en, zh + sustained_zh
    verb_en = {
        "met": "the condition holds",
        "not_met": "it moved the wanted way significantly, but not far enough",
        "not_effective": "no significant change in the wanted direction",
    }[v.status]
    verb_zh = {
        "met": "满足条件",
        "not_met": "已朝目标方向显著改善，但幅度不足",
        "not_effective": "未见朝目标方向的显著变化",
    }[v.status]
    en = f"{head_en}: {spec.name_en} in {p} is {after} ({v.n_after} rows), {change_en}; "
    en += f"{goal_en} — {verb_en}."
    zh = f"{head_zh}：{spec.name_zh}在 {p} 为 {after}（{v.n_after} 行），{change_zh}；"
    zh += f"{goal_zh}——{verb_zh}。"
    return en + sustained_en, zh + sustained_zh


def _mix_warning(
    mix: Mapping[str, Any] | None, c: Criterion, spec: MetricSpec, relative: bool
) -> tuple[str, str, str] | None:
    """(the bilingual warning, its English sentence, its Chinese sentence) or None."""
    if not mix or not (mix["shifted"] or mix["standardised_differs"]):
        return None
    dim = mix["shifted"][0] if mix["shifted"] else mix["most_shifted"]
    if mix["shifted"]:
        # the most shifted among the shifted ones
        dim = max((e for e in mix["dimensions"] if e["shifted"]), key=lambda e: e["tvd"])[
            "dimension"
        ]
    entry = next(e for e in mix["dimensions"] if e["dimension"] == dim)
    sb, sa = entry["shares_before"], entry["shares_after"]
    moves = sorted(sb, key=lambda k: -abs(sa.get(k, 0.0) - sb.get(k, 0.0)))[:3]
    shares = [f"{k} {sb.get(k, 0.0):.0%} → {sa.get(k, 0.0):.0%}" for k in moves]
    kind = "relative" if relative else "difference"
    raw = mix["raw_effect"]
    std = entry["standardised_effect"]
    b, p = c.baseline_span.label, c.period
    dim_zh = _DIM_ZH.get(dim, dim)
    stats_en = f"χ² {_fmt_p(entry['chi2_p'])}, total variation distance {entry['tvd']:.2f}"
    stats_zh = f"卡方检验 {_fmt_p(entry['chi2_p'])}，总变差距离 {entry['tvd']:.2f}"
    en = f"Case mix changed between {b} and {p} on {dim}: {', '.join(shares)} ({stats_en})."
    zh = f"{b} 与 {p} 的业务结构在{dim_zh}上不同：{'，'.join(shares)}（{stats_zh}）。"
    if std is not None:
        en += (
            f" Reweighted to the {b} mix of {dim}, the change is "
            f"{_fmt_effect(std, kind, spec.unit)} instead of {_fmt_effect(raw, kind, spec.unit)}."
        )
        zh += (
            f"按 {b} 的{dim_zh}结构重新加权后，变化为 {_fmt_effect(std, kind, spec.unit, True)}，"
            f"而非 {_fmt_effect(raw, kind, spec.unit, True)}。"
        )
    else:
        en += " The metric's change may come from the mix rather than from the plan."
        zh += "指标的变化可能来自业务结构变化，而非改进措施。"
    return f"{en} / {zh}", en, zh


__all__ = [
    "DEFAULT_TIMEZONE",
    "OPS",
    "Criterion",
    "Verdict",
    "complete_buckets",
    "metric_shape",
    "mover_ratio",
    "newcombe_difference",
    "parse_criterion",
    "verify",
    "wilson",
]
