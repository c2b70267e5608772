"""The risk-words rule kind: texts that mention risk words, counted per group and window.

Owns: finding, in one query per batch of evaluation times, every text of the rule's sources
(feedback ``text``, interaction ``transcript``, case ``subject`` + ``description``) that holds
at least one of the rule's words, with a flag per word — matching runs in the warehouse engine
(:func:`servq.monitor.riskwords.match_expr`) — then counting those texts per group in each
evaluation's window ``[t − window, t)``. A text belongs to its source's time: feedback
``submitted_at``, a case's ``created_at``, a call's ``ended_at`` (else ``arrived_at``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from servq.metrics.compute import filter_expr
from servq.monitor import riskwords
from servq.monitor.rules.model import TEXT_TABLES, RiskWordsRule
from servq.monitor.rules.observation import label_values
from servq.warehouse.store import Warehouse

EXAMPLES = 3  # text ids kept per group and window, to show where the words were
_IDS = {"feedback": "feedback_id", "interaction": "interaction_id", "case": "case_id"}


def _text_time(t: ir.Table, source: str) -> ir.TimestampValue:
    if source == "feedback":
        return t.submitted_at
    if source == "interaction":
        return ibis.coalesce(t.ended_at, t.arrived_at)
    return t.created_at


def _text(t: ir.Table, source: str) -> ir.StringValue:
    parts = [ibis.coalesce(t[c], "") for c in TEXT_TABLES[source]]
    out = parts[0]
    for part in parts[1:]:
        out = out + " " + part
    return out


def _matches(
    wh: Warehouse,
    rule: RiskWordsRule,
    words: Sequence[str],
    span: tuple[datetime, datetime],
) -> pd.DataFrame:
    """Texts in ``span`` holding any word: source, id, time, the dimensions, a flag per word."""
    selects = []
    for source in rule.sources:
        t = wh.table(source)
        cond = filter_expr(t, rule.where, {}) if rule.where else None
        if cond is not None:
            t = t.filter(cond)
        t = t.mutate(_time=_text_time(t, source))
        t = t.filter((t._time >= span[0]) & (t._time < span[1]))
        text = _text(t, source)
        flags = {f"w{i}": riskwords.match_expr(text, w) for i, w in enumerate(words)}
        hit = ibis.or_(*flags.values())
        sel = t.filter(hit).select(
            _source=ibis.literal(source),
            _id=t[_IDS[source]].cast("string"),
            _time=t._time,
            **{d: t[d].cast("string") for d in rule.by},
            **flags,
        )
        selects.append(sel)
    union = selects[0] if len(selects) == 1 else ibis.union(*selects)
    frame: pd.DataFrame = union.to_pandas()
    return frame.sort_values(["_time", "_source", "_id"], kind="stable").reset_index(drop=True)


def _in_windows(
    texts: pd.DataFrame, times: Sequence[datetime], rule: RiskWordsRule
) -> pd.DataFrame:
    """Each text once per evaluation time whose window holds it: t − window ≤ time < t."""
    at = np.array(sorted(times), dtype="datetime64[ns]")
    when = pd.to_datetime(texts["_time"]).to_numpy(dtype="datetime64[ns]")
    first = np.searchsorted(at, when, side="right")
    last = np.searchsorted(at, when + np.timedelta64(rule.window), side="right")
    counts = last - first
    rows = np.repeat(np.arange(len(texts)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    out = texts.iloc[rows].reset_index(drop=True)
    out["at"] = at[np.repeat(first, counts) + offsets]
    return out


def _word_counts(flags: pd.DataFrame, words: Sequence[str]) -> list[dict[str, int]]:
    return [
        {words[i]: int(n) for i, n in enumerate(row) if n} for row in flags.to_numpy(dtype="int64")
    ]


def observe_risk_words(
    wh: Warehouse,
    rule: RiskWordsRule,
    times: Sequence[datetime],
    folders: Sequence[Path] = (),
) -> pd.DataFrame:
    """The observation frame of a risk-words rule at every time of a batch: per group, the
    number of texts with a risk word (``value``), which words and how often, example ids."""
    words = rule.all_words(folders)
    flag_cols = [f"w{i}" for i in range(len(words))]
    span = (min(times) - rule.window, max(times))
    texts = label_values(_matches(wh, rule, words, span), rule.by)
    hits = _in_windows(texts, times, rule)
    keys = [*rule.by, "at"]
    if hits.empty:
        return pd.DataFrame(columns=[*keys, "holds", "value", "threshold", "words", "examples"])
    hits["example"] = hits["_source"] + ":" + hits["_id"]
    grouped = hits.groupby(keys, sort=True)
    out: pd.DataFrame = grouped[flag_cols].sum().reset_index()
    out["value"] = grouped.size().to_numpy(dtype="float64")
    found: list[Any] = _word_counts(out[flag_cols], words)
    examples: list[Any] = [list(v[:EXAMPLES]) for v in grouped["example"].agg(list)]
    out["words"] = pd.Series(found, index=out.index, dtype="object")
    out["examples"] = pd.Series(examples, index=out.index, dtype="object")
    out["threshold"] = float(rule.min_hits)
    out["holds"] = out["value"] >= rule.min_hits
    return out.drop(columns=flag_cols)
