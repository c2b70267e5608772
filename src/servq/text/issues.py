"""High-frequency issues: key phrases grouped into labelled topics, their trend, emerging ones.

Owns: the topic lexicon (``lexicons/topics.yaml``: built-in service topics with Chinese and
English terms), assigning texts to topics, finding ad-hoc topics among the remaining complaint
phrases, and the two tables a report or ``servq text issues`` shows: ``top_issues`` (the most
frequent issues per group, with examples and a weekly trend) and ``emerging_issues`` (issues
whose share in one ISO week is well above their share in the weeks before). Phrases come from
``servq.text.phrases``. See docs/text-issues.md.

How a text gets its topics:

1. Seed topics. Each clause of the text is matched against the lexicon: a complaint *term* of a
   topic (态度差, 没收到, overcharged) counts on its own unless a negator stands right before it
   (没有延迟); a *subject* (快递, 退款, delivery) counts only with a problem *cue* in the same
   clause (快递一直没到: subject 快递, cue 没). Praise matches nothing (态度很好, fast delivery):
   topics count problems. A text may have several topics.
2. Ad-hoc topics. Complaints no seed topic explains are grouped by their target, the noun a
   negative word or a negation is said of (早餐 in 早餐很差, 热水 in 没有热水, see
   ``phrases.Clause``): targets of the clauses that matched no seed topic, minus generic ones
   (酒店, experience) and minus those that contain a seed term or subject, are counted over all
   texts; the most frequent (in at least ``min_adhoc_count`` texts) become topics labelled by the
   target, and a less frequent target that is part of a topic's target, contains it, or shares
   half of its texts with it joins that topic instead of making a new one.

Counts are texts, not mentions. A topic's share is its count over the number of non-empty
texts (of the group, when grouped).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy.stats import binom

from servq.text.phrases import Analysis, analyse_many, normalise_en_words

__all__ = [
    "Topic",
    "TopicFinding",
    "TopicLexicon",
    "emerging_issues",
    "find_topics",
    "iso_week",
    "load_lexicon",
    "negative_mask",
    "top_issues",
]

_NO_GROUP = "(all)"
_MISSING_GROUP = "(none)"
_EXAMPLE_CHARS = 100


# --- the lexicon --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """A seed topic: labels, and Chinese and English terms (alone) and subjects (with a cue)."""

    id: str
    label_zh: str
    label_en: str
    terms_zh: tuple[str, ...] = ()
    subjects_zh: tuple[str, ...] = ()
    terms_en: tuple[str, ...] = ()
    subjects_en: tuple[str, ...] = ()


class _Dictionary:
    """Lexicon entries found in a clause: at every position, the longest entry starting there.

    Chinese entries are substrings of the clause text; English entries are word sequences of
    the clause's words, each word exact or, written ``deliver*``, a prefix. Plain dictionary
    look-ups: one big regex alternation is far slower in Python's engine.
    """

    def __init__(self, entries: Iterable[tuple[str, int]], lang: str) -> None:
        self.lang = lang
        owners: dict[tuple[str, ...] | str, set[int]] = {}
        for entry, owner in entries:
            key = _entry_key(entry, lang)
            if key:
                owners.setdefault(key, set()).add(owner)
        self.owners: dict[Any, tuple[int, ...]] = {k: tuple(sorted(v)) for k, v in owners.items()}
        # zh: first character -> entry lengths, longest first.
        self._lengths: dict[str, tuple[int, ...]] = {}
        # en: entries by first word (exact) and the prefix-first entries, longest first.
        self._by_word: dict[str, list[tuple[str, ...]]] = {}
        self._prefixed: list[tuple[str, ...]] = []
        self._word_cache: dict[str, tuple[tuple[str, ...], ...]] = {}
        if lang == "zh":
            lengths: dict[str, set[int]] = {}
            for k in self.owners:
                lengths.setdefault(k[0], set()).add(len(k))
            self._lengths = {c: tuple(sorted(v, reverse=True)) for c, v in lengths.items()}
        else:
            for k in self.owners:
                if k[0].endswith("*"):
                    self._prefixed.append(k)
                else:
                    self._by_word.setdefault(k[0], []).append(k)

    def __bool__(self) -> bool:
        return bool(self.owners)

    def _starting(self, word: str) -> tuple[tuple[str, ...], ...]:
        found = self._word_cache.get(word)
        if found is None:
            cands = list(self._by_word.get(word, ()))
            cands += [k for k in self._prefixed if word.startswith(k[0][:-1])]
            cands.sort(key=lambda k: (-len(k), -sum(len(w) for w in k)))
            found = tuple(cands)
            if len(self._word_cache) < 200_000:
                self._word_cache[word] = found
        return found

    def find(self, seq: str | Sequence[str]) -> list[tuple[int, int, tuple[int, ...]]]:
        """(start, end, owners) of the longest entry at each position (characters or words)."""
        out: list[tuple[int, int, tuple[int, ...]]] = []
        n = len(seq)
        if self.lang == "zh":
            assert isinstance(seq, str)
            lengths, owners = self._lengths, self.owners
            for i, ch in enumerate(seq):
                for size in lengths.get(ch, ()):
                    if i + size <= n:
                        o = owners.get(seq[i : i + size])
                        if o is not None:
                            out.append((i, i + size, o))
                            break
            return out
        for i, word in enumerate(seq):
            for key in self._starting(word):
                size = len(key)
                if i + size <= n and all(
                    seq[i + j] == w or (w.endswith("*") and seq[i + j].startswith(w[:-1]))
                    for j, w in enumerate(key)
                    if j
                ):
                    out.append((i, i + size, self.owners[key]))
                    break
        return out

    def search(self, seq: str | Sequence[str]) -> bool:
        return bool(self.find(seq))


def _entry_key(entry: str, lang: str) -> tuple[str, ...] | str:
    """How an entry is looked up: the lowercased string (zh) or its normalised words (en)."""
    if lang == "zh":
        return entry.strip().lower()
    words: list[str] = []
    for word in entry.lower().split():
        if word.endswith("*"):
            words.append(word)
        else:
            words.extend(normalise_en_words(word))
    return tuple(words)


@dataclass(frozen=True)
class _LangRules:
    lang: str
    terms: _Dictionary
    subjects: _Dictionary
    cues: _Dictionary
    not_negative: _Dictionary
    negators: frozenset[str] | tuple[str, ...]
    cover: _Dictionary  # any term or subject of any topic
    generic: frozenset[str]


@dataclass(frozen=True)
class TopicLexicon:
    """Seed topics and the word lists that decide what counts as a complaint."""

    topics: tuple[Topic, ...]
    cues: Mapping[str, tuple[str, ...]]
    not_negative: Mapping[str, tuple[str, ...]]
    negators: Mapping[str, tuple[str, ...]]
    generic: Mapping[str, tuple[str, ...]]
    _rules: dict[str, _LangRules] = field(default_factory=dict, repr=False, compare=False)

    def topic(self, topic_id: str) -> Topic:
        for t in self.topics:
            if t.id == topic_id:
                return t
        raise KeyError(topic_id)

    def rules(self, lang: str) -> _LangRules:
        found = self._rules.get(lang)
        if found is None:
            found = self._compile(lang)
            self._rules[lang] = found
        return found

    def _compile(self, lang: str) -> _LangRules:
        def topic_entries(kind: str) -> list[tuple[str, int]]:
            return [
                (entry, i)
                for i, t in enumerate(self.topics)
                for entry in getattr(t, f"{kind}_{lang}")
            ]

        terms = topic_entries("terms")
        subjects = topic_entries("subjects")
        negators = self.negators.get(lang, ())
        if lang == "en":
            negators = tuple(w for n in negators for w in normalise_en_words(n))
        generic = self.generic.get(lang, ())
        if lang == "en":
            generic = tuple(" ".join(normalise_en_words(g)) for g in generic)
        return _LangRules(
            lang=lang,
            terms=_Dictionary(terms, lang),
            subjects=_Dictionary(subjects, lang),
            cues=_Dictionary(((c, 0) for c in self.cues.get(lang, ())), lang),
            not_negative=_Dictionary(((c, 0) for c in self.not_negative.get(lang, ())), lang),
            negators=(
                tuple(sorted(negators, key=len, reverse=True))
                if lang == "zh"
                else frozenset(negators)
            ),
            cover=_Dictionary(terms + subjects, lang),
            generic=frozenset(generic),
        )


def _str_tuple(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise ValueError(f"{where}: expected a list of words")
    return tuple(str(v).strip() for v in value if str(v).strip())


def _by_lang(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping of zh and en word lists")
    return {str(k): _str_tuple(v, f"{where}.{k}") for k, v in raw.items()}


def _parse_lexicon(data: Any, source: str) -> TopicLexicon:
    if not isinstance(data, dict) or not isinstance(data.get("topics"), list):
        raise ValueError(f"{source}: expected a mapping with a list under 'topics'")
    topics: list[Topic] = []
    seen: set[str] = set()
    for n, raw in enumerate(data["topics"]):
        where = f"{source}: topics[{n}]"
        if not isinstance(raw, dict) or not raw.get("id"):
            raise ValueError(f"{where}: each topic needs an id")
        tid = str(raw["id"])
        if tid in seen or tid.startswith("phrase:"):
            raise ValueError(f"{where}: topic id {tid!r} is repeated or reserved")
        seen.add(tid)
        zh = raw.get("zh") or {}
        en = raw.get("en") or {}
        if not isinstance(zh, dict) or not isinstance(en, dict):
            raise ValueError(f"{where}: zh and en must be mappings with terms and subjects")
        topics.append(
            Topic(
                id=tid,
                label_zh=str(raw.get("label_zh") or tid),
                label_en=str(raw.get("label_en") or tid),
                terms_zh=_str_tuple(zh.get("terms"), f"{where}.zh.terms"),
                subjects_zh=_str_tuple(zh.get("subjects"), f"{where}.zh.subjects"),
                terms_en=_str_tuple(en.get("terms"), f"{where}.en.terms"),
                subjects_en=_str_tuple(en.get("subjects"), f"{where}.en.subjects"),
            )
        )
    return TopicLexicon(
        topics=tuple(topics),
        cues=_by_lang(data.get("cues"), f"{source}: cues"),
        not_negative=_by_lang(data.get("not_negative"), f"{source}: not_negative"),
        negators=_by_lang(data.get("negators"), f"{source}: negators"),
        generic=_by_lang(data.get("generic"), f"{source}: generic"),
    )


@cache
def _builtin_lexicon() -> TopicLexicon:
    text = resources.files("servq.text").joinpath("lexicons", "topics.yaml").read_text("utf-8")
    return _parse_lexicon(yaml.safe_load(text), "topics.yaml")


def load_lexicon(path: str | Path | None = None) -> TopicLexicon:
    """The built-in topic lexicon, or one read from a YAML file of the same layout."""
    if path is None:
        return _builtin_lexicon()
    p = Path(path)
    return _parse_lexicon(yaml.safe_load(p.read_text(encoding="utf-8")), str(p))


# --- matching -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scan:
    topics: dict[int, tuple[int, ...]]  # seed topic index -> clause indices that matched it
    problem: tuple[bool, ...]  # per clause: carries a problem cue


def _negated(rules: _LangRules, before: str | Sequence[str]) -> bool:
    if isinstance(before, str):
        assert isinstance(rules.negators, tuple)
        return before.endswith(rules.negators)
    return bool(before) and before[-1] in rules.negators


def _blank(seq: str | list[str], spans: list[tuple[int, int, tuple[int, ...]]]) -> str | list[str]:
    """The clause with the not-negative expressions blanked out (same length)."""
    if isinstance(seq, str):
        chars = list(seq)
        for a, b, _ in spans:
            chars[a:b] = [" "] * (b - a)
        return "".join(chars)
    words = list(seq)
    for a, b, _ in spans:
        words[a:b] = ["_"] * (b - a)
    return words


# Degree words a double negative may have in between: 不太贵, 没那么慢, not too bad.
_DEGREE_ZH = ("太", "很", "怎么", "那么", "这么", "算", "是很", "太过", "特别", "是")
_DEGREE_EN = frozenset({"too", "very", "so", "that", "really", "overly", "particularly"})


def _live_cues(
    rules: _LangRules, seq: str | list[str], cues: list[tuple[int, int, tuple[int, ...]]]
) -> list[tuple[int, int, tuple[int, ...]]]:
    """The cues that are not double negatives: a negator before a cue cancels both (不吵, not
    slow, 没有乱收费)."""
    if len(cues) < 2:
        return cues
    dead: set[int] = set()
    for k, (c, _d, _o) in enumerate(cues):
        if isinstance(seq, str):
            before = seq[:c]
            for adverb in _DEGREE_ZH:
                if before.endswith(adverb):
                    before = before[: -len(adverb)]
                    break
            assert isinstance(rules.negators, tuple)
            neg = next((n for n in rules.negators if before.endswith(n)), None)
            if neg is None:
                continue
            lo = len(before) - len(neg)
        else:
            j = c - 1
            if j >= 0 and seq[j] in _DEGREE_EN:
                j -= 1
            if j < 0 or seq[j] not in rules.negators:
                continue
            lo = j
        dead.add(k)
        dead.update(i for i, (a, b, _o2) in enumerate(cues) if a >= lo and b <= c)
    return [cue for k, cue in enumerate(cues) if k not in dead]


def _scan(analysis: Analysis, lexicon: TopicLexicon) -> _Scan:
    rules = lexicon.rules(analysis.lang)
    zh = analysis.lang == "zh"
    hits: dict[int, list[int]] = {}
    problem: list[bool] = []
    for ci, clause in enumerate(analysis.clauses):
        seq: str | list[str] = clause.text if zh else clause.text.split(" ")
        if rules.not_negative:
            spans = rules.not_negative.find(seq)
            if spans:
                seq = _blank(seq, spans)
        found: set[int] = set()
        for start, _end, owners in rules.terms.find(seq):
            if not _negated(rules, seq[:start]):
                found.update(owners)
        cues = _live_cues(rules, seq, rules.cues.find(seq)) if rules.cues else []
        if cues:
            for start, end, owners in rules.subjects.find(seq):
                if found.issuperset(owners):
                    continue
                if any(c >= end or (not zh and d <= start) for c, d, _ in cues):
                    found.update(owners)
        for t in found:
            hits.setdefault(t, []).append(ci)
        problem.append(bool(found) or bool(cues))
    return _Scan({t: tuple(c) for t, c in hits.items()}, tuple(problem))


# --- topics -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicFinding:
    """Topics found in a list of texts.

    ``topics``: one row per topic with at least one text, most frequent first; columns ``topic``
    (id: a seed id such as ``attitude``, or ``phrase:<phrase>`` for an ad-hoc topic),
    ``label_zh``, ``label_en``, ``kind`` (``seed`` or ``phrase``), ``count`` (texts), ``share``
    (of the non-empty texts), ``phrases`` (top phrases, a list), ``examples`` (up to 3 short
    texts, a list). ``assigned``: the topic ids of each input text, in input order. ``texts``:
    the number of non-empty texts.
    """

    topics: pd.DataFrame
    assigned: list[tuple[str, ...]]
    texts: int


_TOPIC_COLUMNS = ["topic", "label_zh", "label_en", "kind", "count", "share", "phrases", "examples"]


def _clean(text: str) -> str:
    return " ".join(text.split())


def pick_examples(texts: Sequence[str], candidates: Iterable[int], k: int = 3) -> list[str]:
    """Up to ``k`` distinct short texts among ``candidates`` (indices into ``texts``).

    Texts of about 40 characters are preferred (short, yet saying something); longer ones are cut
    to 100 characters. Ties keep input order, so the choice is deterministic.
    """
    seen: dict[str, int] = {}
    for i in candidates:
        t = _clean(texts[i])
        if t and t not in seen:
            seen[t] = i
    ranked = sorted(seen, key=lambda t: (abs(len(t) - 40), seen[t]))[:k]
    return [t if len(t) <= _EXAMPLE_CHARS else t[: _EXAMPLE_CHARS - 1] + "…" for t in ranked]


def _adhoc_min_count(n_texts: int) -> int:
    return max(5, math.ceil(0.002 * n_texts))


def find_topics(
    texts: Sequence[str | None],
    lang: str | None = None,
    *,
    lexicon: TopicLexicon | None = None,
    max_adhoc: int = 10,
    min_adhoc_count: int | None = None,
    top_phrases: int = 5,
    examples: int = 3,
) -> TopicFinding:
    """Group the texts' complaint phrases into labelled topics (see the module docstring).

    ``max_adhoc`` ad-hoc topics at most (0 for seed topics only), each found in at least
    ``min_adhoc_count`` texts (default: 5, or 0.2% of the texts when that is more).
    """
    lex = lexicon or load_lexicon()
    analyses = analyse_many(texts, lang)
    originals = [t if isinstance(t, str) else "" for t in texts]
    scans: dict[int, _Scan] = {}
    per_text: list[_Scan] = []
    for a in analyses:
        s = scans.get(id(a))
        if s is None:
            s = _scan(a, lex)
            scans[id(a)] = s
        per_text.append(s)
    n_texts = sum(1 for a in analyses if a.clauses)

    # Seed topics, and the phrases of the clauses that matched them.
    seed_texts: dict[int, list[int]] = {}
    seed_phrases: dict[int, Counter[str]] = {}
    all_df: Counter[str] = Counter()
    for i, (a, s) in enumerate(zip(analyses, per_text, strict=True)):
        all_df.update(a.phrases())
        for t, clause_ids in s.topics.items():
            seed_texts.setdefault(t, []).append(i)
            phrases = {p for c in clause_ids for p in a.clauses[c].phrases}
            seed_phrases.setdefault(t, Counter()).update(phrases)

    adhoc = _adhoc_topics(
        analyses,
        per_text,
        lex,
        max_adhoc,
        _adhoc_min_count(n_texts) if min_adhoc_count is None else min_adhoc_count,
    )

    rows: list[dict[str, Any]] = []
    assigned: list[list[str]] = [[] for _ in texts]
    for t, idx in seed_texts.items():
        topic = lex.topics[t]
        counts = seed_phrases[t]
        ranked = sorted(counts, key=lambda p: (-counts[p] * counts[p] / all_df[p], p))
        rows.append(
            {
                "topic": topic.id,
                "label_zh": topic.label_zh,
                "label_en": topic.label_en,
                "kind": "seed",
                "count": len(idx),
                "phrases": ranked[:top_phrases],
                "examples": pick_examples(originals, idx, examples),
                "_order": t,
            }
        )
    for n, (head, members, idx) in enumerate(adhoc):
        rows.append(
            {
                "topic": f"phrase:{head}",
                "label_zh": head,
                "label_en": head,
                "kind": "phrase",
                "count": len(idx),
                "phrases": members[:top_phrases],
                "examples": pick_examples(originals, idx, examples),
                "_order": len(lex.topics) + n,
            }
        )
    rows.sort(key=lambda r: (-r["count"], r["_order"]))
    order = {r["topic"]: r["_order"] for r in rows}
    for t, idx in seed_texts.items():
        for i in idx:
            assigned[i].append(lex.topics[t].id)
    for head, _members, idx in adhoc:
        for i in idx:
            assigned[i].append(f"phrase:{head}")
    table = pd.DataFrame(rows, columns=[*_TOPIC_COLUMNS, "_order"]).drop(columns="_order")
    table["count"] = table["count"].astype("int64")
    table["share"] = table["count"] / n_texts if n_texts else 0.0
    return TopicFinding(
        topics=table.reset_index(drop=True),
        assigned=[tuple(sorted(a, key=order.__getitem__)) for a in assigned],
        texts=n_texts,
    )


def _adhoc_topics(
    analyses: Sequence[Analysis],
    scans: Sequence[_Scan],
    lex: TopicLexicon,
    max_adhoc: int,
    min_count: int,
) -> list[tuple[str, list[str], list[int]]]:
    """(label, top phrases, text indices) of each ad-hoc topic, most frequent first.

    Candidates are the complaint targets (see ``phrases.Clause``) of clauses that matched no
    seed topic, minus targets that contain a seed term or subject and generic ones. A less
    frequent
    target that is part of a topic's target, contains it, or shares half of its texts with it
    joins that topic.
    """
    if max_adhoc <= 0:
        return []
    keep: dict[tuple[str, str], bool] = {}

    def candidate(lang: str, target: str) -> bool:
        key = (lang, target)
        ok = keep.get(key)
        if ok is None:
            rules = lex.rules(lang)
            seq = target if lang == "zh" else target.split(" ")
            ok = target not in rules.generic and not rules.cover.search(seq)
            keep[key] = ok
        return ok

    per_text: list[dict[str, set[str]]] = []
    df: Counter[str] = Counter()
    for a, s in zip(analyses, scans, strict=True):
        matched = {c for clauses in s.topics.values() for c in clauses}
        found: dict[str, set[str]] = {}
        for ci, clause in enumerate(a.clauses):
            if ci in matched:
                continue
            for target, phrase in clause.targets:
                if candidate(a.lang, target):
                    found.setdefault(target, set()).add(phrase)
        per_text.append(found)
        df.update(found.keys())
    ranked = [p for p, c in df.most_common(500) if c >= min_count]
    if not ranked:
        return []
    wanted = set(ranked)
    texts_of: dict[str, set[int]] = {p: set() for p in ranked}
    phrases_of: dict[str, Counter[str]] = {p: Counter() for p in ranked}
    for i, found in enumerate(per_text):
        for target in wanted.intersection(found):
            texts_of[target].add(i)
            phrases_of[target].update(found[target])
    topics: list[tuple[str, Counter[str], set[int], set[int]]] = []
    for p in ranked:
        own = texts_of[p]
        for head, phrases, head_texts, union in topics:
            if p in head or head in p or 2 * len(own & head_texts) >= len(own):
                phrases.update(phrases_of[p])
                union |= own
                break
        else:
            if len(topics) < max_adhoc:
                topics.append((p, Counter(phrases_of[p]), own, set(own)))
    return [
        (head, [ph for ph, _ in phrases.most_common()], sorted(union))
        for head, phrases, _h, union in topics
    ]


# --- frames, weeks, groups ----------------------------------------------------------------------


def iso_week(day: date | datetime | pd.Timestamp) -> str:
    """ISO week key of a day, e.g. ``"2025-W41"``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _parse_week(week: str | date | datetime | pd.Timestamp) -> pd.Timestamp:
    """Monday (midnight, no time zone) of an ISO week given as "2025-W41" or any day in it."""
    if isinstance(week, str):
        m = re.fullmatch(r"\s*(\d{4})-?W(\d{1,2})(?:-?\d)?\s*", week, flags=re.IGNORECASE)
        if m:
            return pd.Timestamp(date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1))
    ts = pd.Timestamp(week)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    ts = ts.normalize()
    return ts - pd.Timedelta(days=ts.weekday())


