"""XesReader: the two real event logs, a hand-written log, and broken files."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pytest

from servq.errors import SourceError
from servq.ingest.readers.base import ROW_COLUMN, ReadOptions, ReadStats
from servq.ingest.readers.xes import XesReader

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
HELPDESK = "helpdesk-italian-xes/helpdesk.xes.gz"
PERMIT = "wabo-receipt-permit-xes/08_receipt.xes.gz"


def real(relative: str) -> Path:
    path = DATA / relative
    if not path.is_file():
        pytest.skip(f"real data set not found at {path}")
    return path


def read(path: Path, **options: object) -> tuple[pa.Table, ReadStats, int]:
    stats = ReadStats()
    batches = list(XesReader().read(path, ReadOptions(**options), stats))  # type: ignore[arg-type]
    for b in batches:
        assert b.schema.field(ROW_COLUMN).type == pa.int64()
        assert all(f.type == pa.string() for f in b.schema if f.name != ROW_COLUMN)
    tables = [pa.Table.from_batches([b]) for b in batches]
    return pa.concat_tables(tables, promote_options="default"), stats, len(batches)


def independent_count(path: Path) -> tuple[int, int]:
    """Events and traces counted from the raw text: these logs write bare <event> and <trace>."""
    text = gzip.decompress(path.read_bytes())
    return text.count(b"<event>"), text.count(b"<trace>")


def test_helpdesk_log() -> None:
    path = real(HELPDESK)
    table, stats, _ = read(path)
    assert (table.num_rows, len(set(table.column("case:concept:name").to_pylist()))) == (
        21_348,
        4_580,
    )
    assert independent_count(path) == (21_348, 4_580)
    assert table.column(ROW_COLUMN).to_pylist() == list(range(1, 21_349))
    assert set(table.column_names) == {
        "case:concept:name", "concept:name", "org:resource", "time:timestamp", "seriousness",
        "customer", "product", "responsible_section", "seriousness_2", "service_level",
        "service_type", "support_section", "workgroup", ROW_COLUMN,
    }  # fmt: skip
    assert table.slice(0, 2).to_pylist() == [
        {
            "concept:name": "Assign seriousness", "org:resource": "Value 1",
            "time:timestamp": "2012-10-09T14:50:17+00:00", "seriousness": "Value 1",
            "customer": "Value 1", "product": "Value 1", "responsible_section": "Value 1",
            "seriousness_2": "Value 1", "service_level": "Value 1", "service_type": "Value 1",
            "support_section": "Value 1", "workgroup": "Value 1", "case:concept:name": "Case 1",
            ROW_COLUMN: 1,
        },
        {
            "concept:name": "Take in charge ticket", "org:resource": "Value 1",
            "time:timestamp": "2012-10-09T14:51:01+00:00", "seriousness": "Value 1",
            "customer": "Value 1", "product": "Value 1", "responsible_section": "Value 1",
            "seriousness_2": "Value 1", "service_level": "Value 1", "service_type": "Value 1",
            "support_section": "Value 1", "workgroup": "Value 1", "case:concept:name": "Case 1",
            ROW_COLUMN: 2,
        },
    ]  # fmt: skip
    assert (stats.format, stats.bytes_read, stats.rejected) == ("xes", path.stat().st_size, [])


def test_permit_log_with_globals_classifiers_and_log_attributes() -> None:
    path = real(PERMIT)
    table, _, _ = read(path)
    assert table.num_rows == 8_577
    assert len(set(table.column("case:concept:name").to_pylist())) == 1_434
    assert independent_count(path) == (8_577, 1_434)
    # <global> defaults, classifiers and log-level meta attributes are not rows or columns
    assert set(table.column_names) == {
        "org:group", "concept:instance", "org:resource", "concept:name", "time:timestamp",
        "lifecycle:transition", "case:startdate", "case:responsible", "case:enddate_planned",
        "case:department", "case:group", "case:concept:name", "case:deadline", "case:channel",
        "case:enddate", ROW_COLUMN,
    }  # fmt: skip
    first = table.slice(0, 1).to_pylist()[0]
    assert first == {
        "org:group": "Group 1", "concept:instance": "task-42933", "org:resource": "Resource21",
        "concept:name": "Confirmation of receipt",
        "time:timestamp": "2011-10-11T13:45:40.276+02:00", "lifecycle:transition": "complete",
        "case:startdate": "2011-10-11T13:42:22.688+02:00",
        "case:responsible": "Resource21", "case:enddate_planned": "2011-12-06T13:41:31.788+01:00",
        "case:department": "General", "case:group": "Group 2", "case:concept:name": "case-10011",
        "case:deadline": "2011-12-06T13:41:31.788+01:00", "case:channel": "Internet",
        "case:enddate": None, ROW_COLUMN: 1,
    }  # fmt: skip


def test_small_batches_keep_row_numbers_and_report_progress() -> None:
    path = real(HELPDESK)
    stats = ReadStats()
    progress = []
    numbers: list[int] = []
    sizes = []
    for b in XesReader().read(path, ReadOptions(batch_rows=1000), stats):
        progress.append(stats.bytes_read)
        numbers.extend(b.column(ROW_COLUMN).to_pylist())
        sizes.append(b.num_rows)
    assert numbers == list(range(1, 21_349))
    assert len(sizes) > 20 and max(sizes) <= 1000
    assert progress == sorted(progress) and 0 < progress[0] < stats.bytes_total


LOG = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="2.0">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <global scope="event"><string key="concept:name" value="UNKNOWN"/></global>
  <classifier name="Activity" keys="concept:name"/>
  <string key="source" value="log level, ignored"/>
  <trace>
    <string key="concept:name" value="C1"/>
    <event>
      <string key="concept:name" value="Open"/>
      <date key="time:timestamp" value="2024-01-02T03:04:05.000+01:00"/>
      <string key="org:resource" value="Ana">
        <string key="meta" value="a meta-attribute, dropped"/>
      </string>
      <int key="priority" value="2"/>
      <boolean key="vip" value="true"/>
      <list key="tags">
        <values><string key="tag" value="printer"/><string key="tag" value="urgent"/></values>
      </list>
      <container key="customer">
        <string key="name" value="Zoë"/><float key="score" value="4.5"/>
      </container>
    </event>
    <event>
      <string key="concept:name" value="Close"/>
      <string key="lifecycle:transition" value="complete"/>
    </event>
    <string key="channel" value="phone"/>
  </trace>
  <trace>
    <event><string key="concept:name" value="Orphan"/></event>
  </trace>
</log>
"""


