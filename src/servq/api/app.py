"""The FastAPI application of ``servq serve``.

``POST /api/v1/events`` answers per event only after the batch is committed: ``accepted`` (new,
stored), ``duplicate`` (stored before: stop retrying) or ``rejected`` (with the reason; kept in
the intake quarantine). A sender that gets no answer (timeout, crash) sends the batch again:
what was stored answers ``duplicate``, so nothing is lost and nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from servq import __version__
from servq.app_store import Store, open_store
from servq.monitor.runtime import Monitor, MonitorConfig, utcnow
from servq.monitor.store import accept, counts

MAX_BATCH = 10_000
NoteBody = Annotated[dict[str, Any] | None, Body()]


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
) -> FastAPI:
    """The app over the workspace's store (or ``store_url``), with the monitor in its lifespan."""
    workspace = Path(workspace)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(workspace, url=store_url)
        app.state.store = store
        app.state.monitor = None
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
            if task is not None:
                await task
            store.close()

    app = FastAPI(
        title="servq",
        version=__version__,
        description="Service-quality monitoring: event intake, SLA timers and alerts. "
        "服务质量监测：事件接入、SLA 计时与预警。",
        lifespan=lifespan,
    )

    def store_of(request: Request) -> Store:
        store: Store = request.app.state.store
        return store

    @app.get("/api/v1/health")
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

    @app.post("/api/v1/events")
    async def post_events(request: Request) -> dict[str, Any]:
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

    @app.get("/api/v1/alerts")
    def list_alerts(
        request: Request, state: str = "open", rule: str | None = None, limit: int = 200
    ) -> dict[str, Any]:
        from servq.monitor.alerts import AlertManager

        manager = AlertManager(store_of(request))
        alerts = manager.list(state=state, rule=rule, limit=limit, now=utcnow())
        return {"alerts": [_jsonable(a) for a in alerts]}

    @app.post("/api/v1/alerts/{alert_id}/{action}")
    def change_alert(
        request: Request, alert_id: int, action: str, body: NoteBody = None
    ) -> dict[str, Any]:
        from servq.monitor.alerts import AlertManager

        if action not in ("ack", "resolve"):
            raise HTTPException(404, f"unknown action {action!r} (ack, resolve)")
        manager = AlertManager(store_of(request))
        who = str((body or {}).get("by") or "api")
        note = str((body or {}).get("note") or "")
        getattr(manager, action)(alert_id, who, utcnow(), note=note)
        return {"alert": _jsonable(manager.get(alert_id))}

    return app


def _jsonable(obj: Any) -> Any:
    """An alert record (dataclass, ORM row or dict) as JSON-ready values."""
    if hasattr(obj, "as_dict"):
        obj = obj.as_dict()
    elif hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        obj = asdict(obj)
    elif hasattr(obj, "__table__"):
        obj = {c.name: getattr(obj, c.name) for c in obj.__table__.columns}
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, datetime):
        return obj.isoformat() + ("Z" if obj.tzinfo is None else "")
    return obj
