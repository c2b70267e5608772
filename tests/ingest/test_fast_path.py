"""The fast ingest path gives exactly what the general one gives.

A CSV file DuckDB reads like the CSV reader is mapped straight from DuckDB's ``read_csv``; a batch
whose keys cannot be stored yet is inserted without the classifying join. These tests load the
same files both ways and compare everything that was stored.
"""

from __future__ import annotations

import codecs
import hashlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

import servq
from servq.ingest import engine
from servq.ingest.compile import _OFFSET_LIKE, _OFFSET_RE, _TRIMMED, _trim
from servq.ingest.readers.base import ReadOptions, ReadStats
from servq.ingest.readers.csv import CsvReader

HEADER = "ticket_id,created_at,resolved_at,closed_at,updated_at,channel,priority,status,subject"
LINEAGE_VARYING = ["batch_id", "ingested_at"]


@pytest.fixture
def direct_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records "direct" for each batch mapped from DuckDB's read_csv, "fallback" for each that
    DuckDB could not read and went back to the CSV reader."""
    calls: list[str] = []
    stage_direct = engine._Batch.stage_direct
    run_batch = engine.run_batch

    def spy_stage(self: engine._Batch, scan: Any) -> None:
        calls.append("direct")
        stage_direct(self, scan)

    def spy_run(*args: Any, **kwargs: Any) -> engine.IngestResult:
        try:
            return run_batch(*args, **kwargs)
        except engine._DirectScanFailed:
            calls.append("fallback")
            raise

    monkeypatch.setattr(engine._Batch, "stage_direct", spy_stage)
    monkeypatch.setattr(engine, "run_batch", spy_run)
    yield calls


def _stored(ws: servq.Workspace, table: str, key: str) -> list[dict[str, Any]]:
    df = ws.read(table).drop(columns=[*LINEAGE_VARYING, "source"])
    df = df.sort_values(key).reset_index(drop=True)
    records = df.astype(object).where(pd.notna(df), None).to_dict("records")
    return [{str(k): v for k, v in r.items()} for r in records]


def _quarantined(ws: servq.Workspace) -> list[tuple[Any, ...]]:
    q = ws.quarantine(include_resolved=True)
    cols = ["row_number", "reason", "codes", "detail", "raw", "raw_format"]
    return sorted(tuple(r) for r in q[cols].itertuples(index=False))


def _load_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: list[Path], profile: str = "tickets"
) -> tuple[servq.Workspace, servq.Workspace, list[dict[str, Any]], list[dict[str, Any]]]:
    fast = servq.open_workspace(tmp_path / "fast")
    slow = servq.open_workspace(tmp_path / "slow")
    fast_results = [fast.ingest(f, profile).to_dict() for f in files]
    with monkeypatch.context() as m:
        m.setattr(CsvReader, "scan", lambda self, path, options, stats: None)
        slow_results = [slow.ingest(f, profile).to_dict() for f in files]
    return fast, slow, fast_results, slow_results


def _same_results(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    for ra, rb in zip(a, b, strict=True):
        for k in ("batch_id", "seconds"):
            ra.pop(k)
            rb.pop(k)
        assert ra == rb


TRICKY = {
    "plain": [
        HEADER,
        "T1,2025-03-01 09:00,2025-03-01 10:00,2025-03-01 11:00,,phone,high,closed,ok",
        "T2,2025-03-01 09:00:00+08:00,,,2025-03-01T01:00:00Z,email,low,open,offset times",
        "T3,yesterday,,,,phone,high,open,bad time",
        "T4,2025-03-01 09:00,,2025-02-28 10:00,,phone,high,closed,closed before created",
        ",2025-03-01 09:00,,,,phone,high,open,no id",
        "T6,2025-03-01 09:00,,,,pigeon,high,open,unknown channel",
        "T7, 2025-03-01 09:00 ,,,,  Phone ,HIGH,NULL,spaces and case",
        "T8,2025-03-01 09:00,,,,电话,紧急,已关闭,中文\u3000",
        "T9,2025-03-01 09:00,,,,N/A,-,null,null words",
    ],
    "quoted and crlf": [
        HEADER,
        'T1,2025-03-01 09:00,,,,phone,high,open,"a, b"',
        'T2,2025-03-01 09:00,,,,phone,high,open,"line one\r\nline two"',
        'T3,2025-03-01 09:00,,,,phone,high,open,"say ""hi"""',
        'T4,2025-03-01 09:00,,,,phone,high,open,""',
        'T5,2025-03-01 09:00,,,,phone,high,open,ab"c',
    ],
    "malformed rows": [
        HEADER,
        "T1,2025-03-01 09:00,,,,phone,high,open,ok",
        "T2,2025-03-01 09:00,,,,phone,high,open,ok,one too many",
        "T3,2025-03-01 09:00,,,,phone",
        "T4,2025-03-01 09:00,,,,phone,high,open,ok",
    ],
    "space beside quotes": [
        HEADER,
        'T1,2025-03-01 09:00,,,,phone,high,open, "quoted after a space"',
        'T2,2025-03-01 09:00,,,,phone,high,open,"quoted" ',
    ],
    "blank lines": [
        HEADER,
        "",
        "T1,2025-03-01 09:00,,,,phone,high,open,ok",
        "",
        "T2,2025-03-01 09:00,,,,phone,high,open,ok",
    ],
}


