"""Sentiment of Chinese and English service texts, and text classifiers trained on your own labels.

The shipped models (``servq/text/models/*.npz``) are linear models over hashed n-grams (see
:mod:`servq.text.features`). Prediction uses numpy only; training uses scikit-learn, imported
inside :func:`train_classifier` only. ``docs/text-models.md`` tells how each model was trained
and how well it does.

Sentiment score: the model's probability that the text is positive, in [0, 1]. The label is
``positive`` above the model's neutral band, ``negative`` below it and ``neutral`` inside it (the
band was chosen on a validation split) or for an empty text (score 0.5).
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from servq.text.features import FeatureSpec, featurize, linear_scores

POSITIVE = "positive"
NEGATIVE = "negative"
NEUTRAL = "neutral"
#: the label of the opinion models for a text that expresses satisfaction or dissatisfaction
OPINION = "opinion"

#: shipped model name -> file in ``servq/text/models/``
MODELS: dict[str, str] = {
    "sentiment-zh": "sentiment_zh.npz",
    "sentiment-en": "sentiment_en.npz",
    "opinion-zh": "opinion_zh.npz",
    "opinion-en": "opinion_en.npz",
    "intent-banking77": "intent_banking77_en.npz",
}
SENTIMENT_MODELS: dict[str, str] = {"zh": "sentiment-zh", "en": "sentiment-en"}
#: per language, the model telling an opinion from a neutral text (question, request, fact)
OPINION_MODELS: dict[str, str] = {"zh": "opinion-zh", "en": "opinion-en"}

_FORMAT = "servq-text-classifier/1"
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_LATIN_WORD_RE = re.compile(r"[A-Za-z\u00c0-\u024f]+")

FloatArray = npt.NDArray[np.float64]


# ---------------------------------------------------------------------------------------------
# language


def detect_language(text: str | None) -> str:
    """``'zh'`` when Chinese characters dominate, ``'en'`` otherwise, ``''`` for an empty text.

    Chinese characters dominate when there are at least as many of them as Latin words (a Chinese
    character carries about as much as a word): ``"iPhone 的屏幕很好"`` is Chinese.
    """
    if text is None or not text.strip():
        return ""
    han = len(_HAN_RE.findall(text))
    if han == 0:
        return "en"
    return "zh" if han >= len(_LATIN_WORD_RE.findall(text)) else "en"


# ---------------------------------------------------------------------------------------------
# the classifier


class TextClassifier:
    """A linear classifier over hashed n-grams: any number of labels, numpy-only prediction.

    With two labels it keeps one weight column, the log-odds of ``labels[1]``; with more, one
    column per label (softmax).
    """

    def __init__(
        self,
        spec: FeatureSpec,
        labels: Sequence[str],
        weights: npt.NDArray[Any],
        bias: npt.NDArray[Any],
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        labels = tuple(str(x) for x in labels)
        if len(labels) < 2:
            raise ValueError("a classifier needs at least two labels")
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels are not unique: {labels}")
        n_cols = 1 if len(labels) == 2 else len(labels)
        weights = np.asarray(weights, dtype=np.float32)
        if weights.ndim == 1:
            weights = weights.reshape(-1, 1)
        if weights.shape != (spec.n_buckets, n_cols):
            raise ValueError(
                f"weights have shape {weights.shape}, expected {(spec.n_buckets, n_cols)}"
            )
        self.spec = spec
        self.labels: tuple[str, ...] = labels
        self.weights: npt.NDArray[np.float32] = weights
        self.bias: FloatArray = np.asarray(bias, dtype=np.float64).reshape(n_cols)
        self.meta: dict[str, Any] = dict(meta or {})

    def __repr__(self) -> str:
        return f"TextClassifier(labels={list(self.labels)!r}, n_buckets={self.spec.n_buckets})"

    def decision_function(self, texts: Sequence[str | None]) -> FloatArray:
        """Raw scores, shape (n, 1) for two labels (log-odds of ``labels[1]``), else (n, k)."""
        clean = [t or "" for t in texts]
        blocks = featurize(clean, self.spec)
        return linear_scores(blocks, self.weights, self.bias, len(clean))

    def predict_proba(self, texts: Sequence[str | None]) -> FloatArray:
        """Probabilities, shape (n, k), columns in the order of ``labels``."""
        scores = self.decision_function(texts)
        if scores.shape[1] == 1:
            p = _sigmoid(scores[:, 0])
            return np.stack([1.0 - p, p], axis=1)
        scores = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        out: FloatArray = e / e.sum(axis=1, keepdims=True)
        return out

    def predict(self, texts: Sequence[str | None]) -> list[str]:
        """The most probable label of each text."""
        scores = self.decision_function(texts)
        one = scores.shape[1] == 1
        idx = (scores[:, 0] > 0).astype(np.int64) if one else scores.argmax(axis=1)
        return [self.labels[i] for i in idx]

    # -- storage -----------------------------------------------------------------------------

    def save(self, path: str | Path, dtype: str = "float16") -> Path:
        """Write the model to ``path`` (a compressed ``.npz``). ``dtype``: ``float32``,
        ``float16`` (default; about 3 significant digits, plenty for a linear model) or ``int8``
        (one scale per column: a quarter of the size)."""
        path = Path(path)
        arrays: dict[str, Any] = {
            "format": np.array(_FORMAT),
            "spec": np.array(self.spec.to_json()),
            "labels": np.array(json.dumps(list(self.labels), ensure_ascii=False)),
            "meta": np.array(json.dumps(self.meta, ensure_ascii=False, sort_keys=True)),
            "bias": self.bias.astype(np.float64),
        }
        used = np.flatnonzero(np.any(self.weights != 0, axis=1))
        sparse = used.shape[0] < self.weights.shape[0] // 2
        w = self.weights[used] if sparse else self.weights
        if sparse:
            arrays["rows"] = used.astype(np.int32)
        if dtype == "float32":
            arrays["weights"] = w.astype(np.float32)
        elif dtype == "float16":
            arrays["weights"] = w.astype(np.float16)
        elif dtype == "int8":
            scale = np.abs(w).max(axis=0) / 127.0 if w.size else np.ones(w.shape[1])
            scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
            arrays["weights"] = np.rint(w / scale).astype(np.int8)
            arrays["scale"] = scale
        else:
            raise ValueError(f"dtype must be float32, float16 or int8, not {dtype!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path | io.IOBase | Any) -> TextClassifier:
        """Read a model written by :meth:`save` (a path or an open binary file)."""
        if isinstance(path, str | Path):
            with Path(path).open("rb") as fh:
                return cls._read(fh, str(path))
        return cls._read(path, "<stream>")

    @classmethod
    def _read(cls, fh: Any, where: str) -> TextClassifier:
        with np.load(fh, allow_pickle=False) as data:
            if "format" not in data or str(data["format"]) != _FORMAT:
                raise ValueError(f"{where}: not a servq text classifier")
            spec = FeatureSpec.from_json(str(data["spec"]))
            labels = json.loads(str(data["labels"]))
            meta = json.loads(str(data["meta"]))
            bias = np.asarray(data["bias"], dtype=np.float64)
            w = np.asarray(data["weights"])
            if w.dtype == np.int8:
                w = w.astype(np.float32) * np.asarray(data["scale"], dtype=np.float32)
            else:
                w = w.astype(np.float32)
            if "rows" in data:
                full = np.zeros((spec.n_buckets, w.shape[1]), dtype=np.float32)
                full[np.asarray(data["rows"], dtype=np.int64)] = w
                w = full
        return cls(spec, labels, w, bias, meta)


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


@cache
def load_model(name: str) -> TextClassifier:
    """A shipped model by name (see :data:`MODELS`), read once and cached."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; shipped models: {', '.join(sorted(MODELS))}")
    ref = resources.files("servq.text").joinpath("models", MODELS[name])
    with ref.open("rb") as fh:
        return TextClassifier._read(fh, f"servq/text/models/{MODELS[name]}")


