"""Key phrases, issue topics and emerging issues: hand-written cases and the planted demo problems.

The demo answers come from servq.demo.planted, not from the code under test: the agent whose
feedback complains about attitude, the words every such complaint contains, and the dates of the
post-holiday delivery surge.
"""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from servq.demo import planted
from servq.demo.generator import generate_demo
from servq.text.issues import (
    emerging_issues,
    find_topics,
    iso_week,
    load_lexicon,
    negative_mask,
    top_issues,
)
from servq.text.phrases import analyse, detect_language, extract_phrases, stopwords

# --- key phrases ----------------------------------------------------------------------------


def test_chinese_phrases_keep_complaint_combinations() -> None:
    [got] = extract_phrases(["客服态度很差，退款太慢了，包裹到现在都没收到的。"])
    for phrase in ("客服", "态度差", "退款慢", "包裹", "没收到"):
        assert phrase in got
    zh_stop = stopwords("zh")
    assert not [p for p in got if p in zh_stop], got
    assert all(len(p) >= 2 for p in got), got  # no lone characters (的, 了, 都, 很)
    assert "没收" not in got  # jieba's 没收/到 ("confiscate") is read as 没 + 收到


def test_chinese_negations_and_complements() -> None:
    [got] = extract_phrases(["物流信息一直不更新，电话打不通，收费不透明"])
    for phrase in ("不更新", "信息不更新", "打不通", "不透明", "收费不透明"):
        assert phrase in got, got
    assert "一直" not in got


def test_english_phrases_are_ngrams_without_stopword_edges() -> None:
    [got] = extract_phrases(["The parcels were delayed and I never received them. Hidden fees!"])
    for phrase in ("parcel", "delayed", "never received", "hidden fee"):
        assert phrase in got, got
    en_stop = stopwords("en")
    for phrase in got:
        words = phrase.split()
        assert 1 <= len(words) <= 3
        assert words[0] not in en_stop and words[-1] not in en_stop, phrase
        assert words[-1] not in ("not", "no", "never"), phrase
    assert "parcels" not in got and "fees" not in got  # plurals made singular


def test_contractions_are_split() -> None:
    [got] = extract_phrases(["They didn't reply and I can't log in"], lang="en")
    assert "not reply" in got
    assert "didn't" not in " ".join(got)


def test_language_is_detected_per_text() -> None:
    assert detect_language("退款太慢") == "zh"
    assert detect_language("iPhone 充电很慢") == "zh"
    assert detect_language("The refund is slow") == "en"
    texts = ["退款太慢了", "The refund is slow", None, "", "   "]
    assert [a.lang for a in map(analyse, texts[:2])] == ["zh", "en"]
    got = extract_phrases(texts)
    assert got[0] and got[1]
    assert got[2:] == [[], [], []]
    with pytest.raises(ValueError, match="lang"):
        extract_phrases(["x"], lang="fr")


def test_clauses_split_at_contrast_words() -> None:
    zh = analyse("酒店位置很好，但是房间太小了")
    assert [c.text for c in zh.clauses] == ["酒店位置很好", "房间太小了"]
    en = analyse("Friendly staff but the room was dirty")
    assert [c.text for c in en.clauses] == ["friendly staff", "the room was dirty"]


def test_jieba_cache_lives_in_a_temporary_folder() -> None:
    from servq.text import phrases

    tok = phrases._tokenizer()
    assert str(tok.tmp_dir).startswith(tempfile.gettempdir())
    import jieba

    # servq's words go to its own tokenizer, not jieba's global one.
    assert tok is not jieba.dt


# --- topics ---------------------------------------------------------------------------------

COMPLAINTS = {
    "客服态度很差，说话很冲": "attitude",
    "快递三天了还没到": "delivery",
    "包裹到现在都没收到": "delivery",
    "退款迟迟不到账": "refund",
    "维修费太贵了": "price",
    "账号登录不上": "account",
    "The agent was rude and dismissive": "attitude",
    "My parcel never arrived": "delivery",
    "I was overcharged twice": "price",
    "Waited far too long for a reply": "waiting",
    "Hidden fees on my bill": "price",
}
PRAISE_OR_DENIAL = [
    "服务态度特别好",
    "没有延迟，很准时",
    "价格不贵，店里也不吵",
    "收费透明，没有乱收费",
    "The staff were not rude at all",
    "Delivery was fast and the courier was friendly",
    "The refund arrived quickly too",
    "No problem at all, great service",
]


