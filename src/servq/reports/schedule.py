"""Report schedules: when each report is due, and delivering it by e-mail exactly once per period.

Owns: the schedule file ``<workspace>/reports.yaml`` (validated all at once, every problem with
its line), the run times (:func:`next_run`, :func:`previous_run`, :func:`due_schedules`) on
China's working days and within business hours, and :func:`deliver`, which builds the report,
renders it, e-mails it with the files attached through an e-mail channel of the notification
channels file, and records the run in the application store (``report_run``, see
:mod:`servq.reports.runs`) so that the same period is never sent twice.

The file::

    channels_file: channels.yaml     # default; relative to the workspace (servq.monitor.notify)
    schedules:
      - id: weekly-ops               # letters, digits, - and _; unique in the file
        period: week                 # week | month: the last complete one at run time
        formats: [pdf, xlsx]         # or `format: pdf`; html, pdf, xlsx (default pdf)
        lang: zh                     # zh | en (default zh)
        timezone: Asia/Shanghai      # where days, periods and `at` are (default Asia/Shanghai)
        day: monday                  # week: monday..sunday (default monday);
                                     # month: 1..31, the last day in shorter months (default 1)
        at: "08:30"                  # local time of day (default 08:30)
        weekdays_only: true          # skip Saturdays, Sundays and China's public holidays and
                                     # run on adjusted working days (调休上班), from
                                     # servq.calendar (default true)
        business_hours: "09:00-18:00"  # optional: send only inside; otherwise at the next
                                     # business-hours instant
        channel: managers            # an `email` channel of the channels file
        scope:                       # optional: team, site, agent or channel lists
          team: [电话客服组, 在线客服组]

How a run time is found: each period has one nominal day (the ``day`` of each week or month) at
``at``. With ``weekdays_only`` a nominal day that is not a working day moves to the next working
day (Monday 2025-10-06, in the National Day holiday, moves to Thursday 2025-10-09; Saturday
2025-09-27 moves to Sunday 2025-09-28, an adjusted working day). Then, with
``business_hours``, a time outside them moves to the next instant inside them, on an allowed
day (08:30 → 09:00 the same day; 19:00 → 09:00 the next working day). The period a run reports
is the last week or month that ended before the run's local date.

A delivery that fails is recorded as failed and is due again at the next check; one that
succeeded is never sent again for that period, even with ``servq report send``. When a check
happens after several runs were missed (the machine was off), only the latest run is due.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from servq.errors import DefinitionError, ServqError
from servq.reports.period import Period, check_timezone, last_complete
from servq.yamlfile import Loc, load_model, read_definition

if TYPE_CHECKING:
    from servq.app_store import Store
    from servq.calendar import CalendarSpec
    from servq.monitor.notify.channels import Channel
    from servq.reports.build import Report
    from servq.workspace import Workspace

SCHEDULE_FILE = "reports.yaml"
DEFAULT_CHANNELS_FILE = "channels.yaml"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
REPORT_FORMATS = ("html", "pdf", "xlsx")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_HOURS = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")
# how far a nominal day can move: China's longest holiday is 8 days, and business hours add one
_MAX_SHIFT_DAYS = 31


def _clock(text: str) -> clock:
    m = _CLOCK.match(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not a time HH:MM / '{text}' 不是 HH:MM 格式的时间")
    return clock(int(m.group(1)), int(m.group(2)))


class ReportSchedule(BaseModel):
    """One scheduled report (see the module docstring for each field)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=100)
    period: Literal["week", "month"]
    formats: tuple[Literal["html", "pdf", "xlsx"], ...] = Field(default=("pdf",), min_length=1)
    lang: Literal["zh", "en"] = "zh"
    timezone: str = "Asia/Shanghai"
    day: str | int | None = None
    at: str = "08:30"
    weekdays_only: bool = True
    business_hours: str | None = None
    channel: str = Field(min_length=1)
    scope: dict[str, list[str]] | None = None
    channels_file: str = DEFAULT_CHANNELS_FILE

    @model_validator(mode="before")
    @classmethod
    def _format_alias(cls, data: Any) -> Any:
        # `format: pdf` or `format: [pdf, xlsx]` stands for `formats`
        if isinstance(data, dict) and "format" in data:
            data = dict(data)
            if "formats" in data:
                raise ValueError("give format or formats, not both / format 与 formats 只能写一个")
            data["formats"] = data.pop("format")
        if isinstance(data, dict) and isinstance(data.get("formats"), str):
            data = {**data, "formats": [data["formats"]]}
        return data

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            return check_timezone(value)
        except ServqError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        t = _clock(value)
        return f"{t.hour:02d}:{t.minute:02d}"

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is None:
            return None
        m = _HOURS.match(value)
        if not m:
            raise ValueError(
                f"'{value}' is not a range HH:MM-HH:MM / '{value}' 不是 HH:MM-HH:MM 格式的时间段"
            )
        start, end_text = _clock(m.group(1)), m.group(2)
        end = None if end_text == "24:00" else _clock(end_text)
        if end is not None and end <= start:
            raise ValueError(
                f"business hours end before they start: {value} / 工作时间的结束早于开始：{value}"
            )
        return f"{start:%H:%M}-{end_text if end is None else format(end, '%H:%M')}"

    @field_validator("day")
    @classmethod
    def _day(cls, value: str | int | None, info: ValidationInfo) -> str | int | None:
        period = info.data.get("period")
        if value is None or period is None:
            return value
        if period == "week":
            name = str(value).strip().lower()
            if name not in WEEKDAYS:
                raise ValueError(
                    f"a weekly report's day is monday..sunday, not '{value}' / "
                    f"周报的 day 应为 monday..sunday，而不是 '{value}'"
                )
            return name
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if not 1 <= number <= 31:
            raise ValueError(
                f"a monthly report's day is 1..31, not '{value}' / "
                f"月报的 day 应为 1..31，而不是 '{value}'"
            )
        return number

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if value is None:
            return None
        from servq.reports.build import normalise_scope

        try:
            return normalise_scope(value)
        except ServqError as exc:
            raise ValueError(str(exc)) from None

    # -- derived --------------------------------------------------------------------------------
    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def at_time(self) -> clock:
        return _clock(self.at)

    @property
    def weekday(self) -> int:
        """0 = Monday: the nominal day of a weekly report."""
        return WEEKDAYS.index(str(self.day or "monday"))

    @property
    def month_day(self) -> int:
        """1..31: the nominal day of a monthly report."""
        return int(self.day or 1)


