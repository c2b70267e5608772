"""Reproduce every shipped text model from the public data in ../shared/data and evaluate it.

    .venv/bin/python scripts/train_text_models.py [--data DIR] [--out DIR] [--only zh,en,banking77]

Writes ``src/servq/text/models/{sentiment_zh,sentiment_en,opinion_zh,opinion_en,
intent_banking77_en}.npz`` and prints the figures that docs/text-models.md quotes. Every
choice (C, neutral band) is made on a validation split; test figures are printed once, at the
end of each section.

Chinese: ChnSentiCorp (hotel reviews) is split 70/15/15 into train/validation/test with seed 20250.
The training set is ChnSentiCorp-train plus the online-shopping reviews (10 categories), minus
every near-duplicate of a validation or test review (see ``near_duplicates``), plus the
hand-written service sentences in ``servq/text/models/train_service_zh.tsv``.

English: trained on the IMDB sentences, the hand-written service sentences
(``train_service_en.tsv``) and the hand-written opinion lexicon (``lexicon_en.tsv``), never on
the Yelp or Amazon sentences, which are the test set.

Opinion (zh, en): hand-written neutral texts (``train_neutral_{zh,en}.tsv``: questions, requests,
facts, agent notes) against the hand-written service sentences and public reviews; it decides
when ``predict_sentiment`` says ``neutral``.

Held-out service texts (``tests/text/data/service_eval_*.tsv``) are never trained on: their
near-duplicates are removed from every training set, and each model is scored on them.

Banking77: trained on its train split, evaluated on its test split.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import unicodedata
import zipfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from servq.text.features import FeatureSpec  # noqa: E402
from servq.text.sentiment import (  # noqa: E402
    NEGATIVE,
    NEUTRAL,
    OPINION,
    POSITIVE,
    EvalReport,
    TextClassifier,
    evaluate,
    evaluate_predictions,
    train_classifier,
)

DATA = REPO.parent / "shared" / "data"
MODELS = REPO / "src" / "servq" / "text" / "models"
#: held-out service texts (``text<TAB>label<TAB>domain``), never trained on: their near-duplicates
#: are removed from every training set, and each model is scored on them once, at the end
SERVICE_EVAL = REPO / "tests" / "text" / "data"

SPLIT_SEED = 20250
#: the features of the Chinese sentiment model; the Chinese opinion model reads texts the same
#: way, so that ``predict_sentiment`` featurizes a text once for both
ZH_SPEC = FeatureSpec(n_buckets=1 << 20, char_ngrams=(1, 3), binary=True)
#: weight of the hand-written service sentences in the Chinese sentiment training
ZH_HAND_WEIGHT = 5.0
SHINGLE = 4
JACCARD = 0.5


# ---------------------------------------------------------------------------------------------
# data


def load_chnsenticorp(data: Path) -> pd.DataFrame:
    df = pd.read_csv(data / "zh-chnsenticorp-htl" / "ChnSentiCorp_htl_all.csv", dtype=str)
    df = df.dropna(subset=["review"])
    df = df[df["review"].str.strip() != ""]
    return pd.DataFrame(
        {
            "text": df["review"].to_numpy(),
            "label": np.where(df["label"].astype(int) == 1, POSITIVE, NEGATIVE),
        }
    )


def load_shopping(data: Path) -> pd.DataFrame:
    path = data / "zh-online-shopping-10cats" / "online_shopping_10_cats.zip"
    with zipfile.ZipFile(path) as z, z.open("online_shopping_10_cats.csv") as fh:
        df = pd.read_csv(fh, dtype=str)
    df = df.dropna(subset=["review"])
    df = df[df["review"].str.strip() != ""]
    return pd.DataFrame(
        {
            "text": df["review"].to_numpy(),
            "label": np.where(df["label"].astype(int) == 1, POSITIVE, NEGATIVE),
            "cat": df["cat"].to_numpy(),
        }
    )


def load_sentences(path: Path) -> pd.DataFrame:
    """A UCI sentiment-labelled-sentences file: ``sentence<TAB>label``; a first line
    ``Review`` (in the yelp and amazon copies) is skipped."""
    texts: list[str] = []
    labels: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if "\t" not in line:
            continue
        sentence, _, label = line.rpartition("\t")
        if label.strip() not in {"0", "1"}:
            continue
        texts.append(sentence.strip())
        labels.append(POSITIVE if label.strip() == "1" else NEGATIVE)
    return pd.DataFrame({"text": texts, "label": labels})


def load_tsv(path: Path) -> pd.DataFrame:
    """A hand-written ``label<TAB>text`` file; lines starting with ``#`` are comments."""
    rows: list[tuple[str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, _, text = line.partition("\t")
        rows.append((label.strip(), text.strip()))
    return pd.DataFrame(rows, columns=["label", "text"])


def load_service_eval(lang: str) -> pd.DataFrame:
    """The held-out service texts of one language: ``text``, ``label``, ``domain``."""
    path = SERVICE_EVAL / f"service_eval_{lang}.tsv"
    return pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, encoding="utf-8")


def service_eval_report(model: TextClassifier, lang: str) -> EvalReport:
    """Score ``model`` on the held-out service texts; print accuracy overall and by domain."""
    ev = load_service_eval(lang)
    pred = model.predict(ev["text"].tolist())
    report = evaluate_predictions(ev["label"].tolist(), pred)
    print_report(f"held-out service texts ({lang}, {len(ev)}, written for servq)", report)
    right = pd.Series(np.asarray(pred) == ev["label"].to_numpy(), index=ev["domain"])
    by_domain = right.groupby(level=0).mean().round(2).to_dict()
    print(f"by domain: {by_domain}")
    return report


def load_lexicon(path: Path) -> dict[str, int]:
    """``word<TAB>+1|-1`` lines; ``#`` comments."""
    lexicon: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        word, _, value = line.partition("\t")
        lexicon[word.strip().lower()] = 1 if int(value) > 0 else -1
    return lexicon


def split_three(
    labels: Sequence[str], fractions: tuple[float, float], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified (train, validation, test) row indices; ``fractions`` = (validation, test)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    parts: list[list[int]] = [[], [], []]
    for label in sorted(set(labels)):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        n_val = round(len(idx) * fractions[0])
        n_test = round(len(idx) * fractions[1])
        parts[2].extend(idx[:n_test].tolist())
        parts[1].extend(idx[n_test : n_test + n_val].tolist())
        parts[0].extend(idx[n_test + n_val :].tolist())
    train, val, test = (np.asarray(sorted(p), dtype=np.int64) for p in parts)
    return train, val, test


# ---------------------------------------------------------------------------------------------
# near-duplicates


def dedup_key(text: str) -> str:
    """NFKC, lower case, letters, digits and Chinese characters only."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if ch.isalnum())


def shingles(key: str, k: int = SHINGLE) -> set[str]:
    return {key[i : i + k] for i in range(len(key) - k + 1)}


def near_duplicates(
    candidates: Sequence[str], protected: Sequence[str]
) -> tuple[np.ndarray, dict[str, int]]:
    """For each candidate text, whether it is a near-duplicate of any protected text, and how
    many candidates each rule caught (a candidate can be caught by several).

    After ``dedup_key`` (NFKC, lower case, letters, digits and Chinese characters only), a
    candidate A is a near-duplicate of a protected text B when any of these holds:

    - ``equal``: the keys are equal;
    - ``jaccard4``: the sets of character 4-grams have Jaccard ``|A ∩ B| / |A ∪ B|`` >= 0.5;
    - ``jaccard2``: the sets of character 2-grams have Jaccard >= 0.5 (ChnSentiCorp's copy of a
      review often has characters dropped, which breaks 4-grams but few 2-grams);
    - ``contained4``: the shorter text has at least 10 character 4-grams and >= 80% of them are
      in the longer one (a truncated or extended copy).

    Exact: every pair sharing a shingle is scored with a sparse matrix product, no sampling.
    """
    keys_c = [dedup_key(t) for t in candidates]
    keys_p = [dedup_key(t) for t in protected]
    equal = set(keys_p)
    caught = {
        "equal": np.array([k in equal for k in keys_c], dtype=bool),
        "jaccard4": np.zeros(len(keys_c), dtype=bool),
        "jaccard2": np.zeros(len(keys_c), dtype=bool),
        "contained4": np.zeros(len(keys_c), dtype=bool),
    }
    for k in (4, 2):
        for rows, cols, inter, size_c, size_p in _shared_shingles(keys_c, keys_p, k):
            union = size_c[rows] + size_p[cols] - inter
            caught[f"jaccard{k}"][rows[inter >= JACCARD * union]] = True
            if k == 4:
                small = np.minimum(size_c[rows], size_p[cols])
                hit = (small >= 10) & (inter >= 0.8 * small)
                caught["contained4"][rows[hit]] = True
    flags = np.zeros(len(keys_c), dtype=bool)
    for v in caught.values():
        flags |= v
    return flags, {name: int(v.sum()) for name, v in caught.items()}


def _shared_shingles(keys_c: list[str], keys_p: list[str], k: int) -> Any:
    """Yield, chunk by chunk, every (candidate, protected) pair sharing a k-gram: candidate
    rows, protected columns, the size of the intersection, and the sizes of all k-gram sets."""
    from scipy import sparse

    sets_c = [shingles(key, k) for key in keys_c]
    sets_p = [shingles(key, k) for key in keys_p]
    size_c = np.array([len(x) for x in sets_c], dtype=np.float64)
    size_p = np.array([len(x) for x in sets_p], dtype=np.float64)
    vocab: dict[str, int] = {}
    for sp in sets_p:
        for sh in sp:
            vocab.setdefault(sh, len(vocab))

    def matrix(sets: list[set[str]]) -> Any:
        indptr = [0]
        indices: list[int] = []
        for st in sets:
            indices.extend(j for j in (vocab.get(sh) for sh in st) if j is not None)
            indptr.append(len(indices))
        data = np.ones(len(indices), dtype=np.float32)
        return sparse.csr_matrix((data, indices, indptr), shape=(len(sets), len(vocab)))

    mpt = matrix(sets_p).T.tocsr()
    mc = matrix(sets_c)
    for start in range(0, len(sets_c), 2000):
        inter = (mc[start : start + 2000] @ mpt).tocoo()
        if inter.nnz:
            yield inter.row + start, inter.col, inter.data.astype(np.float64), size_c, size_p


# ---------------------------------------------------------------------------------------------
# helpers


def print_report(title: str, report: EvalReport) -> None:
    print(f"\n--- {title}")
    print(report.as_text())


def neutral_band_on(
    p_pos: np.ndarray, truth: Sequence[str], cost: float = 0.4
) -> tuple[float, float]:
    """The symmetric band (0.5 - d, 0.5 + d) minimising, on a validation split, the mean cost
    of a wrong label (1) and of a neutral answer (``cost``)."""
    y = np.asarray(truth) == POSITIVE
    best = (float("inf"), 0.0)
    for d in np.arange(0.0, 0.41, 0.01):
        inside = np.abs(p_pos - 0.5) < d
        wrong = ((p_pos >= 0.5) != y) & ~inside
        total = wrong.sum() + cost * inside.sum()
        if total < best[0] - 1e-9:
            best = (float(total), float(d))
    d = round(best[1], 2)
    return round(0.5 - d, 2), round(0.5 + d, 2)


def timed(label: str, t0: float) -> None:
    print(f"[{label}: {time.perf_counter() - t0:.1f} s]", flush=True)


# ---------------------------------------------------------------------------------------------
# Chinese


def zh_weights(source: np.ndarray, chn_weight: float) -> np.ndarray:
    """Sample weights of the Chinese training rows by their ``source``: online-shopping 1,
    ChnSentiCorp ``chn_weight``, hand-written ``ZH_HAND_WEIGHT``."""
    weight = np.where(source == "shop", 1.0, chn_weight)
    weight[source == "hand"] = ZH_HAND_WEIGHT
    return weight


def log_loss(p: np.ndarray, truth: np.ndarray) -> float:
    """Mean log-loss of probabilities ``p`` of the label whose rows ``truth`` marks."""
    q = np.clip(np.where(truth, p, 1 - p), 1e-9, 1.0)
    return float(-np.log(q).mean())


@cache
def zh_data(data: Path) -> dict[str, Any]:
    """The Chinese sets, the ChnSentiCorp split (``tr``, ``va``, ``te``: row positions) and, per
    training set, the mask of near-duplicates of a validation or test review with the rules that
    found them (``dup_chn``/``rules_chn``, ``dup_shop``/``rules_shop``, ``dup_service``).
    Computed once per data folder (the near-duplicate search takes seconds); read-only."""
    chn = load_chnsenticorp(data)
    shop = load_shopping(data)
    service = load_tsv(MODELS / "train_service_zh.tsv")
    tr, va, te = split_three(chn["label"].tolist(), (0.15, 0.15), SPLIT_SEED)
    protected = chn["text"].iloc[np.concatenate([va, te])].tolist()
    protected += load_service_eval("zh")["text"].tolist()
    dup_chn, rules_chn = near_duplicates(chn["text"].iloc[tr].tolist(), protected)
    dup_shop, rules_shop = near_duplicates(shop["text"].tolist(), protected)
    dup_service, _ = near_duplicates(service["text"].tolist(), protected)
    return dict(
        chn=chn,
        shop=shop,
        service=service,
        tr=tr,
        va=va,
        te=te,
        dup_chn=dup_chn,
        rules_chn=rules_chn,
        dup_shop=dup_shop,
        rules_shop=rules_shop,
        dup_service=dup_service,
    )


def train_zh(data: Path, out: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    d = zh_data(data)
    chn, shop, service = d["chn"], d["shop"], d["service"]
    tr, va, te = d["tr"], d["va"], d["te"]
    dup_chn, rules_chn, dup_service = d["dup_chn"], d["rules_chn"], d["dup_service"]
    dup_shop, rules_shop = d["dup_shop"], d["rules_shop"]
    print("== Chinese sentiment (ChnSentiCorp-htl + online-shopping-10cats)")
    print(
        f"ChnSentiCorp: {len(chn)} non-empty reviews -> train {len(tr)}, validation {len(va)}, "
        f"test {len(te)} (stratified, seed {SPLIT_SEED})"
    )
    print(f"removed from ChnSentiCorp-train: {int(dup_chn.sum())} near-duplicates {rules_chn}")
    by_cat = shop.loc[dup_shop, "cat"].value_counts().to_dict()
    print(
        f"removed from online-shopping: {int(dup_shop.sum())} of {len(shop)} "
        f"near-duplicates {rules_shop}; by category {by_cat}"
    )
    print(f"hand-written service sentences: {len(service)} ({int(dup_service.sum())} removed)")
    chn_train = chn.iloc[tr][~dup_chn]
    shop_train = shop[~dup_shop]
    service = service[~dup_service]
    texts = chn_train["text"].tolist() + shop_train["text"].tolist() + service["text"].tolist()
    labels = chn_train["label"].tolist() + shop_train["label"].tolist() + service["label"].tolist()
    source = np.array(
        ["chn"] * len(chn_train) + ["shop"] * len(shop_train) + ["hand"] * len(service)
    )
    print(f"training texts: {len(texts)}")
    val_texts = chn["text"].iloc[va].tolist()
    val_labels = chn["label"].iloc[va].tolist()
    spec = ZH_SPEC
    timed("data", t0)

    # choices on the validation split: weight of the in-domain ChnSentiCorp rows, and C
    best: tuple[float, float, float] | None = None
    best_model: TextClassifier | None = None
    for chn_weight in (1.0, 5.0, 10.0):
        weight = zh_weights(source, chn_weight)
        for c in (3.0, 10.0, 30.0):
            model = train_classifier(texts, labels, lang="zh", spec=spec, C=c, sample_weight=weight)
            acc = evaluate(model, val_texts, val_labels).accuracy
            print(f"  validation: ChnSentiCorp weight {chn_weight:>4}, C {c:>4}: {acc:.4f}")
            if best is None or acc > best[0] + 1e-12:
                best = (acc, chn_weight, c)
                best_model = model
    assert best is not None and best_model is not None
    print(f"chosen: ChnSentiCorp weight {best[1]}, C {best[2]} (validation accuracy {best[0]:.4f})")
    p_val = best_model.predict_proba(val_texts)[:, best_model.labels.index(POSITIVE)]
    band = neutral_band_on(p_val, val_labels)
    print(f"neutral band chosen on validation: {band}")
    best_model.meta.update(
        {
            "name": "sentiment-zh",
            "neutral_band": list(band),
            "trained_on": "ChnSentiCorp-htl train split + online-shopping-10cats minus "
            "near-duplicates of validation/test + hand-written service sentences",
            "chn_weight": best[1],
            "validation_accuracy": round(best[0], 4),
        }
    )
    path = best_model.save(out / "sentiment_zh.npz", dtype="float16")
    timed("training", t0)

    shipped = TextClassifier.load(path)
    test_texts = chn["text"].iloc[te].tolist()
    test_labels = chn["label"].iloc[te].tolist()
    report = evaluate(shipped, test_texts, test_labels)
    print_report(f"servq sentiment-zh on the ChnSentiCorp test split ({len(te)} reviews)", report)
    three = three_way(shipped, test_texts, test_labels, band)
    print(three)
    result: dict[str, Any] = {
        "zh_test": report.to_dict(),
        "zh_band": band,
        "zh_size": path.stat().st_size,
        "zh_three_way": three,
        "zh_service": service_eval_report(shipped, "zh").to_dict(),
    }
    snow = snownlp_report(test_texts, test_labels)
    if snow is not None:
        print_report(
            "snownlp 0.12 on the same test split (INFLATED: its training data contains "
            "these reviews verbatim)",
            snow,
        )
        result["snownlp_test"] = snow.to_dict()
    timed("Chinese", t0)
    return result


def three_way(
    model: TextClassifier, texts: list[str], labels: list[str], band: tuple[float, float]
) -> str:
    p = model.predict_proba(texts)[:, model.labels.index(POSITIVE)]
    y = np.asarray(labels) == POSITIVE
    inside = (p > band[0]) & (p < band[1])
    decided = ~inside
    acc = float(((p >= 0.5) == y)[decided].mean()) if decided.any() else float("nan")
    return (
        f"with the neutral band {band}: {int(inside.sum())} of {len(texts)} "
        f"({inside.mean():.1%}) neutral; accuracy on the rest {acc:.4f}"
    )


def snownlp_report(texts: list[str], labels: list[str]) -> EvalReport | None:
    try:
        from snownlp import SnowNLP
    except ImportError:
        print("(snownlp is not installed: its figure is left out)")
        return None
    predicted = [POSITIVE if SnowNLP(t).sentiments > 0.5 else NEGATIVE for t in texts]
    return evaluate_predictions(labels, predicted)


# ---------------------------------------------------------------------------------------------
# English


def en_spec(lexicon: dict[str, int]) -> FeatureSpec:
    return FeatureSpec(
        n_buckets=1 << 20,
        char_ngrams=(2, 4),
        word_ngrams=(1, 2),
        negation=True,
        binary=True,
        lexicon=lexicon,
    )


def train_en(data: Path, out: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    folder = data / "en-yelp-labelled-sentences"
    imdb = load_sentences(folder / "imdb_labelled.txt")
    hand = load_tsv(MODELS / "train_service_en.tsv")
    dup_hand, _ = near_duplicates(hand["text"].tolist(), load_service_eval("en")["text"].tolist())
    hand = hand[~dup_hand].reset_index(drop=True)
    lexicon = load_lexicon(MODELS / "lexicon_en.tsv")
    lex_rows = pd.DataFrame(
        {
            "text": list(lexicon),
            "label": [POSITIVE if v > 0 else NEGATIVE for v in lexicon.values()],
        }
    )
    test = pd.concat(
        [
            load_sentences(folder / "yelp_labelled.txt").assign(source="yelp"),
            load_sentences(folder / "amazon_cells_labelled.txt").assign(source="amazon"),
        ],
        ignore_index=True,
    )
    print("\n== English sentiment (IMDB sentences + hand-written sentences + lexicon)")
    print(
        f"training: {len(imdb)} IMDB sentences, {len(hand)} hand-written sentences "
        f"({int(dup_hand.sum())} near-duplicates of held-out service texts left out), "
        f"{len(lex_rows)} lexicon words (weight 0.3 each); test: {len(test)} Yelp and Amazon "
        "sentences, never used in training"
    )
    spec = en_spec(lexicon)
    # choices (C, weight of the hand-written sentences) and the neutral band: 5-fold
    # cross-validation over the IMDB and the hand-written sentences together (the lexicon words
    # are always in training), scored by log-loss on the out-of-fold predictions
    pool = pd.concat([imdb.assign(source="imdb"), hand.assign(source="hand")], ignore_index=True)
    y = pool["label"].to_numpy() == POSITIVE
    is_hand = (pool["source"] == "hand").to_numpy()
    fold = np.random.default_rng(SPLIT_SEED).permutation(len(pool)) % 5
    lex_w = np.full(len(lex_rows), 0.3)
    best: tuple[float, float, float, np.ndarray] | None = None
    for hand_weight in (1.0, 3.0):
        for c in (3.0, 10.0, 30.0):
            oof = np.zeros(len(pool))
            for f in range(5):
                part = pool[fold != f]
                model = train_classifier(
                    part["text"].tolist() + lex_rows["text"].tolist(),
                    part["label"].tolist() + lex_rows["label"].tolist(),
                    lang="en",
                    spec=spec,
                    C=c,
                    sample_weight=np.r_[np.where(is_hand[fold != f], hand_weight, 1.0), lex_w],
                )
                held = pool[fold == f]["text"].tolist()
                oof[fold == f] = model.predict_proba(held)[:, model.labels.index(POSITIVE)]
            right = (oof >= 0.5) == y
            loss = log_loss(oof, y)
            print(
                f"  5-fold CV, hand-written weight {hand_weight}, C {c:>4}: accuracy IMDB "
                f"{right[~is_hand].mean():.4f}, hand-written {right[is_hand].mean():.4f}, "
                f"log-loss {loss:.4f}"
            )
            if best is None or loss < best[0] - 1e-12:
                best = (loss, hand_weight, c, oof)
    assert best is not None
    band = neutral_band_on(best[3], pool["label"].tolist())
    print(f"chosen: hand-written weight {best[1]}, C {best[2]}; neutral band (out-of-fold): {band}")
    model = train_classifier(
        pool["text"].tolist() + lex_rows["text"].tolist(),
        pool["label"].tolist() + lex_rows["label"].tolist(),
        lang="en",
        spec=spec,
        C=best[2],
        sample_weight=np.r_[np.where(is_hand, best[1], 1.0), lex_w],
        meta={
            "name": "sentiment-en",
            "neutral_band": list(band),
            "trained_on": "UCI IMDB sentences + hand-written service sentences + "
            "hand-written lexicon",
            "cv_logloss": round(best[0], 4),
            "hand_weight": best[1],
        },
    )
    path = model.save(out / "sentiment_en.npz", dtype="float16")
    shipped = TextClassifier.load(path)
    report = evaluate(shipped, test["text"].tolist(), test["label"].tolist())
    print_report(f"servq sentiment-en on Yelp + Amazon sentences ({len(test)})", report)
    by_source = {}
    for name, part in test.groupby("source"):
        r = evaluate(shipped, part["text"].tolist(), part["label"].tolist())
        by_source[str(name)] = round(r.accuracy, 4)
    print(f"accuracy by source: {by_source}")
    three = three_way(shipped, test["text"].tolist(), test["label"].tolist(), band)
    print(three)
    service = service_eval_report(shipped, "en")
    timed("English", t0)
    return {
        "en_test": report.to_dict(),
        "en_service": service.to_dict(),
        "en_by_source": by_source,
        "en_band": band,
        "en_size": path.stat().st_size,
        "en_three_way": three,
    }


# ---------------------------------------------------------------------------------------------
# opinion or neutral


def opinion_material(data: Path, lang: str) -> tuple[pd.DataFrame, pd.DataFrame, FeatureSpec]:
    """Training texts for the opinion model of ``lang`` (``text``, ``label``: neutral or
    opinion, ``source``) and the public opinion texts it is checked on, with the feature spec
    of that language's sentiment model (so both read a text in one pass).

    Neutral: the hand-written ``train_neutral_{lang}.tsv``. Opinion: the hand-written service
    sentences and, so that long reviews count as opinions too, public reviews: for Chinese 2,000
    drawn (seed 20250) from ChnSentiCorp-train and the online-shopping set after the
    near-duplicate removal of ``zh_data``; for English the IMDB sentences. Near-duplicates of
    the held-out service texts (neutral or not) are left out. The public check texts are the
    ChnSentiCorp test split or the Yelp and Amazon sentences, never trained on."""
    held_out = pd.concat([load_service_eval(lang), load_service_eval(f"neutral_{lang}")])
    neutral = load_tsv(MODELS / f"train_neutral_{lang}.tsv").assign(source="neutral")
    hand = load_tsv(MODELS / f"train_service_{lang}.tsv").assign(source="hand")
    if lang == "zh":
        d = zh_data(data)
        chn, shop = d["chn"], d["shop"]
        reviews = pd.concat(
            [chn.iloc[d["tr"]][~d["dup_chn"]], shop[~d["dup_shop"]][["text", "label"]]]
        )
        reviews = reviews.sample(n=2000, random_state=SPLIT_SEED).assign(source="reviews")
        check = chn.iloc[d["te"]].assign(source="ChnSentiCorp test")
        spec = ZH_SPEC
    else:
        folder = data / "en-yelp-labelled-sentences"
        reviews = load_sentences(folder / "imdb_labelled.txt").assign(source="reviews")
        check = pd.concat(
            [
                load_sentences(folder / "yelp_labelled.txt"),
                load_sentences(folder / "amazon_cells_labelled.txt"),
            ]
        ).assign(source="Yelp + Amazon")
        spec = en_spec(load_lexicon(MODELS / "lexicon_en.tsv"))
    train = pd.concat([neutral, hand, reviews], ignore_index=True)
    dup, _ = near_duplicates(train["text"].tolist(), held_out["text"].tolist())
    train = train[~dup].reset_index(drop=True)
    train["label"] = np.where(train["source"] == "neutral", NEUTRAL, OPINION)
    return train, check, spec


def train_opinion(data: Path, out: Path, lang: str) -> dict[str, Any]:
    """The opinion model of ``lang``: C chosen by 5-fold cross-validation (log-loss of the
    out-of-fold predictions), classes weighted to balance, the gate at 0.5; then held-out
    figures: how many neutral service texts it calls neutral, and how many opinion texts
    (service and public) it wrongly calls neutral."""
    t0 = time.perf_counter()
    train, check, spec = opinion_material(data, lang)
    counts = train["source"].value_counts().to_dict()
    print(f"\n== Opinion or neutral ({lang}): training {len(train)} texts {counts}")
    y = train["label"].to_numpy()
    fold = np.random.default_rng(SPLIT_SEED).permutation(len(train)) % 5
    best: tuple[float, float] | None = None
    for c in (1.0, 3.0, 10.0, 30.0, 100.0):
        oof = np.zeros(len(train))
        for f in range(5):
            part = train[fold != f]
            model = train_classifier(
                part["text"].tolist(),
                part["label"].tolist(),
                lang=lang,
                spec=spec,
                C=c,
                class_weight="balanced",
            )
            held = train[fold == f]["text"].tolist()
            oof[fold == f] = model.predict_proba(held)[:, model.labels.index(OPINION)]
        truth = y == OPINION
        loss = log_loss(oof, truth)
        right = (oof >= 0.5) == truth
        print(
            f"  5-fold CV, C {c:>4}: neutral right {right[~truth].mean():.4f}, opinion right "
            f"{right[truth].mean():.4f}, log-loss {loss:.4f}"
        )
        if best is None or loss < best[0] - 1e-12:
            best = (loss, c)
    assert best is not None
    print(f"chosen: C {best[1]}")
    model = train_classifier(
        train["text"].tolist(),
        train["label"].tolist(),
        lang=lang,
        spec=spec,
        C=best[1],
        class_weight="balanced",
        meta={
            "name": f"opinion-{lang}",
            "gate": 0.5,
            "trained_on": f"hand-written neutral {lang} texts against hand-written service "
            "sentences and public reviews",
            "cv_logloss": round(best[0], 4),
        },
    )
    path = model.save(out / f"opinion_{lang}.npz", dtype="float16")
    shipped = TextClassifier.load(path)
    result: dict[str, Any] = {}
    for name, texts, want in (
        ("held-out neutral service texts", load_service_eval(f"neutral_{lang}")["text"], NEUTRAL),
        ("held-out opinion service texts", load_service_eval(lang)["text"], OPINION),
        (f"{check['source'].iloc[0]} (opinions)", check["text"], OPINION),
    ):
        got = shipped.predict(texts.tolist())
        share = float(np.mean(np.asarray(got) == want))
        print(f"  {name} ({len(texts)}): called {want} {share:.4f}")
        result[f"opinion_{lang}_{want}_{len(texts)}"] = round(share, 4)
    timed(f"opinion {lang}", t0)
    return result


# ---------------------------------------------------------------------------------------------
# banking77


def train_banking77(data: Path, out: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    folder = data / "en-banking77"
    train = pd.read_csv(folder / "train.csv", dtype=str)
    test = pd.read_csv(folder / "test.csv", dtype=str)
    print("\n== Intent routing: banking77 (77 intents)")
    print(f"train {len(train)} questions, test {len(test)}")
    spec = FeatureSpec(n_buckets=1 << 15, char_ngrams=(2, 4), word_ngrams=(1, 2), negation=True)
    from servq.text.sentiment import stratified_split

    fit_idx, val_idx = stratified_split(train["category"].tolist(), 0.15, SPLIT_SEED)
    fit, val = train.iloc[fit_idx], train.iloc[val_idx]
    best: tuple[float, float] | None = None
    for c in (10.0, 30.0, 100.0):
        model = train_classifier(
            fit["text"].tolist(), fit["category"].tolist(), lang="en", spec=spec, C=c
        )
        acc = evaluate(model, val["text"].tolist(), val["category"].tolist()).accuracy
        print(f"  validation (15% of train): C {c:>5}: {acc:.4f}")
        if best is None or acc > best[0] + 1e-12:
            best = (acc, c)
    assert best is not None
    print(f"chosen: C {best[1]}")
    model = train_classifier(
        train["text"].tolist(),
        train["category"].tolist(),
        lang="en",
        spec=spec,
        C=best[1],
        meta={"name": "intent-banking77", "trained_on": "banking77 train split"},
    )
    full = evaluate(model, test["text"].tolist(), test["category"].tolist())
    path = model.save(out / "intent_banking77_en.npz", dtype="int8")
    shipped = TextClassifier.load(path)
    report = evaluate(shipped, test["text"].tolist(), test["category"].tolist())
    print_report(f"servq intent-banking77 (int8 weights) on the test split ({len(test)})", report)
    print(f"(float32 weights before quantisation: accuracy {full.accuracy:.4f})")
    worst = sorted(report.per_class.items(), key=lambda kv: kv[1].f1)[:5]
    print("lowest F1:", ", ".join(f"{k} {v.f1:.2f}" for k, v in worst))
    timed("banking77", t0)
    return {"b77_test": report.to_dict(), "b77_size": path.stat().st_size}


# ---------------------------------------------------------------------------------------------
# speed


def bench(data: Path) -> None:
    import importlib

    import servq.text.sentiment as sentiment

    importlib.reload(sentiment)
    print("\n== Speed (one process, one core)")
    for name in sentiment.MODELS:
        sentiment.load_model.cache_clear()
        t = time.perf_counter()
        sentiment.load_model(name)
        print(f"load {name}: {time.perf_counter() - t:.3f} s")
    zh = load_chnsenticorp(data)["text"].tolist()
    zh = (zh * 3)[:20000]
    en = load_sentences(data / "en-yelp-labelled-sentences" / "imdb_labelled.txt")["text"]
    en_texts = (en.tolist() * 20)[:20000]
    for label, texts, lang in (
        ("Chinese hotel reviews (mean 128 characters)", zh, "zh"),
        ("English sentences", en_texts, "en"),
        ("Chinese, language detected per text", zh, None),
    ):
        sentiment.predict_sentiment(texts[:100], lang=lang)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            sentiment.predict_sentiment(texts, lang=lang)
            best = min(best, time.perf_counter() - t)
        print(f"predict_sentiment, {label}: {len(texts) / best:,.0f} texts/s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=MODELS, help="where the models go")
    parser.add_argument(
        "--only",
        default="zh,en,opinion,banking77,bench",
        help="comma-separated: zh,en,opinion,banking77,bench",
    )
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"data folder not found: {args.data}", file=sys.stderr)
        return 2
    todo = {x.strip() for x in args.only.split(",") if x.strip()}
    summary: dict[str, Any] = {}
    if "zh" in todo:
        summary.update(train_zh(args.data, args.out))
    if "en" in todo:
        summary.update(train_en(args.data, args.out))
    if "opinion" in todo:
        for lang in ("zh", "en"):
            summary.update(train_opinion(args.data, args.out, lang))
    if "banking77" in todo:
        summary.update(train_banking77(args.data, args.out))
    if "bench" in todo:
        bench(args.data)
    print("\n== Model files")
    for f in sorted(args.out.glob("*.npz")):
        print(f"{f.name}: {f.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
