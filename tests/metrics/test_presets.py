"""Industry presets: packs valid, ids unique, docs complete, preset metrics computed by hand."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import servq
from servq.errors import DefinitionError
from servq.metrics.catalogue_registry import Catalogue, fact_columns
from servq.metrics.compute import MetricEngine, Request
from servq.metrics.model import MetricSpec, parse_catalogue, validate_metric
from servq.metrics.presets import (
    ORIGIN,
    Preset,
    load_presets,
    metrics_block,
    parse_preset,
    preset_metric_files,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "presets.md"
PREFIXES = {
    "government": "gov",
    "banking": "bank",
    "ecommerce": "ecom",
    "logistics": "logi",
    "healthcare": "health",
    "education": "edu",
    "telecom": "tel",
}
CJK = re.compile(r"[\u4e00-\u9fff]")


def _standard_ids() -> set[str]:
    # the catalogue without presets, whether or not presets are wired into it yet
    return {e.spec.id for e in Catalogue().entries() if not e.origin.startswith(ORIGIN)}


def _all_preset_metrics() -> list[MetricSpec]:
    return [m for p in load_presets().values() for m in p.metrics]


# -- the packs ------------------------------------------------------------------------------------
def test_every_industry_has_a_pack_that_loads() -> None:
    presets = load_presets()
    assert set(presets) == set(PREFIXES)
    for name, p in presets.items():
        assert isinstance(p, Preset)
        assert p.prefix == PREFIXES[name]
        assert len(p.metrics) >= 4, name


def test_preset_metrics_use_only_fact_columns() -> None:
    cols = fact_columns()
    for m in _all_preset_metrics():
        assert validate_metric(m, cols) == [], m.id


def test_ids_are_unique_prefixed_and_do_not_clash_with_the_catalogue() -> None:
    ids = [m.id for m in _all_preset_metrics()]
    assert len(ids) == len(set(ids))
    assert not set(ids) & _standard_ids()
    for name, p in load_presets().items():
        for m in p.metrics:
            assert m.id.startswith(f"{PREFIXES[name]}_"), m.id


def test_every_dashboard_metric_exists_and_every_preset_metric_is_watched() -> None:
    standard = _standard_ids()
    for name, p in load_presets().items():
        own = set(p.metric_ids())
        assert len(p.dashboard) == len(set(p.dashboard)), name
        for mid in p.dashboard:
            assert mid in standard or mid in own, f"{name}: {mid}"
        assert own <= set(p.dashboard), name
        assert set(p.targets) <= set(p.dashboard), name


def test_both_languages_everywhere() -> None:
    for p in load_presets().values():
        assert p.title_en and CJK.search(p.title_zh)
        assert p.description_en and CJK.search(p.description_zh)
        for m in p.metrics:
            assert m.name_en and CJK.search(m.name_zh), m.id
            assert len(m.definition_en) > 40 and CJK.search(m.definition_zh), m.id
            assert m.formula_text, m.id
        for codes in p.vocabulary.values():
            for term in codes.values():
                assert term.en and CJK.search(term.zh)


def test_targets_lie_on_the_right_side() -> None:
    cat = Catalogue()
    for p in load_presets().values():
        own = {m.id: m for m in p.metrics}
        for mid, t in p.targets.items():
            spec = own.get(mid) or cat.get(mid)
            assert spec.direction != "neutral", mid
            if t.warn is not None:
                if spec.direction == "higher_is_better":
                    assert t.warn <= t.target, mid
                else:
                    assert t.warn >= t.target, mid


def test_the_suggested_calendars_exist() -> None:
    from servq.calendar.registry import builtin_calendars

    for p in load_presets().values():
        assert p.calendar in builtin_calendars()


def test_params_never_collide_across_metrics() -> None:
    # the engine merges the params of every metric computed together: a preset metric that
    # reused threshold_seconds with another default would change the standard service level
    shared = {"short_abandon_seconds": 5.0, "repeat_days": 7.0}
    standard = {
        k: v
        for e in Catalogue().entries()
        if not e.origin.startswith(ORIGIN)
        for k, v in e.spec.params.items()
    }
    seen: dict[str, float] = {}
    for name, p in load_presets().items():
        for m in p.metrics:
            for k, v in m.params.items():
                if k in shared:
                    assert v == shared[k], (m.id, k)
                    continue
                assert k.startswith(f"{PREFIXES[name]}_"), (m.id, k)
                assert k not in standard, (m.id, k)
                assert seen.setdefault(k, v) == v, (m.id, k)


# -- handing metrics to the catalogue ------------------------------------------------------------
def test_metric_files_parse_like_builtins_and_keep_the_pack_line_numbers() -> None:
    presets = load_presets()
    files = preset_metric_files()
    assert len(files) == len(presets)
    for origin, text in files:
        name = origin.rsplit("/", 1)[-1].removesuffix(".yaml")
        assert parse_catalogue(text, origin, fact_columns()) == list(presets[name].metrics)
        # every "- id:" line sits where it sits in the pack
        pack = dict(_pack_sources())[origin]
        for i, line in enumerate(text.splitlines()):
            if line.strip():
                assert pack.splitlines()[i] == line


def _pack_sources() -> Iterable[tuple[str, str]]:
    from importlib import resources

    root = resources.files("servq.metrics.presets")
    for e in root.iterdir():
        if e.name.endswith(".yaml"):
            yield f"{ORIGIN}/{e.name}", e.read_text(encoding="utf-8")


def test_the_catalogue_registers_preset_metrics(tmp_path: Path) -> None:
    wired = any(e.origin.startswith(ORIGIN) for e in Catalogue().entries())
    if wired:
        cat = Catalogue()
    else:
        # until Catalogue reads preset_metric_files() itself, register them as a user would
        for origin, text in preset_metric_files():
            (tmp_path / origin.rsplit("/", 1)[-1]).write_text(text, encoding="utf-8")
        cat = Catalogue([tmp_path])
    for m in _all_preset_metrics():
        assert cat.get(m.id) == m


def test_a_broken_metric_in_a_pack_is_reported_at_its_pack_line() -> None:
    text = dict(_pack_sources())[f"{ORIGIN}/banking.yaml"]
    broken = text.replace("{wait_seconds: {gt: $bank_long", "{waiting: {gt: $bank_long", 1)
    line = next(i for i, x in enumerate(broken.splitlines(), 1) if "{waiting:" in x)
    with pytest.raises(DefinitionError) as info:
        parse_catalogue(metrics_block(broken, "b.yaml"), "b.yaml", fact_columns())
    assert f"b.yaml:{line}" in str(info.value)


def test_a_wrong_pack_lists_every_problem_with_its_line() -> None:
    text = (
        "preset: demo\n"
        "prefix: demo\n"
        "title_en: Demo\n"
        "title_zh: 演示\n"
        "description_en: d\n"
        "description_zh: 演示\n"
        "calendar: cn-offce\n"  # 7
        "metrics:\n"
        "  - id: x_rate\n"  # 9
        "    name_en: X\n"
        "    name_zh: 甲\n"
        "    definition_en: x\n"
        "    definition_zh: 甲\n"
        "    formula_text: a / b\n"
        "    unit: percent\n"
        "    direction: higher_is_better\n"
        "    servqual: reliability\n"
        "    source: case\n"
        "    time: created_at\n"
        "    filter: {category: refnd, channel: walkin}\n"  # 20
        "    measures:\n"
        "      a: {agg: count, filter: {no_such: 1}}\n"  # 22
        "      b: {agg: count}\n"
        "    formula: 100 * a / b\n"
        "dashboard: [x_rate, nope]\n"  # 25
        "targets:\n"
        "  x_rate: {target: 90, warn: 95}\n"  # 27
    )
    with pytest.raises(DefinitionError) as info:
        parse_preset(text, "demo.yaml")
    found = {(p.line, p.field) for p in info.value.problems}
    assert found >= {
        (7, "calendar"),
        (9, "metrics[0].id"),
        (20, "metrics[0].filter.category"),
        (20, "metrics[0].filter.channel"),
        (22, "metrics[0].measures.a.filter.no_such"),
        (25, "dashboard[1]"),
        (27, "targets.x_rate.warn"),
    }


def test_docs_list_every_preset_and_metric_with_its_definitions() -> None:
    text = " ".join(DOCS.read_text(encoding="utf-8").split())
    for name, p in load_presets().items():
        assert f"`{name}`" in text, name
        for m in p.metrics:
            assert f"| `{m.id}` | {m.name_en} | {m.name_zh} |" in text, m.id
            # the definitions as the pack states them: a page that drifts fails
            for words in (m.definition_en, m.definition_zh, m.formula_text):
                assert " ".join(words.split()) in text, m.id
        for col, codes in p.vocabulary.items():
            for code in codes:
                assert f"| `{col}` | `{code}` |" in text, (name, code)


def test_the_queue_ticket_profile_in_the_docs_is_valid() -> None:
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(r"```yaml\n(\s*name: queue-tickets.*?)```", text, re.S)
    assert found is not None
    profile = servq.parse_profile(textwrap.dedent(found.group(1)), "docs/presets.md")
    assert profile.target == "interaction"
    assert profile.fields["channel"].constant == "walk_in"


# -- computed by hand -----------------------------------------------------------------------------
class _WithPresets:
    """Stand-in for the catalogue: preset specs first, the standard catalogue for the rest."""

    def __init__(self) -> None:
        self.base = Catalogue()
        self.extra = {m.id: m for m in _all_preset_metrics()}

    def get(self, metric_id: str) -> MetricSpec:
        return self.extra.get(metric_id) or self.base.get(metric_id)


def _compute(ws: servq.Workspace, ids: list[str], **kw: Any) -> pd.Series:
    engine = MetricEngine(ws.warehouse, _WithPresets())  # type: ignore[arg-type]
    df = engine.compute(Request(metrics=tuple(ids), **kw))
    assert len(df) == 1
    return df.iloc[0]


QUEUE_PROFILE = """\
name: queue-tickets
title_en: Queue tickets of a service hall
target: interaction
system: helpdesk
timezone: Asia/Shanghai
fields:
  interaction_id: {column: ticket_no, required: true}
  case_id: matter_id
  channel: {constant: walk_in}
  direction: {constant: inbound}
  arrived_at: {column: taken_at, required: true}
  queue_seconds: waited
  outcome: {column: outcome, required: true}
  site: hall
