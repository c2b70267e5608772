"""The contract between what detects a condition and the alert lifecycle.

A :class:`Signal` says "this condition holds now" (``firing=True``) or "it no longer holds"
(``firing=False``) for one rule and one group of labels. Rules and SLA timers emit signals; the
alert manager turns them into alerts, keyed by :func:`fingerprint`, so the same condition seen
again is the same alert, never a new one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")

SignalKind = Literal[
    "sla_warning",
    "sla_breach",
    "threshold",
    "relative_change",
    "anomaly",
    "risk_words",
    "volume_spike",
]


def fingerprint(rule: str, labels: dict[str, str]) -> str:
    """A stable id of one rule × one label set: 16 hex digits."""
    text = json.dumps([rule, sorted(labels.items())], ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Signal:
    """One observation of one rule for one group.

    ``labels`` name the group (``team``, ``site``, ``agent``, ``case_id``, ``policy``,
    ``target``…); ``at`` is naive UTC. ``value`` and ``threshold`` are in the rule's unit
    (seconds for durations). ``summary_en``/``summary_zh`` are the sentences people read.
    """

    rule: str
    kind: SignalKind
    labels: dict[str, str]
    firing: bool
    at: datetime
    severity: Severity = "warning"
    value: float | None = None
    threshold: float | None = None
    summary_en: str = ""
    summary_zh: str = ""
    details: dict[str, object] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.labels)
