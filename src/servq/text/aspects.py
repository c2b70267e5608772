"""Service-quality aspects of a text, each with its own polarity.

Owns: the built-in aspect lexicon (``lexicons/aspects.yaml``), user lexicon files merged into
it, and the rules that turn words into aspect hits. Aspects (ids): ``attitude`` 服务态度,
``speed`` 速度与等待, ``professionalism`` 专业与解决, ``price`` 价格与费用,
``environment`` 环境与设施, ``product`` 产品与质量, ``delivery`` 物流配送.

How a text is read:

1. Words are found by the matching rule of :mod:`servq.text.risk` (Chinese: substring; others:
   whole word, case-insensitive), reading left to right and keeping the longest word at each
   position, so ``快递`` (a delivery term) hides ``快`` (fast) and ``小时`` hides ``小``.
2. The text is cut into clauses at ``，。！？；,.!?;``, line ends, white space between two
   Chinese characters, and contrast words (但是, 但, 不过, 可是, 却, but, however, although ...).
3. In a clause, a negation (不, 没, 没有, 别, 未, 无, 不太, not, never, no, n't, hardly ...)
   flips the next opinion word if at most two characters (Chinese) or two words (English) lie
   between them, not counting degree words; two negations cancel. A degree word (很, 非常, 太,
   特别, 极其, very, really, so, extremely ...) right before an opinion scales it.
4. Each aspect term takes an opinion of its clause: the first suitable opinion after it (up to
   the next term), else, when only 和/、/的/and/the ... lie between it and the next term, that
   term's opinion (服务和环境都很好), else the nearest free one before it. Suitable: a generic
   opinion (好, 差, good, terrible), an amount word (高, 低, 长, high, long: after a cost term
   such as 价格 or wait time the sense flips, 价格高 is negative and 效率高 positive), or an
   opinion word of the term's own aspect (or of an aspect it ``binds``: delivery terms take
   speed words, 物流很慢).
5. An aspect's own opinion word that no term of that aspect took names the aspect by itself
   (不耐烦 → attitude −, 贵 → price −, 没到 → delivery −). Generic opinions that no term took
   are dropped. A term without an opinion is a neutral mention (polarity 0).

Score: value of the opinion word (±0.3 .. ±1.5) × 0.6 × degree, negated: × −0.8, clipped to
[−1, 1]; polarity is the score's sign. In one clause an aspect gets one hit per opinion word,
and a neutral hit only when it has no other.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from servq.errors import DefinitionError, Problem, ServqError
from servq.text.risk import (
    ORIGIN,
    Word,
    WordList,
    WordMatcher,
    WordsByLang,
    _Frozen,
    _Source,
    is_chinese,
    word_key,
)
from servq.yamlfile import Loc, load_model, loc_text, parse_yaml, read_definition

__all__ = [
    "ASPECTS",
    "AspectHit",
    "AspectInfo",
    "AspectLexicon",
    "aspect_sentiments",
    "aspects_many",
    "builtin_aspects",
    "find_aspects",
]

ASPECTS = ("attitude", "speed", "professionalism", "price", "environment", "product", "delivery")
Lang = Literal["zh", "en"]
Kind = Literal["term", "opinion", "amount", "degree", "negation", "contrast", "ignore"]


# -- the file format ------------------------------------------------------------------------------
def _check_polarity(v: float) -> float:
    if v == 0 or abs(v) > 2:
        raise ValueError("a polarity value is between -2 and 2 and not 0")
    return v


def _none_is_empty_dict(value: object) -> object:
    return {} if value is None else value


Polarity = Annotated[float, AfterValidator(_check_polarity)]
Mult = Annotated[float, Field(gt=0, le=3)]
AspectId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]


class OpinionsByLang(_Frozen):
    zh: Annotated[dict[Word, Polarity], BeforeValidator(_none_is_empty_dict)] = Field(
        default_factory=dict
    )
    en: Annotated[dict[Word, Polarity], BeforeValidator(_none_is_empty_dict)] = Field(
        default_factory=dict
    )

    def all(self) -> list[tuple[Lang, str, float]]:
        return [("zh", w, v) for w, v in self.zh.items()] + [
            ("en", w, v) for w, v in self.en.items()
        ]


class DegreesByLang(_Frozen):
    zh: Annotated[dict[Word, Mult], BeforeValidator(_none_is_empty_dict)] = Field(
        default_factory=dict
    )
    en: Annotated[dict[Word, Mult], BeforeValidator(_none_is_empty_dict)] = Field(
        default_factory=dict
    )

    def all(self) -> list[tuple[Lang, str, float]]:
        return [("zh", w, v) for w, v in self.zh.items()] + [
            ("en", w, v) for w, v in self.en.items()
        ]


class AspectSpec(_Frozen):
    name_zh: str | None = Field(default=None, min_length=1)
    name_en: str | None = Field(default=None, min_length=1)
    binds: list[AspectId] = Field(default_factory=list)
    terms: WordsByLang = Field(default_factory=WordsByLang)
    cost_terms: WordsByLang = Field(default_factory=WordsByLang)
    opinions: OpinionsByLang = Field(default_factory=OpinionsByLang)


class AspectFile(_Frozen):
    """An aspect lexicon file (the built-in one, or a user's additions)."""

    aspects: dict[AspectId, AspectSpec] = Field(default_factory=dict)
    opinions: OpinionsByLang = Field(default_factory=OpinionsByLang)
    degree_opinions: DegreesByLang = Field(default_factory=DegreesByLang)
    amounts: OpinionsByLang = Field(default_factory=OpinionsByLang)
    degrees: DegreesByLang = Field(default_factory=DegreesByLang)
    negations: WordsByLang = Field(default_factory=WordsByLang)
    contrasts: WordsByLang = Field(default_factory=WordsByLang)
    ignore: WordsByLang = Field(default_factory=WordsByLang)
    disable: WordList = Field(default_factory=list)


@dataclass(frozen=True)
class _Entry:
    """What one lexicon word is."""

    word: str
    lang: Lang
    kind: Kind
    aspect: str | None = None  # term
    cost: bool = False  # term: more is worse
    value: float = 0.0  # generic opinion, amount (+ more), degree multiplier
    aspects: tuple[tuple[str, float], ...] = ()  # an aspect's own opinion: aspect → value

    @property
    def zh(self) -> bool:
        return is_chinese(self.word)


def _entries(spec: AspectFile) -> tuple[dict[str, _Entry], list[tuple[Loc, str]]]:
    """Every word of a file as an entry, and the words listed twice in conflicting roles."""
    entries: dict[str, _Entry] = {}
    where: dict[str, Loc] = {}
    problems: list[tuple[Loc, str]] = []

    def add(loc: Loc, entry: _Entry) -> None:
        key = word_key(entry.word)
        old = entries.get(key)
        if old is None:
            entries[key] = entry
            where[key] = loc
            return
        if old.kind == entry.kind == "opinion" and old.aspects and entry.aspects:
            mine = {a for a, _ in old.aspects}
            if not mine & {a for a, _ in entry.aspects}:
                entries[key] = _Entry(
                    old.word, old.lang, "opinion", aspects=old.aspects + entry.aspects
                )
                return
        if old.kind == entry.kind == "term" and old.aspect == entry.aspect:
            if entry.cost and not old.cost:
                entries[key] = entry
            return
        problems.append((loc, f"'{entry.word}' is already listed at {loc_text(where[key])}"))

    for aid, a in spec.aspects.items():
        cost = {word_key(w) for _, _, w in a.cost_terms.all()}
        for lang, i, w in a.terms.all():
            add(
                ("aspects", aid, "terms", lang, i),
                _Entry(w, lang, "term", aid, word_key(w) in cost),
            )
        for lang, i, w in a.cost_terms.all():
            add(("aspects", aid, "cost_terms", lang, i), _Entry(w, lang, "term", aid, True))
        for lang, w, v in a.opinions.all():
            add(
                ("aspects", aid, "opinions", lang, w),
                _Entry(w, lang, "opinion", aspects=((aid, v),)),
            )
    for lang, w, v in spec.opinions.all():
        add(("opinions", lang, w), _Entry(w, lang, "opinion", value=v))
    for lang, w, v in spec.amounts.all():
        add(("amounts", lang, w), _Entry(w, lang, "amount", value=v))
    for lang, w, v in spec.degrees.all():
        add(("degrees", lang, w), _Entry(w, lang, "degree", value=v))
    for section, kind in (
        ("negations", "negation"),
        ("contrasts", "contrast"),
        ("ignore", "ignore"),
    ):
        words: WordsByLang = getattr(spec, section)
        for lang, i, w in words.all():
            add((section, lang, i), _Entry(w, lang, kind))  # type: ignore[arg-type]
    for i, w in enumerate(spec.disable):
        if word_key(w) in entries:
            problems.append(
                (
                    ("disable", i),
                    f"'{w}' is both listed at {loc_text(where[word_key(w)])} and disabled",
                )
            )
    return entries, problems


def _file_checks(spec: AspectFile) -> list[tuple[Loc, str]]:
    return _entries(spec)[1]


# -- results --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AspectHit:
    """One aspect found in a text.

    ``term`` is ``text[start:end]``: the aspect term, or the opinion word itself when the
    opinion names its aspect alone; ``opinion`` the opinion word taken (``None`` for a neutral
    mention); ``clause`` the clause it was found in.
    """

    aspect: str
    polarity: int
    score: float
    term: str
    start: int
    end: int
    clause: str
    opinion: str | None = None
    negated: bool = False


@dataclass(frozen=True)
class AspectInfo:
    """An aspect's id, display names and the aspects whose own opinion words its terms take."""

    id: str
    name_zh: str | None
    name_en: str | None
    binds: tuple[str, ...] = ()

    def name(self, lang: str = "zh") -> str:
        got = self.name_zh if lang == "zh" else self.name_en
        return got or self.id


# -- reading a text -------------------------------------------------------------------------------
_SPLIT = re.compile(r"[，,。！？!?；;\n\r…～~]+|\.+(?![0-9])|(\s+)")
_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _spaced_chinese(text: str, start: int, end: int) -> bool:
    """White space between two Chinese characters ends a clause (房间很大 服务很好)."""
    return (
        start > 0
        and end < len(text)
        and _CJK_CHAR.match(text, start - 1) is not None
        and _CJK_CHAR.match(text, end) is not None
    )


def _span(cuts: Sequence[tuple[int, int]], k: int, n: int) -> tuple[int, int]:
    """Clause ``k``: between cut ``k - 1`` and cut ``k``."""
    return (cuts[k - 1][1] if k else 0, cuts[k][0] if k < len(cuts) else n)


_FILLER = re.compile(
    r"(?:\s|和|与|及|跟|、|的|还有|以及|都|也|还|同|&|/|\band\b|\bor\b|\bthe\b|\ba\b|\ban\b|"
    r"\bits\b|\btheir\b|\bour\b|\bboth\b|\ball\b|\bwere\b|\bwas\b|\bare\b|\bis\b)*\Z",
    re.IGNORECASE,
)
_BASE = 0.6
_NEGATED = -0.8
_GAP = 2


_Item = tuple[int, int, _Entry, bool, float]


@dataclass(slots=True)
class _Op:
    start: int
    end: int
    entry: _Entry
    negated: bool
    mult: float


@dataclass(slots=True)
class _Term:
    start: int
    end: int
    entry: _Entry


@dataclass(frozen=True)
class _Compiled:
    matcher: WordMatcher
    by_word: Mapping[str, tuple[_Entry, bool, float]]  # entry, Chinese, as a degree word


def _gap(text: str, start: int, end: int, skip_chars: int, skip_words: int, zh: bool) -> int:
    between = text[start:end]
    if zh:
        return len("".join(between.split())) - skip_chars
    return len(between.split()) - skip_words


def _score(value: float, mult: float, negated: bool) -> float:
    s = value * _BASE * mult * (_NEGATED if negated else 1.0)
    return round(max(-1.0, min(1.0, s)), 3)


def _sign(x: float) -> int:
    return 1 if x > 0 else (-1 if x < 0 else 0)


class AspectLexicon:
    """Aspects, their terms and opinion words, and the shared word classes.

    Build one with :meth:`builtin`, :meth:`from_yaml` or :meth:`merged`.
    """

    def __init__(
        self,
        aspects: Iterable[AspectInfo],
        entries: Mapping[str, _Entry],
        degree_opinions: Mapping[str, float] | None = None,
        *,
        disabled: Sequence[str] = (),
        source: _Source | None = None,
    ) -> None:
        self.aspects: dict[str, AspectInfo] = {a.id: a for a in aspects}
        self._entries = dict(entries)
        self._degree_opinions = dict(degree_opinions or {})
        self.disabled = tuple(disabled)
        self._source = source
        self._compiled: dict[str | None, _Compiled] = {}
        self._binds = {a.id: frozenset(a.binds) for a in self.aspects.values()}

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def builtin(cls) -> AspectLexicon:
        """The lexicon shipped with servq (one shared instance)."""
        return builtin_aspects()

    @classmethod
    def from_text(cls, text: str, file: str) -> AspectLexicon:
        """A lexicon from YAML text; every problem is raised at once with file, line, field."""
        spec = load_model(AspectFile, text, file, checks=_file_checks)
        _, lines = parse_yaml(text, file)
        entries, _ = _entries(spec)
        infos = [
            AspectInfo(aid, a.name_zh, a.name_en, tuple(a.binds)) for aid, a in spec.aspects.items()
        ]
        degree_opinions = {word_key(w): v for _, w, v in spec.degree_opinions.all()}
        return cls(
            infos, entries, degree_opinions, disabled=spec.disable, source=_Source(file, lines)
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> AspectLexicon:
        """A lexicon from a YAML file (format: docs/text-lexicons.md). Aspects may leave out
        their names when the file extends the built-in lexicon through :meth:`merged`."""
        return cls.from_text(read_definition(Path(path)), str(path))

    @classmethod
    def merged(cls, builtin: AspectLexicon, user: AspectLexicon) -> AspectLexicon:
        """``builtin`` extended by ``user``: a word the user lists takes the user's role
        (replacing its built-in one), ``disable`` words are taken out, new aspects are added
        (they need both names) and names or binds of built-in aspects changed."""
        problems: list[Problem] = []
        src = user._source

        def problem(loc: Loc, message: str) -> None:
            if src is not None:
                problems.append(src.problem(loc, message))
            else:
                problems.append(Problem("<user lexicon>", None, loc_text(loc), message))

        for i, w in enumerate(user.disabled):
            if word_key(w) not in builtin._entries:
                problem(("disable", i), f"'{w}' is not a word of the built-in lexicon")
        drop = {word_key(w) for w in user.disabled} | set(user._entries)
        entries = {k: e for k, e in builtin._entries.items() if k not in drop}
        entries.update(user._entries)

        infos = dict(builtin.aspects)
        for a in user.aspects.values():
            base = infos.get(a.id)
            if base is None:
                missing = [n for n in ("name_zh", "name_en") if getattr(a, n) is None]
                if missing:
                    problem(
                        ("aspects", a.id),
                        f"a new aspect needs {' and '.join(missing)} (built-in aspects: "
                        f"{', '.join(builtin.aspects)})",
                    )
                infos[a.id] = a
            else:
                infos[a.id] = AspectInfo(
                    a.id,
                    a.name_zh or base.name_zh,
                    a.name_en or base.name_en,
                    tuple(dict.fromkeys(base.binds + a.binds)),
                )
        for a in user.aspects.values():
            for i, b in enumerate(a.binds):
                if b not in infos:
                    problem(("aspects", a.id, "binds", i), f"no aspect '{b}'")
        degree_opinions = {**builtin._degree_opinions, **user._degree_opinions}
        for key in user._degree_opinions:
            e = entries.get(key)
            if e is None or e.kind != "opinion":
                problem(("degree_opinions",), f"'{key}' is not an opinion word")
        if problems:
            raise DefinitionError(problems)
        return cls(infos.values(), entries, degree_opinions)

    # -- lookups ---------------------------------------------------------------------------------
    def names(self, lang: str = "zh") -> dict[str, str]:
        """Aspect id → display name in ``lang`` (zh or en)."""
        return {a.id: a.name(lang) for a in self.aspects.values()}

    def words(self, kind: str, lang: str | None = None) -> list[str]:
        """The lexicon's words of one kind (term, opinion, amount, degree, negation, contrast,
        ignore), optionally of one language."""
        return [
            e.word
            for e in self._entries.values()
            if e.kind == kind and (lang is None or e.lang == lang)
        ]

    def terms_of(self, aspect: str) -> list[str]:
        return [e.word for e in self._entries.values() if e.kind == "term" and e.aspect == aspect]

    def opinions_of(self, aspect: str) -> dict[str, float]:
        return {
            e.word: dict(e.aspects)[aspect]
            for e in self._entries.values()
            if e.kind == "opinion" and aspect in dict(e.aspects)
        }

    def _compile(self, lang: str | None) -> _Compiled:
        if lang not in (None, "zh", "en"):
            raise ValueError(f"lang must be 'zh', 'en' or None ('' too), not {lang!r}")
        got = self._compiled.get(lang)
        if got is None:
            chosen = [e for e in self._entries.values() if lang is None or e.lang == lang]
            got = _Compiled(
                WordMatcher((e.word for e in chosen), fold_apostrophes=True),
                {
                    e.word: (e, e.zh, self._degree_opinions.get(word_key(e.word), 0.0))
                    for e in chosen
                },
            )
            self._compiled[lang] = got
        return got

    # -- analysis --------------------------------------------------------------------------------
    def find(self, text: str | None, lang: str | None = None) -> list[AspectHit]:
        """Aspect hits of ``text`` by position; ``lang`` limits the lexicon to one language
        (``None``: both)."""
        if not text:
            return []
        comp = self._compile(lang or None)
        tokens = comp.matcher.tokens(text)
        if not tokens:
            return []
        by_word = comp.by_word
        items: list[_Item] = []
        contrasts: list[tuple[int, int]] = []
        useful = False
        for s, e, w in tokens:
            ent, zh, as_degree = by_word[w]
            kind = ent.kind
            if kind == "contrast":
                contrasts.append((s, e))
                continue
            if kind == "term" or ent.aspects:
                useful = True
            items.append((s, e, ent, zh, as_degree))
        if not useful:
            return []
        cuts = [
            (m.start(), m.end())
            for m in _SPLIT.finditer(text)
            if m.group(1) is None or _spaced_chinese(text, m.start(), m.end())
        ]
        if contrasts:
            cuts = sorted(cuts + contrasts)
        ncut = len(cuts)
        hits: list[AspectHit] = []
        k = 0
        group: list[_Item] = []
        anchor = False
        for it in items:
            start = it[0]
            if k < ncut and cuts[k][0] < start:
                if anchor:
                    hits.extend(self._clause(text, _span(cuts, k, len(text)), group))
                group, anchor = [], False
                while k < ncut and cuts[k][0] < start:
                    k += 1
            group.append(it)
            if it[2].kind == "term" or it[2].aspects:
                anchor = True
        if anchor:
            hits.extend(self._clause(text, _span(cuts, k, len(text)), group))
        if len(hits) > 1:
            hits.sort(key=lambda h: (h.start, h.aspect))
        return hits

    def _compatible(self, term: _Term, op: _Op) -> bool:
        aspects = op.entry.aspects
        if not aspects:
            return True
        aspect = term.entry.aspect
        binds = self._binds.get(aspect or "", frozenset())
        return any(a == aspect or a in binds for a, _ in aspects)

    def _value(self, term: _Term, op: _Op) -> float:
        ent = op.entry
        if ent.kind == "amount":
            return -ent.value if term.entry.cost else ent.value
        if ent.aspects:
            values = dict(ent.aspects)
            return values.get(term.entry.aspect or "", ent.aspects[0][1])
        return ent.value

    def _clause(self, text: str, span: tuple[int, int], group: list[_Item]) -> list[AspectHit]:
        terms: list[_Term] = []
        ops: list[_Op] = []
        neg_count = 0
        neg_end = -1
        skip_chars = skip_words = 0
        deg = 1.0
        deg_end = -1
        n = len(group)
        for i, (s, e, ent, zh, as_degree) in enumerate(group):
            kind = ent.kind
            if kind == "negation":
                if neg_count and _gap(text, neg_end, s, skip_chars, skip_words, zh) <= _GAP:
                    neg_count += 1
                else:
                    neg_count = 1
                neg_end, skip_chars, skip_words = e, 0, 0
            elif kind == "degree":
                if deg_end >= 0 and not text[deg_end:s].strip():
                    deg = min(deg * ent.value, 2.0)
                else:
                    deg = ent.value
                deg_end = e
                skip_chars += e - s
                skip_words += len(text[s:e].split())
            elif kind == "ignore":
                neg_count, deg, deg_end = 0, 1.0, -1
            elif kind == "term":
                terms.append(_Term(s, e, ent))
            else:
                if (
                    as_degree
                    and i + 1 < n
                    and group[i + 1][0] == e
                    and group[i + 1][2].kind in ("opinion", "amount")
                ):
                    deg, deg_end = as_degree, e
                    skip_chars += e - s
                    skip_words += 1
                    continue
                negated = (
                    neg_count % 2 == 1
                    and _gap(text, neg_end, s, skip_chars, skip_words, zh) <= _GAP
                )
                near = deg_end >= 0 and (
                    len(text[deg_end:s].strip()) <= 1 if zh else not text[deg_end:s].strip()
                )
                ops.append(_Op(s, e, ent, negated, deg if near else 1.0))
                neg_count, skip_chars, skip_words, deg, deg_end = 0, 0, 0, 1.0, -1
        if not terms and not any(op.entry.aspects for op in ops):
            return []

        clause = text[span[0] : span[1]].strip()
        nt = len(terms)
        bound: list[_Op | None] = [None] * nt
        if nt and ops:
            after: list[list[_Op]] = [[] for _ in range(nt)]
            before: list[list[_Op]] = [[] for _ in range(nt)]
            term_starts = [t.start for t in terms]
            for op in ops:
                j = bisect_left(term_starts, op.start)
                if j > 0:
                    after[j - 1].append(op)
                if j < nt:
                    before[j].append(op)
            for i in range(nt - 1, -1, -1):
                t = terms[i]
                found: _Op | None = next((o for o in after[i] if self._compatible(t, o)), None)
                if found is None and i + 1 < nt and not after[i]:
                    nxt = bound[i + 1]
                    if (
                        nxt is not None
                        and self._compatible(t, nxt)
                        and _FILLER.match(text, t.end, terms[i + 1].start)
                    ):
                        found = nxt
                bound[i] = found
            for i in range(nt):
                if bound[i] is None:
                    used = bound[i - 1] if i else None
                    cands = [
                        o for o in before[i] if o is not used and self._compatible(terms[i], o)
                    ]
                    if cands:
                        bound[i] = cands[-1]

        best: dict[tuple[str, int], AspectHit] = {}
        covered: dict[int, set[str]] = {}
        neutral: dict[str, _Term] = {}
        for t, taken in zip(terms, bound, strict=True):
            aspect = t.entry.aspect or ""
            if taken is None:
                neutral.setdefault(aspect, t)
                continue
            score = _score(self._value(t, taken), taken.mult, taken.negated)
            hit = AspectHit(
                aspect,
                _sign(score),
                score,
                text[t.start : t.end],
                t.start,
                t.end,
                clause,
                text[taken.start : taken.end],
                taken.negated,
            )
            key = (aspect, taken.start)
            old = best.get(key)
            if old is None or abs(t.start - taken.start) < abs(old.start - taken.start):
                best[key] = hit
            covered.setdefault(taken.start, set()).update({aspect, *self._binds.get(aspect, ())})
        for op in ops:
            for aspect, value in op.entry.aspects:
                if aspect in covered.get(op.start, ()):
                    continue
                score = _score(value, op.mult, op.negated)
                word = text[op.start : op.end]
                best[(aspect, op.start)] = AspectHit(
                    aspect, _sign(score), score, word, op.start, op.end, clause, word, op.negated
                )
        hits = list(best.values())
        with_opinion = {h.aspect for h in hits}
        for aspect, t in neutral.items():
            if aspect not in with_opinion:
                hits.append(
                    AspectHit(aspect, 0, 0.0, text[t.start : t.end], t.start, t.end, clause)
                )
        return hits

    def sentiments(self, text: str | None, lang: str | None = None) -> dict[str, float]:
        """Aspect → mean polarity of its hits with an opinion (0.0 when only mentioned), in
        order of first mention."""
        return mean_polarity(self.find(text, lang))

    def find_many(
        self, texts: Iterable[str | None], lang: str | Sequence[str | None] | None = None
    ) -> list[list[AspectHit]]:
        """:meth:`find` for each text (``None`` or empty → no hits); ``lang`` is one language
        for all texts or a sequence with one per text."""
        if lang is None or isinstance(lang, str):
            return [self.find(t, lang) for t in texts]
        items = list(texts)
        if len(lang) != len(items):
            raise ValueError(f"{len(items)} texts but {len(lang)} languages")
        return [self.find(t, g) for t, g in zip(items, lang, strict=True)]


def mean_polarity(hits: Iterable[AspectHit]) -> dict[str, float]:
    """Aspect → mean polarity of its hits with an opinion (0.0 when only mentioned)."""
    polarities: dict[str, list[int]] = {}
    for h in hits:
        got = polarities.setdefault(h.aspect, [])
        if h.polarity:
            got.append(h.polarity)
    return {a: (sum(p) / len(p) if p else 0.0) for a, p in polarities.items()}


@cache
def builtin_aspects() -> AspectLexicon:
    """The built-in lexicon, ``lexicons/aspects.yaml``."""
    file = f"{ORIGIN}/aspects.yaml"
    text = resources.files("servq.text").joinpath("lexicons", "aspects.yaml").read_text("utf-8")
    lex = AspectLexicon.from_text(text, file)
    missing = [a.id for a in lex.aspects.values() if not (a.name_zh and a.name_en)]
    unknown = [b for a in lex.aspects.values() for b in a.binds if b not in lex.aspects]
    if missing or unknown:
        raise ServqError(f"built-in aspects without names {missing} or unknown binds {unknown}")
    return AspectLexicon(lex.aspects.values(), lex._entries, lex._degree_opinions)


def find_aspects(
    text: str | None, lang: str | None = None, lexicon: AspectLexicon | None = None
) -> list[AspectHit]:
    """Aspect hits of ``text`` (built-in lexicon unless one is given)."""
    return (lexicon or builtin_aspects()).find(text, lang)


def aspect_sentiments(
    text: str | None, lang: str | None = None, lexicon: AspectLexicon | None = None
) -> dict[str, float]:
    """Aspect → mean polarity of its opinionated hits (0.0 when only mentioned)."""
    return (lexicon or builtin_aspects()).sentiments(text, lang)


def aspects_many(
    texts: Iterable[str | None],
    lang: str | Sequence[str | None] | None = None,
    lexicon: AspectLexicon | None = None,
) -> list[list[AspectHit]]:
    """:func:`find_aspects` for each text; ``lang``: one for all texts, or one per text."""
    return (lexicon or builtin_aspects()).find_many(texts, lang)
