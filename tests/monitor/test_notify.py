"""Notifications against a real local HTTP receiver and a real local SMTP server.

Signatures are recomputed here from the services' documented formulas, not with servq's helpers;
back-off is observed through an injected ``sleep`` that only records, so nothing waits.
"""

from __future__ import annotations

import base64
import calendar
import email
import hashlib
import hmac
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from servq.app_store import Store, open_store
from servq.errors import DefinitionError, ServqError
from servq.monitor.alerts.model import Alert, Notice
from servq.monitor.notify import (
    AlertMessage,
    Channel,
    Notifier,
    load_channels,
    message_from_notice,
    parse_channels,
)
from servq.monitor.signals import Signal, fingerprint

NOW = datetime(2025, 10, 20, 8, 0, 0)  # naive UTC, a Monday 16:00 in Shanghai
NOW_S = calendar.timegm((2025, 10, 20, 8, 0, 0))
SUMMARY_ZH = "售后一组首次回复超时 12 单"
SUMMARY_EN = "Team 售后一组: 12 cases over the first-reply target"


def message(**changes: Any) -> AlertMessage:
    base: dict[str, Any] = {
        "fingerprint": fingerprint("first_reply_breach", {"team": "售后一组"}),
        "alert_id": "A-1",
        "rule": "first_reply_breach",
        "severity": "critical",
        "state": "firing",
        "labels": {"team": "售后一组"},
        "summary_en": SUMMARY_EN,
        "summary_zh": SUMMARY_ZH,
        "value": 12.0,
        "threshold": 5.0,
        "starts_at": NOW - timedelta(minutes=30),
        "url": "https://servq.example.com/alerts/A-1",
    }
    return AlertMessage(**{**base, **changes})


