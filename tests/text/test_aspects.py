"""Service-quality aspects with their own polarity, on hand-written sentences whose answers a
reader sees at once; user lexicons merged into the built-in one, with file and line in errors."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from servq.errors import DefinitionError
from servq.text.aspects import (
    ASPECTS,
    AspectLexicon,
    aspect_sentiments,
    aspects_many,
    builtin_aspects,
    find_aspects,
)
from servq.text.pii import find_pii
from servq.text.risk import builtin_lexicon

# text → every aspect with an opinion, and its sign (aspects only mentioned are left out)
ZH = [
    ("客服态度很好，但是等了两个小时", {"attitude": 1, "speed": -1}),
    ("价格不贵", {"price": 1}),
    ("店里很脏", {"environment": -1}),
    ("专业，问题一次就解决了", {"professionalism": 1}),
    ("快递三天还没到", {"delivery": -1}),
    ("服务员很热情", {"attitude": 1}),
    ("前台小姐态度冷漠", {"attitude": -1}),
    ("柜员很不耐烦", {"attitude": -1}),
    ("排队排了很久", {"speed": -1}),
    ("上菜速度很快", {"speed": 1}),
    ("办事效率太低", {"speed": -1}),
    ("房间干净整洁", {"environment": 1}),
    ("隔音很差，晚上很吵", {"environment": -1}),
    ("早餐很难吃", {"product": -1}),
    ("菜品新鲜，味道不错", {"product": 1}),
    ("价格偏贵", {"price": -1}),
    ("性价比很高", {"price": 1}),
    ("乱收费，太坑了", {"price": -1}),
    ("物流很快，第二天就到了", {"delivery": 1}),
    ("包裹丢件了，客服也不管", {"delivery": -1}),
    ("问题到现在都没解决", {"professionalism": -1}),
    ("客户经理很专业，解答很耐心", {"professionalism": 1, "attitude": 1}),
    ("位置很好找，交通方便", {"environment": 1}),
    ("设施陈旧，空调坏了", {"environment": -1}),
    ("房间里有蟑螂", {"environment": -1}),
    ("服务不错，就是价格有点贵", {"attitude": 1, "price": -1}),
    ("等了半天没人理", {"speed": -1, "attitude": -1}),
    ("酒店位置不错，早餐也很丰富", {"environment": 1, "product": 1}),
    ("手机用了两天就死机", {"product": -1}),
    ("衣服质量很好，没有色差", {"product": 1}),
    ("退款处理得很及时", {"speed": 1}),
    ("银行柜员办理业务很慢", {"speed": -1}),
    ("客服电话一直打不通", {"speed": -1}),
    ("费用不透明，乱扣费", {"price": -1}),
    ("外卖送得很快", {"delivery": 1}),
    ("非常满意的一次入住，前台小哥很热情", {"attitude": 1}),
    ("工作人员态度恶劣", {"attitude": -1}),
    ("等待时间太长了", {"speed": -1}),
    ("不推荐，服务太差了", {"attitude": -1}),
    ("东西还行，物流太慢了", {"product": 1, "delivery": -1}),
    ("床很舒服", {"environment": 1}),
    ("价格合理，菜量也足", {"price": 1, "product": 1}),
    ("维修师傅一次就修好了", {"professionalism": 1}),
    ("说好的七天到账，结果拖了一个月", {"speed": -1}),
    ("大堂经理很有礼貌", {"attitude": 1}),
    ("卫生间有异味", {"environment": -1}),
    ("没有隐藏费用", {"price": 1}),
    ("服务和环境都很好", {"attitude": 1, "environment": 1}),
    ("前台办理入住很快，房间也很安静", {"speed": 1, "environment": 1}),
    ("网点环境不太好，空调也不制冷", {"environment": -1}),
]

EN = [
    ("the staff were rude and the refund took forever", {"attitude": -1, "speed": -1}),
    ("not expensive at all", {"price": 1}),
    ("The waiter was very friendly", {"attitude": 1}),
    ("The room was dirty", {"environment": -1}),
    ("We waited for hours to be seated", {"speed": -1}),
    ("The food was delicious", {"product": 1}),
    ("Prices are too high", {"price": -1}),
    ("Great value for money", {"price": 1}),
    ("The agent solved my problem quickly", {"professionalism": 1, "speed": 1}),
    ("The package never arrived", {"delivery": -1}),
    ("Delivery was fast", {"delivery": 1}),
    ("The receptionist was not helpful", {"attitude": -1}),
    ("Customer service was unhelpful and slow", {"attitude": -1, "speed": -1}),
    ("The bathroom was spotless", {"environment": 1}),
    ("Long wait times at the branch", {"speed": -1}),
    ("The fees are reasonable", {"price": 1}),
    ("Hidden fees everywhere", {"price": -1}),
    ("The product broke after a week", {"product": -1}),
    ("The technician was knowledgeable and fixed the issue", {"professionalism": 1}),
    ("The manager was condescending", {"attitude": -1}),
    ("The hotel was noisy at night", {"environment": -1}),
    ("My parcel was damaged in transit", {"delivery": -1}),
    ("The line was very long", {"speed": -1}),
    ("Quick response from support", {"speed": 1}),
    ("The app keeps crashing", {"product": -1}),
    ("The shipping cost was too high", {"price": -1}),
    ("Nothing was resolved", {"professionalism": -1}),
    ("They were polite but the process was confusing", {"attitude": 1, "professionalism": -1}),
    ("The rooms are spacious and clean", {"environment": 1}),
    ("The coffee was cold and bland", {"product": -1}),
    ("Staff were helpful, but checkout took forever", {"attitude": 1, "speed": -1}),
    ("The wifi didn't work", {"environment": -1}),
    ("The staff were not very friendly", {"attitude": -1}),
    ("Our order arrived on time and well packaged", {"delivery": 1}),
    ("The interest rate is too high", {"price": -1}),
    ("The doctor was very professional", {"professionalism": 1}),
    ("The restroom smelled awful", {"environment": -1}),
    ("It was the worst customer service I have ever had", {"attitude": -1}),
    ("Very affordable prices", {"price": 1}),
    ("I was kept on hold for an hour", {"speed": -1}),
    ("The dish was overcooked and salty", {"product": -1}),
    ("The seats were uncomfortable", {"environment": -1}),
    ("The teller was patient and kind", {"attitude": 1}),
    ("The repair was done quickly and professionally", {"speed": 1, "professionalism": 1}),
    ("The lobby is beautiful", {"environment": 1}),
    ("The price was not worth it", {"price": -1}),
    ("There was no wait at all", {"speed": 1}),
    ("The courier was late again", {"delivery": -1}),
    ("Friendly staff, dirty rooms", {"attitude": 1, "environment": -1}),
    ("I have never been treated so rudely", {"attitude": -1}),
    ("The staff wasn't helpful", {"attitude": -1}),
    ("The room isn’t clean", {"environment": -1}),
]


def _signs(text: str, lang: str | None = None) -> dict[str, int]:
    out = {}
    for aspect, mean in aspect_sentiments(text, lang).items():
        if mean:
            out[aspect] = 1 if mean > 0 else -1
    return out


@pytest.mark.parametrize(("text", "expected"), ZH, ids=[t for t, _ in ZH])
def test_chinese_sentences(text: str, expected: dict[str, int]) -> None:
    assert _signs(text) == expected
    assert _signs(text, "zh") == expected


@pytest.mark.parametrize(("text", "expected"), EN, ids=[t for t, _ in EN])
def test_english_sentences(text: str, expected: dict[str, int]) -> None:
    assert _signs(text) == expected
    assert _signs(text, "en") == expected


def test_enough_hand_written_cases() -> None:
    assert len(ZH) >= 40 and len(EN) >= 40
    covered = {a for _, exp in ZH + EN for a in exp}
    assert covered == set(ASPECTS)


def test_a_hit_says_where_and_why() -> None:
    text = "客服态度很好，但是等了两个小时"
    hits = find_aspects(text)
    assert [(h.aspect, h.polarity) for h in hits] == [("attitude", 1), ("speed", -1)]
    att, spd = hits
    assert text[att.start : att.end] == att.term == "态度"  # the term closest to its opinion
    assert att.opinion == "好" and att.clause == "客服态度很好" and not att.negated
    assert spd.term == spd.opinion == "等了" and spd.clause == "等了两个小时"
    assert 0 < att.score <= 1 and -1 <= spd.score < 0


def test_negation_and_degree_change_the_score() -> None:
    (plain,) = find_aspects("价格贵")
    (strong,) = find_aspects("价格非常贵")
    (negated,) = find_aspects("价格不贵")
    assert plain.polarity == strong.polarity == -1 and strong.score < plain.score
    assert negated.polarity == 1 and negated.negated and negated.opinion == "贵"
    (twice,) = find_aspects("服务不是不好")  # two negations cancel
    assert twice.polarity == 1


def test_cost_terms_flip_amount_words() -> None:
    assert _signs("价格高") == {"price": -1}
    assert _signs("价格低") == {"price": 1}
    assert _signs("效率高") == {"speed": 1}
    assert _signs("水平低") == {"professionalism": -1}
    assert _signs("the wait was long") == {"speed": -1}
    assert _signs("the room was small") == {"environment": -1}


def test_longer_words_hide_shorter_ones() -> None:
    # 快递 is not 快 (fast), 小时 is not 小 (small), 出差 is not 差 (bad)
    assert _signs("快递到了") == {}
    assert _signs("出差住了两个小时的钟点房") == {}
    assert [(h.term, h.polarity) for h in find_aspects("a 10-minute issue")] == [("issue", 0)]
    assert _signs("房间只要一百多") == {}


def test_a_mention_without_opinion_is_neutral() -> None:
    hits = find_aspects("我打电话给客服")
    assert [(h.aspect, h.polarity, h.score, h.opinion) for h in hits] == [
        ("attitude", 0, 0.0, None)
    ]
    assert aspect_sentiments("我打电话给客服") == {"attitude": 0.0}


def test_mixed_opinions_average() -> None:
    assert aspect_sentiments("房间很大，但是很吵") == {"environment": 0.0}
    hits = find_aspects("房间很大，但是很吵")
    assert sorted(h.polarity for h in hits) == [-1, 1]


def test_language_choice() -> None:
    assert find_aspects("服务很好", lang="en") == []
    assert find_aspects("the service was great", lang="zh") == []
    assert _signs("前台很热情, the room was dirty") == {"attitude": 1, "environment": -1}
    with pytest.raises(ValueError, match="lang"):
        find_aspects("服务很好", lang="fr")


def test_many_and_empty() -> None:
    out = aspects_many(["价格不贵", None, "", "the food was bland"])
    assert [[h.aspect for h in hs] for hs in out] == [["price"], [], [], ["product"]]
    per_text = aspects_many(["价格不贵", "价格不贵", "the food was bland"], ["zh", "en", ""])
    assert [[h.aspect for h in hs] for hs in per_text] == [["price"], [], ["product"]]
    with pytest.raises(ValueError, match="2 texts but 1 languages"):
        aspects_many(["a", "b"], ["en"])


def test_builtin_coverage_and_names() -> None:
    lex = builtin_aspects()
    assert tuple(lex.aspects) == ASPECTS
    for aspect in ASPECTS:
        terms = lex.terms_of(aspect)
        assert len(terms) >= 40, aspect
        assert any(t.isascii() for t in terms) and any(not t.isascii() for t in terms)
        assert len(lex.opinions_of(aspect)) >= 30, aspect
    assert lex.names("zh")["delivery"] == "物流配送"
    assert lex.names("en")["attitude"] == "Attitude"


def test_speed_on_real_reviews(data_dir: Path) -> None:
    """Masking, risk words and aspects together: well above 5,000 Chinese reviews a second on
    one core (CPU time; measured about 10,000); the assertion leaves room for a loaded machine.
    """
    with open(data_dir / "zh-chnsenticorp-htl" / "ChnSentiCorp_htl_all.csv", encoding="utf-8") as f:
        reviews = [r["review"] or "" for r in csv.DictReader(f)][:3000]
    risk = builtin_lexicon()
    find_aspects("预热"), risk.find("预热")
    start = time.process_time()
    hits = [(find_pii(r), risk.find(r), find_aspects(r)) for r in reviews]
    rate = len(reviews) / (time.process_time() - start)
    assert rate > 2500, rate
    assert sum(1 for _, _, a in hits if a) > 0.9 * len(reviews)


# -- user lexicons --------------------------------------------------------------------------------
USER = """\
aspects:
  parking:
    name_zh: 停车
    name_en: Parking
    terms:
      zh: [停车位, 车位]
      en: [parking spot]
    opinions:
      zh: {难停: -1}
  price:
    opinions:
      zh: {肉疼: -1}