def _local_times(values: pd.Series, tz: str | None = None) -> pd.Series:
    """Timestamps as wall-clock times without a zone.

    With ``tz``, zone-aware times are converted to that zone first. Without it they keep their
    own zone: text with one UTC offset (``2025-09-01T09:15:00+08:00``) keeps its local time, a
    column mixing offsets is read as UTC. Times without a zone are taken as they are.
    """
    parsed: pd.Series | None = None
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
        values.dtype
    ):
        parsed = values
    else:
        attempts: list[dict[str, Any]] = [
            {"format": "ISO8601"},
            {"format": "ISO8601", "utc": True},
            {"format": "mixed", "utc": True, "errors": "coerce"},
        ]
        for kwargs in attempts:
            try:
                parsed = pd.to_datetime(values, **kwargs)
                break
            except (ValueError, TypeError):
                continue
    if parsed is None:  # pragma: no cover - the last attempt coerces
        raise ValueError("cannot read the time column")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        if tz is not None:
            parsed = parsed.dt.tz_convert(tz)
        parsed = parsed.dt.tz_localize(None)
    return parsed


def _bound(value: Any, end: bool) -> pd.Timestamp:
    """A --from / --to bound as a wall-clock time; a bare date as --to covers that whole day."""
    day_only = (isinstance(value, date) and not isinstance(value, datetime)) or (
        isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value) is not None
    )
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    if day_only and end:
        ts = ts + pd.Timedelta(days=1)
    return ts


