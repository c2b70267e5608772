"""Verifying improvement plans: criteria read from text and YAML, verdicts on planted effects.

One warehouse holds every scenario, each in its own team or site, loaded through the real
ticket and feedback profiles with a fixed seed:

- team A: resolution time 20% shorter in April 2025 than in March (lognormal, n = 2,000 each);
- team B: the same distribution in both months;
- team C: fast and slow categories with the same times in both months, but 20% fast cases in
  March and 80% in April (a case-mix shift and no real change);
- sites S3 and S4: repeat complaints per week, February to March 2025 (S3: 10 of 210 a week
  before, 2 of 202 after; S4: 3 of 203 a week, and 8 of 208 in the third week after);
- team F: CSAT 70% good in March, 80% in April (n = 600 each); team G: 12 answers each month,
  6 then 12 good (small counts, Fisher's exact test).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import servq
from servq.errors import ServqError
from servq.improve.verify import (
    Criterion,
    complete_buckets,
    metric_shape,
    mover_ratio,
    newcombe_difference,
    parse_criterion,
    verify,
    wilson,
)
from servq.reports.period import parse_period

SEED = 20250301
AFTER_ALL = datetime(2025, 6, 1)  # every period of the scenarios is over
HOUR = 3600.0


def _stamp(values: pd.DatetimeIndex | pd.Series) -> list[str]:
    return [pd.Timestamp(v).strftime("%Y-%m-%d %H:%M:%S") for v in values]


def _month_times(rng: np.random.Generator, month: str, n: int) -> pd.DatetimeIndex:
    start = pd.Timestamp(f"{month}-01")
    seconds = (start + pd.offsets.MonthBegin(1) - start).total_seconds()
    return pd.DatetimeIndex(start + pd.to_timedelta(rng.uniform(0, seconds, n), unit="s"))


def _tickets(
    team: str,
    month: str,
    durations: np.ndarray,
    rng: np.random.Generator,
    categories: list[str] | None = None,
) -> pd.DataFrame:
    n = len(durations)
    created = _month_times(rng, month, n)
    resolved = created + pd.to_timedelta(np.round(durations), unit="s")
    return pd.DataFrame(
        {
            "ticket_id": [f"{team}-{month}-{i}" for i in range(n)],
            "created_at": _stamp(created),
            "resolved_at": _stamp(resolved),
            "team": team,
            "site": "S1",
            "channel": rng.choice(["phone", "chat", "email"], n),
            "category": categories if categories is not None else rng.choice(["bill", "ship"], n),
            "customer_id": [f"{team}-{month}-c{i}" for i in range(n)],
        }
    )


def _repeat_week(site: str, monday: date, base: int, repeats: int) -> pd.DataFrame:
    """``base`` cases of distinct customers on Monday to Friday, and ``repeats`` of them coming
    back a day later about the same thing (a repeat complaint each)."""
    rows = []
    for i in range(base):
        created = datetime.combine(monday, datetime.min.time()) + timedelta(
            days=i % 5, hours=9, minutes=i % 400
        )
        rows.append((f"{site}-{monday}-{i}", created, f"{site}-{monday}-c{i}"))
    for j in range(repeats):
        _, first, customer = rows[j]
        rows.append((f"{site}-{monday}-r{j}", first + timedelta(days=1), customer))
    return pd.DataFrame(
        {
            "ticket_id": [r[0] for r in rows],
            "created_at": [r[1].strftime("%Y-%m-%d %H:%M:%S") for r in rows],
            "resolved_at": [
                (r[1] + timedelta(hours=5)).strftime("%Y-%m-%d %H:%M:%S") for r in rows
            ],
            "team": "R",
            "site": site,
            "channel": ["phone" if k % 2 else "chat" for k in range(len(rows))],
            "category": "complaint",
            "customer_id": [r[2] for r in rows],
        }
    )


def _csat(team: str, month: str, good: int, n: int, rng: np.random.Generator) -> pd.DataFrame:
    scores = np.array([5] * good + [2] * (n - good))
    rng.shuffle(scores)
    return pd.DataFrame(
        {
            "feedback_id": [f"{team}-{month}-f{i}" for i in range(n)],
            "submitted_at": _stamp(_month_times(rng, month, n)),
            "survey": "csat",
            "score": scores.astype(str),
            "team": team,
        }
    )


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servq.Workspace]:
    rng = np.random.default_rng(SEED)

    def lognormal(hours: float, n: int) -> np.ndarray:
        return rng.lognormal(np.log(hours * HOUR), 0.4, n)

    n = 2000
    frames = [
        _tickets("A", "2025-03", lognormal(8, n), rng),
        _tickets("A", "2025-04", 0.8 * lognormal(8, n), rng),
        _tickets("B", "2025-03", lognormal(8, n), rng),
        _tickets("B", "2025-04", lognormal(8, n), rng),
    ]
    for month, fast_share in (("2025-03", 0.2), ("2025-04", 0.8)):
        m = 1500
        fast = np.arange(m) < round(fast_share * m)  # exactly that share, in random order
        rng.shuffle(fast)
        durations = np.where(fast, lognormal(1, m), lognormal(10, m))
        cats = ["fast" if f else "slow" for f in fast]
        frames.append(_tickets("C", month, durations, rng, categories=cats))
    weeks = [date(2025, 2, 3) + timedelta(weeks=k) for k in range(8)]  # Feb 3 – Mar 30
    for k, monday in enumerate(weeks):
        after = k >= 4
        frames.append(_repeat_week("S3", monday, 200, 2 if after else 10))
        frames.append(_repeat_week("S4", monday, 200, 8 if k == 6 else 3))
    feedback = [
        _csat("F", "2025-03", 420, 600, rng),
        _csat("F", "2025-04", 480, 600, rng),
        _csat("G", "2025-03", 6, 12, rng),
        _csat("G", "2025-04", 12, 12, rng),
    ]
    path = tmp_path_factory.mktemp("improve") / "ws"
    with servq.open_workspace(path) as w:
        result = w.ingest_frame(pd.concat(frames, ignore_index=True), "tickets")
        assert result.quarantined == 0
        result = w.ingest_frame(pd.concat(feedback, ignore_index=True), "feedback")
        assert result.quarantined == 0
        yield w


def _dashboard(ws: servq.Workspace, metric: str, period: str, **where: list[str]) -> float:
    p = parse_period(period)
    df = ws.metrics(metric, start=p.start, end=p.end, where=where, timezone="Asia/Shanghai")
    return float(df[metric].iloc[0])


# -- durations ----------------------------------------------------------------------------------
def test_a_planted_20_percent_reduction_is_met(ws: servq.Workspace) -> None:
    c = Criterion.parse("full_resolution_time[team=A] in 2025-04 <= 85% of 2025-03")
    v = verify(ws, c, now=AFTER_ALL)
    assert v.status == "met"
    assert v.statistic == "duration"
    assert v.test == "mann_whitney_u" and v.p_value is not None and v.p_value < 0.001
    assert v.effect is not None and abs(v.effect - (-0.20)) <= 0.03
    assert v.ci_low is not None and v.ci_high is not None
    assert v.ci_low <= -0.20 <= v.ci_high
    assert v.ci_high < 0
    # the values are the dashboard's
    assert v.before == pytest.approx(_dashboard(ws, "full_resolution_time", "2025-03", team=["A"]))
    assert v.after == pytest.approx(_dashboard(ws, "full_resolution_time", "2025-04", team=["A"]))
    assert v.n_before == 2000 and v.n_after == 2000
    assert v.before is not None and v.after is not None and v.target is not None
    assert v.target == pytest.approx(0.85 * v.before)
    assert v.after <= v.target
    assert v.mix_warning is None
    assert v.explanation_en.startswith("Met") and v.explanation_zh.startswith("已达成")
    assert v.details["resamples"] >= 2000
    json.dumps(v.as_dict())  # JSON-ready


def test_the_same_reduction_short_of_a_harder_target_is_not_met(ws: servq.Workspace) -> None:
    v = verify(
        ws,
        Criterion.parse("full_resolution_time[team=A] in 2025-04 <= 70% of 2025-03"),
        now=AFTER_ALL,
    )
    assert v.status == "not_met"  # moved the right way significantly, but not to 70%
    assert "not far enough" in v.explanation_en


def test_no_change_is_not_effective(ws: servq.Workspace) -> None:
    c = Criterion.from_dict(
        {
            "metric": "full_resolution_time",
            "where": {"team": ["B"]},
            "period": "2025-04",
            "baseline": "2025-03",
            "op": "<=",
            "ratio": 0.85,
        }
    )
    v = verify(ws, c, now=AFTER_ALL)
    assert v.status == "not_effective"
    assert v.p_value is not None and v.p_value > 0.05
    assert v.ci_low is not None and v.ci_high is not None
    assert v.ci_low < 0 < v.ci_high
    assert v.effect is not None and abs(v.effect) < 0.03
    assert v.mix_warning is None


def test_a_period_not_over_is_pending(ws: servq.Workspace) -> None:
    c = Criterion.parse("full_resolution_time[team=A] in 2025-04 <= 85% of 2025-03")
    v = verify(ws, c, now=datetime(2025, 4, 15, 8, 0))
    assert v.status == "pending"
    assert v.after is not None  # the value so far is still given
    assert v.explanation_zh.startswith("待验证")


def test_a_case_mix_shift_is_flagged(ws: servq.Workspace) -> None:
    c = Criterion.parse("full_resolution_time[team=C] in 2025-04 <= 85% of 2025-03")
    v = verify(ws, c, now=AFTER_ALL)
    # the raw numbers fall by about two thirds, all of it from more fast cases
    assert v.effect is not None and v.effect < -0.5
    assert v.mix_warning is not None
    assert "category" in v.mix_warning and "类别" in v.mix_warning
    assert "fast 20% → 80%" in v.mix_warning
    assert v.mix_shift is not None
    assert v.mix_shift["most_shifted"] == "category"
    assert "category" in v.mix_shift["shifted"]
    std = v.mix_shift["standardised_effect"]
    assert std is not None and abs(std) < 0.05
    # channels were drawn alike in both months: not shifted
    channel = next(d for d in v.mix_shift["dimensions"] if d["dimension"] == "channel")
    assert not channel["shifted"]


# -- proportions --------------------------------------------------------------------------------
def test_a_csat_rise_is_tested_as_a_proportion(ws: servq.Workspace) -> None:
    v = verify(ws, Criterion.parse("csat[team=F] in 2025-04 >= 110% of 2025-03"), now=AFTER_ALL)
    assert v.statistic == "proportion"
    assert v.before == pytest.approx(70.0) and v.after == pytest.approx(80.0)
    assert v.test == "two_proportion_z"
    assert v.p_value is not None and v.p_value < 0.001
    assert v.effect == pytest.approx(80 / 70 - 1)
    assert v.ci_low is not None and v.ci_high is not None
    assert 0 < v.ci_low < 80 / 70 - 1 < v.ci_high
    assert v.status == "met"
    # the difference in points and its Newcombe interval come along
    assert v.details["difference"] == pytest.approx(10.0)
    lo, hi = v.details["difference_ci"]
    assert 5 < lo < 10 < hi < 15
    # a target above what was reached: a significant rise, not enough
    harder = verify(
        ws, Criterion.parse("csat[team=F] in 2025-04 >= 120% of 2025-03"), now=AFTER_ALL
    )
    assert harder.status == "not_met"


def test_small_counts_use_fishers_exact_test(ws: servq.Workspace) -> None:
    v = verify(ws, Criterion.parse("csat[team=G] in 2025-04 >= 95 vs 2025-03"), now=AFTER_ALL)
    assert v.test == "fisher_exact"
    assert v.after == pytest.approx(100.0) and v.before == pytest.approx(50.0)
    assert v.effect == pytest.approx(50.0)  # points, for an absolute criterion
    assert v.status == "met"


def test_repeat_complaints_sustained_four_weeks(ws: servq.Workspace) -> None:
    c = Criterion.parse(
        "repeat_complaint_rate[site=S3] in 2025-03-03..2025-03-30 < 2 for 4 consecutive weeks"
    )
    assert (c.grain, c.consecutive, c.value) == ("week", 4, 2.0)
    v = verify(ws, c, now=AFTER_ALL)
    assert v.status == "met"
    assert v.per_period is not None
    assert [e["period"] for e in v.per_period] == ["2025-W10", "2025-W11", "2025-W12", "2025-W13"]
    assert [e["value"] for e in v.per_period] == pytest.approx([100 * 2 / 202] * 4)
    assert all(e["ok"] for e in v.per_period)
    assert [e["n"] for e in v.per_period] == [202] * 4
    # before: the four weeks just before, 10 repeats of 210 a week
    assert v.baseline["label"] == "2025-02-03..2025-03-02"
    assert v.before == pytest.approx(100 * 40 / 840)
    assert v.after == pytest.approx(100 * 8 / 808)
    assert v.test == "two_proportion_z" and v.p_value is not None and v.p_value < 0.001
    assert v.effect == pytest.approx(100 * (8 / 808 - 40 / 840))
    assert v.ci_low is not None and v.ci_high is not None and v.ci_high < 0


def test_one_week_above_the_line_is_not_met(ws: servq.Workspace) -> None:
    c = Criterion.from_dict(
        {
            "metric": "repeat_complaint_rate",
            "where": {"site": ["S4"]},
            "period": "2025-03-03..2025-03-30",
            "op": "<",
            "value": 2,
            "grain": "week",
            "consecutive": 4,
        }
    )
    v = verify(ws, c, now=AFTER_ALL)
    assert v.per_period is not None
    assert [e["ok"] for e in v.per_period] == [True, True, False, True]
    assert v.per_period[2]["value"] == pytest.approx(100 * 8 / 208)
    # no significant fall from the weeks before (3 of 203 a week): not effective
    assert v.status == "not_effective"
    assert "✗" in v.explanation_en


def test_a_sustained_criterion_is_pending_inside_its_period(ws: servq.Workspace) -> None:
    c = Criterion.parse(
        "repeat_complaint_rate[site=S3] in 2025-03-03..2025-03-30 < 2 for 4 consecutive weeks"
    )
    v = verify(ws, c, now=datetime(2025, 3, 20))
    assert v.status == "pending"


def test_a_period_without_data_is_insufficient(ws: servq.Workspace) -> None:
    v = verify(ws, Criterion.parse("csat[team=F] in 2025-05 >= 90"), now=datetime(2025, 7, 1))
    assert v.status == "insufficient_data"
    assert v.after is None and v.n_after == 0


# -- statistics helpers --------------------------------------------------------------------------
def test_interval_helpers() -> None:
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.35  # Wilson upper bound for 0/10 ≈ 0.278
    # Newcombe (1998), example (56/70 vs 48/80): 0.0524 to 0.3339 for p1 − p2; ours is p2 − p1
    lo, hi = newcombe_difference(56, 70, 48, 80)
    assert (lo, hi) == pytest.approx((-0.3339, -0.0524), abs=1e-4)
    ratio = mover_ratio(420, 600, 480, 600)
    assert ratio is not None and ratio[0] < 80 / 70 < ratio[1]
    assert mover_ratio(0, 10, 3, 10) is None


def test_metric_shapes() -> None:
    from servq.metrics.catalogue_registry import Catalogue

    cat = Catalogue()
    shapes = {e.spec.id: metric_shape(e.spec) for e in cat.entries()}
    for m in ("aht", "first_reply_time", "full_resolution_time", "asa"):
        assert shapes[m] == "duration"
    for m in ("csat", "repeat_complaint_rate", "abandonment_rate", "fcr", "reopen_rate"):
        assert shapes[m] == "proportion"
    for m in ("nps", "backlog", "csat_score", "occupancy", "next_reply_time", "cases_created"):
        assert shapes[m] == "other"


# -- reading criteria ---------------------------------------------------------------------------
def test_text_yaml_and_dict_forms_agree() -> None:
    text = Criterion.parse("aht[team=A] in 2026-Q1 <= 85% of 2025-Q4")
    yml = parse_criterion(
        "metric: aht\nwhere: {team: [A]}\nperiod: 2026-Q1\nbaseline: 2025-Q4\nop: '<='\n"
        "ratio: 0.85\n"
    )
    data = parse_criterion(
        {
            "metric": "aht",
            "where": {"team": "A"},
            "period": "2026-Q1",
            "baseline": "2025-Q4",
            "op": "≤",
            "ratio": 0.85,
        }
    )
    assert text == yml == data
    assert text.kind == "relative" and text.ratio == pytest.approx(0.85)
    assert Criterion.parse(text.text()) == text
    assert "Average handling time" in text.describe("en")
    assert "85% of its 2025-Q4 value" in text.describe("en")
    zh = text.describe("zh")
    assert "团队 A" in zh and "平均处理时长" in zh and "2025-Q4 的 85%" in zh

    sustained = parse_criterion(
        "repeat_complaint_rate[site=S3] in 2026-03-02..2026-03-29 < 2% for 4 consecutive weeks"
    )
    assert sustained.to_dict() == {
        "metric": "repeat_complaint_rate",
        "where": {"site": ["S3"]},
        "period": "2026-03-02..2026-03-29",
        "op": "<",
        "value": 2.0,
        "grain": "week",
        "consecutive": 4,
        "timezone": "Asia/Shanghai",
    }
    assert "连续 4 周 < 2%" in sustained.describe("zh")
    assert "in 4 consecutive weeks" in sustained.describe("en")
    assert Criterion.parse(sustained.text()) == sustained
    weeks = complete_buckets(sustained.period_span, "week")
    assert [w.label for w in weeks] == ["2026-W10", "2026-W11", "2026-W12", "2026-W13"]


def test_bad_criteria_are_refused_clearly() -> None:
    with pytest.raises(ServqError, match=r"unknown metric 'no_such_metric'.*未知指标"):
        Criterion.parse("no_such_metric in 2026-Q1 <= 85% of 2025-Q4")
    with pytest.raises(ServqError, match=r"unknown operator '=='.*比较符"):
        Criterion.from_dict({"metric": "aht", "period": "2026-Q1", "op": "==", "value": 300})
    with pytest.raises(ServqError, match=r"ratio .* or a value"):
        Criterion.from_dict({"metric": "aht", "period": "2026-Q1", "op": "<="})
    with pytest.raises(ServqError, match="not both"):
        Criterion.from_dict(
            {"metric": "aht", "period": "2026-Q1", "op": "<=", "value": 1, "ratio": 0.9}
        )
    with pytest.raises(ServqError, match="bad period"):
        Criterion.from_dict({"metric": "aht", "period": "2026-Q5", "op": "<=", "value": 300})
    with pytest.raises(ServqError, match="fewer than 4"):
        Criterion.parse("csat in 2026-03-02..2026-03-22 >= 90 for 4 consecutive weeks")
    with pytest.raises(ServqError, match="cannot be filtered by 'colour'"):
        Criterion.parse("csat[colour=red] in 2026-03 >= 90")
    with pytest.raises(ServqError, match="cannot read criterion"):
        Criterion.parse("csat should be better")
    with pytest.raises(ServqError, match="unknown criterion field"):
        Criterion.from_dict({"metric": "csat", "period": "2026-03", "op": ">=", "valu": 90})
    with pytest.raises(ServqError, match="without %"):
        Criterion.parse("aht in 2026-03 <= 300%")


def test_custom_metrics_are_checked_against_the_workspace(tmp_path: Path) -> None:
    with (
        servq.open_workspace(tmp_path / "ws") as w,
        pytest.raises(ServqError, match="unknown metric"),
    ):
        verify(w, Criterion(metric="nope", period="2025-03", op="<", value=1))
