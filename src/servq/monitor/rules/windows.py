"""The metric rule kinds over sliding windows: threshold, relative change, anomaly, spike.

Owns: turning a metric rule and a batch of evaluation times into observations, in one grouped
query per batch. A rule needs its current window ``[t − window, t)`` and, for a baseline,
earlier windows (:class:`Lag`):

- threshold: no baseline;
- relative_change: one week back (``same_hour_last_week``), one window back
  (``previous_window``), or each of the last ``days`` days (``trailing_mean``: their mean);
- anomaly: each week (``hour_of_week``) or day (``hour_of_day``) back over ``history``: the
  seasonal twins whose median and MAD give a robust z-score;
- volume_spike: the ``baseline`` span just before the current window: its count divided by
  the number of windows it spans is the usual count per window.

Every window of every time in the batch goes to the metric engine at once (``Request.windows``),
so a backtest of thousands of evaluations is a handful of queries. For a count (cases, calls,
answers) a group absent from a window counted zero there — unless the window began before the
source's first row, when it is unknown and left out of the baseline.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from servq.metrics.catalogue_registry import Catalogue
from servq.metrics.compute import MetricEngine, Request
from servq.metrics.model import MetricSpec
from servq.monitor.rules.model import (
    SEASON_PERIOD,
    VOLUME_METRICS,
    AnomalyRule,
    MetricRule,
    RelativeChangeRule,
    ThresholdRule,
    VolumeSpikeRule,
    direction,
    is_count,
)
from servq.monitor.rules.observation import label_values
from servq.warehouse.schema import TABLES
from servq.warehouse.store import Warehouse

Floats = npt.NDArray[np.float64]
OPS: dict[str, Callable[[Floats, float], npt.NDArray[np.bool_]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
MAD_SCALE = 1.4826  # MAD × this estimates the standard deviation of normal data
MEAN_AD_SCALE = 1.2533  # mean absolute deviation × this, when the MAD is zero


@dataclass
class Panel:
    """Per group and evaluation time: the current value, the shifted values, the volume."""

    keys: pd.DataFrame  # the `by` labels and `at`
    current: Floats
    history: Floats  # one column per baseline window
    volume: Floats


@dataclass
class MetricSource:
    """The warehouse and catalogue the metric rules read, with the first time of each source."""

    warehouse: Warehouse
    catalogue: Catalogue
    _starts: dict[tuple[str, str], pd.Timestamp | None] = field(default_factory=dict)

    def spec(self, rule: MetricRule) -> MetricSpec:
        return self.catalogue.get(rule.metric)

    def data_start(self, spec: MetricSpec) -> pd.Timestamp | None:
        """The earliest time of the metric's time column: windows before it are unknown."""
        key = (spec.source, spec.time)
        if key not in self._starts:
            if spec.time in TABLES[spec.source].column_names:
                t = self.warehouse.table(spec.source)
            else:
                from servq.metrics.facts import FACTS

                t = FACTS[spec.source](self.warehouse)
            first = t.aggregate(first=t[spec.time].min()).to_pandas()["first"].iloc[0]
            self._starts[key] = None if pd.isna(first) else pd.Timestamp(first)
        return self._starts[key]

    def panel(self, rule: MetricRule, times: Sequence[datetime]) -> Panel:
        """One query: the rule's metric in every window it needs at every time of the batch."""
        spec = self.spec(rule)
        needed = [Lag(timedelta(0), rule.window), *baselines(rule)]
        windows = sorted({lag.window(t) for t in times for lag in needed})
        volume = None if is_count(spec) or not rule.min_volume else VOLUME_METRICS[spec.source]
        req = Request(
            metrics=(spec.id, *([volume] if volume else [])),
            by=rule.by,
            windows=tuple(windows),
            where=rule.where or None,
            calendar=rule.calendar,
        )
        frame = label_values(MetricEngine(self.warehouse, self.catalogue).compute(req), rule.by)
        wide = _by_lag(frame, [*rule.by], rule.column(spec), needed, times)
        if is_count(spec):
            _zero_fill(wide, needed, self.data_start(spec))
        values = wide.to_numpy(dtype="float64")
        current = values[:, 0]
        if volume is None:
            vol = current if is_count(spec) else np.full(len(current), np.inf)
        else:
            counted = _by_lag(frame, [*rule.by], volume, needed[:1], times).reindex(wide.index)
            vol = np.nan_to_num(counted.to_numpy(dtype="float64")[:, 0], nan=0.0)
        keys = wide.index.to_frame(index=False)
        return Panel(keys=keys, current=current, history=values[:, 1:], volume=vol)


