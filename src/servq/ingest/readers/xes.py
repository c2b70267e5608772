"""XES event logs (IEEE 1849), plain or gzip-compressed, as string record batches.

Owns: flattening a log into one row per event, streamed. The XML is fed in chunks to expat with
a parser target that keeps only the open elements, never a tree, so memory holds the current
trace's rows and one batch, whatever the size of the log.

A row has the event's attributes under their keys (``concept:name``, ``time:timestamp``,
``org:resource``, ``lifecycle:transition``, ...) and its trace's attributes with the prefix
``case:`` (``case:concept:name``); a trace attribute wins over an event attribute that happens
to have the same prefixed name. Values are the ``value`` text as written (dates stay in their
ISO 8601 form); a ``list`` becomes a JSON array of its items' values and a ``container`` a JSON
object; meta-attributes nested under a plain attribute are dropped. ``<global>``, ``<classifier>``,
``<extension>`` and log-level attributes are ignored. ``_row`` is the event's 1-based position
in the file. When the same key appears twice in one event, the later value wins.

Trace attributes may follow the trace's events, so rows are held until their trace ends; only a
trace of more than ``8 × batch_rows`` events is flushed early, and then rows already flushed miss
trace attributes that appear after them.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree as ET

import pyarrow as pa

from servq.errors import SourceError
from servq.ingest.readers.base import ReadOptions, ReadStats, open_source
from servq.ingest.readers.csv import ColumnNamer
from servq.ingest.readers.jsonl import records_to_batch

ATTRIBUTE_TAGS = frozenset({"string", "date", "int", "float", "boolean", "id", "list", "container"})
CASE_PREFIX = "case:"
_GZIP_MAGIC = b"\x1f\x8b"
_GIANT_TRACE_BATCHES = 8
_CHUNK = 1 << 16


class XesReader:
    format: str = "xes"
    suffixes: tuple[str, ...] = (".xes", ".xes.gz")

    def read(self, path: Path, options: ReadOptions, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        """Check that the file is an XES log now; return the stream of batches."""
        path = Path(path)
        open_source(path, self.format, stats)
        _check_root(path)
        return _stream(path, options, stats)


def _open(raw: IO[bytes]) -> IO[bytes] | gzip.GzipFile:
    """The file itself, or its decompressed content when it starts like gzip (any suffix)."""
    magic = raw.read(2)
    raw.seek(0)
    if magic == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


def _check_root(path: Path) -> None:
    """Parse only up to the root element, so a file that is no XES log fails before any batch."""
    target = _Flattener(path)
    parser = ET.XMLParser(target=target)
    with path.open("rb") as raw, _open(raw) as src:
        try:
            while not target.stack:
                chunk = src.read(_CHUNK)
                if not chunk:
                    parser.close()
                    break
                parser.feed(chunk)
        except (ET.ParseError, EOFError, OSError, zlib.error) as e:
            raise SourceError(path, f"not an XES log: {_describe(e, raw, 0)}") from None


def _describe(e: Exception, raw: IO[bytes], events: int) -> str:
    after = f" after {events:,} events" if events else ""
    if isinstance(e, ET.ParseError):
        line, column = e.position
        return f"the XML is broken at line {line}, column {column}{after} ({e})"
    if isinstance(e, EOFError):
        return f"the gzip data ends early{after}, at byte {raw.tell():,}: the file is cut off"
    return f"the compressed data is corrupt{after}, near byte {raw.tell():,} ({e})"


class _Frame:
    """One open XML element: its local name and, for attributes, what has been read of it."""

    __slots__ = ("items", "key", "tag", "value")

    def __init__(self, tag: str, key: str | None, value: str | None, items: Any) -> None:
        self.tag = tag
        self.key = key
        self.value = value
        self.items = items  # the items of a list (a list) or container (a dict), else None

    def nested(self) -> Any:
        return self.value if self.items is None else self.items


class _Flattener:
    """An expat target that turns the XES element stream into event rows as it goes.

    No element tree is built at all (iterparse builds one that must be cleared, and costs four
    times as much on the help-desk log), so memory holds only the open elements and the rows.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stack: list[_Frame] = []
        self.locals: dict[str, str] = {}
        self.trace: dict[str, str | None] = {}
        self.event: dict[str, str | None] | None = None
        # (row number, event attributes, the trace attributes shared by the trace's events)
        self.pending: list[tuple[int, dict[str, str | None], dict[str, str | None]]] = []
        self.complete = 0  # how many pending rows belong to finished traces
        self.events = 0

    def _local(self, tag: str) -> str:
        local = self.locals.get(tag)
        if local is None:
            # XES is written with and without the http://www.xes-standard.org/ namespace
            local = self.locals[tag] = tag.rpartition("}")[2]
        return local

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        local = self._local(tag)
        stack = self.stack
        parent = stack[-1].tag if stack else None
        if parent is None and local != "log":
            raise SourceError(
                self.path, f"not an XES log: the root element is <{local}>, not <log>"
            )
        if local in ATTRIBUTE_TAGS:
            items: Any = [] if local == "list" else {} if local == "container" else None
            stack.append(_Frame(local, attrib.get("key"), attrib.get("value"), items))
            return
        if local == "trace" and parent == "log":
            self.trace = {}
        elif local == "event" and parent in ("trace", "log"):
            self.event = {}
            if parent == "log":
                self.trace = {}  # an event outside any trace belongs to no case
        stack.append(_Frame(local, None, None, None))

    def end(self, tag: str) -> None:
        frame = self.stack.pop()
        if not self.stack:
            return
        parent = self.stack[-1]
        if frame.tag in ATTRIBUTE_TAGS:
            key = frame.key
            if parent.tag == "event":
                if key is not None and self.event is not None:
                    self.event[key] = self._text(frame)
            elif parent.tag == "trace":
                if key is not None:
                    self.trace[key] = self._text(frame)
            else:
                # XES 2.0 wraps list items in <values>; older writers put them in the list itself
                owner = self.stack[-2] if parent.tag == "values" and len(self.stack) > 1 else parent
                if isinstance(owner.items, list):
                    owner.items.append(frame.nested())
                elif isinstance(owner.items, dict) and key is not None:
                    owner.items[key] = frame.nested()
                # anything else is a meta-attribute of a plain attribute, or log level: ignored
        elif frame.tag == "event" and self.event is not None:
            self.events += 1
            self.pending.append((self.events, self.event, self.trace))
            self.event = None
            if parent.tag == "log":
                self.complete = len(self.pending)
        elif frame.tag == "trace" and parent.tag == "log":
            self.complete = len(self.pending)

    @staticmethod
    def _text(frame: _Frame) -> str | None:
        if frame.items is None:
            return frame.value
        return json.dumps(frame.items, ensure_ascii=False, separators=(",", ":"))

    def close(self) -> None:
        if self.stack:
            raise SourceError(self.path, f"the XML ends inside <{self.stack[-1].tag}>")