def negative_mask(df: pd.DataFrame) -> pd.Series:
    """Which rows are negative feedback, for ``negative_only``.

    A ``sentiment_label`` column, when present, decides (``== "negative"``). Otherwise a
    ``score`` column does: with ``scale_min`` and ``scale_max`` columns, a score in the bottom
    quarter of its scale ((score - min) / (max - min) <= 0.25: 1-2 on 1-5, 0-2 on 0-10);
    without them the scale is taken as 1-5 and score <= 2 is negative. Missing values are not
    negative. Raises ValueError when neither column exists.
    """
    if "sentiment_label" in df.columns:
        return df["sentiment_label"].astype("string").str.lower().eq("negative").fillna(False)
    if "score" in df.columns:
        score = pd.to_numeric(df["score"], errors="coerce")
        if "scale_min" in df.columns and "scale_max" in df.columns:
            lo = pd.to_numeric(df["scale_min"], errors="coerce")
            hi = pd.to_numeric(df["scale_max"], errors="coerce")
            position = (score - lo) / (hi - lo).where(hi > lo)
            return (position <= 0.25 + 1e-9).fillna(False).astype(bool)
        return (score <= 2).fillna(False).astype(bool)
    raise ValueError(
        "negative_only needs a 'sentiment_label' column (negative rows are 'negative') or a "
        "'score' column (with 'scale_min' and 'scale_max', or on a 1-5 scale); the frame has "
        "neither"
    )


