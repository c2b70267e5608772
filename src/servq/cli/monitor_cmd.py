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

from servq.cli.common import StoreOpt, WorkspaceOpt, err_console
from servq.cli.common import fail as _fail
from servq.errors import ServqError
from servq.workspace import default_workspace_path


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
        f"servq serving the dashboard on http://{host}:{port}/ and the API on "
        f"http://{host}:{port}/api/v1 (workspace {folder}) · 服务已启动",
        highlight=False,
    )
    _hint_first_user(folder, store)
    uvicorn.run(app, host=host, port=port, log_level=os.environ.get("SERVQ_LOG", "warning"))


def _hint_first_user(folder: Path, store: str | None) -> None:
    from servq.app_store import open_store
    from servq.auth import UserStore

    with open_store(folder, url=store) as app_store:
        if not UserStore(app_store).list_users():
            err_console.print(
                "no users yet: create the first with `servq users add admin --role admin` · "
                "尚无用户，请先创建管理员",
                highlight=False,
            )


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


def _read_events(path: Path) -> list[dict[str, object]]:
    """A JSON array of events, ``{"events": [...]}``, or JSON Lines (one event a line)."""
    import json

    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        data = data["events"]
    if isinstance(data, list):
        return [e if isinstance(e, dict) else {"raw": e} for e in data]
    out: list[dict[str, object]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ServqError(f"{path}:{n}: not JSON ({exc.msg})") from None
        out.append(item if isinstance(item, dict) else {"raw": item})
    return out


def replay(
    events: Annotated[
        Path | None, typer.Argument(help="Events: a JSON array or JSON Lines file.")
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Replay the demo's ticket log (after `servq demo`).")
    ] = False,
    workspace: WorkspaceOpt = None,
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", help="SLA policy (repeatable) [standard; demo-due with --demo]."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Stop the clock here (ISO 8601 with offset).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Replay past events through the monitor: the SLA alerts it would have raised, per day.
    回放历史事件，统计实时监测会产生的预警。"""
    import json
    import tempfile
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.table import Table

    from servq.app_store import open_store
    from servq.monitor.replay import replay as run_replay
    from servq.monitor.runtime import Monitor, MonitorConfig

    folder = workspace or default_workspace_path()
    try:
        if demo == (events is not None):
            raise ServqError("give either an events file or --demo")
        stop = None
        if until is not None:
            moment = datetime.fromisoformat(until)
            if moment.tzinfo is None:
                raise ServqError(f"--until {until}: needs a UTC offset, e.g. +08:00")
            stop = moment.astimezone(UTC).replace(tzinfo=None)
        if demo:
            from servq.demo.events import demo_events, demo_policy_path

            source = folder / "demo-input"
            if not (source / "ticket_events.csv").is_file():
                raise ServqError(f"no demo in {folder}: run `servq demo` first")
            demo_policy_path(folder / "sla")
            raws: list[dict[str, object]] = list(demo_events(source))
            names = tuple(policy or ("demo-due",))
            if stop is None:
                from servq.demo.events import export_moment

                stop = export_moment(source)
        else:
            assert events is not None
            if not events.is_file():
                raise ServqError(f"no such file: {events}")
            raws = _read_events(events)
            names = tuple(policy or ("standard",))
        # a throw-away store: the replay must not touch the workspace's live alerts
        with (
            tempfile.TemporaryDirectory(prefix="servq-replay-") as tmp,
            open_store(Path(tmp), url=f"sqlite:///{Path(tmp) / 'replay.db'}") as app_store,
        ):
            monitor = Monitor(app_store, folder, MonitorConfig(policies=names))
            report = run_replay(monitor, raws, until=stop)
    except ServqError as exc:
        raise _fail(str(exc)) from None
    summary = report.as_dict()
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    console = Console()
    per_day = summary["alerts_per_day"]
    console.print(
        f"{summary['events']:,} events, {summary['days']} days, policies {', '.join(names)}: "
        f"{summary['alerts']:,} alerts ({per_day['mean']} a day, median {per_day['median']}, "
        f"worst day {per_day['max']}) · 预警 {summary['alerts']:,} 条",
        highlight=False,
    )
    table = Table(title="Alerts by week 每周预警")
    for col in ("week", "alerts"):
        table.add_column(col, justify="right" if col == "alerts" else "left")
    weeks: dict[str, int] = {}
    for day, n in summary["per_day"].items():
        iso = datetime.fromisoformat(day).isocalendar()
        key = f"{iso.year}-W{iso.week:02d}"
        weeks[key] = weeks.get(key, 0) + n
    for key, n in sorted(weeks.items()):
        table.add_row(key, f"{n:,}")
    console.print(table)
