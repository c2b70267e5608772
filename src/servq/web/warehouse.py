"""The web process's access to the warehouse: a small pool of connections and a result cache.

Owns: handing a :class:`~servq.workspace.Workspace` to one request at a time (DuckDB
connections are not shared between threads; the pool holds ``size`` of them, all on the one
database the process has open, so the monitor's warehouse copies are seen at once), and the
cache of computed answers, keyed by the question and the warehouse's *data version*.

The data version is the number of ingest batches and the time the latest one finished: every
load, replay and live copy (``servq.monitor.sink``) is a batch, so an answer is reused exactly
as long as no data has arrived since it was computed. A dashboard read a hundred times between
two loads computes once.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from servq.errors import ServqError
from servq.workspace import Workspace

T = TypeVar("T")


class WarehousePool:
    """``size`` open workspaces on one folder; ``with pool.use() as ws:`` borrows one."""

    def __init__(self, path: Path | str, size: int = 2, cache_entries: int = 512) -> None:
        self.path = Path(path)
        self._free: queue.Queue[Workspace] = queue.Queue()
        self._all: list[Workspace] = []
        for _ in range(max(1, size)):
            ws = Workspace(self.path)
            self._all.append(ws)
            self._free.put(ws)
        self._cache: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._entries = cache_entries
        self._refreshing: set[tuple[Any, ...]] = set()
        self._running: dict[tuple[Any, ...], threading.Event] = {}
        self.hits = 0
        self.misses = 0

    @contextmanager
    def use(self, timeout: float = 60.0) -> Iterator[Workspace]:
        try:
            ws = self._free.get(timeout=timeout)
        except queue.Empty:
            raise ServqError(
                "the warehouse is busy, try again / 数据仓库繁忙，请稍后重试"
            ) from None
        try:
            yield ws
        finally:
            self._free.put(ws)

    @staticmethod
    def version(ws: Workspace) -> tuple[Any, ...]:
        """What changes whenever data arrives: the batch count and the latest batch's end."""
        row = ws.warehouse.con.execute(
            "SELECT count(*), max(finished_at) FROM ingest_batch"
        ).fetchall()[0]
        return (int(row[0]), str(row[1]))

    def cached(
        self, key: tuple[Any, ...], compute: Callable[[Workspace], T], *, stale_ok: bool = False
    ) -> T:
        """``compute(ws)``, or the answer computed for ``key`` on the same data version.

        One computation per key at a time: a request asking what another is computing waits
        for that answer instead of computing it again (fifty dashboards opened at nine o'clock
        compute the overview once). ``stale_ok``: when data arrived since the answer was
        computed, return it at once and compute the new one in the background (a dashboard
        tile under a steady stream of live events would otherwise be recomputed, slowly, by
        every visitor after every copy)."""
        while True:
            with self.use() as ws:
                version = self.version(ws)
            with self._cache_lock:
                hit = self._cache.get(key)
                if hit is not None and (hit[0] == version or stale_ok):
                    self._cache.move_to_end(key)
                    self.hits += 1
                    value: T = hit[1]
                    if hit[0] != version and key not in self._refreshing:
                        self._refreshing.add(key)
                        threading.Thread(
                            target=self._refresh, args=(key, compute), daemon=True
                        ).start()
                    return value
                running = self._running.get(key)
                if running is None:
                    done = threading.Event()
                    self._running[key] = done
                    break
            running.wait(600)  # then look again: the answer is in the cache
        try:
            with self.use() as ws:
                version = self.version(ws)
                self.misses += 1
                value = compute(ws)
            self._store(key, version, value)
            return value
        finally:
            with self._cache_lock:
                self._running.pop(key, None)
            done.set()

    def _refresh(self, key: tuple[Any, ...], compute: Callable[[Workspace], Any]) -> None:
        try:
            with self.use() as ws:
                version = self.version(ws)
                value = compute(ws)
            self._store(key, version, value)
        except ServqError:
            pass  # the next visitor computes it
        finally:
            with self._cache_lock:
                self._refreshing.discard(key)

    def _store(self, key: tuple[Any, ...], version: tuple[Any, ...], value: Any) -> None:
        with self._cache_lock:
            self._cache[key] = (version, value)
            self._cache.move_to_end(key)
            while len(self._cache) > self._entries:
                self._cache.popitem(last=False)

    def clear(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def close(self, wait: float = 30.0) -> None:
        """Close every connection, once the requests (or the warm-up) using them are done."""
        for _ in range(len(self._all)):
            try:
                self._free.get(timeout=wait)
            except queue.Empty:
                break
        for ws in self._all:
            ws.close()
        self._all.clear()
