"""The questions the dashboard and the HTTP API ask of the warehouse.

Owns: the overview (KPI cards against targets, with change and trend), metric computation on
behalf of a user (their scope merged into the filters), the SLA board, the case list and the
row-level export behind a metric, and the voice-of-the-customer summary. Every function takes an
open :class:`~servq.workspace.Workspace` and a *scope*, the ``{column: [values]}`` a user may
see (``{}``: everything; see ``servq.auth.Principal.scope``), and returns plain JSON-ready data
or a DataFrame.

Times: the warehouse keeps naive UTC. The dashboard shows local time in the dashboard's zone
(``dashboard.yaml``; Asia/Shanghai by default). "Now" is the data's *as-of* instant: the present,
or the latest time in the warehouse when the data stops earlier (a demo or an archive), so a
board of old data is not all red.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from servq.errors import ServqError
from servq.metrics.model import MetricSpec
from servq.warehouse.store import utcnow
from servq.workspace import Workspace

OPEN_STATUSES = ("new", "open", "pending", "on_hold")
PAUSED_STATUSES = ("pending", "on_hold")
GRAINS = ("hour", "day", "week", "month", "quarter", "year")
MAX_ROWS = 1_000_000


class AccessDenied(ServqError):
    """The user's scope does not allow what was asked (HTTP 403)."""


@dataclass(frozen=True)
class Card:
    metric: str
    target: float | None = None
    warn: float | None = None


@dataclass(frozen=True)
class Dashboard:
    timezone: str
    cards: tuple[Card, ...]


