"""Improvement plans and their verification: the improve and verify steps of the loop.

改进计划及其效果验证：闭环中的"改进→验证"环节。
"""

# problems, claiming, 5-Why retrospectives, tiered plans and their escalation
from servq.improve.escalation import (
    OVERDUE_RULE,
    UNCLAIMED_RULE,
    escalation_signals,
    run_escalation,
)
from servq.improve.model import (
    CONFIG_FILE,
    PLAN_MOVES,
    PLAN_STATUSES,
    PROBLEM_STATES,
    SEVERITIES,
    SOURCES,
    STAGES,
    TIERS,
    ConflictError,
    Forbidden,
    ImproveConfig,
    ImproveError,
    RetroError,
    retro_findings,
)
from servq.improve.service import ImprovementService, can_edit, check_edit

__all__ = [
    "CONFIG_FILE",
    "OVERDUE_RULE",
    "PLAN_MOVES",
    "PLAN_STATUSES",
    "PROBLEM_STATES",
    "SEVERITIES",
    "SOURCES",
    "STAGES",
    "TIERS",
    "UNCLAIMED_RULE",
    "ConflictError",
    "Forbidden",
    "ImproveConfig",
    "ImproveError",
    "ImprovementService",
    "RetroError",
    "can_edit",
    "check_edit",
    "escalation_signals",
    "retro_findings",
    "run_escalation",
]
