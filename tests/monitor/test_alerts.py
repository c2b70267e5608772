"""The alert lifecycle on real stores: SQLite files and a fresh PostgreSQL database.

Every scenario is a known sequence of signals and clock times; the expected alerts, notices and
transitions are written out by hand. The lifecycle tests run on both engines; the concurrency
tests run two managers with two separate Stores (two engines, two connection pools) on one
database. Each PostgreSQL test gets a database of its own on 127.0.0.1:5432, dropped after it
(``pg_url`` of ``tests/monitor/conftest.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from servq.app_store import Store, open_store
from servq.errors import DefinitionError
from servq.monitor.alerts import (
    AlertError,
    AlertManager,
    AlertPolicy,
    InhibitRule,
    Notice,
)
from servq.monitor.alerts.policy import parse_span, span_text
from servq.monitor.signals import Signal, fingerprint

T0 = datetime(2025, 10, 9, 2, 0)  # naive UTC, 10:00 in Shanghai
NO_ESCALATION = AlertPolicy(escalate_after=[], repeat_interval=None)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def sig(
    labels: dict[str, str],
    at: datetime,
    *,
    firing: bool = True,
    rule: str = "backlog_high",
    **kw: object,
) -> Signal:
    return Signal(rule=rule, kind="threshold", labels=labels, firing=firing, at=at, **kw)  # type: ignore[arg-type]


def reasons(notices: list[Notice]) -> list[tuple[str, int]]:
    return [(n.reason, n.alert.id) for n in notices]


# -- stores ---------------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    pg: str = request.getfixturevalue("pg_url")  # a new database (tests/monitor/conftest.py)
    return pg


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    with open_store(url=url) as s:
        yield s


# -- open, update, resolve ------------------------------------------------------------------------
def test_same_condition_is_one_alert_and_clears_by_itself(store: Store) -> None:
    m = AlertManager(store, NO_ESCALATION)
    team_a = {"team": "a", "site": "sh"}

    opened = m.process([sig(team_a, T0, value=30, threshold=20, summary_en="30 open")], T0)
    assert [n.reason for n in opened] == ["firing"]
    alert = opened[0].alert
    assert (alert.state, alert.count, alert.value, alert.starts_at) == ("firing", 1, 30.0, T0)
    assert alert.fingerprint == fingerprint("backlog_high", team_a)
    assert opened[0].group == (("team", "a"),)  # the default group_by

    again = m.process([sig(team_a, minutes(1), value=45, threshold=20)], minutes(1))
    assert again == []  # nothing new to say
    [same] = m.list(state="all")
    assert (same.id, same.count, same.value, same.last_seen_at) == (alert.id, 2, 45.0, minutes(1))
    assert same.starts_at == T0

    cleared = m.process([sig(team_a, minutes(5), firing=False)], minutes(5))
    assert reasons(cleared) == [("resolved", alert.id)]
    done = m.get(alert.id)
    assert (done.state, done.resolved_by, done.resolved_at) == ("resolved", "system", minutes(5))
    assert m.list(state="open") == []
    history = [(t.from_state, t.to_state, t.who, t.at) for t in m.transitions(alert.id)]
    assert history == [
        (None, "firing", "system", T0),
        ("firing", "resolved", "system", minutes(5)),
    ]


def test_clearing_signals_without_an_open_alert_or_older_than_it_change_nothing(
    store: Store,
) -> None:
    m = AlertManager(store, NO_ESCALATION)
    assert m.process([sig({"team": "a"}, T0, firing=False)], T0) == []
    assert m.list(state="all") == []

    m.process([sig({"team": "a"}, minutes(10))], minutes(10))
    # a clear observed at 10:05 that arrives late says nothing about 10:10
    assert m.process([sig({"team": "a"}, minutes(5), firing=False)], minutes(11)) == []
    [alert] = m.list(state="all")
    assert alert.state == "firing"


def test_a_condition_that_fires_again_after_resolving_is_a_new_alert(store: Store) -> None:
    m = AlertManager(store, NO_ESCALATION)
    labels = {"team": "a"}
    first = m.process([sig(labels, T0)], T0)[0].alert
    m.process([sig(labels, minutes(5), firing=False)], minutes(5))
    second = m.process([sig(labels, minutes(9))], minutes(9))[0].alert

    assert second.id != first.id
    assert second.fingerprint == first.fingerprint
    assert (second.state, second.count, second.starts_at) == ("firing", 1, minutes(9))
    assert m.get(first.id).state == "resolved"
    assert [a.id for a in m.list(state="all")] == [second.id, first.id]  # newest first


def test_a_breach_after_a_warning_is_announced_again(store: Store) -> None:
    m = AlertManager(store, NO_ESCALATION)
    labels = {"case_id": "C1", "team": "a"}
    warn = Signal("sla:first_reply", "sla_warning", labels, True, T0, severity="warning")
    breach = Signal("sla:first_reply", "sla_breach", labels, True, minutes(6), severity="critical")
    assert [n.reason for n in m.process([warn], T0)] == ["warning"]
    raised = m.process([breach], minutes(6))
    assert [n.reason for n in raised] == ["firing"]
    assert (raised[0].alert.kind, raised[0].alert.severity) == ("sla_breach", "critical")
    assert len(m.list(state="all")) == 1
    # a later warning-level observation does not lower it again
    m.process([warn], minutes(7))
    assert m.list()[0].severity == "critical"


# -- people ---------------------------------------------------------------------------------------
def test_acknowledgement_is_kept_with_who_and_when(store: Store) -> None:
    m = AlertManager(store, NO_ESCALATION)
    alert = m.process([sig({"team": "a"}, T0)], T0)[0].alert

    acked = m.ack(alert.id, "li.wei", minutes(3), note="on it 处理中")
    assert (acked.state, acked.acknowledged_by, acked.acknowledged_at) == (
        "acknowledged",
        "li.wei",
        minutes(3),
    )
    with pytest.raises(AlertError, match=r"already acknowledged by li\.wei"):
        m.ack(alert.id, "zhang", minutes(4))
    # still open: the same condition updates it, and its clearing resolves it
    m.process([sig({"team": "a"}, minutes(4))], minutes(4))
    assert m.get(alert.id).count == 2
    m.process([sig({"team": "a"}, minutes(8), firing=False)], minutes(8))

    history = [(t.from_state, t.to_state, t.who, t.at, t.note) for t in m.transitions(alert.id)]
    assert history[1:] == [
        ("firing", "acknowledged", "li.wei", minutes(3), "on it 处理中"),
        ("acknowledged", "resolved", "system", minutes(8), "condition cleared / 条件已恢复"),
    ]
    with pytest.raises(AlertError, match="resolved"):
        m.ack(alert.id, "zhang", minutes(9))
    with pytest.raises(AlertError, match="no alert 999"):
        m.ack(999, "zhang", minutes(9))


def test_resolving_by_hand_frees_the_fingerprint(store: Store) -> None:
    m = AlertManager(store, NO_ESCALATION)
    alert = m.process([sig({"team": "a"}, T0)], T0)[0].alert
    done = m.resolve(alert.id, "wang", minutes(2), note="fixed the queue")
    assert (done.state, done.resolved_by, done.resolved_at) == ("resolved", "wang", minutes(2))
    with pytest.raises(AlertError, match="already resolved by wang"):
        m.resolve(alert.id, "wang", minutes(3))
    # the condition still holds: a new alert, not the closed one
    again = m.process([sig({"team": "a"}, minutes(4))], minutes(4))
    assert [n.reason for n in again] == ["firing"]
    assert again[0].alert.id != alert.id
    assert [t.who for t in m.transitions(alert.id)] == ["system", "wang"]


# -- time: escalation and repeat ------------------------------------------------------------------
def _tick_every_minute(m: AlertManager, start: float, end: float) -> dict[float, list[Notice]]:
    """Notices of each tick from minute ``start`` to ``end`` (inclusive), where there were any."""
    out: dict[float, list[Notice]] = {}
    for minute in range(int(start), int(end) + 1):
        found = m.tick(minutes(minute))
        if found:
            out[minute] = found
    return out


def test_escalation_once_after_n_minutes_and_never_after_an_ack(store: Store) -> None:
    m = AlertManager(store, AlertPolicy(escalate_after="15m", repeat_interval=None))
    ignored = m.process([sig({"team": "a"}, T0)], T0)[0].alert
    taken = m.process([sig({"team": "b"}, T0)], T0)[0].alert
    m.ack(taken.id, "zhao", minutes(10))

    ticks = _tick_every_minute(m, 0, 90)
    assert {k: reasons(v) for k, v in ticks.items()} == {15: [("escalated", ignored.id)]}
    assert ticks[15][0].alert.escalation_level == 1
    assert m.get(taken.id).escalation_level == 0
    last = m.transitions(ignored.id)[-1]
    assert (last.from_state, last.to_state, last.who, last.at) == (
        "firing",
        "firing",
        "system",
        minutes(15),
    )
    assert "level 1" in last.note and "15m" in last.note and "第 1 级" in last.note


def test_each_escalation_level_once_even_when_the_tick_is_late(store: Store) -> None:
    m = AlertManager(store, AlertPolicy(escalate_after=["15m", "1h"], repeat_interval=None))
    alert = m.process([sig({"team": "a"}, T0)], T0)[0].alert
    late = m.tick(minutes(120))
    assert [(n.reason, n.alert.escalation_level) for n in late] == [
        ("escalated", 1),
        ("escalated", 2),
    ]
    assert m.tick(minutes(121)) == []
    assert m.get(alert.id).escalation_level == 2


def test_repeat_notices_exactly_at_the_interval_until_acknowledged(store: Store) -> None:
    m = AlertManager(store, AlertPolicy(escalate_after=[], repeat_interval="1h"))
    alert = m.process([sig({"team": "a"}, T0)], T0)[0].alert
    ticks = _tick_every_minute(m, 0, 180)
    assert {k: reasons(v) for k, v in ticks.items()} == {
        60: [("repeat", alert.id)],
        120: [("repeat", alert.id)],
        180: [("repeat", alert.id)],
    }
    m.ack(alert.id, "li", minutes(181))
    assert _tick_every_minute(m, 181, 250) == {}  # 240 would have been the next


# -- silences -------------------------------------------------------------------------------------
def test_silence_mutes_until_its_end_then_notices_resume(store: Store) -> None:
    m = AlertManager(store, AlertPolicy(escalate_after="15m", repeat_interval="1h"))
    sid = m.silence({"team": "a"}, minutes(30), "ops", T0, reason="maintenance 维护")

    muted = m.process([sig({"team": "a"}, minutes(1)), sig({"team": "b"}, minutes(1))], minutes(1))
    [b_notice] = muted  # team a is recorded but not announced
    assert b_notice.alert.labels == {"team": "b"}
    m.process([sig({"team": "a"}, minutes(2))], minutes(2))
    [a_alert] = m.list(labels={"team": "a"}, now=minutes(2))
    assert (a_alert.count, a_alert.silenced_by, a_alert.muted) == (2, (sid,), True)

    a_ticks = {
        k: [n.reason for n in v if n.alert.id == a_alert.id]
        for k, v in _tick_every_minute(m, 2, 150).items()
    }
    # held back until 00:30; then escalation and repeats count from that first notice
    assert {k: v for k, v in a_ticks.items() if v} == {
        30: ["firing"],
        45: ["escalated"],
        90: ["repeat"],
        150: ["repeat"],
    }
    assert m.list(labels={"team": "a"}, now=minutes(31))[0].silenced_by == ()


def test_silence_on_rule_cancel_early_and_no_resolved_notice_while_muted(store: Store) -> None:
    m = AlertManager(store, AlertPolicy(escalate_after=[], repeat_interval="1h"))
    sid = m.silence({"rule": "backlog_high"}, minutes(120), "ops", T0)
    assert m.process([sig({"team": "a"}, T0), sig({"team": "b"}, T0)], T0) == []
    assert m.process([sig({"team": "b"}, minutes(5), firing=False)], minutes(5)) == []

    cancelled = m.unsilence(sid, "ops-lead", minutes(10))
    assert (cancelled.cancelled_at, cancelled.cancelled_by) == (minutes(10), "ops-lead")
    assert [s.id for s in m.silences(minutes(10))] == []
    with pytest.raises(AlertError, match="not in force"):
        m.unsilence(sid, "ops-lead", minutes(11))
    [owed] = m.tick(minutes(10))  # only team a is still open
    assert (owed.reason, owed.alert.labels) == ("firing", {"team": "a"})


def test_a_silence_needs_matchers_and_a_future_end(store: Store) -> None:
    m = AlertManager(store)
    with pytest.raises(AlertError, match="matcher"):
        m.silence({}, minutes(10), "ops", T0)
    with pytest.raises(AlertError, match="end after now"):
        m.silence({"team": "a"}, T0, "ops", T0)


# -- inhibition -----------------------------------------------------------------------------------
SITE_POLICY = AlertPolicy(
    escalate_after=[],
    repeat_interval=None,
    inhibit=[InhibitRule(source={"scope": "site"}, target={"scope": "agent"}, equal=("site",))],
)


def test_a_site_alert_inhibits_that_sites_agent_alerts_until_it_resolves(store: Store) -> None:
    m = AlertManager(store, SITE_POLICY)
    site_down = sig({"scope": "site", "site": "sh"}, T0, rule="site_wait")
    agent_sh = sig({"scope": "agent", "site": "sh", "agent": "a1"}, T0, rule="agent_slow")
    agent_bj = sig({"scope": "agent", "site": "bj", "agent": "b1"}, T0, rule="agent_slow")

    notices = m.process([site_down, agent_sh, agent_bj], T0)
    assert [(n.reason, n.alert.labels.get("agent", "-")) for n in notices] == [
        ("firing", "-"),
        ("firing", "b1"),
    ]
    site_id = notices[0].alert.id
    shown = {a.labels.get("agent", "-"): a.inhibited_by for a in m.list(now=minutes(1))}
    assert shown == {"-": (), "a1": (site_id,), "b1": ()}

    # acknowledging the site alert keeps the inhibition: the condition still holds
    m.ack(site_id, "li", minutes(2))
    assert m.tick(minutes(3)) == []

    site_up = sig({"scope": "site", "site": "sh"}, minutes(20), firing=False, rule="site_wait")
    cleared = m.process([site_up], minutes(20))
    assert reasons(cleared) == [("resolved", site_id)]
    [lifted] = m.tick(minutes(20))
    assert (lifted.reason, lifted.alert.labels["agent"]) == ("firing", "a1")
    assert lifted.alert.inhibited_by == ()


def test_inhibition_needs_equal_labels_and_never_inhibits_itself(store: Store) -> None:
    policy = AlertPolicy(
        escalate_after=[],
        repeat_interval=None,
        inhibit=[InhibitRule(source={"severity": "critical"}, target={"team": "a"}, equal=())],
    )
    m = AlertManager(store, policy)
    # critical and in team a: matches both sides of the rule, yet it is announced
    notices = m.process([sig({"team": "a"}, T0, severity="critical")], T0)
    assert [n.reason for n in notices] == ["firing"]
    # with it open, any other team-a alert is inhibited (no equal labels to compare)
    assert m.process([sig({"team": "a", "agent": "x"}, T0)], T0) == []
    assert [n.reason for n in m.process([sig({"team": "b"}, T0)], T0)] == ["firing"]


# -- grouping and listing -------------------------------------------------------------------------
def _five_alerts(m: AlertManager) -> None:
    rows = [
        ("backlog_high", {"team": "a", "site": "sh"}),
        ("backlog_high", {"team": "b", "site": "sh"}),
        ("csat_low", {"team": "a", "site": "bj"}),
        ("csat_low", {"team": "a", "site": "sh"}),
        ("csat_low", {"site": "gz"}),
    ]
    m.process([sig(labels, T0, rule=rule) for rule, labels in rows], T0)


def test_groups_count_alerts_by_team_site_and_rule(store: Store) -> None:
    m = AlertManager(store, NO_ESCALATION)
    _five_alerts(m)
    first = m.list(state="all", limit=None)[-1].id  # ids are consecutive from the first
    m.ack(first + 2, "li", minutes(1))

    by_team = {g.key["team"]: (g.count, g.alert_ids, g.states) for g in m.groups()}
    assert by_team == {
        "a": (3, (first, first + 2, first + 3), {"firing": 2, "acknowledged": 1}),
        "b": (1, (first + 1,), {"firing": 1}),
        "": (1, (first + 4,), {"firing": 1}),
    }
    by_site_rule = [(g.key, g.count) for g in m.groups(by=("site", "rule"))]
    assert by_site_rule == [
        ({"site": "sh", "rule": "backlog_high"}, 2),
        ({"site": "bj", "rule": "csat_low"}, 1),
        ({"site": "gz", "rule": "csat_low"}, 1),
        ({"site": "sh", "rule": "csat_low"}, 1),
    ]
    m.resolve(first, "li", minutes(2))
    assert {g.key["team"]: g.count for g in m.groups(state="open")}["a"] == 2
    assert {g.key["team"]: g.count for g in m.groups(state="all")}["a"] == 3


def test_list_filters_by_state_rule_and_labels(store: Store) -> None:
    m = AlertManager(store, NO_ESCALATION)
    _five_alerts(m)
    first = min(a.id for a in m.list(state="all"))
    m.ack(first + 3, "li", minutes(1))
    m.resolve(first + 4, "li", minutes(1))

    def ids(**kw: object) -> list[int]:
        return sorted(a.id - first for a in m.list(**kw))  # type: ignore[arg-type]

    assert ids() == [0, 1, 2, 3, 4]  # None: every state
    assert ids(state="open") == [0, 1, 2, 3]
    assert ids(state="firing") == [0, 1, 2]
    assert ids(state="acknowledged") == [3]
    assert ids(state="resolved") == [4]
    assert ids(rule="csat_low") == [2, 3, 4]
    assert ids(labels={"site": "sh"}) == [0, 1, 3]
    assert ids(labels={"site": "sh", "team": "a"}, rule="csat_low") == [3]
    assert len(m.list(state="all", limit=2)) == 2
    with pytest.raises(AlertError, match="unknown state"):
        m.list(state="closed")


# -- the policy -----------------------------------------------------------------------------------
def test_policy_from_yaml() -> None:
    policy = AlertPolicy.from_yaml(
        "escalate_after: [15m, 1h]\n"
        "repeat_interval: 4h\n"
        "group_by: [team, site]\n"
        "inhibit:\n"
        "  - source: {scope: site}\n"
        "    target: {scope: agent}\n"
        "    equal: [site]\n"
    )
    assert policy.escalate_after == (timedelta(minutes=15), timedelta(hours=1))
    assert policy.repeat_interval == timedelta(hours=4)
    assert policy.group_by == ("team", "site")
    assert policy.inhibit[0] == InhibitRule(
        source={"scope": "site"}, target={"scope": "agent"}, equal=("site",)
    )
    assert AlertPolicy.from_yaml("repeat_interval: null\n").repeat_interval is None
    assert AlertPolicy().escalate_after == (timedelta(minutes=15),)


def test_policy_problems_come_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "escalate_after: [1h, 15m]\n"
        "repeat_interval: 2bd\n"
        "inhibit:\n"
        "  - source: {}\n"
        "    target: {scope: agent}\n"
        "colour: red\n",
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as err:
        AlertPolicy.load(path)
    found = {(p.line, p.field) for p in err.value.problems}
    assert found == {
        (1, "escalate_after"),
        (2, "repeat_interval"),
        (4, "inhibit[0].source"),
        (6, "colour"),
    }
    text = str(err.value)
    assert f"{path}:2: repeat_interval:" in text and "bd" in text
    assert "later than the one before" in text


def test_spans_read_and_written_as_people_write_them() -> None:
    assert parse_span("1h30m") == timedelta(minutes=90)
    assert parse_span("2d") == timedelta(hours=48)
    assert [span_text(timedelta(seconds=s)) for s in (90, 900, 14400, 93600)] == [
        "1m30s",
        "15m",
        "4h",
        "1d2h",
    ]
    with pytest.raises(ValueError, match="calendar time"):
        parse_span("1bd")


# -- several managers on one store ----------------------------------------------------------------
class StaleManager(AlertManager):
    """A manager whose first look for the open alert comes too late: another process opened it
    between our read and our insert (the race, made certain)."""

    def __init__(self, store: Store, policy: AlertPolicy) -> None:
        super().__init__(store, policy)
        self.stale_reads = 1

    def _open_row(self, session, fingerprint):  # type: ignore[no-untyped-def]
        if self.stale_reads:
            self.stale_reads -= 1
            return None
        return super()._open_row(session, fingerprint)


def test_a_lost_race_to_open_updates_the_winners_alert(url: str) -> None:
    with open_store(url=url) as one, open_store(url=url) as two:
        winner = AlertManager(one, NO_ESCALATION)
        late = StaleManager(two, NO_ESCALATION)
        assert [n.reason for n in winner.process([sig({"team": "a"}, T0)], T0)] == ["firing"]
        assert late.process([sig({"team": "a"}, minutes(1))], minutes(1)) == []
        assert late.stale_reads == 0  # the stale read did happen
        [alert] = winner.list(state="all")
        assert (alert.count, alert.last_seen_at) == (2, minutes(1))
        assert len(winner.transitions(alert.id)) == 1  # the loser's "opened" was rolled back


def test_concurrent_managers_never_open_two_alerts_for_one_fingerprint(url: str) -> None:
    rounds, teams = 6, ("a", "b", "c")
    barrier = threading.Barrier(2, timeout=60)
    notices: list[list[Notice]] = [[], []]
    errors: list[BaseException] = []

    def run(index: int, manager: AlertManager) -> None:
        try:
            for r in range(rounds):
                at = minutes(r)
                firing = r % 2 == 0  # fire, clear, fire, clear...
                batch = [sig({"team": t}, at, firing=firing) for t in teams]
                barrier.wait()
                notices[index] += manager.process(batch, at)
        except BaseException as exc:  # surfaced below, with the thread's own traceback
            errors.append(exc)
            barrier.abort()

    with open_store(url=url) as one, open_store(url=url) as two:
        threads = [
            threading.Thread(target=run, args=(i, AlertManager(s, NO_ESCALATION)))
            for i, s in enumerate((one, two))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        alerts = AlertManager(one).list(state="all", limit=None)

    fire_rounds = (rounds + 1) // 2
    # one alert per fingerprint per firing round, seen by both managers, cleared once
    assert len(alerts) == fire_rounds * len(teams)
    assert {(a.labels["team"], a.starts_at) for a in alerts} == {
        (t, minutes(r)) for t in teams for r in range(0, rounds, 2)
    }
    assert {(a.count, a.state, a.resolved_by) for a in alerts} == {(2, "resolved", "system")}
    said = [n.reason for n in notices[0] + notices[1]]
    assert said.count("firing") == fire_rounds * len(teams)
    assert said.count("resolved") == fire_rounds * len(teams)