def load_dashboard(workspace: Path | str) -> Dashboard:
    """The workspace's ``dashboard.yaml``, else the built-in one."""
    import yaml

    own = Path(workspace) / "dashboard.yaml"
    if own.exists():
        text = own.read_text(encoding="utf-8")
    else:
        text = resources.files("servq.web").joinpath("dashboard.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    cards = []
    for raw in data.get("cards") or []:
        if not isinstance(raw, dict) or "metric" not in raw:
            raise ServqError(f"{own}: every card needs a metric / 每张卡片都要指定 metric")
        cards.append(
            Card(
                metric=str(raw["metric"]),
                target=None if raw.get("target") is None else float(raw["target"]),
                warn=None if raw.get("warn") is None else float(raw["warn"]),
            )
        )
    return Dashboard(timezone=str(data.get("timezone") or "Asia/Shanghai"), cards=tuple(cards))


# -- scope ----------------------------------------------------------------------------------
def merge_scope(
    where: Mapping[str, Any] | None, scope: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """The user's filters narrowed to their scope. Asking for values outside it is denied, as
    is an operator filter (``ne``, ``not_in``…) on a scoped column, which could widen it."""
    out = dict(where or {})
    for column, allowed in scope.items():
        allowed_list = [str(v) for v in allowed]
        if column not in out:
            out[column] = allowed_list
            continue
        asked = out[column]
        if isinstance(asked, dict):
            raise AccessDenied(
                f"filter {column} by value only / "
                f"只能按取值筛选 {column}（{', '.join(allowed_list)}）"
            )
        values = [str(v) for v in (asked if isinstance(asked, list | tuple) else [asked])]
        outside = [v for v in values if v not in allowed_list]
        if outside:
            raise AccessDenied(
                f"{column} {', '.join(outside)} is outside what you may see / "
                f"无权查看 {column} {', '.join(outside)}"
            )
        out[column] = values
    return out


def check_scope_columns(ws: Workspace, metrics: Sequence[str], scope: Mapping[str, Any]) -> None:
    """A scoped user may only compute metrics whose facts carry the scoped columns."""
    if not scope:
        return
    from servq.metrics.catalogue_registry import fact_columns

    columns = fact_columns()
    for metric in metrics:
        spec = ws.catalogue.get(metric)
        sources = {spec.source, *(spec.measure_source(n) for n in spec.measures)}
        for source in sources:
            missing = [c for c in scope if c not in columns.get(source, set())]
            if missing:
                raise AccessDenied(
                    f"{metric} is not kept per {', '.join(missing)}, so it cannot be limited to "
                    f"your scope / 指标 {metric} 无法按 {', '.join(missing)} 限定到您的权限范围"
                )


# -- time -----------------------------------------------------------------------------------
def as_of(ws: Workspace) -> datetime:
    """Naive UTC "now" for the data: the present, or the latest time the warehouse knows."""
    con = ws.warehouse.con
    latest = con.execute(
        'SELECT greatest(max(created_at), max(updated_at), max(resolved_at)) FROM "case"'
    ).fetchall()[0][0]
    for sql in (
        "SELECT max(submitted_at) FROM feedback",
        "SELECT max(arrived_at) FROM interaction",
    ):
        other = con.execute(sql).fetchall()[0][0]
        if other is not None and (latest is None or other > latest):
            latest = other
    now = utcnow()
    if latest is None or latest > now:
        return now
    found: datetime = latest.replace(tzinfo=None) if latest.tzinfo else latest
    return found


def local(ts: datetime | None, tz: str) -> str | None:
    """A naive UTC time as local ISO text with its offset."""
    if ts is None or (isinstance(ts, float) and math.isnan(ts)) or pd.isna(ts):
        return None
    return pd.Timestamp(ts).tz_localize("UTC").tz_convert(tz).isoformat(timespec="minutes")


def period_start(day: date, grain: str) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    if grain == "year":
        return day.replace(month=1, day=1)
    return day


def shift(start: date, grain: str, n: int) -> date:
    """The period start ``n`` periods after ``start`` (negative: before)."""
    if grain == "week":
        return start + timedelta(weeks=n)
    if grain == "day":
        return start + timedelta(days=n)
    months = {"month": 1, "quarter": 3, "year": 12}[grain] * n
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def complete_periods(until: date, grain: str, n: int) -> list[tuple[date, date]]:
    """The ``n`` latest periods that end on or before ``until`` (each ``(first, last)`` day)."""
    if grain not in ("day", "week", "month", "quarter", "year"):
        raise ServqError(f"grain {grain}: use day, week, month, quarter or year")
    nxt = shift(period_start(until, grain), grain, 1)
    end = nxt if nxt - timedelta(days=1) <= until else period_start(until, grain)
    out = []
    for i in range(n, 0, -1):
        first = shift(end, grain, -i)
        out.append((first, shift(first, grain, 1) - timedelta(days=1)))
    return out


# -- metrics --------------------------------------------------------------------------------
def metric_info(spec: MetricSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name_en": spec.name_en,
        "name_zh": spec.name_zh,
        "definition_en": spec.definition_en,
        "definition_zh": spec.definition_zh,
        "unit": spec.unit,
        "direction": spec.direction,
        "source": spec.source,
        "kind": spec.kind,
    }


def catalogue(ws: Workspace) -> list[dict[str, Any]]:
    from servq.metrics.catalogue_registry import fact_columns

    columns = fact_columns()
    out = []
    for entry in ws.catalogue.entries():
        info = metric_info(entry.spec)
        info["origin"] = entry.origin
        info["dimensions"] = sorted(
            c for c in columns.get(entry.spec.source, set()) if c in DIMENSIONS
        )
        out.append(info)
    return out


DIMENSIONS = frozenset(
    {
        "team",
        "agent",
        "site",
        "region",
        "channel",
        "category",
        "subcategory",
        "priority",
        "status",
        "kind",
        "queue",
        "survey",
        "direction",
        "scenario",
        "source_system",
    }
)


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, pd.Timestamp | datetime):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):
        return _clean(value.item())
    if pd.isna(value):
        return None
    return value


def frame_json(df: pd.DataFrame) -> dict[str, Any]:
    """``{"columns": [...], "rows": [[...], ...]}`` with NaN as null and times as text."""
    cols = [str(c) for c in df.columns]
    rows = [[_clean(v) for v in row] for row in df.itertuples(index=False, name=None)]
    return {"columns": cols, "rows": rows}


def compute(
    ws: Workspace,
    scope: Mapping[str, Sequence[str]],
    metrics: Sequence[str],
    *,
    by: Sequence[str] = (),
    grain: str | None = None,
    start: str | None = None,
    end: str | None = None,
    where: Mapping[str, Any] | None = None,
    calendar: str | None = None,
    timezone: str | None = None,
) -> pd.DataFrame:
    if not metrics:
        raise ServqError("name at least one metric / 请至少选择一个指标")
    for m in metrics:
        if m not in ws.catalogue:
            raise ServqError(f"unknown metric {m!r} / 未知指标 {m!r}")
    if grain is not None and grain not in GRAINS:
        raise ServqError(f"grain {grain!r}: use {', '.join(GRAINS)} / 时间粒度无效")
    check_scope_columns(ws, metrics, scope)
    merged = merge_scope(where, scope)
    return ws.metrics(
        list(metrics),
        by=list(by),
        grain=grain,  # type: ignore[arg-type]
        start=start,
        end=end,
        where=merged or None,
        calendar=calendar,
        timezone=timezone,
    )