# ---------------------------------------------------------------------------------------------
# sentiment


@dataclass(frozen=True)
class Sentiment:
    """The sentiment of one text: ``score`` leans to 1 for positive and to 0 for negative (0.5:
    no lean); ``opinion`` is the probability that the text expresses an opinion at all."""

    label: str
    score: float
    lang: str
    opinion: float = 0.0


@dataclass(frozen=True)
class SentimentResult:
    """Sentiment of a batch: ``labels[i]``, ``scores[i]`` (0.5 for an empty text),
    ``langs[i]`` (``'zh'``, ``'en'`` or ``''`` for an empty text) and ``opinions[i]`` (the
    probability that the text expresses an opinion; 0 for an empty text)."""

    labels: list[str]
    scores: FloatArray
    langs: list[str]
    opinions: FloatArray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Sentiment:
        opinion = 0.0 if self.opinions is None else float(self.opinions[i])
        return Sentiment(self.labels[i], float(self.scores[i]), self.langs[i], opinion)

    def __iter__(self) -> Iterator[Sentiment]:
        for i in range(len(self.labels)):
            yield self[i]


def neutral_band(model: TextClassifier) -> tuple[float, float]:
    """The (low, high) probabilities between which a sentiment model says ``neutral``."""
    low, high = model.meta.get("neutral_band", (0.5, 0.5))
    return float(low), float(high)


