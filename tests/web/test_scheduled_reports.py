"""The serve process sends the reports its workspace schedules (``reports.yaml``), through a
real SMTP server on localhost, once per period."""

from __future__ import annotations

import email
import socket
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiosmtpd.controller import Controller

from servq.app_store import open_store
from servq.web.api import deliver_due_reports
from servq.web.warehouse import WarehousePool


class Inbox:
    """Every message the SMTP server accepted."""

    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


SCHEDULE = """\
schedules:
  - id: weekly-phone
    period: week
    format: xlsx
    lang: en
    day: monday
    at: "08:30"
    weekdays_only: true
    channel: owners
    scope:
      team: [电话客服组]
"""
CHANNELS = """\
channels:
  - name: owners
    kind: email
    smtp_host: 127.0.0.1
    smtp_port: {port}
    from: reports@example.com
    to: [phone-owner@example.com]
"""


def test_serve_sends_due_reports_once(demo_workspace: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "ws"
    folder.mkdir()
    shutil.copy(demo_workspace / "warehouse.duckdb", folder / "warehouse.duckdb")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    (folder / "channels.yaml").write_text(CHANNELS.format(port=port), encoding="utf-8")
    (folder / "reports.yaml").write_text(SCHEDULE, encoding="utf-8")
    pool = WarehousePool(folder, size=1)
    store = open_store(folder)
    state = SimpleNamespace(path=folder, pool=pool, store=store)
    try:
        # Sunday 26 Oct 2025: the run missed last Monday (week 2025-W42) is sent, then
        # nothing until Monday 27 Oct 08:30 Shanghai, when 2025-W43 is
        sunday = datetime(2025, 10, 26, 4, 0, tzinfo=UTC)
        assert [d.period for d in deliver_due_reports(state, sunday)] == ["2025-W42"]
        assert deliver_due_reports(state, sunday) == []
        assert deliver_due_reports(state, datetime(2025, 10, 27, 0, 29, tzinfo=UTC)) == []
        monday = datetime(2025, 10, 27, 0, 31, tzinfo=UTC)
        sent = deliver_due_reports(state, monday)
        assert [(d.period, d.sent) for d in sent] == [("2025-W43", True)]
        assert deliver_due_reports(state, monday) == []  # not twice
        assert len(inbox.mails) == 2
        mail = email.message_from_bytes(inbox.mails[1][2], policy=default_policy)
        assert isinstance(mail, EmailMessage)
        assert mail["X-Servq-Period"] == "2025-W43"
        names = [part.get_filename() for part in mail.iter_attachments()]
        assert names == ["weekly-phone-2025-W43.xlsx"]
    finally:
        controller.stop()
        pool.close()
        store.close()