def _judge(spec: MetricSpec, value: float | None, card: Card) -> str | None:
    if value is None or card.target is None:
        return None
    lower = spec.direction == "lower_is_better"
    good = value <= card.target if lower else value >= card.target
    if good:
        return "ok"
    if card.warn is not None and (value <= card.warn if lower else value >= card.warn):
        return "warn"
    return "bad"


def overview(
    ws: Workspace,
    scope: Mapping[str, Sequence[str]],
    dashboard: Dashboard,
    *,
    grain: str = "week",
    periods: int = 12,
    at: datetime | None = None,
) -> dict[str, Any]:
    """KPI cards: the latest complete period against the one before and the target, with the
    trend over ``periods`` periods. Cards a scoped user cannot see are left out."""
    tz = dashboard.timezone
    now = at or as_of(ws)
    today = pd.Timestamp(now).tz_localize("UTC").tz_convert(tz).date()
    spans = complete_periods(today, grain, periods)
    cards = []
    for card in dashboard.cards:
        if card.metric not in ws.catalogue:
            continue
        try:
            check_scope_columns(ws, [card.metric], scope)
        except AccessDenied:
            continue
        cards.append(card)
    values: dict[str, dict[date, float | None]] = {c.metric: {} for c in cards}
    if cards:
        df = ws.metrics(
            [c.metric for c in cards],
            grain=grain,  # type: ignore[arg-type]
            start=spans[0][0],
            end=spans[-1][1],
            where=merge_scope(None, scope) or None,
            timezone=tz,
        )
        for row in df.to_dict("records"):
            day = pd.Timestamp(row["period"]).date()
            for c in cards:
                values[c.metric][day] = _clean(row.get(c.metric))
    out_cards = []
    for card in cards:
        spec = ws.catalogue.get(card.metric)
        trend = [values[card.metric].get(first) for first, _ in spans]
        value, previous = trend[-1], trend[-2] if len(trend) > 1 else None
        change = None if value is None or previous is None else value - previous
        pct = None if change is None or not previous else 100.0 * change / abs(previous)
        better = None
        if change is not None and spec.direction != "neutral" and change != 0:
            better = (change < 0) == (spec.direction == "lower_is_better")
        out_cards.append(
            {
                **metric_info(spec),
                "value": value,
                "previous": previous,
                "change": change,
                "change_pct": pct,
                "better": better,
                "target": card.target,
                "warn": card.warn,
                "status": _judge(spec, value, card),
                "trend": trend,
            }
        )
    return {
        "as_of": local(now, tz),
        "timezone": tz,
        "grain": grain,
        "periods": [[a.isoformat(), b.isoformat()] for a, b in spans],
        "current": [spans[-1][0].isoformat(), spans[-1][1].isoformat()],
        "cards": out_cards,
    }


# -- cases ----------------------------------------------------------------------------------
CASE_COLUMNS = (
    "case_id",
    "kind",
    "channel",
    "category",
    "priority",
    "status",
    "team",
    "agent",
    "site",
    "subject",
    "created_at",
    "first_reply_at",
    "resolved_at",
    "due_at",
)
CASE_FILTERS = ("team", "agent", "site", "status", "priority", "channel", "category", "kind")


def _sql_filters(
    filters: Mapping[str, Any], scope: Mapping[str, Sequence[str]], allowed: Sequence[str]
) -> tuple[list[str], list[Any]]:
    merged = merge_scope({k: v for k, v in filters.items() if v not in (None, "", [])}, scope)
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in merged.items():
        if column not in allowed:
            raise ServqError(f"cannot filter on {column!r} / 不能按 {column!r} 筛选")
        values = value if isinstance(value, list | tuple) else [value]
        if not values:
            clauses.append("FALSE")
            continue
        clauses.append(f'"{column}" IN ({", ".join("?" for _ in values)})')
        params.extend(str(v) for v in values)
    return clauses, params


