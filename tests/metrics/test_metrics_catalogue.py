"""The catalogue: every metric documented in both languages, user metrics in YAML, business time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from metrics_helpers import LOG_T1, load_status_log

import servq
from servq.errors import DefinitionError
from servq.metrics.catalogue_registry import Catalogue

REQUIRED = {
    "first_reply_time",
    "first_resolution_time",
    "full_resolution_time",
    "reopen_rate",
    "one_touch_rate",
    "repeat_complaint_rate",
    "closure_rate",
    "on_time_completion_rate",
    "csat",
    "csat_score",
    "nps",
    "ces",
    "calls_offered",
    "calls_answered",
    "calls_abandoned",
    "asa",
    "service_level",
    "abandonment_rate",
    "aht",
}


def test_catalogue_has_the_standard_metrics_with_both_names() -> None:
    cat = Catalogue()
    ids = {e.spec.id for e in cat.entries()}
    assert ids >= REQUIRED
    for e in cat.entries():
        assert e.spec.name_en and e.spec.name_zh, e.spec.id
    # the five service-level formulas in use are all there, each naming its variant
    variants = {e.spec.variant for e in cat.entries() if e.spec.id.startswith("service_level")}
    assert len(variants) == 5 and "" not in variants


def test_a_user_metric_in_yaml(tmp_path: Path) -> None:
    with servq.open_workspace(tmp_path / "ws") as ws:
        ws.ingest_frame(
            pd.DataFrame(
                {
                    "ticket_id": ["A", "B", "C", "D"],
                    "created_at": ["2025-03-03 09:00"] * 4,
                    "priority": ["urgent", "urgent", "low", "low"],
                    "closed_at": ["2025-03-03 10:00", None, "2025-03-03 12:00", None],
                }
            ),
            "tickets",
        )
        (ws.path / "metrics").mkdir()
        (ws.path / "metrics" / "mine.yaml").write_text(
            "metrics:\n"
            "  - id: urgent_open_share\n"
            "    name_en: Urgent cases still open\n"
            "    name_zh: 紧急工单未结比例\n"
            "    unit: percent\n"
            "    direction: lower_is_better\n"
            "    servqual: responsiveness\n"
            "    source: case\n"
            "    time: created_at\n"
            "    filter: {priority: urgent}\n"
            "    measures:\n"
            "      open: {agg: count, filter: {is_closed: false}}\n"
            "      all: {agg: count}\n"
            "    formula: 100 * open / all\n",
            encoding="utf-8",
        )
        assert ws.metrics("urgent_open_share").iloc[0].urgent_open_share == pytest.approx(50.0)


def test_a_wrong_metric_file_lists_every_problem(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "bad.yaml").write_text(
        "metrics:\n"
        "  - id: x\n"
        "    name_en: X\n"
        "    name_zh: 甲\n"
        "    unit: percent\n"
        "    direction: up\n"
        "    servqual: responsiveness\n"
        "    source: case\n"
        "    time: created_at\n"
        "    measures: {a: {agg: mean, column: no_such_column}}\n"
        "    formula: a / b\n",
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as info:
        Catalogue([folder])
    text = str(info.value)
    assert "direction" in text
    assert "bad.yaml:6" in text


def test_durations_in_business_time_across_national_day(tmp_path: Path) -> None:
    with servq.open_workspace(tmp_path / "ws") as ws:
        ws.ingest_frame(
            pd.DataFrame(
                {
                    "ticket_id": ["N1", "L1"],
                    # Beijing time: 30 Sep 17:00 → 9 Oct 10:00 spans the 1–8 Oct holiday
                    "created_at": ["2025-09-30 17:00", "2025-10-09 11:30"],
                    "first_reply_at": ["2025-10-09 10:00", "2025-10-09 14:00"],
                    "team": ["A", "B"],
                }
            ),
            "tickets",
        )
        cal = ws.metrics("first_reply_time", by="team").set_index("team").first_reply_time
        biz = ws.metrics("first_reply_time", by="team", calendar="cn-office").set_index("team")
        # calendar time: 8 days 17 hours; business time: 17:00–18:00 on 30 Sep plus
        # 09:00–10:00 on 9 Oct (Oct 1–8 are holidays) = 2 h
        assert cal["A"] == (8 * 24 + 17) * 3600
        assert biz.first_reply_time["A"] == 7200
        # 11:30 → 14:00 across the 12:00–13:30 lunch break is one business hour
        assert biz.first_reply_time["B"] == 3600


def test_cli_compute_json_without_by_gives_one_row(tmp_path: Path) -> None:
    f = tmp_path / "calls.csv"
    f.write_text(
        "call_id,arrived_at,outcome,queue_seconds,talk_seconds\n"
        "1,2025-03-03T09:00:00+08:00,answered,10,100\n"
        "2,2025-03-03T09:01:00+08:00,answered,30,200\n"
        "3,2025-03-03T09:02:00+08:00,abandoned,40,\n"
        "4,2025-03-03T09:03:00+08:00,abandoned,2,\n",
        encoding="utf-8",
    )
    run = [sys.executable, "-m", "servq"]
    subprocess.run(
        [*run, "ingest", str(f), "-p", "calls"], cwd=tmp_path, check=True, capture_output=True
    )
    p = subprocess.run(
        [*run, "metrics", "compute", "asa", "abandonment_rate", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(p.stdout)
    assert len(rows) == 1
    assert rows[0]["asa"] == pytest.approx(20.0)
    # one abandon after the 5 s short-abandon cut-off, out of 4 offered less 1 short abandon
    assert rows[0]["abandonment_rate"] == pytest.approx(100 / 3)


def test_status_log_durations_and_next_reply(tmp_path: Path) -> None:
    with servq.open_workspace(tmp_path / "ws") as ws:
        load_status_log(ws, "T1", LOG_T1)
        got = ws.metrics(
            [
                "requester_wait_time",
                "agent_work_time",
                "on_hold_time",
                "next_reply_time",
                "first_reply_time",
                "one_touch_rate",
            ]
        ).iloc[0]
        # new 09:00–09:10 (10 min), open 09:10–09:40 (30), 10:40–10:45 (5), 11:00–11:30 (30)
        # = 75 min of work; on hold 09:40–10:40 = 60 min; pending 10:45–11:00 is the
        # customer's own time and counts in neither
        assert got.agent_work_time == 75 * 60
        assert got.on_hold_time == 60 * 60
        assert got.requester_wait_time == 135 * 60
        # customer messages at 10:40 and 11:00 answered at 10:45 and 11:20: (5 + 20) / 2 min
        assert got.next_reply_time == 12.5 * 60
        assert got.first_reply_time == 10 * 60
        assert got.one_touch_rate == 0  # three agent replies
