"""CsvReader: real exports (checked against the standard library's csv) and generated edge cases."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pyarrow as pa
import pytest

from servq.errors import SourceError
from servq.ingest.readers.base import ROW_COLUMN, ReadOptions, ReadStats
from servq.ingest.readers.csv import CsvReader, unique_column_names

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
HEADER = "ticket_id,created_at,closed_at,channel,priority,status,team,subject"


def real(relative: str) -> Path:
    path = DATA / relative
    if not path.is_file():
        pytest.skip(f"real data set not found at {path}")
    return path


def read(path: Path, **options: object) -> tuple[pa.Table, ReadStats]:
    stats = ReadStats()
    batches = list(CsvReader().read(path, ReadOptions(**options), stats))  # type: ignore[arg-type]
    assert batches, "a reader yields at least one (possibly empty) batch"
    for b in batches:
        assert b.schema.field(ROW_COLUMN).type == pa.int64()
        assert all(f.type == pa.string() for f in b.schema if f.name != ROW_COLUMN)
    return pa.Table.from_batches(batches), stats


def rows(table: pa.Table) -> list[dict[str, object]]:
    return table.to_pylist()  # type: ignore[no-any-return]


def stdlib_rows(path: Path, delimiter: str, newline: str | None = "") -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline=newline) as f:
        return list(csv.DictReader(f, delimiter=delimiter))


# --- real data -----------------------------------------------------------------------------------


def test_nyc311_matches_the_standard_library() -> None:
    path = real("nyc311-2011-sample/311_subset.micro.csv")
    table, stats = read(path)
    expected = stdlib_rows(path, ",")
    assert table.num_rows == len(expected) == 2000
    assert table.num_columns == 41 + 1
    assert (stats.format, stats.encoding, stats.delimiter) == ("csv", "utf-8", ",")
    assert stats.rejected == []
    assert stats.bytes_read == stats.bytes_total == path.stat().st_size
    got = rows(table)
    assert [r.pop(ROW_COLUMN) for r in got] == list(range(1, 2001))
    assert got == expected
    first = got[0]
    assert first["Unique Key"] == "19937896"
    assert first["Created Date"] == "03/01/2011 02:27:57 PM"
    assert first["Incident Address"] == ""  # empty stays empty text, not null
    assert first["Location"] == ""
    assert got[1]["Location"] == "(40.660811976282695, -73.99859430999363)"


def test_anonymous_bank_tsv_with_crlf() -> None:
    path = real("callcenter-anonymous-bank-week1/calls_1999-02-01_07.tsv")
    assert b"\r\n" in path.read_bytes()[:400]
    table, stats = read(path)
    assert table.num_rows == 9007
    assert stats.delimiter == "\t"
    assert table.column_names[:3] == ["vru+line", "call_id", "customer_id"]
    assert table.column_names[-2:] == ["server", ROW_COLUMN]
    got = rows(table)
    assert got[0] == {
        "vru+line": "AA0101", "call_id": "34536", "customer_id": "0", "priority": "0",
        "type": "PS", "date": "990201", "vru_entry": "7:02:47", "vru_exit": "7:02:56",
        "vru_time": "9", "q_start": "0:00:00", "q_exit": "0:00:00", "q_time": "0",
        "outcome": "AGENT", "ser_start": "7:02:55", "ser_exit": "7:05:41", "ser_time": "166",
        "server": "DORIT", ROW_COLUMN: 1,
    }  # fmt: skip
    for r in got:
        r.pop(ROW_COLUMN)
    # no "\r" may survive at the end of the last field
    assert got == stdlib_rows(path, "\t")


def test_anonymous_bank_delimiter_is_sniffed_without_the_tsv_suffix(tmp_path: Path) -> None:
    source = real("callcenter-anonymous-bank-week1/calls_1999-02-01_07.tsv")
    renamed = tmp_path / "calls.txt"
    renamed.write_bytes(source.read_bytes())
    table, stats = read(renamed)
    assert (table.num_rows, stats.delimiter) == (9007, "\t")


def test_shifts_with_bare_cr_line_ends() -> None:
    path = real("callcenter-anonymous-bank-week1/shifts.csv")
    raw = path.read_bytes()
    assert b"\r" in raw and b"\n" not in raw
    table, stats = read(path)
    assert (table.num_rows, stats.delimiter, stats.rejected) == (24, ",", [])
    assert table.column_names == [
        "Hour", "StartTime", *(f"Shift{i}" for i in range(1, 9)), ROW_COLUMN
    ]  # fmt: skip
    got = rows(table)
    assert got[0] == {
        "Hour": "1", "StartTime": "Midnight", "Shift1": "1",
        **{f"Shift{i}": "0" for i in range(2, 9)}, ROW_COLUMN: 1,
    }  # fmt: skip
    assert got[-1]["Hour"] == "24" and got[-1][ROW_COLUMN] == 24
    for r in got:
        r.pop(ROW_COLUMN)
    assert got == stdlib_rows(path, ",")


# --- encodings -----------------------------------------------------------------------------------


def test_gbk_chinese_export(tmp_path: Path) -> None:
    path = tmp_path / "工单.csv"
    path.write_bytes(
        "工单号,客户,问题描述\r\nT1,张三,打印机坏了，无法打印\r\nT2,李四,退款\r\n".encode("gbk")
    )
    table, stats = read(path)
    assert stats.encoding == "gb18030"
    assert rows(table) == [
        {"工单号": "T1", "客户": "张三", "问题描述": "打印机坏了，无法打印", ROW_COLUMN: 1},
        {"工单号": "T2", "客户": "李四", "问题描述": "退款", ROW_COLUMN: 2},
    ]


def test_gb18030_characters_outside_gbk(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    # 𠀀 (U+20000) needs a four-byte GB18030 sequence and is not in GBK at all
    path.write_bytes("姓名,备注\n𠀀先生,€5 退款\n".encode("gb18030"))
    table, stats = read(path)
    assert stats.encoding == "gb18030"
    assert rows(table) == [{"姓名": "𠀀先生", "备注": "€5 退款", ROW_COLUMN: 1}]


def test_gbk_text_that_starts_far_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    ascii_rows = "".join(f"T{i},ok\n" for i in range(200_000))  # about 2 MB of pure ASCII
    path.write_bytes(("id,note\n" + ascii_rows + "T-last,中文备注\n").encode("gbk"))
    assert path.stat().st_size > 1 << 20  # beyond the sample the start of the file gives
    table, stats = read(path)
    assert stats.encoding == "gb18030"
    assert table.num_rows == 200_001
    assert rows(table.slice(200_000))[0] == {
        "id": "T-last",
        "note": "中文备注",
        ROW_COLUMN: 200_001,
    }


def test_utf8_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffid,name\n1,Zoë\n".encode())
    table, stats = read(path)
    assert stats.encoding == "utf-8-sig"
    assert rows(table) == [{"id": "1", "name": "Zoë", ROW_COLUMN: 1}]


def test_utf16_tab_separated_excel_text_export(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_bytes("id\tname\r\n1\t张三\r\n2\tZoë\r\n".encode("utf-16"))
    table, stats = read(path)
    assert (stats.encoding, stats.delimiter) == ("utf-16", "\t")
    assert rows(table) == [
        {"id": "1", "name": "张三", ROW_COLUMN: 1},
        {"id": "2", "name": "Zoë", ROW_COLUMN: 2},
    ]


def test_western_single_byte_text_is_not_taken_for_gbk(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("name,city\nRené,Zürich\nJosé,München\nFrançois,Besançon\n".encode("cp1252"))
    table, stats = read(path)
    assert stats.encoding != "gb18030"
    assert [r["city"] for r in rows(table)] == ["Zürich", "München", "Besançon"]


def test_encoding_from_the_options(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("a,b\n张,三\n".encode("gbk"))
    table, stats = read(path, encoding="GBK")
    assert stats.encoding == "gbk"
    assert rows(table) == [{"a": "张", "b": "三", ROW_COLUMN: 1}]
    with pytest.raises(SourceError, match="unknown encoding 'klingon'"):
        read(path, encoding="klingon")


def test_wrong_encoding_in_the_options_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("a,b\n张,三\n".encode("gbk"))
    with pytest.raises(SourceError, match="cannot be decoded as utf-8"):
        read(path, encoding="utf-8")


def test_undecodable_text_after_a_good_start_fails_mid_stream(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    good = "".join(f"T{i},备注\n" for i in range(150_000)).encode()  # UTF-8, > 1 MiB
    path.write_bytes(b"id,note\n" + good + "T-x,中文\n".encode("gbk"))
    stats = ReadStats()
    with pytest.raises(SourceError, match="cannot be decoded as utf-8"):
        list(CsvReader().read(path, ReadOptions(), stats))


# --- delimiters, headers, line ends --------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "|", "\t", ","])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "t.csv"
    lines = [["id", "amount", "note"], ["1", "1,5", "a;b|c"], ["2", "2,25", "x"]]
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=delimiter).writerows(lines)
    table, stats = read(path)
    assert stats.delimiter == delimiter
    assert rows(table) == [
        {"id": "1", "amount": "1,5", "note": "a;b|c", ROW_COLUMN: 1},
        {"id": "2", "amount": "2,25", "note": "x", ROW_COLUMN: 2},
    ]


def test_semicolon_export_with_decimal_commas(tmp_path: Path) -> None:
    path = tmp_path / "de.csv"
    path.write_bytes(b"Nr;Betrag;Datum\n1;12,50;01.02.2024\n2;3,00;02.02.2024\n")
    table, stats = read(path)
    assert stats.delimiter == ";"
    assert rows(table)[0] == {"Nr": "1", "Betrag": "12,50", "Datum": "01.02.2024", ROW_COLUMN: 1}


def test_delimiter_from_the_options(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"a|b\n1|2\n")
    table, stats = read(path, delimiter="|")
    assert stats.delimiter == "|"
    assert rows(table) == [{"a": "1", "b": "2", ROW_COLUMN: 1}]


def test_quoted_values_spanning_lines_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,text\r\n1,"line one\r\nline two"\r\n2,"say ""hi"""\r\n3,plain\r\n')
    table, _ = read(path)
    assert rows(table) == [
        {"id": "1", "text": "line one\r\nline two", ROW_COLUMN: 1},
        {"id": "2", "text": 'say "hi"', ROW_COLUMN: 2},
        {"id": "3", "text": "plain", ROW_COLUMN: 3},
    ]