def cases(
    ws: Workspace,
    scope: Mapping[str, Sequence[str]],
    filters: Mapping[str, Any],
    *,
    start: str | None = None,
    end: str | None = None,
    search: str | None = None,
    timezone: str = "Asia/Shanghai",
    limit: int = 100,
    offset: int = 0,
    columns: Sequence[str] = CASE_COLUMNS,
) -> tuple[pd.DataFrame, int]:
    """Cases matching the filters (created between ``start`` and ``end``, local dates, both
    inclusive), newest first, and how many match in all."""
    clauses, params = _sql_filters(filters, scope, CASE_FILTERS)
    clauses, params = _time_clauses("created_at", start, end, timezone, clauses, params)
    if search:
        clauses.append("(subject ILIKE ? OR case_id ILIKE ?)")
        params += [f"%{search}%", f"%{search}%"]
    where = " AND ".join(clauses) or "TRUE"
    con = ws.warehouse.con
    total = int(con.execute(f'SELECT count(*) FROM "case" WHERE {where}', params).fetchall()[0][0])
    select = ", ".join(f'"{c}"' for c in columns)
    df = con.execute(
        f'SELECT {select} FROM "case" WHERE {where} '
        "ORDER BY created_at DESC, case_id LIMIT ? OFFSET ?",
        [*params, max(0, min(limit, MAX_ROWS)), max(0, offset)],
    ).df()
    return df, total


def utc_day_bounds(
    start: str | None, end: str | None, tz: str
) -> tuple[datetime | None, datetime | None]:
    """Local days ``start`` .. ``end`` (YYYY-MM-DD, both inclusive, either may be missing) as
    naive UTC instants ``[lo, hi)``: local midnight of ``start``, local midnight after ``end``."""
    zone = ZoneInfo(tz)
    out: list[datetime | None] = []
    for text, extra in ((start, 0), (end, 1)):
        if not text:
            out.append(None)
            continue
        try:
            day = date.fromisoformat(str(text)[:10])
        except ValueError:
            raise ServqError(
                f"{text!r} is not a date (YYYY-MM-DD) / 日期格式应为 YYYY-MM-DD"
            ) from None
        instant = datetime.combine(day + timedelta(days=extra), datetime.min.time(), zone)
        out.append(instant.astimezone(UTC).replace(tzinfo=None))
    return out[0], out[1]


def _time_clauses(
    column: str,
    start: str | None,
    end: str | None,
    tz: str,
    clauses: list[str],
    params: list[Any],
) -> tuple[list[str], list[Any]]:
    lo, hi = utc_day_bounds(start, end, tz)
    for bound, op in ((lo, ">="), (hi, "<")):
        if bound is not None:
            clauses.append(f'"{column}" {op} ?')
            params.append(bound)
    return clauses, params


def metric_rows(
    ws: Workspace,
    scope: Mapping[str, Sequence[str]],
    metric: str,
    *,
    start: str | None = None,
    end: str | None = None,
    where: Mapping[str, Any] | None = None,
    timezone: str = "Asia/Shanghai",
    limit: int = MAX_ROWS,
) -> pd.DataFrame:
    """The rows behind a metric: its facts under its own filter, the user's filters and scope,
    with the metric's time column between ``start`` and ``end`` (local dates, inclusive). For
    a one-measure metric, only the rows the measure takes in (its filter; a value present)."""
    from servq.metrics.compute import filter_expr, metric_facts

    if metric not in ws.catalogue:
        raise ServqError(f"unknown metric {metric!r} / 未知指标 {metric!r}")
    check_scope_columns(ws, [metric], scope)
    spec = ws.catalogue.get(metric)
    lo, hi = utc_day_bounds(start, end, timezone)
    t = metric_facts(ws.warehouse, spec, merge_scope(where, scope), lo, hi)
    if len(spec.measures) == 1:
        # one measure: exactly the rows it counts or averages (a mean skips rows with no value)
        (measure,) = spec.measures.values()
        cond = filter_expr(t, measure.filter, spec.params) if measure.filter else None
        if cond is not None:
            t = t.filter(cond)
        if measure.column is not None and measure.agg != "count":
            t = t.filter(t[measure.column].notnull())
    t = t.order_by(t[spec.time]).limit(limit)
    df: pd.DataFrame = t.to_pandas()
    return df


