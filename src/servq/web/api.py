"""The HTTP API under ``/api/v1`` for the dashboard and for machines.

Owns: the routes (each with a stable ``operation_id``, listed in ``/openapi.json``), the
permission each needs, and turning answers into JSON, CSV or Excel. Every data route applies the
caller's scope (``Principal.scope``): a department owner's numbers, cases, alerts and texts are
their departments' only, an agent's their own. Errors are ``{"error": message}`` with the HTTP
status saying what kind (400 bad request, 401 not signed in, 403 not allowed, 404 unknown).

Event intake (``POST /api/v1/events``) is in :mod:`servq.api.app`; it needs the ``ingest``
permission like file uploads here.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from servq.auth import LoginFailed, Principal, RateLimited
from servq.errors import ServqError
from servq.warehouse.store import utcnow
from servq.web import queries as q
from servq.web.security import (
    clear_session_cookie,
    client_of,
    identify,
    needs,
    reader,
    set_session_cookie,
    users_of,
)
from servq.web.warehouse import WarehousePool

router = APIRouter(prefix="/api/v1")
log = logging.getLogger(__name__)
Reader = Annotated[Principal, Depends(reader)]
Exporter = Annotated[Principal, Depends(needs("export"))]
AlertWriter = Annotated[Principal, Depends(needs("alerts_write"))]
Ingester = Annotated[Principal, Depends(needs("ingest"))]
AllReader = Annotated[Principal, Depends(needs("read_all"))]
EXCEL_ROWS = 1_048_575


def pool_of(request: Request) -> WarehousePool:
    pool: WarehousePool = request.app.state.pool
    return pool


def tz_of(request: Request) -> str:
    dashboard: q.Dashboard = request.app.state.dashboard
    return dashboard.timezone


def _scope_key(p: Principal) -> str:
    return json.dumps(p.scope(), sort_keys=True, ensure_ascii=False)


def _where(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServqError(f"where must be a JSON object / where 须为 JSON 对象: {exc}") from None
    if not isinstance(value, dict):
        raise ServqError("where must be a JSON object / where 须为 JSON 对象")
    return value


# -- session --------------------------------------------------------------------------------
class LoginBody(BaseModel):
    username: str
    password: str


@router.post("/auth/login", operation_id="login", tags=["auth"])
def login(request: Request, body: LoginBody) -> JSONResponse:
    """Sign in with a user name and password; sets the session cookie, returns the CSRF token
    to send as ``X-CSRF-Token`` on every later POST/PUT/DELETE."""
    users = users_of(request)
    try:
        principal, token, csrf = users.login(
            body.username, body.password, client=client_of(request)
        )
    except RateLimited as exc:
        return JSONResponse(
            {"error": str(exc), "retry_after": exc.retry_after},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    except LoginFailed as exc:
        return JSONResponse({"error": str(exc)}, status_code=401)
    response = JSONResponse({"user": principal.as_dict(), "csrf_token": csrf})
    set_session_cookie(response, token)
    return response


@router.post("/auth/logout", operation_id="logout", tags=["auth"])
def logout(request: Request, principal: Reader) -> JSONResponse:
    from servq.web.security import SESSION_COOKIE

    token = request.cookies.get(SESSION_COOKIE)
    if token:
        users_of(request).logout(token)
    response = JSONResponse({"signed_out": principal.username})
    clear_session_cookie(response)
    return response


@router.get("/me", operation_id="getMe", tags=["auth"])
def me(request: Request, principal: Reader) -> dict[str, Any]:
    identity = identify(request)
    csrf = identity[1] if identity else None
    return {"user": principal.as_dict(), "scope": principal.scope(), "csrf_token": csrf}


# -- users (admins) ---------------------------------------------------------------------------
UserAdmin = Annotated[Principal, Depends(needs("users_admin"))]


class NewUser(BaseModel):
    username: str
    password: str
    role: str
    display_name: str | None = None
    departments: list[str] = []
    agent: str | None = None
    lang: str = "zh"


class UserChange(BaseModel):
    role: str | None = None
    departments: list[str] | None = None
    agent: str | None = None
    display_name: str | None = None
    lang: str | None = None
    active: bool | None = None
    password: str | None = None


class TokenBody(BaseModel):
    name: str = Field(min_length=1)


@router.get("/users", operation_id="listUsers", tags=["users"])
def list_users(request: Request, principal: UserAdmin) -> dict[str, Any]:
    return {"users": users_of(request).list_users()}


@router.post("/users", operation_id="createUser", tags=["users"])
def create_user(request: Request, principal: UserAdmin, body: NewUser) -> dict[str, Any]:
    user = users_of(request).create_user(
        body.username,
        body.password,
        body.role,
        display_name=body.display_name,
        departments=tuple(body.departments),
        agent=body.agent,
        lang=body.lang,
    )
    return {"user": user.as_dict()}


@router.patch("/users/{username}", operation_id="updateUser", tags=["users"])
def update_user(
    request: Request, principal: UserAdmin, username: str, body: UserChange
) -> dict[str, Any]:
    users = users_of(request)
    if users.get(username) is None:
        raise HTTPException(404, f"no user {username} / 没有用户 {username}")
    if body.password is not None:
        users.set_password(username, body.password)
    user = users.update_user(
        username,
        role=body.role,
        departments=None if body.departments is None else tuple(body.departments),
        agent=body.agent,
        display_name=body.display_name,
        lang=body.lang,
        active=body.active,
    )
    return {"user": user.as_dict()}


@router.get("/tokens", operation_id="listTokens", tags=["users"])
def list_tokens(
    request: Request, principal: UserAdmin, username: str | None = None
) -> dict[str, Any]:
    return {"tokens": users_of(request).list_tokens(username)}


@router.post("/users/{username}/tokens", operation_id="issueToken", tags=["users"])
def issue_token(
    request: Request, principal: UserAdmin, username: str, body: TokenBody
) -> dict[str, Any]:
    """A new API token for ``username``; the token is in this answer only."""
    return {"token": users_of(request).issue_token(username, body.name)}


@router.delete("/tokens/{token_id}", operation_id="revokeToken", tags=["users"])
def revoke_token(request: Request, principal: UserAdmin, token_id: int) -> dict[str, Any]:
    users_of(request).revoke_token(token_id)
    return {"revoked": token_id}


# -- metrics --------------------------------------------------------------------------------
@router.get("/metrics", operation_id="listMetrics", tags=["metrics"])
def list_metrics(request: Request, principal: Reader) -> dict[str, Any]:
    """The metric catalogue: ids, names in both languages, units, directions, dimensions."""
    return {"metrics": pool_of(request).cached(("catalogue",), q.catalogue)}


class ComputeBody(BaseModel):
    metrics: list[str] = Field(min_length=1)
    by: list[str] = []
    grain: str | None = None
    start: str | None = None
    end: str | None = None
    where: dict[str, Any] = {}
    calendar: str | None = None
    timezone: str | None = None


@router.post("/metrics/compute", operation_id="computeMetrics", tags=["metrics"])
def compute_metrics(request: Request, principal: Reader, body: ComputeBody) -> dict[str, Any]:
    """Compute metrics by dimensions and a time grain, with filters; the caller's scope is
    added to the filters. Dates are local days in ``timezone``, both inclusive."""
    tz = body.timezone or tz_of(request)
    scope = principal.scope()
    key = ("compute", body.model_dump_json(), tz, _scope_key(principal))

    def run(ws: Any) -> dict[str, Any]:
        df = q.compute(
            ws,
            scope,
            body.metrics,
            by=body.by,
            grain=body.grain,
            start=body.start,
            end=body.end,
            where=body.where,
            calendar=body.calendar,
            timezone=tz,
        )
        return {"timezone": tz, **q.frame_json(df)}

    return pool_of(request).cached(key, run)


@router.get("/metrics/{metric_id}/rows", operation_id="exportMetricRows", tags=["metrics"])
def metric_rows(
    request: Request,
    principal: Exporter,
    metric_id: str,
    start: str | None = None,
    end: str | None = None,
    where: Annotated[str | None, Query(description="JSON filter object")] = None,
    format: Annotated[str, Query(pattern="^(csv|xlsx|json)$")] = "csv",
    limit: Annotated[int, Query(ge=1, le=q.MAX_ROWS)] = q.MAX_ROWS,
) -> Response:
    """The rows behind a metric view (row-level export), as CSV (UTF-8 with BOM, opens in
    Excel), Excel or JSON."""
    tz = tz_of(request)
    filters = _where(where)
    with pool_of(request).use() as ws:
        df = q.metric_rows(
            ws,
            principal.scope(),
            metric_id,
            start=start,
            end=end,
            where=filters,
            timezone=tz,
            limit=limit,
        )
    return _table_response(df, format, f"{metric_id}-rows", tz)


# -- overview, cases, SLA ---------------------------------------------------------------------
@router.get("/overview", operation_id="getOverview", tags=["dashboard"])
def get_overview(
    request: Request,
    principal: Reader,
    grain: Annotated[str, Query(pattern="^(day|week|month)$")] = "week",
    periods: Annotated[int, Query(ge=2, le=60)] = 12,
) -> dict[str, Any]:
    """KPI cards against targets with change and trend, open alerts, SLA at risk."""
    dashboard: q.Dashboard = request.app.state.dashboard
    scope = principal.scope()
    body = pool_of(request).cached(
        ("overview", grain, periods, _scope_key(principal)),
        lambda ws: q.overview(ws, scope, dashboard, grain=grain, periods=periods),
        stale_ok=True,
    )
    board = pool_of(request).cached(
        ("sla", _scope_key(principal)),
        lambda ws: q.sla_board(ws, scope, timezone=dashboard.timezone),
        stale_ok=True,
    )
    alerts = _alerts_for(request, principal, "open", None, 500)
    return {
        **body,
        "sla": board["counts"],
        "alerts": {"open": len(alerts), "latest": alerts[:8]},
    }


def warm_cache(pool: WarehousePool, dashboard: q.Dashboard) -> None:
    """Build the case facts and compute the unscoped overview and SLA board ahead of the first
    visitor (at start; the answers stay until data arrives). Scoped users' views are computed
    when first asked."""
    everything = json.dumps({}, sort_keys=True, ensure_ascii=False)
    try:
        # the case facts every metric reads, kept in the warehouse for all connections
        with pool.use() as ws:
            ws.refresh_facts()
        pool.cached(
            ("overview", "week", 12, everything),
            lambda ws: q.overview(ws, {}, dashboard, grain="week", periods=12),
        )
        pool.cached(
            ("sla", everything), lambda ws: q.sla_board(ws, {}, timezone=dashboard.timezone)
        )
    except Exception:  # an empty or busy warehouse: the first visitor computes it
        log.debug("warming the overview failed", exc_info=True)


@dataclass
class CaseQuery:
    """The filters of the case list and its export (comma-separated values mean any of them;
    ``start``/``end`` are local creation dates, both inclusive)."""

    team: str | None = None
    agent: str | None = None
    site: str | None = None
    status: str | None = None
    priority: str | None = None
    channel: str | None = None
    category: str | None = None
    start: str | None = None
    end: str | None = None
    q: Annotated[str | None, Query(description="text in the subject or id")] = None

    def filters(self) -> dict[str, list[str]]:
        names = ("team", "agent", "site", "status", "priority", "channel", "category")
        return {n: v.split(",") for n in names if (v := getattr(self, n))}

    def run(
        self, ws: Any, principal: Principal, tz: str, limit: int, offset: int = 0
    ) -> tuple[pd.DataFrame, int]:
        return q.cases(
            ws,
            principal.scope(),
            self.filters(),
            start=self.start,
            end=self.end,
            search=self.q,
            timezone=tz,
            limit=limit,
            offset=offset,
        )


Cases = Annotated[CaseQuery, Depends()]


@router.get("/cases", operation_id="listCases", tags=["cases"])
def list_cases(
    request: Request,
    principal: Reader,
    query: Cases,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Cases, newest first, with the total that match."""
    tz = tz_of(request)

    def run(ws: Any) -> dict[str, Any]:
        df, total = query.run(ws, principal, tz, limit, offset)
        for col in ("created_at", "first_reply_at", "resolved_at", "due_at"):
            df[col] = [q.local(v, tz) for v in df[col]]
        return {"total": total, "offset": offset, **q.frame_json(df)}

    key = ("cases", json.dumps(asdict(query), sort_keys=True), limit, offset)
    return pool_of(request).cached((*key, _scope_key(principal)), run)


