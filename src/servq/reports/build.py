"""Build a service-quality report: plain data, ready to render as HTML, PDF or Excel.

Owns: what a report says and how each figure is worked out. Every query is bounded by the
period (local days in the report's time zone) and filtered by the report's ``scope`` (a
department owner's report covers only their teams or sites). Sections:

- **KPIs** (关键指标): the headline metrics of :data:`HEADLINE_METRICS` that the workspace's
  catalogue has, each with this period's value, the previous period's, the change, and whether
  the change is good or bad by the metric's ``direction``; then SLA attainment (below).
  Snapshot metrics (``overdue``) are taken at the end of each period.
- **Biggest movers** (变化最大): per team and per site, the headline metrics that changed most
  between the two periods, ranked by the change against the metric's size in the whole report,
  ``|now - before| / ((|all now| + |all before|) / 2)``, so durations, rates and scores
  compare. Metrics without a direction (volume) and snapshots (``overdue``) are left out, and a
  member takes part only with enough rows in both periods (:data:`MIN_SAMPLE`: cases for case
  metrics, feedback for feedback metrics).
- **SLA attainment** (SLA 达成情况) by team: the cases created in the period with a due time
  (cancelled ones left out); *met* when resolved (latest solve) by ``due_at``, *breached* when
  resolved after it or still unresolved once it has passed (as of the newest time in the data),
  else *open*. Attainment = met / (met + breached).
- **Alerts** (本期告警) from the application store, when one is given: alerts that started in
  the period, counted by rule and by severity, and the top ones (most severe, then most often
  seen). Under a scope, only alerts whose labels fall inside it.
- **Top customer issues** (客户反映的主要问题): the most frequent issues of the period's
  feedback comments from :func:`servq.text.issues.top_issues`, each with one example, its
  personal data masked by :func:`servq.text.pii.mask`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd

from servq.errors import ServqError
from servq.reports.period import Period, check_timezone
from servq.reports.words import word

if TYPE_CHECKING:
    from servq.app_store import Store
    from servq.metrics.model import MetricSpec
    from servq.workspace import Workspace

Verdict = Literal["good", "bad", "flat", "neutral", "n/a"]

HEADLINE_METRICS: tuple[str, ...] = (
    "cases_created",
    "first_reply_time",
    "full_resolution_time",
    "overdue",
    "csat",
    "negative_share",
    "repeat_complaint_rate",
    "reopen_rate",
)
# the scope keys every fact source a report reads (cases, feedback) has
SCOPE_KEYS: tuple[str, ...] = ("team", "site", "agent", "channel")
MOVER_DIMENSIONS: tuple[str, ...] = ("team", "site")
MOVERS_PER_DIMENSION = 5
# rows a dimension value needs in both periods before its change counts as a move
MIN_SAMPLE: dict[str, int] = {"case": 10, "feedback": 5}
SAMPLE_METRICS: dict[str, str] = {"case": "cases_created", "feedback": "feedback_count"}
COUNT_UNITS = ("cases", "count", "calls")
MIN_COUNT_SCALE = 5.0
TOP_ALERTS = 10
TOP_ISSUES = 5
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
NO_VALUE = "—"  # a case or alert without the dimension's value


@dataclass(frozen=True)
class Kpi:
    """One headline figure: this period, the previous one, and what the change means."""

    metric: str
    name: str
    unit: str
    direction: str
    value: float | None
    previous: float | None
    change: float | None
    change_pct: float | None
    verdict: Verdict


@dataclass(frozen=True)
class Mover:
    """A team or site whose metric moved most between the two periods."""

    dimension: str
    member: str
    metric: str
    name: str
    unit: str
    direction: str
    value: float | None
    previous: float | None
    change: float | None
    change_pct: float | None
    verdict: Verdict
    sample: int
    score: float


@dataclass(frozen=True)
class SlaRow:
    """SLA attainment of one team (``team`` is the total row's word for "total")."""

    team: str
    cases: int
    met: int
    breached: int
    open: int
    attainment: float | None  # met / (met + breached), 0..1


@dataclass(frozen=True)
class AlertItem:
    id: int
    rule: str
    kind: str
    severity: str
    state: str
    labels: dict[str, str]
    summary: str
    starts_at: datetime  # aware, in the report's time zone
    count: int


@dataclass(frozen=True)
class AlertSection:
    total: int
    by_rule: list[tuple[str, int]]
    by_severity: list[tuple[str, int]]
    top: list[AlertItem]


@dataclass(frozen=True)
class Issue:
    rank: int
    topic: str
    label: str
    count: int
    texts: int
    share: float
    example: str


@dataclass(frozen=True)
class Report:
    """A report as plain data. ``alerts`` is None when no application store was given."""

    title: str
    lang: str
    timezone: str
    period: Period
    previous: Period
    scope: dict[str, list[str]]
    generated_at: datetime
    kpis: list[Kpi]
    movers: list[Mover]
    sla: list[SlaRow]
    sla_total: SlaRow
    alerts: AlertSection | None
    issues: list[Issue]
    as_of: datetime | None = None  # newest time in the data, naive UTC

    def scope_text(self) -> str:
        """``团队: A, B; 门店: C`` or the word for everything."""
        if not self.scope:
            return word("scope_all", self.lang)
        sep = "：" if self.lang == "zh" else ": "
        return "; ".join(
            f"{word(key, self.lang)}{sep}{', '.join(values)}" for key, values in self.scope.items()
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: dates and times as ISO text."""

        def plain(value: Any) -> Any:
            if hasattr(value, "isoformat"):  # dates and times
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            if isinstance(value, float) and math.isnan(value):
                return None
            return value

        out: dict[str, Any] = plain(asdict(self))
        return out


# --- helpers ------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def verdict(direction: str, previous: float | None, value: float | None) -> Verdict:
    """Good or bad by the metric's direction; ``flat`` when unchanged, ``n/a`` without data."""
    if previous is None or value is None:
        return "n/a"
    if direction == "neutral":
        return "neutral"
    if math.isclose(previous, value, rel_tol=1e-9, abs_tol=1e-9):
        return "flat"
    better = value < previous if direction == "lower_is_better" else value > previous
    return "good" if better else "bad"


def _change(previous: float | None, value: float | None) -> tuple[float | None, float | None]:
    if previous is None or value is None:
        return None, None
    change = value - previous
    pct = 100 * change / abs(previous) if previous else None
    return change, pct


def normalise_scope(scope: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    """The scope as ``{key: [values]}``; a bilingual ServqError for an unknown key or no values."""
    out: dict[str, list[str]] = {}
    for key, values in (scope or {}).items():
        if key not in SCOPE_KEYS:
            keys = ", ".join(SCOPE_KEYS)
            raise ServqError(
                f"a report's scope can be {keys}, not '{key}' / 报告范围只能按 {keys} 限定，"
                f"不能按 '{key}'"
            )
        listed = [values] if isinstance(values, str) else [str(v) for v in values]
        listed = [v for v in dict.fromkeys(listed) if v]
        if not listed:
            raise ServqError(f"scope '{key}' lists no values / 范围 '{key}' 没有列出任何值")
        out[key] = listed
    return out


def _metric_frame(
    ws: Workspace,
    ids: Sequence[str],
    period: Period,
    timezone: str,
    where: Mapping[str, list[str]],
    by: str | None = None,
) -> pd.DataFrame:
    return ws.metrics(
        list(ids),
        by=() if by is None else by,
        start=period.start,
        end=period.end,
        timezone=timezone,
        where=dict(where) or None,
    )


def _first_row(frame: pd.DataFrame) -> dict[str, Any]:
    return {} if frame.empty else dict(frame.iloc[0])


# --- SLA ----------------------------------------------------------------------------------------


def data_as_of(ws: Workspace) -> datetime | None:
    """The newest instant in the cases and their events (naive UTC): what "now" is for data
    that was exported some time ago."""
    case = ws.table("case")
    row = case.aggregate(
        a=case.created_at.max(),
        b=case.updated_at.max(),
        c=case.resolved_at.max(),
        d=case.closed_at.max(),
        e=case.first_reply_at.max(),
    ).to_pandas()
    events = ws.table("case_event")
    latest = events.aggregate(t=events.timestamp.max()).to_pandas()
    stamps = [v for v in [*row.iloc[0].tolist(), latest.iloc[0]["t"]] if pd.notna(v)]
    return pd.Timestamp(max(stamps)).to_pydatetime() if stamps else None


def sla_by_team(
    ws: Workspace,
    periods: Sequence[Period],
    timezone: str,
    where: Mapping[str, list[str]],
    as_of: datetime | None,
    *,
    total_word: str = "total",
) -> list[tuple[list[SlaRow], SlaRow]]:
    """SLA attainment per team and in total, for each of ``periods`` (one query for all; see
    the module docstring for the rules)."""
    import ibis

    from servq.metrics.compute import filter_expr
    from servq.metrics.facts import case_facts

    f = case_facts(ws.warehouse)
    which = ibis.literal(-1)
    for i, period in reversed(list(enumerate(periods))):
        lo, hi = period.utc_bounds(timezone)
        which = ibis.ifelse((f.created_at >= lo) & (f.created_at < hi), i, which)
    f = f.mutate(sla_period=which)
    f = f.filter((f.sla_period >= 0) & f.due_at.notnull() & (f.status.fill_null("") != "cancelled"))
    cond = filter_expr(f, dict(where), {})
    if cond is not None:
        f = f.filter(cond)
    resolved = f.resolved_at
    met = resolved.notnull() & (resolved <= f.due_at)
    late = resolved.notnull() & (resolved > f.due_at)
    if as_of is not None:
        late = late | (resolved.isnull() & (f.due_at <= ibis.literal(as_of, type="timestamp")))
    f = f.mutate(sla_team=f.team.fill_null(NO_VALUE), is_met=met, is_late=late)
    agg = (
        f.group_by(["sla_period", "sla_team"])
        .aggregate(cases=f.count(), met=f.is_met.sum(), breached=f.is_late.sum())
        .to_pandas()
    )
    out: list[tuple[list[SlaRow], SlaRow]] = []
    for i in range(len(periods)):
        part = agg[agg["sla_period"] == i].sort_values("sla_team")
        rows = [
            _sla_row(
                str(r["sla_team"]),
                int(r["cases"]),
                int(_number(r["met"]) or 0),
                int(_number(r["breached"]) or 0),
            )
            for r in part.to_dict("records")
        ]
        total = _sla_row(
            total_word,
            sum(r.cases for r in rows),
            sum(r.met for r in rows),
            sum(r.breached for r in rows),
        )
        out.append((rows, total))
    return out


def _sla_row(team: str, cases: int, met: int, breached: int) -> SlaRow:
    ended = met + breached
    return SlaRow(
        team=team,
        cases=cases,
        met=met,
        breached=breached,
        open=cases - ended,
        attainment=met / ended if ended else None,
    )


# --- alerts -------------------------------------------------------------------------------------


def alerts_in(
    store: Store,
    period: Period,
    timezone: str,
    scope: Mapping[str, list[str]],
    lang: str,
    *,
    top: int = TOP_ALERTS,
) -> AlertSection:
    """Alerts that started in the period, inside the scope, counted and ranked."""
    from sqlalchemy import select

    from servq.monitor.alerts.tables import AlertRow

    lo, hi = period.utc_bounds(timezone)
    zone = ZoneInfo(timezone)
    query = (
        select(AlertRow)
        .where(AlertRow.starts_at >= lo, AlertRow.starts_at < hi)
        .order_by(AlertRow.starts_at, AlertRow.id)
    )
    items: list[AlertItem] = []
    with store.session() as session:
        for row in session.scalars(query):
            labels = {str(k): str(v) for k, v in (row.labels or {}).items()}
            if any(labels.get(key) not in values for key, values in scope.items()):
                continue
            primary, other = (
                (row.summary_zh, row.summary_en)
                if lang == "zh"
                else (row.summary_en, row.summary_zh)
            )
            items.append(
                AlertItem(
                    id=row.id,
                    rule=row.rule,
                    kind=row.kind,
                    severity=row.severity,
                    state=row.state,
                    labels=labels,
                    summary=primary or other or "",
                    starts_at=row.starts_at.replace(tzinfo=UTC).astimezone(zone),
                    count=int(row.count or 1),
                )
            )
    by_rule = Counter(a.rule for a in items)
    by_severity = Counter(a.severity for a in items)
    ranked = sorted(
        items,
        key=lambda a: (SEVERITY_ORDER.get(a.severity, 9), -a.count, a.starts_at, a.id),
    )
    return AlertSection(
        total=len(items),
        by_rule=sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0])),
        by_severity=sorted(
            by_severity.items(), key=lambda kv: (SEVERITY_ORDER.get(kv[0], 9), kv[0])
        ),
        top=ranked[:top],
    )


