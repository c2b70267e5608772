"""Each service's own format: request bodies, signatures and the e-mail, from a composed text.

Owns: the payload of every channel kind and how it is signed. Sources of the formats:

- WeCom group robot (企业微信群机器人): ``{"msgtype": "markdown", "markdown": {"content": …}}``,
  content at most 4096 bytes — https://developer.work.weixin.qq.com/document/path/91770
- DingTalk custom robot (钉钉自定义机器人): ``msgtype`` markdown with ``title`` and ``text``;
  加签 adds query parameters ``timestamp`` (ms) and ``sign`` =
  urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))) —
  https://open.dingtalk.com/document/robots/customize-robot-security-settings
- Feishu custom bot (飞书自定义机器人): ``msg_type`` interactive with a ``card``; signature
  verification adds ``timestamp`` (s) and ``sign`` =
  base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")) to the body —
  https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
- Slack incoming webhook: ``text`` (the notification fallback) and Block Kit ``blocks``; header
  text at most 150 characters, section text at most 3000 —
  https://api.slack.com/messaging/webhooks
- servq's generic webhook: the message as JSON, ``X-Servq-Signature: sha256=<hex HMAC-SHA256(secret,
  raw body)>``, ``X-Servq-Timestamp`` (s) and ``X-Servq-Delivery`` (the same for every attempt).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from urllib.parse import quote_plus

from servq.monitor.notify.channels import Channel
from servq.monitor.notify.message import AlertMessage, Composed, compose, iso_utc

EPOCH = datetime(1970, 1, 1)
WECOM_MAX_BYTES = 4096
SLACK_HEADER_MAX = 150
SLACK_SECTION_MAX = 3000
SLACK_FIELDS_MAX = 10


@dataclass(frozen=True)
class HttpRequest:
    """One POST to send: the address (with any signing parameters), body and headers."""

    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class RenderContext:
    """Everything a payload needs for one attempt; ``url`` and ``secret`` already resolved."""

    message: AlertMessage
    text: Composed
    url: str
    secret: str | None
    delivery_id: str
    at: datetime


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since 1970 of a naive UTC time, exactly (no float rounding)."""
    return (moment.replace(tzinfo=None) - EPOCH) // timedelta(milliseconds=1)


def webhook_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, body)>`` of servq's generic webhook."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签, base64 (the URL encoding is applied when it goes into the query)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu signature: the key is ``timestamp\\nsecret`` and the message is empty."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def clip_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode("utf-8", errors="ignore") + "…"


def clip_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_bytes(data: object) -> bytes:
    """Compact UTF-8 JSON with Chinese kept as characters."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> HttpRequest:
    base = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "servq-notify"}
    return HttpRequest(url=url, body=body, headers={**base, **(headers or {})})


def _json_request(url: str, data: object) -> HttpRequest:
    return _post(url, json_bytes(data))


def markdown(text: Composed, line_break: str) -> str:
    """Markdown that WeCom, DingTalk and Feishu (lark_md) all show: bold labels, a link."""
    lines = [*text.summary, *(f"**{label}**: {value}" for label, value in text.fields)]
    if text.link:
        lines.append(f"[{text.link[0]}]({text.link[1]})")
    return line_break.join(lines)


def _wecom(ctx: RenderContext) -> HttpRequest:
    content = f"### {ctx.text.title}\n" + markdown(ctx.text, "\n")
    body = {"msgtype": "markdown", "markdown": {"content": clip_bytes(content, WECOM_MAX_BYTES)}}
    return _json_request(ctx.url, body)


def _dingtalk(ctx: RenderContext) -> HttpRequest:
    text = f"### {ctx.text.title}\n\n" + markdown(ctx.text, "\n\n")
    body = {"msgtype": "markdown", "markdown": {"title": ctx.text.title, "text": text}}
    url = ctx.url
    if ctx.secret:
        stamp = epoch_ms(ctx.at)
        joiner = "&" if "?" in url else "?"
        url += f"{joiner}timestamp={stamp}&sign={quote_plus(dingtalk_sign(ctx.secret, stamp))}"
    return _json_request(url, body)


def _feishu(ctx: RenderContext) -> HttpRequest:
    card = {
        "header": {
            "title": {"tag": "plain_text", "content": ctx.text.title},
            "template": ctx.text.colour,
        },
        "elements": [
            {"tag": "div", "text": {"tag": "lark_md", "content": markdown(ctx.text, "\n")}}
        ],
    }
    body: dict[str, object] = {"msg_type": "interactive", "card": card}
    if ctx.secret:
        stamp = epoch_ms(ctx.at) // 1000
        body = {"timestamp": str(stamp), "sign": feishu_sign(ctx.secret, stamp), **body}
    return _json_request(ctx.url, body)


def slack_escape(text: str) -> str:
    """Slack reads ``&``, ``<`` and ``>`` as markup (``<!channel>`` pings everyone)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack(ctx: RenderContext) -> HttpRequest:
    text = ctx.text
    summary = "\n".join(slack_escape(s) for s in text.summary)
    if text.link:
        summary += f"\n<{text.link[1]}|{slack_escape(text.link[0])}>"
    fields = [
        {"type": "mrkdwn", "text": clip_chars(f"*{slack_escape(k)}*\n{slack_escape(v)}", 2000)}
        for k, v in text.fields[:SLACK_FIELDS_MAX]
    ]
    blocks: list[dict[str, object]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip_chars(text.title, SLACK_HEADER_MAX)},
        },
    ]
    if summary:
        section = {"type": "mrkdwn", "text": clip_chars(summary, SLACK_SECTION_MAX)}
        blocks.append({"type": "section", "text": section})
    blocks.append({"type": "section", "fields": fields})
    fallback = " — ".join([text.title, *text.summary[:1]])
    return _json_request(ctx.url, {"text": fallback, "blocks": blocks})


