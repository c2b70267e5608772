"""Every catalogue metric gives the same numbers on DuckDB and on a PostgreSQL copy of it.

One DuckDB workspace (demo data plus the real Anonymous Bank week) is copied to a fresh schema of
the PostgreSQL server on 127.0.0.1:5432, and each metric is computed on both engines with the
same request: totals, by a dimension per local week, and business-time durations. The schema is
dropped at the end. Without a server listening there, the tests skip.
"""

from __future__ import annotations

import gc
import math
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd
import psycopg
import pytest
from psycopg import sql

import servq
from servq.demo.run import run_demo
from servq.errors import WorkspaceError
from servq.metrics.catalogue_registry import Catalogue
from servq.metrics.compute import MetricEngine, Request
from servq.metrics.model import MetricSpec
from servq.warehouse.postgres import PostgresWarehouse, connect, copy_to_postgres
from servq.warehouse.schema import TABLES
from servq.warehouse.store import SYSTEM_TABLES, Warehouse

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_URL = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"
BANK = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "callcenter-anonymous-bank-week1"
    / "calls_1999-02-01_07.tsv"
)
# the dimension each source is sliced by
DIMENSION = {"case": "team", "feedback": "site", "interaction": "agent", "audit": "site"}
COUNT_UNITS = ("count", "calls", "cases")
# Not 0: a continuous percentile falling between two values is interpolated as
# lo*(1-d) + hi*d by DuckDB's quantile_cont but as lo + d*(hi-lo) by PostgreSQL's
# percentile_cont, which can differ in the last bit (seen: 2.2e-16 relative on p90/p95).
# Sums, means and counts agree exactly on this data.
REL_TOL = 1e-9

pytestmark = pytest.mark.slow  # about a minute and a half: ~100 metric requests per engine

CATALOGUE = Catalogue()
SPECS = [e.spec for e in CATALOGUE.entries()]


def _listening() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=2):
            return True
    except OSError:
        return False