class ScheduleFile(BaseModel):
    """``<workspace>/reports.yaml``: the default channels file and the schedules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels_file: str = DEFAULT_CHANNELS_FILE
    schedules: list[ReportSchedule] = Field(default_factory=list)


def _workspace_path(workspace: Workspace | Path | str) -> Path:
    return Path(workspace) if isinstance(workspace, str | Path) else workspace.path


def _channel_problems(spec: ScheduleFile, root: Path) -> tuple[ScheduleFile, list[tuple[Loc, str]]]:
    """The file with every schedule's channels file filled in, and the problems of channels:
    the file must exist and name each schedule's channel, an e-mail one."""
    from servq.monitor.notify.channels import load_channels

    schedules = []
    problems: list[tuple[Loc, str]] = []
    seen: set[str] = set()
    loaded: dict[str, dict[str, Channel] | str] = {}
    for i, s in enumerate(spec.schedules):
        if s.id in seen:
            problems.append((("schedules", i, "id"), f"id {s.id} is used twice / 编号 {s.id} 重复"))
        seen.add(s.id)
        if "channels_file" not in s.model_fields_set:
            s = s.model_copy(update={"channels_file": spec.channels_file})
        schedules.append(s)
        if s.channels_file not in loaded:
            path = root / s.channels_file
            if not path.is_file():
                loaded[s.channels_file] = (
                    f"channels file {path} not found / 找不到通知渠道文件 {path}"
                )
            else:
                try:
                    loaded[s.channels_file] = load_channels(path)
                except DefinitionError as exc:
                    loaded[s.channels_file] = f"{path}: {exc}"
        found = loaded[s.channels_file]
        loc: Loc = ("schedules", i, "channel")
        if isinstance(found, str):
            problems.append((loc, found))
        elif s.channel not in found:
            known = ", ".join(sorted(found)) or "-"
            problems.append(
                (
                    loc,
                    f"no channel '{s.channel}' in {s.channels_file} (channels: {known}) / "
                    f"渠道文件中没有 '{s.channel}'",
                )
            )
        elif found[s.channel].kind != "email":
            problems.append(
                (
                    loc,
                    f"channel '{s.channel}' is {found[s.channel].kind}: reports are sent by "
                    f"e-mail / 渠道 '{s.channel}' 不是 email 渠道，报告只能通过邮件发送",
                )
            )
    return spec.model_copy(update={"schedules": schedules}), problems


