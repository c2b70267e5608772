"""Report schedules: run times on China's working days and in business hours, the schedule file,
and delivery through a real SMTP server (aiosmtpd on localhost), once per period."""

from __future__ import annotations

import email
import io
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from aiosmtpd.controller import Controller
from pypdf import PdfReader
from typer.testing import CliRunner

import servq
from servq.app_store import open_store
from servq.cli.main import app
from servq.errors import DefinitionError
from servq.reports import runs
from servq.reports.schedule import (
    ReportSchedule,
    deliver,
    due_schedules,
    get_schedule,
    load_schedules,
    next_run,
    period_for_run,
    previous_run,
)

from .conftest import Demo, created_in

SH = "+08:00"


def at(text: str) -> datetime:
    """A Beijing time written without its offset."""
    return datetime.fromisoformat(text + SH)


def schedule(**fields: Any) -> ReportSchedule:
    base: dict[str, Any] = {"id": "weekly", "period": "week", "channel": "managers"}
    return ReportSchedule.model_validate({**base, **fields})


# --- run times ----------------------------------------------------------------------------------

OFFICE = {"day": "monday", "at": "08:30", "business_hours": "09:00-18:00"}


def test_weekend_then_into_business_hours() -> None:
    s = schedule(**OFFICE)
    # Saturday noon: the next Monday, 08:30 moved to the opening at 09:00
    assert next_run(s, at("2025-03-08T12:00")) == at("2025-03-10T09:00")
    run = next_run(s, at("2025-03-08T12:00"))
    assert run.tzinfo is not None and run.utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]
    # strictly after: asked at the run time itself, the following week's run
    assert next_run(s, at("2025-03-10T09:00")) == at("2025-03-17T09:00")
    # a naive time is UTC: 2025-03-10 00:30 UTC is 08:30 in Beijing, before the run
    assert next_run(s, datetime(2025, 3, 10, 0, 30)) == at("2025-03-10T09:00")
    # the run of Monday 2025-03-10 reports the week before it
    assert period_for_run(s, at("2025-03-10T09:00")).label == "2025-W10"


def test_national_day_holiday_moves_the_run_to_the_next_working_day() -> None:
    s = schedule(**OFFICE)
    # Monday 2025-10-06 falls in the National Day holiday (1–8 October): Thursday the 9th
    assert next_run(s, at("2025-10-01T00:00")) == at("2025-10-09T09:00")
    assert period_for_run(s, at("2025-10-09T09:00")).label == "2025-W40"
    # without weekdays_only the holiday is an ordinary Monday
    plain = schedule(**OFFICE, weekdays_only=False)
    assert next_run(plain, at("2025-10-01T00:00")) == at("2025-10-06T09:00")


def test_adjusted_working_sunday_counts_as_a_working_day() -> None:
    # Saturday 2025-09-27 is a rest day; Sunday the 28th is an adjusted working day (调休上班)
    saturday = schedule(day="saturday", at="10:00", business_hours="09:00-18:00")
    assert next_run(saturday, at("2025-09-26T12:00")) == at("2025-09-28T10:00")
    sunday = schedule(day="sunday", at="10:00")
    assert next_run(sunday, at("2025-09-26T12:00")) == at("2025-09-28T10:00")
    # an ordinary Sunday is not: the run moves to Monday
    assert next_run(sunday, at("2025-09-15T12:00")) == at("2025-09-22T10:00")
    # Saturday 2025-10-11 is an adjusted working day too, so the report goes out that day
    assert next_run(saturday, at("2025-10-09T12:00")) == at("2025-10-11T10:00")


def test_after_business_hours_waits_for_the_next_open_day() -> None:
    late = schedule(day="friday", at="19:00", business_hours="09:00-18:00")
    # Friday 2025-03-07 19:00 is after hours: sent at Monday's opening
    assert next_run(late, at("2025-03-08T00:00")) == at("2025-03-10T09:00")
    assert next_run(late, at("2025-03-10T12:00")) == at("2025-03-17T09:00")
    every_day = schedule(
        day="friday", at="19:00", business_hours="09:00-18:00", weekdays_only=False
    )
    assert next_run(every_day, at("2025-03-10T12:00")) == at("2025-03-15T09:00")  # Saturday
    inside = schedule(day="friday", at="10:15", business_hours="09:00-18:00")
    assert next_run(inside, at("2025-03-10T00:00")) == at("2025-03-14T10:15")


