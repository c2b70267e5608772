"""Evaluating alert rules over the warehouse, live or replayed over history (backtest).

Owns: :class:`RuleEngine` — which rules are due at a time (``every``), the pending state of each
rule × group between calls (``for``: the condition must hold that long before the rule fires),
and the :class:`~servq.monitor.signals.Signal` it emits — and :func:`backtest`, which replays
history through the same engine and reports the alerts that would have fired.

Signals: while a group's condition has held for at least ``for``, every evaluation emits a
firing signal (the alert manager keeps one alert per fingerprint and refreshes its value); the
first evaluation at which it no longer holds — or the group has no data — emits one
``firing=False`` signal. A condition that stops holding before ``for`` has passed emits nothing.

Every rule costs one grouped query per evaluation, never one per group; a replay batches up to
``batch`` evaluation times of a rule into one query (``servq.monitor.rules.windows``). Times are
naive UTC and always passed in: nothing here reads the clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pandas as pd

from servq.errors import ServqError
from servq.metrics.model import MetricSpec
from servq.monitor import riskwords
from servq.monitor.rules import (
    AnomalyRule,
    AnyRule,
    MetricRule,
    RiskWordsRule,
    RuleSet,
    ThresholdRule,
    parse_span,
)
from servq.monitor.rules.observation import Observation, to_observations
from servq.monitor.rules.summary import labels_text, summary
from servq.monitor.rules.text import observe_risk_words
from servq.monitor.rules.windows import MetricSource, observe_metric
from servq.monitor.signals import Signal

if TYPE_CHECKING:
    from servq.workspace import Workspace

BATCH = 5000  # evaluation times of one rule computed by one query in a replay
ALERT_COLUMNS = (
    "rule",
    "kind",
    "severity",
    "group",
    "labels",
    "fired_at",
    "resolved_at",
    "peak_value",
    "threshold",
    "evaluations",
    "summary_en",
    "summary_zh",
    "fingerprint",
)


@dataclass
class _Group:
    """A rule × group whose condition holds: since when, and whether the rule fired."""

    labels: dict[str, str]
    since: datetime
    firing: bool = False


def as_utc(value: datetime) -> datetime:
    """A naive UTC datetime (an aware one is converted)."""
    if value.tzinfo is not None:
        return value.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    return value


def _rules(rules: RuleSet | Sequence[AnyRule]) -> tuple[AnyRule, ...]:
    found = tuple(rules.rules if isinstance(rules, RuleSet) else rules)
    names = [r.name for r in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ServqError(f"rule names must be unique: {', '.join(twice)}")
    return found


def _chunks(times: list[datetime], size: int) -> Iterator[list[datetime]]:
    for i in range(0, len(times), size):
        yield times[i : i + size]


class RuleEngine:
    """Evaluates rules over a workspace's warehouse, keeping each rule's alert state in memory.

    >>> engine = RuleEngine(ws, load_rules(Path("rules.yaml")))       # doctest: +SKIP
    >>> signals = engine.evaluate(datetime(2025, 3, 3, 9, 0))          # doctest: +SKIP
    """

    def __init__(
        self, workspace: Workspace, rules: RuleSet | Sequence[AnyRule], *, batch: int = BATCH
    ) -> None:
        self.workspace = workspace
        self.rules = _rules(rules)
        self.batch = batch
        self._metrics = MetricSource(workspace.warehouse, workspace.catalogue)
        self._folders = [workspace.path / riskwords.LIST_FOLDER]
        self._groups: dict[str, dict[tuple[tuple[str, str], ...], _Group]] = {
            r.name: {} for r in self.rules
        }
        self._last_run: dict[str, datetime] = {}
        self._owned = False

    @classmethod
    def for_workspace(
        cls, path: Path | str, rules: RuleSet | Sequence[AnyRule], *, batch: int = BATCH
    ) -> RuleEngine:
        """An engine over the workspace at ``path``, opened read-only when its warehouse exists;
        :meth:`close` closes it."""
        from servq.workspace import WAREHOUSE_FILE, Workspace

        root = Path(path)
        ws = Workspace(root, read_only=(root / WAREHOUSE_FILE).exists())
        engine = cls(ws, rules, batch=batch)
        engine._owned = True
        return engine

    def close(self) -> None:
        """Close the workspace if this engine opened it (:meth:`for_workspace`)."""
        if self._owned:
            self.workspace.close()

    @property
    def interval(self) -> timedelta:
        """How often to call :meth:`evaluate` so that every rule runs on its ``every``."""
        return default_step(self.rules)

    # -- public -----------------------------------------------------------------------------
    def evaluate(self, now: datetime) -> list[Signal]:
        """Evaluate the rules due at ``now`` (each rule every ``every``) and return signals."""
        now = as_utc(now)
        out: list[Signal] = []
        for rule in self.rules:
            if self._due(rule, now):
                out += self._run(rule, [now])
        return out

    def replay(self, times: Sequence[datetime]) -> list[Signal]:
        """Evaluate at each of ``times`` in order, each rule when due, exactly as successive
        :meth:`evaluate` calls would; the queries are batched. Signals in time order."""
        ordered = sorted(as_utc(t) for t in times)
        out: list[Signal] = []
        for rule in self.rules:
            due = [t for t in ordered if self._due(rule, t)]
            for chunk in _chunks(due, self.batch):
                out += self._run(rule, chunk)
        return sorted(out, key=lambda s: (s.at, s.rule))

    # -- internals --------------------------------------------------------------------------
    def _due(self, rule: AnyRule, now: datetime) -> bool:
        last = self._last_run.get(rule.name)
        if last is not None and now - last < rule.every:
            return False
        self._last_run[rule.name] = now
        return True

    def _spec(self, rule: AnyRule) -> MetricSpec | None:
        return self._metrics.spec(rule) if isinstance(rule, MetricRule) else None

    def _observe(self, rule: AnyRule, times: list[datetime]) -> dict[datetime, list[Observation]]:
        if isinstance(rule, RiskWordsRule):
            frame = observe_risk_words(self.workspace.warehouse, rule, times, self._folders)
        else:
            frame = observe_metric(self._metrics, rule, times)
        return to_observations(frame, rule.by)

    def _run(self, rule: AnyRule, times: list[datetime]) -> list[Signal]:
        seen = self._observe(rule, times)
        out: list[Signal] = []
        for t in times:
            out += self._step(rule, t, seen.get(t, []))
        return out

    def _step(self, rule: AnyRule, now: datetime, observed: list[Observation]) -> list[Signal]:
        """Advance one rule's state by one evaluation."""
        groups = self._groups[rule.name]
        by_key = {tuple(sorted(o.labels.items())): o for o in observed}
        out: list[Signal] = []
        for key, obs in by_key.items():
            if not obs.holds:
                continue
            group = groups.setdefault(key, _Group(obs.labels, now))
            if now - group.since >= rule.for_:
                group.firing = True
                out.append(self._signal(rule, group, now, obs, firing=True))
        for key in [k for k in groups if k not in by_key or not by_key[k].holds]:
            group = groups.pop(key)
            if group.firing:
                out.append(self._signal(rule, group, now, by_key.get(key), firing=False))
        return out

    def _signal(
        self, rule: AnyRule, group: _Group, now: datetime, obs: Observation | None, *, firing: bool
    ) -> Signal:
        spec = self._spec(rule)
        en, zh = summary(rule, spec, obs, firing, now - group.since, group.labels)
        details: dict[str, Any] = {
            "title_en": rule.title("en"),
            "title_zh": rule.title("zh"),
            "since": group.since.isoformat(),
            "window_seconds": rule.window.total_seconds(),
            **({"metric": spec.id, "unit": spec.unit} if spec else {}),
            **(obs.details if obs else {}),
        }
        return Signal(
            rule=rule.name,
            kind=rule.kind,
            labels={**group.labels, **rule.labels},
            firing=firing,
            at=now,
            severity=rule.severity,
            value=obs.value if obs else None,
            threshold=obs.threshold if obs else None,
            summary_en=en,
            summary_zh=zh,
            details=details,
        )


