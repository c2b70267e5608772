"""Risk words by category with positions, the matching rule shared with the monitor module,
negation, urgency, and user lexicons merged into the built-in one."""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import pytest

from servq.errors import DefinitionError
from servq.monitor import riskwords
from servq.text.risk import (
    RiskCategory,
    RiskLexicon,
    builtin_lexicon,
    find_risks,
    urgency,
)

CATEGORIES = {
    "regulator",
    "media",
    "legal",
    "churn",
    "safety",
    "complaint",
    "fraud",
    "compensation",
}


def _found(text: str, lex: RiskLexicon | None = None) -> list[tuple[str, str, int, int]]:
    return [(h.word, h.category, h.start, h.end) for h in (lex or builtin_lexicon()).find(text)]


def test_categories_have_names_in_both_languages() -> None:
    lex = RiskLexicon.builtin()
    assert set(lex.categories) == CATEGORIES
    assert lex.categories["regulator"].name("zh") == "监管投诉"
    assert lex.categories["media"].name("en") == "Media exposure"
    for c in lex.categories.values():
        assert c.name_zh and c.name_en and c.urgency in ("high", "medium")
        assert any(w.isascii() for w in c.words) and any(not w.isascii() for w in c.words)
    high = {c.id for c in lex.categories.values() if c.urgency == "high"}
    assert high == {"regulator", "media", "legal", "safety"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我要打12315投诉你们", [("12315", "regulator", 3, 8), ("投诉", "complaint", 8, 10)]),
        ("再不处理我就找记者曝光", [("记者", "media", 7, 9), ("曝光", "media", 9, 11)]),
        ("我已经请了律师，准备起诉", [("律师", "legal", 5, 7), ("起诉", "legal", 10, 12)]),
        ("明天就去销户", [("销户", "churn", 4, 6)]),
        ("插座漏电，孩子差点触电", [("漏电", "safety", 2, 4), ("触电", "safety", 9, 11)]),
        ("叫你们经理出来", [("你们经理", "complaint", 1, 5), ("叫你们经理", "complaint", 0, 5)]),
        ("I will call my lawyer", [("lawyer", "legal", 15, 21)]),
        ("Please cancel my account today", [("cancel my account", "churn", 7, 24)]),
        (
            "She got food poisoning there",
            [("food poisoning", "safety", 8, 22), ("poisoning", "safety", 13, 22)],
        ),
        ("I'm going to the FCA", [("FCA", "regulator", 17, 20)]),
        ("I want to speak to a manager", [("speak to a manager", "complaint", 10, 28)]),
        ("房间很干净，服务很好", []),
    ],
)
def test_words_categories_and_positions(
    text: str, expected: list[tuple[str, str, int, int]]
) -> None:
    got = _found(text)
    assert sorted(got) == sorted(expected)
    for word, _, start, end in got:
        assert text[start:end].lower() == word.lower()


def test_overlapping_words_are_all_reported() -> None:
    got = _found("投诉到12315")
    assert ("投诉", "complaint", 0, 2) in got
    assert ("投诉到", "regulator", 0, 3) in got
    assert ("12315", "regulator", 3, 8) in got


def test_whole_words_and_substrings() -> None:
    assert _found("This is a real issue") == []  # sue is not in issue
    assert _found("I will SUE you") == [("sue", "legal", 7, 10)]
    assert _found("单号123150") == []  # 12315 is not in 123150
    assert _found("打12315") == [("12315", "regulator", 1, 6)]
    assert _found("call_12315") == []  # underscore is a word character
    assert _found("cancel  my\naccount") == [("cancel my account", "churn", 0, 18)]
    assert _found("tissue, lawyers' fees") == [("lawyers", "legal", 8, 15)]


def test_matched_text_is_the_original() -> None:
    (hit,) = builtin_lexicon().find("We will SUE.")
    assert hit.word == "sue" and hit.matched == "SUE"


def test_negated_mentions_count_but_are_flagged() -> None:
    (hit,) = builtin_lexicon().find("我不会投诉的")
    assert hit.category == "complaint" and hit.negated
    (hit,) = builtin_lexicon().find("别逼我去投诉")
    assert not hit.negated  # a threat, not a negation
    (hit,) = builtin_lexicon().find("I will not sue")
    assert hit.negated
    (hit,) = builtin_lexicon().find("I'm not happy, so I will sue")
    assert not hit.negated


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("十万火急，请帮忙", "high"),
        ("我要打12315", "high"),
        ("再不退款我就找媒体曝光", "high"),
        ("房间里漏电，太危险了", "high"),
        ("请马上处理，不然我就投诉", "high"),  # a medium word with a medium risk hit
        ("请尽快处理", "medium"),
        ("我要投诉", "medium"),
        ("我要销户", "medium"),
        ("不急，慢慢来", "low"),
        ("不着急", "low"),
        ("我不会投诉的", "low"),
        ("谢谢，服务很好", "low"),
        ("This is urgent", "high"),
        ("Please fix it right now", "medium"),
        ("I will not sue", "low"),
        ("Thanks for your help", "low"),
    ],
)
def test_urgency(text: str, level: str) -> None:
    assert urgency(text) == level
    assert urgency(text, find_risks(text)) == level


def test_urgency_uses_the_hits_given() -> None:
    assert urgency("随便说说", hits=find_risks("我要起诉")) == "high"
    assert urgency("我要起诉", hits=[]) == "low"


def test_find_many_and_empty() -> None:
    out = builtin_lexicon().find_many(["投诉", None, "", "fine"])
    assert [[h.word for h in hs] for hs in out] == [["投诉"], [], [], []]
    assert urgency(None) == "low"


