"""The demo's alerts and users: what the dashboard shows after ``servq demo``.

Owns: replaying the demo's ticket log through the monitor into the workspace's own application
store (so the alert centre has the 600-odd SLA breaches and warnings the period would have
raised live; see ``servq replay --demo`` for the same replay on a throw-away store), once per
demo, and creating the demo users of every role. The replayed events stay in the store's
intake; the warehouse copy's cursor is moved past them, since the warehouse already holds the
demo's tickets.
"""

from __future__ import annotations

from pathlib import Path

from servq.errors import ServqError
from servq.monitor.replay import ReplayReport

CURSOR = "demo_alerts"


def load_demo_alerts(workspace: Path) -> ReplayReport | None:
    """Replay the demo's events into the workspace's store; None when it was done before."""
    from servq.app_store import open_store
    from servq.demo.events import demo_events, demo_policy_path, export_moment
    from servq.monitor.replay import replay
    from servq.monitor.runtime import Monitor, MonitorConfig, read_cursor, write_cursor

    source = workspace / "demo-input"
    if not (source / "ticket_events.csv").is_file():
        raise ServqError(f"no demo in {workspace}: run `servq demo` first")
    with open_store(workspace) as store:
        if read_cursor(store, CURSOR) > 0:
            return None
        demo_policy_path(workspace / "sla")
        monitor = Monitor(store, workspace, MonitorConfig(policies=("demo-due",)))
        report = replay(monitor, list(demo_events(source)), until=export_moment(source))
        # the replayed events are the demo's own tickets, already in the warehouse: the live
        # copy (servq.monitor.sink) must start after them, or they would be loaded twice
        from sqlalchemy import func, select

        from servq.monitor import sink
        from servq.monitor.store import IntakeEvent

        with store.session() as s:
            last = s.execute(select(func.max(IntakeEvent.seq))).scalar_one()
        write_cursor(store, sink.CURSOR, int(last or 0))
        write_cursor(store, CURSOR, 1)
        return report


def ensure_demo_users(workspace: Path) -> list[tuple[str, str, str]]:
    """The demo users (user name, password, role), created when missing."""
    from servq.app_store import open_store
    from servq.auth import UserStore

    with open_store(workspace) as store:
        return UserStore(store).ensure_demo_users()
