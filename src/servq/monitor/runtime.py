"""The monitor loop of ``servq serve``: intake changes → SLA timers and rules → alerts → notices.

Owns: :class:`Monitor`, which wires the store, the timers, the rule engine, the alert manager
and the notifier together, and its asyncio loop. The loop sleeps until the earliest of: the next
SLA deadline, the next rule evaluation, the next alert tick (escalation, repeat), the next poll
for cases changed by other intake processes (``servq worker``), or a wake-up from in-process
intake. Between those it does nothing: no scan of the case table.

One step (:meth:`Monitor.step`) reads only the cases changed since the last step, updates their
timers, pops due deadlines, evaluates rules when due, turns the signals into alerts and hands
notices to a delivery thread (a slow webhook never delays a breach).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from servq.app_store import Base, Store
from servq.monitor.rules import load_rules
from servq.monitor.signals import Signal
from servq.monitor.store import changed_cases, last_change
from servq.warehouse.store import utcnow

log = logging.getLogger("servq.monitor")


class MonitorCursor(Base):
    """How far the monitor has read the intake's changes (survives restarts)."""

    __tablename__ = "monitor_cursor"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


def read_cursor(store: Store, name: str) -> int:
    """A reader's position in the intake's change sequence (0 when it never read)."""
    with store.session() as s:
        row = s.get(MonitorCursor, name)
        return row.seq if row else 0


def write_cursor(store: Store, name: str, seq: int) -> int:
    with store.session() as s:
        row = s.get(MonitorCursor, name)
        if row is None:
            s.add(MonitorCursor(name=name, seq=seq))
        else:
            row.seq = seq
    return seq


@dataclass
class MonitorConfig:
    """What ``servq serve`` monitors and where it sends notices."""

    policies: Sequence[str] = ("standard",)
    rules_file: Path | None = None
    channels_file: Path | None = None
    alert_policy_file: Path | None = None
    notify: Sequence[str] = ()  # channel names every notice goes to
    poll_seconds: float = 2.0  # for cases changed by other processes
    tick_seconds: float = 30.0  # escalation and repeat checks
    recent_seconds: float = 30.0  # re-read cases updated this recently (see changed_cases)
    warehouse_seconds: float | None = 30.0  # copy live events into the warehouse; None: never
    options: dict[str, Any] = field(default_factory=dict)


def coalesce(signals: Sequence[Signal]) -> list[Signal]:
    """The last signal of each fingerprint, in first-seen order: a breach raised at start-up
    and cleared by a reply that arrived while the process was down cancels out."""
    last: dict[str, Signal] = {}
    for s in signals:
        last.pop(s.fingerprint, None)
        last[s.fingerprint] = s
    return list(last.values())