def _webhook(ctx: RenderContext) -> HttpRequest:
    data = {
        **ctx.message.to_json(),
        "delivery_id": ctx.delivery_id,
        "sent_at": iso_utc(ctx.at),
        "title": ctx.text.title,
        "summary": list(ctx.text.summary),
    }
    body = json_bytes(data)
    headers = {
        "X-Servq-Delivery": ctx.delivery_id,
        "X-Servq-Timestamp": str(epoch_ms(ctx.at) // 1000),
    }
    if ctx.secret:
        headers["X-Servq-Signature"] = webhook_signature(ctx.secret, body)
    return _post(ctx.url, body, headers)


HTTP_RENDERERS: dict[str, Callable[[RenderContext], HttpRequest]] = {
    "webhook": _webhook,
    "wecom": _wecom,
    "dingtalk": _dingtalk,
    "feishu": _feishu,
    "slack": _slack,
}


def http_request(
    message: AlertMessage,
    channel: Channel,
    *,
    url: str,
    secret: str | None,
    delivery_id: str,
    at: datetime,
) -> HttpRequest:
    """The request of one attempt to an http channel; ``url``/``secret`` already resolved."""
    text = compose(message, channel.language, channel.timezone)
    ctx = RenderContext(message, text, url, secret, delivery_id, at)
    return HTTP_RENDERERS[channel.kind](ctx)


def subject(text: Composed) -> str:
    return " — ".join([text.title, *text.summary[:1]])


def _plain_body(text: Composed) -> str:
    lines = [text.title, "", *text.summary, "", *(f"{k}: {v}" for k, v in text.fields)]
    if text.link:
        lines += ["", f"{text.link[0]}: {text.link[1]}"]
    return "\n".join(lines) + "\n"


def _html_body(text: Composed) -> str:
    e = html.escape
    rows = "".join(f'<tr><th align="left">{e(k)}</th><td>{e(v)}</td></tr>' for k, v in text.fields)
    summary = "".join(f"<p>{e(s)}</p>" for s in text.summary)
    link = f'<p><a href="{e(text.link[1])}">{e(text.link[0])}</a></p>' if text.link else ""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
        f'<h2 style="color:{e(text.colour)}">{e(text.title)}</h2>{summary}'
        f"<table>{rows}</table>{link}</body></html>"
    )


def email_message(
    message: AlertMessage, channel: Channel, *, delivery_id: str, at: datetime
) -> EmailMessage:
    """The e-mail: UTF-8 subject and a text part with an HTML alternative."""
    text = compose(message, channel.language, channel.timezone)
    sender = channel.sender or ""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "servq.invalid"
    mail = EmailMessage(policy=SMTP_POLICY)
    mail["Subject"] = subject(text)
    mail["From"] = sender
    mail["To"] = ", ".join(channel.to)
    mail["Date"] = format_datetime(at.replace(tzinfo=UTC))
    mail["Message-ID"] = f"<{delivery_id}@{domain}>"  # the same for every attempt
    mail["X-Servq-Delivery"] = delivery_id
    mail["X-Servq-Fingerprint"] = message.fingerprint
    mail.set_content(_plain_body(text))
    mail.add_alternative(_html_body(text), subtype="html")
    return mail
