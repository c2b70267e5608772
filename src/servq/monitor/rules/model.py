"""Alert rules in YAML: the model of each rule kind, its validation and loading rule files.

Owns: what a rule *is* — threshold, relative change, anomaly, risk words, volume spike — as
frozen pydantic models, and reading a rule file so that every problem (unknown metric, a
statistic the metric has not, a dimension its source lacks, a bad duration…) is reported at
once with file, line and field. How rules are computed lives in ``windows`` and ``text``; the
alert state between evaluations in ``servq.monitor.evaluate``.

A rule file holds a list under ``rules:``::

    rules:
      - name: slow-first-reply
        title_en: Slow first replies
        title_zh: 首次响应慢
        kind: threshold
        metric: first_reply_time
        statistic: p90
        by: [team]
        window: 1h          # the last hour, evaluated
        every: 1m           # every minute
        for: 10m            # firing once it has held for ten minutes
        op: ">"
        value: 30m
        severity: warning

Durations are ``s``, ``m``, ``h``, ``d`` (24 hours) and ``w`` (7 days), combined as ``1h30m``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from servq.errors import DefinitionError, Problem, ServqError
from servq.metrics.catalogue_registry import Catalogue, fact_columns
from servq.metrics.model import FILTER_OPS, STAT_AGGS, MetricSpec
from servq.monitor import riskwords
from servq.monitor.signals import Severity
from servq.warehouse.schema import TABLES
from servq.yamlfile import load_model, parse_yaml

RuleKind = Literal["threshold", "relative_change", "anomaly", "risk_words", "volume_spike"]
RULE_KINDS: tuple[RuleKind, ...] = get_args(RuleKind)
Op = Literal[">", ">=", "<", "<="]
Direction = Literal["up", "down", "both"]
TextSource = Literal["feedback", "interaction", "case"]
Baseline = Literal["same_hour_last_week", "previous_window", "trailing_mean"]
Seasonality = Literal["hour_of_week", "hour_of_day"]
SEASON_PERIOD = {"hour_of_week": timedelta(days=7), "hour_of_day": timedelta(days=1)}
# units of metrics that count things: an empty window counts zero, not "unknown"
COUNT_UNITS = ("cases", "calls", "count")
# the volume behind min_volume, per fact source
VOLUME_METRICS = {
    "case": "cases_created",
    "interaction": "calls_offered",
    "feedback": "feedback_count",
}
# volume_spike's `count:` shorthand
COUNTS = {"cases": "cases_created", "interactions": "calls_offered", "feedback": "feedback_count"}

_SPAN = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_SPAN_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_SPAN_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SPAN_HELP = "a duration such as 30s, 10m, 1h, 1h30m, 2d or 4w"
_CHANGE = re.compile(r"([+-])\s*(\d+(?:\.\d+)?)\s*%")


def parse_span(value: Any) -> timedelta:
    """``10m``, ``1h30m``, ``4w`` → timedelta; ValueError if not (a bare number has no unit)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected {_SPAN_HELP}; a number needs a unit")
    text = value.strip().lower().replace(" ", "")
    if not _SPAN.fullmatch(text):
        raise ValueError(f"'{value}' is not {_SPAN_HELP}")
    seconds = sum(float(n) * _SPAN_UNITS[u] for n, u in _SPAN_PART.findall(text))
    return timedelta(seconds=seconds)


def span_text(seconds: float, lang: Literal["en", "zh"] = "en") -> str:
    """``3900`` → ``1h05m`` / ``1小时5分钟``; whole days and weeks as ``2d``/``2天``."""
    total = round(abs(seconds))
    sign = "-" if seconds < 0 else ""
    for unit, en, zh in ((604800, "w", "周"), (86400, "d", "天")):
        if total >= unit and total % unit == 0:
            return f"{sign}{total // unit}{en if lang == 'en' else zh}"
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if lang == "zh":
        parts = [f"{h}小时" if h else "", f"{m}分钟" if m else "", f"{s}秒" if s else ""]
        return sign + ("".join(parts) or "0秒")
    if h:
        return f"{sign}{h}h{m:02d}m" if m else f"{sign}{h}h"
    if m:
        return f"{sign}{m}m{s:02d}s" if s else f"{sign}{m}m"
    return f"{sign}{s}s"


