"""The public results page's data: "you said, we did".

Owns: choosing what the public may read of the improvement loop. Verified plans with their
problem's title, the department, what was promised (the acceptance criteria in words) and the
numbers before and after; this month's suggestions with their votes. Never a person's name (no
owner, opener, voter or author), a case id, a customer's text, evidence or history; every title
is masked with :func:`servq.text.pii.mask` again on the way out, whatever was stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from servq.text.pii import mask


def _number(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def _criterion_public(verdict: dict[str, Any]) -> dict[str, Any]:
    return {
        "criterion_en": mask(str(verdict.get("criterion") or "")),
        "criterion_zh": mask(str(verdict.get("criterion_zh") or verdict.get("criterion") or "")),
        "metric": verdict.get("metric"),
        "unit": verdict.get("unit"),
        "before": _number(verdict.get("before")),
        "after": _number(verdict.get("after")),
        "effect": _number(verdict.get("effect")),
        "effect_kind": verdict.get("effect_kind"),
        "ci_low": _number(verdict.get("ci_low")),
        "ci_high": _number(verdict.get("ci_high")),
        "period": (verdict.get("period") or {}).get("label")
        if isinstance(verdict.get("period"), dict)
        else verdict.get("period"),
        "baseline": (verdict.get("baseline") or {}).get("label")
        if isinstance(verdict.get("baseline"), dict)
        else verdict.get("baseline"),
    }


def public_results(service: Any, loop: Any, *, month: str | None = None) -> dict[str, Any]:
    """Verified improvements and the month's suggestions, with no personal data."""
    from servq.improve.loop import public_suggestion

    wins = []
    for plan in service.list_plans(status="verified"):
        verdict = plan.get("verdict") or {}
        problem = service.get_problem(plan["problem_id"])
        wins.append(
            {
                "problem": mask(str(problem.get("title") or "")),
                "plan": mask(str(plan.get("title") or "")),
                "department": plan.get("department"),
                "verified_at": str(verdict.get("checked_at") or "")[:10],
                "criteria": [_criterion_public(v) for v in verdict.get("criteria") or []],
            }
        )
    month = month or datetime.now(UTC).strftime("%Y-%m")
    suggestions = [
        {**public_suggestion(s), "id": s["id"]} for s in loop.list_suggestions(month=month)
    ]
    best = loop.best_of_month(month)
    return {
        "wins": wins,
        "month": month,
        "suggestions": sorted(suggestions, key=lambda s: -s["votes"]),
        "best_of_month": {**public_suggestion(best), "id": best["id"]} if best else None,
    }
