"""The alert lifecycle of the monitor: firing → acknowledged → resolved.

Owns: the ``alert``, ``alert_transition`` and ``silence`` tables (declared on
:class:`servq.app_store.Base` when this package is imported) and the rules around them —
fingerprints and de-duplication, grouping, silences, inhibition, escalation and repeat — behind
:class:`AlertManager`. Signals (:mod:`servq.monitor.signals`) come in; :class:`Notice` values go
out to the notifier. May import the application store, the signals and the YAML loader; imports
nothing of the HTTP API, the CLI or the notifier. See ``docs/alerts.md``.

- ``tables``: the rows; ``model``: the frozen values handed out and label matching;
- ``policy``: :class:`AlertPolicy` (escalation, repeat, inhibition, grouping) from YAML;
- ``muting``: which silences and inhibiting alerts mute an alert at one moment;
- ``manager``: :class:`AlertManager`, the transactions.
"""

from servq.monitor.alerts.manager import STATE_FILTERS, AlertError, AlertManager
from servq.monitor.alerts.model import (
    OPEN_STATES,
    STATES,
    SYSTEM,
    Alert,
    AlertGroup,
    AlertState,
    Notice,
    NoticeReason,
    Silence,
    Transition,
)
from servq.monitor.alerts.policy import POLICY_FILE, AlertPolicy, InhibitRule
from servq.monitor.alerts.tables import AlertRow, AlertTransitionRow, SilenceRow

__all__ = [
    "OPEN_STATES",
    "POLICY_FILE",
    "STATES",
    "STATE_FILTERS",
    "SYSTEM",
    "Alert",
    "AlertError",
    "AlertGroup",
    "AlertManager",
    "AlertPolicy",
    "AlertRow",
    "AlertState",
    "AlertTransitionRow",
    "InhibitRule",
    "Notice",
    "NoticeReason",
    "Silence",
    "SilenceRow",
    "Transition",
]