# -- the same rule as the monitor module ----------------------------------------------------------
def _monitor_holds(text: str, word: str) -> bool:
    if riskwords.is_chinese(word):
        return word in text
    return re.search(riskwords.whole_word_pattern(word), text) is not None


SAMPLES = [
    "我要打12315投诉你们",
    "单号123150，金额12345.00",
    "I will SUE you, this is an issue",
    "please CANCEL   my\taccount, I'll go to the press",
    "Court_order and court-order and courts",
    "12345热线/12345",
    "the-lawyer said: scam!",
    "报警了，110也打了",
    "ombudsman?Ombudsmen",
    "cancel my accounts",
    "",
    "a",
]


def _agreement(lex: RiskLexicon, texts: list[str]) -> None:
    words = lex.words()
    for text in texts:
        found = {h.word for h in lex.find(text)}
        expected = {w for w in words if _monitor_holds(text, w)}
        assert found == expected, text


def test_agrees_with_the_monitor_on_its_own_lists(data_dir: Path) -> None:
    monitor_words = riskwords.builtin_list("zh") + riskwords.builtin_list("en")
    lex = RiskLexicon([RiskCategory("monitor", "监控", "Monitor", "medium", monitor_words)])
    with open(data_dir / "zh-chnsenticorp-htl" / "ChnSentiCorp_htl_all.csv", encoding="utf-8") as f:
        reviews = [r["review"] for r in csv.DictReader(f)][:1500]
    with open(data_dir / "en-banking77" / "train.csv", encoding="utf-8") as f:
        calls = [r["text"] for r in csv.DictReader(f)][:1500]
    _agreement(lex, SAMPLES + reviews + calls)


def test_builtin_lexicon_agrees_with_the_monitor_rule(data_dir: Path) -> None:
    with open(data_dir / "zh-chnsenticorp-htl" / "ChnSentiCorp_htl_all.csv", encoding="utf-8") as f:
        reviews = [r["review"] for r in csv.DictReader(f)][:400]
    _agreement(builtin_lexicon(), SAMPLES + reviews)


def test_speed_on_real_reviews(data_dir: Path) -> None:
    """Risk matching is far above 20,000 Chinese reviews a second (CPU time; measured about
    70,000-150,000 on one core); the assertion leaves room for a loaded machine."""
    with open(data_dir / "zh-chnsenticorp-htl" / "ChnSentiCorp_htl_all.csv", encoding="utf-8") as f:
        reviews = [r["review"] or "" for r in csv.DictReader(f)]
    lex = builtin_lexicon()
    lex.find("预热")
    start = time.process_time()
    hits = lex.find_many(reviews)
    rate = len(reviews) / (time.process_time() - start)
    assert rate > 10_000, rate
    assert sum(map(len, hits)) > 100


# -- user lexicons --------------------------------------------------------------------------------
USER = """\
categories:
  regulator:
    words:
      zh: [金融消费权益保护]
  media:
    words:
      zh: [投诉]            # moved here from the built-in complaint category
  vip:
    name_zh: 重要客户
    name_en: VIP
    urgency: high
    words:
      en: [board member]
urgency:
  medium:
    zh: [速速]
disable: [抖音, media]
"""


def test_user_lexicon_merges(tmp_path: Path) -> None:
    path = tmp_path / "risk.yaml"
    path.write_text(USER, encoding="utf-8")
    lex = RiskLexicon.merged(RiskLexicon.builtin(), RiskLexicon.from_yaml(path))
    assert _found("我要找金融消费权益保护部门", lex) == [("金融消费权益保护", "regulator", 3, 11)]
    assert _found("我要投诉", lex) == [("投诉", "media", 2, 4)]
    assert _found("I am a Board  Member", lex) == [("board member", "vip", 7, 20)]
    assert lex.categories["vip"].name("zh") == "重要客户"
    assert _found("发到抖音上", lex) == [] and _found("social media", lex) != []
    assert _found("the media", lex) == []
    assert lex.urgency("I am a board member") == "high"
    assert lex.urgency("速速处理") == "medium"
    # the built-in lexicon is untouched
    assert _found("我要投诉") == [("投诉", "complaint", 2, 4)]


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError) as err:
        RiskLexicon.merged(RiskLexicon.builtin(), RiskLexicon.from_yaml(path))
    return [str(p) for p in err.value.problems]


def test_field_errors_name_file_line_and_field(tmp_path: Path) -> None:
    got = _problems(
        tmp_path,
        "categories:\n"
        "  legal:\n"
        "    urgency: extreme\n"
        "    words:\n"
        "      en: [lawsuit, yes]\n"
        "  Bad-Id:\n"
        "    name_zh: 坏\n",
    )
    assert any("bad.yaml:3" in p and "categories.legal.urgency" in p for p in got), got
    assert any("bad.yaml:5" in p and "in quotes" in p for p in got), got
    assert any("bad.yaml:6" in p for p in got), got


def test_merge_errors_name_file_and_line(tmp_path: Path) -> None:
    got = _problems(
        tmp_path,
        "categories:\n  vip:\n    words:\n      zh: [贵宾]\ndisable: [foo, 投诉]\n",
    )
    assert any("bad.yaml:2" in p and "needs name_zh and name_en" in p for p in got), got
    assert any("bad.yaml:5" in p and "disable[0]" in p and "'foo'" in p for p in got), got
    assert len(got) == 2


def test_a_word_twice_in_one_file(tmp_path: Path) -> None:
    got = _problems(
        tmp_path,
        "categories:\n  legal:\n    words:\n      zh: [打官司]\n"
        "  churn:\n    words:\n      zh: [打官司]\n",
    )
    assert len(got) == 1 and "bad.yaml:7" in got[0] and "already listed" in got[0], got
