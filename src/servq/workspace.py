"""A workspace: one folder holding a warehouse, user profiles and (later) application state.

Owns: the layout of a workspace folder and the Python entry points a user calls. Default
``./servq-data``; ``SERVQ_WORKSPACE`` or an explicit path override it.

>>> import servq
>>> ws = servq.open_workspace("/tmp/servq-doctest")           # doctest: +SKIP
>>> result = ws.ingest("tickets.csv", profile="tickets")       # doctest: +SKIP
>>> ws.read("case").head()                                      # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from servq.errors import ServqError
from servq.ingest.engine import IngestResult, Progress, ingest_arrow, ingest_path
from servq.ingest.profile import Profile
from servq.ingest.registry import ProfileRegistry
from servq.warehouse.store import Warehouse

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

    from servq.metrics.catalogue_registry import Catalogue
    from servq.metrics.compute import Grain

DEFAULT_WORKSPACE = "servq-data"
WAREHOUSE_FILE = "warehouse.duckdb"


def default_workspace_path() -> Path:
    return Path(os.environ.get("SERVQ_WORKSPACE") or DEFAULT_WORKSPACE)


def _to_arrow(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        table: pa.Table = data.to_arrow()
        return table
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    raise ServqError(f"cannot ingest a {type(data).__name__}: give a pandas, polars or Arrow table")


class Workspace:
    """Open with :func:`servq.open_workspace`. Close it (or use ``with``) to release the file."""

    def __init__(self, path: Path | str | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else default_workspace_path()
        if not read_only:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / "profiles").mkdir(exist_ok=True)
        elif not (self.path / WAREHOUSE_FILE).exists():
            raise ServqError(
                f"no workspace at {self.path}: run `servq ingest` or `servq demo` first"
            )
        self.warehouse = Warehouse(self.path / WAREHOUSE_FILE, read_only=read_only)
        self._profiles: ProfileRegistry | None = None
        self._catalogue: Catalogue | None = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.warehouse.close()

    # -- profiles -------------------------------------------------------------------------------
    @property
    def profiles(self) -> ProfileRegistry:
        if self._profiles is None:
            self._profiles = ProfileRegistry([self.path / "profiles"])
        return self._profiles

    def profile(self, profile: str | Path | Profile, system: str | None = None) -> Profile:
        p = profile if isinstance(profile, Profile) else self.profiles.get(profile)
        return p.model_copy(update={"system": system}) if system else p

    # -- ingest ---------------------------------------------------------------------------------
    def ingest(
        self,
        path: str | Path,
        profile: str | Path | Profile,
        *,
        system: str | None = None,
        progress: Progress | None = None,
    ) -> IngestResult:
        """Load one file (CSV, Excel, JSON/JSONL, Parquet, XES) with a mapping profile."""
        return self._loaded(
            ingest_path(
                self.warehouse, Path(path), self.profile(profile, system), progress=progress
            )
        )

    def ingest_frame(
        self,
        data: Any,
        profile: str | Path | Profile,
        *,
        system: str | None = None,
        source: str = "<dataframe>",
    ) -> IngestResult:
        """Load a pandas, polars or Arrow table with a mapping profile."""
        return self._loaded(
            ingest_arrow(
                self.warehouse, _to_arrow(data), self.profile(profile, system), source=source
            )
        )

    def _loaded(self, result: IngestResult) -> IngestResult:
        """After a batch that changed data: bring kept case facts up to date (case by case;
        only when facts are kept, see ``servq metrics refresh``). A failure here leaves them
        stale, which queries notice; the batch itself is already committed."""
        changed = (
            result.loaded
            + result.updated
            + sum(d.get("loaded", 0) + d.get("updated", 0) for d in result.derived.values())
        )
        if not changed:
            return result
        from servq.metrics import factcache

        try:
            clocks = sorted({k["clock"] or "" for k in factcache.kept(self.warehouse)})
            if clocks:
                self.refresh_facts([c or None for c in clocks])
        except Exception as exc:  # the load stands; queries see stale facts
            result.warnings.append(f"kept case facts not brought up to date: {exc}")
        return result

    # -- metrics --------------------------------------------------------------------------------
    @property
    def catalogue(self) -> Catalogue:
        """Built-in metrics plus the workspace's own ``metrics/*.yaml``."""
        if self._catalogue is None:
            from servq.metrics.catalogue_registry import Catalogue

            self._catalogue = Catalogue([self.path / "metrics"])
        return self._catalogue

    def metrics(
        self,
        metrics: str | Sequence[str],
        *,
        by: str | Sequence[str] = (),
        grain: Grain | None = None,
        start: date | datetime | str | None = None,
        end: date | datetime | str | None = None,
        where: Mapping[str, Any] | None = None,
        calendar: str | None = None,
        timezone: str | None = None,
        params: Mapping[str, float] | None = None,
    ) -> pd.DataFrame:
        """Compute catalogue metrics, sliced by dimensions and a time grain.

        ``start``/``end`` are dates in ``timezone`` (default the calendar's, else UTC), both
        inclusive; ``calendar`` switches durations to business time.

        >>> ws.metrics(["first_reply_time", "csat"], by="team", grain="week")  # doctest: +SKIP
        """
        from servq.metrics.compute import MetricEngine, Request

        req = Request(
            metrics=(metrics,) if isinstance(metrics, str) else tuple(metrics),
            by=(by,) if isinstance(by, str) else tuple(by),
            grain=grain,
            start=_as_date(start),
            end=_as_date(end),
            where=where,
            calendar=calendar,
            timezone=timezone,
            params=params,
        )
        return MetricEngine(self.warehouse, self.catalogue).compute(req)

    def refresh_facts(self, calendars: Sequence[str | None] = (None,)) -> list[dict[str, Any]]:
        """Build the case facts metrics read (from the event log) for the current data, in
        calendar time (``None``) and in business time on each named calendar, and keep them
        in the warehouse so every later query reads them instead of the event log. Queries
        build them on their own when the data has changed; this does it ahead of time."""
        from servq.metrics.compute import MetricEngine

        engine = MetricEngine(self.warehouse, self.catalogue)
        return [engine.refresh_facts(c) for c in calendars]

    # -- reading --------------------------------------------------------------------------------
    def table(self, name: str) -> ir.Table:
        """A warehouse table as an Ibis expression (lazy; runs on the warehouse engine)."""
        return self.warehouse.table(name)

    def read(self, name: str, **filters: Any) -> pd.DataFrame:
        """A warehouse table as a pandas DataFrame, optionally filtered by column equality."""
        return self.warehouse.read(name, **filters)

    def counts(self) -> dict[str, int]:
        return self.warehouse.counts()

    def batches(self) -> pd.DataFrame:
        df: pd.DataFrame = self.warehouse.table("ingest_batch").order_by("started_at").to_pandas()
        return df

    # -- quarantine -----------------------------------------------------------------------------
    def quarantine(
        self, batch_id: str | None = None, *, include_resolved: bool = False
    ) -> pd.DataFrame:
        """Rejected rows with their reasons; open ones only unless ``include_resolved``."""
        t = self.warehouse.table("quarantine")
        if batch_id is not None:
            t = t.filter(t.batch_id == batch_id)
        if not include_resolved:
            t = t.filter(t.resolved_by.isnull())
        df: pd.DataFrame = t.order_by(["batch_id", "row_number"]).to_pandas()
        return df

    def replay(
        self, batch_id: str, profile: str | Path | Profile, *, system: str | None = None
    ) -> IngestResult:
        """Load again the open quarantined rows of a batch with a (fixed) profile.

        Rows that pass are loaded; rows that fail again are quarantined under the new batch.
        Either way the old quarantine rows are marked resolved by the new batch, so the open
        quarantine always shows each source row once, with its latest reason.
        """
        con = self.warehouse.con
        rows = con.execute(
            "SELECT row_number, raw, raw_format, source FROM quarantine "
            "WHERE batch_id = ? AND resolved_by IS NULL ORDER BY row_number",
            [batch_id],
        ).fetchall()
        known = con.execute("SELECT count(*) FROM ingest_batch WHERE batch_id = ?", [batch_id])
        found = known.fetchall()[0]
        if not found or found[0] == 0:
            raise ServqError(f"no batch '{batch_id}'; `servq quarantine list` shows the batches")
        replayable = [r for r in rows if r[2] == "json"]
        if not replayable:
            raise ServqError(
                f"batch {batch_id} has no open quarantined rows that can be replayed"
                + (
                    f" ({len(rows)} malformed source lines must be fixed in the file)"
                    if rows
                    else ""
                )
            )
        records = [json.loads(r[1]) for r in replayable]
        columns: list[str] = []
        for rec in records:
            for k in rec:
                if k not in columns:
                    columns.append(k)
        table = pa.table(
            {
                **{
                    c: pa.array(
                        [None if rec.get(c) is None else str(rec.get(c)) for rec in records],
                        pa.string(),
                    )
                    for c in columns
                },
                "_row": pa.array([r[0] for r in replayable], pa.int64()),
            }
        )
        p = self.profile(profile, system)
        source = str(replayable[0][3])
        result = ingest_arrow(self.warehouse, table, p, source=source, replay_of=batch_id)
        con.execute(
            "UPDATE quarantine SET resolved_by = ? WHERE batch_id = ? AND resolved_by IS NULL "
            "AND raw_format = 'json'",
            [result.batch_id, batch_id],
        )
        return self._loaded(result)


def _as_date(value: date | datetime | str | None) -> date | datetime | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        return datetime.fromisoformat(value)


def open_workspace(path: str | Path | None = None, *, read_only: bool = False) -> Workspace:
    """Open (creating if needed) the workspace at ``path`` (default ``./servq-data``)."""
    return Workspace(path, read_only=read_only)
