"""The improvement loop's rows, words and rules that need no database: states, the plan workflow,
5-Why validation and the configuration file.

Owns: the ``improve_problem``, ``improve_retro``, ``improve_plan`` and ``improve_event`` tables
(declared on :class:`servq.app_store.Base` when this module is imported; the application store
imports it through ``MODEL_MODULES``), the closed vocabularies (sources, severities, stages,
states, tiers, plan statuses), :data:`PLAN_MOVES` (the plan workflow), :func:`retro_findings`
(why a 5-Why retrospective is not complete yet), :class:`ImproveConfig` (``<workspace>/
improve.yaml``) and the errors of the loop. Times are naive UTC, as everywhere in the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from servq.app_store import Base, JSONType
from servq.errors import ServqError
from servq.yamlfile import Loc, load_model, read_definition

CONFIG_FILE = "improve.yaml"  # a workspace's improvement settings, when it has them

SOURCES = ("alert", "metric", "text", "audit", "suggestion", "manual")
SEVERITIES = ("low", "medium", "high", "critical")
# the loop 监测 → 分析 → 改进 → 验证, then closed
STAGES = ("monitor", "analyse", "improve", "verify", "closed")
PROBLEM_STATES = ("open", "claimed", "escalated", "closed")
UNCLAIMED_STATES = ("open", "escalated")
TIERS = ("urgent", "normal", "long_term")
PLAN_STATUSES = ("draft", "approved", "in_progress", "done", "verified", "not_effective")
LAYERS = ("data", "process", "people")
ENTITIES = ("problem", "plan", "retro")

# the plan workflow: from → the statuses anyone allowed to edit may move it to. Moving back to
# draft (from any other status) is the one move reserved to administrators.
PLAN_MOVES: dict[str, tuple[str, ...]] = {
    "draft": ("approved",),
    "approved": ("in_progress",),
    "in_progress": ("done",),
    "done": ("verified", "not_effective"),
    "not_effective": ("in_progress",),
    "verified": (),
}
# an urgent plan in one of these statuses past its due time is overdue
OVERDUE_STATUSES = ("draft", "approved", "in_progress", "not_effective")
# a verdict can be recorded on a plan in these statuses (done; or again, replacing a verdict)
VERDICT_STATUSES = ("done", "verified", "not_effective")

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only


# -- errors ----------------------------------------------------------------------------------------


class ImproveError(ServqError):
    """A problem, plan or retrospective that does not exist, or a change it does not allow."""


class Forbidden(ServqError):
    """The acting user may not change this department's problems and plans."""


class RetroError(ImproveError):
    """A 5-Why retrospective whose shape is wrong (not a list of nodes, unknown layer, ...)."""


class ConflictError(ImproveError):
    """Someone else saved the same retrospective since it was read."""


# -- rows ------------------------------------------------------------------------------------------