@router.get("/cases/export", operation_id="exportCases", tags=["cases"])
def export_cases(
    request: Request,
    principal: Exporter,
    query: Cases,
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv",
) -> Response:
    """Every matching case, row by row, as CSV or Excel."""
    tz = tz_of(request)
    with pool_of(request).use() as ws:
        df, _ = query.run(ws, principal, tz, q.MAX_ROWS)
    return _table_response(df, format, "cases", tz)


@router.get("/sla/board", operation_id="getSlaBoard", tags=["sla"])
def sla_board(
    request: Request,
    principal: Reader,
    risk_hours: Annotated[float, Query(gt=0, le=720)] = 4.0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    """Open cases by time left: breached, at risk, on track; paused ones apart."""
    tz = tz_of(request)
    scope = principal.scope()
    return pool_of(request).cached(
        ("sla-board", risk_hours, limit, _scope_key(principal)),
        lambda ws: q.sla_board(ws, scope, timezone=tz, risk_hours=risk_hours, limit=limit),
    )


# -- alerts ---------------------------------------------------------------------------------
def _manager(request: Request) -> Any:
    from servq.monitor.alerts import AlertManager, AlertPolicy

    return AlertManager(request.app.state.store, AlertPolicy.for_workspace(request.app.state.path))


def _visible(principal: Principal, labels: dict[str, str]) -> bool:
    return all(labels.get(column) in allowed for column, allowed in principal.scope().items())


def _alerts_for(
    request: Request, principal: Principal, state: str | None, rule: str | None, limit: int
) -> list[dict[str, Any]]:
    manager = _manager(request)
    wanted = limit if not principal.scope() else None
    found = manager.list(state=state, rule=rule, limit=wanted, now=utcnow())
    return [a.as_dict() for a in found if _visible(principal, a.labels)][:limit]


@router.get("/alerts", operation_id="listAlerts", tags=["alerts"])
def list_alerts(
    request: Request,
    principal: Reader,
    state: Annotated[str, Query(pattern="^(open|firing|acknowledged|resolved|all)$")] = "open",
    rule: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> dict[str, Any]:
    """Alerts, newest first: ``open`` (firing or acknowledged), one state, or ``all``."""
    return {
        "alerts": _alerts_for(request, principal, None if state == "all" else state, rule, limit)
    }


def _alert_in_scope(request: Request, principal: Principal, alert_id: int) -> Any:
    from servq.monitor.alerts import AlertError

    manager = _manager(request)
    try:
        alert = manager.get(alert_id, now=utcnow())
    except AlertError:
        raise HTTPException(404, f"no alert {alert_id} / 没有告警 {alert_id}") from None
    if not _visible(principal, alert.labels):
        raise HTTPException(404, f"no alert {alert_id} / 没有告警 {alert_id}")
    return manager, alert


@router.get("/alerts/{alert_id}", operation_id="getAlert", tags=["alerts"])
def get_alert(request: Request, principal: Reader, alert_id: int) -> dict[str, Any]:
    """One alert with its full history (who changed what, when)."""
    manager, alert = _alert_in_scope(request, principal, alert_id)
    return {
        "alert": alert.as_dict(),
        "history": [t.as_dict() for t in manager.transitions(alert_id)],
    }


class NoteBody(BaseModel):
    note: str = ""


@router.post("/alerts/{alert_id}/ack", operation_id="acknowledgeAlert", tags=["alerts"])
def acknowledge_alert(
    request: Request, principal: AlertWriter, alert_id: int, body: NoteBody | None = None
) -> dict[str, Any]:
    manager, _ = _alert_in_scope(request, principal, alert_id)
    alert = manager.ack(alert_id, principal.username, utcnow(), note=(body.note if body else ""))
    return {"alert": alert.as_dict()}


@router.post("/alerts/{alert_id}/resolve", operation_id="resolveAlert", tags=["alerts"])
def resolve_alert(
    request: Request, principal: AlertWriter, alert_id: int, body: NoteBody | None = None
) -> dict[str, Any]:
    manager, _ = _alert_in_scope(request, principal, alert_id)
    alert = manager.resolve(
        alert_id, principal.username, utcnow(), note=(body.note if body else "")
    )
    return {"alert": alert.as_dict()}


class SilenceBody(BaseModel):
    matchers: dict[str, str] = Field(min_length=1)
    duration: str = Field(description="how long: 30m, 4h, 1h30m, 2d")
    reason: str = ""


@router.get("/silences", operation_id="listSilences", tags=["alerts"])
def list_silences(request: Request, principal: Reader, active: bool = True) -> dict[str, Any]:
    now = utcnow()
    found = _manager(request).silences(now if active else None)
    return {"silences": [s.as_dict() for s in found if _visible(principal, s.matchers)]}


@router.post("/silences", operation_id="createSilence", tags=["alerts"])
def create_silence(request: Request, principal: AlertWriter, body: SilenceBody) -> dict[str, Any]:
    """Mute notices of alerts matching every label from now for ``duration``. A scoped user's
    silence must name one of their departments (or themselves)."""
    from servq.monitor.alerts.policy import parse_span

    for column, allowed in principal.scope().items():
        if body.matchers.get(column) not in allowed:
            raise HTTPException(
                403,
                f"a silence must match your {column} ({', '.join(allowed)}) / "
                f"静默条件须限定为您的 {column}（{', '.join(allowed)}）",
            )
    try:
        span = parse_span(body.duration)
    except ValueError as exc:
        raise ServqError(f"duration {body.duration!r}: {exc}") from None
    now = utcnow()
    silence_id = _manager(request).silence(
        body.matchers, now + span, principal.username, now, reason=body.reason
    )
    return {"silence_id": silence_id}


@router.delete("/silences/{silence_id}", operation_id="deleteSilence", tags=["alerts"])
def delete_silence(request: Request, principal: AlertWriter, silence_id: int) -> dict[str, Any]:
    manager = _manager(request)
    mine = [s for s in manager.silences() if s.id == silence_id]
    if not mine or not _visible(principal, mine[0].matchers):
        raise HTTPException(404, f"no silence {silence_id} / 没有静默 {silence_id}")
    return {"silence": manager.unsilence(silence_id, principal.username, utcnow()).as_dict()}


# -- text -----------------------------------------------------------------------------------
@router.get("/text/insights", operation_id="getTextInsights", tags=["text"])
def text_insights(
    request: Request,
    principal: Reader,
    start: str | None = None,
    end: str | None = None,
    top: Annotated[int, Query(ge=1, le=30)] = 8,
) -> dict[str, Any]:
    """Sentiment trend by week, top issues with example texts (personal data masked at load),
    and risk hits."""
    tz = tz_of(request)
    scope = principal.scope()
    return pool_of(request).cached(
        ("voc", start, end, top, _scope_key(principal)),
        lambda ws: q.voc(ws, scope, start=start, end=end, timezone=tz, top=top),
    )


# -- ingest and quarantine ------------------------------------------------------------------
@router.get("/ingest/batches", operation_id="listBatches", tags=["data"])
def list_batches(
    request: Request, principal: AllReader, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """Load batches, newest first: what was read, loaded, updated, quarantined."""
    with pool_of(request).use() as ws:
        df = ws.warehouse.con.execute(
            "SELECT batch_id, source, profile, target, format, started_at, finished_at, read, "
            "loaded, updated, duplicates, quarantined, flagged, replay_of FROM ingest_batch "
            "ORDER BY started_at DESC LIMIT ?",
            [limit],
        ).df()
    tz = tz_of(request)
    for col in ("started_at", "finished_at"):
        df[col] = [q.local(v, tz) for v in df[col]]
    return q.frame_json(df)


@router.post("/ingest", operation_id="ingestFile", tags=["data"])
async def ingest_file(
    request: Request,
    principal: Ingester,
    file: Annotated[UploadFile, File(description="CSV, Excel, JSON/JSONL, Parquet or XES")],
    profile: Annotated[str, Form(description="mapping profile name")],
) -> dict[str, Any]:
    """Load one uploaded file with a mapping profile; bad rows go to the quarantine."""
    name = Path(file.filename or "upload.csv").name
    folder = Path(request.app.state.path) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        target = Path(tmp) / name
        with target.open("wb") as out:
            while chunk := await file.read(1 << 20):
                out.write(chunk)

        def load() -> dict[str, Any]:
            with pool_of(request).use() as ws:
                result: dict[str, Any] = ws.ingest(target, profile).to_dict()
                return result

        result = await run_in_threadpool(load)
    result["source"] = name
    return {"result": result}


@router.get("/quarantine", operation_id="listQuarantine", tags=["data"])
def list_quarantine(
    request: Request,
    principal: AllReader,
    batch: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 500,
) -> dict[str, Any]:
    """Open quarantined rows with their reasons (the batch's, or all)."""
    with pool_of(request).use() as ws:
        df = ws.quarantine(batch)
    total = len(df)
    keep = [c for c in ("batch_id", "row_number", "reason", "detail", "raw", "source") if c in df]
    df = df[keep].head(limit)
    by_reason = {}
    if total:
        with pool_of(request).use() as ws:
            counts = ws.quarantine(batch)["reason"].value_counts()
        by_reason = {str(k): int(v) for k, v in counts.items()}
    return {"total": total, "by_reason": by_reason, **q.frame_json(df)}


class ReplayBody(BaseModel):
    profile: str


@router.post("/quarantine/{batch_id}/replay", operation_id="replayQuarantine", tags=["data"])
def replay_quarantine(
    request: Request, principal: Ingester, batch_id: str, body: ReplayBody
) -> dict[str, Any]:
    """Load a batch's quarantined rows again with a (fixed) profile."""
    with pool_of(request).use() as ws:
        result: dict[str, Any] = ws.replay(batch_id, body.profile).to_dict()
    return {"result": result}


@router.get("/profiles", operation_id="listProfiles", tags=["data"])
def list_profiles(request: Request, principal: AllReader) -> dict[str, Any]:
    with pool_of(request).use() as ws:
        reg = ws.profiles
        names = [reg.name_of(reg.value(e)) for e in reg.entries()]
    return {"profiles": names}


# -- reports --------------------------------------------------------------------------------
Reporter = Annotated[Principal, Depends(needs("reports"))]
REPORT_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get("/reports", operation_id="generateReport", tags=["reports"])
def generate_report(
    request: Request,
    principal: Reporter,
    period: Annotated[str, Query(description="2025-W10, 2025-03, 2025-Q1 or D1..D2")],
    format: Annotated[str, Query(pattern="^(html|pdf|xlsx)$")] = "html",
    lang: Annotated[str | None, Query(pattern="^(zh|en)$")] = None,
) -> Response:
    """The service-quality report of a period (KPI summary, biggest movers, SLA attainment,
    alerts, top issues), limited to the caller's scope."""
    from servq.reports.build import build_report
    from servq.reports.period import parse_period
    from servq.reports.render import render

    chosen = lang or principal.lang
    span = parse_period(period)
    with pool_of(request).use() as ws:
        report = build_report(
            ws,
            request.app.state.store,
            span,
            lang=chosen,
            timezone=tz_of(request),
            scope=principal.scope() or None,
        )
    data = render(report, format)
    name = f"servq-report-{span.file_label()}.{format}"
    disposition = "inline" if format == "html" else "attachment"
    return Response(
        data,
        media_type=REPORT_TYPES[format],
        headers={"Content-Disposition": f'{disposition}; filename="{name}"'},
    )


def deliver_due_reports(app_state: Any, now: datetime | None = None) -> list[Any]:
    """Send every scheduled report that is due (``<workspace>/reports.yaml``); the serve
    process calls this every minute. Returns the deliveries made."""
    from servq.reports.schedule import deliver, due_schedules, load_schedules

    schedules = load_schedules(app_state.path)
    if not schedules:
        return []
    moment = now or datetime.now(UTC)
    done = []
    with app_state.pool.use() as ws:
        for due in due_schedules(schedules, app_state.store, moment):
            done.append(deliver(due.schedule, ws, app_state.store, moment))
    return done


# -- output ---------------------------------------------------------------------------------
def _table_response(df: pd.DataFrame, fmt: str, name: str, tz: str) -> Response:
    df = df.copy()
    for col in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            df[col] = [q.local(v, tz) for v in df[col]]
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    if fmt == "json":
        return JSONResponse({"total": len(df), **q.frame_json(df)})
    if fmt == "xlsx":
        if len(df) > EXCEL_ROWS:
            raise ServqError(
                f"{len(df):,} rows do not fit one Excel sheet; export CSV / "
                "行数超出 Excel 上限，请导出 CSV"
            )
        buffer = io.BytesIO()
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            df.to_excel(writer, index=False, sheet_name=name[:31])
        return Response(
            buffer.getvalue(),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.xlsx"'},
        )

    def chunks() -> Any:
        yield "\ufeff".encode()
        step = 50_000
        for i in range(0, max(len(df), 1), step):
            part = df.iloc[i : i + step]
            yield part.to_csv(index=False, header=(i == 0)).encode("utf-8")

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'},
    )


__all__ = ["router"]
