"""Compute catalogue metrics by any dimensions and time grain, in the warehouse engine.

Owns: turning metric definitions into one Ibis aggregation per fact source, with filters,
periods in a chosen time zone, business-time durations through the clock grid, and formulas
evaluated in the engine (division by zero gives null, never an error). The result is a pandas
DataFrame: the dimensions, ``period`` when a grain is given, then one column per metric and one
per extra statistic (``first_reply_time_p90``).

Sliding windows (``Request.windows``) serve monitoring: instead of calendar periods, any number
of ``[window_start, window_end)`` UTC intervals, overlapping or not, computed in one query (a
range join of the facts with the windows); the result is keyed by ``window_start`` and
``window_end``. A window sees what was known when it closed: a case duration whose end
(``first_reply_at``, ``resolved_at``…) comes after the window's end is left out, so a rule
evaluated live and the same rule replayed over history see the same numbers.

A metric whose measures read several fact sources (occupancy: calls over the roster) is
computed per scope key and local day (hour, at an hour grain), then added up; see
``MetricEngine._compute_scoped``. It has no sliding-window form.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir
import pandas as pd

from servq.calendar import load_calendar
from servq.errors import ServqError
from servq.metrics import factcache
from servq.metrics.catalogue_registry import Catalogue
from servq.metrics.clockgrid import business_seconds, clock_grid, with_local_time
from servq.metrics.facts import (
    COSTLY_CASE_COLUMNS,
    DURATIONS,
    FACTS,
    REPEAT_DAYS,
    SOURCE_TABLES,
    SPANS,
    Span,
)
from servq.metrics.model import Measure, MetricSpec
from servq.warehouse.store import Warehouse

Grain = Literal["hour", "day", "week", "month", "quarter", "year"]
GRAIN_PERIODS = {
    "hour": "h",
    "day": "D",
    "week": "W-SUN",
    "month": "M",
    "quarter": "Q",
    "year": "Y",
}
GRAIN_UNITS = {"hour": "h", "day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}
WINDOW_KEYS = ("window_start", "window_end")
QUANTILES = {"median": 0.5, "p50": 0.5, "p90": 0.9, "p95": 0.95}


@dataclass(frozen=True)
class Request:
    """What to compute. ``start``/``end`` bound the metric's time column: dates are local days
    (``end`` inclusive), datetimes are instants (``end`` exclusive). ``windows`` (naive UTC
    ``(start, end)`` pairs, end exclusive) replaces calendar periods with sliding windows; it
    cannot be combined with ``grain`` and applies to aggregate metrics only."""

    metrics: tuple[str, ...]
    by: tuple[str, ...] = ()
    grain: Grain | None = None
    start: date | datetime | None = None
    end: date | datetime | None = None  # exclusive for datetimes; a date means "through that day"
    where: Mapping[str, Any] | None = None
    calendar: str | None = None
    timezone: str | None = None
    params: Mapping[str, float] | None = None
    windows: tuple[tuple[datetime, datetime], ...] | None = None

    def keys(self) -> list[str]:
        """The columns that identify a result row: dimensions, then period or window."""
        return [
            *self.by,
            *(["period"] if self.grain else []),
            *(WINDOW_KEYS if self.windows is not None else ()),
        ]


def _literal(value: Any, params: Mapping[str, float]) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        name = value[1:]
        if name not in params:
            raise ServqError(f"unknown parameter {value}")
        return params[name]
    return value


def filter_expr(
    t: ir.Table, flt: Mapping[str, Any], params: Mapping[str, float]
) -> ir.BooleanValue | None:
    """The conjunction of a filter mapping: {col: value | [values] | {op: value}}."""
    parts: list[ir.BooleanValue] = []
    for col, cond in flt.items():
        if col not in t.columns:
            raise ServqError(f"no column '{col}' to filter on; columns: {', '.join(t.columns)}")
        c = t[col]
        if isinstance(cond, dict):
            for op, raw in cond.items():
                v = _literal(raw, params)
                if op == "eq":
                    parts.append(c == v)
                elif op == "ne":
                    parts.append(c != v)
                elif op == "in":
                    parts.append(c.isin(list(v)))
                elif op == "not_in":
                    parts.append(~c.isin(list(v)))
                elif op == "gt":
                    parts.append(c > v)
                elif op == "gte":
                    parts.append(c >= v)
                elif op == "lt":
                    parts.append(c < v)
                elif op == "lte":
                    parts.append(c <= v)
                elif op == "not_null":
                    parts.append(c.notnull() if v else c.isnull())
                elif op == "is_null":
                    parts.append(c.isnull() if v else c.notnull())
                else:
                    raise ServqError(f"unknown filter operator '{op}'")
        elif isinstance(cond, list | tuple):
            parts.append(c.isin([_literal(v, params) for v in cond]))
        else:
            parts.append(c == _literal(cond, params))
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = out & p
    return out


_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
}


def eval_formula(formula: str, names: Mapping[str, Any]) -> Any:
    """Evaluate arithmetic over Ibis columns; a division by zero gives null on every engine."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return ibis.literal(float(node.value))
        if isinstance(node, ast.Name):
            v = names[node.id]
            return ibis.literal(float(v)) if isinstance(v, int | float) else v.cast("float64")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp):
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Div):
                return left / right.nullif(0)
            return _OPS[type(node.op)](left, right)
        raise ServqError(f"unsupported formula element {type(node).__name__}")

    return ev(ast.parse(formula, mode="eval"))


