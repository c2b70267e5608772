"""The committee pack: the month of the improvement loop on a few pages, for the quality
committee (质量管理委员会) meeting.

Owns: choosing and ordering what the committee reads — top problems by impact, problems nobody
has claimed, overdue plans, wins verified in the month, plans that did not work, the month's
suggestions — as the neutral sections of :mod:`servq.reports.render`, so the pack renders to
HTML and PDF like the service-quality report.

Impact: severity first (critical, high, medium, low), then the number of cases in the
problem's evidence, then age (older first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from servq.errors import ServqError
from servq.improve.model import OVERDUE_STATUSES
from servq.reports.render import Block, Cell, Section

SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1}
WORDS = {
    "title": ("Quality committee pack", "质量管理委员会月度材料"),
    "month": ("Month", "月份"),
    "generated": ("Generated", "生成时间"),
    "top": ("Top problems by impact", "影响最大的问题"),
    "unclaimed": ("Problems nobody has claimed", "无人认领的问题"),
    "overdue": ("Overdue plans", "逾期的整改计划"),
    "wins": ("Verified wins this month", "本月验证有效的改进"),
    "failed": ("Plans that did not work", "未见效的整改计划"),
    "suggestions": ("Suggestions of the month", "本月建议"),
    "revisits": ("Revisits of complainants", "投诉客户回访"),
    "satisfaction": ("Revisit satisfaction", "回访满意度"),
    "satisfied": ("Satisfied", "满意"),
    "not_satisfied": ("Not satisfied", "不满意"),
    "unreachable": ("Unreachable (not counted)", "未接通（不计入）"),
    "best": ("Best proposal of the month", "本月最佳建议"),
    "none": ("None.", "无。"),
    "id": ("Id", "编号"),
    "problem": ("Problem", "问题"),
    "plan": ("Plan", "整改计划"),
    "stage": ("Stage", "阶段"),
    "state": ("State", "状态"),
    "department": ("Department", "部门"),
    "owner": ("Owner", "负责人"),
    "severity": ("Severity", "严重程度"),
    "cases": ("Cases", "案件数"),
    "opened": ("Opened", "提出日期"),
    "claim_due": ("Claim due", "认领期限"),
    "escalated": ("Escalated", "已升级"),
    "tier": ("Tier", "级别"),
    "due": ("Due", "截止"),
    "days_over": ("Days overdue", "逾期天数"),
    "criterion": ("Criterion", "验收标准"),
    "before": ("Before", "改进前"),
    "after": ("After", "改进后"),
    "effect": ("Effect", "效果"),
    "title_col": ("Title", "标题"),
    "votes": ("Votes", "票数"),
    "status": ("Status", "状态"),
    "yes": ("yes", "是"),
}


def w(key: str, lang: str) -> str:
    en, zh = WORDS[key]
    return en if lang == "en" else zh


@dataclass(frozen=True)
class CommitteePack:
    title: str
    lang: str
    month: str
    fields: list[tuple[str, str]]
    sections: list[Section]


def _month(text: str) -> tuple[datetime, datetime]:
    try:
        first = datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise ServqError(
            f"month {text!r}: use YYYY-MM, e.g. 2026-03 / 月份格式应为 YYYY-MM"
        ) from None
    nxt = datetime(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, nxt


def _day(value: Any) -> str:
    if value is None:
        return ""
    return str(value)[:10]


def _in(value: Any, lo: datetime, hi: datetime) -> bool:
    if value is None:
        return False
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value)[:19])
    moment = moment.replace(tzinfo=None)
    return lo <= moment < hi


def _text(cells: list[Any]) -> list[Cell]:
    return [c if isinstance(c, Cell) else Cell(str(c if c is not None else "")) for c in cells]


def _number(value: Any, digits: int = 2) -> str:
    return "" if value is None else f"{float(value):,.{digits}f}"


def committee_pack(
    service: Any, loop: Any, month: str, *, lang: str = "zh", now: datetime | None = None
) -> CommitteePack:
    """The pack of ``month`` (``YYYY-MM``); ``now`` (naive UTC) decides what is overdue."""
    lo, hi = _month(month)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    problems = service.list_problems()
    plans = service.list_plans()
    titles = {p["id"]: p["title"] for p in problems}
    parts: list[Section] = []

    open_problems = [p for p in problems if p["state"] != "closed"]
    ranked = sorted(
        open_problems,
        key=lambda p: (
            -SEVERITY_RANK.get(p["severity"], 0),
            -len((p.get("evidence") or {}).get("cases") or []),
            str(p["opened_at"]),
        ),
    )[:10]
    parts.append(
        _section(
            "top",
            lang,
            ["id", "problem", "severity", "cases", "stage", "department", "opened"],
            [
                [
                    p["id"],
                    p["title"],
                    p["severity"],
                    len((p.get("evidence") or {}).get("cases") or []),
                    p["stage"],
                    p.get("department") or "",
                    _day(p["opened_at"]),
                ]
                for p in ranked
            ],
        )
    )
    unclaimed = [p for p in problems if p["state"] in ("open", "escalated")]
    parts.append(
        _section(
            "unclaimed",
            lang,
            ["id", "problem", "severity", "opened", "claim_due", "escalated"],
            [
                [
                    p["id"],
                    p["title"],
                    p["severity"],
                    _day(p["opened_at"]),
                    _day(p.get("claim_due_at")),
                    w("yes", lang) if p["state"] == "escalated" else "",
                ]
                for p in unclaimed
            ],
        )
    )
    overdue = []
    for plan in plans:
        due = plan.get("due_at")
        if due is None or plan["status"] not in OVERDUE_STATUSES:
            continue
        moment = due if isinstance(due, datetime) else datetime.fromisoformat(str(due)[:19])
        if moment.replace(tzinfo=None) < now:
            days = (now - moment.replace(tzinfo=None)).total_seconds() / 86400
            overdue.append((days, plan))
    overdue.sort(key=lambda t: -t[0])
    parts.append(
        _section(
            "overdue",
            lang,
            ["id", "plan", "problem", "tier", "department", "owner", "due", "days_over"],
            [
                [
                    p["id"],
                    p["title"],
                    titles.get(p["problem_id"], p["problem_id"]),
                    p["tier"],
                    p.get("department") or "",
                    p.get("owner") or "",
                    _day(p.get("due_at")),
                    f"{days:.1f}",
                ]
                for days, p in overdue
            ],
        )
    )
    for key, status in (("wins", "verified"), ("failed", "not_effective")):
        rows = []
        for plan in plans:
            verdict = plan.get("verdict") or {}
            if plan["status"] != status or not _in(verdict.get("checked_at"), lo, hi):
                continue
            for crit in verdict.get("criteria") or [{}]:
                rows.append(
                    [
                        plan["id"],
                        plan["title"],
                        plan.get("department") or "",
                        (crit.get("criterion") if lang == "en" else crit.get("criterion_zh"))
                        or crit.get("criterion")
                        or "",
                        _value(crit.get("before"), crit.get("unit"), lang),
                        _value(crit.get("after"), crit.get("unit"), lang),
                        _effect(crit),
                    ]
                )
        parts.append(
            _section(
                key,
                lang,
                ["id", "plan", "department", "criterion", "before", "after", "effect"],
                rows,
            )
        )
    sat = loop.revisit_satisfaction(start=lo, end=hi)
    rate = sat.get("percent")
    parts.append(
        _section(
            "revisits",
            lang,
            ["satisfaction", "satisfied", "not_satisfied", "unreachable"],
            [
                [
                    "" if rate is None else f"{float(rate):.1f}%",
                    sat.get("satisfied", 0),
                    sat.get("not_satisfied", 0),
                    sat.get("unreachable", 0),
                ]
            ]
            if sat.get("answered") or sat.get("unreachable")
            else [],
        )
    )
    suggestions = sorted(loop.list_suggestions(month=month), key=lambda s: -int(s["votes"]))
    best = loop.best_of_month(month)
    section = _section(
        "suggestions",
        lang,
        ["id", "title_col", "votes", "status"],
        [[s["id"], s["title"], s["votes"], s["status"]] for s in suggestions],
    )
    if best:
        section = Section(
            section.key,
            section.title,
            section.sheet,
            section.blocks,
            f"{w('best', lang)}: {best['id']} {best['title']} ({best['votes']})",
        )
    parts.append(section)
    fields = [
        (w("month", lang), month),
        (w("generated", lang), f"{now:%Y-%m-%d %H:%M} UTC"),
    ]
    return CommitteePack(f"{w('title', lang)} {month}", lang, month, fields, parts)


def _value(value: Any, unit: Any, lang: str) -> str:
    if value is None:
        return ""
    if unit == "seconds":
        return f"{float(value) / 3600:,.1f} {'h' if lang == 'en' else '小时'}"
    if unit == "percent":
        return f"{float(value):,.1f}%"
    return _number(value)


def _effect(crit: dict[str, Any]) -> str:
    effect = crit.get("effect")
    if effect is None:
        return ""
    if crit.get("effect_kind") == "relative":
        return f"{100 * float(effect):+.1f}%"
    return f"{float(effect):+.2f}"


def _section(key: str, lang: str, columns: list[str], rows: list[list[Any]]) -> Section:
    title = w(key, lang)
    if not rows:
        return Section(key, title, title[:31], [], w("none", lang))
    block = Block([w(c, lang) for c in columns], [_text(r) for r in rows])
    return Section(key, title, title[:31], [block])


def render_pack(pack: CommitteePack, fmt: str) -> bytes:
    """The pack as ``html`` or ``pdf`` bytes."""
    from servq.reports.render import document_html, document_pdf

    if fmt == "html":
        generated = f"{date.today():%Y-%m-%d}"
        return document_html(pack.title, pack.lang, pack.fields, pack.sections, generated).encode()
    if fmt == "pdf":
        return document_pdf(pack.title, pack.lang, pack.fields, pack.sections, pack.month)
    raise ServqError(f"format {fmt!r}: use html or pdf / 格式应为 html 或 pdf")
