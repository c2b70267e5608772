"""Hashed n-gram features for Chinese and English text, computed with numpy only.

A text becomes a sparse vector of ``n_buckets`` numbers. Three families of features can be
switched on, each hashed into the same buckets with its own salt:

- ``char``: character n-grams of the normalised text (Chinese: 1 to 3 characters);
- ``word``: word n-grams (English: 1 and 2 words), with negation marking: after a negation word
  (``not``, ``never``, ``don't``, ``no`` ...) every word up to the next punctuation mark or
  ``but`` is marked as negated and hashed differently;
- ``lexicon``: for every word found in an opinion lexicon, a pseudo-word ``+`` or ``-`` (flipped
  when negated), so that words the training data never saw still count.

Normalisation: NFKC (full-width letters and digits to half-width), lower case, every digit to
``0``, runs of white space to one space. Within one family a text's features are either counts
divided by the square root of the family's number of n-grams in the text (``binary=False``), or
each distinct bucket once, divided by the square root of the number of distinct buckets
(``binary=True``, an L2-normalised set of n-grams).

Hashing is stable across processes and machines (Python's ``hash()`` is salted and is not used):
characters are combined with 64-bit FNV-1a over code points and finished with the splitmix64
mixer; words are hashed with CRC-32 first.
"""

from __future__ import annotations

import json
import re
import unicodedata
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
U64 = npt.NDArray[np.uint64]

_SEP = "\x00"
_SPACE_RE = re.compile(r"\s+")
_SEP_SPACE_RE = re.compile(r" ?\x00 ?")
# words (letters, digits, CJK runs, inner apostrophes), clause punctuation, and the separator
_TOKEN_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[!?]|[.,;:]|\x00")

NEGATIONS = frozenset(
    {
        "not",
        "no",
        "never",
        "nothing",
        "nobody",
        "none",
        "nowhere",
        "neither",
        "nor",
        "cannot",
        "cant",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "wasnt",
        "werent",
        "arent",
        "wont",
        "wouldnt",
        "couldnt",
        "shouldnt",
        "havent",
        "hasnt",
        "hadnt",
        "aint",
        "without",
        "hardly",
        "barely",
        "lack",
        "lacks",
        "lacked",
    }
)
# words that end a negation scope, like punctuation does
_SCOPE_BREAKERS = frozenset({"but", "however", "although", "though", "yet", "except"})
_CLAUSE_PUNCT = frozenset({".", ",", ";", ":", "!", "?"})
_EMITTED_PUNCT = frozenset({"!", "?"})

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_FNV_PRIME = np.uint64(0x100000001B3)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)

# salts, one per feature family and n-gram length
_SALT_CHAR = 0x1000
_SALT_WORD = 0x2000
_SALT_LEX = 0x3000


@dataclass(frozen=True)
class FeatureSpec:
    """How texts become hashed features. Stored with every model, so a model reads its own way."""

    n_buckets: int = 1 << 20
    char_ngrams: tuple[int, int] = (0, 0)
    word_ngrams: tuple[int, int] = (0, 0)
    negation: bool = False
    binary: bool = True
    lexicon: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_buckets < 2:
            raise ValueError("n_buckets must be at least 2")
        for name in ("char_ngrams", "word_ngrams"):
            lo, hi = getattr(self, name)
            if (lo, hi) != (0, 0) and not 1 <= lo <= hi <= 8:
                raise ValueError(f"{name} must be (0, 0) or 1 <= low <= high <= 8, not {(lo, hi)}")
        if self.char_ngrams == (0, 0) and self.word_ngrams == (0, 0) and not self.lexicon:
            raise ValueError("a feature spec needs character n-grams, word n-grams or a lexicon")

    @property
    def uses_words(self) -> bool:
        return self.word_ngrams != (0, 0) or bool(self.lexicon)

    def to_json(self) -> str:
        data = asdict(self)
        data["lexicon"] = sorted(self.lexicon.items())
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        data: dict[str, Any] = json.loads(text)
        return cls(
            n_buckets=int(data["n_buckets"]),
            char_ngrams=(int(data["char_ngrams"][0]), int(data["char_ngrams"][1])),
            word_ngrams=(int(data["word_ngrams"][0]), int(data["word_ngrams"][1])),
            negation=bool(data["negation"]),
            binary=bool(data["binary"]),
            lexicon={str(k): int(v) for k, v in data["lexicon"]},
        )


@dataclass(frozen=True)
class Block:
    """One family's features for a batch: ``rows`` (text index, ascending), ``cols`` (bucket)
    and ``vals``, one entry per (text, bucket) pair or per n-gram occurrence."""

    rows: IntArray
    cols: IntArray
    vals: FloatArray


