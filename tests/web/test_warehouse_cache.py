"""The web process's answer cache: reused until data arrives, refreshed in the background for
dashboard tiles."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from servq.web.warehouse import WarehousePool
from servq.workspace import Workspace


def tickets(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticket_id": ids,
            "created_at": ["2025-11-20T09:00:00+08:00"] * len(ids),
            "status": ["open"] * len(ids),
            "team": ["电话客服组"] * len(ids),
        }
    )


def count(ws: Workspace) -> int:
    return int(ws.warehouse.con.execute('SELECT count(*) FROM "case"').fetchall()[0][0])


def test_answers_are_reused_until_data_arrives(tmp_path: Path) -> None:
    with Workspace(tmp_path) as ws:
        ws.ingest_frame(tickets(["A1", "A2"]), "tickets")
    pool = WarehousePool(tmp_path, size=2)
    try:
        calls: list[int] = []

        def compute(ws: Workspace) -> int:
            calls.append(1)
            return count(ws)

        assert pool.cached(("n",), compute) == 2
        assert pool.cached(("n",), compute) == 2
        assert len(calls) == 1
        with pool.use() as ws:
            ws.ingest_frame(tickets(["A3"]), "tickets")
        assert pool.cached(("n",), compute) == 3  # a new batch: computed again
        assert len(calls) == 2

        # a tile may show the previous answer while the new one is computed
        assert pool.cached(("tile",), compute, stale_ok=True) == 3
        with pool.use() as ws:
            ws.ingest_frame(tickets(["A4", "A5"]), "tickets")
        assert pool.cached(("tile",), compute, stale_ok=True) == 3
        deadline = time.monotonic() + 10
        while pool.cached(("tile",), compute, stale_ok=True) != 5:
            assert time.monotonic() < deadline, "the background refresh never landed"
            time.sleep(0.05)
    finally:
        pool.close()


def test_one_computation_per_question_at_a_time(tmp_path: Path) -> None:
    import threading

    with Workspace(tmp_path) as ws:
        ws.ingest_frame(tickets(["B1"]), "tickets")
    pool = WarehousePool(tmp_path, size=2)
    calls: list[int] = []
    answers: list[int] = []

    def slow(ws: Workspace) -> int:
        calls.append(1)
        time.sleep(0.5)
        return count(ws)

    def ask() -> None:
        answers.append(pool.cached(("slow",), slow))

    try:
        threads = [threading.Thread(target=ask) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert answers == [1] * 6
        assert len(calls) == 1  # five waited for the first instead of computing again
    finally:
        pool.close()