@pytest.mark.parametrize("name", list(TRICKY))
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", [False, True])
def test_direct_read_stores_what_the_csv_reader_stores(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    direct_calls: list[str],
    name: str,
    line_end: str,
    bom: bool,
) -> None:
    f = tmp_path / "t.csv"
    text = line_end.join(TRICKY[name]) + line_end
    f.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode())
    fast, slow, a, b = _load_both_ways(tmp_path, monkeypatch, [f, f])
    with fast, slow:
        _same_results(a, b)
        assert _stored(fast, "case", "case_id") == _stored(slow, "case", "case_id")
        assert _stored(fast, "case_event", "event_id") == _stored(slow, "case_event", "event_id")
        assert _quarantined(fast) == _quarantined(slow)
    if name in ("plain", "quoted and crlf", "blank lines"):
        assert direct_calls[:2] == ["direct", "direct"]  # both loads took the fast path
    elif name == "malformed rows":
        assert direct_calls[:2] == ["direct", "fallback"]
    else:
        assert direct_calls == []  # not offered: DuckDB would drop the spaces


def test_updates_and_new_rows_against_stored_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = tmp_path / "v1.csv"
    v1.write_text(
        "\n".join(
            [
                HEADER,
                "T1,2025-03-01 09:00,,,2025-03-01 09:00,phone,high,open,first",
                "T2,2025-03-01 09:00,,,2025-03-01 09:00,phone,high,open,first",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    v2 = tmp_path / "v2.csv"
    v2.write_text(
        "\n".join(
            [
                HEADER,
                "T1,2025-03-01 09:00,,,2025-03-01 09:00,phone,high,open,first",  # the same
                "T2,2025-03-01 09:00,2025-03-02 09:00,,2025-03-02 09:00,phone,high,solved,again",
                "T3,2025-03-01 09:00,,,2025-03-01 09:00,phone,high,open,new",
                "T3,2025-03-01 09:00,,2025-03-03 09:00,2025-03-03 09:00,phone,high,closed,newer",
                "T3,2025-03-01 09:00,,,2025-03-02 09:00,phone,high,open,older later in file",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    fast, slow, a, b = _load_both_ways(tmp_path, monkeypatch, [v1, v2])
    with fast, slow:
        _same_results(a, b)
        assert (a[1]["loaded"], a[1]["updated"], a[1]["duplicates"]) == (1, 1, 3)
        assert a[1]["derived"]["case_event"]["loaded"] == 3  # T2 solved, T3 created and closed
        assert _stored(fast, "case", "case_id") == _stored(slow, "case", "case_id")
        assert _stored(fast, "case_event", "event_id") == _stored(slow, "case_event", "event_id")
        t3 = fast.read("case", case_id="T3").iloc[0]
        assert t3.subject == "newer"


def test_rows_keep_their_file_numbers_in_a_large_file(
    ws: servq.Workspace, tmp_path: Path, direct_calls: list[str]
) -> None:
    rng = random.Random(5)
    bad = set(rng.sample(range(1, 300_001), 40))
    lines = [HEADER]
    for i in range(1, 300_001):
        created = "not a time" if i in bad else "2025-03-01 09:00"
        lines.append(f"T{i},{created},,,,phone,high,open,row {i}")
    f = tmp_path / "big.csv"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = ws.ingest(f, "tickets")
    assert direct_calls == ["direct"]
    assert (r.read, r.loaded, r.quarantined) == (300_000, 300_000 - 40, 40)
    q = ws.quarantine(r.batch_id)
    assert sorted(q.row_number) == sorted(bad)
    for number, raw in zip(q.row_number, q.raw, strict=True):
        assert f'"T{number}"' in str(raw)


def test_scan_is_offered_only_where_duckdb_reads_alike(tmp_path: Path) -> None:
    def scan(data: bytes, name: str = "t.csv", **options: Any) -> bool:
        path = tmp_path / name
        path.write_bytes(data)
        return CsvReader().scan(path, ReadOptions(**options), ReadStats()) is not None

    assert scan(b"a,b\n1,2\n")
    assert scan(b'a,b\n1,"x, y"\n')
    assert scan(b"a;b\n1;2\n")
    assert not scan(b"a\n1\n\n2\n")  # one column: DuckDB keeps the blank line
    assert not scan(b'a,b\n1, "x"\n')  # DuckDB drops a space before a quote
    assert not scan(b'a,b\n1,"x" \n')  # and after one
    assert not scan("a,b\n张,三\n".encode("gbk"))  # not UTF-8
    assert not scan(b"title\na,b\n1,2\n", header_row=2)
    assert not scan(b"a,b\n1,2\n", name="t[1].csv")  # DuckDB would take it for a pattern


def test_the_file_hash_is_recorded(ws: servq.Workspace, tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text(HEADER + "\nT1,2025-03-01 09:00,,,,phone,high,open,x\n", encoding="utf-8")
    r = ws.ingest(f, "tickets")
    stored = ws.warehouse.con.execute(
        "SELECT file_sha256 FROM ingest_batch WHERE batch_id = ?", [r.batch_id]
    ).fetchall()
    assert stored == [(hashlib.sha256(f.read_bytes()).hexdigest(),)]


def test_duckdb_settings_are_restored(ws: servq.Workspace, tmp_path: Path) -> None:
    con = ws.warehouse.con

    def optimistic() -> Any:
        return con.execute("SELECT current_setting('enable_optimistic_write')").fetchall()[0][0]

    f = tmp_path / "t.csv"
    f.write_text(HEADER + "\nT1,2025-03-01 09:00,,,,phone,high,open,x\n", encoding="utf-8")
    ws.ingest(f, "tickets")
    assert optimistic() is True
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(servq.SourceError):
        ws.ingest(wrong, "tickets")
    assert optimistic() is True


OFFSET_SAMPLES = [
    "2025-03-01 09:00:00",
    "2025-03-01 09:00:00Z",
    "2025-03-01T09:00:00z",
    "2025-03-01 09:00:00+08:00",
    "2025-03-01 09:00:00-0500",
    "2025-03-01 09:00:00+08",
    "2025-03-01",
    "+1234",
    "-12:34",
    "x+é:00",
    "a\n+12:34",
    "Z",
    "",
]


def test_the_offset_expression_matches_the_like_patterns() -> None:
    con = duckdb.connect()
    for s in OFFSET_SAMPLES:
        likes = " OR ".join(f"$1 LIKE '{p}'" for p in _OFFSET_LIKE)
        row = con.execute(f"SELECT regexp_matches($1, '{_OFFSET_RE}'), {likes}", [s]).fetchall()
        assert row[0][0] == row[0][1], s


def test_the_trim_shortcut_matches_trim() -> None:
    con = duckdb.connect()
    samples = ["", "a", " a", "a ", " a ", "\ta\t", "a b", "中文", " 中文", "中文 ", None]
    samples += [chr(c) + "x" for c in _TRIMMED] + ["x" + chr(c) for c in _TRIMMED]
    samples += [chr(0x200B) + "x", "x" + chr(0x85), "é "]
    for s in samples:
        row = con.execute(f"SELECT {_trim('$1')}, trim($1)", [s]).fetchall()
        assert row[0][0] == row[0][1], repr(s)
