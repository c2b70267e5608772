"""Loading the real public data sets: counts checked independently of servq (stdlib csv/XML)."""

from __future__ import annotations

import csv
import gzip
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import servq

NYC_FMT = "%m/%d/%Y %I:%M:%S %p"


def test_nyc311_counts_match_an_independent_count(ws: servq.Workspace, data_dir: Path) -> None:
    path = data_dir / "nyc311-2011-sample" / "311_subset.micro.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    closed = [r for r in rows if r["Closed Date"]]
    late = [
        r
        for r in closed
        if r["Due Date"]
        and datetime.strptime(r["Closed Date"], NYC_FMT) > datetime.strptime(r["Due Date"], NYC_FMT)
    ]
    before = [
        r
        for r in closed
        if datetime.strptime(r["Closed Date"], NYC_FMT)
        < datetime.strptime(r["Created Date"], NYC_FMT)
    ]
    # the figures the data README states, recomputed here with the standard library
    assert (len(rows), len(closed), len(late), len(before)) == (2000, 1958, 304, 1)

    r = ws.ingest(path, "nyc311")
    assert r.read == 2000
    # the request closed before it was created is quarantined: its resolution time would be
    # negative; everything else loads
    assert r.quarantined == 1 and r.quarantine_reasons == {"closed_before_created": 1}
    assert r.loaded == 1999
    q = ws.quarantine(r.batch_id)
    assert q.iloc[0]["reason"] == "closed_before_created"
    assert before[0]["Unique Key"] in q.iloc[0]["raw"]

    cases = ws.read("case")
    assert len(cases) == 1999
    assert cases.closed_at.notna().sum() == 1957  # 1958 less the quarantined one
    # the quarantined row closed in 1900, long before its due date, so all 304 late ones remain
    assert (cases.closed_at > cases.due_at).sum() == 304
    assert set(cases.status) == {"closed", "pending", "open"}
    # NYC local time converted to UTC: 03/01/2011 02:27:57 PM EST is 19:27:57 UTC
    row = cases[cases.case_id == "19937896"].iloc[0]
    assert row.created_at == datetime(2011, 3, 1, 19, 27, 57)
    events = ws.read("case_event")
    assert len(events) == 1999 + 1957  # one 'created' per case, one 'closed' per closed case


def _xes_counts(path: Path) -> tuple[int, int]:
    traces = events = 0
    with gzip.open(path) as f:
        for _, el in ET.iterparse(f, events=("end",)):
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "event":
                events += 1
            elif tag == "trace":
                traces += 1
                el.clear()
    return traces, events


def test_helpdesk_xes(ws: servq.Workspace, data_dir: Path) -> None:
    path = data_dir / "helpdesk-italian-xes" / "helpdesk.xes.gz"
    assert _xes_counts(path) == (4580, 21348)
    r = ws.ingest(path, "xes")
    assert (r.read, r.loaded, r.quarantined) == (21348, 21348, 0)
    assert r.derived["case"]["loaded"] == 4580
    counts = ws.counts()
    assert counts["case"] == 4580 and counts["case_event"] == 21348
    ev = ws.read("case_event")
    assert set(ev.activity) >= {"Assign seriousness", "Take in charge ticket", "Resolve ticket"}
    # 127 events repeat another of the same case, activity and time: they are kept, not merged
    assert ev.event_id.is_unique


def test_permit_xes(ws: servq.Workspace, data_dir: Path) -> None:
    path = data_dir / "wabo-receipt-permit-xes" / "08_receipt.xes.gz"
    assert _xes_counts(path) == (1434, 8577)
    r = ws.ingest(path, "xes")
    assert (r.read, r.loaded, r.quarantined) == (8577, 8577, 0)
    counts = ws.counts()
    assert counts["case"] == 1434 and counts["case_event"] == 8577
    cases = ws.read("case")
    # trace attributes (channel, department, planned end dates) are kept on the case
    assert cases.attributes.str.contains("case:channel").all()
    # a twice-loaded log counts once
    again = ws.ingest(path, "xes")
    assert (again.loaded, again.duplicates) == (0, 8577)
    assert ws.counts()["case_event"] == 8577


def test_anonymous_bank_calls(ws: servq.Workspace, data_dir: Path) -> None:
    path = data_dir / "callcenter-anonymous-bank-week1" / "calls_1999-02-01_07.tsv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    outcomes: dict[str, int] = {}
    for row in rows:
        outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
    assert len(rows) == 9007 and outcomes == {"AGENT": 7429, "HANG": 1519, "PHANTOM": 59}

    r = ws.ingest(path, "anonymous-bank")
    assert (r.read, r.loaded, r.quarantined) == (9007, 9007, 0)
    calls = ws.read("interaction")
    assert calls.outcome.value_counts().to_dict() == {
        "answered": 7429,
        "abandoned": 1519,
        "phantom": 59,
    }
    first = calls[calls.interaction_id == "AA0101-34536"].iloc[0]
    # 990201 7:02:47 in Israel (UTC+2 in February) is 05:02:47 UTC
    assert first.arrived_at == datetime(1999, 2, 1, 5, 2, 47)
    assert first.talk_seconds == 166 and first.agent == "DORIT"
    assert calls.answered_at.notna().sum() == sum(1 for x in rows if x["ser_start"] != "0:00:00")