def test_monthly_on_the_first_moves_off_the_holiday() -> None:
    s = schedule(id="monthly", period="month", day=1, at="08:30")
    assert next_run(s, at("2025-09-15T00:00")) == at("2025-10-09T08:30")
    assert period_for_run(s, at("2025-10-09T08:30")).label == "2025-09"
    assert next_run(s, at("2025-10-09T08:30")) == at("2025-11-03T08:30")  # 1 Nov: Saturday
    last = schedule(id="month-end", period="month", day=31, weekdays_only=False)
    assert next_run(last, at("2025-02-01T00:00")) == at("2025-02-28T08:30")


def test_previous_run() -> None:
    s = schedule(**OFFICE)
    assert previous_run(s, at("2025-10-09T10:00")) == at("2025-10-09T09:00")
    assert previous_run(s, at("2025-10-09T08:59")) == at("2025-09-29T09:00")


# --- the schedule file --------------------------------------------------------------------------

CHANNELS = """\
channels:
  - name: managers
    kind: email
    smtp_host: 127.0.0.1
    smtp_port: {port}
    from: "servq 报告 <reports@example.com>"
    to: [ops-lead@example.com, "值班经理 <duty@example.com>"]
    max_attempts: 3
    backoff: 1
  - name: ops-hook
    kind: webhook
    url: https://hooks.example.com/servq
"""

REPORTS = """\
schedules:
  - id: weekly-ops
    period: week
    formats: [pdf, xlsx, html]
    lang: zh
    day: monday
    at: "08:30"
    business_hours: "09:00-18:00"
    channel: managers
  - id: phone-monthly
    period: month
    format: html
    lang: en
    day: 1
    channel: managers
    scope:
      team: [电话客服组]
"""


