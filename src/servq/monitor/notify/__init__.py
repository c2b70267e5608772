"""Notifications: alert messages delivered to webhooks, e-mail, WeCom, DingTalk, Feishu and Slack.

Owns the notification part of capability C3, in these modules:

- ``channels``: channel definitions in YAML (``load_channels``), ``${ENV}`` secrets;
- ``message``: :class:`AlertMessage` (from a signal or an alert notice) and its text in
  Chinese, English or both;
- ``render``: each service's payload and signature, and the e-mail;
- ``send``: one attempt over HTTP or SMTP and whether its failure is worth retrying;
- ``log``: the delivery log table ``notification_delivery`` (declared on import);
- ``notifier``: :class:`Notifier` — retries with back-off, every attempt logged.
"""

from __future__ import annotations

from servq.monitor.notify.channels import (
    CHANNEL_KINDS,
    Channel,
    MissingSecret,
    load_channels,
    parse_channels,
)
from servq.monitor.notify.log import DeliveryRecord, NotificationDelivery
from servq.monitor.notify.message import (
    ALERT_STATES,
    AlertMessage,
    AlertState,
    compose,
    message_from_notice,
)
from servq.monitor.notify.notifier import Delivery, Notifier, backoff
from servq.monitor.notify.render import dingtalk_sign, feishu_sign, webhook_signature

__all__ = [
    "ALERT_STATES",
    "CHANNEL_KINDS",
    "AlertMessage",
    "AlertState",
    "Channel",
    "Delivery",
    "DeliveryRecord",
    "MissingSecret",
    "NotificationDelivery",
    "Notifier",
    "backoff",
    "compose",
    "dingtalk_sign",
    "feishu_sign",
    "load_channels",
    "message_from_notice",
    "parse_channels",
    "webhook_signature",
]
