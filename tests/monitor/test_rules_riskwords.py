"""Risk words: whole words for English, substrings for Chinese; counted on the real Chinese
hotel reviews (ChnSentiCorp) and English banking customer messages (banking77), and checked
against a plain Python loop over the same files."""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import pytest

import servq
from servq.monitor.evaluate import RuleEngine
from servq.monitor.riskwords import BUILTIN_LISTS, builtin_list, is_chinese

from .test_rules_fixtures import load, rules, utc

START = utc("2025-03-01 00:00")


def _holds(text: str, word: str) -> bool:
    """The reference: a substring for Chinese; otherwise the word, case-insensitive, with
    neither an ASCII letter, digit nor underscore on either side, spaces matching any run."""
    if is_chinese(word):
        return word in text
    body = r"\s+".join(re.escape(w) for w in word.split())
    return re.search(rf"(?<![A-Za-z0-9_]){body}(?![A-Za-z0-9_])", text, re.IGNORECASE) is not None


def _expected(texts: list[tuple[str, str, str]], words: tuple[str, ...]) -> dict[str, dict]:
    """Per group: texts with any word, each word's texts, the first three ids."""
    out: dict[str, dict] = defaultdict(lambda: {"texts": 0, "words": Counter(), "ids": []})
    for ident, group, text in texts:
        found = [w for w in words if _holds(text, w)]
        if found:
            g = out[group]
            g["texts"] += 1
            g["words"].update(found)
            g["ids"].append(ident)
    return out