def _agg(t: ir.Table, m: Measure, where: ir.BooleanValue | None, value: ir.Column | None) -> Any:
    if m.agg == "count":
        return t.count(where=where) if where is not None else t.count()
    assert value is not None
    if m.agg == "sum":
        return value.sum(where=where)
    if m.agg == "mean":
        return value.mean(where=where)
    if m.agg in QUANTILES:
        return value.quantile(QUANTILES[m.agg], where=where)
    if m.agg == "min":
        return value.min(where=where)
    if m.agg == "max":
        return value.max(where=where)
    if m.agg == "count_distinct":
        return value.nunique(where=where)
    raise ServqError(f"unknown aggregate {m.agg}")


class MetricEngine:
    """Computes metrics over one warehouse (DuckDB, or any Ibis backend holding the same tables)."""

    def __init__(self, wh: Warehouse, catalogue: Catalogue) -> None:
        self.wh = wh
        self.catalogue = catalogue

    # -- periods and clocks ---------------------------------------------------------------------
    def _source_span(
        self, source: str, fp: tuple[Any, ...] | None = None
    ) -> tuple[datetime, datetime] | None:
        """Earliest and latest instant in a source's tables: the span a clock must cover.
        With the data's fingerprint ``fp``, remembered for as long as the data stays the same."""
        if fp is not None:
            reg = factcache.registry(self.wh)
            if reg.spans_of != fp:
                reg.spans, reg.spans_of = {}, fp
            if source not in reg.spans:
                reg.spans[source] = self._source_span(source)
            span: tuple[datetime, datetime] | None = reg.spans[source]
            return span
        from servq.warehouse.schema import TABLES

        tables = SOURCE_TABLES.get(source, (source,))
        lows, highs = [], []
        for name in tables:
            t = self.wh.table(name)
            cols = [c.name for c in TABLES[name].columns if c.type == "timestamp"]
            aggs = {}
            for c in cols:
                aggs[f"lo_{c}"] = t[c].min()
                aggs[f"hi_{c}"] = t[c].max()
            row = t.aggregate(**aggs).to_pandas().iloc[0]
            lows += [row[f"lo_{c}"] for c in cols if pd.notna(row[f"lo_{c}"])]
            highs += [row[f"hi_{c}"] for c in cols if pd.notna(row[f"hi_{c}"])]
        if not lows:
            return None
        return pd.Timestamp(min(lows)).to_pydatetime(), pd.Timestamp(max(highs)).to_pydatetime()

    def _grid(self, calendar: Any, span: tuple[datetime, datetime]) -> ir.Table:
        from servq.calendar import BusinessClock

        clock = BusinessClock(calendar, span[0], span[1], folders=self._calendar_folders())
        return ibis.memtable(clock_grid(clock))

    def _calendar_folders(self) -> list[Any]:
        from pathlib import Path

        return [Path(self.wh.path).parent / "calendars"] if self.wh.path != ":memory:" else []

    # -- computing ------------------------------------------------------------------------------
    def refresh_facts(self, calendar: str | None = None) -> dict[str, Any]:
        """Build the case facts for this data and clock now (calendar time, or business time on
        ``calendar``), unless current ones are kept; return what is kept and how long it took.
        On a writable warehouse they are kept in the file for every later query and process."""
        import time

        reg = factcache.registry(self.wh) if factcache.cacheable(self.wh) else None
        builds = reg.builds if reg else 0
        t = time.perf_counter()
        # a metric that reads the event log, in business time when a calendar is given
        spec = self.catalogue.get("full_resolution_time")
        req = Request(metrics=(spec.id,), calendar=calendar)
        self._facts("case", [spec], req, dict(spec.params), keep=True)
        return {
            "calendar": calendar,
            "built": bool(reg and reg.builds > builds),
            "seconds": round(time.perf_counter() - t, 3),
            "kept": factcache.kept(self.wh) if reg else [],
        }

    def compute(self, req: Request) -> pd.DataFrame:
        specs = [self.catalogue.get(m) for m in req.metrics]
        if req.windows is not None:
            _check_windowed(specs, req)
        by_source: dict[str, list[MetricSpec]] = {}
        for s in specs:
            if s.scope is None:
                by_source.setdefault(s.source, []).append(s)
        frames = []
        for source, group in by_source.items():
            frames.append(self._compute_source(source, group, req))
        frames += [self._compute_scoped(s, req) for s in specs if s.scope is not None]
        keys = req.keys()
        out = frames[0]
        for f in frames[1:]:
            out = out.merge(f, on=keys, how="outer") if keys else pd.concat([out, f], axis=1)
        if keys:
            out = out.sort_values(keys, kind="stable").reset_index(drop=True)
        return out

    def _facts(
        self,
        source: str,
        specs: list[MetricSpec],
        req: Request,
        params: Mapping[str, float],
        *,
        keep: bool = False,
    ) -> tuple[ir.Table, ir.Table | None, str | None] | None:
        """The fact rows the metrics of one source read, the clock grid their periods and
        business durations need (None: none needed) and the zone of periods; None when the
        source holds no data for a clock. Case facts that read the event log come from the fact
        cache (built into the warehouse file with ``keep``)."""
        kwargs = _fact_kwargs(source, params)
        zone = self._zone(req)
        business = bool(req.calendar) and any(s.business_time for s in specs)
        needed = _needed_columns(specs, req) if source == "case" else None
        # facts that read the event log are built once per data version and clock, then reused
        fp = None
        if needed is not None and needed & COSTLY_CASE_COLUMNS and factcache.cacheable(self.wh):
            fp = factcache.fingerprint(self.wh)
        grid = None
        if business or (zone not in (None, "UTC") and req.grain is not None):
            span = self._source_span(source, fp)
            if span is None:
                return None
            grid = self._grid(req.calendar if business else _zone_calendar(zone or "UTC"), span)
        if business and grid is not None and source == "case":
            kwargs["seconds"] = business_seconds(grid)
        if fp is None:
            if needed is not None:
                kwargs["needed"] = needed
            return FACTS[source](self.wh, **kwargs), grid, zone
        digest = ""  # business-time facts are kept per calendar definition
        if business and req.calendar:
            digest = factcache.calendar_digest(
                load_calendar(req.calendar, self._calendar_folders())
            )
        t = factcache.cached_facts(
            self.wh,
            _fact_options(source, kwargs),
            lambda: FACTS[source](self.wh, **kwargs),
            digest,
            fp,
            keep=keep,
            clock=req.calendar or "" if business else "",
            build_for=lambda only: FACTS[source](self.wh, **kwargs, only=only),
        )
        return t, grid, zone

    def _compute_source(self, source: str, specs: list[MetricSpec], req: Request) -> pd.DataFrame:
        params: dict[str, float] = {}
        for s in specs:
            params.update(s.params)
        params.update(req.params or {})
        found = self._facts(source, specs, req, params)
        if found is None:
            return self._empty(specs, req)
        t, grid, zone = found
        for d in req.by:
            if d not in t.columns:
                raise ServqError(
                    f"cannot slice {source} metrics by '{d}'; dimensions: {', '.join(t.columns)}"
                )
        if req.where:
            cond = filter_expr(t, req.where, params)
            if cond is not None:
                t = t.filter(cond)
        results = []
        aggregates = [s for s in specs if s.kind == "aggregate"]
        for time_col, same_time in _group(aggregates, lambda s: s.time).items():
            results.append(self._aggregate(t, same_time, time_col, req, params, zone, grid))
        for s in specs:
            if s.kind == "snapshot":
                results.append(self._snapshot(t, s, req, params, zone, grid))
        keys = req.keys()
        out = results[0]
        for r in results[1:]:
            out = out.merge(r, on=keys, how="outer") if keys else pd.concat([out, r], axis=1)
        return out

    def _zone(self, req: Request) -> str | None:
        """The zone periods and dates are in: the request's, else its calendar's, else UTC."""
        zone = req.timezone
        if req.calendar:
            zone = zone or load_calendar(req.calendar, self._calendar_folders()).timezone
        return zone

    # -- metrics across sources -----------------------------------------------------------------
    def _compute_scoped(self, spec: MetricSpec, req: Request) -> pd.DataFrame:
        """A metric whose measures read several fact sources, defined where its scope is.

        1. Every source's rows are placed in local days, or hours at an hour grain ("buckets"):
           a point source by its time column, a span source (a roster shift) cut at the
           buckets' boundaries, each piece counting its own seconds. Rows with no scope key
           (a shift or call without an agent) are left out.
        2. Each source's measures are summed per scope key and bucket; the scope measure's
           source also per requested dimension, which is where every dimension comes from
           (an agent's team is the roster's).
        3. The other sources' sums join the scope rows on key and bucket. Only keys and buckets
           where the scope measure is above zero are kept: calls of an agent on a day without a
           shift are left out. Where one key and bucket has scope rows in several groups of the
           requested dimensions (an agent in two teams on one day), the other sums are shared
           out in proportion to the scope measure.
        4. The sums are added up per requested dimension and period, and the formula applied:
           no scope rows give no value (null), never 0.

        ``where`` filters on a column of the scope measure's source apply to that source (its
        rows decide which keys count); other columns filter the sources that have them.
        """
        assert spec.scope is not None
        params = {**spec.params, **(req.params or {})}
        zone = self._zone(req)
        unit = "h" if req.grain == "hour" else "D"
        per = list(spec.scope.per)
        scope_src = spec.measure_source(spec.scope.measure)
        sources = spec.sources()
        facts = {src: FACTS[src](self.wh, **_fact_kwargs(src, params)) for src in sources}
        for d in req.by:
            if d not in facts[scope_src].columns:
                raise ServqError(
                    f"cannot slice {spec.id} by '{d}'; dimensions: "
                    f"{', '.join(facts[scope_src].columns)}"
                )
        where = _split_where(req.where or {}, facts, scope_src, params)
        sums: dict[str, ir.Table] = {}
        for src, names in sources.items():
            t = facts[src]
            if src in where:
                t = t.filter(where[src])
            for col in per:
                t = t.filter(t[col].notnull())
            t = self._bucketed(t, src, spec.measure_time(names[0]), unit, zone, req)
            group = list(dict.fromkeys([*per, *(req.by if src == scope_src else ()), "_bucket"]))
            base = filter_expr(t, spec.filter, params) if src == spec.source else None
            aggs: dict[str, Any] = {}
            for n in names:
                m = spec.measures[n]
                cond = filter_expr(t, m.filter, params)
                w = base if cond is None else (cond if base is None else base & cond)
                value = _agg(t, m, w, t[m.column] if m.column else None)
                aggs[f"_m_{n}"] = value.cast("float64").fill_null(0)
            sums[src] = t.group_by(group).aggregate(**aggs)
        scope_col = f"_m_{spec.scope.measure}"
        match = [*per, "_bucket"]
        j = sums[scope_src]
        j = j.filter(j[scope_col] > 0)
        j = j.mutate(_scope_total=j[scope_col].sum().over(group_by=[j[k] for k in match]))
        for src, other in sums.items():
            if src == scope_src:
                continue
            r = other.rename({f"_r_{k}": k for k in match})
            j = j.left_join(r, [j[k] == r[f"_r_{k}"] for k in match]).drop(
                *[f"_r_{k}" for k in match]
            )
            for n in sources[src]:
                c = j[f"_m_{n}"].fill_null(0)
                # the common case (one group per key and bucket) stays exact
                shared = ibis.ifelse(
                    j[scope_col] == j._scope_total, c, c * j[scope_col] / j._scope_total
                )
                j = j.mutate(**{f"_m_{n}": shared})
        if req.grain:
            j = j.mutate(period=j._bucket.truncate(GRAIN_UNITS[req.grain]))
        keys = req.keys()
        totals = {f"_m_{n}": j[f"_m_{n}"].sum() for n in spec.measures}
        agg = j.group_by(keys).aggregate(**totals) if keys else j.aggregate(**totals)
        scope: dict[str, Any] = {n: agg[f"_m_{n}"] for n in spec.measures}
        scope.update({k: v for k, v in params.items() if k not in scope})
        df: pd.DataFrame = agg.select(
            *keys, **{spec.id: eval_formula(spec.formula, scope)}
        ).to_pandas()
        return df

    def _bucketed(
        self,
        t: ir.Table,
        source: str,
        time_col: str,
        unit: str,
        zone: str | None,
        req: Request,
    ) -> ir.Table:
        """Rows within the request's bounds with ``_bucket``, the local day or hour (``unit``)
        they fall in; a span source's rows are cut at the buckets' boundaries."""
        lo, hi = _bounds(req.start, req.end, zone)
        span = SPANS.get(source)
        if span is not None and time_col == span.start:
            return self._split_spans(t, span, unit, zone, lo, hi)
        t = t.filter(t[time_col].notnull())
        if lo is not None:
            t = t.filter(t[time_col] >= lo)
        if hi is not None:
            t = t.filter(t[time_col] < hi)
        if zone in (None, "UTC"):
            return t.mutate(_bucket=t[time_col].truncate(unit))
        extent = self._source_span(source)
        if extent is None:  # no rows at all
            return t.mutate(_bucket=t[time_col])
        grid = self._grid(_zone_calendar(zone), extent)
        t = with_local_time(t, grid, time_col, "_local_time")
        return t.mutate(_bucket=t._local_time.truncate(unit)).drop("_local_time")

    def _split_spans(
        self,
        t: ir.Table,
        span: Span,
        unit: str,
        zone: str | None,
        lo: datetime | None,
        hi: datetime | None,
    ) -> ir.Table:
        """Each span clipped to ``[lo, hi)`` and cut into one row per local day or hour it
        touches, with ``span.seconds`` the piece's own length (a range join with the buckets)."""
        start, end = t[span.start], t[span.end]
        if lo is not None:
            start = ibis.greatest(start, ibis.literal(lo, type="timestamp"))
        if hi is not None:
            end = ibis.least(end, ibis.literal(hi, type="timestamp"))
        t = t.mutate(_s=start, _e=end)
        t = t.filter(t._s.notnull() & t._e.notnull() & (t._e > t._s))
        extent = t.aggregate(lo=t._s.min(), hi=t._e.max()).to_pandas().iloc[0]
        if pd.isna(extent["lo"]):
            return t.mutate(_bucket=t._s).drop("_s", "_e")
        b = ibis.memtable(
            _buckets(pd.Timestamp(extent["lo"]), pd.Timestamp(extent["hi"]), unit, zone)
        )
        j = t.join(b, (t._s < b._b_end) & (t._e > b._b_start))
        piece = (
            ibis.least(j._e, j._b_end).epoch_seconds()
            - ibis.greatest(j._s, j._b_start).epoch_seconds()
        )
        j = j.mutate(**{span.seconds: piece.cast("float64"), "_bucket": j._b_label})
        return j.drop("_s", "_e", "_b_start", "_b_end", "_b_label")

    def _snapshot(
        self,
        t: ir.Table,
        spec: MetricSpec,
        req: Request,
        params: Mapping[str, float],
        zone: str | None,
        grid: ir.Table | None,
    ) -> pd.DataFrame:
        """Rows open at the end of each period: cumulative openings minus closings.

        With ``overdue_from``, a row counts only once that time has passed as well: it "opens"
        at the later of ``opens`` and ``overdue_from`` and "closes" at the later of that and
        ``closes``. Without a grain, one snapshot at the end of ``--to`` (or of all data).
        """
        assert spec.opens is not None and spec.closes is not None
        base = filter_expr(t, spec.filter, params)
        if base is not None:
            t = t.filter(base)
        opens = t[spec.opens]
        if spec.overdue_from is not None:
            due = t[spec.overdue_from]
            opens = ibis.ifelse(due.isnull(), ibis.null(), ibis.greatest(opens, due))
        closes = ibis.ifelse(
            t[spec.closes].isnull(), ibis.null(), ibis.greatest(opens, t[spec.closes])
        )
        # the snapshot cannot look past the data: a due time still in the future is not overdue
        latest = t.aggregate(a=t[spec.opens].max(), b=t[spec.closes].max()).to_pandas().iloc[0]
        stamps = [v for v in (latest["a"], latest["b"]) if pd.notna(v)]
        as_of = (pd.Timestamp(max(stamps)) + pd.Timedelta(microseconds=1)) if stamps else None
        t = t.mutate(snap_open=opens, snap_close=closes)
        t = t.filter(t.snap_open.notnull())
        group = list(req.by)
        if not req.grain:
            _, hi = _bounds(req.start, req.end, zone)
            if as_of is not None and (hi is None or as_of.to_pydatetime() < hi):
                hi = as_of.to_pydatetime()
            is_open = t.snap_open < hi if hi is not None else t.snap_open.notnull()
            closed = t.snap_close.notnull() & (t.snap_close < hi if hi is not None else True)
            metrics = {"o": t.count(where=is_open), "c": t.count(where=is_open & closed)}
            agg = t.aggregate(by=group, **metrics) if group else t.aggregate(**metrics)
            df: pd.DataFrame = agg.to_pandas()
            df[spec.id] = (df["o"] - df["c"]).astype("float64")
            return df[[*group, spec.id]]
        grain = req.grain
        moves = []
        for col, sign in (("snap_open", 1), ("snap_close", -1)):
            sub = t.filter(t[col].notnull())
            if grid is not None and zone not in (None, "UTC"):
                sub = with_local_time(sub, grid, col, "local_time")
            else:
                sub = sub.mutate(local_time=sub[col])
            sub = sub.mutate(period=sub.local_time.truncate(GRAIN_UNITS[grain]))
            counts = sub.group_by([*group, "period"]).aggregate(n=sub.count()).to_pandas()
            counts["n"] = counts["n"] * sign
            moves.append(counts)
        allm = pd.concat(moves, ignore_index=True)
        if allm.empty:
            return pd.DataFrame(columns=[*group, "period", spec.id])
        allm = allm.groupby([*group, "period"], dropna=False, as_index=False)["n"].sum()
        spine = _period_spine(allm["period"], grain, None)
        if as_of is not None:
            offset = 0
            if zone not in (None, "UTC"):
                offset = int(ZoneInfo(zone).utcoffset(as_of.to_pydatetime()).total_seconds())  # type: ignore[union-attr]
            last = (as_of + pd.Timedelta(seconds=offset)).to_period(GRAIN_PERIODS[grain]).start_time
            spine = spine[spine <= last]
        frames = []
        for key, part in allm.groupby(group, dropna=False) if group else [((), allm)]:
            running = part.set_index("period")["n"].reindex(spine, fill_value=0).cumsum()
            frame = pd.DataFrame({"period": spine, spec.id: running.to_numpy(dtype="float64")})
            values = key if isinstance(key, tuple) else (key,)
            for g, v in zip(group, values, strict=True):
                frame[g] = v
            frames.append(frame)
        df = pd.concat(frames, ignore_index=True)
        lo, hi = _bounds(req.start, req.end, None)
        if lo is not None:
            df = df[df["period"] >= pd.Timestamp(lo).floor("D")]
        if hi is not None:
            df = df[df["period"] < pd.Timestamp(hi)]
        return df[[*group, "period", spec.id]].reset_index(drop=True)

    def _empty(self, specs: list[MetricSpec], req: Request) -> pd.DataFrame:
        cols = req.keys()
        for s in specs:
            cols.append(s.id)
            cols += [f"{s.id}_{st}" for st in s.stats]
        return pd.DataFrame(columns=cols)

    def _aggregate(
        self,
        t: ir.Table,
        specs: list[MetricSpec],
        time_col: str,
        req: Request,
        params: Mapping[str, float],
        zone: str | None,
        grid: ir.Table | None,
    ) -> pd.DataFrame:
        t = t.filter(t[time_col].notnull())
        start, end = _bounds(req.start, req.end, zone)
        if start is not None:
            t = t.filter(t[time_col] >= start)
        if end is not None:
            t = t.filter(t[time_col] < end)
        if req.windows is not None:
            t = _in_windows(t, time_col, req.windows)
        if req.grain:
            if grid is not None and zone not in (None, "UTC"):
                t = with_local_time(t, grid, time_col, "_local_time")
            else:
                t = t.mutate(_local_time=t[time_col])
            t = t.mutate(period=t._local_time.truncate(GRAIN_UNITS[req.grain]))
        group = req.keys()
        aggs: dict[str, Any] = {}
        formulas: dict[str, tuple[str, dict[str, str]]] = {}
        # statistic column -> (aggregate column, index in its quantile list or None)
        stats: dict[str, tuple[str, int | None]] = {}
        # DuckDB computes several quantiles of one column in one pass (one sort, not one each)
        multi_quantile = factcache.cacheable(self.wh)
        for s in specs:
            base = filter_expr(t, s.filter, params)
            names: dict[str, str] = {}
            for mname, m in s.measures.items():
                cond = filter_expr(t, m.filter, params)
                where = base if cond is None else (cond if base is None else base & cond)
                value = t[m.column] if m.column else None
                col = f"{s.id}__{mname}"
                aggs[col] = _agg(t, m, where, value)
                names[mname] = col
                qs = [st for st in s.stats if st in QUANTILES]
                if multi_quantile and value is not None and len(qs) > 1:
                    aggs[f"{s.id}__quantiles"] = value.quantile(
                        [QUANTILES[st] for st in qs], where=where
                    )
                for st in s.stats:
                    if multi_quantile and value is not None and len(qs) > 1 and st in qs:
                        stats[f"{s.id}_{st}"] = (f"{s.id}__quantiles", qs.index(st))
                        continue
                    aggs[f"{s.id}_{st}"] = _agg(t, Measure(agg=st, column=m.column), where, value)
                    stats[f"{s.id}_{st}"] = (f"{s.id}_{st}", None)
            formulas[s.id] = (s.formula, names)
        agg = t.group_by(group).aggregate(**aggs) if group else t.aggregate(**aggs)
        final = {}
        for sid, (formula, names) in formulas.items():
            scope: dict[str, Any] = {k: agg[v] for k, v in names.items()}
            scope.update({k: v for k, v in params.items() if k not in scope})
            final[sid] = eval_formula(formula, scope)
        columns = {name: agg[col] if i is None else agg[col][i] for name, (col, i) in stats.items()}
        out = agg.select(*group, **final, **columns)
        df: pd.DataFrame = out.to_pandas()
        return df


