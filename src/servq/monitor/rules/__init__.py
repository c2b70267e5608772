"""Alert rules: YAML definitions and how each kind is computed over the warehouse.

Owns: the rule package's public API. ``model`` reads and validates rule files; ``windows``
computes the metric kinds (threshold, relative change, anomaly, volume spike) over sliding
windows; ``text`` finds risk words; ``observation`` is what a rule sees of one group at one
time; ``summary`` words it in English and Chinese. The alert state between evaluations and the
backtest live in ``servq.monitor.evaluate``.
"""

from servq.monitor.rules.model import (
    RULE_KINDS,
    AnomalyRule,
    AnyRule,
    MetricRule,
    RelativeChangeRule,
    RiskWordsRule,
    Rule,
    RuleBase,
    RuleKind,
    RuleSet,
    ThresholdRule,
    VolumeSpikeRule,
    builtin_rule_files,
    find_rules,
    load_rules,
    parse_change,
    parse_rules,
    parse_span,
    statistics,
)

__all__ = [
    "RULE_KINDS",
    "AnomalyRule",
    "AnyRule",
    "MetricRule",
    "RelativeChangeRule",
    "RiskWordsRule",
    "Rule",
    "RuleBase",
    "RuleKind",
    "RuleSet",
    "ThresholdRule",
    "VolumeSpikeRule",
    "builtin_rule_files",
    "find_rules",
    "load_rules",
    "parse_change",
    "parse_rules",
    "parse_span",
    "statistics",
]