def _drop_schema(schema: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _schema_name(purpose: str) -> str:
    # unique per run, so parallel runs and leftovers of a killed run never collide
    return f"servq_test_{purpose}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def pg_url() -> str:
    if not _listening():
        pytest.skip(f"no PostgreSQL server listening on {PG_HOST}:{PG_PORT}")
    return PG_URL


@dataclass
class Engines:
    duck: Warehouse
    pg: PostgresWarehouse
    copied: dict[str, int]
    bank_loaded: bool


@pytest.fixture(scope="module")
def engines(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    ws = servq.open_workspace(tmp_path_factory.mktemp("parity") / "ws")
    schema = _schema_name("parity")
    try:
        run_demo(ws, size=2000, seed=11)
        # a few audit visits so the audit metrics have rows on both engines
        sites = ["上海徐汇店", "北京朝阳店", "广州天河店"]
        ws.ingest_frame(
            pd.DataFrame(
                {
                    "visit_id": [f"V{i // 3}" for i in range(18)],
                    "item": [["greeting", "wait", "solution"][i % 3] for i in range(18)],
                    "scorecard": ["mystery-shopper"] * 18,
                    "scenario": [["onsite", "online"][(i // 3) % 2] for i in range(18)],
                    "site": [sites[(i // 3) % 3] for i in range(18)],
                    "visited_at": [f"2025-10-{10 + i // 3:02d} 10:00" for i in range(18)],
                    "score": [float(3 + (i * 7) % 3) for i in range(18)],
                    "max_score": [5.0] * 18,
                    "weight": [[2.0, 1.0, 1.5][i % 3] for i in range(18)],
                }
            ),
            "audits",
        )
        bank_loaded = BANK.exists()
        if bank_loaded:
            ws.ingest(BANK, "anonymous-bank")
        copied = copy_to_postgres(ws.warehouse, pg_url, schema)
        with connect(pg_url, schema) as pg:
            yield Engines(ws.warehouse, pg, copied, bank_loaded)
    finally:
        _drop_schema(schema)
        ws.close()


# -- the copy -----------------------------------------------------------------------------------
def test_copy_counts_match(engines: Engines) -> None:
    duck = engines.duck.counts()
    assert set(duck) == {*TABLES, *SYSTEM_TABLES}
    assert engines.copied == duck
    assert engines.pg.counts() == duck
    assert duck["case"] > 0 and duck["interaction"] > 0 and duck["feedback"] > 0
    systems = {}
    for wh in (engines.duck, engines.pg):
        t = wh.table("interaction")
        per = t.group_by("source_system").aggregate(n=t.count()).to_pandas()
        systems[wh.ibis.name] = dict(zip(per.source_system, per.n, strict=True))
    assert systems["postgres"] == systems["duckdb"]
    if engines.bank_loaded:
        assert systems["duckdb"].get("anonymous-bank", 0) > 9000


def _rows(df: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows as tuples with every null as None, sorted: engine dtypes differ, values must not."""
    out = [
        tuple(None if _isnull(v) else v for v in row)
        for row in df.astype(object).itertuples(index=False, name=None)
    ]
    return sorted(out, key=lambda r: tuple((v is None, "" if v is None else str(v)) for v in r))


def _isnull(v: Any) -> bool:
    return v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


@pytest.mark.parametrize("table", [*TABLES, *SYSTEM_TABLES])
def test_copy_keeps_every_value(engines: Engines, table: str) -> None:
    # exact equality: empty strings stay distinct from nulls, floats and microseconds round-trip
    duck = engines.duck.table(table).to_pandas()
    pg = engines.pg.table(table).to_pandas()
    assert list(pg.columns) == list(duck.columns)
    assert _rows(pg) == _rows(duck)


def test_copy_is_all_or_nothing(pg_url: str) -> None:
    schema = _schema_name("atomic")
    wh = Warehouse(":memory:")
    try:
        wh.con.execute(
            "INSERT INTO \"case\" (source_system, case_id, subject) VALUES ('s', '1', ''), "
            "('s', '2', NULL)"
        )
        assert copy_to_postgres(wh, pg_url, schema)["case"] == 2
        with pytest.raises(WorkspaceError, match="already holds"):
            copy_to_postgres(wh, pg_url, schema, replace=False)
        # PostgreSQL text cannot hold NUL: the copy fails at feedback, after case, case_event
        # and interaction were re-created in the same transaction
        wh.con.execute(
            "INSERT INTO \"case\" (source_system, case_id) VALUES ('s', '3');"
            "INSERT INTO feedback (source_system, feedback_id, text) VALUES ('s', 'f', chr(0))"
        )
        with pytest.raises(WorkspaceError, match="nothing was changed"):
            copy_to_postgres(wh, pg_url, schema)
        with connect(pg_url, schema) as pg:
            assert pg.counts()["case"] == 2
            assert pg.counts()["feedback"] == 0
            subjects = pg.table("case").order_by("case_id").subject.to_pandas().tolist()
            assert subjects[0] == ""
            assert _isnull(subjects[1])
    finally:
        wh.close()
        _drop_schema(schema)


def test_clock_grids_do_not_pile_up(engines: Engines) -> None:
    # each business-time query uploads a clock grid; a long-lived warehouse must not keep them
    req = Request(metrics=("first_reply_time",), by=("team",), grain="week", calendar="cn-office")
    engine = MetricEngine(cast(Warehouse, engines.pg), CATALOGUE)
    for _ in range(3):
        engine.compute(req)
        gc.collect()
    row = engines.pg.con.execute(
        "SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relkind = 'r'"
    ).fetchone()
    assert row is not None and row[0] <= 1


def test_missing_schema_is_explained(pg_url: str) -> None:
    with pytest.raises(WorkspaceError, match="copy a warehouse there first"):
        connect(pg_url, _schema_name("absent"))


# -- metric parity ------------------------------------------------------------------------------
def _requests(spec: MetricSpec) -> list[tuple[str, Request]]:
    dim = DIMENSION[spec.source]
    out = [
        ("total", Request(metrics=(spec.id,))),
        (
            f"by_{dim}_week_shanghai",
            Request(metrics=(spec.id,), by=(dim,), grain="week", timezone="Asia/Shanghai"),
        ),
    ]
    if spec.business_time:
        out += [
            ("business_total", Request(metrics=(spec.id,), calendar="cn-office")),
            (
                f"business_by_{dim}_week",
                Request(metrics=(spec.id,), by=(dim,), grain="week", calendar="cn-office"),
            ),
        ]
    return out


CASES = [
    pytest.param(spec, req, id=f"{spec.id}-{name}")
    for spec in SPECS
    for name, req in _requests(spec)
]


def _same(a: float, b: float, *, exact: bool) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if exact:
        return a == b
    return a == b or abs(a - b) <= REL_TOL * max(abs(a), abs(b))


def assert_same_frames(
    duck: pd.DataFrame, pg: pd.DataFrame, keys: list[str], spec: MetricSpec
) -> None:
    assert list(pg.columns) == list(duck.columns)
    assert len(pg) == len(duck), f"{len(duck)} rows on DuckDB, {len(pg)} on PostgreSQL"
    d = duck.sort_values(keys, kind="stable").reset_index(drop=True) if keys else duck
    p = pg.sort_values(keys, kind="stable").reset_index(drop=True) if keys else pg
    for k in keys:
        dk = [None if _isnull(v) else v for v in d[k].astype(object)]
        pk = [None if _isnull(v) else v for v in p[k].astype(object)]
        if k == "period":
            dk = [None if v is None else pd.Timestamp(v) for v in dk]
            pk = [None if v is None else pd.Timestamp(v) for v in pk]
        assert pk == dk, f"key {k} differs"
    exact = spec.unit in COUNT_UNITS
    for col in (c for c in d.columns if c not in keys):
        dv = pd.to_numeric(d[col], errors="raise").astype("float64").tolist()
        pv = pd.to_numeric(p[col], errors="raise").astype("float64").tolist()
        bad = [
            (i, a, b)
            for i, (a, b) in enumerate(zip(dv, pv, strict=True))
            if not _same(a, b, exact=exact)
        ]
        where = f"; first at {[d.at[bad[0][0], k] for k in keys]}" if bad and keys else ""
        assert not bad, (
            f"{col}: {len(bad)} of {len(dv)} rows differ (row, DuckDB, PostgreSQL): {bad[:5]}"
            + where
        )


@pytest.mark.parametrize(("spec", "req"), CASES)
def test_metric_parity(engines: Engines, spec: MetricSpec, req: Request) -> None:
    if engines.copied.get(spec.source, 0) == 0:
        # the demo data set has no audit visits: preset audit metrics have nothing to compare
        pytest.skip(f"the data set has no {spec.source} rows")
    duck = MetricEngine(engines.duck, CATALOGUE).compute(req)
    # the engine reads only .table() and .path, which PostgresWarehouse provides
    pg = MetricEngine(cast(Warehouse, engines.pg), CATALOGUE).compute(req)
    keys = [*req.by, *(["period"] if req.grain else [])]
    assert len(duck) > 0, "nothing to compare: the data set does not exercise this metric"
    assert_same_frames(duck, pg, keys, spec)