def _positive_span(value: Any) -> timedelta:
    span = parse_span(value)
    if span <= timedelta(0):
        raise ValueError("must be longer than zero")
    return span


def parse_change(value: Any) -> float:
    """``+30%`` → 0.3, ``-20%`` → -0.2; the sign says which way the rule looks."""
    text = str(value).strip() if isinstance(value, str) else ""
    found = _CHANGE.fullmatch(text)
    if found is None:
        raise ValueError("expected a signed percentage such as +30% or -20%")
    change = float(found.group(2)) / 100 * (1 if found.group(1) == "+" else -1)
    if change == 0 or change <= -1:
        raise ValueError("a change must be above -100% and not zero")
    return change


Span = Annotated[timedelta, BeforeValidator(parse_span)]
PositiveSpan = Annotated[timedelta, BeforeValidator(_positive_span)]
Change = Annotated[float, BeforeValidator(parse_change)]


# -- what validation reads: the catalogue, calendars, word lists ------------------------------


@cache
def _builtin_catalogue() -> Catalogue:
    return Catalogue()


def _context(info: ValidationInfo) -> dict[str, Any]:
    return info.context or {}


def _catalogue(info: ValidationInfo) -> Catalogue:
    found = _context(info).get("catalogue")
    return found if isinstance(found, Catalogue) else _builtin_catalogue()


def _spec(info: ValidationInfo) -> MetricSpec | None:
    """The rule's metric, when it was given and is known (else its own error was reported)."""
    metric = info.data.get("metric")
    cat = _catalogue(info)
    return cat.get(metric) if isinstance(metric, str) and metric in cat else None


def _check_names(names: Sequence[str], columns: set[str], what: str) -> None:
    unknown = [n for n in names if n not in columns]
    if unknown:
        raise ValueError(
            f"{', '.join(map(repr, unknown))}: not {what}; use one of {', '.join(sorted(columns))}"
        )


def _check_filter(where: dict[str, Any], columns: set[str]) -> None:
    _check_names(list(where), columns, "a column to filter on")
    for col, cond in where.items():
        if isinstance(cond, dict):
            bad = [op for op in cond if op not in FILTER_OPS]
            if bad:
                raise ValueError(f"{col}: unknown operator {bad[0]!r}; use {', '.join(FILTER_OPS)}")


# -- the rule kinds ---------------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class RuleBase(_Frozen):
    """What every rule has: a name, titles, a window, how often and how long, severity."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title_en: str = ""
    title_zh: str = ""
    description: str = ""
    kind: RuleKind
    severity: Severity = "warning"
    window: PositiveSpan = timedelta(hours=1)
    every: PositiveSpan = timedelta(minutes=1)
    for_: Span = Field(default=timedelta(0), alias="for")
    calendar: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("calendar")
    @classmethod
    def _known_calendar(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            from servq.calendar import load_calendar

            try:
                load_calendar(value, _context(info).get("calendar_folders"))
            except ServqError as exc:
                raise ValueError(str(exc)) from None
        return value

    def title(self, lang: Literal["en", "zh"]) -> str:
        """The rule's title in a language, else its name."""
        return (self.title_zh if lang == "zh" else self.title_en) or self.name


def _check_by(by: tuple[str, ...], columns: set[str], info: ValidationInfo) -> tuple[str, ...]:
    _check_names(by, columns, "a dimension of the source")
    clash = sorted(set(by) & set(info.data.get("labels") or {}))
    if clash:
        raise ValueError(f"{', '.join(clash)}: both a dimension and a label of the rule")
    return by


