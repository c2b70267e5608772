"""How alerts are escalated, repeated, inhibited and grouped: the alert policy.

Owns: :class:`AlertPolicy` (YAML → frozen pydantic, every problem reported with file, line and
field through :mod:`servq.yamlfile`) and :class:`InhibitRule`. Durations are calendar time
(``15m``, ``4h``, ``1d`` = 24 hours); business days (``bd``) are refused: nobody acknowledging
an alert over a weekend is exactly when it must escalate. A policy file::

    escalate_after: [15m, 1h]   # level 1 after 15 min without acknowledgement, level 2 after 1 h
    repeat_interval: 4h         # remind while firing and unacknowledged; null = never
    group_by: [team]            # notices and `groups()` are grouped by these facts
    inhibit:                    # a site-wide alert mutes that site's per-agent alerts
      - source: {scope: site}
        target: {scope: agent}
        equal: [site]
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from servq.sla.model import parse_duration
from servq.yamlfile import load_model, load_model_file

POLICY_FILE = "alerts.yaml"  # a workspace's alert policy, when it has one


def parse_span(value: Any) -> timedelta:
    """``15m``, ``4h``, ``1h30m``, ``2d`` (48 hours) → timedelta; ValueError otherwise."""
    if isinstance(value, timedelta):
        return value
    duration = parse_duration(value)
    if duration.business_days:
        raise ValueError(f"'{value}': alerts count calendar time; use s, m, h or d, not bd")
    return timedelta(seconds=duration.seconds)


def span_text(span: timedelta) -> str:
    """A timedelta as people write it: ``15m``, ``4h``, ``1d2h``, ``90s``."""
    rest, parts = int(span.total_seconds()), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str | timedelta) else value


def _increasing(spans: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
    if any(b <= a for a, b in pairwise(spans)):
        raise ValueError("each escalation level must come later than the one before")
    return spans


def _not_empty(matchers: dict[str, str]) -> dict[str, str]:
    if not matchers:
        raise ValueError("give at least one label: an empty matcher would match every alert")
    return matchers


Span = Annotated[timedelta, BeforeValidator(parse_span)]
Matchers = Annotated[dict[str, str], AfterValidator(_not_empty)]


class InhibitRule(BaseModel):
    """While an open alert matches ``source``, alerts matching ``target`` whose ``equal``
    labels have the same values (absent on both counts as the same) raise no notices."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Matchers
    target: Matchers
    equal: tuple[str, ...] = ()


class AlertPolicy(BaseModel):
    """Escalation levels, repeat interval, inhibition rules and grouping keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    escalate_after: Annotated[
        tuple[Span, ...], BeforeValidator(_one_or_many), AfterValidator(_increasing)
    ] = (timedelta(minutes=15),)
    repeat_interval: Span | None = timedelta(hours=4)
    inhibit: tuple[InhibitRule, ...] = ()
    group_by: tuple[str, ...] = Field(default=("team",))

    @classmethod
    def from_yaml(cls, text: str, file: str = "<alert policy>") -> AlertPolicy:
        return load_model(cls, text, file)

    @classmethod
    def load(cls, path: Path | str) -> AlertPolicy:
        """Read a policy file; a :class:`~servq.errors.DefinitionError` lists every problem."""
        return load_model_file(cls, Path(path))

    @classmethod
    def for_workspace(cls, workspace: Path | str) -> AlertPolicy:
        """``<workspace>/alerts.yaml`` when it exists, else the defaults."""
        path = Path(workspace) / POLICY_FILE
        return cls.load(path) if path.is_file() else cls()