def _prepare(
    df: pd.DataFrame,
    text: str,
    time: str | None,
    by: str | None,
    negative_only: bool,
    tz: str | None = None,
) -> pd.DataFrame:
    """Columns text, group, when (wall time), monday; rows with empty text dropped."""
    needed = [c for c in (text, time, by) if c is not None]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) not in the frame: {', '.join(missing)}")
    frame = df
    if negative_only:
        frame = frame[negative_mask(frame).to_numpy(dtype=bool)]
    texts = frame[text]
    out = pd.DataFrame(index=frame.index)
    out["text"] = [t if isinstance(t, str) else "" for t in texts]
    if by is None:
        out["group"] = _NO_GROUP
    else:
        out["group"] = [
            _MISSING_GROUP if v is None or (isinstance(v, float) and math.isnan(v)) else v
            for v in frame[by]
        ]
    if time is not None:
        when = _local_times(frame[time], tz)
        out["when"] = when.to_numpy()
        norm = when.dt.normalize()
        out["monday"] = (norm - pd.to_timedelta(norm.dt.day_of_week, unit="D")).to_numpy()
    else:
        out["when"] = pd.NaT
        out["monday"] = pd.NaT
    keep = out["text"].str.strip().str.len() > 0
    return out[keep.to_numpy()].reset_index(drop=True)