def test_a_small_log_flattened_exactly(tmp_path: Path) -> None:
    path = tmp_path / "small.xes"
    path.write_text(LOG, encoding="utf-8")
    table, _, _ = read(path)
    assert table.to_pylist() == [
        {
            "concept:name": "Open", "time:timestamp": "2024-01-02T03:04:05.000+01:00",
            "org:resource": "Ana", "priority": "2", "vip": "true",
            "tags": '["printer","urgent"]', "customer": '{"name":"Zoë","score":"4.5"}',
            # a trace attribute written after the events still reaches them
            "case:concept:name": "C1", "case:channel": "phone", "lifecycle:transition": None,
            ROW_COLUMN: 1,
        },
        {
            "concept:name": "Close", "time:timestamp": None, "org:resource": None,
            "priority": None, "vip": None, "tags": None, "customer": None,
            "case:concept:name": "C1", "case:channel": "phone", "lifecycle:transition": "complete",
            ROW_COLUMN: 2,
        },
        {
            "concept:name": "Orphan", "time:timestamp": None, "org:resource": None,
            "priority": None, "vip": None, "tags": None, "customer": None,
            "case:concept:name": None, "case:channel": None, "lifecycle:transition": None,
            ROW_COLUMN: 3,
        },
    ]  # fmt: skip


def test_nested_values_of_older_writers(tmp_path: Path) -> None:
    path = tmp_path / "nested.xes"
    path.write_text(
        '<log><trace><string key="concept:name" value="C1"/>'
        '<list key="owners"><string key="o" value="Ana"/><string key="o" value="Bo"/></list>'
        '<event><string key="concept:name" value="Open"/>'
        '<container key="geo"><float key="lat" value="52.1"/>'
        '<list key="ids"><values><int key="i" value="1"/><int key="i" value="2"/></values></list>'
        "</container></event></trace></log>",
        encoding="utf-8",
    )
    table, _, _ = read(path)
    assert table.to_pylist() == [
        {
            "concept:name": "Open", "geo": '{"lat":"52.1","ids":["1","2"]}',
            "case:concept:name": "C1", "case:owners": '["Ana","Bo"]', ROW_COLUMN: 1,
        }
    ]  # fmt: skip


