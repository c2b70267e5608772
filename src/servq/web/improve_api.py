"""The improvement loop over HTTP: problems, claiming, 5-Why, plans, verification, revisits,
suggestions, standards, and the public results page's data.

Owns: the routes under ``/api/v1/improve`` (signed in) and ``/api/v1/public`` (no sign-in, no
personal data), and who may do what:

- reading: roles that see everything read every problem and plan; a department owner reads the
  problems still waiting to be claimed and those of their departments; agents read none;
- changing a problem or plan (claim, 5-Why, plans, status, verification, revisits, standards):
  :func:`servq.improve.service.can_edit` — admins and quality managers anywhere, a department
  owner only in their departments;
- suggestions: any signed-in user proposes and votes; customers do so on the public page.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from servq.auth import Principal
from servq.errors import ServqError
from servq.warehouse.store import utcnow
from servq.web.security import client_of, needs, reader

router = APIRouter(prefix="/api/v1")
Reader = Annotated[Principal, Depends(reader)]
AlertWriter = Annotated[Principal, Depends(needs("alerts_write"))]


def service_of(request: Request) -> Any:
    from servq.improve.service import ImprovementService

    return ImprovementService.for_workspace(request.app.state.store, request.app.state.path)


def loop_of(request: Request) -> Any:
    from servq.improve.loop import LoopService

    return LoopService(request.app.state.store)


def _may_read(principal: Principal, problem: dict[str, Any]) -> bool:
    if principal.can("read_all"):
        return True
    if principal.role == "department_owner":
        return problem.get("department") in principal.departments or problem.get("state") in (
            "open",
            "escalated",
        )
    return False


def _problem_for(request: Request, principal: Principal, problem_id: str) -> dict[str, Any]:
    from servq.improve.model import ImproveError

    try:
        problem: dict[str, Any] = service_of(request).get_problem(problem_id)
    except ImproveError:
        raise HTTPException(404, f"no problem {problem_id} / 没有问题 {problem_id}") from None
    if not _may_read(principal, problem):
        raise HTTPException(404, f"no problem {problem_id} / 没有问题 {problem_id}")
    return problem


def _check_edit(principal: Principal, department: str | None) -> None:
    from servq.improve.service import check_edit

    try:
        check_edit(principal, department)
    except ServqError as exc:
        raise HTTPException(403, str(exc)) from None


def _plan_for(request: Request, principal: Principal, plan_id: str) -> dict[str, Any]:
    from servq.improve.model import ImproveError

    try:
        plan: dict[str, Any] = service_of(request).get_plan(plan_id)
    except ImproveError:
        raise HTTPException(404, f"no plan {plan_id} / 没有整改计划 {plan_id}") from None
    if not principal.can("read_all") and plan.get("department") not in principal.departments:
        raise HTTPException(404, f"no plan {plan_id} / 没有整改计划 {plan_id}")
    return plan


# -- problems -------------------------------------------------------------------------------
@router.get("/improve/problems", operation_id="listProblems", tags=["improve"])
def list_problems(
    request: Request,
    principal: Reader,
    state: str | None = None,
    stage: str | None = None,
    department: str | None = None,
) -> dict[str, Any]:
    """Problems with where each stands in monitor → analyse → improve → verify."""
    if not principal.can("read_all") and principal.role != "department_owner":
        raise HTTPException(403, "your role does not see problems / 您的角色无权查看问题")
    found = service_of(request).list_problems(state=state, department=department, stage=stage)
    return {"problems": [p for p in found if _may_read(principal, p)]}


class NewProblem(BaseModel):
    title: str = Field(min_length=1)
    description: str = ""
    source: str = "manual"
    source_ref: str | None = None
    evidence: dict[str, Any] | None = None
    severity: str = "medium"
    department: str | None = None


@router.post("/improve/problems", operation_id="openProblem", tags=["improve"])
def open_problem(request: Request, principal: Reader, body: NewProblem) -> dict[str, Any]:
    """Open a problem by hand, from a metric view, a text insight, an audit or a suggestion,
    with its evidence (the metric query and its numbers, case ids, example texts)."""
    _check_edit(principal, body.department)
    problem: dict[str, Any] = service_of(request).open_problem(
        body.title,
        source=body.source,
        by=principal.username,
        description=body.description,
        source_ref=body.source_ref,
        evidence=body.evidence,
        severity=body.severity,
        department=body.department,
    )
    return {"problem": problem}


@router.post("/alerts/{alert_id}/problem", operation_id="openProblemFromAlert", tags=["improve"])
def problem_from_alert(request: Request, principal: AlertWriter, alert_id: int) -> dict[str, Any]:
    """Open (or find) the problem of an alert, with the alert as its evidence."""
    from servq.web.api import _alert_in_scope

    _, alert = _alert_in_scope(request, principal, alert_id)
    _check_edit(principal, alert.labels.get("team"))
    return {"problem": service_of(request).open_from_alert(alert, principal.username)}


@router.get("/improve/problems/{problem_id}", operation_id="getProblem", tags=["improve"])
def get_problem(request: Request, principal: Reader, problem_id: str) -> dict[str, Any]:
    """A problem with its evidence, 5-Why, plans, revisits and full history."""
    problem = _problem_for(request, principal, problem_id)
    problem["revisits"] = loop_of(request).list_revisits(problem_id=problem_id)
    problem["revisit_satisfaction"] = loop_of(request).revisit_satisfaction(problem_id=problem_id)
    return {"problem": problem}


class ClaimBody(BaseModel):
    department: str
    owner: str | None = None


@router.post("/improve/problems/{problem_id}/claim", operation_id="claimProblem", tags=["improve"])
def claim_problem(
    request: Request, principal: Reader, problem_id: str, body: ClaimBody
) -> dict[str, Any]:
    """A department takes a problem on (问题认领): a department owner for their own departments,
    a quality manager for any."""
    _problem_for(request, principal, problem_id)
    _check_edit(principal, body.department)
    owner = body.owner or principal.username
    return {
        "problem": service_of(request).claim(problem_id, body.department, owner, principal.username)
    }


class RetroBody(BaseModel):
    participants: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    conclusions: list[str] = []


@router.put("/improve/problems/{problem_id}/retro", operation_id="saveRetro", tags=["improve"])
def save_retro(
    request: Request, principal: Reader, problem_id: str, body: RetroBody
) -> dict[str, Any]:
    """The 5-Why record: participants, the why → because tree, root causes by layer (data,
    process, people), conclusions. Answers the problems still in it."""
    problem = _problem_for(request, principal, problem_id)
    _check_edit(principal, problem.get("department"))
    findings = service_of(request).save_retro(
        problem_id, body.participants, body.nodes, body.conclusions, principal.username
    )
    return {"findings": findings, "problem": service_of(request).get_problem(problem_id)}


class PlanBody(BaseModel):
    title: str = Field(min_length=1)
    tier: str = "normal"
    owner: str
    department: str | None = None
    due_at: datetime | None = None
    milestones: list[dict[str, Any]] = []
    acceptance: list[dict[str, Any] | str] = []


@router.post("/improve/problems/{problem_id}/plans", operation_id="addPlan", tags=["improve"])
def add_plan(
    request: Request, principal: Reader, problem_id: str, body: PlanBody
) -> dict[str, Any]:
    """A plan for a problem: urgent (due 48 hours after opening by default), normal, or long
    term with milestones; acceptance criteria are metric conditions checked from the data."""
    from servq.improve.verify import parse_criterion

    problem = _problem_for(request, principal, problem_id)
    department = body.department or problem.get("department")
    _check_edit(principal, department)
    criteria = []
    with request.app.state.pool.use() as ws:
        for raw in body.acceptance:
            criteria.append(parse_criterion(raw, catalogue=ws.catalogue).to_dict())
    plan = service_of(request).add_plan(
        problem_id,
        body.title,
        body.tier,
        body.owner,
        str(department or ""),
        principal.username,
        due_at=body.due_at,
        milestones=body.milestones,
        acceptance=criteria,
    )
    return {"plan": plan}


@router.get("/improve/plans", operation_id="listPlans", tags=["improve"])
def list_plans(
    request: Request,
    principal: Reader,
    status: str | None = None,
    department: str | None = None,
    tier: str | None = None,
) -> dict[str, Any]:
    """Plans, for the board by status."""
    if not principal.can("read_all") and principal.role != "department_owner":
        raise HTTPException(403, "your role does not see plans / 您的角色无权查看整改计划")
    found = service_of(request).list_plans(status=status, department=department, tier=tier)
    if not principal.can("read_all"):
        found = [p for p in found if p.get("department") in principal.departments]
    return {"plans": found}


class StatusBody(BaseModel):
    status: str
    note: str = ""


@router.post("/improve/plans/{plan_id}/status", operation_id="setPlanStatus", tags=["improve"])
def set_plan_status(
    request: Request, principal: Reader, plan_id: str, body: StatusBody
) -> dict[str, Any]:
    plan = _plan_for(request, principal, plan_id)
    _check_edit(principal, plan.get("department"))
    return {
        "plan": service_of(request).set_plan_status(
            plan_id, body.status, principal.username, body.note, admin=principal.role == "admin"
        )
    }


@router.post("/improve/plans/{plan_id}/verify", operation_id="verifyPlan", tags=["improve"])
def verify_plan(request: Request, principal: Reader, plan_id: str) -> dict[str, Any]:
    """Check every acceptance criterion of the plan from the data: before and after values,
    effect with its confidence interval, the test, a case-mix warning. The plan is verified
    when every criterion is met, not effective otherwise; pending while a period runs."""
    from servq.improve.verify import parse_criterion, verify

    plan = _plan_for(request, principal, plan_id)
    _check_edit(principal, plan.get("department"))
    if not plan.get("acceptance"):
        raise ServqError(
            f"plan {plan_id} has no acceptance criteria / 整改计划 {plan_id} 没有验收标准"
        )
    with request.app.state.pool.use() as ws:
        verdicts = [
            verify(ws, parse_criterion(c, catalogue=ws.catalogue)).as_dict()
            for c in plan["acceptance"]
        ]
    statuses = [v["status"] for v in verdicts]
    if any(s in ("pending", "insufficient_data") for s in statuses):
        return {"plan": plan, "verdicts": verdicts, "recorded": False}
    overall = {
        "status": "met" if all(s == "met" for s in statuses) else "not_met",
        "criteria": verdicts,
        "checked_at": utcnow().isoformat() + "Z",
    }
    recorded = service_of(request).record_verdict(plan_id, overall, principal.username)
    return {"plan": recorded, "verdicts": verdicts, "recorded": True}


# -- revisits, suggestions, standards -------------------------------------------------------
class RevisitBody(BaseModel):
    case_id: str
    due_at: datetime
    customer_ref: str | None = None
    assigned_to: str | None = None


@router.post("/improve/problems/{problem_id}/revisits", operation_id="addRevisit", tags=["improve"])
def add_revisit(
    request: Request, principal: Reader, problem_id: str, body: RevisitBody
) -> dict[str, Any]:
    problem = _problem_for(request, principal, problem_id)
    _check_edit(principal, problem.get("department"))
    return {
        "revisit": loop_of(request).add_revisit(
            problem_id,
            body.case_id,
            due_at=body.due_at,
            customer_ref=body.customer_ref,
            assigned_to=body.assigned_to,
            by=principal.username,
        )
    }


class OutcomeBody(BaseModel):
    outcome: str
    note: str = ""


@router.post("/improve/revisits/{revisit_id}", operation_id="recordRevisit", tags=["improve"])
def record_revisit(
    request: Request, principal: Reader, revisit_id: int, body: OutcomeBody
) -> dict[str, Any]:
    loop = loop_of(request)
    found = [r for r in loop.list_revisits() if r["id"] == revisit_id]
    if not found:
        raise HTTPException(404, f"no revisit {revisit_id} / 没有回访任务 {revisit_id}")
    problem = _problem_for(request, principal, str(found[0]["problem_id"]))
    _check_edit(principal, problem.get("department"))
    from servq.improve.loop import feed_revisit

    revisit = loop.record_revisit(revisit_id, body.outcome, by=principal.username, note=body.note)
    # answered revisits reach the warehouse as feedback: the revisit_satisfaction metric
    feed_revisit(request.app.state.store, revisit, department=problem.get("department"))
    return {"revisit": revisit}


class SuggestionBody(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=5000)
    department: str | None = None


@router.get("/improve/suggestions", operation_id="listSuggestions", tags=["improve"])
def list_suggestions(
    request: Request, principal: Reader, month: str | None = None, status: str | None = None
) -> dict[str, Any]:
    loop = loop_of(request)
    found = loop.list_suggestions(month=month, status=status)
    best = loop.best_of_month(month) if month else None
    return {"suggestions": found, "best_of_month": best}


@router.post("/improve/suggestions", operation_id="addSuggestion", tags=["improve"])
def add_suggestion(request: Request, principal: Reader, body: SuggestionBody) -> dict[str, Any]:
    return {
        "suggestion": loop_of(request).suggest(
            body.title,
            body.text,
            author_kind="staff",
            author=principal.username,
            department=body.department,
        )
    }


@router.post(
    "/improve/suggestions/{suggestion_id}/vote", operation_id="voteSuggestion", tags=["improve"]
)
def vote_suggestion(request: Request, principal: Reader, suggestion_id: str) -> dict[str, Any]:
    return {"votes": loop_of(request).vote(suggestion_id, principal.username)}


@router.post(
    "/improve/suggestions/{suggestion_id}/problem",
    operation_id="problemFromSuggestion",
    tags=["improve"],
)
def problem_from_suggestion(
    request: Request, principal: Reader, suggestion_id: str
) -> dict[str, Any]:
    """Turn a suggestion into a problem (quality managers and admins)."""
    _check_edit(principal, None)
    loop = loop_of(request)
    found = [s for s in loop.list_suggestions() if s["id"] == suggestion_id]
    if not found:
        raise HTTPException(404, f"no suggestion {suggestion_id} / 没有建议 {suggestion_id}")
    s = found[0]
    problem = service_of(request).open_problem(
        s["title"],
        source="suggestion",
        by=principal.username,
        description=s["text"],
        source_ref=suggestion_id,
        department=s.get("department"),
    )
    loop.set_suggestion_status(
        suggestion_id, "became_problem", by=principal.username, problem_id=problem["id"]
    )
    return {"problem": problem}


class SopBody(BaseModel):
    title: str = Field(min_length=1)
    body: str = Field(min_length=1)
    effective_date: date
    sop_id: str | None = None


@router.post("/improve/plans/{plan_id}/sop", operation_id="publishSop", tags=["improve"])
def publish_sop(request: Request, principal: Reader, plan_id: str, body: SopBody) -> dict[str, Any]:
    """Turn a verified plan into a versioned standard operating procedure."""
    plan = _plan_for(request, principal, plan_id)
    _check_edit(principal, plan.get("department"))
    if plan.get("status") != "verified":
        raise ServqError(
            f"plan {plan_id} is {plan.get('status')}: only a verified plan becomes a standard / "
            f"只有已验证的整改计划才能固化为标准"
        )
    return {
        "sop": loop_of(request).publish_sop(
            plan_id,
            body.title,
            body.body,
            body.effective_date,
            by=principal.username,
            sop_id=body.sop_id,
        )
    }


# -- public: no sign-in, no personal data -----------------------------------------------------
class _Limiter:
    """At most ``limit`` posts per client per hour (the public suggestion box)."""

    def __init__(self, limit: int = 10) -> None:
        self.limit = limit
        self.seen: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self.lock:
            q = self.seen.setdefault(client, deque())
            while q and now - q[0] > 3600:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            return True


_public_posts = _Limiter()


@router.get("/public/results", operation_id="publicResults", tags=["public"])
def public_results(request: Request) -> dict[str, Any]:
    """ "You said, we did": verified improvements with their before and after numbers, and the
    month's suggestions. No names, phone numbers, case ids or customer texts."""
    from servq.improve.public import public_results as build

    return build(service_of(request), loop_of(request))


class PublicSuggestion(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=2000)


@router.post("/public/suggestions", operation_id="publicSuggest", tags=["public"])
def public_suggest(request: Request, body: PublicSuggestion) -> dict[str, Any]:
    """A customer's suggestion (no sign-in; personal data masked before it is stored)."""
    from servq.improve.loop import public_suggestion

    if not _public_posts.allow(client_of(request)):
        raise HTTPException(429, "too many suggestions from here; try later / 提交过于频繁")
    row = loop_of(request).suggest(body.title, body.text, author_kind="customer")
    return {"suggestion": public_suggestion(row)}


@router.post("/public/suggestions/{suggestion_id}/vote", operation_id="publicVote", tags=["public"])
def public_vote(request: Request, suggestion_id: str) -> dict[str, Any]:
    from servq.improve.loop import customer_voter

    agent = request.headers.get("user-agent", "")
    token = hashlib.sha256(f"{client_of(request)}|{agent}".encode()).hexdigest()
    return {"votes": loop_of(request).vote(suggestion_id, customer_voter(token))}