def _pairs(prep: pd.DataFrame, assigned: Sequence[tuple[str, ...]]) -> pd.DataFrame:
    """One row per (text, topic): row, group, monday, topic."""
    rows = [i for i, ts in enumerate(assigned) for _ in ts]
    topics = [t for ts in assigned for t in ts]
    idx = np.asarray(rows, dtype=np.int64)
    return pd.DataFrame(
        {
            "row": idx,
            "group": prep["group"].to_numpy()[idx] if len(idx) else [],
            "monday": prep["monday"].to_numpy()[idx] if len(idx) else [],
            "topic": topics,
        }
    )


def _labels(found: TopicFinding) -> dict[str, tuple[str, str, str, list[str]]]:
    t = found.topics
    return {
        str(topic): (str(zh), str(en), str(kind), list(phrases))
        for topic, zh, en, kind, phrases in zip(
            t["topic"], t["label_zh"], t["label_en"], t["kind"], t["phrases"], strict=True
        )
    }


# --- emerging -----------------------------------------------------------------------------------

_EMERGING_COLUMNS = [
    "group",
    "topic",
    "label_zh",
    "label_en",
    "kind",
    "week",
    "count",
    "texts",
    "share",
    "baseline_count",
    "baseline_texts",
    "baseline_share",
    "ratio",
    "p_value",
    "emerging",
    "examples",
]