def opinion_gate(model: TextClassifier) -> float:
    """The probability of an opinion below which an opinion model calls a text neutral."""
    return float(model.meta.get("gate", 0.5))


def _probability_of(model: TextClassifier, scores: FloatArray, label: str) -> FloatArray:
    """From a two-label model's raw scores (log-odds of ``labels[1]``), the probability of
    ``label``."""
    p = _sigmoid(scores[:, 0])
    return p if model.labels[1] == label else 1.0 - p


def sentiment_and_opinion(
    texts: Sequence[str], lang: str
) -> tuple[FloatArray, FloatArray, TextClassifier]:
    """For texts of one language: the probability that each is positive, the probability that
    it expresses an opinion, and the sentiment model. The two models share one feature pass
    when they read texts the same way."""
    model = load_model(SENTIMENT_MODELS[lang])
    gate = load_model(OPINION_MODELS[lang])
    blocks = featurize(list(texts), model.spec)
    n = len(texts)
    p = _probability_of(model, linear_scores(blocks, model.weights, model.bias, n), POSITIVE)
    if gate.spec != model.spec:
        blocks = featurize(list(texts), gate.spec)
    q = _probability_of(gate, linear_scores(blocks, gate.weights, gate.bias, n), OPINION)
    return p, q, model


def predict_sentiment(
    texts: Sequence[str | None], lang: str | Sequence[str] | None = None
) -> SentimentResult:
    """Sentiment of each text with the shipped Chinese or English models.

    Two models read each text: the sentiment model gives ``p``, the probability that it is
    positive, and the opinion model ``q``, the probability that it expresses an opinion at all
    (a question, a request or a plain fact does not). The label is ``neutral`` when ``q`` is
    under the opinion model's gate, else ``positive``/``negative`` by ``p`` and the sentiment
    model's neutral band. The score is ``0.5 + (p - 0.5) * q``: the sentiment's lean, weighed by
    how surely the text is an opinion, so a question scores near 0.5.

    ``lang``: ``None`` detects the language of each text, ``'zh'`` or ``'en'`` applies to all,
    or a sequence gives one language per text (``None`` or ``""`` in it: detected). Empty texts
    are neutral with score 0.5.
    """
    n = len(texts)
    clean = [t if isinstance(t, str) else "" for t in texts]
    if lang is None:
        langs = [detect_language(t) for t in clean]
    elif isinstance(lang, str):
        langs = [lang if t.strip() else "" for t in clean]
    else:
        if len(lang) != n:
            raise ValueError(f"lang has {len(lang)} entries for {n} texts")
        langs = [
            (x or detect_language(t)) if t.strip() else "" for x, t in zip(lang, clean, strict=True)
        ]
    for x in set(langs) - {"", *SENTIMENT_MODELS}:
        raise ValueError(f"no sentiment model for language {x!r}; use 'zh' or 'en'")
    scores = np.full(n, 0.5, dtype=np.float64)
    opinions = np.zeros(n, dtype=np.float64)
    labels = [NEUTRAL] * n
    for code in SENTIMENT_MODELS:
        idx = [i for i, x in enumerate(langs) if x == code]
        if not idx:
            continue
        p, q, model = sentiment_and_opinion([clean[i] for i in idx], code)
        low, high = neutral_band(model)
        gate = opinion_gate(load_model(OPINION_MODELS[code]))
        rows = np.asarray(idx)
        scores[rows] = 0.5 + (p - 0.5) * q
        opinions[rows] = q
        for i, pi, qi in zip(idx, p.tolist(), q.tolist(), strict=True):
            if qi < gate:
                labels[i] = NEUTRAL
            else:
                labels[i] = POSITIVE if pi >= high else NEGATIVE if pi <= low else NEUTRAL
    return SentimentResult(labels=labels, scores=scores, langs=langs, opinions=opinions)


