"""Mapping profiles: how the columns of one kind of export become canonical warehouse rows.

Owns: the profile model (YAML → frozen pydantic), its cross-field validation, and loading profiles
from files. Knows the canonical schema; does no I/O beyond reading the YAML it is given.

A profile names its target table and maps canonical fields to source columns::

    name: my-helpdesk
    target: case
    timezone: Asia/Shanghai
    fields:
      case_id: Ticket ID                   # short form: the source column
      created_at: {column: Created, format: "%Y/%m/%d %H:%M"}
      status: {column: State, values: {待处理: open, 已解决: solved}}
    events:                                # case events derived from timestamp columns
      - {activity: created, timestamp: created_at, status: new}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

from servq.warehouse.schema import CASE, TABLES, Table
from servq.yamlfile import Loc, load_model, load_model_file

ID_FIELDS = {t.name: t.key[-1] for t in TABLES.values()}
DURATION_FORMATS = ("seconds", "minutes", "hours", "hms")
CHECK_KINDS = ("not_before", "not_after")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldSpec(_Frozen):
    """Where one canonical field comes from and how its text is read."""

    column: str | None = None
    columns: tuple[str, ...] | None = Field(
        default=None, description="several source columns joined with `join` (date + time)"
    )
    join: str = " "
    sql: str | None = Field(default=None, description="a DuckDB SQL expression over source columns")
    constant: str | None = None
    default: str | None = Field(default=None, description="used when the source value is empty")
    format: str | tuple[str, ...] | None = Field(
        default=None,
        description="timestamps: strptime formats or 'iso'; numbers: seconds|minutes|hours|hms",
    )
    timezone: str | None = Field(default=None, description="zone of naive timestamps in this field")
    values: dict[str, str | None] | None = Field(
        default=None, description="source value → canonical value (case-insensitive)"
    )
    unknown: Literal["reject", "keep", "null"] = Field(
        default="reject", description="what to do with a value that `values` does not list"
    )
    null_values: tuple[str, ...] | None = Field(
        default=None, description="source texts that mean 'no value' for this field"
    )
    required: bool = False

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"column": data}
        if isinstance(data, dict):
            if "unknown" in data and data["unknown"] is None:
                data = {**data, "unknown": "null"}  # YAML reads a bare `null` as None
            values = data.get("values")
            if isinstance(values, dict):
                data = {**data, "values": {str(k): _str_or_none(v) for k, v in values.items()}}
            for key in ("null_values",):
                if isinstance(data.get(key), list):
                    data = {**data, key: tuple(str(v) for v in data[key])}
        return data

    @property
    def formats(self) -> tuple[str, ...]:
        if self.format is None:
            return ()
        return (self.format,) if isinstance(self.format, str) else tuple(self.format)

    def source_columns(self) -> tuple[str, ...]:
        if self.column is not None:
            return (self.column,)
        return self.columns or ()

    def describe_source(self) -> str:
        if self.column is not None:
            return f"column '{self.column}'"
        if self.columns:
            return "columns " + " + ".join(f"'{c}'" for c in self.columns)
        if self.sql is not None:
            return f"expression {self.sql}"
        return f"constant '{self.constant}'"


def _str_or_none(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class EventSpec(_Frozen):
    """A case event derived from a timestamp field of a case row."""

    activity: str
    timestamp: str
    status: str | None = None
    actor: str | None = Field(default=None, description="canonical field holding the actor")
    actor_type: str | None = None


class CheckSpec(_Frozen):
    """A rule between two timestamp fields; failing rows are quarantined or flagged."""

    check: Literal["not_before", "not_after"]
    field: str
    reference: str
    reason: str
    action: Literal["quarantine", "flag"] = "quarantine"


class CasesSpec(_Frozen):
    """For event-log profiles: one case row per case id, built from the events."""

    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    attribute_prefix: str | None = Field(
        default=None, description="source columns with this prefix go to the case's attributes"
    )


class ReadSpec(_Frozen):
    format: Literal["csv", "excel", "json", "parquet", "xes"] | None = None
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None


class Profile(_Frozen):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title_en: str = ""
    title_zh: str = ""
    description: str = ""
    target: Literal[
        "case", "case_event", "interaction", "feedback", "audit", "outcome", "ops_record"
    ]
    system: str | None = Field(default=None, description="namespace of the ids; default: name")
    read: ReadSpec = ReadSpec()
    timezone: str = "UTC"
    null_values: tuple[str, ...] = ("",)
    fields: dict[str, FieldSpec]
    extra: Literal["all", "none"] | tuple[str, ...] = "all"
    events: tuple[EventSpec, ...] = ()
    checks: tuple[CheckSpec, ...] = ()
    cases: CasesSpec | None = None

    @property
    def source_system(self) -> str:
        return self.system or self.name

    @property
    def table(self) -> Table:
        return TABLES[self.target]


def _check_zone(zone: str) -> str | None:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone '{zone}'"
    return None


def _check_field(table: Table, name: str, spec: FieldSpec, loc: Loc) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    if name not in table.column_names or name == "source_system":
        allowed = ", ".join(c for c in table.column_names if c != "source_system")
        problems.append(((*loc, "__key__"), f"'{name}' is not a field of {table.name}: {allowed}"))
        return problems
    sources = [s for s in (spec.column, spec.columns, spec.sql, spec.constant) if s is not None]
    if len(sources) != 1:
        problems.append((loc, "give exactly one of column, columns, sql, constant"))
    kind = table.column(name).type
    for fmt in spec.formats:
        if kind == "timestamp" and fmt != "iso" and "%" not in fmt:
            problems.append(((*loc, "format"), f"'{fmt}' is neither 'iso' nor a strptime format"))
        if kind in ("int", "float") and fmt not in DURATION_FORMATS:
            problems.append(((*loc, "format"), f"number format must be one of {DURATION_FORMATS}"))
        if kind not in ("timestamp", "int", "float"):
            problems.append(((*loc, "format"), f"a format does not apply to {kind} field"))
    has_zone = [("%z" in f) for f in spec.formats if f != "iso"]
    if has_zone and any(has_zone) != all(has_zone):
        problems.append(((*loc, "format"), "mix of formats with and without %z"))
    if spec.timezone is not None and (msg := _check_zone(spec.timezone)):
        problems.append(((*loc, "timezone"), msg))
    allowed_values = table.enums.get(name)
    if spec.values is not None and allowed_values is not None:
        for src, dst in spec.values.items():
            if dst is not None and dst not in allowed_values:
                problems.append(
                    (
                        (*loc, "values", src),
                        f"'{dst}' is not a canonical {name}: {', '.join(allowed_values)}",
                    )
                )
    return problems


def validate_profile(p: Profile) -> list[tuple[Loc, str]]:
    """Cross-field rules pydantic cannot express; every problem is returned, none raised."""
    table = p.table
    problems: list[tuple[Loc, str]] = []
    if msg := _check_zone(p.timezone):
        problems.append((("timezone",), msg))
    for name, spec in p.fields.items():
        problems += _check_field(table, name, spec, ("fields", name))
    seen_activities: set[str] = set()
    for i, ev in enumerate(p.events):
        if ev.activity in seen_activities:  # derived event ids are case/activity/time
            problems.append((("events", i, "activity"), f"'{ev.activity}' is derived twice"))
        seen_activities.add(ev.activity)
        if p.target != "case":
            problems.append((("events", i), "events are derived only from case profiles"))
        elif ev.timestamp not in p.fields or CASE.column(ev.timestamp).type != "timestamp":
            problems.append(
                (("events", i, "timestamp"), f"'{ev.timestamp}' is not a mapped timestamp field")
            )
        if ev.actor is not None and ev.actor not in p.fields:
            problems.append((("events", i, "actor"), f"'{ev.actor}' is not a mapped field"))
    for i, ck in enumerate(p.checks):
        for part in ("field", "reference"):
            fname = getattr(ck, part)
            if fname not in p.fields:
                problems.append((("checks", i, part), f"'{fname}' is not a mapped field"))
            elif fname in table.column_names and table.column(fname).type != "timestamp":
                problems.append((("checks", i, part), f"'{fname}' is not a timestamp field"))
    if p.cases is not None:
        if p.target != "case_event":
            problems.append((("cases",), "cases are built only by case_event profiles"))
        for name, spec in p.cases.fields.items():
            if name in ("case_id", "created_at", "updated_at"):
                problems.append((("cases", "fields", name), f"'{name}' comes from the events"))
                continue
            problems += _check_field(CASE, name, spec, ("cases", "fields", name))
    needs = ["case_id"] if p.target == "case_event" else []
    if p.target == "case":
        needs.append("case_id")
    for need in needs:
        if need not in p.fields:
            problems.append((("fields",), f"'{need}' must be mapped for target {p.target}"))
    return problems


def parse_profile(text: str, file: str = "<profile>") -> Profile:
    return load_model(Profile, text, file, checks=validate_profile)


def load_profile_file(path: Path) -> Profile:
    return load_model_file(Profile, path, checks=validate_profile)