def _emerging_table(
    prep: pd.DataFrame,
    found: TopicFinding,
    target: pd.Timestamp,
    baseline_weeks: int,
    min_count: int,
    min_ratio: float,
    alpha: float,
    examples: int,
) -> pd.DataFrame:
    """Every (group, topic) seen in the target week, with its test against the baseline."""
    this = (prep["monday"] == target).to_numpy()
    first = target - pd.Timedelta(days=7 * baseline_weeks)
    base = ((prep["monday"] >= first) & (prep["monday"] < target)).to_numpy()
    groups = prep["group"].to_numpy()
    n_this = Counter(groups[this].tolist())
    n_base = Counter(groups[base].tolist())
    k_this: Counter[tuple[Any, str]] = Counter()
    k_base: Counter[tuple[Any, str]] = Counter()
    rows_this: dict[tuple[Any, str], list[int]] = {}
    for i, topics in enumerate(found.assigned):
        if not (this[i] or base[i]):
            continue
        for t in topics:
            key = (groups[i], t)
            if this[i]:
                k_this[key] += 1
                rows_this.setdefault(key, []).append(i)
            else:
                k_base[key] += 1
    labels = _labels(found)
    texts = prep["text"].tolist()
    week = iso_week(target)
    out: list[dict[str, Any]] = []
    for (g, t), k in k_this.items():
        n, nb, kb = n_this[g], n_base[g], k_base[(g, t)]
        share = k / n
        base_share = kb / nb if nb else math.nan
        if not nb:
            ratio, p = math.nan, math.nan
        else:
            ratio = share / base_share if kb else math.inf
            # Conditional test of two Poisson rates: given k + kb texts on the topic, how likely
            # are k or more of them in this week if the topic's rate did not change?
            p = float(binom.sf(k - 1, k + kb, n / (n + nb)))
        flagged = bool(nb) and k >= min_count and ratio >= min_ratio and p < alpha
        zh, en, kind, _phrases = labels[t]
        out.append(
            {
                "group": g,
                "topic": t,
                "label_zh": zh,
                "label_en": en,
                "kind": kind,
                "week": week,
                "count": k,
                "texts": n,
                "share": share,
                "baseline_count": kb,
                "baseline_texts": nb,
                "baseline_share": base_share,
                "ratio": ratio,
                "p_value": p,
                "emerging": flagged,
                "examples": pick_examples(texts, rows_this[(g, t)], examples),
            }
        )
    table = pd.DataFrame(out, columns=_EMERGING_COLUMNS)
    if len(table):
        table = table.sort_values(
            ["group", "emerging", "p_value", "count"],
            ascending=[True, False, True, False],
            key=lambda s: s.astype(str) if s.name == "group" else s,
            na_position="last",
        )
    return table.reset_index(drop=True)


