"""Revisits, the suggestion box and SOPs (:mod:`servq.improve.loop`), on SQLite, once on the
real PostgreSQL server, and through the ``servq loop`` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from servq.app_store import APP_DB_ENV, MODEL_MODULES, Store, open_store
from servq.cli.loop_cmd import loop_app
from servq.improve.loop import (
    LoopError,
    LoopService,
    SuggestionRow,
    VoteRow,
    customer_voter,
    public_suggestion,
)

T0 = datetime(2026, 3, 2, 9, 0)
PHONE = "13812345678"
RESIDENT_ID = "11010519491231002X"  # the check character is right


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.delenv(APP_DB_ENV, raising=False)
    with open_store(tmp_path, url=f"sqlite:///{tmp_path / 'app.db'}") as s:
        yield s


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(store: Store, clock: Clock) -> LoopService:
    return LoopService(store, clock=clock)


def _revisits(svc: LoopService, outcomes: list[str], problem: str = "P-0001") -> None:
    for i, outcome in enumerate(outcomes):
        r = svc.add_revisit(problem, f"C{i}", due_at=T0 + timedelta(days=1), by="lead")
        svc.record_revisit(r["id"], outcome, by="agent")


# -- revisits -------------------------------------------------------------------------------------
def test_the_module_is_a_model_module() -> None:
    assert "servq.improve.loop" in MODEL_MODULES


def test_revisit_satisfaction_leaves_unreachable_out_of_the_denominator(
    svc: LoopService,
) -> None:
    _revisits(svc, ["satisfied"] * 7 + ["not_satisfied"] * 2 + ["unreachable"] * 3)
    _revisits(svc, ["not_satisfied"] * 5, problem="P-0002")
    svc.add_revisit("P-0001", "C-new", due_at=T0 + timedelta(days=2), by="lead")

    fig = svc.revisit_satisfaction("P-0001")
    assert (fig["satisfied"], fig["not_satisfied"], fig["answered"]) == (7, 2, 9)
    assert fig["unreachable"] == 3 and fig["pending"] == 1
    assert fig["rate"] == pytest.approx(7 / 9)
    assert fig["percent"] == 77.8

    everything = svc.revisit_satisfaction()
    assert (everything["satisfied"], everything["answered"]) == (7, 14)
    assert svc.revisit_satisfaction("P-0404")["rate"] is None


def test_satisfaction_by_period_of_the_last_call(svc: LoopService, clock: Clock) -> None:
    _revisits(svc, ["satisfied", "not_satisfied"])  # called on 2 March
    clock.now = datetime(2026, 4, 1, 10, 0)
    _revisits(svc, ["satisfied"])
    march = svc.revisit_satisfaction(start=date(2026, 3, 1), end=date(2026, 3, 31))
    assert (march["satisfied"], march["answered"], march["percent"]) == (1, 2, 50.0)
    april = svc.revisit_satisfaction(start=datetime(2026, 4, 1), end=datetime(2026, 4, 2))
    assert (april["satisfied"], april["answered"]) == (1, 1)
    with pytest.raises(LoopError, match="ends before"):
        svc.revisit_satisfaction(start=date(2026, 4, 2), end=date(2026, 3, 1))


def test_unreachable_is_retried_then_closed(svc: LoopService, clock: Clock) -> None:
    r = svc.add_revisit(
        "P-0001",
        "C-17",
        due_at=T0 + timedelta(hours=4),
        customer_ref=f"王女士 {PHONE}",
        assigned_to="li",
        by="lead",
    )
    assert r["customer_ref"] == "王女士 138****5678"
    assert r["open"] and r["attempts"] == 0 and r["outcome"] is None

    clock.now = T0 + timedelta(hours=5)
    retry = T0 + timedelta(days=1)
    r = svc.record_revisit(
        r["id"], "unreachable", by="li", note=f"no answer, try {PHONE}", retry_at=retry
    )
    assert r["open"] and r["attempts"] == 1 and r["outcome"] == "unreachable"
    assert r["due_at"] == retry and not r["overdue"]
    assert PHONE not in r["note"] and "138****5678" in r["note"]
    assert [x["id"] for x in svc.list_revisits(open_only=True)] == [r["id"]]

    clock.now = T0 + timedelta(days=1, hours=1)
    r = svc.record_revisit(r["id"], "satisfied", by="li", note="happy now")
    assert not r["open"] and r["attempts"] == 2 and r["outcome"] == "satisfied"
    assert (r["done_at"], r["done_by"]) == (clock.now, "li")
    assert r["note"].count("\n") == 1 and "unreachable" in r["note"]
    assert svc.list_revisits(open_only=True) == []
    assert len(svc.list_revisits("P-0001")) == 1 and svc.list_revisits("P-0002") == []

    with pytest.raises(LoopError, match="already closed"):
        svc.record_revisit(r["id"], "not_satisfied", by="li")
    fig = svc.revisit_satisfaction("P-0001")
    assert (fig["satisfied"], fig["unreachable"]) == (1, 0)


def test_invalid_revisit_requests_are_refused(svc: LoopService, clock: Clock) -> None:
    r = svc.add_revisit("P-0001", "C-1", due_at=T0, by="lead")
    with pytest.raises(LoopError, match="unknown outcome 'happy'"):
        svc.record_revisit(r["id"], "happy", by="li")
    with pytest.raises(LoopError, match="retry time"):
        svc.record_revisit(r["id"], "satisfied", by="li", retry_at=T0)
    with pytest.raises(LoopError, match="no revisit 999"):
        svc.record_revisit(999, "satisfied", by="li")
    with pytest.raises(LoopError, match="problem id is required"):
        svc.add_revisit(" ", "C-1", due_at=T0, by="lead")
    assert svc.list_revisits()[0]["attempts"] == 0  # nothing counted
    clock.now = T0 + timedelta(minutes=1)
    assert svc.list_revisits()[0]["overdue"]


# -- suggestions ----------------------------------------------------------------------------------
def test_votes_count_once_per_voter(svc: LoopService, store: Store) -> None:
    s = svc.suggest("Queue signs", "Show the waiting time", author_kind="staff", author="wu")
    assert s["id"] == "S-0001" and s["votes"] == 0 and s["status"] == "new"
    assert svc.vote("S-0001", "wu") == 1
    assert svc.vote("S-0001", "zhao") == 2
    assert svc.vote("S-0001", "zhao") == 2  # the second vote of zhao counts nothing
    token = customer_voter("openid-abc", key="k")
    assert token.startswith("customer:") and "openid-abc" not in token
    assert svc.vote("S-0001", token) == 3
    assert svc.vote("S-0001", PHONE) == 4  # personal data as a voter name is hashed
    assert svc.vote("S-0001", PHONE) == 4
    with pytest.raises(LoopError, match="no suggestion S-0404"):
        svc.vote("S-0404", "wu")
    with store.session() as sess:
        voters = list(sess.scalars(select(VoteRow.voter)))
        assert len(voters) == 4 and PHONE not in voters
        assert sess.scalar(select(SuggestionRow.votes)) == 4


def test_best_of_month_with_a_tie_goes_to_the_earliest(svc: LoopService, clock: Clock) -> None:
    clock.now = datetime(2026, 2, 27, 12, 0)
    february = svc.suggest("Old", "From February", author_kind="customer")
    clock.now = datetime(2026, 3, 1, 0, 0)
    first = svc.suggest("First", "Earliest of March", author_kind="customer")
    clock.now = datetime(2026, 3, 15, 8, 0)
    second = svc.suggest("Second", "Same votes, later", author_kind="staff", author="wu")
    clock.now = datetime(2026, 3, 31, 23, 59)
    third = svc.suggest("Third", "Fewer votes", author_kind="staff", author="li")
    clock.now = datetime(2026, 4, 1, 0, 0)
    svc.suggest("April", "Next month", author_kind="staff", author="li")

    for voter in ("a", "b", "c", "d"):
        svc.vote(february["id"], voter)
    for voter in ("a", "b"):
        svc.vote(first["id"], voter)
        svc.vote(second["id"], voter)
    svc.vote(third["id"], "a")

    best = svc.best_of_month("2026-03")
    assert best is not None and best["id"] == first["id"] and best["votes"] == 2
    svc.vote(second["id"], "c")
    best = svc.best_of_month("2026-03")
    assert best is not None and best["id"] == second["id"]
    assert svc.best_of_month("2025-12") is None
    assert [s["id"] for s in svc.list_suggestions("2026-03")] == ["S-0002", "S-0003", "S-0004"]
    with pytest.raises(LoopError, match="cannot read month"):
        svc.best_of_month("2026-13")


def test_personal_data_is_masked_before_it_is_stored(svc: LoopService, store: Store) -> None:
    text = f"请回电 {PHONE}，我的身份证号 {RESIDENT_ID}，等了三个小时"
    s = svc.suggest(f"回电 {PHONE}", text, author_kind="customer")
    with store.session() as sess:
        row = sess.get(SuggestionRow, s["id"])
        assert row is not None
        assert PHONE not in row.text and RESIDENT_ID not in row.text
        assert "138****5678" in row.text and "110105********002X" in row.text
        assert row.text.endswith("等了三个小时")
        assert row.title == "回电 138****5678"
        assert row.author is None  # an anonymous customer


def test_status_and_became_problem_needs_a_problem_id(svc: LoopService, clock: Clock) -> None:
    s = svc.suggest("Longer hours", "Open on Saturday", author_kind="staff", author="wu")
    with pytest.raises(LoopError, match="needs the id of the problem"):
        svc.set_suggestion_status(s["id"], "became_problem", "lead")
    with pytest.raises(LoopError, match="became_problem status only"):
        svc.set_suggestion_status(s["id"], "accepted", "lead", problem_id="P-0001")
    with pytest.raises(LoopError, match="unknown status"):
        svc.set_suggestion_status(s["id"], "done", "lead")
    with pytest.raises(LoopError, match="needs its author"):
        svc.suggest("x", "y", author_kind="staff")
    with pytest.raises(LoopError, match="unknown author kind"):
        svc.suggest("x", "y", author_kind="robot")

    d = svc.set_suggestion_status(s["id"], "became_problem", "lead", problem_id="P-0007")
    assert (d["status"], d["problem_id"], d["decided_by"]) == ("became_problem", "P-0007", "lead")
    assert [x["id"] for x in svc.list_suggestions(status="became_problem")] == [s["id"]]
    assert svc.list_suggestions(status="new") == []


def test_public_suggestion_leaks_no_author(svc: LoopService, store: Store) -> None:
    s = svc.suggest(
        "Parking",
        f"More parking, call me at {PHONE}",
        author_kind="staff",
        author="wu.secret",
        department="Branch 7 sales",
    )
    svc.vote(s["id"], "li")
    shown = public_suggestion(s)
    assert shown == {
        "title": "Parking",
        "text": "More parking, call me at 138****5678",
        "votes": 0,  # the dict was taken before the vote
        "status": "new",
        "month": "2026-03",
    }
    with store.session() as sess:
        row = sess.get(SuggestionRow, s["id"])
        assert row is not None
        from_row = public_suggestion(row)
    assert from_row["votes"] == 1
    for value in (*shown.values(), *from_row.values()):
        assert "wu.secret" not in str(value) and "Branch 7" not in str(value)
    assert set(from_row) == {"title", "text", "votes", "status", "month"}


# -- SOPs -----------------------------------------------------------------------------------------
def test_sop_versions_and_the_one_in_force(svc: LoopService, clock: Clock) -> None:
    v1 = svc.publish_sop("A-0001", "Call-back script", "# v1", date(2026, 3, 10), by="lead")
    assert (v1["id"], v1["version"]) == ("SOP-0001", 1)
    other = svc.publish_sop("A-0002", "Refunds", "# refunds", date(2026, 3, 1), by="lead")
    assert other["id"] == "SOP-0002"
    clock.now = T0 + timedelta(days=20)
    v2 = svc.publish_sop(
        "A-0003", "Call-back script", "# v2", date(2026, 4, 1), by="qa", sop_id="SOP-0001"
    )
    assert (v2["id"], v2["version"], v2["plan_id"]) == ("SOP-0001", 2, "A-0003")

    assert svc.sop_in_force("SOP-0001", date(2026, 3, 9)) is None
    in_force = svc.sop_in_force("SOP-0001", date(2026, 3, 10))
    assert in_force is not None and in_force["version"] == 1
    in_force = svc.sop_in_force("SOP-0001", date(2026, 3, 31))
    assert in_force is not None and in_force["body"] == "# v1"
    in_force = svc.sop_in_force("SOP-0001", date(2026, 4, 1))
    assert in_force is not None and in_force["version"] == 2

    history = svc.sop_history("SOP-0001")
    assert [h["version"] for h in history] == [1, 2]
    assert [s["id"] for s in svc.list_sops()] == ["SOP-0001", "SOP-0002"]
    assert [s["id"] for s in svc.list_sops("A-0003")] == ["SOP-0001"]
    with pytest.raises(LoopError, match="no SOP SOP-0404"):
        svc.publish_sop("A-1", "t", "b", date(2026, 1, 1), by="x", sop_id="SOP-0404")
    with pytest.raises(LoopError, match="no SOP SOP-0404"):
        svc.sop_history("SOP-0404")
    with pytest.raises(LoopError, match="body is required"):
        svc.publish_sop("A-1", "t", "  ", date(2026, 1, 1), by="x")


def test_text_ids_keep_counting_past_four_digits(svc: LoopService, store: Store) -> None:
    with store.session() as sess:
        sess.add(
            SuggestionRow(
                id="S-9999",
                author_kind="customer",
                title="t",
                text="x",
                created_at=T0,
                status="new",
                votes=0,
            )
        )
    assert svc.suggest("a", "b", author_kind="customer")["id"] == "S-10000"
    assert svc.suggest("a", "b", author_kind="customer")["id"] == "S-10001"


def test_a_new_id_taken_meanwhile_is_tried_again(
    svc: LoopService, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc.suggest("a", "b", author_kind="customer")
    real = LoopService._next_id
    calls: list[str] = []

    def stale_once(s: Session, column: Any, prefix: str) -> str:
        calls.append(prefix)  # the first answer is what another writer just took
        return "S-0001" if len(calls) == 1 else real(s, column, prefix)

    monkeypatch.setattr(LoopService, "_next_id", staticmethod(stale_once))
    assert svc.suggest("c", "d", author_kind="customer")["id"] == "S-0002"
    assert calls == ["S", "S"]


# -- PostgreSQL -----------------------------------------------------------------------------------
def test_main_flow_on_postgresql(pg_url: str) -> None:
    clock = Clock()
    with open_store(url=pg_url) as pg:
        assert pg.dialect == "postgresql"
        tables = set(inspect(pg.engine).get_table_names())
        assert {"improve_revisit", "improve_suggestion", "improve_vote", "improve_sop"} <= tables
        svc = LoopService(pg, clock=clock)

        _revisits(svc, ["satisfied"] * 7 + ["not_satisfied"] * 2 + ["unreachable"] * 3)
        fig = svc.revisit_satisfaction("P-0001", start=date(2026, 3, 1), end=date(2026, 3, 31))
        assert (fig["answered"], fig["unreachable"], fig["percent"]) == (9, 3, 77.8)
        retry = svc.list_revisits(open_only=True)[0]
        assert svc.record_revisit(retry["id"], "satisfied", by="li")["attempts"] == 2

        s = svc.suggest("回电", f"电话 {PHONE}", author_kind="customer")
        assert s["id"] == "S-0001" and PHONE not in s["text"]
        assert svc.vote(s["id"], "a") == 1 and svc.vote(s["id"], "a") == 1
        assert svc.vote(s["id"], "b") == 2
        with pg.session() as sess:
            assert sess.scalar(select(func.count()).select_from(VoteRow)) == 2
        best = svc.best_of_month("2026-03")
        assert best is not None and best["id"] == "S-0001"
        svc.set_suggestion_status(s["id"], "became_problem", "lead", problem_id="P-0002")

        # writers at the same time: distinct new ids, each voter counted once
        with ThreadPoolExecutor(max_workers=6) as pool:
            made = list(
                pool.map(lambda i: svc.suggest(f"t{i}", "x", author_kind="customer"), range(6))
            )
            counts = list(pool.map(lambda i: svc.vote("S-0002", f"v{i % 3}"), range(12)))
        assert sorted(d["id"] for d in made) == [f"S-{n:04d}" for n in range(2, 8)]
        assert max(counts) == 3 and svc.vote("S-0002", "v0") == 3

        svc.publish_sop("A-0001", "Script", "v1", date(2026, 3, 10), by="lead")
        svc.publish_sop("A-0001", "Script", "v2", date(2026, 4, 1), by="lead", sop_id="SOP-0001")
        in_force = svc.sop_in_force("SOP-0001", date(2026, 3, 20))
        assert in_force is not None and in_force["version"] == 1


# -- the command line -----------------------------------------------------------------------------
def test_the_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(APP_DB_ENV, raising=False)
    runner = CliRunner()
    ws = ["--workspace", str(tmp_path)]

    def run(*args: str) -> dict[str, object]:
        result = runner.invoke(loop_app, [*args, *ws, "--json"])
        assert result.exit_code == 0, result.output
        data: dict[str, object] = json.loads(result.stdout)
        return data

    added = run(
        "revisit",
        "add",
        "P-0001",
        "C-1",
        "--due",
        "2026-03-05T10:00+08:00",
        "--customer",
        PHONE,
        "--by",
        "lead",
    )
    revisit = added["revisit"]
    assert isinstance(revisit, dict)
    assert revisit["due_at"] == "2026-03-05T02:00:00" and revisit["customer_ref"] == "138****5678"
    rid = str(revisit["id"])
    assert run("revisit", "done", rid, "unreachable", "--by", "li")["revisit"]["open"]  # type: ignore[index]
    run("revisit", "done", rid, "satisfied", "--note", "ok", "--by", "li")
    fig = run("revisit", "satisfaction", "--problem", "P-0001")["satisfaction"]
    assert isinstance(fig, dict) and fig["percent"] == 100.0 and fig["unreachable"] == 0
    assert run("revisit", "list", "--open")["revisits"] == []

    bad = runner.invoke(loop_app, ["revisit", "done", rid, "happy", *ws])
    assert bad.exit_code == 2 and "unknown outcome" in bad.output
    closed = runner.invoke(loop_app, ["revisit", "done", rid, "satisfied", *ws])
    assert closed.exit_code == 2 and "already closed" in closed.output

    s = run(
        "suggest",
        "add",
        "Parking",
        f"call {PHONE}",
        "--kind",
        "staff",
        "--author",
        "wu",
        "--department",
        "Sales",
    )["suggestion"]
    assert isinstance(s, dict) and s["id"] == "S-0001" and PHONE not in str(s["text"])
    assert run("suggest", "vote", "S-0001", "--voter", "li")["votes"] == 1
    assert run("suggest", "vote", "S-0001", "--voter", "li")["votes"] == 1
    assert run("suggest", "vote", "S-0001", "--customer-token", "tok")["votes"] == 2
    month = str(s["month"])
    public = run("suggest", "list", "--month", month, "--public")["suggestions"]
    assert public == [
        {
            "title": "Parking",
            "text": "call 138****5678",
            "votes": 2,
            "status": "new",
            "month": month,
        }
    ]
    best = run("suggest", "best", month)["best"]
    assert isinstance(best, dict) and best["id"] == "S-0001" and best["author"] == "wu"
    nope = runner.invoke(loop_app, ["suggest", "status", "S-0001", "became_problem", *ws])
    assert nope.exit_code == 2 and "problem" in nope.output
    done = run("suggest", "status", "S-0001", "became_problem", "--problem", "P-0003")
    assert done["suggestion"]["problem_id"] == "P-0003"  # type: ignore[index]

    body = tmp_path / "sop.md"
    body.write_text("# Call-back\n\n1. Call within 24 h\n", encoding="utf-8")
    sop = run(
        "sop",
        "publish",
        "A-0001",
        "Call-back",
        "--effective",
        "2026-03-10",
        "--body-file",
        str(body),
    )["sop"]
    assert isinstance(sop, dict) and (sop["id"], sop["version"]) == ("SOP-0001", 1)
    run(
        "sop",
        "publish",
        "A-0002",
        "Call-back",
        "--effective",
        "2026-04-01",
        "--body",
        "v2",
        "--sop",
        "SOP-0001",
    )
    shown = run("sop", "show", "SOP-0001", "--on", "2026-03-31")["sop"]
    assert isinstance(shown, dict) and shown["version"] == 1 and "24 h" in str(shown["body"])
    assert run("sop", "show", "SOP-0001", "--on", "2026-03-01")["sop"] is None
    versions = run("sop", "history", "SOP-0001")["versions"]
    assert isinstance(versions, list) and [v["version"] for v in versions] == [1, 2]

    people = runner.invoke(loop_app, ["sop", "history", "SOP-0001", *ws])
    assert people.exit_code == 0 and "A-0002" in people.stdout
    missing = runner.invoke(loop_app, ["sop", "show", "SOP-0404", *ws])
    assert missing.exit_code == 2 and "no SOP SOP-0404" in missing.output
    both = runner.invoke(loop_app, ["sop", "publish", "A-1", "t", "--effective", "2026-01-01", *ws])
    assert both.exit_code == 2 and "--body" in both.output