def load_schedules(workspace: Workspace | Path | str) -> list[ReportSchedule]:
    """The schedules of ``<workspace>/reports.yaml`` (none when the file does not exist).

    Every problem of the file — a field, a duplicate id, a channel missing from the channels
    file or not an e-mail channel — is raised at once in a DefinitionError with its line.
    """
    root = _workspace_path(workspace)
    path = root / SCHEDULE_FILE
    if not path.is_file():
        return []
    text = read_definition(path)
    if not text.strip():
        return []
    fixed: list[ScheduleFile] = []

    def checks(spec: ScheduleFile) -> list[tuple[Loc, str]]:
        filled, problems = _channel_problems(spec, root)
        fixed.append(filled)
        return problems

    load_model(ScheduleFile, text, str(path), checks=checks)
    return list(fixed[0].schedules)


def get_schedule(workspace: Workspace | Path | str, schedule_id: str) -> ReportSchedule:
    """One schedule by id; a bilingual ServqError naming the known ids when it is not there."""
    schedules = load_schedules(workspace)
    for s in schedules:
        if s.id == schedule_id:
            return s
    known = ", ".join(s.id for s in schedules) or "-"
    raise ServqError(
        f"no report schedule '{schedule_id}' in {SCHEDULE_FILE} (schedules: {known}) / "
        f"{SCHEDULE_FILE} 中没有报告计划 '{schedule_id}'"
    )


# --- run times ----------------------------------------------------------------------------------


@cache
def _calendar(timezone: str, business_hours: str | None, weekdays_only: bool) -> CalendarSpec:
    """The days and hours a schedule may send in, as a servq calendar."""
    from servq.calendar import CalendarSpec

    hours = [business_hours or "00:00-24:00"]
    spec: dict[str, Any] = {
        "name": "report-schedule",
        "timezone": timezone,
        "hours": {"workday": hours},
        "holidays": "china" if weekdays_only else "none",
    }
    if weekdays_only:
        spec["hours"].update(saturday=[], sunday=[])
    else:
        spec["hours"].update(saturday=hours, sunday=hours)
    return CalendarSpec.model_validate(spec)


class _Days:
    """Which local dates a schedule may send on, and their business hours."""

    def __init__(self, s: ReportSchedule) -> None:
        from servq.calendar import DayKind, DayRule

        self.schedule = s
        self.rule = DayRule(_calendar(s.timezone, s.business_hours, s.weekdays_only))
        self.working = DayKind.WORKING

    def allowed(self, day: date) -> bool:
        return not self.schedule.weekdays_only or self.rule.kind(day) is self.working

    def next_allowed(self, day: date) -> date:
        for _ in range(_MAX_SHIFT_DAYS + 1):
            if self.allowed(day):
                return day
            day += timedelta(days=1)
        raise ServqError(  # pragma: no cover - no calendar closes a month
            f"no working day within {_MAX_SHIFT_DAYS} days of {day} / "
            f"{day} 之后 {_MAX_SHIFT_DAYS} 天内没有工作日"
        )

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The business hours of an allowed day, as aware local datetimes [open, close)."""
        zone = self.schedule.zone
        hours = self.schedule.business_hours or "00:00-24:00"
        start_text, end_text = hours.split("-")
        start = datetime.combine(day, _clock(start_text), zone)
        if end_text == "24:00":
            end = datetime.combine(day + timedelta(days=1), clock(0), zone)
        else:
            end = datetime.combine(day, _clock(end_text), zone)
        return start, end


def _nominal_days(s: ReportSchedule, first: date) -> Iterator[date]:
    """The nominal day of every week or month, from the one on or after ``first``."""
    if s.period == "week":
        day = first + timedelta(days=(s.weekday - first.weekday()) % 7)
        while True:
            yield day
            day += timedelta(days=7)
    year, month = first.year, first.month
    while True:
        last = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
        day = date(year, month, min(s.month_day, last))
        if day >= first:
            yield day
        year, month = year + (month == 12), month % 12 + 1


def _adjust(days: _Days, nominal: date) -> datetime:
    """The instant a nominal day's report is sent (see the module docstring)."""
    s = days.schedule
    day = days.next_allowed(nominal)
    moment = datetime.combine(day, s.at_time, s.zone)
    if s.business_hours is None:
        return moment
    for _ in range(_MAX_SHIFT_DAYS + 1):
        start, end = days.window(day)
        if moment < start:
            return start
        if moment < end:
            return moment
        day = days.next_allowed(day + timedelta(days=1))
        moment = datetime.combine(day, clock(0), s.zone)
    raise ServqError(  # pragma: no cover - the window loop always finds an open day
        f"no business hours found after {nominal} / {nominal} 之后找不到工作时间"
    )


