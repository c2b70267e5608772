"""Text analytics speed on one core: Chinese reviews per second through the whole pass
(masking, language, sentiment, aspects, risk words, urgency: ``servq.text.analyze``), against
snownlp's sentiment alone on the same reviews, in the same run; model load time and size.

Goals (issue 5): ≥ 2,000 reviews/s and ≥ 10× snownlp; model load ≤ 1 s; model file ≤ 20 MB.
Topic extraction over 100k reviews is timed by ``bench/text_topics.py``.

    .venv/bin/python bench/text.py [--reviews 7765] [--snownlp 500]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "zh-chnsenticorp-htl" / "ChnSentiCorp_htl_all.csv"
GOAL_RATE = 2000.0
PASSES = 3  # timed passes over all the reviews; the median is reported
GOAL_RATIO = 10.0


def one_core() -> None:
    """Pin this process to one CPU and keep the numeric libraries single-threaded."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def model_load_seconds() -> dict[str, float]:
    """Each shipped model loaded in a fresh interpreter (nothing cached)."""
    out = {}
    from servq.text.sentiment import MODELS

    for name in MODELS:
        code = (
            "import time;t=time.perf_counter();from servq.text.sentiment import load_model;"
            f"load_model({name!r});print(time.perf_counter()-t)"
        )
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        out[name] = round(float(run.stdout.strip()), 3)
    return out


def model_sizes() -> dict[str, float]:
    folder = REPO / "src" / "servq" / "text" / "models"
    return {p.name: round(p.stat().st_size / 1e6, 2) for p in sorted(folder.glob("*.npz"))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reviews", type=int, default=0, help="0: every ChnSentiCorp review")
    ap.add_argument("--snownlp", type=int, default=500, help="reviews timed with snownlp")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    one_core()
    from servq.text.analyze import analyze

    reviews = pd.read_csv(DATA)["review"].dropna().astype(str).tolist()
    if args.reviews:
        reviews = (reviews * (args.reviews // len(reviews) + 1))[: args.reviews]
    # load the models and lexicons once, outside the clock: Chinese and English ones (a few
    # ChnSentiCorp reviews are detected as English)
    analyze([*reviews[:50], "The agent was rude and hung up on me."])
    rates = []
    for _ in range(PASSES):
        t0 = time.perf_counter()
        found = analyze(reviews)
        rates.append(len(reviews) / (time.perf_counter() - t0))
        assert len(found) == len(reviews)
    servq_rate = statistics.median(rates)
    servq_s = len(reviews) / servq_rate

    from snownlp import SnowNLP

    sample = reviews[: args.snownlp]
    SnowNLP(sample[0]).sentiments  # noqa: B018 - load its model outside the clock
    t0 = time.perf_counter()
    for text in sample:
        SnowNLP(text).sentiments  # noqa: B018
    snow_s = time.perf_counter() - t0
    snow_rate = len(sample) / snow_s

    loads = model_load_seconds()
    sizes = model_sizes()
    result = {
        "reviews": len(reviews),
        "servq_seconds": round(servq_s, 2),
        "servq_reviews_per_s": round(servq_rate),
        "servq_passes_per_s": [round(r) for r in rates],
        "snownlp_reviews": len(sample),
        "snownlp_reviews_per_s": round(snow_rate, 1),
        "ratio_to_snownlp": round(servq_rate / snow_rate, 1),
        "goal_reviews_per_s": GOAL_RATE,
        "goal_ratio": GOAL_RATIO,
        "model_load_seconds": loads,
        "model_file_mb": sizes,
    }
    print(
        f"text    {len(reviews):,} Chinese reviews, full pass, one core: {servq_rate:,.0f}/s "
        f"(median of {PASSES} passes: {', '.join(f'{r:,.0f}' for r in sorted(rates))}; "
        f"goal {GOAL_RATE:,.0f}/s, ratio {servq_rate / GOAL_RATE:.2f}); snownlp sentiment "
        f"alone {snow_rate:,.1f}/s: servq is {servq_rate / snow_rate:,.1f}x "
        f"(goal {GOAL_RATIO:.0f}x)"
    )
    print(
        "models  load "
        + ", ".join(f"{k} {v:.2f} s" for k, v in loads.items())
        + " (goal ≤ 1 s); size "
        + ", ".join(f"{k} {v} MB" for k, v in sizes.items())
        + " (goal ≤ 20 MB)"
    )
    print(json.dumps({"text": result}, ensure_ascii=False))


if __name__ == "__main__":
    main()
