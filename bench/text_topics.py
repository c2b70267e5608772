"""bench/text_topics: key phrases and topic grouping over 100,000 real Chinese reviews, one core.

The reviews are the ChnSentiCorp hotel reviews and the online-shopping set (10 categories) from
``../shared/data`` (70,540 texts together), repeated to reach N (default 100,000). The process is
pinned to one CPU. Three timings:

- ``jieba``: building servq's tokenizer (dictionary from jieba's cache file);
- ``phrases``: ``extract_phrases`` over the distinct texts, in texts per second;
- ``topics``: ``find_topics`` (phrases, seed topics, ad-hoc topics, examples) over the N texts,
  in seconds against the goal of 60 s. Identical texts are analysed once, so the repeats cost
  less than new texts would; the line after it gives the time projected for N distinct texts from
  the distinct-text rate.

    .venv/bin/python bench/text_topics.py [--n 100000]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
import zipfile
from pathlib import Path

from servq.text import phrases
from servq.text.issues import find_topics

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GOAL_SECONDS = 60.0


def load_reviews(data: Path) -> list[str]:
    texts: list[str] = []
    with (data / "zh-chnsenticorp-htl" / "ChnSentiCorp_htl_all.csv").open(encoding="utf-8") as f:
        texts += [row["review"] for row in csv.DictReader(f)]
    with zipfile.ZipFile(data / "zh-online-shopping-10cats" / "online_shopping_10_cats.zip") as z:
        name = next(n for n in z.namelist() if n.endswith(".csv"))
        with z.open(name) as raw:
            reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"))
            texts += [row["review"] for row in reader]
    return [t for t in texts if t and t.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of reviews (repeated)")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if not args.data.is_dir():
        print(f"data not found at {args.data}", file=sys.stderr)
        return 2

    reviews = load_reviews(args.data)
    distinct = list(dict.fromkeys(reviews))
    texts = (reviews * (args.n // len(reviews) + 1))[: args.n]
    chars = sum(map(len, distinct)) / len(distinct)
    print(
        f"reviews: {len(reviews):,} ({len(distinct):,} distinct, {chars:.0f} characters on "
        f"average), repeated to {len(texts):,}; one core"
    )

    t0 = time.perf_counter()
    phrases.extract_phrases(["预热"])
    t_init = time.perf_counter() - t0
    print(f"jieba      {t_init:6.2f} s to build the tokenizer")

    t0, c0 = time.perf_counter(), time.process_time()
    result = phrases.extract_phrases(distinct)
    t_phr, c_phr = time.perf_counter() - t0, time.process_time() - c0
    n_phr = sum(map(len, result))
    print(
        f"phrases    {t_phr:6.2f} s ({c_phr:.2f} s CPU) for {len(distinct):,} distinct texts: "
        f"{len(distinct) / t_phr:,.0f} texts/s, {n_phr / len(distinct):.1f} phrases per text"
    )
    del result

    t0, c0 = time.perf_counter(), time.process_time()
    found = find_topics(texts)
    t_top, c_top = time.perf_counter() - t0, time.process_time() - c0
    verdict = "meets" if t_top <= GOAL_SECONDS else "MISSES"
    print(
        f"topics     {t_top:6.2f} s ({c_top:.2f} s CPU) for {len(texts):,} texts: "
        f"{len(texts) / t_top:,.0f} texts/s ({verdict} the {GOAL_SECONDS:.0f} s goal, "
        f"ratio {GOAL_SECONDS / t_top:.1f})"
    )
    t0, c0 = time.perf_counter(), time.process_time()
    find_topics(distinct)
    t_distinct, c_distinct = time.perf_counter() - t0, time.process_time() - c0
    projected = t_distinct * len(texts) / len(distinct)
    print(
        f"           {t_distinct:6.2f} s ({c_distinct:.2f} s CPU) for the {len(distinct):,} "
        f"distinct texts alone; {projected:.1f} s projected for {len(texts):,} distinct texts "
        f"({'meets' if projected <= GOAL_SECONDS else 'MISSES'} the goal)"
    )
    print(f"load average while running: {os.getloadavg()[0]:.1f}")
    top = found.topics.head(12)
    for row in top.itertuples(index=False):
        print(f"  {row.topic:<16} {row.count:>6,}  {row.share:6.1%}  {', '.join(row.phrases[:4])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