def _runs(s: ReportSchedule, first: date) -> Iterator[datetime]:
    """Run instants (aware, in the schedule's zone) in order, from nominal days on or after
    ``first``; two nominal days moved to one instant run once."""
    days = _Days(s)
    last: datetime | None = None
    for nominal in _nominal_days(s, first):
        moment = _adjust(days, nominal)
        if last is None or moment > last:
            last = moment
            yield moment


def _aware(moment: datetime) -> datetime:
    """A naive time is taken as UTC (servq's convention)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def next_run(schedule: ReportSchedule, after: datetime) -> datetime:
    """The first run strictly after ``after`` (naive = UTC), aware in the schedule's zone."""
    after = _aware(after)
    local = after.astimezone(schedule.zone).date()
    for moment in _runs(schedule, local - timedelta(days=_MAX_SHIFT_DAYS + 1)):
        if moment > after:
            return moment
    raise AssertionError("unreachable: runs never end")  # pragma: no cover


def previous_run(schedule: ReportSchedule, at: datetime) -> datetime | None:
    """The latest run at or before ``at`` (naive = UTC), aware in the schedule's zone."""
    at = _aware(at)
    local = at.astimezone(schedule.zone).date()
    found = None
    span = 3 * 31 if schedule.period == "month" else 3 * 7
    for moment in _runs(schedule, local - timedelta(days=span + _MAX_SHIFT_DAYS)):
        if moment > at:
            return found
        found = moment
    return found  # pragma: no cover - runs never end


def period_for_run(schedule: ReportSchedule, at: datetime) -> Period:
    """The period a run at ``at`` reports: the last complete week or month before its day."""
    return last_complete(schedule.period, _aware(at).astimezone(schedule.zone).date())


@dataclass(frozen=True)
class DueRun:
    """A schedule whose latest run time has come and whose period is not sent yet."""

    schedule: ReportSchedule
    run_at: datetime
    period: Period


def due_schedules(
    schedules: Iterable[ReportSchedule], store: Store | None, now: datetime
) -> list[DueRun]:
    """The schedules due at ``now``: their latest run is at or before ``now`` and its period
    was not sent yet (according to ``store``; without one, every such schedule is due)."""
    from servq.reports.runs import was_sent

    due = []
    for s in schedules:
        run = previous_run(s, now)
        if run is None:
            continue
        period = period_for_run(s, run)
        if store is not None and was_sent(store, s.id, period.label):
            continue
        due.append(DueRun(s, run, period))
    return due


# --- delivery -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportDelivery:
    """What :func:`deliver` did. ``skipped``: the period was already sent (or is being sent by
    another process), nothing was built or sent."""

    schedule_id: str
    period: str
    sent: bool
    skipped: bool
    attempts: int = 0
    error: str | None = None
    files: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "schedule_id": self.schedule_id,
            "period": self.period,
            "sent": self.sent,
            "skipped": self.skipped,
            "attempts": self.attempts,
            "error": self.error,
            "files": list(self.files),
            "recipients": list(self.recipients),
        }


def file_name(schedule_id: str, period: Period, fmt: str) -> str:
    return f"{schedule_id}-{period.file_label()}.{fmt}"


def _plain_body(report: Report, files: Sequence[str]) -> str:
    from servq.reports.render import header_fields
    from servq.reports.words import format_change, format_value, word

    lang = report.lang
    lines = [report.title, ""]
    lines += [f"{label}: {value}" for label, value in header_fields(report)]
    lines += ["", word("mail_intro", lang)]
    for k in report.kpis:
        change = format_change(k.change, k.change_pct, k.unit, lang)
        judged = "" if k.verdict in ("neutral", "n/a") else f", {word(k.verdict, lang)}"
        lines.append(f"- {k.name}: {format_value(k.value, k.unit, lang)} ({change}{judged})")
    lines += ["", f"{word('mail_attached', lang)}: {', '.join(files)}"]
    return "\n".join(lines) + "\n"


def report_mail(
    report: Report,
    channel: Channel,
    files: Mapping[str, bytes],
    *,
    at: datetime,
    delivery_id: str,
    schedule_id: str = "",
) -> EmailMessage:
    """The e-mail of a report: a text summary, the HTML report as the HTML alternative, and
    the rendered files attached."""
    from servq.reports.render import MEDIA_TYPES, render_html

    sender = channel.sender or ""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "servq.invalid"
    mail = EmailMessage(policy=SMTP_POLICY)
    subject = report.title
    if report.scope:
        subject += f" · {report.scope_text()}"
    mail["Subject"] = subject
    mail["From"] = sender
    mail["To"] = ", ".join(channel.to)
    mail["Date"] = format_datetime(_aware(at).astimezone(UTC))
    mail["Message-ID"] = f"<{delivery_id}@{domain}>"
    mail["X-Servq-Report"] = schedule_id or "-"
    mail["X-Servq-Period"] = report.period.label
    mail.set_content(_plain_body(report, list(files)))
    mail.add_alternative(render_html(report), subtype="html")
    for name, data in files.items():
        fmt = name.rsplit(".", 1)[-1]
        maintype, subtype = MEDIA_TYPES.get(fmt, "application/octet-stream").split("/", 1)
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return mail