def emerging_issues(
    df: pd.DataFrame,
    text: str = "text",
    time: str = "submitted_at",
    by: str | None = None,
    week: str | date | datetime | pd.Timestamp | None = None,
    baseline_weeks: int = 4,
    min_count: int = 5,
    *,
    min_ratio: float = 2.0,
    alpha: float = 0.01,
    lang: str | None = None,
    negative_only: bool = False,
    lexicon: TopicLexicon | None = None,
    max_adhoc: int = 10,
    examples: int = 3,
    flagged_only: bool = True,
    tz: str | None = None,
) -> pd.DataFrame:
    """Topics whose share in one ISO week is well above their share in the weeks before.

    ``week``: ``"2025-W41"`` or any day in the week; default the week of the latest time in the
    data. Weeks are in wall-clock time, in ``tz`` when given (see ``top_issues``). The baseline
    is the ``baseline_weeks`` ISO weeks right before it. Topics (seed and ad-hoc) are found in
    the texts of those weeks together. A (group, topic) is emerging when
    it has at least ``min_count`` texts in the week, its share of the group's texts is at least
    ``min_ratio`` times its baseline share, and a one-sided test says so with p < ``alpha``:
    given the k + kb texts on the topic in the week and the baseline, k ~ Binomial(k + kb,
    n / (n + nb)) if its rate did not change (n, nb: the group's texts in the week and in the
    baseline). A group without baseline texts is never emerging.

    Columns: group (None without ``by``), topic, label_zh, label_en, kind, week, count, texts,
    share, baseline_count, baseline_texts, baseline_share, ratio (inf when the baseline has
    none), p_value, emerging, examples. With ``flagged_only`` (default) only emerging rows, by
    group and p-value; otherwise every (group, topic) seen in the week.
    """
    if time is None:
        raise ValueError("emerging_issues needs a time column")
    if baseline_weeks < 1:
        raise ValueError("baseline_weeks must be at least 1")
    prep = _prepare(df, text, time, by, negative_only, tz)
    prep = prep[prep["monday"].notna().to_numpy()].reset_index(drop=True)
    if prep.empty:
        return pd.DataFrame(columns=_EMERGING_COLUMNS)
    target = prep["monday"].max() if week is None else _parse_week(week)
    first = target - pd.Timedelta(days=7 * baseline_weeks)
    window = ((prep["monday"] >= first) & (prep["monday"] <= target)).to_numpy()
    prep = prep[window].reset_index(drop=True)
    if prep.empty:
        return pd.DataFrame(columns=_EMERGING_COLUMNS)
    found = find_topics(
        prep["text"].tolist(), lang, lexicon=lexicon, max_adhoc=max_adhoc, examples=examples
    )
    table = _emerging_table(
        prep, found, target, baseline_weeks, min_count, min_ratio, alpha, examples
    )
    if by is None:
        table["group"] = None
    if flagged_only:
        table = table[table["emerging"].astype(bool)].reset_index(drop=True)
    return table


# --- top issues ---------------------------------------------------------------------------------

_TOP_COLUMNS = [
    "group",
    "rank",
    "topic",
    "label_zh",
    "label_en",
    "kind",
    "count",
    "texts",
    "share",
    "phrases",
    "examples",
    "trend",
    "emerging",
]