# ---------------------------------------------------------------------------------------------
# training


def default_spec(lang: str, n_labels: int = 2) -> FeatureSpec:
    """The feature spec :func:`train_classifier` uses for a language when none is given:
    Chinese character 1-3-grams; English word 1-2-grams with negation marking plus character
    2-4-grams. Fewer buckets for many labels, to keep the model small."""
    n_buckets = 1 << 20 if n_labels <= 2 else 1 << 16
    if lang == "zh":
        return FeatureSpec(n_buckets=n_buckets, char_ngrams=(1, 3))
    if lang == "en":
        return FeatureSpec(
            n_buckets=n_buckets, char_ngrams=(2, 4), word_ngrams=(1, 2), negation=True
        )
    raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}")


_TRAIN_OPTIONS = frozenset(
    {
        "C",
        "spec",
        "n_buckets",
        "char_ngrams",
        "word_ngrams",
        "negation",
        "binary",
        "lexicon",
        "class_weight",
        "sample_weight",
        "max_iter",
        "meta",
    }
)


def train_classifier(
    texts: Sequence[str | None],
    labels: Sequence[Any],
    lang: str | None = None,
    **options: Any,
) -> TextClassifier:
    """Train a :class:`TextClassifier` (logistic regression over hashed n-grams).

    ``lang``: ``'zh'`` or ``'en'`` picks the default features; ``None`` takes the language of
    most texts. Options: ``C`` (inverse regularisation, default 10), ``spec`` (a whole
    :class:`~servq.text.features.FeatureSpec`), or any of its fields (``n_buckets``,
    ``char_ngrams``, ``word_ngrams``, ``negation``, ``binary``, ``lexicon``) to change the
    default one, ``class_weight`` (``'balanced'`` or a dict), ``sample_weight``, ``max_iter``
    and ``meta`` (a dict stored with the model).
    """
    unknown = set(options) - _TRAIN_OPTIONS
    if unknown:
        raise TypeError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    clean = [t if isinstance(t, str) else "" for t in texts]
    y = [str(x) for x in labels]
    if len(clean) != len(y):
        raise ValueError(f"{len(clean)} texts but {len(y)} labels")
    classes = sorted(set(y))
    if len(classes) < 2:
        raise ValueError(f"training needs at least two different labels, got {classes}")
    if lang is None:
        lang = _majority_language(clean)
    spec = options.get("spec")
    if spec is None:
        spec = default_spec(lang, len(classes))
        changes = {
            k: options[k]
            for k in ("n_buckets", "char_ngrams", "word_ngrams", "negation", "binary", "lexicon")
            if k in options
        }
        if changes:
            fields = {
                "n_buckets": spec.n_buckets,
                "char_ngrams": spec.char_ngrams,
                "word_ngrams": spec.word_ngrams,
                "negation": spec.negation,
                "binary": spec.binary,
                "lexicon": dict(spec.lexicon),
                **changes,
            }
            spec = FeatureSpec(**fields)
    if not isinstance(spec, FeatureSpec):
        raise TypeError("spec must be a FeatureSpec")

    from sklearn.linear_model import LogisticRegression

    x = feature_matrix(clean, spec)
    model = LogisticRegression(
        C=float(options.get("C", 10.0)),
        max_iter=int(options.get("max_iter", 1000)),
        class_weight=options.get("class_weight"),
        tol=1e-4,
    )
    model.fit(x, np.asarray(y), sample_weight=options.get("sample_weight"))
    got = [str(c) for c in model.classes_]
    coef = np.asarray(model.coef_, dtype=np.float32).T  # (n_buckets, 1 or k)
    bias = np.asarray(model.intercept_, dtype=np.float64)
    meta = {"lang": lang, "n_train": len(clean), "C": float(options.get("C", 10.0))}
    meta.update(options.get("meta") or {})
    return TextClassifier(spec, got, coef, bias, meta)