@dataclass(frozen=True)
class Lag:
    """A window relative to an evaluation time t: ``[t − offset − length, t − offset)``."""

    offset: timedelta
    length: timedelta

    def window(self, t: datetime) -> tuple[datetime, datetime]:
        return (t - self.offset - self.length, t - self.offset)


def baselines(rule: MetricRule) -> list[Lag]:
    """The windows a rule compares its current window with (none for a threshold)."""
    w = rule.window
    if isinstance(rule, RelativeChangeRule):
        if rule.baseline == "same_hour_last_week":
            return [Lag(timedelta(days=7), w)]
        if rule.baseline == "previous_window":
            return [Lag(w, w)]
        return [Lag(timedelta(days=k), w) for k in range(1, rule.days + 1)]
    if isinstance(rule, AnomalyRule):
        period = SEASON_PERIOD[rule.seasonality]
        return [Lag(period * k, w) for k in range(1, rule.twins() + 1)]
    if isinstance(rule, VolumeSpikeRule):
        return [Lag(w, rule.baseline)]  # the whole trailing span, before the current window
    return []


def _by_lag(
    frame: pd.DataFrame,
    by: list[str],
    col: str,
    lags: list[Lag],
    times: Sequence[datetime],
) -> pd.DataFrame:
    """Rows (by…, at), one column per lag: the value in that lag's window of ``at``."""
    wanted = pd.DatetimeIndex(pd.to_datetime(list(times))).astype("datetime64[ns]")
    ends = pd.to_datetime(frame["window_end"]).astype("datetime64[ns]")
    lengths = ends - pd.to_datetime(frame["window_start"]).astype("datetime64[ns]")
    values = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    parts = []
    for k, lag in enumerate(lags):
        at = ends + lag.offset
        keep = (lengths == lag.length) & at.isin(wanted)
        part = frame.loc[keep, by].assign(at=at[keep], lag=k, v=values[keep])
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    wide = long.set_index([*by, "at", "lag"])["v"].unstack("lag")
    return wide.reindex(columns=range(len(lags))).sort_index()


def _zero_fill(wide: pd.DataFrame, lags: list[Lag], start: pd.Timestamp | None) -> None:
    """A count absent from a window is zero there, if the source had begun by its start."""
    if start is None:
        return
    at = pd.DatetimeIndex(wide.index.get_level_values("at"))
    for k, lag in enumerate(lags):
        begun = (at - lag.offset - lag.length) >= start
        wide.loc[begun, k] = wide.loc[begun, k].fillna(0.0)


