"""Why an alert raises no notices at one moment: the silences and the inhibition in force.

Owns: :class:`Mutes`, built from the silences and the open alerts of one transaction and kept
current as that transaction opens and resolves alerts, so a site alert opened by the first
signal of a batch already mutes the per-agent alerts of the signals after it. Pure: the manager
reads the rows, this module only decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from servq.monitor.alerts.model import Silence, matches
from servq.monitor.alerts.policy import InhibitRule


class Mutes:
    """Silences active at ``now`` and the open alerts able to inhibit others."""

    def __init__(self, silences: Sequence[Silence], rules: Sequence[InhibitRule], now: datetime):
        self._silences = [s for s in silences if s.active(now)]
        self._rules = tuple(rules)
        self._sources: dict[int, Mapping[str, str]] = {}

    def opened(self, alert_id: int, facts: Mapping[str, str]) -> None:
        """An open alert: it inhibits others if it matches some rule's source."""
        if any(matches(rule.source, facts) for rule in self._rules):
            self._sources[alert_id] = facts

    def closed(self, alert_id: int) -> None:
        self._sources.pop(alert_id, None)

    def silenced_by(self, facts: Mapping[str, str]) -> tuple[int, ...]:
        return tuple(s.id for s in self._silences if matches(s.matchers, facts))

    def inhibited_by(self, alert_id: int, facts: Mapping[str, str]) -> tuple[int, ...]:
        found: set[int] = set()
        for rule in self._rules:
            if matches(rule.target, facts):
                found.update(self._inhibitors(rule, alert_id, facts))
        return tuple(sorted(found))

    def _inhibitors(self, rule: InhibitRule, alert_id: int, facts: Mapping[str, str]) -> list[int]:
        return [
            source_id
            for source_id, source in self._sources.items()
            if source_id != alert_id
            and matches(rule.source, source)
            and all(source.get(key) == facts.get(key) for key in rule.equal)
        ]