# -- backtest ---------------------------------------------------------------------------------


def _instant(value: date | datetime | str, *, end: bool) -> datetime:
    """A bound as a naive UTC datetime; a date is its midnight (an end date: the next one, so
    the day is included)."""
    if isinstance(value, str):
        value = (
            datetime.fromisoformat(value)
            if "T" in value or ":" in value
            else date.fromisoformat(value)
        )
    if isinstance(value, datetime):
        return as_utc(value)
    return datetime.combine(value + timedelta(days=1 if end else 0), datetime.min.time())


def default_step(rules: Sequence[AnyRule]) -> timedelta:
    """The evaluation grid of a replay: the greatest common divisor of the rules' ``every``."""
    seconds = 0
    for rule in rules:
        seconds = math.gcd(seconds, int(rule.every.total_seconds()))
    return timedelta(seconds=max(seconds, 1))


def evaluation_times(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """start, start + step, … before end."""
    if step <= timedelta(0):
        raise ServqError("the step must be longer than zero")
    count = max(0, math.ceil((end - start) / step))
    return [start + step * i for i in range(count)]


def _badness(rule: AnyRule, signal: Signal) -> float:
    """How bad a firing value is, larger is worse: the peak of an alert maximises it."""
    value = signal.value if signal.value is not None else float("nan")
    if isinstance(rule, ThresholdRule):
        return -value if rule.op in ("<", "<=") else value
    if isinstance(rule, AnomalyRule):
        z = signal.details.get("z")
        return abs(float(z)) if isinstance(z, int | float) else float("nan")
    change = getattr(rule, "change", 1.0)
    return -value if change < 0 else value


def alerts(signals: Sequence[Signal], rules: Sequence[AnyRule]) -> pd.DataFrame:
    """The alerts a stream of signals makes: one row from firing to clearing, per fingerprint."""
    by_name = {r.name: r for r in rules}
    open_: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for s in sorted(signals, key=lambda s: s.at):
        row = open_.get(s.fingerprint)
        if not s.firing:
            if row is not None:
                row["resolved_at"] = s.at
                del open_[s.fingerprint]
            continue
        if row is None:
            row = open_[s.fingerprint] = {
                "rule": s.rule,
                "kind": s.kind,
                "severity": s.severity,
                "group": labels_text(s.labels, "en"),
                "labels": dict(s.labels),
                "fired_at": s.at,
                "resolved_at": None,
                "peak_value": s.value,
                "threshold": s.threshold,
                "evaluations": 0,
                "summary_en": s.summary_en,
                "summary_zh": s.summary_zh,
                "fingerprint": s.fingerprint,
                "_peak": _badness(by_name[s.rule], s),
            }
            rows.append(row)
        row["evaluations"] += 1
        bad = _badness(by_name[s.rule], s)
        if bad > row["_peak"]:
            row["_peak"], row["peak_value"] = bad, s.value
    frame = pd.DataFrame(rows, columns=[*ALERT_COLUMNS, "_peak"]).drop(columns="_peak")
    frame["fired_at"] = pd.to_datetime(frame["fired_at"])
    frame["resolved_at"] = pd.to_datetime(frame["resolved_at"])
    return frame.sort_values(["fired_at", "rule", "group"], kind="stable").reset_index(drop=True)


def backtest(
    workspace: Workspace,
    rules: RuleSet | Sequence[AnyRule],
    start: date | datetime | str,
    end: date | datetime | str,
    step: timedelta | str | None = None,
) -> pd.DataFrame:
    """The alerts the rules would have raised between ``start`` and ``end`` (naive UTC; a date
    ``end`` includes that day), evaluating at every ``step`` (default: the rules' own
    ``every``) with a fresh :class:`RuleEngine`.

    One row per alert: rule, kind, severity, group (labels as text), labels, fired_at,
    resolved_at (NaT: still firing at ``end``), peak_value (the worst value while firing),
    threshold (when it fired), evaluations (how many firing evaluations), the summaries of its
    first firing evaluation and its fingerprint. ``attrs`` holds start, end and step.
    """
    chosen = _rules(rules)
    lo, hi = _instant(start, end=False), _instant(end, end=True)
    grid = default_step(chosen) if step is None else parse_span(step)
    signals = RuleEngine(workspace, chosen).replay(evaluation_times(lo, hi, grid))
    frame = alerts(signals, chosen)
    frame.attrs.update(start=lo, end=hi, step=grid)
    return frame