def test_schedule_file_problems_are_listed_with_lines(tmp_path: Path) -> None:
    (tmp_path / "channels.yaml").write_text(CHANNELS.format(port=2525), encoding="utf-8")
    (tmp_path / "reports.yaml").write_text(
        "schedules:\n"
        "  - id: a\n"
        "    period: week\n"
        "    day: 3\n"  # line 4: a weekly report's day is a weekday name
        "    at: '25:00'\n"  # line 5
        "    channel: managers\n"
        "  - id: b\n"
        "    period: month\n"
        "    channel: ops-hook\n"  # line 9: not an e-mail channel
        "    scope: {category: [退款]}\n",  # line 10
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as info:
        load_schedules(tmp_path)
    lines = {(p.line, p.field) for p in info.value.problems}
    assert {(4, "schedules[0].day"), (5, "schedules[0].at"), (10, "schedules[1].scope")} <= lines
    assert "monday..sunday" in str(info.value) and "周报" in str(info.value)
    # the field problems fixed, the channel problems show
    (tmp_path / "reports.yaml").write_text(
        "schedules:\n"
        "  - {id: a, period: week, channel: managers}\n"
        "  - {id: a, period: month, channel: ops-hook}\n"
        "  - {id: c, period: month, channel: nobody}\n",
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as info:
        load_schedules(tmp_path)
    text = str(info.value)
    assert "id a is used twice" in text and "reports are sent by e-mail" in text
    assert "no channel 'nobody'" in text
    assert [p.line for p in info.value.problems] == [3, 3, 4]


def test_schedule_defaults_and_format_alias(tmp_path: Path) -> None:
    assert load_schedules(tmp_path) == []  # no file, no schedules
    (tmp_path / "channels.yaml").write_text(CHANNELS.format(port=2525), encoding="utf-8")
    (tmp_path / "reports.yaml").write_text(REPORTS, encoding="utf-8")
    weekly, monthly = load_schedules(tmp_path)
    assert weekly.formats == ("pdf", "xlsx", "html") and weekly.weekday == 0
    assert weekly.timezone == "Asia/Shanghai" and weekly.weekdays_only
    assert monthly.formats == ("html",) and monthly.month_day == 1
    assert monthly.scope == {"team": ["电话客服组"]}


# --- delivery -----------------------------------------------------------------------------------


@dataclass
class Inbox:
    """What the SMTP server accepted; DATA is answered from ``script`` first, then 250."""

    mails: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    script: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        if self.script:
            return self.script.pop(0)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def message(self, i: int) -> EmailMessage:
        parsed = email.message_from_bytes(self.mails[i][2], policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Post:
    inbox: Inbox
    workspace: Path


@pytest.fixture(scope="module")
def post(demo: Demo) -> Iterator[Post]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    (demo.path / "channels.yaml").write_text(CHANNELS.format(port=port), encoding="utf-8")
    (demo.path / "reports.yaml").write_text(REPORTS, encoding="utf-8")
    yield Post(inbox, demo.path)
    controller.stop()


def attachments(mail: EmailMessage) -> dict[str, bytes]:
    out = {}
    for part in mail.iter_attachments():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        out[str(part.get_filename())] = payload
    return out


def test_delivery_sends_the_files_once_per_period(post: Post, demo: Demo, tmp_path: Path) -> None:
    monday = at("2025-10-27T09:30")  # the run after the shortage week 2025-W43
    s = get_schedule(post.workspace, "weekly-ops")
    with servq.open_workspace(post.workspace, read_only=True) as ws, open_store(tmp_path) as store:
        assert [d.period.label for d in due_schedules([s], store, monday)] == ["2025-W43"]
        result = deliver(s, ws, store, monday, environ={})
        assert result.sent and not result.skipped and result.attempts == 1
        assert result.files == (
            "weekly-ops-2025-W43.pdf",
            "weekly-ops-2025-W43.xlsx",
            "weekly-ops-2025-W43.html",
        )
        assert len(post.inbox.mails) == 1
        sender, rcpts, _ = post.inbox.mails[0]
        assert sender == "reports@example.com"
        assert rcpts == ["ops-lead@example.com", "duty@example.com"]
        mail = post.inbox.message(0)
        assert mail["Subject"] == "服务质量周报 2025-W43"
        assert mail["X-Servq-Period"] == "2025-W43"
        body = mail.get_body(("plain",))
        assert body is not None and "新建工单量" in body.get_content()
        files = attachments(mail)
        assert set(files) == set(result.files)
        cases = len(created_in(demo.tickets, *period_bounds("2025-W43")))
        pdf_text = "\n".join(
            p.extract_text() for p in PdfReader(io.BytesIO(files[result.files[0]])).pages
        )
        assert "服务质量周报 2025-W43" in pdf_text
        assert f"\n{cases}\n" in "\n" + "\n".join(x.strip() for x in pdf_text.splitlines()) + "\n"
        book = openpyxl.load_workbook(io.BytesIO(files[result.files[1]]))
        kpis = {r[7]: r for r in book["关键指标"].iter_rows(values_only=True)}
        assert kpis["cases_created"][1] == cases
        assert files[result.files[2]].startswith(b"<!DOCTYPE html>")
        record = runs.get_run(store, "weekly-ops", "2025-W43")
        assert record is not None and record.state == "sent"
        assert record.recipients == ("ops-lead@example.com", "值班经理 <duty@example.com>")

        # the same period is never sent twice: not again at once, nor later that week
        again = deliver(s, ws, store, monday, environ={})
        later = deliver(s, ws, store, at("2025-10-30T15:00"), environ={})
        assert again.skipped and later.skipped and not again.sent
        assert len(post.inbox.mails) == 1
        assert due_schedules([s], store, at("2025-10-30T15:00")) == []
        assert [d.period.label for d in due_schedules([s], store, at("2025-11-03T09:00"))] == [
            "2025-W44"
        ]


def period_bounds(label: str) -> tuple[Any, Any]:
    from servq.reports import parse_period

    p = parse_period(label)
    return p.start, p.end


def test_a_failed_delivery_is_recorded_and_retried(post: Post, tmp_path: Path) -> None:
    s = get_schedule(post.workspace, "phone-monthly")
    now = at("2025-11-03T10:00")  # covers 2025-10
    sleeps: list[float] = []
    before = len(post.inbox.mails)
    with servq.open_workspace(post.workspace, read_only=True) as ws, open_store(tmp_path) as store:
        post.inbox.script[:] = ["554 5.7.1 message refused"]
        failed = deliver(s, ws, store, now, environ={}, sleep=sleeps.append)
        assert not failed.sent and not failed.skipped and failed.attempts == 1
        assert failed.error is not None and "554" in failed.error
        run = runs.get_run(store, "phone-monthly", "2025-10")
        assert run is not None and run.state == "failed"
        assert [d.schedule.id for d in due_schedules([s], store, now)] == ["phone-monthly"]
        # a busy server (4xx) is retried after the channel's back-off
        post.inbox.script[:] = ["451 4.3.0 try again later"]
        sent = deliver(s, ws, store, now, environ={}, sleep=sleeps.append)
        assert sent.sent and sent.attempts == 2 and sleeps == [1.0]
    assert len(post.inbox.mails) == before + 1
    mail = post.inbox.message(before)
    assert mail["Subject"] == "Monthly service quality report 2025-10 · Team: 电话客服组"
    assert set(attachments(mail)) == {"phone-monthly-2025-10.html"}


# --- the commands -------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_schedules_send_and_report(post: Post, demo: Demo, tmp_path: Path) -> None:
    ws = str(post.workspace)
    listed = runner.invoke(
        app, ["report", "schedules", "-w", ws, "--now", "2025-10-01T00:00+08:00", "--json"]
    )
    assert listed.exit_code == 0, listed.output
    found = {r["id"]: r for r in json.loads(listed.output)}
    assert found["weekly-ops"]["next_run"] == "2025-10-09T09:00:00+08:00"
    assert found["weekly-ops"]["next_period"] == "2025-W40"
    assert found["phone-monthly"]["next_run"] == "2025-10-09T08:30:00+08:00"

    # a period the workspace's store already has as sent is not sent again
    with open_store(post.workspace) as store:
        assert runs.claim(store, "weekly-ops", "2025-W40", datetime(2025, 10, 9, 1))
        runs.finish(
            store, "weekly-ops", "2025-W40", ok=True, now=datetime(2025, 10, 9, 1), attempts=1
        )
    before = len(post.inbox.mails)
    sent = runner.invoke(
        app, ["report", "send", "weekly-ops", "-w", ws, "--now", "2025-10-09T10:00+08:00"]
    )
    assert sent.exit_code == 0, sent.output
    assert "already sent" in sent.output and len(post.inbox.mails) == before
    unknown = runner.invoke(app, ["report", "send", "nope", "-w", ws])
    assert unknown.exit_code == 2 and "no report schedule 'nope'" in unknown.output

    out = tmp_path / "phone.xlsx"
    made = runner.invoke(
        app,
        [
            "report", "-w", ws, "--period", "2025-W43", "--format", "xlsx", "--lang", "en",
            "--team", "电话客服组", "--out", str(out),
        ],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert made.output.strip() == str(out)
    book = openpyxl.load_workbook(out)
    kpis = {r[7]: r for r in book["KPIs"].iter_rows(values_only=True)}
    week = created_in(demo.tickets, *period_bounds("2025-W43"))
    assert kpis["cases_created"][1] == int((week["team"] == "电话客服组").sum())
    bad = runner.invoke(app, ["report", "-w", ws, "--period", "2025-13"])
    assert bad.exit_code == 2 and "month 13 is not 1–12" in bad.output


def test_every_schedule_field_is_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text("utf-8")
    for name in ReportSchedule.model_fields:
        shown = "`format` or `formats`" if name == "formats" else f"`{name}`"
        assert f"| {shown} |" in text, f"docs/reports.md does not document {name}"