def metric_facts(
    wh: Warehouse,
    spec: MetricSpec,
    where: Mapping[str, Any] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> ir.Table:
    """The fact rows a metric reads, one per row: its source's facts (with its parameters),
    under its own filter and ``where``, with its time column in ``[start, end)`` (naive UTC;
    None: unbounded). The row export and the verification of plans read the same rows."""
    params = dict(spec.params)
    kwargs = _fact_kwargs(spec.source, params)
    if spec.source == "case" and factcache.cacheable(wh):
        # the same facts the metric's query reads, built once for the data (calendar time)
        t = factcache.cached_facts(
            wh, _fact_options(spec.source, kwargs), lambda: FACTS[spec.source](wh, **kwargs)
        )
    else:
        t = FACTS[spec.source](wh, **kwargs)
    for flt in (spec.filter, where):
        cond = filter_expr(t, flt, params) if flt else None
        if cond is not None:
            t = t.filter(cond)
    if start is not None:
        t = t.filter(t[spec.time] >= start)
    if end is not None:
        t = t.filter(t[spec.time] < end)
    return t


def _needed_columns(specs: list[MetricSpec], req: Request) -> frozenset[str]:
    """Every fact column the request reads: dimensions, filters, the metrics' time columns,
    measure columns and filters, and a snapshot's open, close and due columns."""
    cols: set[str] = set(req.by) | set(req.where or {})
    for s in specs:
        cols |= {s.time, *s.filter}
        cols |= {c for c in (s.opens, s.closes, s.overdue_from) if c}
        for m in s.measures.values():
            cols |= set(m.filter)
            if m.column:
                cols.add(m.column)
            if m.time:
                cols.add(m.time)
    return frozenset(cols)


def _fact_options(source: str, kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """What cached facts of ``source`` depend on besides the data, the code and the clock."""
    return (source, kwargs.get("repeat_days", REPEAT_DAYS))


def _fact_kwargs(source: str, params: Mapping[str, float]) -> dict[str, Any]:
    """The fact builder's options that metric parameters set."""
    kwargs: dict[str, Any] = {}
    if source in ("case", "interaction") and "repeat_days" in params:
        kwargs["repeat_days"] = int(params["repeat_days"])
    if source == "interaction" and "short_abandon_seconds" in params:
        kwargs["short_abandon_seconds"] = params["short_abandon_seconds"]
    return kwargs


def _split_where(
    where: Mapping[str, Any],
    facts: Mapping[str, ir.Table],
    scope_src: str,
    params: Mapping[str, float],
) -> dict[str, ir.BooleanValue]:
    """A request's filter for a metric across sources, per source: a column of the scope
    source filters it alone; any other column filters every source that has it."""
    out: dict[str, ir.BooleanValue] = {}
    for col, cond in where.items():
        targets = (
            [scope_src]
            if col in facts[scope_src].columns
            else [src for src, t in facts.items() if col in t.columns]
        )
        if not targets:
            known = sorted({c for t in facts.values() for c in t.columns})
            raise ServqError(f"no column '{col}' to filter on; columns: {', '.join(known)}")
        for src in targets:
            expr = filter_expr(facts[src], {col: cond}, params)
            if expr is not None:
                out[src] = expr if src not in out else out[src] & expr
    return out


def _buckets(lo: pd.Timestamp, hi: pd.Timestamp, unit: str, zone: str | None) -> pd.DataFrame:
    """The local days (``unit`` "D") or hours ("h") covering ``[lo, hi)`` (naive UTC): each
    one's UTC bounds ``_b_start``/``_b_end`` and local start ``_b_label``. Exact across clock
    changes: a day is midnight to midnight, an hour repeated in autumn appears twice with the
    same label, as the local times of points in it are."""
    tz = ZoneInfo(zone or "UTC")
    first = lo.to_pydatetime().replace(tzinfo=UTC).astimezone(tz).date()
    last = hi.to_pydatetime().replace(tzinfo=UTC).astimezone(tz).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 2)]
    midnights = [
        datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
        for d in days
    ]
    if unit == "D":
        starts = pd.DatetimeIndex(midnights[:-1])
        ends = pd.DatetimeIndex(midnights[1:])
        labels = pd.DatetimeIndex([datetime(d.year, d.month, d.day) for d in days[:-1]])
    else:
        starts = pd.date_range(midnights[0], midnights[-1], freq="h", inclusive="left")
        ends = starts + pd.Timedelta(hours=1)
        labels = starts.tz_localize("UTC").tz_convert(tz).tz_localize(None).floor("h")
    return pd.DataFrame(
        {"_b_start": starts, "_b_end": ends, "_b_label": labels}, dtype="datetime64[us]"
    )