def _nanmedian(values: Floats) -> Floats:
    """Row medians ignoring NaN; a row of NaN only gives NaN, quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out: Floats = (
            np.nanmedian(values, axis=1) if values.shape[1] else np.full(len(values), np.nan)
        )
    return out


def _mean(history: Floats) -> Floats:
    known = ~np.isnan(history)
    n = known.sum(axis=1)
    total = np.where(known, history, 0.0).sum(axis=1)
    mean: Floats = np.divide(total, n, out=np.full(len(n), np.nan), where=n > 0)
    return mean


def _frame(panel: Panel, holds: npt.NDArray[np.bool_], threshold: Floats) -> pd.DataFrame:
    out = panel.keys.copy()
    out["value"] = panel.current
    out["threshold"] = threshold
    out["holds"] = holds & ~np.isnan(panel.current)
    return out


def threshold(rule: ThresholdRule, panel: Panel) -> pd.DataFrame:
    cur = panel.current
    with np.errstate(invalid="ignore"):
        holds = OPS[rule.op](cur, rule.value) & (panel.volume >= rule.min_volume)
    out = _frame(panel, holds, np.full(len(cur), rule.value))
    out["volume"] = panel.volume
    return out[~np.isnan(cur)]


def relative_change(rule: RelativeChangeRule, panel: Panel) -> pd.DataFrame:
    base = _mean(panel.history)
    cur = panel.current
    with np.errstate(invalid="ignore", divide="ignore"):
        change = np.where(base > 0, cur / base - 1.0, np.nan)
        moved = change >= rule.change if rule.change > 0 else change <= rule.change
    holds = moved & ~np.isnan(change) & (panel.volume >= rule.min_volume)
    out = _frame(panel, holds, base * (1.0 + rule.change))
    out["baseline"] = base
    out["change"] = change
    out["volume"] = panel.volume
    return out[~np.isnan(cur)]


def robust_scale(history: Floats, median: Floats, count: bool) -> Floats:
    """1.4826 × MAD; where that is zero, 1.2533 × the mean absolute deviation; for a count at
    least √median (Poisson noise), so three extra cases in a quiet hour are no anomaly."""
    dev = np.abs(history - median[:, None])
    with np.errstate(all="ignore"):
        mad = MAD_SCALE * _nanmedian(dev)
        scale = np.where(mad > 0, mad, MEAN_AD_SCALE * _mean(dev))
        if count:
            scale = np.maximum(scale, np.sqrt(np.maximum(median, 1.0)))
    return np.where(scale > 0, scale, np.nan)


def anomaly(rule: AnomalyRule, spec: MetricSpec, panel: Panel) -> pd.DataFrame:
    hist = panel.history
    enough = (~np.isnan(hist)).sum(axis=1) >= rule.min_history
    median = np.where(enough, _nanmedian(hist), np.nan)
    scale = robust_scale(hist, median, is_count(spec))
    cur = panel.current
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (cur - median) / scale
    way = direction(rule, spec)
    with np.errstate(invalid="ignore"):
        far = {"up": z > rule.z, "down": z < -rule.z, "both": np.abs(z) > rule.z}[way]
    holds = far & ~np.isnan(z) & (panel.volume >= rule.min_volume)
    side = np.where(cur < median, -1.0, 1.0) if way == "both" else (1.0 if way == "up" else -1.0)
    out = _frame(panel, holds, median + side * rule.z * scale)
    out["median"] = median
    out["scale"] = scale
    out["z"] = z
    out["volume"] = panel.volume
    return out[~np.isnan(cur)]


def volume_spike(rule: VolumeSpikeRule, panel: Panel) -> pd.DataFrame:
    base = panel.history[:, 0] * (rule.window / rule.baseline)  # the mean count per window
    cur = panel.current
    limit = np.maximum(rule.factor * base, rule.min_count)
    with np.errstate(invalid="ignore"):
        holds = (cur >= limit) & ~np.isnan(base)
    out = _frame(panel, holds, limit)
    out["baseline"] = base
    with np.errstate(invalid="ignore", divide="ignore"):
        out["ratio"] = np.where(base > 0, cur / base, np.nan)
    return out[~np.isnan(cur)]


def observe_metric(
    source: MetricSource, rule: MetricRule, times: Sequence[datetime]
) -> pd.DataFrame:
    """The observation frame of a metric rule at every time of a batch."""
    panel = source.panel(rule, times)
    if isinstance(rule, ThresholdRule):
        return threshold(rule, panel)
    if isinstance(rule, RelativeChangeRule):
        return relative_change(rule, panel)
    if isinstance(rule, AnomalyRule):
        return anomaly(rule, source.spec(rule), panel)
    if isinstance(rule, VolumeSpikeRule):
        return volume_spike(rule, panel)
    raise TypeError(f"not a metric rule kind: {rule.kind}")
