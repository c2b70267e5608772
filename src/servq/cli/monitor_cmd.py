"""The ``servq serve`` and ``servq worker`` commands.

Owns: starting the HTTP API with the monitor (one process, embedded default) and the NATS
JetStream intake workers (production path). Shares ``--workspace`` and the one-line
error (exit status 2) with ``servq.cli.sla_cmd``, as ``rules_cmd`` does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Annotated

import typer

from servq.cli.sla_cmd import WorkspaceOpt, _fail, err_console
from servq.errors import ServqError
from servq.workspace import default_workspace_path

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Application store URL [env SERVQ_APP_DB; SQLite in the workspace], e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ),
]


def serve(
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8420,
    policy: Annotated[
        list[str] | None, typer.Option("--policy", help="SLA policy for live cases (repeatable).")
    ] = None,
    rules: Annotated[Path | None, typer.Option(help="Alert rules YAML file.")] = None,
    channels: Annotated[Path | None, typer.Option(help="Notification channels YAML.")] = None,
    notify: Annotated[
        list[str] | None, typer.Option("--notify", help="Channel every notice goes to.")
    ] = None,
    alert_policy: Annotated[
        Path | None, typer.Option(help="Alert policy YAML (escalation, repeat, inhibition).")
    ] = None,
    poll: Annotated[
        float, typer.Option(help="Seconds between reads of cases changed by `servq worker`.")
    ] = 2.0,
    monitor: Annotated[
        bool,
        typer.Option(
            "--monitor/--no-monitor",
            help="Run the monitor (timers, rules, alerts) here; --no-monitor serves intake only.",
        ),
    ] = True,
) -> None:
    """Run the HTTP API, event intake and the monitor in one process. 启动 API 与实时监测。"""
    import uvicorn

    from servq.api import create_app
    from servq.monitor.runtime import MonitorConfig

    folder = workspace or default_workspace_path()
    config = MonitorConfig(
        policies=tuple(policy or ("standard",)),
        rules_file=rules,
        channels_file=channels,
        alert_policy_file=alert_policy,
        notify=tuple(notify or ()),
        poll_seconds=poll,
    )
    try:
        app = create_app(folder, config, store_url=store, run_monitor=monitor)
    except ServqError as exc:
        raise _fail(str(exc)) from None
    err_console.print(
        f"servq serving on http://{host}:{port}/api/v1 (workspace {folder}) · 服务已启动",
        highlight=False,
    )
    uvicorn.run(app, host=host, port=port, log_level=os.environ.get("SERVQ_LOG", "warning"))


def worker(
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
    nats_url: Annotated[str, typer.Option("--nats", help="NATS server URL.")] = (
        "nats://127.0.0.1:4222"
    ),
    batch: Annotated[int, typer.Option(help="Messages fetched per batch.")] = 1000,
    idle_exit: Annotated[
        float | None, typer.Option(help="Stop after this many seconds without messages.")
    ] = None,
) -> None:
    """Consume events from NATS JetStream into the store. 从 NATS JetStream 接入事件。"""
    from servq.app_store import open_store
    from servq.monitor.nats import run_worker

    logging.basicConfig(level=os.environ.get("SERVQ_LOG", "WARNING").upper())
    app_store = open_store(workspace or default_workspace_path(), url=store)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stats = await run_worker(
            app_store, url=nats_url, batch=batch, stop=stop, idle_exit=idle_exit
        )
        err_console.print(
            f"worker stopped: {stats.events} events ({stats.accepted} accepted, "
            f"{stats.duplicate} duplicate, {stats.rejected} rejected) · 接入结束",
            highlight=False,
        )

    try:
        asyncio.run(main())
    except OSError as exc:
        raise _fail(f"cannot reach NATS at {nats_url}: {exc}") from None
    finally:
        app_store.close()
