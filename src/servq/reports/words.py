"""Every word a report's reader sees, in Chinese and English, and how values are written.

Owns: the section titles, column headings, verdicts and units of the report in both languages
(:data:`WORDS`, picked with :func:`word`), and the one way numbers are shown in HTML, PDF and
e-mail (:func:`format_value`, :func:`format_change`). The Excel workbook stores the numbers
themselves (:func:`sheet_value`). No sentence a reader sees is written anywhere else.
"""

from __future__ import annotations

import math
from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

# key: (中文, English)
WORDS: dict[str, tuple[str, str]] = {
    "title": ("服务质量报告", "Service quality report"),
    "title_week": ("服务质量周报", "Weekly service quality report"),
    "title_month": ("服务质量月报", "Monthly service quality report"),
    "title_quarter": ("服务质量季报", "Quarterly service quality report"),
    "period": ("报告周期", "Period"),
    "previous": ("对比周期", "Compared with"),
    "scope": ("范围", "Scope"),
    "scope_all": ("全部", "Everything"),
    "timezone": ("时区", "Time zone"),
    "generated": ("生成时间", "Generated"),
    "report": ("报告", "Report"),
    # sections
    "kpis": ("关键指标", "Key indicators"),
    "movers": ("变化最大的团队与门店", "Biggest movers by team and site"),
    "movers_sheet": ("变化最大", "Movers"),
    "sla": ("SLA 达成情况（按团队）", "SLA attainment by team"),
    "sla_sheet": ("SLA", "SLA"),
    "alerts": ("本期告警", "Alerts in the period"),
    "alerts_sheet": ("告警", "Alerts"),
    "alerts_by_rule": ("按规则统计", "By rule"),
    "alerts_by_severity": ("按级别统计", "By severity"),
    "alerts_top": ("主要告警", "Top alerts"),
    "alerts_none": ("本期没有告警。", "No alerts in the period."),
    "alerts_no_store": (
        "未连接应用数据库，未包含告警。",
        "No application store: alerts not included.",
    ),
    "issues": ("客户反映的主要问题", "Top customer issues"),
    "issues_sheet": ("客户问题", "Issues"),
    "issues_none": (
        "本期没有可分析的客户评价文本。",
        "No customer comments to analyse in the period.",
    ),
    "movers_none": (
        "两个周期之间没有足够数据比较。",
        "Not enough data in both periods to compare.",
    ),
    "sla_none": ("本期没有设定时限的工单。", "No cases with a due time in the period."),
    "kpis_sheet": ("关键指标", "KPIs"),
    # columns
    "metric": ("指标", "Metric"),
    "value": ("本期", "This period"),
    "prev_value": ("上期", "Previous"),
    "change": ("变化", "Change"),
    "change_pct": ("变化率", "Change %"),
    "verdict": ("评价", "Verdict"),
    "unit": ("单位", "Unit"),
    "dimension": ("维度", "Dimension"),
    "dim_value": ("对象", "Who"),
    "sample": ("本期样本数", "Sample"),
    "team": ("团队", "Team"),
    "site": ("门店", "Site"),
    "agent": ("坐席", "Agent"),
    "channel": ("渠道", "Channel"),
    "cases_due": ("有时限工单", "Cases with a due time"),
    "met": ("按时解决", "Resolved by due"),
    "breached": ("超时", "Breached"),
    "open": ("未到期未解决", "Open, not yet due"),
    "attainment": ("达成率", "Attainment"),
    "total": ("合计", "Total"),
    "rule": ("规则", "Rule"),
    "severity": ("级别", "Severity"),
    "state": ("状态", "State"),
    "count": ("数量", "Count"),
    "labels": ("对象", "Labels"),
    "summary": ("说明", "Summary"),
    "since": ("开始时间", "Since"),
    "rank": ("排名", "Rank"),
    "issue": ("问题", "Issue"),
    "texts": ("提及评价数", "Comments"),
    "share": ("占比", "Share"),
    "example": ("示例（已脱敏）", "Example (masked)"),
    # verdicts
    "good": ("改善", "better"),
    "bad": ("恶化", "worse"),
    "flat": ("持平", "no change"),
    "neutral": ("—", "—"),
    "n/a": ("无数据", "no data"),
    # units
    "u_hours": ("小时", "h"),
    "u_pp": ("个百分点", "pp"),
    # severities and states (alerts)
    "critical": ("严重", "critical"),
    "warning": ("警告", "warning"),
    "info": ("提示", "info"),
    "firing": ("告警中", "firing"),
    "acknowledged": ("已确认", "acknowledged"),
    "resolved": ("已恢复", "resolved"),
    # derived KPI
    "sla_attainment": ("SLA 达成率（按时解决）", "SLA attainment (resolved by due time)"),
    # e-mail
    "mail_intro": (
        "附件为本期服务质量报告，主要指标如下：",
        "The service quality report for the period is attached. Key indicators:",
    ),
    "mail_attached": ("附件", "Attached"),
}


def word(key: str, lang: str) -> str:
    """The reader's word for ``key`` in ``lang`` (``zh`` or ``en``); the key itself if unknown."""
    pair = WORDS.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "zh" else pair[1]


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_value(value: float | None, unit: str, lang: str) -> str:
    """A metric value as people read it: durations in hours, percentages with ``%``."""
    if value is None or _missing(value):
        return "–"
    if unit == "seconds":
        return f"{value / 3600:.2f} {word('u_hours', lang)}"
    if unit == "percent":
        return f"{value:.1f}%"
    if unit in ("cases", "count", "calls"):
        return f"{value:,.0f}"
    if unit == "ratio":
        return f"{value:.3f}"
    return f"{value:.2f}"


def format_change(change: float | None, change_pct: float | None, unit: str, lang: str) -> str:
    """The change from the previous period: ``+0.52 h (+15.3%)``, ``-1.2 pp``, ``+12 (+9.8%)``."""
    if change is None or _missing(change):
        return "–"
    if unit == "seconds":
        text = f"{change / 3600:+.2f} {word('u_hours', lang)}"
    elif unit == "percent":
        text = f"{change:+.1f} {word('u_pp', lang)}"
    elif unit in ("cases", "count", "calls"):
        text = f"{change:+,.0f}"
    elif unit == "ratio":
        text = f"{change:+.3f}"
    else:
        text = f"{change:+.2f}"
    if unit != "percent" and change_pct is not None and not _missing(change_pct):
        text += f" ({change_pct:+.1f}%)"
    return text


def format_share(value: float | None) -> str:
    """A share 0..1 as a percentage: ``0.8125`` → ``81.3%``."""
    if value is None or _missing(value):
        return "–"
    return f"{100 * value:.1f}%"


def sheet_value(value: float | None, unit: str) -> tuple[float | None, str]:
    """A metric value as stored in a spreadsheet cell, with the cell's number format: hours
    for durations, a fraction shown as a percentage for percentages."""
    if value is None or _missing(value):
        return None, "General"
    if unit == "seconds":
        return value / 3600, "0.00"
    if unit == "percent":
        return value / 100, "0.0%"
    if unit in ("cases", "count", "calls"):
        return value, "#,##0"
    if unit == "ratio":
        return value, "0.000"
    return value, "0.00"


def unit_text(unit: str, lang: str) -> str:
    """The unit a spreadsheet column of this metric is in."""
    if unit == "seconds":
        return word("u_hours", lang)
    if unit == "percent":
        return "%"
    return {"cases": ("件", "cases"), "count": ("个", "count"), "calls": ("通", "calls")}.get(
        unit, ("分", "score") if unit == "score" else (unit, unit)
    )[0 if lang == "zh" else 1]
