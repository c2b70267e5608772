"""Bad input: every rejected row has a specific reason; nothing is half-written or counted twice."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

import servq
from servq.errors import SourceError

HEADER = "ticket_id,created_at,closed_at,channel,priority,status,team,subject"


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def test_each_bad_row_gets_its_own_reason(ws: servq.Workspace, tmp_path: Path) -> None:
    f = write(
        tmp_path / "t.csv",
        [
            HEADER,
            "T1,2025-03-01 09:00,2025-03-01 10:00,phone,high,closed,A,ok",
            "T2,yesterday,,phone,high,open,A,bad time",
            "T3,2025-03-01 09:00,2025-02-28 10:00,phone,high,closed,A,closed before created",
            ",2025-03-01 09:00,,phone,high,open,A,no id",
            "T5,2025-03-01 09:00,,pigeon,high,open,A,unknown channel",
            "T6,2025-03-01 09:00,,phone,high,open,A,ok",
        ],
    )
    r = ws.ingest(f, "tickets")
    assert (r.read, r.loaded, r.quarantined) == (6, 2, 4)
    assert r.quarantine_reasons == {
        "bad_timestamp:created_at": 1,
        "closed_before_created": 1,
        "missing_required:case_id": 1,
        "unknown_value:channel": 1,
    }
    q = ws.quarantine(r.batch_id).set_index("row_number")
    assert q.loc[2, "reason"] == "bad_timestamp:created_at"
    assert '"yesterday"' in q.loc[2, "detail"]
    assert "pigeon" in q.loc[5, "detail"]
    assert json.loads(q.loc[3, "raw"])["ticket_id"] == "T3"
    assert set(ws.read("case").case_id) == {"T1", "T6"}


def test_wrong_type_in_a_number_field(ws: servq.Workspace, tmp_path: Path) -> None:
    f = write(
        tmp_path / "calls.csv",
        [
            "call_id,arrived_at,outcome,talk_seconds",
            "C1,2025-03-01T09:00:00+08:00,answered,120",
            "C2,2025-03-01T09:05:00+08:00,answered,two minutes",
        ],
    )
    r = ws.ingest(f, "calls")
    assert r.quarantine_reasons == {"bad_number:talk_seconds": 1}
    calls = ws.read("interaction")
    assert calls.talk_seconds.tolist() == [120.0]
    # ISO times with an offset are stored in UTC
    assert calls.arrived_at.tolist() == [datetime(2025, 3, 1, 1, 0)]


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig"])
def test_chinese_exports_in_any_common_encoding(
    ws: servq.Workspace, tmp_path: Path, encoding: str
) -> None:
    f = write(
        tmp_path / f"t-{encoding}.csv",
        [
            HEADER,
            "T1,2025-10-09 09:00,2025-10-09 12:00,电话,紧急,已关闭,售后一组,快递三天没收到",
            "T2,2025-10-09 10:00,,在线,普通,处理中,售后二组,退款还没到账",
        ],
        encoding=encoding,
    )
    r = ws.ingest(f, "tickets")
    assert (r.loaded, r.quarantined) == (2, 0)
    cases = ws.read("case").sort_values("case_id")
    assert cases.subject.tolist() == ["快递三天没收到", "退款还没到账"]
    assert cases.channel.tolist() == ["phone", "chat"]
    assert cases.status.tolist() == ["closed", "open"]
    # naive times are Asia/Shanghai local time in this profile
    assert cases.created_at.tolist()[0] == datetime(2025, 10, 9, 1, 0)


def test_truncated_csv_keeps_good_rows_and_quarantines_the_cut_one(
    ws: servq.Workspace, tmp_path: Path
) -> None:
    full = "\n".join(
        [HEADER] + [f"T{i},2025-03-01 09:00,,phone,high,open,A,subject {i}" for i in range(1, 6)]
    )
    f = tmp_path / "cut.csv"
    f.write_text(full[: full.rindex(",high,")], encoding="utf-8")  # cut inside the last line
    r = ws.ingest(f, "tickets")
    assert r.loaded == 4
    assert r.quarantined == 1
    (reason,) = r.quarantine_reasons
    assert reason in ("malformed_row", "missing_required:created_at") or reason.startswith(
        ("malformed", "missing_required", "bad_")
    )
    assert ws.counts()["case"] == 4


def test_unreadable_file_is_one_clear_error_and_writes_nothing(
    ws: servq.Workspace, tmp_path: Path
) -> None:
    before = ws.counts()
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(SourceError):
        ws.ingest(empty, "tickets")
    bad_gz = tmp_path / "log.xes.gz"
    bad_gz.write_bytes(
        gzip.compress(b"<log><trace><string key='concept:name' value='1'/>" * 50)[:60]
    )
    with pytest.raises(SourceError):
        ws.ingest(bad_gz, "xes")
    with pytest.raises(SourceError, match="no such file"):
        ws.ingest(tmp_path / "missing.csv", "tickets")
    wrong = write(tmp_path / "wrong.csv", ["a,b,c", "1,2,3"])
    with pytest.raises(SourceError, match="ticket_id"):
        ws.ingest(wrong, "tickets")
    assert ws.counts() == before


def test_loading_twice_counts_once(ws: servq.Workspace, tmp_path: Path) -> None:
    f = write(
        tmp_path / "t.csv",
        [
            HEADER,
            "T1,2025-03-01 09:00,2025-03-01 10:00,phone,high,closed,A,x",
            "T2,2025-03-01 09:00,,phone,high,open,A,y",
            "T3,not a time,,phone,high,open,A,z",
        ],
    )
    first = ws.ingest(f, "tickets")
    second = ws.ingest(f, "tickets")
    assert (first.loaded, first.duplicates, first.quarantined) == (2, 0, 1)
    assert (second.loaded, second.duplicates, second.updated) == (0, 2, 0)
    assert second.already_quarantined == 1
    counts = ws.counts()
    assert counts["case"] == 2
    assert counts["case_event"] == 2 + 1  # created ×2, closed ×1
    assert counts["quarantine"] == 1  # the bad row is not quarantined twice
    assert counts["ingest_batch"] == 2


def test_newer_version_updates_the_case_and_keeps_its_history(
    ws: servq.Workspace, tmp_path: Path
) -> None:
    head = "ticket_id,created_at,resolved_at,updated_at,status,channel"
    v1 = write(tmp_path / "v1.csv", [head, "T1,2025-03-01 09:00,,2025-03-01 09:00,open,email"])
    v2 = write(
        tmp_path / "v2.csv",
        [head, "T1,2025-03-01 09:00,2025-03-02 11:00,2025-03-02 11:00,solved,email"],
    )
    ws.ingest(v1, "tickets")
    r = ws.ingest(v2, "tickets")
    assert (r.loaded, r.updated) == (0, 1)
    case = ws.read("case")
    assert len(case) == 1 and case.status.iloc[0] == "solved"
    assert case.batch_id.iloc[0] == r.batch_id
    acts = sorted(ws.read("case_event").activity)
    assert acts == ["created", "solved"]
    # an older export loaded afterwards does not roll the case back
    stale = ws.ingest(v1, "tickets")
    assert (stale.updated, stale.duplicates) == (0, 1)
    assert ws.read("case").status.iloc[0] == "solved"


def test_replay_after_fixing_the_profile(ws: servq.Workspace, tmp_path: Path) -> None:
    f = write(
        tmp_path / "t.csv",
        [
            HEADER,
            "T1,2025-03-01 09:00,,phone,high,open,A,x",
            "T2,2025-03-01 09:00,,fax,high,open,A,y",
        ],
    )
    r = ws.ingest(f, "tickets")
    assert r.quarantine_reasons == {"unknown_value:channel": 1}
    base = ws.profile("tickets")
    spec = base.fields["channel"]
    fixed = base.model_copy(
        update={
            "fields": {
                **base.fields,
                "channel": spec.model_copy(
                    update={"values": {**(spec.values or {}), "fax": "letter"}}
                ),
            }
        }
    )
    again = ws.replay(r.batch_id, fixed)
    assert (again.loaded, again.quarantined) == (1, 0)
    assert again.replay_of == r.batch_id
    assert len(ws.quarantine()) == 0  # nothing open
    assert len(ws.quarantine(include_resolved=True)) == 1
    row = ws.read("case", case_id="T2").iloc[0]
    assert row.channel == "letter"


CHILD = """
import sys, servq
ws = servq.open_workspace(sys.argv[1])
ws.ingest(sys.argv[2], "tickets")
"""


@pytest.mark.parametrize("point", ["quarantine", "merge", "commit"])
def test_a_load_killed_mid_batch_leaves_the_warehouse_as_it_was(tmp_path: Path, point: str) -> None:
    wsdir = tmp_path / "ws"
    lines = (
        [HEADER]
        + [f"T{i},2025-03-01 09:00,,phone,high,open,A,row {i}" for i in range(1, 2001)]
        + ["TX,never,,phone,high,open,A,bad"]
    )
    f = write(tmp_path / "t.csv", lines)
    with servq.open_workspace(wsdir) as ws:
        seed = write(tmp_path / "seed.csv", [HEADER, "S1,2025-01-01 09:00,,phone,low,open,B,s"])
        ws.ingest(seed, "tickets")
        before = ws.counts()
    marker = tmp_path / "marker"
    env = {**os.environ, "SERVQ_FAULT_SLEEP": point, "SERVQ_FAULT_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(wsdir), str(f)], env=env)
    deadline = time.time() + 60
    while not marker.exists():
        assert proc.poll() is None, "the loader ended before reaching the fault point"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with servq.open_workspace(wsdir) as ws:
        assert ws.counts() == before
        # and the same file then loads completely
        r = ws.ingest(f, "tickets")
        assert (r.loaded, r.quarantined) == (2000, 1)


def test_events_without_ids_each_get_their_own(ws: servq.Workspace, tmp_path: Path) -> None:
    # the case-events profile maps event_id, but this export has no such column
    f = write(
        tmp_path / "log.csv",
        [
            "ticket_id,timestamp,activity,status",
            "T1,2025-03-03T09:00:00Z,created,new",
            "T1,2025-03-03T09:10:00Z,agent_replied,open",
            "T1,2025-03-03T09:10:00Z,agent_replied,open",
            "T1,2025-03-03T11:30:00Z,solved,solved",
        ],
    )
    r = ws.ingest(f, "case-events")
    assert (r.loaded, r.duplicates) == (4, 0)  # two identical events are two events
    again = ws.ingest(f, "case-events")
    assert (again.loaded, again.duplicates) == (0, 4)
    ids = sorted(ws.read("case_event").event_id)
    assert ids[1].endswith("#2") and ids[1].startswith("T1/agent_replied/")