# --- issues -------------------------------------------------------------------------------------


def issues_in(
    ws: Workspace,
    period: Period,
    timezone: str,
    where: Mapping[str, list[str]],
    lang: str,
    *,
    top: int = TOP_ISSUES,
) -> list[Issue]:
    """The period's most frequent customer issues, one masked example each."""
    from servq.metrics.compute import filter_expr
    from servq.text.issues import top_issues
    from servq.text.pii import mask

    lo, hi = period.utc_bounds(timezone)
    t = ws.table("feedback")
    t = t.filter((t.submitted_at >= lo) & (t.submitted_at < hi) & t.text.notnull())
    cond = filter_expr(t, dict(where), {})
    if cond is not None:
        t = t.filter(cond)
    df = t.select("submitted_at", "text").to_pandas()
    if df.empty:
        return []
    # the warehouse keeps naive UTC; issues want aware times to place them in local weeks
    df["submitted_at"] = pd.to_datetime(df["submitted_at"]).dt.tz_localize("UTC")
    found = top_issues(df, text="text", time="submitted_at", top=top, tz=timezone, examples=1)
    out = []
    for r in found.to_dict("records"):
        shown = r["examples"]
        examples: list[str] = [str(e) for e in shown] if isinstance(shown, list | tuple) else []
        out.append(
            Issue(
                rank=int(r["rank"]),
                topic=str(r["topic"]),
                label=str(r["label_zh"] if lang == "zh" else r["label_en"]),
                count=int(r["count"]),
                texts=int(r["texts"]),
                share=float(r["share"]),
                example=mask(examples[0]) if examples else "",
            )
        )
    return out