def _channel_of(
    schedule: ReportSchedule, ws: Workspace, channels: Mapping[str, Channel] | None
) -> Channel:
    if channels is None:
        from servq.monitor.notify.channels import load_channels

        path = ws.path / schedule.channels_file
        if not path.is_file():
            raise ServqError(f"channels file {path} not found / 找不到通知渠道文件 {path}")
        channels = load_channels(path)
    channel = channels.get(schedule.channel)
    if channel is None:
        raise ServqError(
            f"unknown notification channel: {schedule.channel} / 未知的通知渠道：{schedule.channel}"
        )
    if channel.kind != "email":
        raise ServqError(
            f"channel '{channel.name}' is {channel.kind}: reports are sent by e-mail / "
            f"渠道 '{channel.name}' 不是 email 渠道，报告只能通过邮件发送"
        )
    return channel


def _send(
    mail: EmailMessage,
    channel: Channel,
    environ: Mapping[str, str],
    sleep: Callable[[float], None],
) -> tuple[bool, int, str | None]:
    """Send with the channel's retries and back-off (servq.monitor.notify's rules): ok, the
    number of attempts, and the last error with secrets hidden."""
    from servq.monitor.notify.channels import MissingSecret, resolve_channel
    from servq.monitor.notify.notifier import backoff, redact
    from servq.monitor.notify.send import send_mail

    try:
        secrets = resolve_channel(channel, environ)
    except MissingSecret as exc:
        return False, 0, str(exc)
    hidden = secrets.hidden_words()
    attempts = 0
    while True:
        attempts += 1
        outcome = send_mail(mail, channel, secrets.username, secrets.password)
        if outcome.ok:
            return True, attempts, None
        if not outcome.retry or attempts >= channel.max_attempts:
            return False, attempts, redact(outcome.error, hidden)
        sleep(backoff(channel, attempts, outcome.retry_after))


def deliver(
    schedule: ReportSchedule,
    ws: Workspace,
    store: Store,
    now: datetime,
    *,
    channels: Mapping[str, Channel] | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReportDelivery:
    """Build, render and e-mail the report of the last complete period before ``now``.

    ``now`` naive is UTC. The run is claimed in the store first, so a period already sent (or
    being sent by another process) is skipped; a failure is recorded and may be retried.
    ``channels`` defaults to the schedule's channels file in the workspace, ``environ`` (for
    ``${ENV}`` secrets) to the process environment.
    """
    from servq.reports import runs
    from servq.reports.build import build_report
    from servq.reports.render import render

    moment = _aware(now)
    period = period_for_run(schedule, moment)
    channel = _channel_of(schedule, ws, channels)
    stamp = moment.astimezone(UTC).replace(tzinfo=None)
    if not runs.claim(store, schedule.id, period.label, stamp):
        return ReportDelivery(schedule.id, period.label, sent=False, skipped=True)
    names: tuple[str, ...] = ()
    try:
        report = build_report(
            ws,
            store,
            period,
            lang=schedule.lang,
            timezone=schedule.timezone,
            scope=schedule.scope,
            generated_at=moment,
        )
        files = {file_name(schedule.id, period, f): render(report, f) for f in schedule.formats}
        names = tuple(files)
        mail = report_mail(
            report,
            channel,
            files,
            at=moment,
            delivery_id=f"report-{schedule.id}-{period.file_label()}-{uuid.uuid4().hex[:12]}",
            schedule_id=schedule.id,
        )
        ok, attempts, error = _send(
            mail, channel, os.environ if environ is None else environ, sleep
        )
    except BaseException as exc:
        runs.finish(
            store,
            schedule.id,
            period.label,
            ok=False,
            now=stamp,
            attempts=0,
            files=names,
            error=f"{type(exc).__name__}: {exc}",
        )
        raise
    runs.finish(
        store,
        schedule.id,
        period.label,
        ok=ok,
        now=stamp,
        attempts=attempts,
        recipients=channel.to,
        files=names,
        error=error,
    )
    return ReportDelivery(
        schedule.id,
        period.label,
        sent=ok,
        skipped=False,
        attempts=attempts,
        error=error,
        files=names,
        recipients=channel.to if ok else (),
    )
