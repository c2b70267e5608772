"""One attempt to deliver, and what its answer means: delivered, worth retrying, or final.

Owns: the HTTP post (httpx) and the SMTP conversation (smtplib), and the judgement of every
answer. Worth retrying: connection errors, time-outs, HTTP 429 and 5xx, SMTP 4xx, and the
robots' rate-limit codes. WeCom, DingTalk and Feishu answer HTTP 200 with a non-zero
``errcode``/``code`` when they refuse a message; that is a failure, final unless the code means
"too fast". Codes: WeCom 45009 (api freq out of limit) and -1 (system busy); DingTalk 130101
("send too fast, exceed 20 times per minute") and -1; Feishu 11232 (frequency limited).
"""

from __future__ import annotations

import json
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr

import httpx

from servq.monitor.notify.channels import Channel
from servq.monitor.notify.render import HttpRequest

EXCERPT_CHARS = 1000
ASCII_LOGIN = (
    "SMTP login needs an ASCII username and password / SMTP 登录的用户名和密码须为 ASCII 字符"
)
VENDOR_CODE_KEYS: dict[str, tuple[str, ...]] = {
    "wecom": ("errcode",),
    "dingtalk": ("errcode",),
    "feishu": ("code", "StatusCode"),  # StatusCode: the answer of older Feishu bots
}
VENDOR_MESSAGE_KEYS = ("errmsg", "msg", "StatusMessage")
RATE_LIMIT_CODES: dict[str, frozenset[int]] = {
    "wecom": frozenset({45009, -1}),
    "dingtalk": frozenset({130101, -1}),
    "feishu": frozenset({11232}),
}


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended. ``retry`` says whether another attempt may succeed."""

    ok: bool
    retry: bool = False
    status_code: int | None = None
    error: str | None = None
    response: str = ""
    retry_after: float | None = None


def _text(value: object) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header given in seconds; None when absent or an HTTP date."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def vendor_answer(kind: str, text: str) -> tuple[int | None, str]:
    """The result code and message a robot put in its JSON answer; (None, "") if none."""
    try:
        data = json.loads(text)
    except ValueError:
        return None, ""
    if not isinstance(data, dict):
        return None, ""
    codes = [data[k] for k in VENDOR_CODE_KEYS.get(kind, ()) if isinstance(data.get(k), int)]
    message = next((_text(data[k]) for k in VENDOR_MESSAGE_KEYS if k in data), "")
    return (codes[0] if codes else None), message


def judge(kind: str, status: int, text: str, retry_after: float | None = None) -> Outcome:
    """What an HTTP answer means for a channel of ``kind``."""
    excerpt = text[:EXCERPT_CHARS]
    code, said = vendor_answer(kind, text)

    def failed(retry: bool, error: str, wait: float | None = None) -> Outcome:
        return Outcome(False, retry, status, error, excerpt, wait)

    if status == 429 or status >= 500:
        return failed(True, f"HTTP {status}", retry_after)
    if code is not None and code in RATE_LIMIT_CODES.get(kind, frozenset()):
        return failed(True, f"{kind} rate limit: code {code} {said}".rstrip())
    if not 200 <= status < 300:
        return failed(False, f"HTTP {status}")
    if kind in VENDOR_CODE_KEYS and code is None:
        return failed(False, f"{kind} answer has no result code")
    if code:
        return failed(False, f"{kind} refused the message: code {code} {said}".rstrip())
    return Outcome(True, status_code=status, response=excerpt)


def post(request: HttpRequest, kind: str, timeout: float) -> Outcome:
    """POST one request and judge the answer."""
    try:
        with httpx.Client(timeout=timeout) as client:
            answer = client.post(request.url, content=request.body, headers=request.headers)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        return Outcome(False, False, error=f"bad url: {exc}")
    except httpx.TimeoutException as exc:
        return Outcome(False, True, error=f"timed out after {timeout:g} s ({type(exc).__name__})")
    except httpx.TransportError as exc:
        return Outcome(False, True, error=f"{type(exc).__name__}: {exc}")
    wait = retry_after_seconds(answer.headers.get("Retry-After"))
    return judge(kind, answer.status_code, answer.text, wait)


def _refused(exc: smtplib.SMTPRecipientsRefused) -> Outcome:
    codes = [code for code, _ in exc.recipients.values()]
    detail = "; ".join(
        f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items()
    )
    transient = bool(codes) and all(400 <= c < 500 for c in codes)
    return Outcome(False, transient, codes[0] if codes else None, f"recipients refused: {detail}")


def send_mail(
    mail: EmailMessage, channel: Channel, username: str | None, password: str | None
) -> Outcome:
    """Hand the e-mail to the channel's SMTP server (STARTTLS and login when configured)."""
    host, sender = channel.smtp_host or "", parseaddr(channel.sender or "")[1]
    try:
        with smtplib.SMTP(host, channel.smtp_port, timeout=channel.timeout) as smtp:
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=channel.ca_file))
            if username:
                smtp.login(username, password or "")
            rcpts = [parseaddr(address)[1] for address in channel.to]
            refused = smtp.send_message(mail, from_addr=sender, to_addrs=rcpts)
    except smtplib.SMTPNotSupportedError as exc:
        return Outcome(False, False, error=f"SMTP server: {exc}")
    except smtplib.SMTPRecipientsRefused as exc:
        return _refused(exc)
    except smtplib.SMTPResponseException as exc:
        error = f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}"
        return Outcome(False, 400 <= exc.smtp_code < 500, exc.smtp_code, error)
    except UnicodeEncodeError:  # smtplib sends AUTH as ASCII
        return Outcome(False, False, error=ASCII_LOGIN)
    except ssl.SSLError as exc:
        return Outcome(False, False, error=f"TLS: {exc}")
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(False, True, error=f"{type(exc).__name__}: {exc}")
    accepted = len(channel.to) - len(refused)
    note = f"; refused {sorted(refused)}" if refused else ""
    return Outcome(
        True, response=f"accepted by {host}:{channel.smtp_port} for {accepted} recipient(s){note}"
    )