# --- KPIs and movers ----------------------------------------------------------------------------


def _kpi(spec: MetricSpec, name: str, now: float | None, before: float | None) -> Kpi:
    change, pct = _change(before, now)
    return Kpi(
        metric=spec.id,
        name=name,
        unit=spec.unit,
        direction=spec.direction,
        value=now,
        previous=before,
        change=change,
        change_pct=pct,
        verdict=verdict(spec.direction, before, now),
    )


def _mover_score(unit: str, value: float, previous: float, reference: float | None) -> float | None:
    """How far a member moved: the change over the metric's size in the whole report (counts:
    over the member's own size, at least :data:`MIN_COUNT_SCALE`); None when it did not move."""
    change = abs(value - previous)
    if math.isclose(value, previous, abs_tol=1e-9):
        return None
    if unit in COUNT_UNITS:
        return change / max((abs(value) + abs(previous)) / 2, MIN_COUNT_SCALE)
    scale = reference if reference else (abs(value) + abs(previous)) / 2
    return change / scale if scale else None


def _movers(
    ws: Workspace,
    specs: Sequence[MetricSpec],
    period: Period,
    timezone: str,
    where: Mapping[str, list[str]],
    lang: str,
    references: Mapping[str, float | None],
) -> list[Mover]:
    catalogue = ws.catalogue
    moving = [
        s
        for s in specs
        if s.direction != "neutral" and s.kind == "aggregate" and s.source in SAMPLE_METRICS
    ]
    samples = [m for m in SAMPLE_METRICS.values() if m in catalogue]
    ids = list(dict.fromkeys([*samples, *(s.id for s in moving)]))
    if not moving:
        return []
    out: list[Mover] = []
    for dim in MOVER_DIMENSIONS:
        now = _metric_frame(ws, ids, period, timezone, where, by=dim)
        before = _metric_frame(ws, ids, period.previous, timezone, where, by=dim)
        both = now.merge(before, on=dim, how="inner", suffixes=("", "__prev"))
        found: list[Mover] = []
        for row in both.to_dict("records"):
            member = row[dim]
            if member is None or (isinstance(member, float) and math.isnan(member)):
                continue
            for spec in moving:
                sample_id = SAMPLE_METRICS[spec.source]
                if sample_id not in row:
                    continue
                n_now = _number(row.get(sample_id)) or 0
                n_before = _number(row.get(f"{sample_id}__prev")) or 0
                if min(n_now, n_before) < MIN_SAMPLE[spec.source]:
                    continue
                value = _number(row.get(spec.id))
                previous = _number(row.get(f"{spec.id}__prev"))
                if value is None or previous is None:
                    continue
                score = _mover_score(spec.unit, value, previous, references.get(spec.id))
                if score is None:
                    continue
                change, pct = _change(previous, value)
                found.append(
                    Mover(
                        dimension=dim,
                        member=str(member),
                        metric=spec.id,
                        name=spec.name_zh if lang == "zh" else spec.name_en,
                        unit=spec.unit,
                        direction=spec.direction,
                        value=value,
                        previous=previous,
                        change=change,
                        change_pct=pct,
                        verdict=verdict(spec.direction, previous, value),
                        sample=int(n_now),
                        score=score,
                    )
                )
        found.sort(key=lambda m: (-m.score, m.member, m.metric))
        out += found[:MOVERS_PER_DIMENSION]
    return out