def test_complaints_get_their_seed_topic_and_praise_gets_none() -> None:
    texts = [*COMPLAINTS, *PRAISE_OR_DENIAL]
    found = find_topics(texts, max_adhoc=0)
    for text, topics in zip(texts, found.assigned, strict=True):
        expected = (COMPLAINTS[text],) if text in COMPLAINTS else ()
        assert topics == expected, text
    table = found.topics.set_index("topic")
    assert table.loc["delivery", "count"] == 3
    assert table.loc["price", "count"] == 3
    assert table.loc["price", "share"] == pytest.approx(3 / len(texts))
    assert set(table.columns) >= {"label_zh", "label_en", "count", "share", "phrases", "examples"}
    assert table.loc["attitude", "label_zh"] == "服务态度"


def test_ad_hoc_topics_come_from_complaint_targets() -> None:
    texts = (
        ["早餐很差，品种太少"] * 4
        + ["没有热水，洗澡很冷"] * 3
        + ["酒店没有早餐"] * 2
        + ["早餐很丰富，位置好"] * 5  # praise: no complaint target
    )
    found = find_topics(texts, min_adhoc_count=3)
    table = found.topics.set_index("topic")
    assert table.loc["phrase:早餐", "count"] == 6  # 早餐差 (4 texts) and 没早餐 (2)
    assert table.loc["phrase:热水", "count"] == 3
    assert "早餐差" in table.loc["phrase:早餐", "phrases"]
    assert all(t == () for t in found.assigned[-5:])
    assert len(table.loc["phrase:早餐", "examples"]) == 2  # distinct texts only
    none = find_topics(texts, min_adhoc_count=3, max_adhoc=0)
    assert list(none.topics["kind"]) == []


