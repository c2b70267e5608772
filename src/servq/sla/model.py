"""SLA policy definitions: the YAML model of a service-level policy and its validation.

Owns: ``SlaPolicy`` (YAML → frozen pydantic), the text form of target durations (``30m``,
``2h30m``, ``3d``, ``10bd``), which rule of a policy applies to a case, and loading policy files.
Knows nothing about the warehouse (``evaluate.py``) nor where policies are found (``registry.py``).

A policy file::

    name: standard
    title_en: Standard support SLA
    title_zh: 标准服务等级协议
    calendar: cn-office                  # business calendar; 24x7 = calendar time
    pause_statuses: [pending, on_hold]   # the clock stops while a case is in these (solved
                                         # too if listed: between a solve and a reopen)
    warn_at: 0.8                         # share of a target at which it is "at risk"
    rules:                               # the first matching rule wins
      - when: {priority: urgent}
        targets: {first_reply: 30m, next_reply: 1h, resolution: 4h}
      - targets: {first_reply: 4h, resolution: 3bd}   # no conditions: the default

Durations are business time on the policy's calendar. Units: ``s``, ``m``, ``h``; ``d`` is 24
hours of business time (on ``24x7`` a calendar day; on ``cn-office``, open 7.5 h a workday, 3.2
working days); ``bd`` is one business day: the open time of the calendar's ``workday`` hours
(7.5 h on ``cn-office``, 8 h on ``weekdays-9-17``, 24 h on ``24x7``). Units combine: ``1bd4h``.

Field problems are found by pydantic; problems between rules (no default rule, a rule that can
never match) are found on the raw YAML, so one pass reports both kinds with their lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from servq.calendar import CalendarSpec, load_calendar
from servq.errors import DefinitionError, Problem, ServqError
from servq.warehouse.schema import CASE_STATUSES, CHANNELS, PRIORITIES
from servq.yamlfile import Loc, load_model, loc_text, parse_yaml

TargetName = Literal["first_reply", "next_reply", "resolution"]
TARGETS: tuple[TargetName, ...] = get_args(TargetName)
ConditionName = Literal["priority", "channel", "category"]
CONDITIONS: tuple[ConditionName, ...] = get_args(ConditionName)
# statuses in which a case has ended (for now: a solved case may be reopened)
DONE_STATUSES = ("solved", "closed", "cancelled")
# closed enumerations a condition's values are checked against (category is free text)
_CONDITION_VALUES: dict[str, tuple[str, ...]] = {"priority": PRIORITIES, "channel": CHANNELS}

_UNITS: dict[str, float] = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:bd|d|h|m|s))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)(bd|d|h|m|s)")
_DURATION_HELP = "a duration such as 30m, 4h, 2h30m, 3d (24 business hours) or 10bd (business days)"


class Duration(NamedTuple):
    """A target as written: fixed business seconds plus a number of business days (``bd``)."""

    text: str
    seconds: float
    business_days: float

    def total_seconds(self, workday_seconds: float) -> float:
        """Business seconds, given how long the calendar's working day is open."""
        return self.seconds + self.business_days * workday_seconds

    def __str__(self) -> str:
        return self.text


def parse_duration(value: Any) -> Duration:
    """``30m``, ``1h``, ``2h30m``, ``3d``, ``10bd``, ``1.5h`` → Duration; ValueError if not."""
    if isinstance(value, Duration):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        # a bare number would silently be seconds or hours depending on who reads it
        raise ValueError(f"expected {_DURATION_HELP}; a number needs a unit")
    text = value.strip().lower().replace(" ", "")
    if not _DURATION.fullmatch(text):
        raise ValueError(f"'{value}' is not {_DURATION_HELP}")
    seconds, days, seen = 0.0, 0.0, set()
    for number, unit in _PART.findall(text):
        if unit in seen:
            raise ValueError(f"'{value}' gives the unit '{unit}' twice")
        seen.add(unit)
        if unit == "bd":
            days += float(number)
        else:
            seconds += float(number) * _UNITS[unit]
    if seconds == 0 and days == 0:
        raise ValueError(f"'{value}' is zero: a target must be longer than that")
    return Duration(value.strip(), seconds, days)


def _as_values(value: Any) -> Any:
    """A condition's value: one value or a list of them, kept as a tuple of text."""
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError(f"expected a value or a list of values, got {item!r}")
        out.append(str(item))
    if not out:
        raise ValueError("an empty list matches no case: leave the condition out instead")
    return tuple(out)


Values = Annotated[tuple[str, ...], BeforeValidator(_as_values)]
Target = Annotated[Duration, BeforeValidator(parse_duration)]


