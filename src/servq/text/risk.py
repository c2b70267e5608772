"""Risk words by category, with their positions, and the urgency of a text.

Owns: the built-in categorised risk lexicon (``lexicons/risk.yaml``) and urgency words
(``lexicons/urgency.yaml``), user lexicon files merged into them, the fast multi-word matcher
that :mod:`servq.text.aspects` reuses, negation of a hit, and the urgency rule.

How a word matches is the rule of :mod:`servq.monitor.riskwords` (and is tested against it):

- a word holding a Chinese character matches as a substring (``投诉`` in ``我要投诉你们``);
- any other word matches as a whole word, case-insensitive, where a boundary is any character
  other than an ASCII letter, digit or underscore, and a space inside a phrase matches any run
  of white space: ``sue`` matches ``I will SUE`` but not ``issue``; ``12315`` matches
  ``打12315投诉`` but not ``123150``.

Every occurrence of every word is reported, overlapping ones too (``投诉到`` and ``投诉`` both
hit in ``投诉到12315``). Positions are character offsets into the original text.

A hit right after a negation (``我不会投诉``, ``I will not sue``) still counts: it is reported
with ``negated=True``, and it does not raise the urgency. So is every hit that lies inside a
negated hit.

Urgency (``high`` / ``medium`` / ``low``), from hits and urgency words that are not negated:

- ``high``: a hit of a category whose urgency is high (built-in: regulator, media, legal,
  safety), or a high urgency word (紧急, 十万火急, urgent, emergency, asap ...), or a medium
  urgency word together with a hit of a medium category;
- ``medium``: a hit of a medium category (complaint, churn, fraud, compensation) or a medium
  urgency word (马上, 立刻, 尽快, 急, immediately, right now ...);
- ``low``: anything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from servq.errors import DefinitionError, Problem, ServqError
from servq.yamlfile import LineMap, Loc, load_model, loc_text, parse_yaml, read_definition

__all__ = [
    "LEVELS",
    "RiskCategory",
    "RiskHit",
    "RiskLexicon",
    "UrgencyHit",
    "WordMatcher",
    "builtin_lexicon",
    "find_risks",
    "is_chinese",
    "urgency",
    "word_key",
    "word_pattern",
]

Level = Literal["high", "medium", "low"]
LEVELS: tuple[Level, ...] = ("high", "medium", "low")
ORIGIN = "servq:text/lexicons"

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_RUN = re.compile(r"[A-Za-z0-9_]+")
_WORD_START = re.compile(r"[A-Za-z0-9_]+")


# -- how a word matches ---------------------------------------------------------------------------
def is_chinese(word: str) -> bool:
    """Whether a word holds a Chinese character (and so matches as a substring)."""
    return _CJK.search(word) is not None


def word_key(word: str) -> str:
    """The identity of a word: Chinese words as written, others lower case with single spaces."""
    if is_chinese(word):
        return word
    return " ".join(word.casefold().split()).replace("’", "'")


def word_pattern(word: str, *, fold_apostrophes: bool = False) -> str:
    """The regular expression of a whole-word, case-insensitive match of a non-Chinese word
    (compile it with ``re.IGNORECASE``); ``fold_apostrophes`` lets ' and ’ match each other."""
    parts = []
    for part in word.split():
        body = re.escape(part)
        if fold_apostrophes:
            body = re.sub("['’]", "['’]", body)
        parts.append(body)
    return r"(?<![0-9A-Za-z_])" + r"\s+".join(parts) + r"(?![0-9A-Za-z_])"


