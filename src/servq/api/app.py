"""The FastAPI application of ``servq serve``: the dashboard, the HTTP API and event intake,
with the monitor in the same process.

``POST /api/v1/events`` answers per event only after the batch is committed: ``accepted`` (new,
stored), ``duplicate`` (stored before: stop retrying) or ``rejected`` (with the reason; kept in
the intake quarantine). A sender that gets no answer (timeout, crash) sends the batch again:
what was stored answers ``duplicate``, so nothing is lost and nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from servq import __version__
from servq.app_store import Store, open_store
from servq.auth import Principal
from servq.errors import ServqError
from servq.monitor.runtime import Monitor, MonitorConfig
from servq.monitor.store import accept, counts
from servq.warehouse.store import utcnow
from servq.web.security import needs

MAX_BATCH = 10_000
log = logging.getLogger(__name__)
Ingester = Annotated[Principal, Depends(needs("ingest"))]


def _events_of(body: Any) -> list[Any]:
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        return list(body["events"])
    if isinstance(body, dict) and "event_id" in body:
        return [body]
    raise HTTPException(
        422,
        'send a JSON array of events, or {"events": [...]} / 请发送事件数组，或 {"events": [...]}',
    )


def create_app(
    workspace: Path | str,
    config: MonitorConfig | None = None,
    *,
    store_url: str | None = None,
    run_monitor: bool = True,
    pool_size: int = 2,
    warm: bool = True,
) -> FastAPI:
    """The app over the workspace's store (or ``store_url``), with the monitor in its lifespan;
    ``pool_size`` warehouse connections serve the dashboard's queries."""
    workspace = Path(workspace)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from servq.auth import UserStore
        from servq.web.queries import load_dashboard
        from servq.web.warehouse import WarehousePool

        store = open_store(workspace, url=store_url)
        app.state.store = store
        app.state.users = UserStore(store)
        app.state.path = workspace
        app.state.dashboard = load_dashboard(workspace)
        app.state.pool = WarehousePool(workspace, size=pool_size)
        app.state.monitor = None
        if warm:
            from servq.web.api import warm_cache

            threading.Thread(
                target=warm_cache, args=(app.state.pool, app.state.dashboard), daemon=True
            ).start()
        reports_stop = threading.Event()
        reporter = threading.Thread(
            target=_report_loop, args=(app.state, reports_stop), daemon=True
        )
        reporter.start()
        stop = asyncio.Event()
        task = None
        if run_monitor:
            monitor = Monitor(store, workspace, config)
            app.state.monitor = monitor
            task = asyncio.create_task(monitor.run(stop))
        try:
            yield
        finally:
            stop.set()
            reports_stop.set()
            if task is not None:
                await task
            await asyncio.to_thread(reporter.join, 60)
            app.state.pool.close()
            store.close()

    app = FastAPI(
        title="servq",
        version=__version__,
        description="Service-quality monitoring and analysis: metrics, cases, SLA, alerts, "
        "text insights, ingest and event intake. Browsers sign in with a session (send the "
        "CSRF token as X-CSRF-Token); machines send `Authorization: Bearer <API token>` "
        "(`servq users token`). 服务质量监测与分析 API。",
        lifespan=lifespan,
    )
    _error_handlers(app)

    @app.middleware("http")
    async def server_timing(request: Request, call_next: Any) -> Any:
        # the time spent in servq for this request, for browsers' dev tools and bench/web
        started = time.perf_counter()
        response = await call_next(request)
        spent = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={spent:.1f}"
        return response

    from servq.web import api as web_api
    from servq.web import pages

    app.include_router(web_api.router)
    from servq.web import improve_api

    app.include_router(improve_api.router)
    app.include_router(pages.router)
    static = Path(__file__).resolve().parent.parent / "web" / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")

    def store_of(request: Request) -> Store:
        store: Store = request.app.state.store
        return store

    @app.get("/api/v1/health", operation_id="health", tags=["system"])
    def health(request: Request) -> JSONResponse:
        monitor: Monitor | None = request.app.state.monitor
        ready = monitor is None or monitor.ready
        body: dict[str, Any] = {
            "status": "ok" if ready else "starting",
            "version": __version__,
            "store": store_of(request).dialect,
            **counts(store_of(request)),
        }
        if monitor is not None:
            deadline = monitor.timers.next_deadline()
            body["next_deadline"] = deadline.isoformat() + "Z" if deadline else None
            body["monitor_steps"] = monitor.steps
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.post("/api/v1/events", operation_id="postEvents", tags=["intake"])
    async def post_events(request: Request, principal: Ingester) -> dict[str, Any]:
        """Case events, one batch: each answered accepted, duplicate or rejected (with why)."""
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HTTPException(400, f"the body is not JSON / 请求体不是 JSON: {exc}") from None
        events = _events_of(body)
        if len(events) > MAX_BATCH:
            raise HTTPException(
                413, f"at most {MAX_BATCH} events a batch / 每批最多 {MAX_BATCH} 条"
            )
        result = await run_in_threadpool(accept, store_of(request), events, utcnow(), source="api")
        monitor: Monitor | None = request.app.state.monitor
        if monitor is not None and result.changed_cases:
            monitor.wake()
        return {**result.counts(), "results": [a.as_dict() for a in result.answers]}

    return app


REPORT_CHECK_SECONDS = 60.0


def _report_loop(state: Any, stop: threading.Event) -> None:
    """Every minute, send the scheduled reports that are due (``reports.yaml``)."""
    from servq.web.api import deliver_due_reports

    while not stop.wait(REPORT_CHECK_SECONDS):
        try:
            for delivery in deliver_due_reports(state):
                log.info("report %s", delivery.as_dict())
        except Exception:  # a bad schedule file or a mail server down: log, try next minute
            log.exception("scheduled reports failed; will try again")


def _error_handlers(app: FastAPI) -> None:
    """Every error as ``{"error": message}``: the status says what kind, the message (English
    and Chinese) what to do."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": exc.detail, "detail": exc.detail},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        ]
        return JSONResponse(
            {"error": "invalid request / 请求无效: " + "; ".join(problems), "detail": problems},
            status_code=422,
        )

    @app.exception_handler(ServqError)
    async def servq_error(request: Request, exc: ServqError) -> JSONResponse:
        from servq.web.queries import AccessDenied

        status = 403 if isinstance(exc, AccessDenied) else 400
        return JSONResponse({"error": str(exc)}, status_code=status)
