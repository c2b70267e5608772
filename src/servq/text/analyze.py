"""One pass over free texts: language, masking, sentiment, aspects, risk words and urgency.

Owns: :func:`analyze`, what ``servq text analyze`` prints and what the ingest stores beside
every feedback and interaction row. One output row per input row, in the input's order.
Personal data is masked first, and everything else is worked out on the masked text, so the
positions of risk words point into the text that is stored and shown.

Columns: ``language`` (zh, en, or empty), ``sentiment_label`` (positive, negative, neutral),
``sentiment_score`` (probability of positive, 0..1), ``attitude_score`` (-1..1, empty when the
text says nothing of staff attitude), ``aspects`` (JSON: aspect → polarity), ``risk_words``
(JSON list of ``{word, category, start, end, negated}``), ``risk_categories`` (comma-separated),
``urgency`` (high, medium, low) and ``masked_text``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

COLUMNS = (
    "language",
    "sentiment_label",
    "sentiment_score",
    "attitude_score",
    "aspects",
    "risk_words",
    "risk_categories",
    "urgency",
    "masked_text",
)


def _clean(texts: Sequence[Any]) -> list[str | None]:
    out: list[str | None] = []
    for t in texts:
        if t is None or (isinstance(t, float) and t != t):
            out.append(None)
        else:
            text = str(t)
            out.append(text if text.strip() else None)
    return out


def analyze(
    texts: Sequence[Any] | pd.Series,
    *,
    lang: str | None = None,
    pii: Any = None,
    risk: Any = None,
) -> pd.DataFrame:
    """Analyse ``texts`` (None or empty gives an empty row); ``lang`` ``zh``/``en`` forces the
    language, None or ``auto`` detects it per text. ``pii`` is a :class:`~servq.text.pii.
    PiiConfig` and ``risk`` a :class:`~servq.text.risk.RiskLexicon` (built-ins by default)."""
    from servq.text.aspects import aspects_many, mean_polarity
    from servq.text.pii import mask_many
    from servq.text.risk import RiskLexicon, urgency
    from servq.text.sentiment import detect_language, predict_sentiment

    values = _clean(list(texts))
    present = [i for i, t in enumerate(values) if t is not None]
    n = len(values)
    out: dict[str, list[Any]] = {c: [None] * n for c in COLUMNS}
    if present:
        masked = mask_many([values[i] for i in present], pii)
        forced = None if lang in (None, "", "auto") else lang
        langs = [forced or detect_language(t) for t in masked]
        sentiment = predict_sentiment(masked, langs)
        lexicon = risk or RiskLexicon.builtin()
        hits = lexicon.find_many(masked)
        aspect_lists = aspects_many(masked, langs)
        for k, i in enumerate(present):
            found = hits[k]
            polarity = {a: round(v, 3) for a, v in mean_polarity(aspect_lists[k]).items()}
            out["language"][i] = langs[k]
            out["sentiment_label"][i] = sentiment.labels[k]
            out["sentiment_score"][i] = float(sentiment.scores[k])
            out["attitude_score"][i] = polarity.get("attitude")
            out["aspects"][i] = json.dumps(polarity, ensure_ascii=False) if polarity else None
            out["risk_words"][i] = (
                json.dumps(
                    [
                        {
                            "word": h.word,
                            "category": h.category,
                            "start": h.start,
                            "end": h.end,
                            "negated": bool(getattr(h, "negated", False)),
                        }
                        for h in found
                    ],
                    ensure_ascii=False,
                )
                if found
                else None
            )
            cats = sorted({h.category for h in found})
            out["risk_categories"][i] = ",".join(cats) if cats else None
            out["urgency"][i] = urgency(masked[k], found)
            out["masked_text"][i] = masked[k]
    frame = pd.DataFrame(out, columns=list(COLUMNS))
    if isinstance(texts, pd.Series):
        frame.index = texts.index
    return frame