class MetricRule(RuleBase):
    """A rule over a catalogue metric, computed per group over a sliding window."""

    metric: str
    statistic: str | None = Field(
        default=None, description="mean, median, p90…: a statistic the metric offers"
    )
    by: tuple[str, ...] = ()
    where: dict[str, Any] = Field(default_factory=dict)
    min_volume: int = Field(default=0, ge=0, description="cases, calls or answers in the window")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str, info: ValidationInfo) -> str:
        cat = _catalogue(info)
        if value not in cat:
            raise ValueError(f"no metric '{value}' in the catalogue (servq metrics list)")
        if cat.get(value).kind == "snapshot":
            raise ValueError(
                f"'{value}' is a snapshot metric: rules over sliding windows need an "
                "aggregate metric"
            )
        return value

    @field_validator("statistic")
    @classmethod
    def _known_statistic(cls, value: str | None, info: ValidationInfo) -> str | None:
        spec = _spec(info)
        if value is None or spec is None:
            return value
        offered = statistics(spec)
        if value not in offered:
            if not offered:
                raise ValueError(f"{spec.id} is a ratio of counts: it has no statistics")
            raise ValueError(f"{spec.id} offers {', '.join(offered)}")
        return value

    @field_validator("by")
    @classmethod
    def _known_dimensions(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        spec = _spec(info)
        return value if spec is None else _check_by(value, fact_columns()[spec.source], info)

    @field_validator("where")
    @classmethod
    def _known_filter(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        spec = _spec(info)
        if spec is not None:
            _check_filter(value, fact_columns()[spec.source])
        return value

    @field_validator("min_volume")
    @classmethod
    def _has_volume(cls, value: int, info: ValidationInfo) -> int:
        spec = _spec(info)
        if value and spec is not None and spec.source not in VOLUME_METRICS:
            raise ValueError(f"{spec.source} metrics have no volume to count")
        return value

    def column(self, spec: MetricSpec) -> str:
        """The result column of the rule's statistic (``first_reply_time_p90``)."""
        if self.statistic is None or self.statistic == _base_agg(spec):
            return spec.id
        return f"{spec.id}_{self.statistic}"


def _base_agg(spec: MetricSpec) -> str | None:
    """The aggregate of a single-measure metric that is not a plain count (else None)."""
    if len(spec.measures) != 1 or spec.formula not in spec.measures:
        return None
    agg = next(iter(spec.measures.values())).agg
    return agg if agg in STAT_AGGS else None


def statistics(spec: MetricSpec) -> tuple[str, ...]:
    """The statistics a rule may ask of a metric: its own aggregate and its extra ``stats``."""
    base = _base_agg(spec)
    return tuple(dict.fromkeys([*([base] if base else []), *spec.stats]))


class ThresholdRule(MetricRule):
    """Fires while the metric is beyond a fixed value: ``p90 first reply > 30m``."""

    kind: Literal["threshold"] = "threshold"
    op: Op
    value: float

    @field_validator("value", mode="before")
    @classmethod
    def _value_in_unit(cls, value: Any, info: ValidationInfo) -> Any:
        spec = _spec(info)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if spec is not None and spec.unit == "seconds" and number:
            raise ValueError(f"{spec.id} is a duration: write the value with a unit (30m)")
        if isinstance(value, str) and value.strip().endswith("%"):
            return value.strip()[:-1]
        if isinstance(value, str) and (spec is None or spec.unit == "seconds"):
            return parse_span(value).total_seconds()
        return value


class RelativeChangeRule(MetricRule):
    """Fires when the metric moved by ``change`` against a baseline of the same group."""

    kind: Literal["relative_change"] = "relative_change"
    baseline: Baseline = "same_hour_last_week"
    days: int = Field(default=7, ge=1, le=90, description="trailing_mean: how many days back")
    change: Change


class AnomalyRule(MetricRule):
    """Fires when the metric is far from what the same hour of the week (or day) usually sees.

    Robust z-score: (value − median) / (1.4826 × MAD) over the history's seasonal twins.
    """

    kind: Literal["anomaly"] = "anomaly"
    seasonality: Seasonality = "hour_of_week"
    history: PositiveSpan = timedelta(weeks=4)
    z: float = Field(default=3.5, gt=0)
    direction: Direction | None = Field(
        default=None, description="default: the bad way of the metric (up for a duration)"
    )
    min_history: int = Field(default=3, ge=2, description="seasonal twins needed to judge")

    @field_validator("history")
    @classmethod
    def _whole_periods(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        season = info.data.get("seasonality")
        if season is None:
            return value
        period = SEASON_PERIOD[season]
        if value % period:
            raise ValueError(f"must be a whole number of {'weeks' if period.days == 7 else 'days'}")
        return value

    def twins(self) -> int:
        """How many seasonal twins the history holds."""
        return self.history // SEASON_PERIOD[self.seasonality]

    @model_validator(mode="after")
    def _enough_history(self) -> AnomalyRule:
        if self.twins() < self.min_history:
            raise ValueError(
                f"history {span_text(self.history.total_seconds())} holds {self.twins()} "
                f"{self.seasonality} twins, fewer than min_history {self.min_history}"
            )
        return self


class VolumeSpikeRule(MetricRule):
    """Fires when a count reaches ``factor`` times its usual level: the count over the
    ``baseline`` span before the window, per window length."""

    kind: Literal["volume_spike"] = "volume_spike"
    factor: float = Field(gt=1)
    baseline: PositiveSpan = timedelta(hours=24)
    min_count: int = Field(default=10, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _count_shorthand(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "count" not in data:
            return data
        data = dict(data)
        what = data.pop("count")
        if "metric" in data:
            raise ValueError("give `count` or `metric`, not both")
        if what not in COUNTS:
            raise ValueError(f"count: '{what}' is not one of {', '.join(COUNTS)}")
        data["metric"] = COUNTS[what]
        return data

    @field_validator("metric")
    @classmethod
    def _counts_things(cls, value: str, info: ValidationInfo) -> str:
        cat = _catalogue(info)
        if value in cat and cat.get(value).unit not in COUNT_UNITS:
            raise ValueError(f"'{value}' does not count things: a spike needs a count metric")
        return value


class RiskWordsRule(RuleBase):
    """Fires when at least ``min_hits`` texts of a group mention risk words in the window."""

    kind: Literal["risk_words"] = "risk_words"
    sources: tuple[TextSource, ...] = Field(
        default=("feedback", "interaction", "case"), min_length=1
    )
    lists: tuple[str, ...] = ("zh", "en")
    words: tuple[str, ...] = Field(default=(), validate_default=True)
    min_hits: int = Field(default=1, ge=1)
    by: tuple[str, ...] = ()
    where: dict[str, Any] = Field(default_factory=dict)

    @field_validator("lists")
    @classmethod
    def _known_lists(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        known = riskwords.list_names(_context(info).get("riskword_folders") or [])
        _check_names(value, set(known), "a risk-word list")
        return value

    @field_validator("words")
    @classmethod
    def _some_words(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if any(not w.strip() for w in value):
            raise ValueError("a word cannot be empty")
        if not value and not info.data.get("lists", ("?",)):
            raise ValueError("give words, lists or both")
        return value

    @field_validator("by", "where")
    @classmethod
    def _common_columns(cls, value: Any, info: ValidationInfo) -> Any:
        sources = info.data.get("sources")
        if sources is None:
            return value
        columns = text_columns(sources)
        if info.field_name == "by":
            return _check_by(value, columns, info)
        _check_filter(value, columns)
        return value

    def all_words(self, folders: Sequence[Path] = ()) -> tuple[str, ...]:
        """The words of every list named, then the rule's own, each once."""
        out: list[str] = []
        for name in self.lists:
            out += riskwords.load_list(name, folders)
        return tuple(dict.fromkeys([*out, *self.words]))


# the text columns of each text source (a case's are joined with a space)
TEXT_TABLES: dict[str, tuple[str, ...]] = {
    "feedback": ("text",),
    "interaction": ("transcript",),
    "case": ("subject", "description"),
}


def text_columns(sources: Sequence[str]) -> set[str]:
    """Columns every table of ``sources`` has: the dimensions a risk-words rule can use."""
    sets = [set(TABLES[s].column_names) for s in sources]
    return set.intersection(*sets) - {"attributes"} if sets else set()


def _kind_tag(value: Any) -> str | None:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    # tags in brackets are dropped from error locations by servq.yamlfile, so a problem in
    # `op` of a threshold rule is reported at rules[0].op, on the line of `op`
    return f"[{kind}]" if kind in RULE_KINDS else None


Rule = Annotated[
    Annotated[ThresholdRule, Tag("[threshold]")]
    | Annotated[RelativeChangeRule, Tag("[relative_change]")]
    | Annotated[AnomalyRule, Tag("[anomaly]")]
    | Annotated[RiskWordsRule, Tag("[risk_words]")]
    | Annotated[VolumeSpikeRule, Tag("[volume_spike]")],
    Discriminator(
        _kind_tag,
        custom_error_type="rule_kind",
        custom_error_message=f"kind is missing or unknown: use one of {', '.join(RULE_KINDS)}",
    ),
]
AnyRule = ThresholdRule | RelativeChangeRule | AnomalyRule | RiskWordsRule | VolumeSpikeRule


class RuleSet(_Frozen):
    """The rules of one file."""

    rules: tuple[Rule, ...]

    @field_validator("rules")
    @classmethod
    def _some_rules(cls, value: tuple[AnyRule, ...]) -> tuple[AnyRule, ...]:
        if not value:
            raise ValueError("a rule file holds at least one rule")
        return value

    def get(self, name: str) -> AnyRule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise ServqError(f"no rule '{name}'; rules: {', '.join(r.name for r in self.rules)}")


# -- loading ----------------------------------------------------------------------------------


def _duplicate_names(data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    items = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    seen: dict[str, int] = {}
    found: list[tuple[tuple[str | int, ...], str]] = []
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            found.append(
                (("rules", i, "name"), f"'{name}' is also the name of rules[{seen[name]}]")
            )
        seen.setdefault(name, i)
    return found


def parse_rules(
    text: str,
    file: str = "<rules>",
    *,
    catalogue: Catalogue | None = None,
    calendar_folders: Sequence[Path] = (),
    riskword_folders: Sequence[Path] = (),
) -> RuleSet:
    """Rules from YAML text; raises DefinitionError listing every problem with its line.

    ``catalogue`` defaults to the built-in metrics; a workspace passes its own (with its
    ``metrics/*.yaml``), its ``calendars/`` and ``riskwords/`` folders.
    """
    data, lines = parse_yaml(text, file)
    found = [
        Problem(file, lines.line(loc), f"rules[{loc[1]}].name", msg)
        for loc, msg in _duplicate_names(data)
    ]
    context = {
        "catalogue": catalogue or _builtin_catalogue(),
        "calendar_folders": list(calendar_folders),
        "riskword_folders": list(riskword_folders),
    }
    try:
        rules = load_model(RuleSet, text, file, context=context)
    except DefinitionError as exc:
        found = exc.problems + found
    if found:
        raise DefinitionError(sorted(found, key=lambda p: (p.line or 0, p.field)))
    return rules


def load_rules(
    path: Path,
    *,
    catalogue: Catalogue | None = None,
    calendar_folders: Sequence[Path] = (),
    riskword_folders: Sequence[Path] = (),
) -> RuleSet:
    """Rules from a YAML file; raises DefinitionError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(str(path), None, "", f"cannot read: {exc}")]) from exc
    return parse_rules(
        text,
        str(path),
        catalogue=catalogue,
        calendar_folders=calendar_folders,
        riskword_folders=riskword_folders,
    )


def builtin_rule_files() -> dict[str, str]:
    """The example rule files shipped with servq: name → YAML text."""
    root = resources.files("servq.monitor.builtin_rules")
    return {
        e.name.rsplit(".", 1)[0]: e.read_text(encoding="utf-8")
        for e in sorted(root.iterdir(), key=lambda e: e.name)
        if e.name.endswith((".yaml", ".yml"))
    }


def find_rules(name_or_path: str | Path, workspace: Path | None = None) -> RuleSet:
    """A rule file by path, or a built-in one by name (``standard``), checked against the
    metrics, calendars and word lists of the workspace folder ``workspace`` (its
    ``metrics/``, ``calendars/``, ``riskwords/``) besides the built-ins."""
    kwargs: dict[str, Any] = {}
    if workspace is not None:
        own_metrics = workspace / "metrics"
        kwargs = {
            "catalogue": (
                Catalogue([own_metrics])
                if any(own_metrics.glob("*.yaml"))
                else _builtin_catalogue()
            ),
            "calendar_folders": [workspace / "calendars"],
            "riskword_folders": [workspace / riskwords.LIST_FOLDER],
        }
    path = Path(name_or_path)
    if path.is_file():
        return load_rules(path, **kwargs)
    builtin = builtin_rule_files()
    if str(name_or_path) in builtin:
        origin = f"servq:rules/{name_or_path}.yaml"
        return parse_rules(builtin[str(name_or_path)], origin, **kwargs)
    raise ServqError(f"no rule file {name_or_path}; built-in rule files: {', '.join(builtin)}")


def is_count(spec: MetricSpec) -> bool:
    """Whether a metric counts things (an empty window is then zero, not unknown)."""
    return spec.unit in COUNT_UNITS


def direction(rule: AnomalyRule, spec: MetricSpec) -> Direction:
    """Which way is bad: the rule's own, else the metric's (a duration going up)."""
    if rule.direction is not None:
        return rule.direction
    if spec.direction == "lower_is_better":
        return "up"
    return "down" if spec.direction == "higher_is_better" else "both"
