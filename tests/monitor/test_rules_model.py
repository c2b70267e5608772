"""Rule files: the shipped examples are valid, and every mistake of a file is reported at once
with its line and field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from servq.errors import DefinitionError
from servq.metrics.catalogue_registry import Catalogue
from servq.monitor.rules import (
    RULE_KINDS,
    AnomalyRule,
    ThresholdRule,
    VolumeSpikeRule,
    builtin_rule_files,
    parse_change,
    parse_rules,
    parse_span,
    statistics,
)

BAD = """\
rules:
  - name: slow
    kind: threshold
    metric: first_reply_tme
    op: ">"
    value: 30m
  - name: slow
    kind: threshold
    metric: first_reply_time
    statistic: p99
    by: [tem]
    op: "=>"
    value: 30
    for: 10 minutes
  - name: up
    kind: relative_change
    metric: csat
    change: 30%
  - name: what
    kind: trend
  - name: odd
    kind: anomaly
    metric: cases_created
    history: 10d
  - name: words
    kind: risk_words
    lists: [zh, fr]
    by: [queue]
  - name: spike
    kind: volume_spike
    metric: csat
    window: 15m
    baseline: 0m
    factor: 0.5
"""


def _problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(DefinitionError) as err:
        parse_rules(text, "mine.yaml")
    assert all(p.file == "mine.yaml" for p in err.value.problems)
    return [(p.line, p.field, p.message) for p in err.value.problems]


def test_every_mistake_is_reported_at_once_with_its_line() -> None:
    found = _problems(BAD)
    where = [(line, field) for line, field, _ in found]
    assert where == [
        (4, "rules[0].metric"),  # no such metric
        (7, "rules[1].name"),  # the same name twice
        (10, "rules[1].statistic"),  # first_reply_time has no p99
        (11, "rules[1].by"),  # no dimension 'tem'
        (12, "rules[1].op"),
        (13, "rules[1].value"),  # a duration without a unit
        (14, "rules[1].for"),
        (18, "rules[2].change"),  # no sign
        (19, "rules[3]"),  # unknown kind
        (24, "rules[4].history"),  # not whole weeks
        (27, "rules[5].lists"),
        (28, "rules[5].by"),  # interactions have a queue, feedback and cases do not
        (31, "rules[6].metric"),  # csat does not count things
        (33, "rules[6].baseline"),
        (34, "rules[6].factor"),
    ]
    messages = {field: message for _, field, message in found}
    assert "first_reply_tme" in messages["rules[0].metric"]
    assert "mean, median, p90, p95" in messages["rules[1].statistic"]
    assert "'slow' is also the name of rules[0]" in messages["rules[1].name"]
    assert "with a unit" in messages["rules[1].value"]
    assert all(kind in messages["rules[3]"] for kind in RULE_KINDS)
    assert "'fr'" in messages["rules[5].lists"]
    assert "longer than zero" in messages["rules[6].baseline"]


def test_an_empty_file_and_a_rule_missing_its_kind_fields() -> None:
    assert _problems("rules: []\n") == [
        (1, "rules", "Value error, a rule file holds at least one rule")
    ]
    found = _problems("rules:\n  - name: t\n    kind: threshold\n    metric: csat\n")
    assert [(line, field) for line, field, _ in found] == [
        (2, "rules[0].op"),
        (2, "rules[0].value"),
    ]


def test_the_shipped_example_is_valid_and_has_every_kind() -> None:
    files = builtin_rule_files()
    assert "standard" in files
    ruleset = parse_rules(files["standard"], "standard.yaml")
    assert {r.kind for r in ruleset.rules} == set(RULE_KINDS)
    slow = ruleset.get("slow-first-reply")
    assert isinstance(slow, ThresholdRule)
    assert (slow.value, slow.window, slow.for_, slow.every) == (
        1800.0,
        timedelta(hours=1),
        timedelta(minutes=10),
        timedelta(minutes=1),
    )
    spike = ruleset.get("case-spike")
    assert isinstance(spike, VolumeSpikeRule) and spike.metric == "cases_created"


def test_durations_changes_and_statistics() -> None:
    assert parse_span("1h30m") == timedelta(minutes=90)
    assert parse_span("4w") == timedelta(days=28)
    assert parse_change("+30%") == pytest.approx(0.3)
    assert parse_change("-20%") == pytest.approx(-0.2)
    for bad in ("30%", "+0%", "-100%", 0.3):
        with pytest.raises(ValueError):
            parse_change(bad)
    with pytest.raises(ValueError):
        parse_span(30)
    cat = Catalogue()
    assert statistics(cat.get("first_reply_time")) == ("mean", "median", "p90", "p95")
    assert statistics(cat.get("csat")) == ()
    rule = parse_rules(
        "rules:\n  - {name: a, kind: anomaly, metric: asa, statistic: p90, history: 3w}\n"
    ).rules[0]
    assert isinstance(rule, AnomalyRule)
    assert rule.column(cat.get("asa")) == "asa_p90" and rule.twins() == 3


def test_a_threshold_on_a_percentage_takes_a_number_or_a_percent() -> None:
    text = "rules:\n  - {name: a, kind: threshold, metric: answer_rate, op: '<', value: VALUE}\n"
    for value in ("80", "80%"):
        rule = parse_rules(text.replace("VALUE", value)).rules[0]
        assert isinstance(rule, ThresholdRule) and rule.value == 80.0


def test_labels_must_not_shadow_a_dimension() -> None:
    found = _problems(
        "rules:\n  - {name: a, kind: threshold, metric: csat, op: '<', value: 80,\n"
        "     labels: {team: x}, by: [team]}\n"
    )
    assert [(line, field) for line, field, _ in found] == [(3, "rules[0].by")]
