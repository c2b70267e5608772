"""The notifier: deliver an alert message to named channels, retrying with back-off, logging
every attempt.

Owns: :class:`Notifier` and :class:`Delivery`. An attempt that fails in a way worth retrying
(see ``send``) is followed by another after ``backoff · 2^(n−1)`` seconds, capped at
``backoff_max`` and never shorter than the server's ``Retry-After`` (capped too), until
``max_attempts``. Waiting goes through the injected ``sleep``; each attempt's time is ``now``
plus the waits before it, so the log is the same however fast the machine is. Secrets are read
from the environment at every attempt and never written to the log.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from servq.app_store import Store
from servq.errors import ServqError
from servq.monitor.notify import log as delivery_log
from servq.monitor.notify.channels import Channel, MissingSecret, Resolved, resolve_channel
from servq.monitor.notify.message import AlertMessage
from servq.monitor.notify.render import email_message, http_request
from servq.monitor.notify.send import Outcome, post, send_mail


@dataclass(frozen=True)
class Delivery:
    """The result of delivering one message to one channel.

    ``waits`` are the back-offs slept before attempts 2, 3, …; ``status_code`` and ``error``
    are those of the last attempt.
    """

    delivery_id: str
    channel: str
    kind: str
    fingerprint: str
    state: str
    ok: bool
    attempts: int
    status_code: int | None
    error: str | None
    waits: tuple[float, ...]


def backoff(channel: Channel, retry: int, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number ``retry`` (1 = before the second attempt)."""
    delay = min(channel.backoff * 2.0 ** (retry - 1), channel.backoff_max)
    if retry_after is not None:
        delay = max(delay, min(retry_after, channel.backoff_max))
    return delay


def redact(text: str | None, words: list[str]) -> str | None:
    if text is None:
        return None
    for word in words:
        text = text.replace(word, "***")
    return text


class Notifier:
    """Sends messages to configured channels and keeps the delivery log in ``store``."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        sleep: Callable[[float], None] = time.sleep,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.channels = dict(channels)
        self._sleep = sleep
        self._environ = environ  # None: the process environment at send time

    def deliver(self, message: AlertMessage, channel_name: str, now: datetime) -> Delivery:
        """Deliver ``message`` to one channel, retrying as the channel allows."""
        channel = self._channels([channel_name])[0]
        row = _first_row(message, channel, now)
        waits: list[float] = []
        while True:
            at = now + timedelta(seconds=sum(waits))
            outcome, payload = self._attempt(message, channel, row.delivery_id, at)
            final = outcome.ok or not outcome.retry or row.attempt + 1 == channel.max_attempts
            row = replace(
                row,
                attempt=row.attempt + 1,
                at=at,
                waited_seconds=waits[-1] if waits else 0.0,
                ok=outcome.ok,
                final=final,
                status_code=outcome.status_code,
                error=outcome.error,
                response_excerpt=outcome.response,
                payload_excerpt=payload,
            )
            delivery_log.write(self.store, row)
            if final:
                return _delivery(row, waits)
            waits.append(backoff(channel, row.attempt, outcome.retry_after))
            self._sleep(waits[-1])

    def deliver_all(
        self, message: AlertMessage, channel_names: Iterable[str], now: datetime
    ) -> list[Delivery]:
        """Deliver to every named channel in turn; unknown names fail before anything is sent."""
        names = list(channel_names)
        self._channels(names)
        return [self.deliver(message, name, now) for name in names]

    def log(
        self, fingerprint: str | None = None, limit: int = 100
    ) -> list[delivery_log.DeliveryRecord]:
        """The newest logged attempts, newest first; only one alert's with ``fingerprint``."""
        return delivery_log.read(self.store, fingerprint, limit)

    def _channels(self, names: list[str]) -> list[Channel]:
        unknown = [n for n in names if n not in self.channels]
        if unknown:
            listed = ", ".join(unknown)
            raise ServqError(f"unknown notification channel: {listed} / 未知的通知渠道：{listed}")
        return [self.channels[n] for n in names]

    def _attempt(
        self, message: AlertMessage, channel: Channel, delivery_id: str, at: datetime
    ) -> tuple[Outcome, str]:
        """One attempt: resolve secrets, render, send. Returns the outcome and what was sent."""
        environ = os.environ if self._environ is None else self._environ
        try:
            secrets = resolve_channel(channel, environ)
        except MissingSecret as exc:
            return Outcome(False, False, error=str(exc)), ""
        outcome, payload = self._send(message, channel, secrets, delivery_id, at)
        hidden = secrets.hidden_words()
        error, response = redact(outcome.error, hidden), redact(outcome.response, hidden)
        return replace(outcome, error=error, response=response or ""), payload

    @staticmethod
    def _send(
        message: AlertMessage, channel: Channel, secrets: Resolved, delivery_id: str, at: datetime
    ) -> tuple[Outcome, str]:
        if channel.is_http:
            request = http_request(
                message,
                channel,
                url=secrets.url,
                secret=secrets.secret,
                delivery_id=delivery_id,
                at=at,
            )
            return post(request, channel.kind, channel.timeout), request.body.decode("utf-8")
        mail = email_message(message, channel, delivery_id=delivery_id, at=at)
        summary = f"To: {mail['To']}\nSubject: {mail['Subject']}"
        return send_mail(mail, channel, secrets.username, secrets.password), summary


def _first_row(
    message: AlertMessage, channel: Channel, now: datetime
) -> delivery_log.DeliveryRecord:
    """The log row of a new delivery before its first attempt (attempt 0)."""
    return delivery_log.DeliveryRecord(
        delivery_id=uuid.uuid4().hex,
        channel=channel.name,
        kind=channel.kind,
        fingerprint=message.fingerprint,
        alert_id=message.alert_id,
        state=message.state,
        attempt=0,
        at=now,
        waited_seconds=0.0,
        ok=False,
        final=False,
        status_code=None,
        error=None,
        response_excerpt="",
        payload_excerpt="",
    )


def _delivery(last: delivery_log.DeliveryRecord, waits: list[float]) -> Delivery:
    return Delivery(
        delivery_id=last.delivery_id,
        channel=last.channel,
        kind=last.kind,
        fingerprint=last.fingerprint,
        state=last.state,
        ok=last.ok,
        attempts=last.attempt,
        status_code=last.status_code,
        error=last.error,
        waits=tuple(waits),
    )