def feature_matrix(texts: Sequence[str], spec: FeatureSpec) -> Any:
    """The texts' features as a ``scipy.sparse.csr_matrix`` (for training and inspection)."""
    from scipy import sparse

    blocks = featurize(list(texts), spec)
    n = len(texts)
    if not blocks:
        return sparse.csr_matrix((n, spec.n_buckets), dtype=np.float32)
    rows = np.concatenate([b.rows for b in blocks])
    cols = np.concatenate([b.cols for b in blocks])
    vals = np.concatenate([b.vals for b in blocks])
    m = sparse.csr_matrix((vals, (rows, cols)), shape=(n, spec.n_buckets), dtype=np.float32)
    m.sum_duplicates()
    return m


def _majority_language(texts: Sequence[str]) -> str:
    zh = en = 0
    for t in texts:
        code = detect_language(t)
        zh += code == "zh"
        en += code == "en"
    return "zh" if zh > en else "en"


# ---------------------------------------------------------------------------------------------
# evaluation


@dataclass(frozen=True)
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class EvalReport:
    """Accuracy, macro-F1, per-label precision/recall/F1 and the confusion matrix
    (``confusion[i][j]``: texts of true label ``labels[i]`` predicted as ``labels[j]``)."""

    labels: list[str]
    accuracy: float
    macro_f1: float
    per_class: dict[str, ClassScores]
    confusion: list[list[int]]
    n: int
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "labels": list(self.labels),
            "per_class": {
                k: {"precision": v.precision, "recall": v.recall, "f1": v.f1, "support": v.support}
                for k, v in self.per_class.items()
            },
            "confusion": [list(r) for r in self.confusion],
            "note": self.note,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }

    def as_text(self, max_labels: int = 20) -> str:
        """A readable report: totals, a per-label table and (up to ``max_labels`` labels) the
        confusion matrix."""
        lines = [f"texts: {self.n}   accuracy: {self.accuracy:.4f}   macro-F1: {self.macro_f1:.4f}"]
        if self.note:
            lines.append(self.note)
        width = max([5, *(len(x) for x in self.labels)])
        lines.append("")
        lines.append(f"{'label':<{width}}  precision  recall     f1  support")
        for label in self.labels:
            s = self.per_class[label]
            lines.append(
                f"{label:<{width}}  {s.precision:9.4f}  {s.recall:6.4f}  {s.f1:5.4f}"
                f"  {s.support:7d}"
            )
        if len(self.labels) <= max_labels:
            lines.append("")
            lines.append("confusion matrix (rows: true label, columns: predicted)")
            cell = max([4, *(len(str(v)) + 1 for r in self.confusion for v in r)])
            head = " " * width + "".join(f"{x[: cell - 1]:>{cell}}" for x in self.labels)
            lines.append(head)
            for label, row in zip(self.labels, self.confusion, strict=True):
                lines.append(f"{label:<{width}}" + "".join(f"{v:>{cell}}" for v in row))
        else:
            lines.append(f"(confusion matrix of {len(self.labels)} labels left out)")
        return "\n".join(lines)


def evaluate_predictions(
    truth: Sequence[Any], predicted: Sequence[Any], note: str = ""
) -> EvalReport:
    """An :class:`EvalReport` of predicted labels against true ones. The labels are those that
    occur in either, sorted; macro-F1 averages over them."""
    t = [str(x) for x in truth]
    p = [str(x) for x in predicted]
    if len(t) != len(p):
        raise ValueError(f"{len(t)} true labels but {len(p)} predictions")
    if not t:
        raise ValueError("nothing to evaluate: no texts")
    labels = sorted(set(t) | set(p))
    index = {x: i for i, x in enumerate(labels)}
    k = len(labels)
    conf = np.zeros((k, k), dtype=np.int64)
    np.add.at(conf, ([index[x] for x in t], [index[x] for x in p]), 1)
    per_class: dict[str, ClassScores] = {}
    f1s: list[float] = []
    for i, label in enumerate(labels):
        tp = int(conf[i, i])
        predicted_i = int(conf[:, i].sum())
        actual_i = int(conf[i, :].sum())
        precision = tp / predicted_i if predicted_i else 0.0
        recall = tp / actual_i if actual_i else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = ClassScores(precision, recall, f1, actual_i)
        f1s.append(f1)
    return EvalReport(
        labels=labels,
        accuracy=float(np.trace(conf)) / len(t),
        macro_f1=math.fsum(f1s) / k,
        per_class=per_class,
        confusion=conf.tolist(),
        n=len(t),
        note=note,
    )