def test_bare_cr_file_larger_than_one_parse_block(tmp_path: Path) -> None:
    path = tmp_path / "cr.csv"
    body = "".join(f'{i},name {i},"a\rb"\r' for i in range(120_000))
    path.write_bytes(("id,name,note\r" + body).encode())
    assert path.stat().st_size > 2 * (1 << 20)
    table, stats = read(path, batch_rows=10_000)
    assert table.num_rows == 120_000
    assert stats.rejected == []
    assert table.column("id").to_pylist() == [str(i) for i in range(120_000)]
    assert table.column(ROW_COLUMN).to_pylist() == list(range(1, 120_001))
    assert rows(table.slice(119_999))[0] == {
        "id": "119999", "name": "name 119999", "note": "a\rb", ROW_COLUMN: 120_000
    }  # fmt: skip


def test_duplicate_and_empty_header_names() -> None:
    assert unique_column_names(["id", "", "id", "ID", "_row", " name ", None, "id_2"]) == [
        "id", "col_2", "id_3", "ID_4", "_row_2", "name", "col_7", "id_2"
    ]  # fmt: skip


def test_duplicate_header_names_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,,Name,name,_row\n1,2,3,4,5\n")
    table, _ = read(path)
    assert rows(table) == [
        {"id": "1", "col_2": "2", "Name": "3", "name_2": "4", "_row_2": "5", ROW_COLUMN: 1}
    ]