def test_namespaced_and_gzipped_with_any_suffix(tmp_path: Path) -> None:
    namespaced = LOG.replace(
        '<log xes.version="2.0">', '<log xmlns="http://www.xes-standard.org/">'
    )
    path = tmp_path / "log.xes"  # gzip content under a plain .xes name
    path.write_bytes(gzip.compress(namespaced.encode()))
    table, _, _ = read(path)
    assert table.column("concept:name").to_pylist() == ["Open", "Close", "Orphan"]
    assert table.column("tags").to_pylist() == ['["printer","urgent"]', None, None]


def test_a_log_without_events(tmp_path: Path) -> None:
    path = tmp_path / "empty-log.xes"
    path.write_text('<log><string key="x" value="y"/><trace/></log>', encoding="utf-8")
    table, stats, batches = read(path)
    assert (table.num_rows, table.column_names, batches, stats.rejected) == (0, [ROW_COLUMN], 1, [])


def test_memory_stays_flat_on_a_long_log(tmp_path: Path) -> None:
    event = (
        '<event><string key="concept:name" value="Step {j}"/>'
        '<date key="time:timestamp" value="2024-01-02T03:04:05+00:00"/>'
        '<string key="org:resource" value="agent {j}"/></event>'
    )

    def write(path: Path, traces: int) -> Path:
        with path.open("w", encoding="utf-8") as f:
            f.write("<log>")
            for i in range(traces):
                f.write(f'<trace><string key="concept:name" value="C{i}"/>')
                f.write("".join(event.format(j=j) for j in range(3)))
                f.write("</trace>")
            f.write("</log>")
        return path

    # a first read loads what the reader imports lazily, which must not count
    list(XesReader().read(write(tmp_path / "warm.xes", 10), ReadOptions(), ReadStats()))
    path = write(tmp_path / "long.xes", 8_000)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        rows = 0
        for b in XesReader().read(path, ReadOptions(batch_rows=500), ReadStats()):
            rows += b.num_rows
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 24_000
    # an element tree of the whole document would take several times its size; the reader
    # holds one batch of rows (under 1 MB here)
    assert size > 4_000_000
    assert peak < size / 2


# --- broken files --------------------------------------------------------------------------------


def test_truncated_gzip(tmp_path: Path) -> None:
    raw = real(HELPDESK).read_bytes()
    path = tmp_path / "cut.xes.gz"
    path.write_bytes(raw[: len(raw) // 2])
    reader = XesReader().read(path, ReadOptions(batch_rows=1000), ReadStats())
    with pytest.raises(SourceError, match=r"gzip data ends early after [\d,]+ events.*cut off"):
        list(reader)


def test_truncated_plain_xml(tmp_path: Path) -> None:
    path = tmp_path / "cut.xes"
    path.write_text(LOG[: LOG.index("<event><string")], encoding="utf-8")
    with pytest.raises(
        SourceError, match=r"the XML is broken at line 31, column \d+ after 2 events"
    ):
        read(path)


def test_mismatched_tag(tmp_path: Path) -> None:
    path = tmp_path / "bad.xes"
    path.write_text(
        LOG.replace('</event>\n    <string key="channel"', "</evnt>\n    <x"), encoding="utf-8"
    )
    with pytest.raises(SourceError, match=r"the XML is broken at line 27.*mismatched tag"):
        read(path)


def test_not_an_event_log(tmp_path: Path) -> None:
    path = tmp_path / "page.xes"
    path.write_text("<html><body>hello</body></html>", encoding="utf-8")
    with pytest.raises(SourceError, match=r"not an XES log: the root element is <html>"):
        XesReader().read(path, ReadOptions(), ReadStats())  # raised before any batch


def test_not_xml(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    path.write_bytes(b"case,activity\nC1,Open\n")
    with pytest.raises(SourceError, match=r"not an XES log: the XML is broken at line 1"):
        XesReader().read(path, ReadOptions(), ReadStats())


def test_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "log.xes.gz"
    path.write_bytes(b"\x1f\x8b" + bytes(100))
    with pytest.raises(SourceError, match="not an XES log"):
        XesReader().read(path, ReadOptions(), ReadStats())


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    path.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        XesReader().read(path, ReadOptions(), ReadStats())
