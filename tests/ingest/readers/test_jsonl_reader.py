"""JsonReader: JSON arrays, wrapped arrays and JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from servq.errors import SourceError
from servq.ingest.readers.base import ROW_COLUMN, ReadOptions, ReadStats
from servq.ingest.readers.jsonl import JsonReader

RECORDS = [
    {"id": "T1", "vip": True, "score": 4.5, "count": 3, "tags": ["a", "b"], "who": {"n": "Zoë"}},
    {"id": "T2", "vip": False, "score": None, "extra": "only here"},
]
EXPECTED = [
    {
        "id": "T1", "vip": "true", "score": "4.5", "count": "3", "tags": '["a","b"]',
        "who": '{"n":"Zoë"}', "extra": None, ROW_COLUMN: 1,
    },
    {
        "id": "T2", "vip": "false", "score": None, "count": None, "tags": None, "who": None,
        "extra": "only here", ROW_COLUMN: 2,
    },
]  # fmt: skip


def read(path: Path, **options: object) -> tuple[pa.Table, ReadStats, int]:
    stats = ReadStats()
    batches = list(JsonReader().read(path, ReadOptions(**options), stats))  # type: ignore[arg-type]
    for b in batches:
        assert b.schema.field(ROW_COLUMN).type == pa.int64()
        assert all(f.type == pa.string() for f in b.schema if f.name != ROW_COLUMN)
    tables = [pa.Table.from_batches([b]) for b in batches]
    return pa.concat_tables(tables, promote_options="default"), stats, len(batches)


def test_array_of_objects(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(RECORDS, ensure_ascii=False), encoding="utf-8")
    table, stats, _ = read(path)
    assert table.to_pylist() == EXPECTED
    assert (stats.format, stats.encoding, stats.rejected) == ("json", "utf-8", [])
    assert stats.bytes_read == stats.bytes_total


def test_object_with_one_array_member(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"total": 2, "data": RECORDS, "next": None}), encoding="utf-8")
    table, _, _ = read(path)
    assert table.to_pylist() == EXPECTED


def test_array_items_that_are_not_objects_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('[{"id": "T1"}, 5, ["x"], {"id": "T4"}]', encoding="utf-8")
    table, stats, _ = read(path)
    assert table.to_pylist() == [{"id": "T1", ROW_COLUMN: 1}, {"id": "T4", ROW_COLUMN: 4}]
    assert [(r.row, r.reason, r.detail, r.raw) for r in stats.rejected] == [
        (2, "malformed_json", "array item 2 is a JSON number, not an object", "5"),
        (3, "malformed_json", "array item 3 is a JSON array, not an object", '["x"]'),
    ]


def test_json_lines_with_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    lines = [
        json.dumps(RECORDS[0], ensure_ascii=False),
        "",  # a blank line: skipped, still counted
        '{"id": "T3", "broken": ',
        '"just a string"',
        json.dumps(RECORDS[1]),
    ]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    table, stats, _ = read(path)
    assert table.to_pylist() == [EXPECTED[0], {**EXPECTED[1], ROW_COLUMN: 5}]
    assert [(r.row, r.reason, r.detail, r.raw) for r in stats.rejected] == [
        (
            3,
            "malformed_json",
            "line 3 is not valid JSON: Expecting value at column 24",
            '{"id": "T3", "broken": ',
        ),
        (4, "malformed_json", "line 4 is a JSON string, not an object", '"just a string"'),
    ]
    assert stats.bytes_read == stats.bytes_total


def test_json_lines_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "t.ndjson"
    path.write_text("".join(f'{{"n": {i}}}\n' for i in range(1, 2501)), encoding="utf-8")
    table, _, batches = read(path, batch_rows=1000)
    assert batches == 3
    assert table.column("n").to_pylist() == [str(i) for i in range(1, 2501)]
    assert table.column(ROW_COLUMN).to_pylist() == list(range(1, 2501))


def test_json_lines_with_bom_and_undecodable_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "T1"}\n{"id": "\xff"}\n{"id": "T3"}\n')
    table, stats, _ = read(path)
    assert table.to_pylist() == [{"id": "T1", ROW_COLUMN: 1}, {"id": "T3", ROW_COLUMN: 3}]
    [bad] = stats.rejected
    assert (bad.row, bad.reason, bad.raw) == (2, "malformed_json", '{"id": "\ufffd"}')
    assert bad.detail == "line 2 is not valid utf-8-sig (byte 9 of the line)"
    assert stats.encoding == "utf-8-sig"


def test_a_json_file_holding_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text('{"id": "T1"}\n{"id": "T2"}\n', encoding="utf-8")
    table, _, _ = read(path)
    assert table.to_pylist() == [{"id": "T1", ROW_COLUMN: 1}, {"id": "T2", ROW_COLUMN: 2}]


def test_member_names_that_need_care(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('[{"Name": "a", "name": "b", "_row": "c", "": "d"}]', encoding="utf-8")
    table, _, _ = read(path)
    assert table.to_pylist() == [
        {"Name": "a", "name_2": "b", "_row_2": "c", "col_4": "d", ROW_COLUMN: 1}
    ]


def test_empty_array(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"data": []}', encoding="utf-8")
    table, stats, batches = read(path)
    assert (table.num_rows, batches, stats.rejected) == (0, 1, [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"id": 1}, ', "not valid JSON: Expecting value at line 1, column 13"),
        ('"hello"', "expected an array of objects; found a JSON string"),
        ('{"a": [{"x": 1}], "b": [{"y": 2}]}', r"several arrays of objects \(a, b\)"),
        ('{"a": 1, "b": "x"}', "found an object with members: a, b"),
    ],
)
def test_json_that_is_not_a_table(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError, match=message):
        JsonReader().read(path, ReadOptions(), ReadStats())  # raised before any batch


def test_json_lines_without_a_single_object(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"id,name\nT1,Ana\n")
    stats = ReadStats()
    with pytest.raises(SourceError, match="not JSON Lines: none of the first 2 lines"):
        list(JsonReader().read(path, ReadOptions(), stats))
    assert stats.rejected == []  # nothing half-reported


def test_empty_and_blank_files(tmp_path: Path) -> None:
    empty = tmp_path / "e.json"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        read(empty)
    blank = tmp_path / "b.jsonl"
    blank.write_bytes(b"\n\n")
    with pytest.raises(SourceError, match="no data"):
        read(blank)