def _title(period: Period, lang: str) -> str:
    key = {"week": "title_week", "month": "title_month", "quarter": "title_quarter"}.get(
        period.kind, "title"
    )
    return f"{word(key, lang)} {period.label}"


def build_report(
    ws: Workspace,
    store: Store | None,
    period: Period,
    *,
    lang: str = "zh",
    timezone: str = "Asia/Shanghai",
    scope: Mapping[str, list[str]] | None = None,
    generated_at: datetime | None = None,
) -> Report:
    """The report of ``period`` on the workspace's data (and the store's alerts, if given).

    ``lang`` (``zh`` or ``en``) picks the words; ``timezone`` places days and periods;
    ``scope`` (``{"team": [...], "site": [...]}``) filters every query; ``generated_at`` (the
    clock by default; naive = UTC) is the time the report says it was made.
    """
    if lang not in ("zh", "en"):
        raise ServqError(
            f"lang must be zh or en, not '{lang}' / 语言须为 zh 或 en，而不是 '{lang}'"
        )
    check_timezone(timezone)
    where = normalise_scope(scope)
    catalogue = ws.catalogue
    specs = [catalogue.get(m) for m in HEADLINE_METRICS if m in catalogue]
    previous = period.previous

    kpis: list[Kpi] = []
    if specs:
        ids = [s.id for s in specs]
        now = _first_row(_metric_frame(ws, ids, period, timezone, where))
        before = _first_row(_metric_frame(ws, ids, previous, timezone, where))
        for spec in specs:
            name = spec.name_zh if lang == "zh" else spec.name_en
            kpis.append(_kpi(spec, name, _number(now.get(spec.id)), _number(before.get(spec.id))))

    as_of = data_as_of(ws)
    total_word = word("total", lang)
    (sla, sla_total), (_, sla_before) = sla_by_team(
        ws, [period, previous], timezone, where, as_of, total_word=total_word
    )
    now_pct = None if sla_total.attainment is None else 100 * sla_total.attainment
    before_pct = None if sla_before.attainment is None else 100 * sla_before.attainment
    change, pct = _change(before_pct, now_pct)
    kpis.append(
        Kpi(
            metric="sla_attainment",
            name=word("sla_attainment", lang),
            unit="percent",
            direction="higher_is_better",
            value=now_pct,
            previous=before_pct,
            change=change,
            change_pct=pct,
            verdict=verdict("higher_is_better", before_pct, now_pct),
        )
    )

    references = {k.metric: (abs(k.value or 0) + abs(k.previous or 0)) / 2 or None for k in kpis}
    movers = _movers(ws, specs, period, timezone, where, lang, references)
    alerts = None if store is None else alerts_in(store, period, timezone, where, lang)
    issues = issues_in(ws, period, timezone, where, lang)
    made = generated_at or datetime.now(UTC)
    made = made.replace(tzinfo=UTC) if made.tzinfo is None else made
    generated = made.astimezone(ZoneInfo(timezone))
    return Report(
        title=_title(period, lang),
        lang=lang,
        timezone=timezone,
        period=period,
        previous=previous,
        scope=where,
        generated_at=generated,
        kpis=kpis,
        movers=movers,
        sla=sla,
        sla_total=sla_total,
        alerts=alerts,
        issues=issues,
        as_of=as_of,
    )