def normalise(text: str) -> str:
    """NFKC, lower case, digits to ``0``, white space runs to one space, trimmed."""
    return _normalise_joined(text).strip()


def _normalise_joined(joined: str) -> str:
    if not joined.isascii():
        # full-width ASCII forms and the ideographic space, mapped as NFKC maps them but in
        # numpy: much faster on Chinese text, where nearly every comma is full-width
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).copy()
        wide = (codes >= 0xFF01) & (codes <= 0xFF5E)
        if wide.any():
            codes[wide] -= 0xFEE0
            codes[codes == 0x3000] = 0x20
            joined = codes.tobytes().decode("utf-32-le")
        if not unicodedata.is_normalized("NFKC", joined):
            # only the texts that need it (an ellipsis … is enough), each on its own
            joined = _SEP.join(
                part
                if unicodedata.is_normalized("NFKC", part)
                else unicodedata.normalize("NFKC", part)
                for part in joined.split(_SEP)
            )
    joined = _SPACE_RE.sub(" ", joined.lower())
    joined = _SEP_SPACE_RE.sub(_SEP, joined)
    return _DIGIT_RE.sub("0", joined)


_DIGIT_RE = re.compile("[1-9]")


def _join(texts: Sequence[str]) -> str:
    # the separator itself is removed from the texts so that it always marks a boundary
    return _normalise_joined(_SEP.join(t.replace(_SEP, " ") for t in texts)).strip(" ")


def _mix(x: U64, salt: int) -> U64:
    """splitmix64 finaliser of ``x ^ salt``: a well-spread 64-bit hash."""
    x = x ^ np.uint64(salt)
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def _finish(
    rows: IntArray, keys: U64, n_texts: int, spec: FeatureSpec, starts_sorted: bool = True
) -> Block:
    cols = (keys % np.uint64(spec.n_buckets)).astype(np.int64)
    if not starts_sorted:
        order = np.argsort(rows, kind="stable")
        rows, cols = rows[order], cols[order]
    if spec.binary:
        # np.sort and a neighbour comparison: much faster than np.unique on large arrays
        combined = np.sort(rows * np.int64(spec.n_buckets) + cols)
        if combined.shape[0] > 1:
            keep = np.empty(combined.shape[0], dtype=bool)
            keep[0] = True
            np.not_equal(combined[1:], combined[:-1], out=keep[1:])
            combined = combined[keep]
        rows = combined // np.int64(spec.n_buckets)
        cols = combined % np.int64(spec.n_buckets)
    counts = np.bincount(rows, minlength=n_texts).astype(np.float32)
    scale = np.zeros(n_texts, dtype=np.float32)
    nonzero = counts > 0
    scale[nonzero] = 1.0 / np.sqrt(counts[nonzero])
    return Block(rows=rows, cols=cols, vals=scale[rows])


def _char_block(joined: str, n_texts: int, spec: FeatureSpec) -> Block:
    lo, hi = spec.char_ngrams
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    length = codes.shape[0]
    is_sep = codes == 0
    doc = np.cumsum(is_sep, dtype=np.int64)
    # number of separators before each position (exclusive prefix sum)
    seps_before = np.concatenate([np.zeros(1, dtype=np.int64), doc])
    all_rows: list[IntArray] = []
    all_keys: list[U64] = []
    for n in range(lo, hi + 1):
        count = length - n + 1
        if count <= 0:
            continue
        key = np.full(count, _FNV_OFFSET, dtype=np.uint64)
        for j in range(n):
            key = (key ^ codes[j : j + count]) * _FNV_PRIME
        valid = seps_before[n : n + count] - seps_before[:count] == 0
        if n == 1:
            valid &= codes[:count] != 32
        all_rows.append(doc[:count][valid])
        all_keys.append(_mix(key[valid], _SALT_CHAR + n))
    if not all_rows:
        return _empty_block()
    rows = np.concatenate(all_rows)
    keys = np.concatenate(all_keys)
    return _finish(rows, keys, n_texts, spec, starts_sorted=len(all_rows) == 1)


def _empty_block() -> Block:
    return Block(
        rows=np.zeros(0, dtype=np.int64),
        cols=np.zeros(0, dtype=np.int64),
        vals=np.zeros(0, dtype=np.float32),
    )


class _WordHasher:
    """CRC-32 of a word, plain and negated, cached."""

    def __init__(self) -> None:
        self.cache: dict[str, tuple[int, int]] = {}

    def __call__(self, word: str) -> tuple[int, int]:
        got = self.cache.get(word)
        if got is None:
            data = word.encode("utf-8")
            got = (zlib.crc32(data), zlib.crc32(data, 0x5EED) | (1 << 32))
            if len(self.cache) > 500_000:
                self.cache.clear()
            self.cache[word] = got
        return got