# --- a real HTTP receiver -------------------------------------------------------------------


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Receiver:
    """Records every POST; answers from ``script`` in order, then ``default``.

    An answer is (status, body, headers); status 0 means: hang until the test ends.
    """

    base: str
    requests: list[Received] = field(default_factory=list)
    script: list[tuple[int, bytes, dict[str, str]]] = field(default_factory=list)
    default: tuple[int, bytes, dict[str, str]] = (200, b"ok", {})
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self, *answers: tuple[int, object]) -> None:
        for status, body in answers:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.script.append((status, raw, {}))

    def next_answer(self) -> tuple[int, bytes, dict[str, str]]:
        return self.script.pop(0) if self.script else self.default


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            parts = urlsplit(self.path)
            receiver.requests.append(
                Received(parts.path, parse_qs(parts.query), parts.query, dict(self.headers), body)
            )
            status, answer, headers = receiver.next_answer()
            if status == 0:
                receiver.release.wait(10)
                return
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver(base="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(box))
    server.daemon_threads = True
    box.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield box
    box.release.set()
    server.shutdown()
    server.server_close()


# --- a real SMTP server ---------------------------------------------------------------------


@dataclass
class MailBox:
    """Records accepted mail; answers DATA from ``script`` in order, then 250."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    script: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        if self.script:
            return self.script.pop(0)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def parsed(self, i: int = 0) -> EmailMessage:
        parsed = email.message_from_bytes(self.messages[i][2], policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_smtp(box: MailBox, **options: Any) -> Controller:
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    return controller


@pytest.fixture
def mailbox() -> Iterator[tuple[MailBox, int]]:
    box = MailBox()
    controller = start_smtp(box)
    yield box, controller.port
    controller.stop()


def password_check(user: str, password: str) -> Any:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 535

    return authenticate


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path) as s:
        yield s


def channel(**fields: Any) -> Channel:
    return Channel.model_validate({"name": "c", **fields})


def notifier(store: Store, *channels: Channel) -> tuple[Notifier, list[float]]:
    sleeps: list[float] = []
    return Notifier(store, {c.name: c for c in channels}, sleep=sleeps.append), sleeps


def hmac_b64(key: bytes, msg: bytes) -> str:
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


# --- payloads and signatures ----------------------------------------------------------------


def test_generic_webhook_is_signed_json_with_chinese_intact(
    store: Store, receiver: Receiver
) -> None:
    hook = channel(kind="webhook", url=f"{receiver.base}/hook", secret="s3cret-key")
    n, _ = notifier(store, hook)
    delivery = n.deliver(message(), "c", NOW)

    assert delivery.ok and delivery.attempts == 1
    [req] = receiver.requests
    expected = hmac.new(b"s3cret-key", req.body, hashlib.sha256).hexdigest()
    assert req.headers["X-Servq-Signature"] == f"sha256={expected}"
    assert req.headers["X-Servq-Timestamp"] == str(NOW_S)
    assert req.headers["X-Servq-Delivery"] == delivery.delivery_id
    assert req.headers["Content-Type"].startswith("application/json")
    assert SUMMARY_ZH.encode("utf-8") in req.body  # characters, not \\u escapes
    body = req.json()
    assert body["summary_zh"] == SUMMARY_ZH and body["summary_en"] == SUMMARY_EN
    assert body["labels"] == {"team": "售后一组"}
    assert body["starts_at"] == "2025-10-20T07:30:00Z"
    assert body["sent_at"] == "2025-10-20T08:00:00Z"
    assert (body["value"], body["threshold"], body["state"]) == (12.0, 5.0, "firing")
    assert body["fingerprint"] == fingerprint("first_reply_breach", {"team": "售后一组"})


def test_wecom_markdown_payload(store: Store, receiver: Receiver) -> None:
    wecom = channel(kind="wecom", url=f"{receiver.base}/cgi-bin/webhook/send?key=KEY1")
    receiver.default = (200, b'{"errcode":0,"errmsg":"ok"}', {})
    n, _ = notifier(store, wecom)
    assert n.deliver(message(), "c", NOW).ok

    [req] = receiver.requests
    assert req.query == {"key": ["KEY1"]}
    body = req.json()
    assert body["msgtype"] == "markdown" and set(body) == {"msgtype", "markdown"}
    content = body["markdown"]["content"]
    assert content.startswith("### ")
    for piece in (SUMMARY_ZH, SUMMARY_EN, "first_reply_breach", "严重", "critical", "A-1"):
        assert piece in content
    assert "[查看详情 Open](https://servq.example.com/alerts/A-1)" in content


def test_dingtalk_markdown_is_signed_in_the_query(store: Store, receiver: Receiver) -> None:
    secret = "SECd1ngta1k+/="
    ding = channel(
        kind="dingtalk", url=f"{receiver.base}/robot/send?access_token=T0K", secret=secret
    )
    receiver.default = (200, b'{"errcode":0,"errmsg":"ok"}', {})
    n, _ = notifier(store, ding)
    assert n.deliver(message(), "c", NOW).ok

    [req] = receiver.requests
    stamp = str(NOW_S * 1000)  # milliseconds
    sign = hmac_b64(secret.encode(), f"{stamp}\n{secret}".encode())
    assert req.query == {"access_token": ["T0K"], "timestamp": [stamp], "sign": [sign]}
    assert f"sign={quote_plus(sign)}" in req.raw_query  # URL-encoded, as documented
    body = req.json()
    assert body["msgtype"] == "markdown"
    assert "first_reply_breach" in body["markdown"]["title"]
    assert SUMMARY_ZH in body["markdown"]["text"] and SUMMARY_EN in body["markdown"]["text"]


def test_feishu_card_is_signed_in_the_body(store: Store, receiver: Receiver) -> None:
    feishu = channel(kind="feishu", url=f"{receiver.base}/open-apis/bot/v2/hook/H", secret="fs-key")
    receiver.default = (200, b'{"code":0,"msg":"success"}', {})
    n, _ = notifier(store, feishu)
    assert n.deliver(message(), "c", NOW).ok

    body = receiver.requests[0].json()
    assert body["timestamp"] == str(NOW_S)  # seconds
    assert body["sign"] == hmac_b64(f"{NOW_S}\nfs-key".encode(), b"")
    assert body["msg_type"] == "interactive"
    header = body["card"]["header"]
    assert header["template"] == "red"  # critical
    assert "first_reply_breach" in header["title"]["content"]
    [div] = body["card"]["elements"]
    assert div["text"]["tag"] == "lark_md" and SUMMARY_ZH in div["text"]["content"]


def test_feishu_without_secret_is_not_signed(store: Store, receiver: Receiver) -> None:
    receiver.default = (200, b'{"code":0}', {})
    n, _ = notifier(store, channel(kind="feishu", url=receiver.base))
    assert n.deliver(message(state="resolved"), "c", NOW).ok
    body = receiver.requests[0].json()
    assert "sign" not in body and "timestamp" not in body
    assert body["card"]["header"]["template"] == "green"  # resolved


def test_slack_text_and_blocks_escape_markup(store: Store, receiver: Receiver) -> None:
    n, _ = notifier(store, channel(kind="slack", url=receiver.base, language="en"))
    sneaky = message(summary_en="Backlog <!channel> & more")
    assert n.deliver(sneaky, "c", NOW).ok

    body = receiver.requests[0].json()
    assert "first_reply_breach" in body["text"]
    header, summary, fields = body["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert summary["text"]["type"] == "mrkdwn"
    assert "Backlog &lt;!channel&gt; &amp; more" in summary["text"]["text"]
    assert "<!channel>" not in json.dumps(body["blocks"])
    shown = [f["text"] for f in fields["fields"]]
    assert "*Value*\n12" in shown and "*Threshold*\n5" in shown
    assert SUMMARY_ZH not in json.dumps(body, ensure_ascii=False)  # English only


def test_language_and_time_zone_of_a_channel(store: Store, receiver: Receiver) -> None:
    receiver.default = (200, b'{"errcode":0}', {})
    zh = channel(
        name="zh", kind="wecom", url=receiver.base, language="zh", timezone="Asia/Shanghai"
    )
    n, _ = notifier(store, zh)
    n.deliver(message(), "zh", NOW)
    content = receiver.requests[0].json()["markdown"]["content"]
    assert SUMMARY_ZH in content and SUMMARY_EN not in content
    assert "critical" not in content and "Rule" not in content
    assert "2025-10-20 15:30 (Asia/Shanghai)" in content  # 07:30 UTC + 8 h


def test_a_long_wecom_message_is_cut_to_4096_bytes(store: Store, receiver: Receiver) -> None:
    receiver.default = (200, b'{"errcode":0}', {})
    n, _ = notifier(store, channel(kind="wecom", url=receiver.base, language="zh"))
    n.deliver(message(summary_zh="首次回复超时" * 1000), "c", NOW)  # 18 000 bytes of text
    content = receiver.requests[0].json()["markdown"]["content"]
    assert 4000 < len(content.encode("utf-8")) <= 4096 and content.endswith("…")


# --- retries, back-off, final failures ------------------------------------------------------


def test_500_twice_then_200_backs_off_and_logs_every_attempt(
    store: Store, receiver: Receiver
) -> None:
    receiver.answer((500, b"busy"), (500, b"busy"))
    n, sleeps = notifier(store, channel(kind="webhook", url=receiver.base, secret="k"))
    delivery = n.deliver(message(), "c", NOW)

    assert delivery.ok and delivery.attempts == 3 and delivery.status_code == 200
    assert sleeps == [1.0, 2.0] and delivery.waits == (1.0, 2.0)
    ids = {r.headers["X-Servq-Delivery"] for r in receiver.requests}
    assert ids == {delivery.delivery_id}  # one delivery id for all attempts
    stamps = [r.headers["X-Servq-Timestamp"] for r in receiver.requests]
    assert stamps == [str(NOW_S), str(NOW_S + 1), str(NOW_S + 3)]

    rows = sorted(n.log(), key=lambda r: r.attempt)
    assert [r.attempt for r in rows] == [1, 2, 3]
    assert [r.ok for r in rows] == [False, False, True]
    assert [r.final for r in rows] == [False, False, True]
    assert [r.status_code for r in rows] == [500, 500, 200]
    assert [r.waited_seconds for r in rows] == [0.0, 1.0, 2.0]
    assert [r.at for r in rows] == [NOW, NOW + timedelta(seconds=1), NOW + timedelta(seconds=3)]
    assert rows[0].error == "HTTP 500" and rows[0].response_excerpt == "busy"
    assert SUMMARY_ZH in rows[2].payload_excerpt
    assert {(r.channel, r.kind, r.state, r.alert_id) for r in rows} == {
        ("c", "webhook", "firing", "A-1")
    }


def test_gives_up_after_max_attempts_with_capped_backoff(store: Store, receiver: Receiver) -> None:
    receiver.default = (503, b"down", {})
    hook = channel(kind="webhook", url=receiver.base, max_attempts=5, backoff=0.5, backoff_max=1.5)
    n, sleeps = notifier(store, hook)
    delivery = n.deliver(message(), "c", NOW)

    assert not delivery.ok and delivery.attempts == 5 and delivery.error == "HTTP 503"
    assert sleeps == [0.5, 1.0, 1.5, 1.5]  # 0.5·2^k, capped at 1.5
    assert len(receiver.requests) == 5
    rows = n.log()
    assert len(rows) == 5 and [r.final for r in rows].count(True) == 1
    assert rows[0].final and rows[0].attempt == 5  # newest first


@pytest.mark.parametrize("status", [400, 403, 404])
def test_other_4xx_is_final_at_once(store: Store, receiver: Receiver, status: int) -> None:
    receiver.answer((status, b"invalid_payload"))
    n, sleeps = notifier(store, channel(kind="slack", url=receiver.base))
    delivery = n.deliver(message(), "c", NOW)
    assert not delivery.ok and delivery.attempts == 1 and sleeps == []
    assert delivery.status_code == status and delivery.error == f"HTTP {status}"


def test_429_honours_retry_after(store: Store, receiver: Receiver) -> None:
    receiver.script.append((429, b"slow down", {"Retry-After": "7"}))
    n, sleeps = notifier(store, channel(kind="slack", url=receiver.base))
    delivery = n.deliver(message(), "c", NOW)
    assert delivery.ok and delivery.attempts == 2
    assert sleeps == [7.0]  # more than the 1 s back-off


def test_robot_error_code_on_http_200_is_a_final_failure(store: Store, receiver: Receiver) -> None:
    receiver.answer((200, {"errcode": 310000, "errmsg": "keywords not in content"}))
    ding = channel(kind="dingtalk", url=f"{receiver.base}/robot/send?access_token=T", secret="S")
    n, sleeps = notifier(store, ding)
    delivery = n.deliver(message(), "c", NOW)
    assert not delivery.ok and delivery.attempts == 1 and sleeps == []
    assert delivery.status_code == 200
    assert delivery.error is not None and "310000" in delivery.error
    assert "keywords not in content" in n.log()[0].response_excerpt


@pytest.mark.parametrize(
    ("kind", "limited", "fine"),
    [
        ("wecom", {"errcode": 45009, "errmsg": "api freq out of limit"}, {"errcode": 0}),
        ("dingtalk", {"errcode": 130101, "errmsg": "send too fast"}, {"errcode": 0}),
        ("feishu", {"code": 11232, "msg": "frequency limited"}, {"code": 0}),
    ],
)
def test_robot_rate_limit_codes_are_retried(
    store: Store, receiver: Receiver, kind: str, limited: dict[str, Any], fine: dict[str, Any]
) -> None:
    receiver.answer((200, limited), (200, limited), (200, fine))
    n, sleeps = notifier(store, channel(kind=kind, url=receiver.base))
    delivery = n.deliver(message(), "c", NOW)
    assert delivery.ok and delivery.attempts == 3 and sleeps == [1.0, 2.0]


def test_robot_answer_without_a_code_is_a_failure(store: Store, receiver: Receiver) -> None:
    receiver.answer((200, b"<html>proxy login</html>"))
    n, _ = notifier(store, channel(kind="wecom", url=receiver.base))
    delivery = n.deliver(message(), "c", NOW)
    assert not delivery.ok and delivery.attempts == 1


def test_connection_refused_is_retried_then_fails(store: Store) -> None:
    closed = f"http://127.0.0.1:{free_port()}/hook"
    n, sleeps = notifier(store, channel(kind="webhook", url=closed, max_attempts=3))
    delivery = n.deliver(message(), "c", NOW)
    assert not delivery.ok and delivery.attempts == 3 and sleeps == [1.0, 2.0]
    assert delivery.status_code is None
    assert delivery.error is not None and "ConnectError" in delivery.error


def test_a_timeout_is_retried(store: Store, receiver: Receiver) -> None:
    receiver.script.append((0, b"", {}))  # hangs until the test ends
    hook = channel(kind="webhook", url=receiver.base, timeout=0.3, max_attempts=2)
    n, sleeps = notifier(store, hook)
    delivery = n.deliver(message(), "c", NOW)
    assert delivery.ok and delivery.attempts == 2 and sleeps == [1.0]
    assert "timed out" in (n.log()[1].error or "")


# --- ${ENV} secrets -------------------------------------------------------------------------


def test_secrets_come_from_the_environment_at_send_time(
    store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = channel(kind="webhook", url="${SERVQ_T_HOOK_URL}", secret="${SERVQ_T_HOOK_KEY}")
    n, _ = notifier(store, hook)
    monkeypatch.setenv("SERVQ_T_HOOK_URL", f"{receiver.base}/from-env")
    monkeypatch.setenv("SERVQ_T_HOOK_KEY", "key-from-env")
    assert n.deliver(message(), "c", NOW).ok

    [req] = receiver.requests
    assert req.path == "/from-env"
    expected = hmac.new(b"key-from-env", req.body, hashlib.sha256).hexdigest()
    assert req.headers["X-Servq-Signature"] == f"sha256={expected}"

    monkeypatch.delenv("SERVQ_T_HOOK_KEY")
    failed = n.deliver(message(), "c", NOW)
    assert not failed.ok and failed.attempts == 1 and len(receiver.requests) == 1
    assert failed.error is not None and "SERVQ_T_HOOK_KEY" in failed.error
    assert "环境变量" in failed.error


def test_the_log_never_holds_tokens_or_secrets(store: Store, receiver: Receiver) -> None:
    token, secret = "tok-3f9a77", "sec-very-secret"
    ding = channel(
        kind="dingtalk", url=f"{receiver.base}/robot/send?access_token={token}", secret=secret
    )
    receiver.answer((500, f"bad token {token}".encode()))
    receiver.default = (200, b'{"errcode":0}', {})
    n, _ = notifier(store, ding)
    assert n.deliver(message(), "c", NOW).ok
    rows = n.log()
    assert len(rows) == 2
    text = json.dumps([r.__dict__ for r in rows], default=str)
    assert token not in text and secret not in text
    assert "bad token ***" in text


# --- e-mail over a real SMTP server ---------------------------------------------------------


def mail_channel(port: int, **fields: Any) -> Channel:
    base = {
        "kind": "email",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "from": "servq 告警 <alerts@example.com>",
        "to": ["ops@example.com", "组长 <lead@example.com>"],
    }
    return channel(**{**base, **fields})


def test_email_has_chinese_subject_text_and_html(
    store: Store, mailbox: tuple[MailBox, int]
) -> None:
    box, port = mailbox
    n, _ = notifier(store, mail_channel(port, timezone="Asia/Shanghai"))
    delivery = n.deliver(message(), "c", NOW)
    assert delivery.ok and delivery.attempts == 1

    [(mail_from, rcpts, raw)] = box.messages
    assert mail_from == "alerts@example.com"
    assert rcpts == ["ops@example.com", "lead@example.com"]
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n")[0]  # headers travel as RFC 2047 ASCII
    mail = box.parsed()
    assert SUMMARY_ZH in mail["Subject"] and "first_reply_breach" in mail["Subject"]
    assert mail["From"].addresses[0].display_name == "servq 告警"
    assert mail["X-Servq-Delivery"] == delivery.delivery_id
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    plain = text.get_content()
    assert SUMMARY_ZH in plain and SUMMARY_EN in plain
    assert "2025-10-20 15:30 (Asia/Shanghai)" in plain
    markup = html.get_content()
    assert "<table>" in markup and SUMMARY_ZH in markup
    row = n.log()[0]
    assert row.kind == "email" and row.ok and SUMMARY_ZH in row.payload_excerpt


def test_email_transient_4xx_is_retried_and_5xx_is_final(
    store: Store, mailbox: tuple[MailBox, int]
) -> None:
    box, port = mailbox
    n, sleeps = notifier(store, mail_channel(port))
    box.script.append("451 4.3.0 Try again later")
    delivery = n.deliver(message(), "c", NOW)
    assert delivery.ok and delivery.attempts == 2 and sleeps == [1.0]
    assert n.log()[1].status_code == 451

    box.script.append("554 5.7.1 Rejected")
    failed = n.deliver(message(), "c", NOW)
    assert not failed.ok and failed.attempts == 1 and failed.status_code == 554
    assert len(box.messages) == 1


def test_email_login_with_password_from_the_environment(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = MailBox()
    controller = start_smtp(
        box, authenticator=password_check("servq", "p@ss w0rd!"), auth_require_tls=False
    )
    try:
        good = mail_channel(controller.port, username="servq", password="${SERVQ_T_SMTP_PW}")
        bad = good.model_copy(update={"name": "bad", "password": "wrong"})
        chinese = good.model_copy(update={"name": "zh", "password": "口令"})
        n, sleeps = notifier(store, good, bad, chinese)
        monkeypatch.setenv("SERVQ_T_SMTP_PW", "p@ss w0rd!")
        assert n.deliver(message(), "c", NOW).ok
        refused = n.deliver(message(), "bad", NOW)
        assert not refused.ok and refused.status_code == 535 and refused.attempts == 1
        unsendable = n.deliver(message(), "zh", NOW)  # smtplib logs in with ASCII only
        assert (
            not unsendable.ok and unsendable.attempts == 1 and "ASCII" in (unsendable.error or "")
        )
        assert len(box.messages) == 1 and sleeps == []
    finally:
        controller.stop()


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_email_over_starttls(store: Store, self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = MailBox()
    controller = start_smtp(box, tls_context=context, require_starttls=True)
    try:
        tls = mail_channel(controller.port, starttls=True, ca_file=str(cert))
        plain = mail_channel(controller.port).model_copy(update={"name": "plain"})
        n, _ = notifier(store, tls, plain)
        assert n.deliver(message(), "c", NOW).ok
        refused = n.deliver(message(), "plain", NOW)  # the server insists on STARTTLS
        assert not refused.ok and refused.status_code == 530 and refused.attempts == 1
        assert len(box.messages) == 1
    finally:
        controller.stop()


# --- several channels, the log, messages from signals ---------------------------------------


def test_deliver_all_and_read_the_log_by_alert(store: Store, receiver: Receiver) -> None:
    a = channel(name="a", kind="webhook", url=f"{receiver.base}/a")
    b = channel(name="b", kind="slack", url=f"{receiver.base}/b")
    n, _ = notifier(store, a, b)
    first, second = message(), message(fingerprint="0123456789abcdef", alert_id="A-2")
    deliveries = n.deliver_all(first, ["a", "b"], NOW)
    n.deliver(second, "a", NOW + timedelta(minutes=5))

    assert [d.channel for d in deliveries] == ["a", "b"] and all(d.ok for d in deliveries)
    assert [r.path for r in receiver.requests] == ["/a", "/b", "/a"]
    mine = n.log(fingerprint=first.fingerprint)
    assert {r.channel for r in mine} == {"a", "b"} and len(mine) == 2
    newest = n.log(limit=1)
    assert [(r.alert_id, r.at) for r in newest] == [("A-2", NOW + timedelta(minutes=5))]


def test_unknown_channel_fails_before_anything_is_sent(store: Store, receiver: Receiver) -> None:
    n, _ = notifier(store, channel(name="a", kind="webhook", url=receiver.base))
    with pytest.raises(ServqError, match="nope"):
        n.deliver_all(message(), ["a", "nope"], NOW)
    assert receiver.requests == [] and n.log() == []


def test_message_from_signal() -> None:
    labels = {"team": "售后一组", "site": "上海"}
    signal = Signal(
        rule="backlog", kind="threshold", labels=labels, firing=False, at=NOW, severity="warning",
        value=40.0, threshold=30.0, summary_en="Backlog 40", summary_zh="积压 40",
    )  # fmt: skip
    msg = AlertMessage.from_signal(signal, url="https://x/alerts/1")
    assert msg.state == "resolved" and msg.severity == "warning"
    assert msg.fingerprint == fingerprint("backlog", labels) == msg.alert_id
    assert (msg.value, msg.threshold, msg.starts_at) == (40.0, 30.0, NOW)
    assert (msg.summary_zh, msg.url) == ("积压 40", "https://x/alerts/1")
    escalated = AlertMessage.from_signal(signal, alert_id="A-9", state="escalated")
    assert (escalated.state, escalated.alert_id) == ("escalated", "A-9")


def test_message_from_an_alert_notice() -> None:
    labels = {"team": "售后一组"}
    alert = Alert(
        id=42, fingerprint=fingerprint("backlog", labels), rule="backlog", kind="threshold",
        severity="critical", state="firing", labels=labels, summary_en="Backlog 40",
        summary_zh="积压 40", value=40.0, threshold=30.0, details={}, starts_at=NOW,
        last_seen_at=NOW, acknowledged_at=None, acknowledged_by=None, resolved_at=None,
        resolved_by=None, escalation_level=1, first_notified_at=NOW, last_notified_at=NOW, count=3,
    )  # fmt: skip
    msg = message_from_notice(Notice(alert, "escalated"), url="https://x/alerts/42")
    assert (msg.alert_id, msg.state, msg.severity, msg.rule) == (
        "42",
        "escalated",
        "critical",
        "backlog",
    )
    assert msg.fingerprint == fingerprint("backlog", labels) and msg.labels == labels
    assert (msg.value, msg.threshold, msg.starts_at, msg.url) == (
        40.0,
        30.0,
        NOW,
        "https://x/alerts/42",
    )
    assert (msg.summary_en, msg.summary_zh) == ("Backlog 40", "积压 40")


# --- channel files --------------------------------------------------------------------------


def test_a_channels_file_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "channels:\n"
        "  - name: ops\n"
        "    kind: wecom\n"
        "    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${WECOM_KEY}\n"
        "  - name: mail\n"
        "    kind: email\n"
        "    smtp_host: smtp.example.com\n"
        "    smtp_port: 587\n"
        "    starttls: true\n"
        "    from: alerts@example.com\n"
        "    to: ops@example.com\n"
        "    language: zh\n",
        encoding="utf-8",
    )
    channels = load_channels(path)
    assert list(channels) == ["ops", "mail"]
    ops, mail = channels["ops"], channels["mail"]
    assert (ops.language, ops.max_attempts, ops.backoff, ops.timeout) == ("both", 5, 1.0, 10.0)
    assert mail.to == ("ops@example.com",) and mail.sender == "alerts@example.com"
    assert (mail.smtp_port, mail.starttls, mail.language) == (587, True, "zh")


def test_a_channels_file_reports_every_problem_with_its_line() -> None:
    text = (
        "channels:\n"  # 1
        "  - name: hook\n"  # 2
        "    kind: webhook\n"  # 3
        "    url: ftp://example.com/hook\n"  # 4  not http(s)
        "  - name: wecom-ops\n"  # 5
        "    kind: wecom\n"  # 6
        "    url: https://qyapi.weixin.qq.com/x\n"  # 7
        "    secret: abc\n"  # 8  WeCom does not sign
        "  - name: mail\n"  # 9
        "    kind: email\n"  # 10
        "    smtp_port: seventy\n"  # 11 not a number
        "  - name: hook\n"  # 12 a second 'hook'
        "    kind: pager\n"  # 13 no such kind
        "  - name: mail2\n"  # 14
        "    kind: email\n"  # 15 no smtp_host, no from
        "    to: [ops.example.com]\n"  # 16 not an address
        "    password: ${BROKEN\n"  # 17 no username; bad ${}
        "    max_attempts: 0\n"  # 18 below 1 (reported before the kind rules)
    )
    with pytest.raises(DefinitionError) as caught:
        parse_channels(text, "ch.yaml")
    found = {(p.line, p.field) for p in caught.value.problems}
    assert found == {
        (4, "channels[0].url"),
        (8, "channels[1].secret"),
        (11, "channels[2].smtp_port"),
        (12, "channels[3].name"),
        (13, "channels[3].kind"),
        (18, "channels[4].max_attempts"),
    }
    assert all(p.file == "ch.yaml" for p in caught.value.problems)


def test_kind_rules_of_a_parsed_channel_are_all_reported() -> None:
    text = (
        "channels:\n"
        "  - name: mail2\n"  # 2
        "    kind: email\n"  # 3  no smtp_host, no from
        "    to: [ops.example.com]\n"  # 4
        "    password: ${BROKEN\n"  # 5
        "    url: https://example.com\n"  # 6
    )
    with pytest.raises(DefinitionError) as caught:
        parse_channels(text, "ch.yaml")
    found = {p.field for p in caught.value.problems}
    assert found == {
        "channels[0].smtp_host",
        "channels[0].from",
        "channels[0].to[0]",
        "channels[0].password",
        "channels[0].url",
    }
    lines = {p.field: p.line for p in caught.value.problems}
    assert (lines["channels[0].to[0]"], lines["channels[0].url"]) == (4, 6)
    assert any("/" in p.message and "必须" in p.message for p in caught.value.problems)


def test_the_docs_describe_every_channel_field_and_kind() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "notifications.md").read_text("utf-8")
    for name, spec in Channel.model_fields.items():
        assert f"| `{spec.alias or name}` |" in text, f"notifications.md misses field {name}"
    for kind in ("webhook", "email", "wecom", "dingtalk", "feishu", "slack"):
        assert f"| `{kind}` |" in text, f"notifications.md misses kind {kind}"
