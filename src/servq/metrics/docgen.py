"""Write ``docs/metrics.md`` from the catalogue, so the docs cannot drift from the definitions.

Run ``make docs`` (``python -m servq.metrics.docgen docs/metrics.md``); a test fails when the
committed file differs from what this prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

from servq.metrics.catalogue_registry import Catalogue
from servq.metrics.presets import ORIGIN as PRESETS

HEAD = """# The KPI catalogue / 指标目录

Every metric servq computes, as declared in `src/servq/metrics/catalogue/*.yaml` (this page is
generated from them by `make docs`). `servq metrics describe ID` prints one in full. Durations
are calendar time, or business time with `--calendar NAME`; duration metrics also give their
median, p90 and p95 as extra columns (`first_reply_time_p90`).

每个指标的中英文名称、定义与计算方法。时长类指标默认按自然时间计算，加 `--calendar` 按业务日历计算。

## How a metric is computed / 计算方式

A metric is one or more **measures** — an aggregate (`count`, `sum`, `mean`, `median`, `p50`,
`p90`, `p95`, `min`, `max`, `count_distinct`) of a fact column over the rows that pass a filter —
combined by a **formula** (`100 * good / rated`). A division by zero gives no value (null), never
an error. Rows are placed in periods by the metric's `time` column, in the time zone given
(`--timezone`, else the calendar's, else UTC). `--from`/`--to` are dates in that zone, both
inclusive. **Snapshot** metrics (backlog, overdue) count what is open at the *end* of each
period, and never look past the newest data.

Fact columns are documented in `src/servq/metrics/facts.py`: for example `first_reply_at` is the
case's own value, else the first agent reply in its event log, else its first move to `open`;
for a case an agent created, the first reply is the second agent reply; bots are never agents.

## Kept case facts / 案件事实表

Case metrics that read the event log (replies, status moves, time per status, next replies,
repeats) read one row of **case facts** per case. Building them orders the whole event log, so
servq builds them once per data version and clock and reuses them for every metric, dimension,
grain and filter:

- `servq metrics refresh [--calendar cn-office]` builds them now and keeps them in the
  warehouse file; `servq serve` does it as it starts. Every later query, in any process, reads
  them while they are current (`--clear` drops them).
- A query that finds no current facts builds its own in memory (reused by the same process, for
  example the dashboard server); a reading query never writes to the warehouse.
- "Current" means built from exactly the rows now stored: each query compares a fingerprint of
  `case`, `case_event`, `feedback` and `interaction` (row count, XOR of row hashes, latest
  ingest time) and the schema version. Every load, replay and live copy changes it. A
  hand-written SQL `UPDATE` that changes neither `row_hash` nor `ingested_at` does not: run
  `servq metrics refresh --clear` after one.
- Business-time facts are kept per calendar (and per the calendar's definition); a new servq
  version with changed fact definitions ignores facts built by the old one.
- A load that only adds rows updates kept facts case by case (the cases it touched and their
  customer's other cases of the same category); a load that changes stored rows rebuilds them.
- On PostgreSQL (docs/postgres.md) nothing is kept: each query computes the facts there.

常用的案件事实（首次回复、状态时长、重开等）按数据版本与日历计算一次并保存；数据一变即自动失效重算。

## Add your own / 自定义指标

Put a file in `<workspace>/metrics/*.yaml`:

```yaml
metrics:
  - id: urgent_open_share
    name_en: Urgent cases still open
    name_zh: 紧急工单未结比例
    unit: percent
    direction: lower_is_better
    servqual: responsiveness
    source: case
    time: created_at
    filter: {priority: urgent}
    measures:
      open: {agg: count, filter: {is_closed: false}}
      all: {agg: count}
    formula: 100 * open / all
```

Errors name the file, line and field of every problem.

## The metrics / 指标

| id | name | 名称 | unit | better | source | definition |
|---|---|---|---|---|---|---|
"""

TAIL = """
Phantom calls (no caller on the line) are never offered. A short abandon is an abandon with
less than `short_abandon_seconds` (default 5) of queue wait.
"""


def catalogue_markdown(catalogue: Catalogue | None = None) -> str:
    cat = catalogue or Catalogue()
    # industry presets' own metrics are documented in docs/presets.md
    entries = [e for e in cat.entries() if not e.origin.startswith(PRESETS)]
    rows = []
    for e in entries:
        m = e.spec
        better = {"higher_is_better": "higher", "lower_is_better": "lower", "neutral": "—"}[
            m.direction
        ]
        text = (m.definition_en or m.formula_text or m.name_en).replace("|", "\\|")
        if m.params:
            text += " Parameters: " + ", ".join(f"`{k}`={v:g}" for k, v in m.params.items()) + "."
        rows.append(
            f"| `{m.id}` | {m.name_en} | {m.name_zh} | {m.unit} | {better} | {m.source} | {text} |"
        )
    levels = [
        f"| `{e.spec.id}` | {e.spec.formula_text} |"
        for e in entries
        if e.spec.id.startswith("service_level")
    ]
    return (
        HEAD
        + "\n".join(rows)
        + "\n\n## The five service-level formulas / 服务水平的五种口径\n\n"
        + 'Call centres use five different denominators for "answered within Y seconds"; servq\n'
        + "computes each under its own id, with Y = `threshold_seconds` (default 20; change it\n"
        + "with `--param threshold_seconds=30`):\n\n| id | formula |\n|---|---|\n"
        + "\n".join(levels)
        + "\n"
        + TAIL
    )


def main() -> None:
    text = catalogue_markdown()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
