"""What a rule sees of one group at one evaluation time, and turning result frames into it.

Owns: :class:`Observation` — the group's labels, whether the rule's condition holds, the value
and the threshold it was compared with, and kind-specific details (baseline, z-score, words
found…) — and the one conversion from the frames the rule kinds compute to observations keyed
by evaluation time. The alert state machine in ``servq.monitor.evaluate`` reads nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

NO_VALUE = "(none)"  # the label of a group whose dimension is empty
BASE_COLUMNS = ("at", "holds", "value", "threshold")


@dataclass(frozen=True)
class Observation:
    """One group at one evaluation time. ``value``/``threshold`` are in the metric's unit."""

    labels: dict[str, str]
    holds: bool
    value: float | None
    threshold: float | None
    details: dict[str, Any] = field(default_factory=dict)


def label_values(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Dimensions as text labels; an empty dimension is ``(none)``."""
    out = frame.copy()
    for col in by:
        out[col] = [NO_VALUE if _missing(v) else str(v) for v in out[col]]
    return out


def _missing(v: Any) -> bool:
    return v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _number(v: Any) -> float | None:
    return None if _missing(v) else float(v)


def _plain(v: Any) -> Any:
    """A detail value as plain Python (JSON-friendly)."""
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def to_observations(frame: pd.DataFrame, by: Sequence[str]) -> dict[datetime, list[Observation]]:
    """Rows of ``at``, the ``by`` labels, ``holds``, ``value``, ``threshold`` and any detail
    columns → observations per evaluation time (naive UTC datetimes)."""
    details = [c for c in frame.columns if c not in (*BASE_COLUMNS, *by)]
    out: dict[datetime, list[Observation]] = {}
    for row in frame.to_dict("records"):
        at = pd.Timestamp(row["at"]).to_pydatetime()
        out.setdefault(at, []).append(
            Observation(
                labels={d: str(row[d]) for d in by},
                holds=bool(row["holds"]),
                value=_number(row["value"]),
                threshold=_number(row["threshold"]),
                details={d: _plain(row[d]) for d in details},
            )
        )
    return out