def _trie_regex(words: Iterable[str]) -> str:
    """One alternation of literal words, factored as a trie: at any position the longest word
    starting there wins."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = True

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:
            body = f"(?:{body})?"
        return body

    return "|".join(re.escape(ch) + build(child) for ch, child in sorted(trie.items()))


def _nested_regex(words: Iterable[str], fan: int = 4) -> str:
    """The trie alternation of :func:`_trie_regex`, its first characters split into ``fan``
    groups each guarded by a character class, recursively: ``re`` tries alternatives one by
    one, so a position then costs a few class checks instead of one check per first character
    (about twice as fast on Chinese reviews with a thousand words)."""
    by_first: dict[str, list[str]] = {}
    for w in words:
        by_first.setdefault(w[0], []).append(w)

    def build(firsts: list[str]) -> str:
        if len(firsts) <= fan:
            return _trie_regex(w for c in firsts for w in by_first[c])
        size = -(-len(firsts) // fan)
        parts = []
        for i in range(0, len(firsts), size):
            chunk = firsts[i : i + size]
            cls = "".join(re.escape(c) for c in chunk)
            parts.append(f"(?=[{cls}])(?:{build(chunk)})")
        return "|".join(parts)

    return build(sorted(by_first))


class _LazyPattern:
    """A regular expression compiled the first time it is used: a lexicon has hundreds of Latin
    words, most of which a batch of texts never reaches (their leading run never occurs), and
    compiling them all up front took 0.3 s at the first English text of a process."""

    __slots__ = ("_flags", "_pattern", "_source")

    def __init__(self, source: str, flags: int) -> None:
        self._source = source
        self._flags = flags
        self._pattern: re.Pattern[str] | None = None

    def _compiled(self) -> re.Pattern[str]:
        pat = self._pattern
        if pat is None:
            pat = self._pattern = re.compile(self._source, self._flags)
        return pat

    def match(self, text: str, pos: int) -> re.Match[str] | None:
        return self._compiled().match(text, pos)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self._compiled().finditer(text)


class WordMatcher:
    """Finds a fixed set of words in texts by the rule above.

    ``occurrences`` reports every occurrence of every word, overlapping ones too; ``tokens``
    reads a text left to right and keeps, at each position, the longest word (no overlaps).
    Chinese words are found by one compiled trie regex; other words by looking up each run of
    ASCII letters and digits in a dictionary of the words that start with it.
    """

    def __init__(self, words: Iterable[str], *, fold_apostrophes: bool = False) -> None:
        zh: set[str] = set()
        lead: dict[str, list[tuple[int, str, _LazyPattern]]] = {}
        odd: list[tuple[str, _LazyPattern]] = []
        for word in dict.fromkeys(words):
            if is_chinese(word):
                zh.add(word)
                continue
            pat = _LazyPattern(word_pattern(word, fold_apostrophes=fold_apostrophes), re.IGNORECASE)
            m = _WORD_START.match(word)
            if m is None:
                odd.append((word, pat))
            else:
                lead.setdefault(m.group().lower(), []).append((len(word), word, pat))
        self._zh = frozenset(zh)
        lengths: dict[str, set[int]] = {}
        for word in zh:
            lengths.setdefault(word[0], set()).add(len(word))
        self._zh_lengths = {ch: tuple(sorted(ls, reverse=True)) for ch, ls in lengths.items()}
        self._zh_re = re.compile(_nested_regex(zh)) if zh else None
        self._lead = {
            k: tuple((w, p) for _, w, p in sorted(v, key=lambda t: (-t[0], t[1])))
            for k, v in lead.items()
        }
        self._odd = tuple(odd)

    def __bool__(self) -> bool:
        return bool(self._zh or self._lead or self._odd)

    def occurrences(self, text: str) -> list[tuple[int, int, str]]:
        """Every ``(start, end, word)`` in ``text``, by start then end."""
        out: list[tuple[int, int, str]] = []
        if self._zh_re is not None:
            search = self._zh_re.search
            zh = self._zh
            pos = 0
            m = search(text, pos)
            while m is not None:
                s = m.start()
                for n in self._zh_lengths[text[s]]:
                    piece = text[s : s + n]
                    if piece in zh and len(piece) == n:
                        out.append((s, s + n, piece))
                m = search(text, s + 1)
        if self._lead:
            lead = self._lead
            for run in _RUN.finditer(text):
                cands = lead.get(run.group().lower())
                if cands is None:
                    continue
                s = run.start()
                for word, pat in cands:
                    pm = pat.match(text, s)
                    if pm is not None:
                        out.append((s, pm.end(), word))
        for word, pat in self._odd:
            out.extend((m.start(), m.end(), word) for m in pat.finditer(text))
        out.sort(key=lambda t: (t[0], t[1]))
        return out

    def tokens(self, text: str) -> list[tuple[int, int, str]]:
        """Left to right, the longest word at each position; no two tokens overlap."""
        zh: list[tuple[int, int, str]] = []
        if self._zh_re is not None:
            zh = [(m.start(), m.end(), m.group()) for m in self._zh_re.finditer(text)]
        found: list[tuple[int, int, str]] = []
        if self._lead:
            lead = self._lead
            end = 0
            for run in _RUN.finditer(text):
                s = run.start()
                if s < end:
                    continue
                cands = lead.get(run.group().lower())
                if cands is None:
                    continue
                for word, pat in cands:
                    pm = pat.match(text, s)
                    if pm is not None:
                        found.append((s, pm.end(), word))
                        end = pm.end()
                        break
        for word, pat in self._odd:
            found.extend((m.start(), m.end(), word) for m in pat.finditer(text))
        if not found:
            return zh  # already in order, without overlaps
        found += zh
        found.sort(key=lambda t: (t[0], -t[1]))
        out = [found[0]]
        for tok in found[1:]:
            if tok[0] >= out[-1][1]:
                out.append(tok)
        return out


# -- negation -------------------------------------------------------------------------------------
_ZH_NEGATION = re.compile(
    r"(?:不会|不想|不打算|不准备|不要|不用|不必|不需要|无需|并没有|没有|没|从没|从来没有|从未|未曾|"
    r"未|不是|别|绝不|决不|不)"
    r"(?:再|去|要|会|想|打算|准备|用|找|打|向|跟|和|被|那么|太|很|是很|怎么|着)?\Z"
)
_EN_NEGATION = re.compile(
    r"(?<![A-Za-z0-9_])(?:not|never|no|[A-Za-z]+n['’]t|cannot|without|hardly)\s+"
    r"(?:[A-Za-z]+\s+){0,2}\Z",
    re.IGNORECASE,
)


def _negated(text: str, start: int, word: str) -> bool:
    if is_chinese(word):
        return _ZH_NEGATION.search(text, max(0, start - 6), start) is not None
    return _EN_NEGATION.search(text, max(0, start - 60), start) is not None


def _negations(text: str, spans: Sequence[tuple[int, int, str]]) -> list[bool]:
    """Per span: negated itself, or inside a negated span."""
    flags = [_negated(text, s, w) for s, _, w in spans]
    negated_spans = [(s, e) for (s, e, _), f in zip(spans, flags, strict=True) if f]
    if negated_spans:
        for i, (s, e, _) in enumerate(spans):
            if not flags[i]:
                flags[i] = any(ns <= s and e <= ne for ns, ne in negated_spans)
    return flags


# -- the lexicon ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RiskHit:
    """One occurrence of a risk word: ``text[start:end]`` is what matched (``matched``)."""

    word: str
    category: str
    start: int
    end: int
    matched: str
    negated: bool = False


@dataclass(frozen=True, slots=True)
class UrgencyHit:
    """One occurrence of an urgency word (level ``high`` or ``medium``)."""

    word: str
    level: Level
    start: int
    end: int
    negated: bool = False


@dataclass(frozen=True)
class RiskCategory:
    """A category: its id, Chinese and English names, the urgency its hits give, its words.

    ``name_zh`` / ``name_en`` are ``None`` only in a user file that extends a built-in category.
    """

    id: str
    name_zh: str | None
    name_en: str | None
    urgency: Level | None
    words: tuple[str, ...]

    def name(self, lang: str = "zh") -> str:
        got = self.name_zh if lang == "zh" else self.name_en
        return got or self.id


def _coerce_word(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a yes/no value is not a word: write the word in quotes")
    if isinstance(value, int | float):
        return str(value)
    return value


def _check_word(value: str) -> str:
    word = value.strip()
    if not word:
        raise ValueError("empty word")
    if "\n" in word or len(word) > 100:
        raise ValueError("a word is one line of at most 100 characters")
    return word


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _none_is_empty(value: object) -> object:
    return [] if value is None else value


Word = Annotated[str, BeforeValidator(_coerce_word), AfterValidator(_check_word)]
WordList = Annotated[list[Word], BeforeValidator(_none_is_empty)]


class WordsByLang(_Frozen):
    """Words in Chinese and English; the language only groups them, the rule of a match
    depends on the word itself."""

    zh: WordList = Field(default_factory=list)
    en: WordList = Field(default_factory=list)

    def all(self) -> list[tuple[Literal["zh", "en"], int, str]]:
        return [("zh", i, w) for i, w in enumerate(self.zh)] + [
            ("en", i, w) for i, w in enumerate(self.en)
        ]


class CategorySpec(_Frozen):
    name_zh: str | None = Field(default=None, min_length=1)
    name_en: str | None = Field(default=None, min_length=1)
    urgency: Level | None = None
    words: WordsByLang = Field(default_factory=WordsByLang)


class UrgencySpec(_Frozen):
    high: WordsByLang = Field(default_factory=WordsByLang)
    medium: WordsByLang = Field(default_factory=WordsByLang)


CategoryId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]


class RiskFile(_Frozen):
    """A risk lexicon file: categories of words, urgency words, built-in words to disable."""

    categories: dict[CategoryId, CategorySpec] = Field(default_factory=dict)
    urgency: UrgencySpec = Field(default_factory=UrgencySpec)
    disable: WordList = Field(default_factory=list)


def _file_checks(f: RiskFile) -> list[tuple[Loc, str]]:
    """A word listed twice in one file, or both listed and disabled."""
    seen: dict[str, Loc] = {}
    problems: list[tuple[Loc, str]] = []

    def visit(loc: Loc, word: str) -> None:
        key = word_key(word)
        if key in seen:
            problems.append((loc, f"'{word}' is already listed at {loc_text(seen[key])}"))
        else:
            seen[key] = loc

    for cid, cat in f.categories.items():
        for lang, i, w in cat.words.all():
            visit(("categories", cid, "words", lang, i), w)
    for level in ("high", "medium"):
        spec: WordsByLang = getattr(f.urgency, level)
        for lang, i, w in spec.all():
            visit(("urgency", level, lang, i), w)
    for i, w in enumerate(f.disable):
        if word_key(w) in seen:
            problems.append(
                (
                    ("disable", i),
                    f"'{w}' is both listed at {loc_text(seen[word_key(w)])} and disabled",
                )
            )
    return problems


@dataclass(frozen=True)
class _Source:
    """Where a lexicon was read from, to name file and line in problems found later."""

    file: str
    lines: LineMap

    def problem(self, loc: Loc, message: str) -> Problem:
        return Problem(self.file, self.lines.line(loc), loc_text(loc), message)


@dataclass(frozen=True)
class _Compiled:
    matcher: WordMatcher
    category_of: Mapping[str, str]
    urgency_matcher: WordMatcher
    level_of: Mapping[str, Level]


class RiskLexicon:
    """Categorised risk words and urgency words.

    Build one with :meth:`builtin`, :meth:`from_yaml` or :meth:`merged`; the constructor takes
    categories and urgency words directly (``disabled`` words only matter in :meth:`merged`).
    """

    def __init__(
        self,
        categories: Iterable[RiskCategory],
        urgency_words: Mapping[str, Iterable[str]] | None = None,
        *,
        disabled: Iterable[str] = (),
        source: _Source | None = None,
    ) -> None:
        self.categories: dict[str, RiskCategory] = {c.id: c for c in categories}
        words = urgency_words or {}
        unknown = set(words) - {"high", "medium"}
        if unknown:
            raise ValueError(f"urgency levels are high and medium, not {sorted(unknown)}")
        self.urgency_words: dict[Level, tuple[str, ...]] = {
            "high": tuple(words.get("high", ())),
            "medium": tuple(words.get("medium", ())),
        }
        self.disabled: tuple[str, ...] = tuple(disabled)
        self._source = source
        self._compiled: _Compiled | None = None

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def builtin(cls) -> RiskLexicon:
        """The lexicon shipped with servq (one shared, immutable instance)."""
        return builtin_lexicon()

    @classmethod
    def from_text(cls, text: str, file: str) -> RiskLexicon:
        """A lexicon from YAML text; every problem is raised at once with file, line, field."""
        spec = load_model(RiskFile, text, file, checks=_file_checks)
        _, lines = parse_yaml(text, file)
        return cls._from_spec(spec, _Source(file, lines))

    @classmethod
    def from_yaml(cls, path: str | Path) -> RiskLexicon:
        """A lexicon from a YAML file (see docs/text-lexicons.md for the format).

        Categories may leave out their names when the file is meant to extend the built-in
        lexicon through :meth:`merged`; used alone, such a category is named by its id.
        """
        return cls.from_text(read_definition(Path(path)), str(path))

    @classmethod
    def _from_spec(cls, spec: RiskFile, source: _Source) -> RiskLexicon:
        cats = [
            RiskCategory(
                id=cid,
                name_zh=c.name_zh,
                name_en=c.name_en,
                urgency=c.urgency,
                words=tuple(w for _, _, w in c.words.all()),
            )
            for cid, c in spec.categories.items()
        ]
        urgency_words = {
            "high": [w for _, _, w in spec.urgency.high.all()],
            "medium": [w for _, _, w in spec.urgency.medium.all()],
        }
        return cls(cats, urgency_words, disabled=spec.disable, source=source)

    @classmethod
    def merged(cls, builtin: RiskLexicon, user: RiskLexicon) -> RiskLexicon:
        """``builtin`` extended by ``user``: the user's words are added (a word the built-in
        lexicon files under another category moves to the user's category), the user's
        categories added or renamed, and the user's ``disable`` words taken out. A new category
        needs both names; a disabled word must be one of ``builtin``'s."""
        problems: list[Problem] = []
        src = user._source

        def problem(loc: Loc, message: str) -> None:
            if src is not None:
                problems.append(src.problem(loc, message))
            else:
                problems.append(Problem("<user lexicon>", None, loc_text(loc), message))

        known = {word_key(w) for c in builtin.categories.values() for w in c.words}
        known |= {word_key(w) for ws in builtin.urgency_words.values() for w in ws}
        for i, w in enumerate(user.disabled):
            if word_key(w) not in known:
                problem(("disable", i), f"'{w}' is not a word of the built-in lexicon")
        drop = {word_key(w) for w in user.disabled}
        user_keys = {word_key(w) for c in user.categories.values() for w in c.words}
        user_keys |= {word_key(w) for ws in user.urgency_words.values() for w in ws}
        drop |= user_keys

        cats: dict[str, RiskCategory] = {}
        for c in builtin.categories.values():
            cats[c.id] = RiskCategory(
                c.id,
                c.name_zh,
                c.name_en,
                c.urgency,
                tuple(w for w in c.words if word_key(w) not in drop),
            )
        for c in user.categories.values():
            base = cats.get(c.id)
            if base is None:
                missing = [n for n in ("name_zh", "name_en") if getattr(c, n) is None]
                if missing:
                    problem(
                        ("categories", c.id),
                        f"a new category needs {' and '.join(missing)} (built-in categories: "
                        f"{', '.join(builtin.categories)})",
                    )
                cats[c.id] = RiskCategory(
                    c.id, c.name_zh, c.name_en, c.urgency or "medium", c.words
                )
            else:
                cats[c.id] = RiskCategory(
                    c.id,
                    c.name_zh or base.name_zh,
                    c.name_en or base.name_en,
                    c.urgency or base.urgency,
                    base.words + c.words,
                )
        if problems:
            raise DefinitionError(problems)
        urgency_words = {
            level: [w for w in builtin.urgency_words[level] if word_key(w) not in drop]
            + list(user.urgency_words[level])
            for level in ("high", "medium")
        }
        return cls(cats.values(), urgency_words)

    # -- matching --------------------------------------------------------------------------------
    def _compile(self) -> _Compiled:
        if self._compiled is None:
            category_of: dict[str, str] = {}
            for c in self.categories.values():
                for w in c.words:
                    category_of.setdefault(w, c.id)
            level_of: dict[str, Level] = {}
            for level in ("medium", "high"):
                for w in self.urgency_words[level]:
                    level_of[w] = level
            self._compiled = _Compiled(
                WordMatcher(category_of), category_of, WordMatcher(level_of), level_of
            )
        return self._compiled

    def words(self) -> dict[str, str]:
        """Every risk word with its category id."""
        return dict(self._compile().category_of)

    def find(self, text: str | None) -> list[RiskHit]:
        """Every risk word in ``text``, by position (overlapping words each reported)."""
        if not text:
            return []
        comp = self._compile()
        spans = comp.matcher.occurrences(text)
        if not spans:
            return []
        flags = _negations(text, spans)
        cat = comp.category_of
        return [
            RiskHit(w, cat[w], s, e, text[s:e], neg)
            for (s, e, w), neg in zip(spans, flags, strict=True)
        ]

    def find_many(self, texts: Iterable[str | None]) -> list[list[RiskHit]]:
        """:meth:`find` for each text (``None`` or empty → no hits)."""
        return [self.find(t) for t in texts]

    def find_urgency(self, text: str | None) -> list[UrgencyHit]:
        """Every urgency word in ``text``, by position."""
        if not text:
            return []
        comp = self._compile()
        spans = comp.urgency_matcher.occurrences(text)
        if not spans:
            return []
        flags = _negations(text, spans)
        return [
            UrgencyHit(w, comp.level_of[w], s, e, neg)
            for (s, e, w), neg in zip(spans, flags, strict=True)
        ]

    def urgency(self, text: str | None, hits: Sequence[RiskHit] | None = None) -> Level:
        """``high``, ``medium`` or ``low`` by the rule in the module's docstring; ``hits`` are
        the text's risk hits when already found (else they are found here)."""
        if hits is None:
            hits = self.find(text)
        risk = set()
        for h in hits:
            if not h.negated:
                c = self.categories.get(h.category)
                risk.add(c.urgency if c is not None and c.urgency else "medium")
        words = {u.level for u in self.find_urgency(text) if not u.negated}
        if "high" in risk or "high" in words:
            return "high"
        if "medium" in risk and "medium" in words:
            return "high"
        if "medium" in risk or "medium" in words:
            return "medium"
        return "low"