def test_header_on_a_later_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"Report: tickets\n\nid,status\nT1,open\nT2,closed\n")
    table, _ = read(path, header_row=3)
    assert rows(table) == [
        {"id": "T1", "status": "open", ROW_COLUMN: 1},
        {"id": "T2", "status": "closed", ROW_COLUMN: 2},
    ]


def test_no_header_row(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"T1,open\nT2,closed\n")
    table, _ = read(path, header_row=0)
    assert rows(table) == [
        {"col_1": "T1", "col_2": "open", ROW_COLUMN: 1},
        {"col_1": "T2", "col_2": "closed", ROW_COLUMN: 2},
    ]


def test_header_only_gives_an_empty_batch_with_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,status\n")
    table, stats = read(path)
    assert table.num_rows == 0
    assert table.column_names == ["id", "status", ROW_COLUMN]
    assert stats.rejected == []


# --- broken rows ---------------------------------------------------------------------------------


def test_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(
        (
            HEADER
            + "\nT1,2025-03-01 09:00,2025-03-01 10:00,phone,high,closed,A,ok"
            + "\nT2,2025-03-01 09:00,,email,low,open,B,fine"
            + "\nT3,2025-03-01 09:"
        ).encode()
    )
    table, stats = read(path)
    assert table.column("ticket_id").to_pylist() == ["T1", "T2"]
    assert table.column(ROW_COLUMN).to_pylist() == [1, 2]
    assert rows(table)[1]["closed_at"] == ""
    [bad] = stats.rejected
    assert (bad.row, bad.reason, bad.raw) == (3, "malformed_row", "T3,2025-03-01 09:")
    assert bad.detail.startswith("expected 8 fields, found 2")
    assert "ends in the middle of this line" in bad.detail