def _stream(path: Path, options: ReadOptions, stats: ReadStats) -> Iterator[pa.RecordBatch]:
    namer = ColumnNamer()
    target = _Flattener(path)
    parser = ET.XMLParser(target=target)
    giant = _GIANT_TRACE_BATCHES * options.batch_rows

    def batches(upto: int) -> Iterator[pa.RecordBatch]:
        pending = target.pending
        for start in range(0, upto, options.batch_rows):
            chunk = pending[start : min(start + options.batch_rows, upto)]
            prefixed: dict[int, dict[str, str | None]] = {}  # per trace, shared by its events
            rows = []
            for _, ev, tr in chunk:
                case = prefixed.get(id(tr))
                if case is None:
                    case = prefixed[id(tr)] = {CASE_PREFIX + k: v for k, v in tr.items()}
                rows.append({**ev, **case})
            yield records_to_batch(rows, [n for n, _, _ in chunk], namer)
        del pending[:upto]
        target.complete = max(target.complete - upto, 0)

    with path.open("rb") as raw, _open(raw) as src:
        try:
            while chunk := src.read(_CHUNK):
                parser.feed(chunk)
                stats.bytes_read = min(raw.tell(), stats.bytes_total)
                if len(target.pending) >= giant:
                    yield from batches(len(target.pending))
                elif target.complete >= options.batch_rows:
                    yield from batches(target.complete)
            parser.close()
        except (ET.ParseError, EOFError, OSError, zlib.error) as e:
            raise SourceError(path, _describe(e, raw, target.events)) from None
    stats.bytes_read = stats.bytes_total
    if target.pending:
        yield from batches(len(target.pending))
    elif target.events == 0:
        yield records_to_batch([], [])