def evaluate(
    model: TextClassifier, texts: Sequence[str | None], labels: Sequence[Any]
) -> EvalReport:
    """How well ``model`` predicts ``labels`` for ``texts``."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    return evaluate_predictions(labels, model.predict(texts))


# ---------------------------------------------------------------------------------------------
# training from a file


def read_labelled_file(
    path: str | Path, text_column: str = "text", label_column: str = "label"
) -> tuple[list[str], list[str]]:
    """Texts and labels from a CSV, TSV or JSON-lines file. Rows with an empty text or label
    are left out."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    suffix = p.suffix.lower()
    try:
        if suffix in {".csv"}:
            df = pd.read_csv(p, dtype=str, keep_default_na=False)
        elif suffix in {".tsv", ".tab"}:
            df = pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False, quoting=3)
        elif suffix in {".jsonl", ".ndjson", ".json"}:
            df = pd.read_json(p, lines=suffix != ".json", dtype=False)
        else:
            raise ValueError(
                f"{p}: unknown file type {suffix or '(none)'}; use .csv, .tsv or .jsonl"
            )
    except ValueError as exc:
        if str(exc).startswith(str(p)):
            raise
        raise ValueError(f"{p}: cannot be read as {suffix[1:].upper()}: {exc}") from exc
    columns = [str(c) for c in df.columns]
    missing = [c for c in (text_column, label_column) if c not in columns]
    if missing:
        which = " and ".join(repr(c) for c in missing)
        raise ValueError(
            f"{p}: no column {which}; the file has the columns: "
            f"{', '.join(repr(c) for c in columns) or '(none)'}"
        )
    texts = ["" if v is None else str(v) for v in df[text_column].tolist()]
    labels = ["" if v is None else str(v) for v in df[label_column].tolist()]
    keep = [i for i, (t, y) in enumerate(zip(texts, labels, strict=True)) if t.strip() and y]
    return [texts[i] for i in keep], [labels[i].strip() for i in keep]


def train_from_file(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    lang: str | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    **options: Any,
) -> tuple[TextClassifier, EvalReport]:
    """Train a classifier on a labelled file (CSV, TSV or JSON lines) and evaluate it.

    A stratified ``test_size`` share of the rows is held out (fixed ``seed``); the model is
    trained on the rest and the report is on the held-out rows. With ``test_size=0`` the model
    is trained on every row and the report is on the training rows (say so when showing it).
    Other options go to :func:`train_classifier`.
    """
    texts, labels = read_labelled_file(path, text_column, label_column)
    counts: dict[str, int] = {}
    for y in labels:
        counts[y] = counts.get(y, 0) + 1
    if len(counts) < 2:
        raise ValueError(
            f"{path}: column {label_column!r} needs at least two different labels, "
            f"found {sorted(counts) or 'none'}"
        )
    if not 0.0 <= test_size < 1.0:
        raise ValueError(f"test_size must be in [0, 1), not {test_size}")
    train_idx, test_idx = stratified_split(labels, test_size, seed)
    model = train_classifier(
        [texts[i] for i in train_idx], [labels[i] for i in train_idx], lang=lang, **options
    )
    if test_idx:
        report = evaluate(model, [texts[i] for i in test_idx], [labels[i] for i in test_idx])
        note = f"held-out {len(test_idx)} of {len(texts)} rows (seed {seed})"
    else:
        report = evaluate(model, texts, labels)
        note = f"on the {len(texts)} training rows (no held-out rows)"
    return model, EvalReport(
        labels=report.labels,
        accuracy=report.accuracy,
        macro_f1=report.macro_f1,
        per_class=report.per_class,
        confusion=report.confusion,
        n=report.n,
        note=note,
    )


def stratified_split(
    labels: Sequence[str], test_size: float, seed: int
) -> tuple[list[int], list[int]]:
    """Row indices (train, test): about ``test_size`` of each label's rows go to test, at
    least one row of each label stays in training."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, y in enumerate(labels):
        by_label.setdefault(y, []).append(i)
    train: list[int] = []
    test: list[int] = []
    for y in sorted(by_label):
        idx = np.asarray(by_label[y])
        rng.shuffle(idx)
        k = min(round(len(idx) * test_size), len(idx) - 1)
        test.extend(idx[:k].tolist())
        train.extend(idx[k:].tolist())
    return sorted(train), sorted(test)