@pytest.fixture(scope="module")
def real(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Hotel reviews as feedback (group: the sentiment label), banking messages as call
    transcripts (group: the intent), one second apart from START."""
    with open(data_dir / "zh-chnsenticorp-htl" / "ChnSentiCorp_htl_all.csv", encoding="utf-8") as f:
        reviews = [(f"h{i}", r["label"], r["review"]) for i, r in enumerate(csv.DictReader(f))]
    with open(data_dir / "en-banking77" / "train.csv", encoding="utf-8") as f:
        calls = [(f"c{i}", r["category"], r["text"]) for i, r in enumerate(csv.DictReader(f))]
    with servq.open_workspace(tmp_path_factory.mktemp("rw") / "ws") as ws:
        load(
            ws,
            "feedback",
            [
                {
                    "feedback_id": i,
                    "submitted_at": START + timedelta(seconds=n),
                    "survey": "review",
                    "text": text,
                    "team": f"label-{g}",
                }
                for n, (i, g, text) in enumerate(reviews)
            ],
        )
        load(
            ws,
            "calls",
            [
                {
                    "call_id": i,
                    "arrived_at": START + timedelta(seconds=n),
                    "outcome": "answered",
                    "transcript": text,
                    "team": g,
                }
                for n, (i, g, text) in enumerate(calls)
            ],
        )
        yield ws, [(i, f"label-{g}", t) for i, g, t in reviews], calls


def test_risk_words_on_real_reviews_and_messages(real) -> None:  # type: ignore[no-untyped-def]
    ws, reviews, calls = real
    words = tuple(dict.fromkeys(w for name in BUILTIN_LISTS for w in builtin_list(name)))
    assert {"投诉", "12315", "曝光", "律师", "lawyer", "cancel my account"} <= set(words)
    rule = rules(
        """
rules:
  - {name: risk, kind: risk_words, sources: [feedback, interaction], lists: [zh, en],
     by: [team], window: 1d, min_hits: 1}
"""
    )
    signals = RuleEngine(ws, rule).evaluate(START + timedelta(hours=12))
    got = {s.labels["team"]: s for s in signals}
    expected = {
        **_expected([(f"feedback:{i}", g, t) for i, g, t in reviews], words),
        **_expected([(f"interaction:{i}", g, t) for i, g, t in calls], words),
    }
    assert set(got) == set(expected)
    for group, want in expected.items():
        s = got[group]
        assert s.firing and s.kind == "risk_words"
        assert s.value == want["texts"], group
        assert s.details["words"] == dict(want["words"]), group
        assert s.details["examples"] == want["ids"][:3], group
    # the data holds what the lists are for: complaints in Chinese, closing accounts in English
    assert got["label-0"].details["words"]["投诉"] > 50
    assert got["label-0"].details["words"]["12315"] >= 1
    assert sum(s.details["words"].get("close my account", 0) for s in signals) > 10


def test_min_hits_counts_texts_per_group(real) -> None:  # type: ignore[no-untyped-def]
    ws, reviews, _ = real
    rule = rules(
        """
rules:
  - {name: lots, kind: risk_words, sources: [feedback], lists: [], words: [投诉, 差],
     by: [team], window: 1d, min_hits: 1000}
"""
    )
    per_group = Counter(g for _, g, t in reviews if "投诉" in t or "差" in t)
    signals = RuleEngine(ws, rule).evaluate(START + timedelta(hours=12))
    assert sorted(s.labels["team"] for s in signals) == sorted(
        g for g, n in per_group.items() if n >= 1000
    )
    assert per_group["label-0"] >= 1000 > per_group["label-1"]  # the test means something


def test_whole_words_substrings_and_case_texts(ws: servq.Workspace) -> None:
    texts = {
        "K1": ("Refund", "I will SUE you"),  # sue, any case
        "K2": ("Card", "there is an issue with my card"),  # not sue inside issue
        "K3": ("投诉", "我要打12315投诉你们"),  # 投诉 (twice: counted once), 12315
        "K4": ("Number", "call me on 123150"),  # not 12315 inside a longer number
        "K5": ("Account", "please cancel  my\naccount now"),  # a phrase across spaces
        "K6": ("Letter", "a lawyer's letter; lawyers"),  # lawyer before an apostrophe
        "K7": ("律师函", None),  # 律师 inside a longer word
    }
    load(
        ws,
        "tickets",
        [
            {
                "ticket_id": k,
                "created_at": START + timedelta(minutes=n),
                "subject": subject,
                "description": body,
                "site": "s1",
                "channel": "web",
            }
            for n, (k, (subject, body)) in enumerate(texts.items())
        ],
    )
    rule = rules(
        """
rules:
  - {name: cases, kind: risk_words, sources: [case], by: [site], window: 1h, min_hits: 1}
"""
    )
    [signal] = RuleEngine(ws, rule).evaluate(START + timedelta(minutes=30))
    assert signal.value == 5  # K1, K3, K5, K6, K7
    assert signal.details["words"] == {
        "投诉": 1,
        "12315": 1,
        "律师": 1,
        "lawyer": 1,
        "sue": 1,
        "cancel my account": 1,
    }
    assert signal.details["examples"] == ["case:K1", "case:K3", "case:K5"]
    assert "5 texts for site=s1" in signal.summary_en
    assert "有5条文本出现风险词" in signal.summary_zh and "投诉 ×1" in signal.summary_zh


def test_a_risk_alert_clears_when_its_texts_leave_the_window(ws: servq.Workspace) -> None:
    load(
        ws,
        "feedback",
        [
            {
                "feedback_id": "F1",
                "submitted_at": START,
                "survey": "review",
                "text": "找律师",
                "site": "a",
            },
        ],
    )
    rule = rules(
        "rules:\n  - {name: r, kind: risk_words, sources: [feedback], by: [site], window: 1h}\n"
    )
    engine = RuleEngine(ws, rule)
    at = [START + timedelta(minutes=m) for m in (0, 1, 60, 61)]
    seen = [(t, s.firing) for t in at for s in engine.evaluate(t)]
    # [t − 1h, t) holds the review at START for t in (START, START + 1h]
    assert seen == [(at[1], True), (at[2], True), (at[3], False)]


def test_the_built_in_lists() -> None:
    zh, en = builtin_list("zh"), builtin_list("en")
    assert {"投诉", "12315", "曝光", "律师", "媒体", "起诉", "报警", "消协", "市长热线"} <= set(zh)
    assert {"12345", "骗子", "退钱"} <= set(zh)
    assert {"lawyer", "sue", "cancel my account", "regulator", "ombudsman", "fraud"} <= set(en)
    assert {"scam", "media"} <= set(en)
    assert all(not w.startswith("#") for w in zh + en)
    assert not any(is_chinese(w) for w in en)


@pytest.fixture
def ws(tmp_path: Path):  # type: ignore[no-untyped-def]
    with servq.open_workspace(tmp_path / "ws") as w:
        yield w