class ProblemRow(Base):
    """One service-quality problem on its way round the loop, from detection to closure."""

    __tablename__ = "improve_problem"
    __table_args__ = (UniqueConstraint("number", name="uq_improve_problem_number"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # P-0001
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str | None] = mapped_column(Text, nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType)
    severity: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    department: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    opened_by: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    claim_due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class RetroRow(Base):
    """The 5-Why retrospective of one problem; saving again replaces it (``version`` + 1) and
    the history keeps what each save changed."""

    __tablename__ = "improve_retro"

    problem_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("improve_problem.id"), primary_key=True
    )
    participants: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    nodes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    conclusions: Mapped[list[str]] = mapped_column(JSONType)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    issues: Mapped[list[str]] = mapped_column(JSONType)  # why it is not complete
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class PlanRow(Base):
    """One improvement action of a problem: urgent (48 h), normal, or long-term (milestones)."""

    __tablename__ = "improve_plan"
    __table_args__ = (UniqueConstraint("number", name="uq_improve_plan_number"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # A-0001
    number: Mapped[int] = mapped_column(Integer)
    problem_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("improve_problem.id"), index=True
    )
    title: Mapped[str] = mapped_column(String(500))
    tier: Mapped[str] = mapped_column(String(16), index=True)
    owner: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(200), index=True)
    opened_by: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    milestones: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    acceptance: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    verdict: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class EventRow(Base):
    """One change of a problem, plan or retrospective: who changed which field, from what to
    what, and when. ``field`` is NULL for a change of the whole thing (its creation)."""

    __tablename__ = "improve_event"
    __table_args__ = (Index("ix_improve_event_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(16))
    problem_id: Mapped[str] = mapped_column(String(16), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    who: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    field: Mapped[str | None] = mapped_column(String(40), nullable=True)
    old: Mapped[Any] = mapped_column(JSONType, nullable=True)
    new: Mapped[Any] = mapped_column(JSONType, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


# -- 5-Why validation ------------------------------------------------------------------------------

_NODE_KEYS = frozenset({"id", "parent", "why", "because", "layer", "root_cause"})
_PARTICIPANT_KEYS = frozenset({"name", "department"})


def _key(value: Any, where: str) -> str:
    """A node id or parent as text (YAML writes ``1`` and ``"1"`` for the same node)."""
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        raise RetroError(f"{where}: expected a text or number id / 应为文本或数字编号")
    return str(value).strip()


def _text(value: Any, where: str, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise RetroError(f"{where}: expected a non-empty text / 应为非空文本")
    return value.strip()


def clean_participants(value: Any) -> list[dict[str, str]]:
    """Participants as ``[{name, department}]``; a wrong shape raises :class:`RetroError`."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise RetroError("participants: expected a list / 参与人应为列表")
    out = []
    for i, item in enumerate(value):
        where = f"participants[{i}]"
        if not isinstance(item, Mapping):
            raise RetroError(f"{where}: expected {{name, department}} / 应含姓名与部门")
        unknown = sorted(set(item) - _PARTICIPANT_KEYS)
        if unknown:
            raise RetroError(f"{where}: unknown field(s) {', '.join(unknown)} / 未知字段")
        out.append(
            {
                "name": _text(item.get("name"), f"{where}.name", required=True),
                "department": _text(item.get("department"), f"{where}.department", required=True),
            }
        )
    return out


def clean_nodes(value: Any) -> list[dict[str, Any]]:
    """Why-nodes in their stored form; a wrong shape (not a list of mappings, an unknown field
    or layer, two nodes with one id) raises :class:`RetroError`. What only makes the
    retrospective incomplete (a cycle, a missing layer) is left to :func:`retro_findings`."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise RetroError("nodes: expected a list / 节点应为列表")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        where = f"nodes[{i}]"
        if not isinstance(item, Mapping):
            raise RetroError(f"{where}: expected a mapping / 应为映射")
        unknown = sorted(set(item) - _NODE_KEYS)
        if unknown:
            raise RetroError(f"{where}: unknown field(s) {', '.join(unknown)} / 未知字段")
        node_id = _key(item.get("id"), f"{where}.id")
        if node_id in seen:
            raise RetroError(f"{where}: node id {node_id} is used twice / 节点编号 {node_id} 重复")
        seen.add(node_id)
        parent = item.get("parent")
        layer = item.get("layer")
        if layer is not None and layer not in LAYERS:
            raise RetroError(
                f"{where}.layer: '{layer}' is not one of {', '.join(LAYERS)} or empty / "
                f"层级须为 data（数据）、process（流程）或 people（人员）"
            )
        root_cause = item.get("root_cause", False)
        if not isinstance(root_cause, bool):
            raise RetroError(f"{where}.root_cause: expected true or false / 应为 true 或 false")
        out.append(
            {
                "id": node_id,
                "parent": None if parent is None else _key(parent, f"{where}.parent"),
                "why": _text(item.get("why"), f"{where}.why", required=True),
                "because": _text(item.get("because"), f"{where}.because", required=False),
                "layer": layer,
                "root_cause": root_cause,
            }
        )
    return out


def clean_conclusions(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise RetroError("conclusions: expected a list of texts / 结论应为文本列表")
    return [_text(v, f"conclusions[{i}]", required=True) for i, v in enumerate(value)]


def _cycles(parents: dict[str, str | None]) -> list[list[str]]:
    """Each cycle of the parent links once, as the ids along it."""
    found: list[list[str]] = []
    done: set[str] = set()
    for start in parents:
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and node in parents and node not in done:
            if node in on_path:
                found.append(path[path.index(node) :])
                break
            path.append(node)
            on_path.add(node)
            node = parents[node]
        done.update(path)
    return found


def retro_findings(
    participants: Sequence[Mapping[str, Any]],
    nodes: Sequence[Mapping[str, Any]],
    conclusions: Sequence[str] = (),
) -> list[str]:
    """Why a cleaned retrospective is not complete; empty when it is. A complete 5-Why has
    people of at least two departments, exactly one node without a parent (the problem itself),
    parents that exist and no cycles (a tree), at least one root cause, and a layer (data,
    process, people) on every root cause. ``conclusions`` are not required."""
    found: list[str] = []
    departments = sorted({p["department"] for p in participants})
    if len(departments) < 2:
        names = ", ".join(departments) or "none"
        found.append(
            f"{len(departments)} department(s) took part ({names}): a 5-Why needs at least two / "
            f"仅 {len(departments)} 个部门参与（{names}），5-Why 复盘至少需要两个部门"
        )
    parents = {n["id"]: n["parent"] for n in nodes}
    roots = [n["id"] for n in nodes if n["parent"] is None]
    if len(roots) != 1:
        found.append(
            f"{len(roots)} node(s) without a parent ({', '.join(roots) or 'none'}): exactly one, "
            f"the problem itself, must have none / 无上级节点的节点有 {len(roots)} 个，"
            f"应恰好一个（问题本身）"
        )
    for n in nodes:
        if n["parent"] is not None and n["parent"] not in parents:
            found.append(
                f"node {n['id']}: parent {n['parent']} does not exist / "
                f"节点 {n['id']} 的上级 {n['parent']} 不存在"
            )
    for cycle in _cycles(parents):
        chain = " → ".join([*cycle, cycle[0]])
        found.append(f"nodes {chain} form a cycle / 节点 {chain} 形成循环")
    causes = [n for n in nodes if n["root_cause"]]
    if not causes:
        found.append("no node is marked as a root cause / 尚未标记根本原因")
    for n in causes:
        if n["layer"] is None:
            found.append(
                f"node {n['id']} is a root cause without a layer (data, process or people) / "
                f"根本原因节点 {n['id']} 未标注层级（数据、流程或人员）"
            )
    return found


# -- configuration ---------------------------------------------------------------------------------


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{value}' (use e.g. Asia/Shanghai)") from None
    return value


class ImproveConfig(BaseModel):
    """How long a problem may stay unclaimed and how long an urgent plan may take.

    ``claim_days`` are working days of ``claim_calendar`` (on ``24x7`` a day is 24 hours; on
    ``cn-office`` one working day of 7.5 open hours). ``urgent_hours`` and ``level2_hours`` are
    open hours of ``urgent_calendar``. ``timezone`` is where people read the times.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    claim_days: float = Field(default=3, gt=0)
    claim_calendar: str = "24x7"
    urgent_hours: float = Field(default=48, gt=0)
    urgent_calendar: str = "24x7"
    level2_hours: float = Field(default=24, gt=0)
    timezone: Annotated[str, AfterValidator(_zone)] = "Asia/Shanghai"

    @classmethod
    def from_yaml(
        cls,
        text: str,
        file: str = "<improve.yaml>",
        calendar_folders: Sequence[Path] | None = None,
    ) -> ImproveConfig:
        """Read settings; a :class:`~servq.errors.DefinitionError` lists every problem with
        its line, unknown calendars included."""
        return load_model(cls, text, file, checks=lambda c: _calendar_problems(c, calendar_folders))

    @classmethod
    def load(
        cls, path: Path | str, calendar_folders: Sequence[Path] | None = None
    ) -> ImproveConfig:
        path = Path(path)
        return cls.from_yaml(read_definition(path), str(path), calendar_folders)

    @classmethod
    def for_workspace(cls, workspace: Path | str) -> ImproveConfig:
        """``<workspace>/improve.yaml`` when it exists (calendars may come from
        ``<workspace>/calendars``), else the defaults."""
        root = Path(workspace)
        path = root / CONFIG_FILE
        return cls.load(path, [root / "calendars"]) if path.is_file() else cls()


def _calendar_problems(
    config: ImproveConfig, folders: Sequence[Path] | None
) -> list[tuple[Loc, str]]:
    from servq.calendar import load_calendar

    found: list[tuple[Loc, str]] = []
    for name in ("claim_calendar", "urgent_calendar"):
        try:
            load_calendar(getattr(config, name), folders)
        except ServqError as exc:
            found.append(((name,), str(exc).splitlines()[0]))
    return found
