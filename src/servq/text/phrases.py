"""Key phrases of short Chinese and English texts: reviews, survey comments, ticket notes.

Owns: language detection per text, clause splitting, Chinese word segmentation (jieba, one
private tokenizer initialised lazily on first use, its log silenced and its cache file kept in
a writable temporary folder) and the rules that turn words into key phrases. Knows nothing of
topics: ``servq.text.issues`` groups the phrases.

Chinese: the text is segmented with jieba's default (accurate) mode; words in
``lexicons/stopwords_zh.txt`` and single characters are dropped, and a few combinations are
built, because a complaint often lives in two words: a negator and what follows it (没 + 收到 →
没收到, 不 + 透明 → 不透明), a noun and the evaluative word after it, over degree adverbs (态度 很
差 → 态度差, 退款 太慢 → 退款慢), a verb and a potential complement (打 + 不通 → 打不通). jieba's
part-of-speech mode is not used: it is five times slower than plain segmentation.

English: lowercase words; contractions split (didn't → did not, cannot → can not); plurals made
singular by light suffix rules (fees → fee, deliveries → delivery, boxes → box); phrases are the
1-, 2- and 3-grams of a clause that neither start nor end with a stopword
(``lexicons/stopwords_en.txt``) or a number, and do not end with a negator (never received,
waste of time, courier never showed).

Clauses are the pieces of a text between punctuation marks and contrast words (但是, 不过,
but, however), so that praise and criticism in one sentence stay apart. Each clause also lists
its complaint targets, what a negative word or a negation is said of (早餐 in 早餐很差, 热水 in
没有热水); Chinese targets are kept to nouns by the part-of-speech tags in jieba's dictionary
file, read once.

>>> extract_phrases(["客服态度很差，退款太慢了", "The parcels were delayed"])
[['客服', '态度', '态度差', '退款', '退款慢'], ['parcel', 'parcel were delayed', 'delayed']]
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from servq.text.sentiment import detect_language as _detect

__all__ = [
    "Analysis",
    "Clause",
    "analyse",
    "analyse_many",
    "detect_language",
    "extract_phrases",
    "stopwords",
]

LANGUAGES = ("zh", "en")

_WORDY = re.compile(r"\w")


@dataclass(frozen=True, slots=True)
class Clause:
    """One clause of a text: its normalised words, key phrases and complaint targets.

    ``text`` is what topic terms are matched against: for Chinese the clause's characters
    without spaces or punctuation, for English its normalised words joined by single spaces.
    ``targets``: (target, phrase) for each thing the clause finds fault with: the noun a
    negative word or a negation is said of (早餐 in 早餐很差, 热水 in 没热水, breakfast in "the
    breakfast was poor", hot water in "no hot water"), with the phrase that says it.
    """

    text: str
    phrases: tuple[str, ...]
    targets: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Analysis:
    """A text split into clauses, with the language it was read in."""

    lang: str
    clauses: tuple[Clause, ...]

    def phrases(self) -> list[str]:
        """The text's key phrases, each once, in order of first appearance."""
        seen: dict[str, None] = {}
        for clause in self.clauses:
            for phrase in clause.phrases:
                seen.setdefault(phrase, None)
        return list(seen)


_EMPTY = Analysis("zh", ())


# --- language -----------------------------------------------------------------------------------


def detect_language(text: str) -> str:
    """``"zh"`` when Chinese characters dominate the text, else ``"en"`` (the rule of
    :func:`servq.text.sentiment.detect_language`, so phrases and sentiment agree on a text).

    >>> detect_language("退款太慢"), detect_language("iPhone 充电很慢"), detect_language("Too slow")
    ('zh', 'zh', 'en')
    """
    return _detect(text) or "en"


def _check_lang(lang: str | None) -> None:
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {LANGUAGES} or None (detect per text), not {lang!r}")


# --- word lists ---------------------------------------------------------------------------------


def _read_list(name: str) -> frozenset[str]:
    text = resources.files("servq.text").joinpath("lexicons", name).read_text(encoding="utf-8")
    words = (line.strip() for line in text.splitlines())
    return frozenset(w.lower() for w in words if w and not w.startswith("#"))


@cache
def stopwords(lang: str) -> frozenset[str]:
    """The shipped stopword list of ``lang`` (``"zh"`` or ``"en"``)."""
    _check_lang(lang)
    return _read_list(f"stopwords_{lang}.txt")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Chinese word classes used by the combination rules (not stopword lists: these words do matter).
_NEGATORS_ZH = {
    "不": "不",
    "不太": "不",
    "不怎么": "不",
    "没": "没",
    "没有": "没",
    "没怎么": "没",
    "未": "未",
    "无法": "无法",
    "不能": "不能",
}
# Adverbs a combination may reach over: 态度 也 很 差 → 态度差.
_TRANSPARENT_ZH = _words(
    "很 太 非常 特别 十分 比较 挺 蛮 超 超级 极 极其 真 真的 有点 有点儿 有些 更 更加 最 还 "
    "也 都 就 又 才 再 一直 总是 老是 实在 确实 相当 稍微 略 过于 太过 根本 完全 简直 竟然 "
    "居然 已经 还是 依然 仍然 始终 迟迟 一点 一点儿 任何 并 从来 也是 都是"
)
# Evaluative words that form a phrase with the noun before them (态度差, 服务周到).
_PREDICATES_ZH = _words(
    "差 慢 快 贵 好 烂 坏 脏 乱 吵 挤 冲 凶 久 长 短 小 大 旧 新 臭 冷 热 硬 软 难 多 少 高 "
    "低 累 弱 强 糟 薄 厚 窄 偏 远 近 暗 潮 闷 咸 淡 油 辣 美 香 甜 酸 苦 值 亮 静 一般 恶劣 "
    "糟糕 麻烦 敷衍 冷淡 冷漠 垃圾 失望 缓慢 低下 拖沓 恶心 难用 难吃 难看 难闻 破损 破旧 "
    "陈旧 简陋 嘈杂 拥挤 昂贵 离谱 粗糙 差劲 马虎 随便 冷清 吵闹 潮湿 狭窄 老旧 过期 繁琐 "
    "复杂 困难 不错 满意 热情 周到 专业 及时 干净 整洁 舒适 舒服 方便 划算 实惠 合理 透明 "
    "耐心 细心 贴心 友善 礼貌 客气 迅速 高效 准时 清楚 清晰 安静 宽敞 便宜 优惠 好用 好吃 "
    "好看 漂亮 精致 结实 耐用 流畅 稳定 卫生 整齐 明亮 温馨 齐全 热心 用心 认真 负责 靠谱 "
    "给力 到位"
)
# The evaluative words above that find fault (小 and 远 do in reviews; 高 and 多 need context).
_NEGATIVE_ZH = _words(
    "差 慢 贵 烂 坏 脏 乱 吵 挤 冲 凶 久 旧 臭 难 累 弱 糟 暗 潮 闷 小 少 远 偏 窄 咸 油 一般 "
    "恶劣 糟糕 麻烦 敷衍 冷淡 冷漠 垃圾 失望 缓慢 低下 拖沓 恶心 难用 难吃 难看 难闻 破损 "
    "破旧 陈旧 简陋 嘈杂 拥挤 昂贵 离谱 粗糙 差劲 马虎 随便 冷清 吵闹 潮湿 狭窄 老旧 过期 "
    "繁琐 复杂 困难"
)
# Degree prefixes jieba glues onto a short adjective: 很差, 太慢 → 差, 慢 (not 更, 最: 更新
# and 最近 are words of their own).
_DEGREE_CHARS = frozenset("很太超好真挺蛮极贼巨")
# Potential complements that join the verb before them: 打 不通 → 打不通, 联系 不上 → 联系不上.
_COMPLEMENTS_ZH = _words(
    "不通 不上 不到 不了 不起 不动 不开 不进 不出 不完 不住 不着 不清 不见 不下"
)
_CONTRAST_ZH = _words("但是 但 可是 不过 然而 只是 就是 却")
# Numbers with a unit carry no issue: 三天, 两次, 半个, 好几天.
_NUMERIC_ZH = re.compile(
    r"^[0-9零一二两三四五六七八九十百千万亿几半第好多]+"
    r"(?:个|多)?(?:天|次|周|星期|小时|分钟|分|秒|月|年|号|点|块|元|件|单|位|遍|趟|个|多|回|台|人|句|步)?$"
)
# Words that jieba's dictionary lacks or splits wrongly in service texts (没收 is "confiscate").
_EXTRA_WORDS_ZH = (
    "没收到",
    "未收到",
    "不到账",
    "没到账",
    "未到账",
    "打不通",
    "联系不上",
    "登录不上",
    "登不上",
    "修不好",
    "快递员",
    "快递小哥",
    "等候区",
    "乱收费",
    "爱答不理",
)

_NEGATORS_EN = frozenset({"not", "no", "never"})
# English words that find fault with the words next to them (for complaint targets).
_NEGATIVE_EN = _words(
    "slow late poor bad terrible awful horrible worst dirty noisy rude broken expensive "
    "overpriced cold small tiny old smelly missing wrong lost damaged faulty useless "
    "unhelpful uncomfortable crowded confusing difficult delayed disappointing mediocre "
    "outdated filthy stained weak loud cramped unclear inaccurate incorrect defective "
    "scratched cracked leaking stale bland overcooked undercooked greasy salty"
)
_CONTRAST_EN = frozenset({"but", "however", "although", "though", "whereas", "except"})
_EN_CLAUSE_SPLIT = re.compile(r"[.,;:!?()\[\]{}<>\"/\\|\n\r\t…–—]+|\s-\s")
_EN_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CONTRACTIONS = {"can't": ("can", "not"), "won't": ("will", "not"), "shan't": ("shall", "not")}
_PLURAL_KEEP = _words(
    "news series species physics economics mathematics thanks jeans pants trousers scissors "
    "glasses goods means lens bus gas plus yes this his its was has is does goes always "
    "perhaps sometimes whereas across unless less"
)
_PLURAL_IRREGULAR = {
    "movies": "movie",
    "cookies": "cookie",
    "ties": "tie",
    "lies": "lie",
    "dies": "die",
    "pies": "pie",
    "people": "people",
    "children": "child",
    "men": "man",
    "women": "woman",
    "feet": "foot",
    "teeth": "tooth",
}


# --- jieba --------------------------------------------------------------------------------------

# Nouns that jieba's dictionary tags otherwise (位置 and 包装 as verbs).
_NOUNS_ZH = _words("位置 包装 装修 配置 设计 售后 发票 赠品 配件 安装")

_LOCK = threading.Lock()
_TOKENIZER: Any = None
_NOT_NOUNS: frozenset[str] | None = None


def _cache_dir() -> str:
    """A writable folder for jieba's dictionary cache: works offline and in read-only installs."""
    base = Path(tempfile.gettempdir())
    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = base / f"servq-jieba-{uid}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return str(base)
    return str(folder)


def _tokenizer() -> Any:
    """servq's own jieba tokenizer, built once on first use (about half a second).

    A private ``jieba.Tokenizer`` rather than jieba's global one, so that words added here do not
    change other code's segmentation, and words other code adds do not change ours.
    """
    global _TOKENIZER
    if _TOKENIZER is None:
        with _LOCK:
            if _TOKENIZER is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.tmp_dir = _cache_dir()
                tok.initialize()
                for word in _EXTRA_WORDS_ZH:
                    tok.add_word(word)
                _TOKENIZER = tok
    return _TOKENIZER


def _not_nouns() -> frozenset[str]:
    """Words of jieba's dictionary whose part of speech is not a noun (出现, 打断, 愉快).

    Read once from the dictionary file's tags, so complaint targets can be kept to nouns without
    jieba's part-of-speech mode. Words not in the dictionary (new words that jieba's HMM
    finds) count as nouns: most are names of things.
    """
    global _NOT_NOUNS
    if _NOT_NOUNS is None:
        tok = _tokenizer()
        with _LOCK:
            if _NOT_NOUNS is None:
                words: set[str] = set()
                with tok.get_dict_file() as f:
                    for raw in f:
                        parts = raw.decode("utf-8").split()
                        if len(parts) == 3 and not (
                            parts[2].startswith("n") or parts[2] in ("vn", "an")
                        ):
                            words.add(parts[0])
                _NOT_NOUNS = frozenset(words - _NOUNS_ZH)
    return _NOT_NOUNS


# --- Chinese ------------------------------------------------------------------------------------


# Token classes, looked up once per distinct token (a dictionary hit is much cheaper than the
# set and regex tests it stands for).
_BOUNDARY, _CONTRAST, _NEGATOR, _TRANSPARENT, _PREDICATE, _NEGATED, _CONTENT, _OTHER = range(8)
_CLASS_CACHE: dict[str, int] = {}
_CLASS_CACHE_MAX = 500_000


def _token_class(token: str) -> int:
    cls = _CLASS_CACHE.get(token)
    if cls is not None:
        return cls
    if token in _CONTRAST_ZH:
        cls = _CONTRAST
    elif not _WORDY.search(token):
        cls = _BOUNDARY
    elif token in _NEGATORS_ZH:
        cls = _NEGATOR
    elif token in _TRANSPARENT_ZH:
        cls = _TRANSPARENT
    elif token in _PREDICATES_ZH:
        cls = _PREDICATE
    elif (
        len(token) < 2
        or token in stopwords("zh")
        or token.isdigit()
        or _NUMERIC_ZH.match(token) is not None
    ):
        cls = _OTHER
    elif token[0] in "不没未":  # a negation jieba kept whole: 不好, 不方便
        cls = _NEGATED
    else:
        cls = _CONTENT
    if len(_CLASS_CACHE) < _CLASS_CACHE_MAX:
        _CLASS_CACHE[token] = cls
    return cls


def _fix_tokens_zh(tokens: list[str]) -> list[str]:
    """Undo jieba's usual slips on review text before the phrase rules run."""
    out: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        t = tokens[i]
        nxt = tokens[i + 1] if i + 1 < n else ""
        if t == "没收" and nxt.startswith("到"):  # 没收/到 is 没 + 收到, not "confiscate"
            out.extend(("没", "收到" + nxt[1:]))
            i += 2
            continue
        if nxt in _COMPLEMENTS_ZH and len(t) <= 2:  # 打/不通 → 打不通
            out.append(t + nxt)
            i += 2
            continue
        if len(t) >= 2 and t[0] in _DEGREE_CHARS and t[1:] in _PREDICATES_ZH:
            t = t[1:]  # 很差 → 差
        out.append(t)
        i += 1
    return out


def _phrases_zh(tokens: list[str]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Key phrases and complaint targets of one clause's (fixed) tokens."""
    out: list[str] = []
    targets: list[tuple[str, str]] = []
    head: str | None = None  # the last content word a predicate may attach to
    classes = [_token_class(t) for t in tokens]
    not_nouns = _not_nouns()
    i, n = 0, len(tokens)
    while i < n:
        t, cls = tokens[i], classes[i]
        if cls == _NEGATOR:
            j = i + 1
            while j < n and classes[j] == _TRANSPARENT:
                j += 1
            if j < n and classes[j] in (_CONTENT, _PREDICATE, _NEGATED):
                what = tokens[j]
                phrase = _NEGATORS_ZH[t] + what
                out.append(phrase)
                faulty = what not in _NEGATIVE_ZH  # 不干净 finds fault, 不贵 does not
                combined = head is not None and len(head) + len(phrase) <= 6
                if head is not None and combined:
                    out.append(head + phrase)
                if faulty and classes[j] == _CONTENT and what not in not_nouns:
                    targets.append((what, phrase))  # (酒店)没热水: the fault is with 热水
                elif faulty and head is not None and combined and head not in not_nouns:
                    targets.append((head, head + phrase))  # 空调不制冷: with 空调
                i = j + 1
            else:
                i += 1
            head = None
            continue
        if cls == _TRANSPARENT:
            i += 1
            continue
        if cls == _PREDICATE:
            if head is not None:
                out.append(head + t)
                if t in _NEGATIVE_ZH and head not in not_nouns:
                    targets.append((head, head + t))
            if len(t) >= 2:
                out.append(t)
            head = None
        elif cls == _NEGATED:
            out.append(t)
            if head is not None and len(head) + len(t) <= 6:
                out.append(head + t)
                if head not in not_nouns and t[1:] not in _NEGATIVE_ZH:  # 不小 is no fault
                    targets.append((head, head + t))
            head = None
        elif cls == _CONTENT:
            out.append(t)
            head = t
        else:
            head = None
        i += 1
    return tuple(out), tuple(targets)


def _analyse_zh(text: str) -> Analysis:
    clauses: list[Clause] = []
    current: list[str] = []
    for token in _tokenizer().cut(text):
        cls = _CLASS_CACHE.get(token)
        if cls is None:
            cls = _token_class(token)
        if cls <= _CONTRAST:  # boundary or contrast word: the clause ends
            if current:
                clauses.append(Clause("".join(current), *_phrases_zh(_fix_tokens_zh(current))))
                current = []
        else:
            current.append(token)
    if current:
        clauses.append(Clause("".join(current), *_phrases_zh(_fix_tokens_zh(current))))
    return Analysis("zh", tuple(clauses))


# --- English ------------------------------------------------------------------------------------


@cache
def _singular(word: str) -> str:
    if word in _PLURAL_IRREGULAR:
        return _PLURAL_IRREGULAR[word]
    if len(word) <= 3 or not word.endswith("s") or word in _PLURAL_KEEP:
        return word
    if word.endswith(("ss", "us", "is", "ous", "ics")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes", "zzes")):
        return word[:-2]
    return word[:-1]


@cache
def _normalise_en(token: str) -> tuple[str, ...]:
    if "'" in token:
        if token in _CONTRACTIONS:
            return _CONTRACTIONS[token]
        if token.endswith("n't"):
            return (token[:-3], "not")
        token = token.split("'", 1)[0]
    if token == "cannot":
        return ("can", "not")
    if token in stopwords("en") or token.isdigit():
        return (token,)
    return (_singular(token),)


def normalise_en_words(text: str) -> list[str]:
    """English words of ``text`` as phrases and topic terms see them (lowercase, singular)."""
    words: list[str] = []
    for token in _EN_TOKEN.findall(text.lower().replace("’", "'")):
        words.extend(_normalise_en(token))
    return words


def _phrases_en(words: list[str], stop: frozenset[str]) -> tuple[str, ...]:
    out: list[str] = []
    n = len(words)
    for i in range(n):
        first = words[i]
        if first in stop or first.isdigit() or len(first) < 2:
            continue
        for k in range(1, 4):
            if i + k > n:
                break
            last = words[i + k - 1]
            if last in stop or last in _NEGATORS_EN or last.isdigit() or len(last) < 2:
                continue
            out.append(" ".join(words[i : i + k]))
    return tuple(out)


def _targets_en(words: list[str], stop: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """Complaint targets: the run of content words a negative word or a negator is next to."""

    def content(w: str) -> bool:
        return (
            len(w) >= 3
            and w not in stop
            and w not in _NEGATIVE_EN
            and w not in _NEGATORS_EN
            and not w.isdigit()
        )

    def run_before(c: int) -> tuple[int, int] | None:
        j = c - 1
        skipped = 0
        while j >= 0 and not content(words[j]) and skipped < 2 and words[j] in stop:
            j -= 1
            skipped += 1
        if j < 0 or not content(words[j]):
            return None
        lo = j
        while lo > 0 and j - lo < 1 and content(words[lo - 1]):
            lo -= 1
        return lo, j + 1

    def run_after(c: int) -> tuple[int, int] | None:
        j = c + 1
        if j < len(words) and words[j] in stop and words[j] not in _NEGATORS_EN:
            j += 1
        if j >= len(words) or not content(words[j]):
            return None
        hi = j + 1
        if hi < len(words) and content(words[hi]):
            hi += 1
        return j, hi

    out: dict[tuple[str, str], None] = {}
    for c, w in enumerate(words):
        if w not in _NEGATIVE_EN and w not in _NEGATORS_EN:
            continue
        after = words[c + 1] if c + 1 < len(words) else ""
        before = words[c - 1] if c else ""
        if (w in _NEGATORS_EN and after in _NEGATIVE_EN) or before in _NEGATORS_EN:
            continue  # a double negative (not bad) finds no fault
        # "no" is a determiner (no hot water); "not" and "never" follow what they fault (the
        # room was not clean), and what comes after them is a verb or an adjective; a negative
        # adjective may stand on either side (bad food, the food was bad).
        if w == "no":
            span = run_after(c)
        elif w in _NEGATORS_EN:
            span = run_before(c)
        else:
            span = run_before(c) or run_after(c)
        if span is None:
            continue
        lo, hi = span
        target = " ".join(words[lo:hi])
        last = c + 2 if w in _NEGATORS_EN and c + 1 < len(words) else c + 1  # not + clean
        phrase = " ".join(words[min(lo, c) : max(hi, last)])
        out.setdefault((target, phrase), None)
    return tuple(out)


def _analyse_en(text: str) -> Analysis:
    stop = stopwords("en")
    clauses: list[Clause] = []
    for piece in _EN_CLAUSE_SPLIT.split(text.replace("’", "'")):
        words = normalise_en_words(piece)
        start = 0
        for j, word in enumerate([*words, "but"]):
            if word in _CONTRAST_EN:
                part = words[start:j]
                if part:
                    clauses.append(
                        Clause(" ".join(part), _phrases_en(part, stop), _targets_en(part, stop))
                    )
                start = j + 1
    return Analysis("en", tuple(clauses))


# --- public -------------------------------------------------------------------------------------


def analyse(text: str | None, lang: str | None = None) -> Analysis:
    """Clauses and key phrases of one text; ``lang`` None detects it (see ``detect_language``)."""
    _check_lang(lang)
    if not isinstance(text, str) or not text.strip():
        return _EMPTY
    norm = unicodedata.normalize("NFKC", text).lower()
    use = lang or detect_language(norm)
    return _analyse_zh(norm) if use == "zh" else _analyse_en(norm)


def analyse_many(texts: Iterable[str | None], lang: str | None = None) -> list[Analysis]:
    """``analyse`` of every text; identical texts are analysed once."""
    _check_lang(lang)
    done: dict[str, Analysis] = {}
    out: list[Analysis] = []
    for text in texts:
        if not isinstance(text, str):
            out.append(_EMPTY)
            continue
        found = done.get(text)
        if found is None:
            found = analyse(text, lang)
            done[text] = found
        out.append(found)
    return out


def extract_phrases(texts: Sequence[str | None], lang: str | None = None) -> list[list[str]]:
    """Key phrases of each text, each phrase once per text, in order of appearance.

    ``lang``: ``"zh"``, ``"en"``, or None to detect the language of each text. Missing and
    empty texts give an empty list. About 8,000 short Chinese reviews a second on one core.
    """
    return [a.phrases() for a in analyse_many(texts, lang)]