def top_issues(
    df: pd.DataFrame,
    text: str = "text",
    time: str | None = "submitted_at",
    by: str | None = None,
    start: Any = None,
    end: Any = None,
    top: int = 10,
    lang: str | None = None,
    negative_only: bool = False,
    *,
    lexicon: TopicLexicon | None = None,
    max_adhoc: int = 10,
    examples: int = 3,
    baseline_weeks: int = 4,
    min_count: int = 5,
    tz: str | None = None,
) -> pd.DataFrame:
    """The ``top`` most frequent issues (topics) of each group, with examples and weekly trend.

    ``start`` and ``end`` bound the time column (``start <= t < end``; a bare date as ``end``
    includes that day), in wall-clock time: zone-aware times are converted to ``tz`` (e.g.
    ``"Asia/Shanghai"``) when given, else keep their own zone or UTC offset. ``negative_only`` keeps
    the negative feedback only (see ``negative_mask``). Topics are found once over all the
    texts left, then counted per group (``by``; missing values become ``"(none)"``).

    One row per (group, topic), by group then rank: group (None without ``by``), rank, topic,
    label_zh, label_en, kind, count (texts), texts (the group's non-empty texts), share
    (count / texts), phrases, examples (up to ``examples`` of the group's texts), trend (dict
    ISO week -> count, every week of the data in order, zeros included; empty without a time
    column), emerging (see ``emerging_issues``, for the latest week of the data, with
    ``baseline_weeks`` and ``min_count``).
    """
    prep = _prepare(df, text, time, by, negative_only, tz)
    if time is not None and (start is not None or end is not None):
        keep = pd.Series(True, index=prep.index)
        if start is not None:
            keep &= prep["when"] >= _bound(start, end=False)
        if end is not None:
            keep &= prep["when"] < _bound(end, end=True)
        prep = prep[keep.to_numpy()].reset_index(drop=True)
    if prep.empty:
        return pd.DataFrame(columns=_TOP_COLUMNS)
    found = find_topics(
        prep["text"].tolist(), lang, lexicon=lexicon, max_adhoc=max_adhoc, examples=examples
    )
    pairs = _pairs(prep, found.assigned)
    group_size = prep.groupby("group", sort=False).size()
    labels = _labels(found)
    texts = prep["text"].tolist()

    weeks: list[pd.Timestamp] = []
    flagged: set[tuple[Any, str]] = set()
    if time is not None and prep["monday"].notna().any():
        lo, hi = prep["monday"].min(), prep["monday"].max()
        weeks = list(pd.date_range(lo, hi, freq="7D"))
        emerging = _emerging_table(
            prep, found, hi, baseline_weeks, min_count, 2.0, 0.01, examples=0
        )
        flagged = {
            (g, t)
            for g, t, e in zip(
                emerging["group"], emerging["topic"], emerging["emerging"], strict=True
            )
            if e
        }
    week_keys = [iso_week(w) for w in weeks]

    out: list[dict[str, Any]] = []
    if len(pairs):
        counts = pairs.groupby(["group", "topic"], sort=False).size().reset_index(name="count")
        order = {t: n for n, t in enumerate(found.topics["topic"])}
        counts["_order"] = counts["topic"].map(order)
        counts = counts.sort_values(["count", "_order"], ascending=[False, True])
        rows_of: dict[tuple[Any, str], list[int]] = {}
        for r, g, t in zip(pairs["row"], pairs["group"], pairs["topic"], strict=True):
            rows_of.setdefault((g, t), []).append(int(r))
        weekly: dict[tuple[Any, str], Counter[pd.Timestamp]] = {}
        if weeks:
            for g, t, m in zip(pairs["group"], pairs["topic"], pairs["monday"], strict=True):
                if not pd.isna(m):
                    weekly.setdefault((g, t), Counter())[pd.Timestamp(m)] += 1
        for g, sub in counts.groupby("group", sort=False):
            n = int(group_size[g])
            for rank, (t, k) in enumerate(zip(sub["topic"], sub["count"], strict=True), 1):
                if rank > top:
                    break
                zh, en, kind, phrases = labels[t]
                per_week = weekly.get((g, t), Counter())
                out.append(
                    {
                        "group": None if by is None else g,
                        "rank": rank,
                        "topic": t,
                        "label_zh": zh,
                        "label_en": en,
                        "kind": kind,
                        "count": int(k),
                        "texts": n,
                        "share": int(k) / n,
                        "phrases": phrases,
                        "examples": pick_examples(texts, rows_of[(g, t)], examples),
                        "trend": {
                            key: per_week.get(w, 0) for key, w in zip(week_keys, weeks, strict=True)
                        },
                        "emerging": (g, t) in flagged,
                    }
                )
    table = pd.DataFrame(out, columns=_TOP_COLUMNS)
    if by is not None and len(table):
        table = table.sort_values(
            ["group", "rank"], key=lambda s: s.astype(str) if s.name == "group" else s
        )
    return table.reset_index(drop=True)
