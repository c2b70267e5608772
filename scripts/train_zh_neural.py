"""Experiment (not shipped): a character CNN for Chinese sentiment, trained with PyTorch.

    .venv/bin/pip install torch            # training only; servq never imports torch
    .venv/bin/python scripts/train_zh_neural.py [--data DIR] [--no-pretrain] [--epochs 4]

Reproduces the neural figures of docs/text-models.md ("A neural model, tried, not shipped").
The training set is the one of ``train_text_models.py`` (ChnSentiCorp-train + online-shopping
minus every near-duplicate of a validation or test review + the hand-written service
sentences); it prints validation accuracy only: the test split is never scored here.

1. Self-supervised character embeddings from the training texts only: positive PMI of
   characters within two positions of each other (context distribution smoothed to the power
   0.75), reduced to 128 dimensions by SVD.
2. A 1-D CNN on top: embeddings (initialised from step 1, fine-tuned), convolutions of width
   1, 2 and 3 with 64 filters each, ReLU, max-pooling over the text, dropout 0.5, one logistic
   output. Adam, learning rate 2e-3 decaying linearly to 0, batches of 64 texts of similar
   length, the ChnSentiCorp rows weighted 5 (as for the linear model), texts cut at 400
   characters.
3. Its log-odds averaged with the shipped linear model's (each divided by its standard
   deviation on validation), for several weights.

One thread (``torch.set_num_threads(1)``); deterministic for a given seed. About 5 minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "scripts"))

from train_text_models import DATA, MODELS, zh_data, zh_weights  # noqa: E402

from servq.text.features import normalise  # noqa: E402
from servq.text.sentiment import POSITIVE, TextClassifier  # noqa: E402

PAD, UNK = 0, 1


def training_data(data: Path) -> dict[str, Any]:
    """The Chinese training rows of ``train_text_models.py`` and the validation split."""
    d = zh_data(data)
    chn, va = d["chn"], d["va"]
    parts = [
        chn.iloc[d["tr"]][~d["dup_chn"]],
        d["shop"][~d["dup_shop"]],
        d["service"][~d["dup_service"]],
    ]
    source = np.concatenate(
        [np.full(len(p), name) for p, name in zip(parts, ("chn", "shop", "hand"), strict=True)]
    )
    return {
        "texts": [t for p in parts for t in p["text"].tolist()],
        "labels": [y for p in parts for y in p["label"].tolist()],
        "source": source,
        "val_texts": chn["text"].iloc[va].tolist(),
        "val_labels": chn["label"].iloc[va].tolist(),
    }


def ppmi_svd(seqs: list[list[int]], n_vocab: int, dim: int, window: int = 2) -> np.ndarray:
    """Character embeddings: SVD of the positive PMI matrix of characters co-occurring within
    ``window`` positions; rows scaled to a standard deviation of 0.1."""
    rows, cols = [], []
    for s in seqs:
        a = np.asarray(s, dtype=np.int64)
        for off in range(1, window + 1):
            rows.append(a[:-off])
            cols.append(a[off:])
    r, c = np.concatenate(rows), np.concatenate(cols)
    m = np.bincount(r * n_vocab + c, minlength=n_vocab * n_vocab).reshape(n_vocab, n_vocab)
    m = (m + m.T).astype(np.float64)
    total = m.sum()
    p_row = m.sum(axis=1)
    p_ctx = m.sum(axis=0) ** 0.75
    p_ctx = p_ctx / p_ctx.sum() * total
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(m * total / np.outer(p_row, p_ctx) + 1e-12)
    pmi = np.nan_to_num(np.maximum(pmi, 0.0))
    pmi[:2] = 0.0
    pmi[:, :2] = 0.0
    u, s, _ = np.linalg.svd(pmi, full_matrices=False)
    emb = u[:, :dim] * np.sqrt(s[:dim])
    return (emb / (emb[2:].std() + 1e-9) * 0.1).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-pretrain", action="store_true", help="random embeddings")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    d = training_data(args.data)
    train = [normalise(t)[:400] for t in d["texts"]]
    val = [normalise(t)[:400] for t in d["val_texts"]]
    y = torch.tensor([lab == POSITIVE for lab in d["labels"]], dtype=torch.float32)
    y_val = np.array([lab == POSITIVE for lab in d["val_labels"]])
    weight = torch.tensor(zh_weights(d["source"], 5.0), dtype=torch.float32)
    counts = Counter("".join(train))
    vocab = {ch: i + 2 for i, ch in enumerate(sorted(c for c, n in counts.items() if n >= 2))}
    n_vocab = len(vocab) + 2
    x_train = [[vocab.get(ch, UNK) for ch in t] for t in train]
    x_val = [[vocab.get(ch, UNK) for ch in t] for t in val]
    print(f"training texts {len(train)}, vocabulary {n_vocab} characters", flush=True)

    dim, n_filters, widths = 128, 64, (1, 2, 3)

    class CharCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(n_vocab, dim, padding_idx=PAD)
            self.convs = nn.ModuleList([nn.Conv1d(dim, n_filters, k) for k in widths])
            self.drop = nn.Dropout(0.5)
            self.out = nn.Linear(n_filters * len(widths), 1)

        def forward(self, x: Any, lens: Any) -> Any:
            e = self.emb(x).transpose(1, 2)
            pooled = []
            for k, conv in zip(widths, self.convs, strict=True):
                h = F.relu(conv(e))
                valid = torch.arange(x.shape[1] - k + 1)[None, :] <= lens[:, None] - k
                pooled.append(h.masked_fill(~valid[:, None, :], -1e4).max(2).values)
            return self.out(self.drop(torch.cat(pooled, 1))).squeeze(1)

    def batch(xs: list[list[int]], idx: np.ndarray) -> tuple[Any, Any]:
        lens = [max(len(xs[i]), max(widths)) for i in idx]
        b = np.zeros((len(idx), max(lens)), dtype=np.int64)
        for j, i in enumerate(idx):
            b[j, : len(xs[i])] = xs[i]
        return torch.from_numpy(b), torch.tensor(lens)

    net = CharCNN()
    if not args.no_pretrain:
        net.emb.weight.data = torch.from_numpy(ppmi_svd(x_train, n_vocab, dim))
        print(f"[PPMI-SVD embeddings: {time.perf_counter() - t0:.0f} s]", flush=True)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    linear = TextClassifier.load(MODELS / "sentiment_zh.npz")
    z_lin = linear.decision_function(d["val_texts"])[:, 0]
    print(f"shipped linear model, validation accuracy {((z_lin > 0) == y_val).mean():.4f}")
    lens = np.array([len(x) for x in x_train])
    n_steps = args.epochs * (len(train) // 64 + 1)
    step = 0
    for epoch in range(1, args.epochs + 1):
        net.train()
        perm = rng.permutation(len(train))
        batches: list[np.ndarray] = []
        for start in range(0, len(perm), 3200):
            chunk = perm[start : start + 3200]
            chunk = chunk[np.argsort(lens[chunk], kind="stable")]
            batches += [chunk[i : i + 64] for i in range(0, len(chunk), 64)]
        rng.shuffle(batches)  # type: ignore[arg-type]
        for idx in batches:
            for group in opt.param_groups:
                group["lr"] = 2e-3 * max(0.0, 1 - step / n_steps)
            step += 1
            b, bl = batch(x_train, idx)
            loss = F.binary_cross_entropy_with_logits(net(b, bl), y[idx], reduction="none")
            loss = (loss * weight[idx]).sum() / weight[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        z = np.zeros(len(val))
        order = np.argsort([len(x) for x in x_val])
        with torch.no_grad():
            for start in range(0, len(val), 256):
                idx = order[start : start + 256]
                z[idx] = net(*batch(x_val, idx)).numpy()
        ens = []
        for a in (0.3, 0.4, 0.5, 0.6, 0.7):
            mix = a * z_lin / z_lin.std() + (1 - a) * z / z.std()
            ens.append(f"{a}: {((mix > 0) == y_val).mean():.4f}")
        print(
            f"epoch {epoch}: CNN validation {((z > 0) == y_val).mean():.4f}; with the linear "
            f"model (its weight: accuracy) {', '.join(ens)} "
            f"[{time.perf_counter() - t0:.0f} s]",
            flush=True,
        )


if __name__ == "__main__":
    main()