_HASHER = _WordHasher()


def tokenize(text: str) -> list[str]:
    """The words and clause punctuation of a normalised text, as the word features see them."""
    return [t for t in _TOKEN_RE.findall(normalise(text)) if t != _SEP]


def _word_blocks(joined: str, n_texts: int, spec: FeatureSpec) -> list[Block]:
    lo, hi = spec.word_ngrams
    lexicon: Mapping[str, int] = spec.lexicon
    negation = spec.negation
    hasher = _HASHER
    hashes: list[int] = []
    tok_doc: list[int] = []
    # bigram ok before this token: 0 when it follows a clause break or starts a text
    joinable: list[int] = []
    lex_rows: list[int] = []
    lex_keys: list[int] = []
    doc = 0
    negated = False
    after_break = True
    for tok in _TOKEN_RE.findall(joined):
        if tok == _SEP:
            doc += 1
            negated = False
            after_break = True
            continue
        if tok in _CLAUSE_PUNCT:
            negated = False
            if tok in _EMITTED_PUNCT:
                hashes.append(hasher(tok)[0])
                tok_doc.append(doc)
                joinable.append(0 if after_break else 1)
            after_break = True
            continue
        if tok in _SCOPE_BREAKERS:
            negated = False
        plain, neg = hasher(tok)
        hashes.append(neg if negated else plain)
        tok_doc.append(doc)
        joinable.append(0 if after_break else 1)
        after_break = False
        if lexicon:
            polarity = lexicon.get(tok)
            if polarity:
                lex_rows.append(doc)
                lex_keys.append((polarity > 0) != negated)
        if negation and (tok in NEGATIONS or tok.endswith("n't")):
            negated = True
    blocks: list[Block] = []
    if (lo, hi) != (0, 0) and hashes:
        h = np.asarray(hashes, dtype=np.uint64)
        rows = np.asarray(tok_doc, dtype=np.int64)
        ok = np.asarray(joinable, dtype=bool)
        all_rows: list[IntArray] = []
        all_keys: list[U64] = []
        for n in range(lo, hi + 1):
            count = h.shape[0] - n + 1
            if count <= 0:
                continue
            key = h[:count].copy()
            valid = np.ones(count, dtype=bool)
            for j in range(1, n):
                key = _mix(key, _SALT_WORD) ^ h[j : j + count]
                valid &= ok[j : j + count]
            all_rows.append(rows[:count][valid])
            all_keys.append(_mix(key[valid], _SALT_WORD + n))
        if all_rows:
            blocks.append(
                _finish(
                    np.concatenate(all_rows),
                    np.concatenate(all_keys),
                    n_texts,
                    spec,
                    starts_sorted=len(all_rows) == 1,
                )
            )
    if lexicon and lex_rows:
        # the lexicon family counts, per text, opinion words of each polarity: not binary
        lrows = np.asarray(lex_rows, dtype=np.int64)
        lkeys = _mix(np.asarray(lex_keys, dtype=np.uint64), _SALT_LEX)
        cols = (lkeys % np.uint64(spec.n_buckets)).astype(np.int64)
        blocks.append(Block(rows=lrows, cols=cols, vals=np.ones(lrows.shape[0], dtype=np.float32)))
    return blocks


def featurize(texts: Sequence[str], spec: FeatureSpec) -> list[Block]:
    """The feature blocks of ``texts`` under ``spec``; row ``i`` of every block is ``texts[i]``."""
    n = len(texts)
    if n == 0:
        return []
    joined = _join(texts)
    blocks: list[Block] = []
    if spec.char_ngrams != (0, 0):
        blocks.append(_char_block(joined, n, spec))
    if spec.uses_words:
        blocks.extend(_word_blocks(joined, n, spec))
    return blocks


def linear_scores(
    blocks: Sequence[Block], weights: npt.NDArray[Any], bias: npt.NDArray[Any], n_texts: int
) -> npt.NDArray[np.float64]:
    """``bias + X @ weights`` for the texts of ``blocks``, shape (n_texts, n_columns)."""
    n_cols = weights.shape[1]
    out = np.tile(np.asarray(bias, dtype=np.float64).reshape(1, n_cols), (n_texts, 1))
    for block in blocks:
        if block.rows.shape[0] == 0:
            continue
        contrib = weights[block.cols].astype(np.float32) * block.vals[:, None]
        if n_cols == 1:
            out[:, 0] += np.bincount(block.rows, weights=contrib[:, 0], minlength=n_texts)
            continue
        starts = np.searchsorted(block.rows, np.arange(n_texts + 1))
        nonempty = starts[:-1] < starts[1:]
        if nonempty.any():
            out[nonempty] += np.add.reduceat(contrib, starts[:-1][nonempty], axis=0)
    return out
