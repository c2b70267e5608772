"""A report of the demo's shortage week (2025-W43) against W42, checked in PDF, Excel and HTML
against figures worked out with pandas from the demo's own CSV files (and a direct SQL count)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from pypdf import PdfReader

import servq
from servq.app_store import Store, open_store
from servq.errors import ServqError
from servq.monitor.alerts import AlertManager
from servq.monitor.signals import Signal
from servq.reports import Report, build_report, parse_period, render_html, render_pdf, render_xlsx

from .conftest import TZ, Demo, created_in, sla_counts

WEEK = parse_period("2025-W43")  # 2025-10-20 .. 2025-10-26, the planted staff shortage
PHONE = "电话客服组"


@dataclass(frozen=True)
class Expected:
    """This week's and last week's figures, from the demo's files."""

    cases: int
    cases_before: int
    first_reply_h: float
    first_reply_h_before: float
    csat: float
    csat_before: float
    sla: pd.DataFrame


def _expected(demo: Demo) -> Expected:
    def week(p: object) -> pd.DataFrame:
        return created_in(demo.tickets, p.start, p.end)  # type: ignore[attr-defined]

    now, before = week(WEEK), week(WEEK.previous)

    def first_reply_hours(t: pd.DataFrame) -> float:
        return float((t["first_reply_at"] - t["created_at"]).dt.total_seconds().mean() / 3600)

    def csat(p: object) -> float:
        fb = demo.feedback
        rows = fb[
            (fb["day"] >= p.start)  # type: ignore[attr-defined]
            & (fb["day"] <= p.end)  # type: ignore[attr-defined]
            & (fb["survey"] == "csat")
            & fb["score"].notna()
        ]
        return float(100 * (rows["score"] >= 4).mean())

    return Expected(
        cases=len(now),
        cases_before=len(before),
        first_reply_h=first_reply_hours(now),
        first_reply_h_before=first_reply_hours(before),
        csat=csat(WEEK),
        csat_before=csat(WEEK.previous),
        sla=sla_counts(now),
    )


def _alert_store(path: Path) -> Store:
    """A store with three alerts in the week (one critical) and one the week before."""
    store = open_store(path)
    manager = AlertManager(store)

    def signal(rule: str, team: str, at: datetime, severity: str) -> Signal:
        return Signal(
            rule=rule,
            kind="threshold",
            labels={"team": team},
            firing=True,
            at=at,
            severity=severity,  # type: ignore[arg-type]
            value=7200.0,
            threshold=3600.0,
            summary_en=f"{team}: first reply time above target",
            summary_zh=f"{team}：首次响应时间超过目标",
        )

    for s in (
        signal("first_reply_slow", "售后技术组", datetime(2025, 10, 21, 2), "critical"),
        signal("first_reply_slow", "在线客服组", datetime(2025, 10, 22, 3), "warning"),
        signal("backlog_high", PHONE, datetime(2025, 10, 23, 4), "warning"),
        signal("backlog_high", "邮件工单组", datetime(2025, 10, 10, 4), "warning"),  # W41
    ):
        manager.process([s], s.at)
    return store


@dataclass(frozen=True)
class Built:
    zh: Report
    en: Report
    scoped: Report
    expected: Expected
    demo: Demo