def test_a_lexicon_file_can_replace_the_builtin_one(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(
        "topics:\n"
        "  - id: invoice\n"
        "    label_zh: 发票\n"
        "    label_en: Invoices\n"
        "    zh: {terms: [没开发票], subjects: [发票]}\n"
        "    en: {terms: [no invoice], subjects: [invoice*]}\n"
        "cues: {zh: [没, 错], en: [wrong, missing]}\n",
        encoding="utf-8",
    )
    lex = load_lexicon(path)
    found = find_topics(
        ["一直没开发票", "发票抬头错了", "The invoices are wrong", "发票很快就开了"],
        lexicon=lex,
        max_adhoc=0,
    )
    assert found.assigned == [("invoice",), ("invoice",), ("invoice",), ()]
    path.write_text("topics: [{label_zh: x}]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="id"):
        load_lexicon(path)


# --- negative feedback and weeks ------------------------------------------------------------


def test_negative_mask_rules() -> None:
    labelled = pd.DataFrame({"sentiment_label": ["negative", "positive", None], "score": [5, 1, 1]})
    assert negative_mask(labelled).tolist() == [True, False, False]  # the label wins
    scored = pd.DataFrame(
        {"score": [1, 2, 3, 0, 2, 3, None], "scale_min": [1, 1, 1, 0, 0, 0, 1]}
        | {"scale_max": [5, 5, 5, 10, 10, 10, 5]}
    )
    assert negative_mask(scored).tolist() == [True, True, False, True, True, False, False]
    assert negative_mask(pd.DataFrame({"score": [2, 3]})).tolist() == [True, False]
    with pytest.raises(ValueError, match="sentiment_label"):
        top_issues(pd.DataFrame({"text": ["x"]}), time=None, negative_only=True)


def test_weeks_and_time_bounds() -> None:
    assert iso_week(date(2025, 10, 9)) == "2025-W41"
    assert iso_week(date(2025, 12, 29)) == "2026-W01"
    df = pd.DataFrame(
        {
            "text": ["快递没收到"] * 4,
            "submitted_at": [
                "2025-10-05T23:30:00+08:00",  # a Sunday late in the evening, local time
                "2025-10-06T00:10:00+08:00",
                "2025-10-12T22:00:00+08:00",
                "2025-10-13T08:00:00+08:00",
            ],
        }
    )
    every = top_issues(df)
    assert every.loc[0, "trend"] == {"2025-W40": 1, "2025-W41": 2, "2025-W42": 1}
    assert every.loc[0, "group"] is None
    by_site = top_issues(df.assign(site=["A", None, "A", "B"]), by="site")
    assert dict(zip(by_site["group"], by_site["count"], strict=True)) == {
        "A": 2,
        "B": 1,
        "(none)": 1,
    }
    # The same moments stored in UTC, as a warehouse keeps them, read in China's time zone.
    utc = df.assign(submitted_at=pd.to_datetime(df["submitted_at"], utc=True))
    assert top_issues(utc, tz="Asia/Shanghai").loc[0, "trend"] == every.loc[0, "trend"]
    assert top_issues(utc).loc[0, "trend"] == {"2025-W40": 2, "2025-W41": 1, "2025-W42": 1}
    bounded = top_issues(df, start="2025-10-06", end="2025-10-12")  # a bare end date is inclusive
    assert bounded.loc[0, "count"] == 2
    assert bounded.loc[0, "trend"] == {"2025-W41": 2}
    with pytest.raises(ValueError, match="column"):
        top_issues(df, by="site")


# --- the demo data set ----------------------------------------------------------------------

START = date(2025, 9, 1)
WEEKS = 12


@pytest.fixture(scope="module")
def feedback(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    manifest = generate_demo(tmp_path_factory.mktemp("demo"), size=5000, seed=7)
    return pd.read_csv(manifest.files["feedback"])


def test_rude_agent_has_attitude_as_top_issue(feedback: pd.DataFrame) -> None:
    table = top_issues(feedback, by="agent", top=30)  # every topic of every agent
    rude = table[table["group"] == planted.RUDE_AGENT]
    assert rude.iloc[0]["topic"] == "attitude"
    assert rude.iloc[0]["rank"] == 1
    # Independent count: the planted complaints all contain one of these words.
    own = feedback[feedback["agent"] == planted.RUDE_AGENT]["text"]
    pattern = "|".join(planted.NEGATIVE_ATTITUDE_WORDS)
    planted_count = int(own.str.contains(pattern, case=False).sum())
    assert abs(int(rude.iloc[0]["count"]) - planted_count) <= 0.1 * planted_count
    assert rude.iloc[0]["texts"] == own.str.strip().str.len().gt(0).sum()
    # Several times the other agents' share (agents with too little feedback left out).
    attitude = table[table["topic"] == "attitude"].set_index("group")["share"]
    sizes = feedback.groupby("agent").size()
    others = [a for a in sizes.index if a != planted.RUDE_AGENT and sizes[a] >= 30]
    other_shares = attitude.reindex(others).fillna(0.0)
    assert len(others) >= 10
    assert attitude[planted.RUDE_AGENT] >= 0.3
    assert attitude[planted.RUDE_AGENT] >= 4 * other_shares.median()
    assert attitude[planted.RUDE_AGENT] > other_shares.max()


def test_delivery_surge_is_emerging_only_in_its_weeks(feedback: pd.DataFrame) -> None:
    surge = planted.delivery_surge_start(START, WEEKS)
    assert surge is not None
    surge_weeks = {iso_week(surge + timedelta(days=d)) for d in range(planted.DELIVERY_SURGE_DAYS)}
    flagged: set[str] = set()
    for week in range(1, WEEKS):  # every week with at least one week of baseline
        monday = START + timedelta(days=7 * week)
        table = emerging_issues(feedback, week=monday)
        if "delivery" in set(table["topic"]):
            flagged.add(iso_week(monday))
    assert flagged == surge_weeks

    first = emerging_issues(feedback, week=iso_week(surge), flagged_only=False)
    row = first.set_index("topic").loc["delivery"]
    assert row["emerging"]
    assert row["ratio"] >= 2 and row["p_value"] < 0.01 and row["count"] >= 5
    assert row["share"] == pytest.approx(row["count"] / row["texts"])
    ordinary = emerging_issues(feedback, week="2025-W38", flagged_only=False)
    assert not ordinary[ordinary["topic"] == "delivery"]["emerging"].any()


def test_top_issues_trend_peaks_in_the_surge(feedback: pd.DataFrame) -> None:
    surge = planted.delivery_surge_start(START, WEEKS)
    assert surge is not None
    table = top_issues(feedback).set_index("topic")
    trend = table.loc["delivery", "trend"]
    assert list(trend) == [iso_week(START + timedelta(days=7 * w)) for w in range(WEEKS)]
    assert sum(trend.values()) == table.loc["delivery", "count"]
    assert max(trend, key=trend.__getitem__) in {iso_week(surge), iso_week(surge + timedelta(6))}
    assert table.loc["delivery", "label_zh"] == "物流配送"
    assert 1 <= len(table.loc["delivery", "examples"]) <= 3
    assert all(len(t) <= 100 for t in table.loc["delivery", "examples"])
    # The emerging flag looks at the latest week, long after the surge.
    assert not table.loc["delivery", "emerging"]


def test_negative_only_counts_the_negative_feedback(feedback: pd.DataFrame) -> None:
    position = (feedback["score"] - feedback["scale_min"]) / (
        feedback["scale_max"] - feedback["scale_min"]
    )
    n_negative = int((position <= 0.25).sum())
    table = top_issues(feedback, negative_only=True)
    assert set(table["texts"]) == {n_negative}
    everything = top_issues(feedback).set_index("topic")["count"]
    for topic, count in zip(table["topic"], table["count"], strict=True):
        assert count <= everything[topic]
    # Complaints concentrate in the negative feedback.
    assert table.set_index("topic").loc["attitude", "share"] > 3 * everything["attitude"] / len(
        feedback
    )