"""


def test_government_metrics_by_hand(ws: servq.Workspace, tmp_path: Path) -> None:
    ws.ingest_frame(
        pd.DataFrame(
            {
                "ticket_id": ["G1", "G2", "G3", "G4", "G5"],
                "created_at": [
                    "2025-03-03 09:00",
                    "2025-03-03 09:30",
                    "2025-03-04 10:00",
                    "2025-03-04 11:00",
                    "2025-03-05 09:00",
                ],
                "due_at": [
                    "2025-03-10 18:00",
                    "2025-03-10 18:00",
                    "2025-03-11 18:00",
                    None,
                    "2025-03-12 18:00",
                ],
                "closed_at": [
                    "2025-03-07 10:00",  # on time
                    "2025-03-12 10:00",  # late
                    None,  # open past its deadline
                    "2025-03-05 10:00",  # no deadline
                    "2025-03-06 10:00",  # on time
                ],
                "channel": ["walk_in", "walk_in", "walk_in", "web", "app"],
            }
        ),
        "tickets",
    )
    profile = tmp_path / "queue-tickets.yaml"
    profile.write_text(QUEUE_PROFILE, encoding="utf-8")
    ws.ingest_frame(
        pd.DataFrame(
            {
                "ticket_no": ["V1", "V2", "V3", "V4", "V5", "V6", "V7"],
                "matter_id": ["G1", "G2", "G2", "G3", "G5", None, None],
                "taken_at": [f"2025-03-0{d} 09:00" for d in (3, 3, 4, 4, 5, 5, 5)],
                "waited": [600, 2400, 300, 1900, 100, 2000, 3],
                "outcome": ["answered"] * 5 + ["abandoned", "abandoned"],
                "hall": ["H"] * 7,
            }
        ),
        profile,
    )
    got = _compute(
        ws,
        [
            "gov_on_time_completion_rate",
            "on_time_completion_rate",
            "gov_one_visit_completion_rate",
            "gov_online_completion_rate",
            "gov_hall_wait_time",
            "gov_hall_long_wait_rate",
        ],
    )
    # due in the data: G1 ✓, G2 late, G3 open past due, G5 ✓ → 2 of 4; the standard metric
    # sees only the closed ones (G1, G2, G5) → 2 of 3
    assert got.gov_on_time_completion_rate == pytest.approx(50.0)
    assert got.on_time_completion_rate == pytest.approx(200 / 3)
    # completed with visits: G1 (1 visit), G2 (2), G5 (1); G3 is not completed, G4 had none
    assert got.gov_one_visit_completion_rate == pytest.approx(200 / 3)
    # completed: G1, G2, G4, G5; only G4 was applied for online and never visited (G5: app + visit)
    assert got.gov_online_completion_rate == pytest.approx(25.0)
    # called tickets wait (600 + 2400 + 300 + 1900 + 100) / 5
    assert got.gov_hall_wait_time == pytest.approx(1060.0)
    # over 30 min: V2, V4 and V6 (left after 2000 s) of 7 tickets taken
    assert got.gov_hall_long_wait_rate == pytest.approx(300 / 7)


def test_banking_vip_service_level_and_abandonment_by_hand(ws: servq.Workspace) -> None:
    calls = [
        # priority, outcome, queue seconds
        ("high", "answered", 5),
        ("high", "answered", 8),
        ("high", "answered", 15),
        ("high", "answered", 30),
        ("high", "abandoned", 3),  # short abandon
        ("high", "abandoned", 40),
        ("urgent", "answered", 9),
        ("normal", "answered", 1),
        ("normal", "abandoned", 100),
    ]
    ws.ingest_frame(
        pd.DataFrame(
            {
                "call_id": [f"C{i}" for i in range(len(calls))],
                "arrived_at": ["2025-03-03T09:00:00+08:00"] * len(calls),
                "priority": [c[0] for c in calls],
                "outcome": [c[1] for c in calls],
                "queue_seconds": [c[2] for c in calls],
            }
        ),
        "calls",
    )
    got = _compute(
        ws, ["bank_vip_service_level", "bank_vip_abandonment_rate", "service_level_excl_short"]
    )
    # VIP: answered within 10 s: 5, 8, 9 → 3; offered 7 less 1 short abandon
    assert got.bank_vip_service_level == pytest.approx(50.0)
    # one VIP abandon after the 5 s cut-off, over 7 − 1
    assert got.bank_vip_abandonment_rate == pytest.approx(100 / 6)
    # computed alongside, the standard 20 s service level keeps its own threshold:
    # 5, 8, 15, 9, 1 within 20 s, over 9 offered less 1 short abandon
    assert got.service_level_excl_short == pytest.approx(62.5)


def test_healthcare_complaints_in_working_days_and_satisfaction_by_hand(
    ws: servq.Workspace,
) -> None:
    ws.ingest_frame(
        pd.DataFrame(
            {
                "ticket_id": ["H1", "H2", "H3", "H4", "H5"],
                "created_at": [
                    "2025-03-03 10:00",
                    "2025-03-03 10:00",
                    "2025-09-30 10:00",
                    "2025-03-04 10:00",
                    "2025-03-03 10:00",
                ],
                "resolved_at": [
                    "2025-03-10 09:30",
                    "2025-03-10 11:00",
                    "2025-10-13 10:00",
                    None,
                    "2025-03-20 10:00",
                ],
            }
        ),
        "tickets",
    )
    ids = ["health_complaint_5wd_rate", "health_complaint_10wd_rate"]
    got = _compute(ws, ids, calendar="cn-office")
    # cn-office days are 7.5 h (09:00–12:00, 13:30–18:00); 5 working days = 37.5 h.
    # H1: Mon 10:00 → next Mon 09:30 = 6.5 + 4 × 7.5 + 0.5 = 37 h ✓
    # H2: Mon 10:00 → next Mon 11:00 = 38.5 h ✗ (within 10 working days ✓)
    # H3: 30 Sep 10:00 → 13 Oct 10:00 across National Day (1–8 Oct off, Sat 11 Oct worked):
    #     6.5 + 9, 10, 11 Oct (22.5) + 1 = 30 h ✓ although 13 calendar days passed
    # H4: never answered ✗; H5: 17 days later = 97.5 h ✗ even for 10 working days
    assert got.health_complaint_5wd_rate == pytest.approx(40.0)
    assert got.health_complaint_10wd_rate == pytest.approx(60.0)
    # without the calendar the limits are calendar time: only nothing beats 37.5 hours
    assert _compute(ws, ids).health_complaint_5wd_rate == pytest.approx(0.0)

    ws.ingest_frame(
        pd.DataFrame(
            {
                "feedback_id": ["F1", "F2", "F3", "F4", "F5", "F6"],
                "submitted_at": ["2025-03-05 12:00"] * 6,
                "survey": ["csat", "csat", "csat", "csat", "csat", "nps"],
                "score": [5, 4, 2, 8, 3, 10],
                "scale_min": [1, 1, 1, 0, None, 0],
                "scale_max": [5, 5, 5, 10, None, 10],
            }
        ),
        "feedback",
    )
    got = _compute(ws, ["health_patient_satisfaction_index"])
    # (4 + 3 + 1 + 8) / (4 + 4 + 4 + 10): F5 has no scale, F6 is not a satisfaction survey
    assert got.health_patient_satisfaction_index == pytest.approx(100 * 16 / 22)


def test_telecom_repeat_based_fcr_and_fault_repair_by_hand(ws: servq.Workspace) -> None:
    ws.ingest_frame(
        pd.DataFrame(
            {
                "ticket_id": ["T1", "T2", "T3", "T4", "T5", "T6", "T7"],
                "customer_id": ["c1", "c1", "c1", "c1", "c2", "c2", None],
                "category": [
                    "network_fault",
                    "network_fault",
                    "network_fault",
                    "billing",
                    "billing",
                    "billing",
                    "network_fault",
                ],
                "created_at": [
                    "2025-03-01 10:00",
                    "2025-03-05 10:00",  # repeat of T1 (4 days)
                    "2025-03-20 10:00",  # 15 days after T2: not a repeat
                    "2025-03-06 10:00",  # another category: not a repeat
                    "2025-03-02 10:00",
                    "2025-03-08 09:00",  # repeat of T5 (5 days 23 h)
                    "2025-03-03 10:00",  # unidentified caller
                ],
                "resolved_at": [
                    "2025-03-02 10:00",  # 24 h
                    "2025-03-07 12:00",  # 50 h
                    None,
                    "2025-03-06 12:00",
                    "2025-03-02 12:00",
                    "2025-03-08 12:00",
                    "2025-03-05 09:00",  # 47 h
                ],
            }
        ),
        "tickets",
    )
    got = _compute(
        ws,
        [
            "tel_fcr_7d",
            "repeat_complaint_rate",
            "tel_network_fault_48h_rate",
            "tel_network_fault_repair_time",
            "tel_billing_complaint_share",
        ],
    )
    # identified customers: 6 cases, 2 repeats
    assert got.tel_fcr_7d == pytest.approx(400 / 6)
    assert got.repeat_complaint_rate == pytest.approx(200 / 7)
    # faults T1 (24 h ✓), T2 (50 h ✗), T3 (open ✗), T7 (47 h ✓)
    assert got.tel_network_fault_48h_rate == pytest.approx(50.0)
    assert got.tel_network_fault_repair_time == pytest.approx((24 + 50 + 47) / 3 * 3600)
    assert got.tel_billing_complaint_share == pytest.approx(300 / 7)