disable: [贵]
"""


def test_user_lexicon_adds_moves_and_disables(tmp_path: Path) -> None:
    path = tmp_path / "aspects.yaml"
    path.write_text(USER, encoding="utf-8")
    lex = AspectLexicon.merged(builtin_aspects(), AspectLexicon.from_yaml(path))
    assert lex.names("en")["parking"] == "Parking"
    # 停车位 was an environment term of the built-in lexicon; the user's file moves it
    assert _signs_with(lex, "停车位太少") == {"parking": -1}
    assert _signs_with(lex, "车位难停") == {"parking": -1}
    assert _signs_with(lex, "价格肉疼") == {"price": -1}
    assert _signs_with(lex, "价格贵") == {}  # 贵 disabled
    assert _signs("价格贵") == {"price": -1}  # the built-in lexicon is untouched


def _signs_with(lex: AspectLexicon, text: str) -> dict[str, int]:
    return {a: (1 if v > 0 else -1) for a, v in lex.sentiments(text).items() if v}


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError) as err:
        AspectLexicon.merged(builtin_aspects(), AspectLexicon.from_yaml(path))
    return [str(p) for p in err.value.problems]


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    got = _problems(
        tmp_path,
        "aspects:\n"
        "  parking:\n"
        "    terms:\n"
        "      zh: [车位]\n"
        "    opinions:\n"
        "      zh: {难停: 0}\n"
        "    colour: red\n",
    )
    assert any("bad.yaml:6" in p and "aspects.parking.opinions.zh" in p for p in got), got
    assert any("bad.yaml:7" in p and "colour" in p for p in got), got


def test_merge_errors_name_file_and_line(tmp_path: Path) -> None:
    got = _problems(
        tmp_path,
        "aspects:\n  parking:\n    terms:\n      zh: [车位]\ndisable: [不存在的词]\n",
    )
    assert any("bad.yaml:2" in p and "needs name_zh and name_en" in p for p in got), got
    assert any("bad.yaml:5" in p and "不存在的词" in p for p in got), got


def test_a_word_twice_in_one_file(tmp_path: Path) -> None:
    got = _problems(
        tmp_path,
        "aspects:\n  price:\n    terms:\n      zh: [车位]\n"
        "  speed:\n    terms:\n      zh: [车位]\n",
    )
    assert len(got) == 1 and "bad.yaml:7" in got[0] and "already listed" in got[0], got