# -- SLA board ------------------------------------------------------------------------------
def sla_board(
    ws: Workspace,
    scope: Mapping[str, Sequence[str]],
    *,
    timezone: str = "Asia/Shanghai",
    risk_hours: float = 4.0,
    at: datetime | None = None,
    limit: int = 500,
) -> dict[str, Any]:
    """Open cases with a due time, by time left: breached, at risk (due within ``risk_hours``),
    on track; paused ones (pending, on hold) apart, since their clock stands still."""
    now = at or as_of(ws)
    clauses, params = _sql_filters({}, scope, CASE_FILTERS)
    clauses.append(f"status IN ({', '.join('?' for _ in OPEN_STATUSES)})")
    params += list(OPEN_STATUSES)
    clauses += ["resolved_at IS NULL", "due_at IS NOT NULL", "created_at <= ?"]
    params.append(now)
    where = " AND ".join(clauses)
    df = ws.warehouse.con.execute(
        "SELECT case_id, subject, team, agent, site, priority, status, created_at, due_at "
        f'FROM "case" WHERE {where} ORDER BY due_at',
        params,
    ).df()
    left = (pd.to_datetime(df["due_at"]) - pd.Timestamp(now)).dt.total_seconds()
    paused = df["status"].isin(PAUSED_STATUSES)
    state = pd.Series("on_track", index=df.index)
    state[left <= risk_hours * 3600] = "at_risk"
    state[left < 0] = "breached"
    state[paused] = "paused"
    df["seconds_left"] = left
    df["state"] = state
    counts = {k: int((state == k).sum()) for k in ("breached", "at_risk", "on_track", "paused")}
    counts["open"] = len(df)
    order = {"breached": 0, "at_risk": 1, "on_track": 2, "paused": 3}
    shown = (
        df.assign(_o=state.map(order))
        .sort_values(["_o", "seconds_left"])
        .drop(columns="_o")
        .head(limit)
        .copy()
    )
    for col in ("created_at", "due_at"):
        shown[col] = [local(v, timezone) for v in shown[col]]
    by_team = (
        pd.DataFrame({"team": df["team"], "state": df["state"]})
        .value_counts()
        .unstack(fill_value=0)
        .reset_index()
    )
    return {
        "as_of": local(now, timezone),
        "risk_hours": risk_hours,
        "counts": counts,
        "by_team": frame_json(by_team) if not by_team.empty else {"columns": [], "rows": []},
        "cases": frame_json(shown),
    }


# -- voice of the customer ------------------------------------------------------------------
def voc(
    ws: Workspace,
    scope: Mapping[str, Sequence[str]],
    *,
    start: str | None = None,
    end: str | None = None,
    timezone: str = "Asia/Shanghai",
    top: int = 8,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Sentiment trend by week, the top issues with example texts, and risk hits."""
    from servq.text.issues import top_issues

    now = at or as_of(ws)
    if not end:
        end = pd.Timestamp(now).tz_localize("UTC").tz_convert(timezone).date().isoformat()
    if not start:
        start = (date.fromisoformat(end) - timedelta(weeks=12)).isoformat()
    trend = compute(
        ws,
        scope,
        ["feedback_count", "sentiment_score", "negative_share", "csat"],
        grain="week",
        start=start,
        end=end,
        timezone=timezone,
    )
    clauses, params = _sql_filters({}, scope, ("team", "agent", "site", "channel", "survey"))
    clauses, params = _time_clauses("submitted_at", start, end, timezone, clauses, params)
    where = " AND ".join(clauses) or "TRUE"
    feedback = ws.warehouse.con.execute(f"SELECT * FROM feedback WHERE {where}", params).df()
    issues: list[dict[str, Any]] = []
    risks: dict[str, Any] = {"columns": [], "rows": []}
    if not feedback.empty and feedback["text"].notna().any():
        found = top_issues(feedback, top=top, tz=timezone, negative_only=False)
        keep = [c for c in found.columns if c not in ("trend", "phrases")]
        for row in found[keep].to_dict("records"):
            issues.append({str(k): _jsonable(v) for k, v in row.items()})
        hits = feedback[
            feedback["risk_categories"].notna() & (feedback["risk_categories"].astype(str) != "[]")
        ]
        hits = hits.sort_values("submitted_at", ascending=False).head(50)
        view = hits[["submitted_at", "team", "agent", "risk_categories", "urgency", "text"]].copy()
        view["submitted_at"] = [local(v, timezone) for v in view["submitted_at"]]
        risks = frame_json(view)
    return {
        "as_of": local(now, timezone),
        "start": start,
        "end": end,
        "trend": frame_json(trend),
        "issues": issues,
        "risks": risks,
        "feedback": len(feedback),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return _clean(value)
