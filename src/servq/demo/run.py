"""Generate the demo files into a workspace and load each with its built-in profile."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from servq.workspace import Workspace

# file name in the manifest → built-in profile that reads it
DEMO_PROFILES = {
    "tickets": "tickets",
    "ticket_events": "case-events",
    "feedback": "feedback",
    "calls": "calls",
    "roster": "roster",
}


def run_demo(
    ws: Workspace, *, size: int = 5000, seed: int = 7, console: Console | None = None
) -> dict[str, Any]:
    from servq.demo.events import demo_policy_path
    from servq.demo.generator import generate_demo

    out = ws.path / "demo-input"
    if console:
        console.print(f"Generating demo data (size={size:,}, seed={seed}) into {out} ...")
    manifest = generate_demo(out, size=size, seed=seed)
    # the SLA of the demo's due_at, for `servq serve --policy demo-due` and `servq replay --demo`
    demo_policy_path(ws.path / "sla")
    results = []
    for name, profile in DEMO_PROFILES.items():
        path = manifest.files.get(name)
        if path is None:
            continue
        results.append(ws.ingest(path, profile))
    # the case facts metrics read, kept in the warehouse (later loads update them case by case)
    facts = ws.refresh_facts([None, "cn-office"])
    counts = ws.counts()
    if console:
        t = Table(title="Demo loaded 演示数据已导入")
        for col in ("file", "profile", "read", "loaded", "duplicates", "quarantined"):
            t.add_column(col, justify="left" if col in ("file", "profile") else "right")
        for r in results:
            t.add_row(
                r.source.rsplit("/", 1)[-1],
                r.profile,
                f"{r.read:,}",
                f"{r.loaded:,}",
                f"{r.duplicates:,}",
                f"{r.quarantined:,}",
            )
        console.print(t)
        w = Table(title=f"Warehouse 数据仓库 ({ws.path})")
        w.add_column("table")
        w.add_column("rows", justify="right")
        for table, n in counts.items():
            w.add_row(table, f"{n:,}")
        console.print(w)
        seconds = sum(f["seconds"] for f in facts)
        console.print(
            f"Case facts kept for metrics 案件事实表已预先计算 (calendar and cn-office business "
            f"time, {seconds:.1f} s; `servq metrics refresh`)"
        )
        console.print("Planted problems 预置问题 (later analyses must find them):")
        for p in manifest.planted:
            console.print(f"  • {p.title_en} / {p.title_zh} — {p.where}, {p.when}", highlight=False)
    return {
        "workspace": str(ws.path),
        "size": size,
        "seed": seed,
        "files": {k: str(v) for k, v in manifest.files.items()},
        "results": [r.to_dict() for r in results],
        "tables": counts,
        "facts": [{k: v for k, v in f.items() if k != "kept"} for f in facts],
        "planted": [p.id for p in manifest.planted],
    }