class Monitor:
    """Timers, rules, alerts and notices over one application store."""

    def __init__(
        self,
        store: Store,
        workspace: Path,
        config: MonitorConfig | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        from servq.monitor.alerts import AlertManager, AlertPolicy
        from servq.monitor.timers import TimerService
        from servq.sla.registry import CALENDAR_FOLDER, PolicyRegistry

        self.store = store
        self.workspace = Path(workspace)
        self._workspace: Any = None
        self._rule_step = timedelta(minutes=1)
        self.config = config or MonitorConfig()
        self.clock = clock
        # a policy is a built-in, one of <workspace>/sla, or a file
        registry = PolicyRegistry.for_workspace(self.workspace)
        self.timers = TimerService(
            store,
            [registry.get(p) for p in self.config.policies],
            calendar_folders=[self.workspace / CALENDAR_FOLDER],
        )
        policy = (
            AlertPolicy.load(self.config.alert_policy_file)
            if self.config.alert_policy_file
            else AlertPolicy.for_workspace(self.workspace)
        )
        self.alerts = AlertManager(store, policy)
        self.rules = self._rule_engine()
        self.notifier = self._notifier()
        self._seq = 0
        self._next_rules: datetime | None = None
        self._next_tick: datetime | None = None
        self._next_poll: datetime | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: queue.Queue[tuple[Any, datetime] | None] = queue.Queue()
        self._sender: threading.Thread | None = None
        self.ready = False
        self.steps = 0

    # -- wiring ---------------------------------------------------------------------------------
    def _rule_engine(self) -> Any:
        if self.config.rules_file is None:
            return None
        from servq.monitor.evaluate import RuleEngine, default_step
        from servq.workspace import open_workspace

        rules = load_rules(self.config.rules_file).rules
        self._rule_step = default_step(rules)
        # the rules read the warehouse: this process holds the workspace while it runs
        self._workspace = open_workspace(self.workspace)
        return RuleEngine(self._workspace, rules)

    def _notifier(self) -> Any:
        if self.config.channels_file is None or not self.config.notify:
            return None
        from servq.monitor.notify import Notifier, load_channels

        return Notifier(self.store, load_channels(self.config.channels_file))

    # -- one step -------------------------------------------------------------------------------
    def _cursor(self, seq: int | None = None) -> int:
        return (
            read_cursor(self.store, "cases")
            if seq is None
            else write_cursor(self.store, "cases", seq)
        )

    def start(self, now: datetime) -> list[Any]:
        """Bring timers back from the store; raise what fell due while the process was down
        (once: the timers persist what they raised), then catch up with the intake."""
        signals = list(self.timers.load(now))
        top = last_change(self.store)
        self._seq = self._cursor()
        if self._seq < top:
            changed, _ = changed_cases(self.store, self._seq)
            signals += self.timers.update_many(changed, now)
        self._seq = self._cursor(top)
        notices = self.alerts.process(coalesce(signals), now)
        self._deliver(notices, now)
        self.ready = True
        return list(notices)

    def sync(self, now: datetime) -> list[Signal]:
        """Timers of the cases changed since the last step."""
        recent = now - timedelta(seconds=self.config.recent_seconds)
        cases, top = changed_cases(self.store, self._seq, recent)
        if not cases:
            return []
        signals = list(self.timers.update_many(cases, now))
        if top > self._seq:
            self._seq = self._cursor(top)
        return signals

    def step(self, now: datetime) -> list[Any]:
        """Everything due at ``now``; returns the notices raised."""
        self.steps += 1
        signals = self.sync(now) + list(self.timers.due(now))
        if self.rules is not None and (self._next_rules is None or now >= self._next_rules):
            signals += self.rules.evaluate(now)
            self._next_rules = now + self._rule_step
        notices = list(self.alerts.process(coalesce(signals), now))
        if self._next_tick is None or now >= self._next_tick:
            notices += self.alerts.tick(now)
            try:  # unclaimed problems and overdue urgent plans of the improvement loop
                from servq.improve.escalation import run_escalation

                notices += run_escalation(self.store, self.workspace, now, manager=self.alerts)
            except Exception:
                log.exception("escalating the improvement loop failed; will retry")
            self._next_tick = now + timedelta(seconds=self.config.tick_seconds)
        self._next_poll = now + timedelta(seconds=self.config.poll_seconds)
        self._deliver(notices, now)
        return notices

    def next_wakeup(self, now: datetime) -> datetime:
        """When the loop must run again, whatever else happens."""
        times = [t for t in (self._next_rules, self._next_tick, self._next_poll) if t]
        deadline = self.timers.next_deadline()
        if deadline is not None:
            times.append(deadline)
        return min(times, default=now + timedelta(seconds=self.config.poll_seconds))

    # -- notices --------------------------------------------------------------------------------
    def _deliver(self, notices: Sequence[Any], now: datetime) -> None:
        if self.notifier is None:
            return
        for notice in notices:
            self._outbox.put((notice, now))

    def _send_loop(self) -> None:
        from servq.monitor.notify import message_from_notice

        while True:
            item = self._outbox.get()
            if item is None:
                return
            notice, now = item
            try:
                message = message_from_notice(notice)
                self.notifier.deliver_all(message, list(self.config.notify), now)
            except Exception:  # a broken channel must not stop the monitor
                log.exception("delivering a notice failed")

    def _sink_loop(self, stop: threading.Event) -> None:
        """Copy live events into the warehouse every ``warehouse_seconds``, and once more on
        the way out. Its own thread and its own warehouse connection: a slow load never delays
        a breach. A failed flush (the warehouse is busy with a load) is tried again later."""
        from servq.monitor.sink import WarehouseSink

        sink = WarehouseSink(self.store, self.workspace)
        interval = self.config.warehouse_seconds or 30.0
        while True:
            stopping = stop.wait(interval)
            try:
                sink.flush(self.clock())
            except Exception:
                log.exception("copying live events into the warehouse failed; will retry")
            if stopping:
                return

    # -- the loop -------------------------------------------------------------------------------
    def wake(self) -> None:
        """Ask the loop to run a step now (thread-safe; from in-process intake)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self.notifier is not None:
            self._sender = threading.Thread(target=self._send_loop, daemon=True)
            self._sender.start()
        sink_stop = threading.Event()
        sink: threading.Thread | None = None
        if self.config.warehouse_seconds is not None:
            sink = threading.Thread(target=self._sink_loop, args=(sink_stop,), daemon=True)
            sink.start()
        await asyncio.to_thread(self.start, self.clock())
        while not stop.is_set():
            self._wake.clear()
            now = self.clock()
            try:
                await asyncio.to_thread(self.step, now)
            except Exception:
                log.exception("monitor step failed; retrying in a second")
                await asyncio.sleep(1.0)
            delay = (self.next_wakeup(now) - self.clock()).total_seconds()
            if delay > 0:
                waiters = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                _, pending = await asyncio.wait(
                    waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED
                )
                for w in pending:
                    w.cancel()
        self._outbox.put(None)
        sink_stop.set()
        if sink is not None:
            await asyncio.to_thread(sink.join, 60)
        if self._workspace is not None:
            self._workspace.close()