@pytest.fixture(scope="module")
def built(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    store = _alert_store(tmp_path_factory.mktemp("alerts"))
    generated = datetime.fromisoformat("2025-10-27T09:00:00+08:00")
    with servq.open_workspace(demo.path, read_only=True) as ws:
        zh = build_report(ws, store, WEEK, lang="zh", timezone=TZ, generated_at=generated)
        en = build_report(ws, store, WEEK, lang="en", timezone=TZ, generated_at=generated)
        scoped = build_report(ws, store, WEEK, lang="en", scope={"team": [PHONE]})
    store.close()
    yield Built(zh, en, scoped, _expected(demo), demo)


# --- PDF ----------------------------------------------------------------------------------------


def _pdf_lines(data: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return [line.strip() for line in text.splitlines() if line.strip()]


def _has_run(lines: list[str], run: list[str]) -> bool:
    """True when ``run`` appears as consecutive lines (one table row, cell by cell)."""
    n = len(run)
    return any(lines[i : i + n] == run for i in range(len(lines) - n + 1))


def _worse_or_better(now: float, before: float, lower_is_better: bool, lang: str) -> str:
    better = now < before if lower_is_better else now > before
    words = {"zh": ("改善", "恶化"), "en": ("better", "worse")}[lang]
    return words[0] if better else words[1]


def test_pdf_shows_the_figures_computed_from_the_files(built: Built) -> None:
    data = render_pdf(built.zh)
    assert data.startswith(b"%PDF")
    assert b"STSong-Light" in data  # Chinese is set in the built-in CID font
    lines = _pdf_lines(data)
    e = built.expected
    assert "服务质量周报 2025-W43" in lines
    assert any("2025-10-20 – 2025-10-26" in line for line in lines)
    # KPI rows: name, this week, last week, change, change %, verdict
    assert _has_run(lines, ["新建工单量", f"{e.cases:,}", f"{e.cases_before:,}"])
    hours, before = e.first_reply_h, e.first_reply_h_before
    assert _has_run(
        lines,
        [
            "首次响应时间",
            f"{hours:.2f} 小时",
            f"{before:.2f} 小时",
            f"{hours - before:+.2f} 小时",
            f"{100 * (hours - before) / before:+.1f}%",
            _worse_or_better(hours, before, True, "zh"),
        ],
    )
    assert _has_run(
        lines,
        [
            "满意度（CSAT）",
            f"{e.csat:.1f}%",
            f"{e.csat_before:.1f}%",
            f"{e.csat - e.csat_before:+.1f} 个百分点",
        ],
    )
    # SLA rows: team, cases with a due time, met, breached, open, attainment
    for team, r in e.sla.iterrows():
        open_ = r["cases"] - r["met"] - r["late"]
        attainment = f"{100 * r['met'] / (r['met'] + r['late']):.1f}%"
        row = [str(team), str(r["cases"]), str(r["met"]), str(r["late"]), str(open_), attainment]
        assert _has_run(lines, row), row
    total = e.sla.sum()
    assert _has_run(lines, ["合计", str(total["cases"]), str(total["met"]), str(total["late"])])
    # alerts of the week: two rules, one critical
    assert _has_run(lines, ["first_reply_slow", "2"]) and _has_run(lines, ["backlog_high", "1"])
    assert _has_run(lines, ["严重", "1"]) and _has_run(lines, ["警告", "2"])
    for section in (
        "关键指标",
        "变化最大的团队与门店",
        "SLA 达成情况（按团队）",
        "客户反映的主要问题",
    ):
        assert section in lines


def test_english_pdf(built: Built) -> None:
    lines = _pdf_lines(render_pdf(built.en))
    e = built.expected
    assert "Weekly service quality report 2025-W43" in lines
    assert _has_run(lines, ["Cases created", f"{e.cases:,}", f"{e.cases_before:,}"])
    assert _has_run(lines, ["First reply time", f"{e.first_reply_h:.2f} h"])


def test_sla_total_matches_a_direct_sql_count(built: Built) -> None:
    lo, hi = WEEK.utc_bounds(TZ)
    with servq.open_workspace(built.demo.path, read_only=True) as ws:
        found = ws.warehouse.con.execute(
            'SELECT count(*) FROM "case" WHERE created_at >= ? AND created_at < ? '
            "AND due_at IS NOT NULL",
            [lo, hi],
        ).fetchall()
    assert built.zh.sla_total.cases == found[0][0] == built.expected.cases


# --- Excel --------------------------------------------------------------------------------------


def _rows_by(sheet: object, column: int) -> dict[object, tuple[object, ...]]:
    rows = sheet.iter_rows(values_only=True)  # type: ignore[attr-defined]
    return {row[column]: row for row in rows if row and row[column] is not None}


def _block(sheet: object, title: str) -> list[tuple[object, ...]]:
    """The rows of the table under ``title`` (its header first), up to the next empty row."""
    rows = list(sheet.iter_rows(values_only=True))  # type: ignore[attr-defined]
    start = next(i for i, r in enumerate(rows) if r[0] == title) + 1
    out = []
    for r in rows[start:]:
        if all(v is None for v in r):
            break
        out.append(tuple(v for v in r if v is not None))
    return out


def test_excel_cells_hold_the_numbers(built: Built) -> None:
    wb = openpyxl.load_workbook(io.BytesIO(render_xlsx(built.en)))
    assert wb.sheetnames == ["Report", "KPIs", "Movers", "SLA", "Alerts", "Issues"]
    e = built.expected
    kpis = wb["KPIs"]
    assert kpis["A1"].value == "Metric" and kpis["A1"].font.b
    assert kpis["B1"].font.b
    by_id = _rows_by(kpis, 7)  # column H: the metric id
    cases = by_id["cases_created"]
    assert cases[1] == e.cases and cases[2] == e.cases_before
    assert isinstance(cases[1], int | float)
    reply = by_id["first_reply_time"]
    assert reply[1] == pytest.approx(e.first_reply_h, abs=1e-9)
    assert reply[2] == pytest.approx(e.first_reply_h_before, abs=1e-9)
    assert reply[5] == _worse_or_better(e.first_reply_h, e.first_reply_h_before, True, "en")
    assert by_id["csat"][1] == pytest.approx(e.csat / 100, abs=1e-12)
    row = next(r for r in kpis.iter_rows(min_row=2) if r[7].value == "csat")
    assert row[1].number_format == "0.0%"

    sla = _rows_by(wb["SLA"], 0)
    assert wb["SLA"]["A1"].font.b
    for team, r in e.sla.iterrows():
        got = sla[str(team)]
        assert got[1:4] == (r["cases"], r["met"], r["late"])
        assert got[5] == pytest.approx(r["met"] / (r["met"] + r["late"]))
    total = e.sla.sum()
    assert sla["Total"][1:4] == (total["cases"], total["met"], total["late"])

    severity = _block(wb["Alerts"], "By severity")
    assert severity == [("Severity", "Count"), ("critical", 1), ("warning", 2)]
    rules = _block(wb["Alerts"], "By rule")
    assert rules == [("Rule", "Count"), ("first_reply_slow", 2), ("backlog_high", 1)]
    top = _block(wb["Alerts"], "Top alerts")
    assert [r[:2] for r in top[1:]] == [
        ("critical", "first_reply_slow"),
        ("warning", "first_reply_slow"),
        ("warning", "backlog_high"),
    ]
    issues = wb["Issues"]
    assert issues["A1"].value == "Rank" and issues["A1"].font.b
    assert issues["A2"].value == 1 and isinstance(issues["C2"].value, int)


# --- HTML ---------------------------------------------------------------------------------------


def test_html_is_self_contained(built: Built) -> None:
    for report in (built.zh, built.en):
        page = render_html(report)
        assert page.startswith("<!DOCTYPE html>") and "<style>" in page
        assert not re.search(r"https?://", page, re.IGNORECASE)
        assert not re.search(r"<script|<link|<img|<iframe|\ssrc=|href=|@import|url\(", page)
    page = render_html(built.zh)
    assert f'<td class="num">{built.expected.cases:,}</td>' in page
    assert "服务质量周报 2025-W43" in page


# --- the report as data -------------------------------------------------------------------------


def test_kpis_carry_direction_verdicts(built: Built) -> None:
    kpis = {k.metric: k for k in built.en.kpis}
    assert list(kpis)[:3] == ["cases_created", "first_reply_time", "full_resolution_time"]
    assert kpis["cases_created"].verdict == "neutral"
    e = built.expected
    assert kpis["first_reply_time"].verdict == (
        "bad" if e.first_reply_h > e.first_reply_h_before else "good"
    )
    sla = kpis["sla_attainment"]
    total = e.sla.sum()
    assert sla.value == pytest.approx(100 * total["met"] / (total["met"] + total["late"]))
    assert json.dumps(built.en.to_dict(), ensure_ascii=False)


def test_movers_are_teams_and_sites_that_moved(built: Built) -> None:
    movers = built.zh.movers
    assert {m.dimension for m in movers} == {"team", "site"}
    for m in movers:
        assert m.value != m.previous and m.verdict in ("good", "bad")
        assert m.sample >= 5
    team_scores = [m.score for m in movers if m.dimension == "team"]
    assert team_scores == sorted(team_scores, reverse=True)


def test_scope_limits_every_section_to_the_team(built: Built) -> None:
    r = built.scoped
    demo = built.demo
    mine = created_in(demo.tickets, WEEK.start, WEEK.end)
    mine = mine[mine["team"] == PHONE]
    kpis = {k.metric: k for k in r.kpis}
    assert kpis["cases_created"].value == len(mine)
    assert [s.team for s in r.sla] == [PHONE]
    expected = sla_counts(mine).loc[PHONE]
    assert (r.sla[0].cases, r.sla[0].met, r.sla[0].breached) == (
        expected["cases"],
        expected["met"],
        expected["late"],
    )
    assert {m.member for m in r.movers if m.dimension == "team"} <= {PHONE}
    assert r.alerts is not None and r.alerts.total == 1
    assert r.alerts.top[0].labels == {"team": PHONE}
    fb = demo.feedback
    texts = fb[
        (fb["day"] >= WEEK.start)
        & (fb["day"] <= WEEK.end)
        & (fb["team"] == PHONE)
        & fb["text"].fillna("").str.strip().ne("")
    ]
    assert r.issues and all(i.texts == len(texts) for i in r.issues)
    assert r.scope_text() == f"Team: {PHONE}"
    assert f"Team: {PHONE}" in render_html(r)


def test_without_a_store_the_report_says_so(demo: Demo) -> None:
    with servq.open_workspace(demo.path, read_only=True) as ws:
        report = build_report(ws, None, parse_period("2025-11-10..2025-11-11"), lang="en")
    assert report.alerts is None
    assert "No application store: alerts not included." in render_html(report)
    assert report.previous.label == "2025-11-08..2025-11-09"


def test_bad_scope_and_language(demo: Demo) -> None:
    with servq.open_workspace(demo.path, read_only=True) as ws:
        with pytest.raises(ServqError, match="报告范围"):
            build_report(ws, None, WEEK, scope={"category": ["退款"]})
        with pytest.raises(ServqError, match="zh 或 en"):
            build_report(ws, None, WEEK, lang="fr")


def test_issue_examples_are_masked(tmp_path: Path) -> None:
    from servq.reports.build import issues_in

    texts = [
        "快递一直没到，物流太慢了，请打 13812345678 联系我",
        "快递员态度差，东西一直没收到",
        "物流延迟了三天，快递没送到",
    ]
    frame = pd.DataFrame(
        {
            "feedback_id": ["F1", "F2", "F3"],
            "submitted_at": ["2025-03-04T10:00:00+08:00"] * 3,
            "survey": ["csat"] * 3,
            "score": [1, 2, 1],
            "text": texts,
        }
    )
    with servq.open_workspace(tmp_path / "ws") as ws:
        ws.ingest_frame(frame, profile="feedback")
        # put the number back as if the text had reached the warehouse unmasked
        ws.warehouse.con.execute(
            "UPDATE feedback SET text = ? WHERE feedback_id = 'F1'", [texts[0]]
        )
        found = issues_in(ws, parse_period("2025-W10"), TZ, {}, "zh")
    assert found[0].label == "物流配送" and found[0].count == 3
    shown = " ".join(i.example for i in found)
    assert "13812345678" not in shown and "138****5678" in shown