def test_rows_with_too_many_or_too_few_fields(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b'a,b,c\n1,2,3\n4,5,6,7\n"x\ny",8,9\n10,11\n12,13,14\n')
    table, stats = read(path)
    assert rows(table) == [
        {"a": "1", "b": "2", "c": "3", ROW_COLUMN: 1},
        {"a": "x\ny", "b": "8", "c": "9", ROW_COLUMN: 3},
        {"a": "12", "b": "13", "c": "14", ROW_COLUMN: 5},
    ]
    assert [(r.row, r.reason, r.detail, r.raw) for r in stats.rejected] == [
        (2, "malformed_row", "expected 3 fields, found 4", "4,5,6,7"),
        (4, "malformed_row", "expected 3 fields, found 2", "10,11"),
    ]


def test_row_numbers_stay_true_across_batches(tmp_path: Path) -> None:
    rng = random.Random(7)
    bad = set(rng.sample(range(1, 50_001), 300))
    lines = ["id,v"] + [f"{i},x,extra" if i in bad else f"{i},x" for i in range(1, 50_001)]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stats = ReadStats()
    progress = []
    batches = []
    for b in CsvReader().read(path, ReadOptions(batch_rows=1000), stats):
        batches.append(b)
        progress.append(stats.bytes_read)
    table = pa.Table.from_batches(batches)
    assert max(b.num_rows for b in batches) <= 1000
    good = [i for i in range(1, 50_001) if i not in bad]
    assert table.column(ROW_COLUMN).to_pylist() == good
    assert table.column("id").to_pylist() == [str(i) for i in good]
    assert sorted(r.row for r in stats.rejected) == sorted(bad)
    assert all(r.raw == f"{r.row},x,extra" for r in stats.rejected)
    assert progress == sorted(progress)
    assert stats.bytes_read == stats.bytes_total


# --- files that cannot be read -------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        read(tmp_path / "nope.csv")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        read(path)


def test_only_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_bytes(b"\n\r\n  \n")
    with pytest.raises(SourceError, match="no data"):
        read(path)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(random.Random(1).randbytes(20_000))
    with pytest.raises(SourceError) as e:
        CsvReader().read(path, ReadOptions(), ReadStats())  # raised before any batch is asked for
    assert "binary" in e.value.message or "control characters" in e.value.message


def test_a_workbook_renamed_to_csv(tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(SourceError, match=r"zip archive \(an \.xlsx workbook\?\)"):
        read(path)


@pytest.mark.parametrize("spelled", ["\t", "\\t", "TAB"])
def test_tab_delimiter_spellings(tmp_path: Path, spelled: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"a\tb,c\n1\t2,3\n")
    table, stats = read(path, delimiter=spelled)
    assert stats.delimiter == "\t"
    assert rows(table) == [{"a": "1", "b,c": "2,3", ROW_COLUMN: 1}]