def _builtin_spec(name: str) -> tuple[RiskFile, _Source]:
    file = f"{ORIGIN}/{name}"
    text = resources.files("servq.text").joinpath("lexicons", name).read_text(encoding="utf-8")
    spec = load_model(RiskFile, text, file, checks=_file_checks)
    _, lines = parse_yaml(text, file)
    return spec, _Source(file, lines)


@cache
def builtin_lexicon() -> RiskLexicon:
    """The built-in lexicon: ``lexicons/risk.yaml`` with ``lexicons/urgency.yaml``."""
    risk, src = _builtin_spec("risk.yaml")
    urg, _ = _builtin_spec("urgency.yaml")
    base = RiskLexicon._from_spec(risk, src)
    missing = [
        c.id for c in base.categories.values() if not (c.name_zh and c.name_en and c.urgency)
    ]
    if missing:
        raise ServqError(f"built-in risk categories without names or urgency: {missing}")
    return RiskLexicon(
        base.categories.values(),
        {
            "high": [w for _, _, w in urg.urgency.high.all()],
            "medium": [w for _, _, w in urg.urgency.medium.all()],
        },
    )


def find_risks(text: str | None, lexicon: RiskLexicon | None = None) -> list[RiskHit]:
    """Risk words in ``text`` (built-in lexicon unless one is given)."""
    return (lexicon or builtin_lexicon()).find(text)


def urgency(
    text: str | None,
    hits: Sequence[RiskHit] | None = None,
    lexicon: RiskLexicon | None = None,
) -> Level:
    """The urgency of ``text``: ``high``, ``medium`` or ``low`` (rule in the module docstring)."""
    return (lexicon or builtin_lexicon()).urgency(text, hits)
