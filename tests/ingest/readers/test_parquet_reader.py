"""ParquetReader: typed columns come out as the text a person would write."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from servq.errors import SourceError
from servq.ingest.readers.base import ROW_COLUMN, ReadOptions, ReadStats
from servq.ingest.readers.parquet import ParquetReader


def read(path: Path, **options: object) -> tuple[pa.Table, ReadStats, int]:
    stats = ReadStats()
    batches = list(ParquetReader().read(path, ReadOptions(**options), stats))  # type: ignore[arg-type]
    for b in batches:
        assert b.schema.field(ROW_COLUMN).type == pa.int64()
        assert all(f.type == pa.string() for f in b.schema if f.name != ROW_COLUMN)
    return pa.Table.from_batches(batches), stats, len(batches)


def test_numbers_and_timestamps(tmp_path: Path) -> None:
    t1 = datetime(2024, 1, 2, 3, 4, 5)
    t2 = datetime(2024, 7, 2, 3, 4, 5, 120000)
    table = pa.table(
        {
            "id": pa.array([1, None, -3], pa.int64()),
            "small": pa.array([7, 8, 9], pa.int8()),
            "score": pa.array([1.5, 2.0, None], pa.float64()),
            "created": pa.array([t1, t2, None], pa.timestamp("us")),
            "created_ms": pa.array([t1, t2, t1], pa.timestamp("ms")),
            "created_s": pa.array([t1, t1, None], pa.timestamp("s")),
            # stored in UTC, shown in the column's zone with its offset (winter and summer time)
            "local": pa.array([t1, t2, None], pa.timestamp("ms", tz="Europe/Amsterdam")),
            "utc": pa.array([t1, t2, t1], pa.timestamp("ns", tz="UTC")),
            "shanghai": pa.array([t1, t1, t1], pa.timestamp("s", tz="Asia/Shanghai")),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    got, stats, _ = read(path)
    assert got.to_pylist() == [
        {
            "id": "1", "small": "7", "score": "1.5", "created": "2024-01-02T03:04:05",
            "created_ms": "2024-01-02T03:04:05", "created_s": "2024-01-02T03:04:05",
            "local": "2024-01-02T04:04:05+01:00", "utc": "2024-01-02T03:04:05+00:00",
            "shanghai": "2024-01-02T11:04:05+08:00", ROW_COLUMN: 1,
        },
        {
            "id": None, "small": "8", "score": "2", "created": "2024-07-02T03:04:05.120000",
            "created_ms": "2024-07-02T03:04:05.120", "created_s": "2024-01-02T03:04:05",
            "local": "2024-07-02T05:04:05.120+02:00", "utc": "2024-07-02T03:04:05.120000000+00:00",
            "shanghai": "2024-01-02T11:04:05+08:00", ROW_COLUMN: 2,
        },
        {
            "id": "-3", "small": "9", "score": None, "created": None,
            "created_ms": "2024-01-02T03:04:05", "created_s": None, "local": None,
            "utc": "2024-01-02T03:04:05+00:00", "shanghai": "2024-01-02T11:04:05+08:00",
            ROW_COLUMN: 3,
        },
    ]  # fmt: skip
    assert (stats.format, stats.bytes_read, stats.rejected) == ("parquet", path.stat().st_size, [])


def test_other_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "day": pa.array([date(2024, 1, 2), None]),
            "at": pa.array([time(3, 4, 5), time(3, 4, 5, 500000)]),
            "ok": [True, None],
            "amount": pa.array([Decimal("1.10"), Decimal("-2.00")]),
            "channel": pa.array(["phone", "email"]).dictionary_encode(),
            "tags": [["a", "b"], []],
            "who": [{"name": "Zoë", "age": 3}, None],
            "attrs": pa.array([[("k", "v")], []], pa.map_(pa.string(), pa.string())),
            "blob": [b"text", b"\xff\x00"],
            "_row": ["source column", "called _row"],
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    got, _, _ = read(path)
    assert got.to_pylist() == [
        {
            "day": "2024-01-02", "at": "03:04:05", "ok": "true", "amount": "1.10",
            "channel": "phone", "tags": '["a","b"]', "who": '{"name":"Zoë","age":3}',
            "attrs": '{"k":"v"}', "blob": "text", "_row_2": "source column", ROW_COLUMN: 1,
        },
        {
            "day": None, "at": "03:04:05.500000", "ok": None, "amount": "-2.00",
            "channel": "email", "tags": "[]", "who": None, "attrs": "{}",
            "blob": "base64:/wA=", "_row_2": "called _row", ROW_COLUMN: 2,
        },
    ]  # fmt: skip


def test_batches_and_progress(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"n": list(range(2500))}), path, row_group_size=700)
    stats = ReadStats()
    progress = []
    numbers: list[int] = []
    for b in ParquetReader().read(path, ReadOptions(batch_rows=1000), stats):
        progress.append(stats.bytes_read)
        numbers.extend(b.column(ROW_COLUMN).to_pylist())
        assert b.num_rows <= 1000
    assert numbers == list(range(1, 2501))
    assert progress == sorted(progress) and progress[-1] == stats.bytes_total


def test_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.int64())}), path)
    got, _, batches = read(path)
    assert (got.num_rows, got.column_names, batches) == (0, ["id", ROW_COLUMN], 1)


def test_not_parquet(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_text("id,name\n1,a\n", encoding="utf-8")
    with pytest.raises(SourceError, match="not a readable Parquet file"):
        ParquetReader().read(path, ReadOptions(), ReadStats())  # raised before any batch


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        ParquetReader().read(path, ReadOptions(), ReadStats())