def _check_windowed(specs: list[MetricSpec], req: Request) -> None:
    if req.grain is not None:
        raise ServqError("give either a grain or sliding windows, not both")
    scoped = [s.id for s in specs if s.scope is not None]
    if scoped:
        raise ServqError(
            f"{', '.join(scoped)}: a metric across several sources has no sliding-window form; "
            "use a grain instead"
        )
    snapshots = [s.id for s in specs if s.kind == "snapshot"]
    if snapshots:
        raise ServqError(
            f"{', '.join(snapshots)}: a snapshot metric has no sliding-window form; "
            "use a grain instead"
        )


def _in_windows(
    t: ir.Table, time_col: str, windows: tuple[tuple[datetime, datetime], ...]
) -> ir.Table:
    """Each fact row once per window holding its time (a range join), with the window's bounds
    as columns; durations that had not ended by a window's end are nulled in that window."""
    frame = pd.DataFrame(list(windows), columns=list(WINDOW_KEYS), dtype="datetime64[us]")
    if frame.empty:
        return t.filter(ibis.literal(False)).mutate(
            window_start=t[time_col], window_end=t[time_col]
        )
    t = t.filter(
        (t[time_col] >= frame["window_start"].min().to_pydatetime())
        & (t[time_col] < frame["window_end"].max().to_pydatetime())
    )
    w = ibis.memtable(frame)
    j = t.join(w, (t[time_col] >= w.window_start) & (t[time_col] < w.window_end))
    unknown = {
        col: ibis.ifelse(j[end] <= j.window_end, j[col], ibis.null()).cast("float64")
        for col, (_, end) in DURATIONS.items()
        if col in j.columns and end in j.columns
    }
    return j.mutate(**unknown) if unknown else j


