"""SLA policies: targets per case in business time, their deadlines, states and attainment.

Owns: the sla package's public API. ``model`` reads policy YAML, ``registry`` finds policies by
name, ``evaluate`` measures every case of the warehouse against a policy.

>>> import servq
>>> from servq.sla import attainment, evaluate
>>> with servq.open_workspace("servq-data") as ws:              # doctest: +SKIP
...     rows = evaluate(ws, "standard")
...     attainment(rows, by="team")
"""

from servq.sla.evaluate import COLUMNS, STATES, Schedule, attainment, evaluate, schedule
from servq.sla.model import (
    TARGETS,
    Duration,
    Rule,
    SlaPolicy,
    load_policy_file,
    parse_duration,
    parse_policy,
    workday_seconds,
)
from servq.sla.registry import PolicyEntry, PolicyRegistry, builtin_policies, load_policy

__all__ = [
    "COLUMNS",
    "STATES",
    "TARGETS",
    "Duration",
    "PolicyEntry",
    "PolicyRegistry",
    "Rule",
    "Schedule",
    "SlaPolicy",
    "attainment",
    "builtin_policies",
    "evaluate",
    "load_policy",
    "load_policy_file",
    "parse_duration",
    "parse_policy",
    "schedule",
    "workday_seconds",
]
