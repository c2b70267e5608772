"""The Python surface: open a workspace, ingest a DataFrame, read tables back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa

import servq

ROWS = {
    "ticket_id": ["A1", "A2", "A3"],
    "created_at": ["2025-10-08 09:00", "2025-10-09 10:30", "2025-10-09 11:00"],
    "closed_at": ["2025-10-08 18:00", None, "2025-10-09 12:00"],
    "channel": ["app", "chat", "walk_in"],
    "site": ["上海徐汇店", "北京朝阳店", "上海徐汇店"],
    "vip": ["yes", "no", "no"],
}


def test_ingest_pandas_polars_and_arrow_alike(tmp_path: Path) -> None:
    frames = {
        "pandas": pd.DataFrame(ROWS),
        "polars": pl.DataFrame(ROWS),
        "arrow": pa.table(ROWS),
    }
    for kind, frame in frames.items():
        with servq.open_workspace(tmp_path / kind) as ws:
            r = ws.ingest_frame(frame, "tickets")
            assert (r.read, r.loaded, r.quarantined) == (3, 3, 0), kind
            cases = ws.read("case").sort_values("case_id")
            assert cases.site.tolist() == ["上海徐汇店", "北京朝阳店", "上海徐汇店"]
            # an unmapped column is kept in attributes
            assert cases.attributes.tolist()[0] == '{"vip":"yes"}'
            # lineage on every row
            assert set(cases.batch_id) == {r.batch_id} and cases.source.eq("<dataframe>").all()


def test_tables_are_ibis_expressions(tmp_path: Path) -> None:
    with servq.open_workspace(tmp_path / "ws") as ws:
        ws.ingest_frame(pd.DataFrame(ROWS), "tickets")
        t = ws.table("case")
        by_site = t.group_by("site").aggregate(n=t.count()).order_by("site").to_pandas()
        assert sorted(zip(by_site.site, by_site.n, strict=True)) == [
            ("上海徐汇店", 2),
            ("北京朝阳店", 1),
        ]
        assert ws.read("case", channel="app").case_id.tolist() == ["A1"]
