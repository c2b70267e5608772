"""The sentences people read about a rule's alert, in English and Chinese, with numbers and units.

Owns: formatting a value in a metric's unit (``1h05m`` / ``1小时5分钟``, ``12.5%``, ``42``), a
duration, a group's labels, and one sentence per rule kind for a condition that fires and for
one that has cleared. Nothing here computes; it only words what ``windows`` and ``text`` found.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from servq.metrics.model import MetricSpec
from servq.monitor.rules.model import (
    AnomalyRule,
    AnyRule,
    RelativeChangeRule,
    RiskWordsRule,
    ThresholdRule,
    VolumeSpikeRule,
    span_text,
)
from servq.monitor.rules.observation import Observation

Lang = Literal["en", "zh"]
_OP_WORDS = {
    ">": ("above", "高于"),
    ">=": ("at or above", "不低于"),
    "<": ("below", "低于"),
    "<=": ("at or below", "不高于"),
}
_BASELINES = {
    "same_hour_last_week": ("the same hours last week", "上周同一时段"),
    "previous_window": ("the previous {window}", "前{window}"),
    "trailing_mean": (
        "the mean of the same hours over the last {days} days",
        "过去{days}天同一时段的均值",
    ),
}
_SEASONS = {
    "hour_of_week": ("hour of the week", "每周同一时段"),
    "hour_of_day": ("hour of the day", "每天同一时段"),
}


def value_text(value: float | None, unit: str, lang: Lang) -> str:
    """A value in a metric's unit, for people."""
    if value is None or value != value:
        return "n/a" if lang == "en" else "无"
    if unit == "seconds":
        return span_text(value, lang)
    if unit == "percent":
        return f"{value:.1f}%"
    if unit in ("cases", "calls", "count"):
        return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    return f"{value:,.2f}"


def labels_text(labels: dict[str, str], lang: Lang) -> str:
    if not labels:
        return "all" if lang == "en" else "全部"
    return ", ".join(f"{k}={v}" for k, v in labels.items())


def _where(labels: dict[str, str], lang: Lang) -> str:
    """The group in a sentence: `` for team=b`` / ``team=b``; nothing for a rule without groups."""
    if not labels:
        return ""
    return f" for {labels_text(labels, 'en')}" if lang == "en" else labels_text(labels, "zh")


def _metric_name(rule: AnyRule, spec: MetricSpec | None, lang: Lang) -> str:
    if spec is None:
        return ""
    name = spec.name_zh if lang == "zh" else spec.name_en
    stat = getattr(rule, "statistic", None)
    return f"{name} {stat}" if stat else name


def _change(x: Any) -> str:
    return "n/a" if x is None else f"{x * 100:+.0f}%"


def _cleared(
    rule: AnyRule, spec: MetricSpec | None, value: float | None, labels: dict[str, str], lang: Lang
) -> str:
    """The sentence of a condition that no longer holds."""
    title, where = rule.title(lang), _where(labels, lang)
    win = span_text(rule.window.total_seconds(), lang)
    if value is None:
        if lang == "en":
            return f"{title}: cleared{where}: no data in the last {win}."
        return f"{title}：{where}已恢复：最近{win}无数据。"
    shown = value_text(value, spec.unit if spec else "count", lang)
    if lang == "en":
        name = _metric_name(rule, spec, lang) or "texts with risk words"
        return f"{title}: cleared{where}: {name} over the last {win} is {shown}."
    name = _metric_name(rule, spec, lang) or "含风险词的文本数"
    return f"{title}：{where}已恢复：最近{win}的{name}为{shown}。"


def summary(
    rule: AnyRule,
    spec: MetricSpec | None,
    obs: Observation | None,
    firing: bool,
    held: timedelta,
    labels: dict[str, str],
) -> tuple[str, str]:
    """``(summary_en, summary_zh)`` of a signal: a firing condition, or one that cleared
    (``obs`` is then the group's latest observation, if it still has data)."""
    if not firing or obs is None:
        value = obs.value if obs else None
        return _cleared(rule, spec, value, labels, "en"), _cleared(rule, spec, value, labels, "zh")
    return (
        _firing(rule, spec, obs, held, labels, "en"),
        _firing(rule, spec, obs, held, labels, "zh"),
    )


def _firing(
    rule: AnyRule,
    spec: MetricSpec | None,
    obs: Observation,
    held: timedelta,
    labels: dict[str, str],
    lang: Lang,
) -> str:
    en = lang == "en"
    unit = spec.unit if spec else "count"
    head = f"{rule.title(lang)}: " if en else f"{rule.title(lang)}："
    where = _where(labels, lang)
    win = span_text(rule.window.total_seconds(), lang)
    name = _metric_name(rule, spec, lang)
    value = value_text(obs.value, unit, lang)
    limit = value_text(obs.threshold, unit, lang)
    d = obs.details
    if isinstance(rule, ThresholdRule):
        op_en, op_zh = _OP_WORDS[rule.op]
        lasted = span_text(held.total_seconds(), lang) if held else ""
        if en:
            since = f" for {lasted}" if lasted else ""
            return f"{head}{name}{where} over the last {win} is {value}, {op_en} {limit}{since}."
        since = f"，已持续{lasted}" if lasted else ""
        return f"{head}{where}最近{win}的{name}为{value}，{op_zh}{limit}{since}。"
    if isinstance(rule, RelativeChangeRule):
        base_en, base_zh = _BASELINES[rule.baseline]
        base = (base_en if en else base_zh).format(window=win, days=rule.days)
        was = value_text(d.get("baseline"), unit, lang)
        moved, limit = _change(d.get("change")), _change(rule.change)
        if en:
            return (
                f"{head}{name}{where} over the last {win} is {value}, {moved} "
                f"against {base} ({was}); the rule fires at {limit}."
            )
        return (
            f"{head}{where}最近{win}的{name}为{value}，较{base}（{was}）变化{moved}，"
            f"规则阈值{limit}。"
        )
    if isinstance(rule, AnomalyRule):
        season_en, season_zh = _SEASONS[rule.seasonality]
        usual = value_text(d.get("median"), unit, lang)
        z = d.get("z")
        z_text = "n/a" if z is None else f"{z:+.1f}"
        if en:
            return (
                f"{head}{name}{where} over the last {win} is {value}; the same {season_en} "
                f"usually sees {usual} (robust z {z_text}, limit {rule.z:g})."
            )
        return (
            f"{head}{where}最近{win}的{name}为{value}，历史{season_zh}通常为{usual}"
            f"（稳健z值{z_text}，阈值{rule.z:g}）。"
        )
    if isinstance(rule, VolumeSpikeRule):
        base = value_text(d.get("baseline"), unit, lang)
        ratio = d.get("ratio")
        times = "n/a" if ratio is None else f"{ratio:.1f}"
        span = span_text(rule.baseline.total_seconds(), lang)
        if en:
            return (
                f"{head}{name}{where} in the last {win} is {value}, {times}× the usual "
                f"{base} per {win} over the previous {span}."
            )
        return (
            f"{head}{where}最近{win}的{name}为{value}，"
            f"是前{span}每{win}平均值（{base}）的{times}倍。"
        )
    assert isinstance(rule, RiskWordsRule)
    words = d.get("words") or {}
    found = ("、" if not en else ", ").join(f"{w} ×{n}" for w, n in words.items())
    if en:
        texts = "text" if obs.value == 1 else "texts"
        verb = "mentions" if obs.value == 1 else "mention"
        return f"{head}{value} {texts}{where} in the last {win} {verb} risk words: {found}."
    return f"{head}{where}最近{win}有{value}条文本出现风险词：{found}。"