def _period_spine(periods: pd.Series, grain: Grain, end: Any) -> pd.DatetimeIndex:
    """Every period from the first with data to the last (or to ``end``), gaps included."""
    freq = {"hour": "h", "day": "D", "week": "W-MON", "month": "MS", "quarter": "QS", "year": "YS"}
    lo = pd.Timestamp(periods.min())
    hi = pd.Timestamp(periods.max()) if end is None else pd.Timestamp(end)
    return pd.date_range(lo, hi, freq=freq[grain])


def _group(
    specs: list[MetricSpec], key: Callable[[MetricSpec], str]
) -> dict[str, list[MetricSpec]]:
    out: dict[str, list[MetricSpec]] = {}
    for s in specs:
        out.setdefault(key(s), []).append(s)
    return out


def _zone_calendar(zone: str) -> Any:
    """A 24×7 calendar in ``zone``: used only for local periods when no calendar is given."""
    from servq.calendar import parse_calendar

    return parse_calendar(
        f"name: tz-{zone.lower().replace('/', '-').replace('_', '-')}\n"
        f"title_en: 24x7 in {zone}\ntitle_zh: 全天候 {zone}\ntimezone: {zone}\n"
        "hours: {workday: ['00:00-24:00'], saturday: ['00:00-24:00'], sunday: ['00:00-24:00']}\n"
        "holidays: none\n"
    )


def _bounds(
    start: date | datetime | None, end: date | datetime | None, zone: str | None
) -> tuple[datetime | None, datetime | None]:
    """UTC bounds [start, end) from local dates (end date inclusive) or datetimes."""
    tz = ZoneInfo(zone) if zone else None

    def utc(d: datetime) -> datetime:
        if tz is None or d.tzinfo is not None:
            return d if d.tzinfo is None else d.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        return d.replace(tzinfo=tz).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)

    lo = hi = None
    if start is not None:
        lo = utc(
            start if isinstance(start, datetime) else datetime.combine(start, datetime.min.time())
        )
    if end is not None:
        if isinstance(end, datetime):
            hi = utc(end)
        else:
            hi = utc(datetime.combine(end + timedelta(days=1), datetime.min.time()))
    return lo, hi