def _pause_status(value: str) -> str:
    # ``solved`` is allowed: it stops the clock between a solve and a reopen. A case does not
    # come back from closed or cancelled, so pausing there would mean nothing.
    if value in ("closed", "cancelled"):
        raise ValueError(f"'{value}' ends a case: every target has stopped by then")
    if value not in CASE_STATUSES:
        known = ", ".join(s for s in CASE_STATUSES if s not in ("closed", "cancelled"))
        raise ValueError(f"unknown status '{value}' (pause statuses: {known})")
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Rule(_Frozen):
    """Targets for the cases matching every condition of ``when`` (none: every case)."""

    name: str = ""
    when: dict[ConditionName, Values] = Field(default_factory=dict)
    targets: dict[TargetName, Target] = Field(min_length=1)

    @field_validator("when")
    @classmethod
    def _known_values(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        bad = []
        for field, allowed in _CONDITION_VALUES.items():
            wrong = [v for v in value.get(field, ()) if v not in allowed]
            if wrong:
                bad.append(
                    f"unknown {field} {', '.join(map(repr, wrong))} (one of {', '.join(allowed)})"
                )
        if bad:
            raise ValueError("; ".join(bad))
        return value

    @property
    def is_default(self) -> bool:
        return not self.when

    def label(self, index: int) -> str:
        """The rule's name, else its position counted from 1."""
        return self.name or f"rule {index + 1}"

    def matches(self, cases: pd.DataFrame) -> npt.NDArray[np.bool_]:
        """Which rows of ``cases`` (columns priority, channel, category) meet every condition.

        A missing value meets no condition, so a case without a priority falls through to a
        rule that does not ask for one.
        """
        mask = np.ones(len(cases), dtype=bool)
        for field, values in self.when.items():
            mask &= cases[field].isin(values).to_numpy(dtype=bool)
        return mask


class SlaPolicy(_Frozen):
    """A service-level policy: a calendar, pause statuses, and targets chosen by rules."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title_en: str = ""
    title_zh: str = ""
    description: str = ""
    calendar: str
    pause_statuses: tuple[Annotated[str, AfterValidator(_pause_status)], ...] = (
        "pending",
        "on_hold",
    )
    warn_at: float = Field(default=0.8, gt=0, le=1)
    rules: tuple[Rule, ...] = Field(min_length=1)

    @field_validator("calendar")
    @classmethod
    def _known_calendar(cls, value: str, info: ValidationInfo) -> str:
        folders = (info.context or {}).get("calendar_folders")
        try:
            load_calendar(value, folders)
        except ServqError as exc:
            raise ValueError(str(exc)) from None
        return value

    def calendar_spec(self, folders: Sequence[Path] | None = None) -> CalendarSpec:
        """The policy's calendar (from built-ins, else ``folders``)."""
        return load_calendar(self.calendar, folders)

    def targets(self) -> tuple[TargetName, ...]:
        """Every target some rule sets, in the canonical order."""
        return tuple(t for t in TARGETS if any(t in r.targets for r in self.rules))

    def match(self, cases: pd.DataFrame) -> npt.NDArray[np.intp]:
        """Index of the first rule each case matches (−1 for none; a valid policy has a default)."""
        out = np.full(len(cases), -1, dtype=np.intp)
        # walking backwards lets an earlier rule overwrite a later one: first match wins
        for i in range(len(self.rules) - 1, -1, -1):
            out[self.rules[i].matches(cases)] = i
        return out


def workday_seconds(calendar: CalendarSpec) -> float:
    """Open seconds of the calendar's ``workday`` hours: the length of one ``bd``."""
    return float(sum(r.end - r.start for r in calendar.hours.workday))


# -- problems between rules, read from the raw YAML -------------------------------------------


def _raw_conditions(rule: Any) -> dict[str, frozenset[str]] | None:
    """A rule's conditions as sets, or None when its shape is wrong (pydantic says why)."""
    if not isinstance(rule, dict):
        return None
    when = rule.get("when")
    if when is None:
        return {}
    if not isinstance(when, dict):
        return None
    out: dict[str, frozenset[str]] = {}
    for key, value in when.items():
        items = value if isinstance(value, list) else [value]
        out[str(key)] = frozenset(str(v) for v in items)
    return out


def _covers(earlier: dict[str, frozenset[str]], later: dict[str, frozenset[str]]) -> bool:
    """Whether every case the later rule matches is matched by the earlier one."""
    return all(key in later and later[key] <= values for key, values in earlier.items())


def rule_problems(data: Any) -> list[tuple[Loc, str]]:
    """No default rule; rules that can never match because an earlier rule takes their cases."""
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, list) or not rules:
        return []
    problems: list[tuple[Loc, str]] = []
    conds = [_raw_conditions(r) for r in rules]
    if not any(c == {} for c in conds):
        problems.append(
            (
                ("rules",),
                "no default rule: end with a rule without `when`, so every case gets targets",
            )
        )
    for j, later in enumerate(conds):
        if later is None:
            continue
        for i in range(j):
            earlier = conds[i]
            if earlier is not None and _covers(earlier, later):
                what = "has no conditions" if not earlier else "matches every case this one does"
                problems.append(
                    (
                        ("rules", j),
                        f"never used: rules[{i}] {what}, and the first matching rule wins "
                        "(put the more specific rule first)",
                    )
                )
                break
    return problems


def parse_policy(
    text: str, file: str = "<sla policy>", *, calendar_folders: Sequence[Path] | None = None
) -> SlaPolicy:
    """A policy from YAML text; raises DefinitionError listing every problem with its line.

    ``calendar_folders`` are where calendars other than the built-in ones are looked for
    (a workspace's ``calendars/``).
    """
    data, lines = parse_yaml(text, file)
    found = [Problem(file, lines.line(loc), loc_text(loc), msg) for loc, msg in rule_problems(data)]
    context = {"calendar_folders": list(calendar_folders or [])}
    try:
        policy = load_model(SlaPolicy, text, file, context=context)
    except DefinitionError as exc:
        found = exc.problems + found
    if found:
        raise DefinitionError(sorted(found, key=lambda p: (p.line or 0, p.field)))
    return policy


def load_policy_file(path: Path, *, calendar_folders: Sequence[Path] | None = None) -> SlaPolicy:
    """A policy from a YAML file; raises DefinitionError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(str(path), None, "", f"cannot read: {exc}")]) from exc
    return parse_policy(text, str(path), calendar_folders=calendar_folders)
