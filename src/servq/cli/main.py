"""The ``servq`` command line.

Owns: commands, their options and how results are printed (Rich tables for people, ``--json``
for scripts). Every command works on a workspace: ``--workspace DIR``, else ``SERVQ_WORKSPACE``,
else ``./servq-data``. Errors print one clear message and exit with status 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from servq import __version__
from servq.cli.alerts_cmd import alerts_app
from servq.cli.improve_cmd import improve_app
from servq.cli.loop_cmd import loop_app
from servq.cli.monitor_cmd import replay, serve, worker
from servq.cli.report_cmd import report_app
from servq.cli.rules_cmd import rules_app
from servq.cli.sla_cmd import sla_app
from servq.cli.text_cmd import text_app
from servq.cli.users_cmd import users_app
from servq.errors import DefinitionError, ServqError
from servq.ingest.engine import IngestResult
from servq.metrics.presets import Preset, Target, load_presets
from servq.workspace import Workspace, default_workspace_path

app = typer.Typer(
    name="servq",
    help="servq: monitor, analyse and improve service quality. 服务质量监测、分析与持续改进。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
quarantine_app = typer.Typer(
    help="Rejected rows and their reasons. 隔离区：被拒绝的行及原因。", no_args_is_help=True
)
profiles_app = typer.Typer(
    help="Mapping profiles for source files. 数据映射配置。", no_args_is_help=True
)
metrics_app = typer.Typer(help="The KPI catalogue. 指标目录与计算。", no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")
app.add_typer(sla_app, name="sla")
app.add_typer(alerts_app, name="alerts")
app.add_typer(improve_app, name="improve")
app.add_typer(report_app, name="report")
app.add_typer(rules_app, name="rules")
app.add_typer(text_app, name="text")
app.add_typer(users_app, name="users")
app.add_typer(loop_app, name="loop")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(profiles_app, name="profiles")
app.command()(serve)
app.command()(worker)
app.command()(replay)

# piped output is not cut to 80 columns: wide KPI tables stay readable in files and logs
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder [env SERVQ_WORKSPACE; ./servq-data]"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")]


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _open(workspace: Path | None, *, read_only: bool = False) -> Workspace:
    try:
        return Workspace(workspace or default_workspace_path(), read_only=read_only)
    except ServqError as exc:
        raise _fail(str(exc)) from None


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str, indent=2) + "\n")


def _result_table(results: list[IngestResult]) -> Table:
    t = Table(title="Ingest 导入结果")
    for col in ("file", "profile", "read", "loaded", "updated", "duplicates", "quarantined"):
        t.add_column(col, justify="right" if col not in ("file", "profile") else "left")
    for r in results:
        t.add_row(
            Path(r.source).name,
            r.profile,
            f"{r.read:,}",
            f"{r.loaded:,}",
            f"{r.updated:,}",
            f"{r.duplicates:,}",
            f"{r.quarantined:,}",
        )
    return t


def _print_result(r: IngestResult) -> None:
    console.print(_result_table([r]))
    console.print(f"batch [bold]{r.batch_id}[/] in {r.seconds:.2f}s", highlight=False)
    for table, counts in r.derived.items():
        console.print(
            f"derived {table}: {counts['loaded']:,} loaded, {counts['updated']:,} updated, "
            f"{counts['duplicates']:,} duplicates",
            highlight=False,
        )
    if r.quarantine_reasons:
        console.print("quarantined by reason 隔离原因:")
        for reason, n in r.quarantine_reasons.items():
            console.print(f"  {reason}: {n:,}", highlight=False)
        console.print(f"see: servq quarantine show {r.batch_id}", highlight=False)
    for w in r.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        console.print(f"servq {__version__}")
        raise typer.Exit()


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Files: CSV, TSV, XLSX, JSON, JSONL, Parquet, XES")
    ],
    profile: Annotated[str, typer.Option("--profile", "-p", help="Profile name or YAML path")],
    system: Annotated[
        str | None, typer.Option(help="Override the profile's source system (id namespace)")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load files into the warehouse. 导入数据文件。

    Bad rows go to the quarantine with a reason; loading the same file again loads nothing new.
    """
    results = []
    with _open(workspace) as ws:
        try:
            p = ws.profile(profile, system)
        except ServqError as exc:
            raise _fail(str(exc)) from None
        for path in paths:
            show = not as_json and sys.stderr.isatty()
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=err_console,
                disable=not show,
                transient=True,
            ) as bar:
                task = bar.add_task(path.name, total=None)

                def tick(done: int, total: int, task: Any = task, bar: Any = bar) -> None:
                    bar.update(task, completed=done, total=total or None)

                try:
                    r = ws.ingest(path, p, progress=tick)
                except ServqError as exc:
                    raise _fail(str(exc)) from None
            results.append(r)
            if not as_json:
                _print_result(r)
    if as_json:
        _print_json(results[0].to_dict() if len(results) == 1 else [r.to_dict() for r in results])


@quarantine_app.command("list")
def quarantine_list(
    workspace: WorkspaceOpt = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Include replayed rows.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Batches with quarantined rows, by reason. 按批次列出隔离行。"""
    with _open(workspace, read_only=True) as ws:
        q = ws.quarantine(include_resolved=all_rows)
    summary = (
        q.groupby(["batch_id", "profile", "source", "reason"]).size().reset_index(name="rows")
        if len(q)
        else q
    )
    if as_json:
        _print_json(summary.to_dict(orient="records") if len(q) else [])
        return
    if not len(q):
        console.print("The quarantine is empty. 隔离区为空。")
        return
    t = Table(title="Quarantine 隔离区")
    for col in ("batch", "profile", "file", "reason", "rows"):
        t.add_column(col)
    for row in summary.itertuples(index=False):
        t.add_row(
            str(row.batch_id),
            str(row.profile),
            Path(str(row.source)).name,
            str(row.reason),
            f"{row.rows:,}",
        )
    console.print(t)


@quarantine_app.command("show")
def quarantine_show(
    batch: Annotated[str, typer.Argument(help="Batch id (from `servq quarantine list`)")],
    workspace: WorkspaceOpt = None,
    limit: Annotated[int, typer.Option(help="Rows to show (0 = all)")] = 50,
    all_rows: Annotated[bool, typer.Option("--all", help="Include replayed rows.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Every rejected row of a batch with its reason. 显示某批次的隔离行及原因。"""
    with _open(workspace, read_only=True) as ws:
        q = ws.quarantine(batch, include_resolved=all_rows)
    if as_json:
        _print_json(q.to_dict(orient="records"))
        return
    if not len(q):
        console.print(f"No quarantined rows for batch {batch}.")
        return
    t = Table(title=f"Quarantine of {batch}: {len(q):,} row(s)")
    for col in ("row", "reason", "detail", "raw"):
        t.add_column(col, overflow="fold")
    shown = q if limit == 0 else q.head(limit)
    for row in shown.itertuples(index=False):
        raw = str(row.raw)
        t.add_row(
            str(row.row_number),
            str(row.reason),
            str(row.detail),
            raw if len(raw) <= 160 else raw[:157] + "...",
        )
    console.print(t)
    if limit and len(q) > limit:
        console.print(f"... {len(q) - limit:,} more; --limit 0 shows all, --json for scripts")


@quarantine_app.command("replay")
def quarantine_replay(
    batch: Annotated[str, typer.Argument(help="Batch id whose open quarantined rows to load")],
    profile: Annotated[str, typer.Option("--profile", "-p", help="Profile name or YAML path")],
    system: Annotated[str | None, typer.Option(help="Override the profile's source system")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load a batch's quarantined rows again with a fixed profile. 用修正后的配置重新导入隔离行。"""
    with _open(workspace) as ws:
        try:
            r = ws.replay(batch, profile, system=system)
        except ServqError as exc:
            raise _fail(str(exc)) from None
    if as_json:
        _print_json(r.to_dict())
    else:
        _print_result(r)


@profiles_app.command("list")
def profiles_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Built-in and workspace mapping profiles. 列出映射配置。"""
    with _open(workspace) as ws:
        entries = ws.profiles.entries()
        problems = ws.profiles.problems
    if as_json:
        _print_json(
            [
                {
                    "name": e.profile.name,
                    "target": e.profile.target,
                    "origin": e.origin,
                    "title_en": e.profile.title_en,
                    "title_zh": e.profile.title_zh,
                }
                for e in entries
            ]
        )
        return
    t = Table(title="Mapping profiles 映射配置")
    for col in ("name", "target", "title", "标题", "origin"):
        t.add_column(col)
    for e in entries:
        p = e.profile
        t.add_row(p.name, p.target, p.title_en, p.title_zh, e.origin)
    console.print(t)
    for prob in problems:
        err_console.print(f"[yellow]skipped:[/] {prob}", highlight=False, soft_wrap=True)


@profiles_app.command("show")
def profiles_show(
    name: Annotated[str, typer.Argument(help="Profile name or YAML path")],
    workspace: WorkspaceOpt = None,
) -> None:
    """A profile's full definition as YAML. 显示映射配置。"""
    import yaml

    with _open(workspace) as ws:
        try:
            p = ws.profile(name)
        except ServqError as exc:
            raise _fail(str(exc)) from None
    data = p.model_dump(mode="json", exclude_defaults=True)
    console.print(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), highlight=False)


@profiles_app.command("validate")
def profiles_validate(
    files: Annotated[list[Path], typer.Argument(help="Profile YAML files")],
) -> None:
    """Check profile files; every problem is listed with file, line and field. 校验映射配置。"""
    from servq.ingest.profile import load_profile_file

    failed = False
    for f in files:
        try:
            p = load_profile_file(f)
        except DefinitionError as exc:
            failed = True
            for prob in exc.problems:
                err_console.print(f"[red]{prob}[/]", highlight=False, soft_wrap=True)
            continue
        console.print(f"{f}: ok (profile '{p.name}', target {p.target})", highlight=False)
    if failed:
        raise typer.Exit(code=1)


@app.command()
def status(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Rows per warehouse table and the latest batches. 数据仓库状态。"""
    with _open(workspace, read_only=True) as ws:
        counts = ws.counts()
        batches = ws.batches().tail(10)
    if as_json:
        _print_json({"workspace": str(ws.path), "tables": counts})
        return
    t = Table(title=f"Warehouse 数据仓库: {ws.path}")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in counts.items():
        t.add_row(name, f"{n:,}")
    console.print(t)
    if len(batches):
        b = Table(title="Latest batches 最近批次")
        for col in ("batch", "profile", "file", "read", "loaded", "dup", "quar."):
            b.add_column(col)
        for row in batches.itertuples(index=False):
            b.add_row(
                str(row.batch_id),
                str(row.profile),
                Path(str(row.source)).name,
                f"{row.read:,}",
                f"{row.loaded:,}",
                f"{row.duplicates:,}",
                f"{row.quarantined:,}",
            )
        console.print(b)


@app.command()
def demo(
    size: Annotated[int, typer.Option(help="Number of tickets to generate")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data")] = 7,
    alerts: Annotated[
        bool,
        typer.Option(
            "--alerts/--no-alerts",
            help="Replay the ticket log through the monitor so the alert centre has the "
            "period's SLA alerts (once per workspace).",
        ),
    ] = True,
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the dashboard on the demo data.")
    ] = False,
    port: Annotated[int, typer.Option(help="Port for --serve.")] = 8420,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate a realistic demo data set and load it. 生成并导入演示数据。"""
    from servq.demo.alerts import ensure_demo_users, load_demo_alerts
    from servq.demo.run import run_demo

    ws = _open(workspace)
    folder = ws.path
    try:
        summary = run_demo(ws, size=size, seed=seed, console=None if as_json else console)
    except ServqError as exc:
        raise _fail(str(exc)) from None
    finally:
        ws.close()
    try:
        if alerts:
            if not as_json:
                console.print("Replaying the ticket log through the monitor… 回放工单日志生成预警…")
            report = load_demo_alerts(folder)
            if report is not None:
                summary["alerts"] = report.alerts
            from servq.demo.loop import load_demo_loop

            story = load_demo_loop(folder)
            if story is not None:
                summary["improvement"] = story
        users = ensure_demo_users(folder)
    except ServqError as exc:
        raise _fail(str(exc)) from None
    summary["users"] = [{"username": u, "password": p, "role": r} for u, p, r in users]
    if as_json:
        _print_json(summary)
    else:
        if "alerts" in summary:
            console.print(f"{summary['alerts']:,} demo alerts in the alert centre · 演示预警已生成")
        if "improvement" in summary:
            story = summary["improvement"]
            v = story["verdict"]
            console.print(
                f"Improvement loop: problem {story['problem']} → plan {story['plan']} verified "
                f"({v['metric']} {v['before']:,.0f} s → {v['after']:,.0f} s, "
                f"{100 * v['effect']:+.1f}%) · 改进闭环演示",
                highlight=False,
            )
        t = Table(title="Demo users 演示用户")
        for col in ("user", "password", "role"):
            t.add_column(col)
        for u, p, r in users:
            t.add_row(u, p, r)
        console.print(t)
        where = "" if workspace is None else f" -w {folder}"
        # the command as this one was started (.venv/bin/servq from `make demo`)
        exe = sys.argv[0] if Path(sys.argv[0]).name == "servq" else "servq"
        console.print(
            f"Dashboard 仪表盘: [bold]{exe} serve{where}[/bold] → http://127.0.0.1:{port}/ "
            "(sign in as admin / admin-demo-2025)",
            highlight=False,
        )
    if serve:
        from servq.cli.monitor_cmd import serve as serve_cmd

        serve_cmd(workspace=folder, port=port, policy=["demo-due"])


def _parse_where(text: str | None) -> dict[str, Any]:
    """``team=A,B;priority=high;score>=4`` → a metrics filter mapping."""
    out: dict[str, Any] = {}
    if not text:
        return out
    ops = (">=", "<=", "!=", ">", "<", "=")
    names = {">=": "gte", "<=": "lte", "!=": "ne", ">": "gt", "<": "lt"}
    for part in (p.strip() for p in text.replace(" and ", ";").split(";")):
        if not part:
            continue
        op = next((o for o in ops if o in part), None)
        if op is None:
            raise _fail(f"cannot read filter '{part}': use column=value, column>=number, ...")
        col, value = (x.strip() for x in part.split(op, 1))
        if op == "=":
            out[col] = value.split(",") if "," in value else value
        else:
            num: Any = float(value) if _is_number(value) else value
            out.setdefault(col, {})[names[op]] = num
    return out


def _preset(name: str) -> Preset:
    presets = load_presets()
    if name not in presets:
        raise ServqError(f"no preset '{name}'; presets: {', '.join(sorted(presets))}")
    return presets[name]


@metrics_app.command("presets")
def metrics_presets(as_json: JsonOpt = False) -> None:
    """Industry presets: metrics, dashboard, targets, calendar. 行业预设。"""
    try:
        presets = load_presets()
    except ServqError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json([p.model_dump(mode="json") for p in presets.values()])
        return
    t = Table(title="Industry presets 行业预设", caption="servq metrics list --preset NAME")
    for col in ("preset", "title", "名称", "calendar", "own metrics", "dashboard"):
        t.add_column(col)
    for p in presets.values():
        t.add_row(
            p.preset,
            p.title_en,
            p.title_zh,
            p.calendar,
            str(len(p.metrics)),
            str(len(p.dashboard)),
        )
    console.print(t)


@metrics_app.command("list")
def metrics_list(
    workspace: WorkspaceOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    preset: Annotated[
        str | None,
        typer.Option(help="Only what an industry preset watches, in its order, with targets"),
    ] = None,
) -> None:
    """Every metric with its Chinese and English names. 列出所有指标。"""
    with _open(workspace) as ws:
        try:
            entries = ws.catalogue.entries()
            chosen = _preset(preset) if preset else None
        except ServqError as exc:
            raise _fail(str(exc)) from None
    targets: dict[str, Target] = {}
    if chosen is not None:
        by_id = {e.spec.id: e for e in entries}
        entries = [by_id[m] for m in chosen.dashboard]
        targets = chosen.targets
    if fmt == "json":
        _print_json(
            [
                e.spec.model_dump(mode="json")
                | {"origin": e.origin}
                | ({"target": targets[e.spec.id].model_dump()} if e.spec.id in targets else {})
                for e in entries
            ]
        )
        return
    if chosen is None:
        t = Table(title="Metric catalogue 指标目录")
    else:
        t = Table(
            title=f"{chosen.title_en} {chosen.title_zh}",
            caption=f"durations in business time: --calendar {chosen.calendar}",
        )
    cols = ["id", "name", "名称", "unit", "better", "SERVQUAL", "source"]
    for col in cols + (["target", "warn"] if chosen is not None else []):
        t.add_column(col)
    for e in entries:
        m = e.spec
        better = {"higher_is_better": "↑", "lower_is_better": "↓", "neutral": "·"}[m.direction]
        row = [m.id, m.name_en, m.name_zh, m.unit, better, m.servqual, m.source]
        if chosen is not None:
            goal = targets.get(m.id)
            if goal is None:
                row += ["", ""]
            else:
                row += [f"{goal.target:,.10g}", "" if goal.warn is None else f"{goal.warn:,.10g}"]
        t.add_row(*row)
    console.print(t)


@metrics_app.command("describe")
def metrics_describe(
    metric: Annotated[str, typer.Argument(help="Metric id")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A metric's definition, formula, unit and source. 指标定义。"""
    with _open(workspace) as ws:
        try:
            m = ws.catalogue.get(metric)
        except ServqError as exc:
            raise _fail(str(exc)) from None
    if as_json:
        _print_json(m.model_dump(mode="json"))
        return
    lines = [
        f"[bold]{m.id}[/]  {m.name_en} / {m.name_zh}",
        f"definition: {m.definition_en or m.name_en}",
        f"定义: {m.definition_zh or m.name_zh}",
        f"formula: {m.formula_text or m.formula}",
        f"computed as: {m.formula} over measures "
        + "; ".join(
            f"{k} = {v.agg}({v.column or '*'}){' where ' + str(v.filter) if v.filter else ''}"
            for k, v in m.measures.items()
        ),
        f"unit: {m.unit}; direction: {m.direction.replace('_', ' ')}; SERVQUAL: {m.servqual}",
        f"source: {m.source}; time column: {m.time}"
        + (f"; filter: {m.filter}" if m.filter else ""),
    ]
    if m.stats:
        lines.append("statistics: " + ", ".join(m.stats))
    if m.params:
        lines.append("parameters: " + ", ".join(f"{k}={v:g}" for k, v in m.params.items()))
    if m.variant:
        lines.append(f"variant: {m.variant}")
    if m.business_time:
        lines.append("business time with --calendar NAME")
    for line in lines:
        console.print(line, highlight=False)


@metrics_app.command("refresh")
def metrics_refresh(
    calendar: Annotated[
        list[str] | None,
        typer.Option(help="Also build business-time facts on this calendar (repeatable)"),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Drop the kept facts instead")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the case facts now, so metric queries skip the event log. 预先计算案件事实表。

    Queries build them on their own after data changes; run this after a load (or from cron)
    so that the first query afterwards is fast too."""
    with _open(workspace) as ws:
        if clear:
            from servq.metrics import factcache

            n = factcache.clear(ws.warehouse)
            if as_json:
                _print_json({"dropped": n})
            else:
                console.print(f"dropped {n} fact table(s)")
            return
        try:
            results = ws.refresh_facts([None, *(calendar or [])])
        except (ServqError, ValueError) as exc:
            raise _fail(str(exc)) from None
    if as_json:
        _print_json(results)
        return
    for r in results:
        clock = f"business time ({r['calendar']})" if r["calendar"] else "calendar time"
        state = "built" if r["built"] else "already current"
        console.print(f"{clock}: {state} in {r['seconds']:.2f} s")
    for k in results[-1]["kept"] if results else []:
        console.print(f"  {k['name']}: {k['rows']:,} cases, built {k['built_at']:%Y-%m-%d %H:%M}")


@metrics_app.command("compute")
def metrics_compute(
    metrics: Annotated[list[str], typer.Argument(help="Metric ids")],
    by: Annotated[str | None, typer.Option(help="Dimensions, comma-separated: team,site")] = None,
    grain: Annotated[
        str | None, typer.Option(help="hour, day, week, month, quarter or year")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="First date (inclusive)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last date (inclusive)")] = None,
    where: Annotated[
        str | None, typer.Option(help="Filter: 'channel=phone,chat;priority=high'")
    ] = None,
    calendar: Annotated[
        str | None, typer.Option(help="Business calendar for durations, e.g. cn-office")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="Zone for periods and dates (default: calendar's, else UTC)")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="Override a metric parameter: threshold_seconds=30")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or parquet")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Compute metrics by dimensions and time grain. 按维度与时间粒度计算指标。"""
    if grain is not None and grain not in ("hour", "day", "week", "month", "quarter", "year"):
        raise _fail(f"unknown grain '{grain}': use hour, day, week, month, quarter or year")
    params: dict[str, float] = {}
    for item in param or []:
        key, _, value = item.partition("=")
        try:
            params[key.strip()] = float(value)
        except ValueError:
            raise _fail(f"cannot read parameter '{item}': use name=number") from None
    with _open(workspace, read_only=True) as ws:
        try:
            df = ws.metrics(
                metrics,
                by=[d.strip() for d in by.split(",")] if by else (),
                grain=grain,  # type: ignore[arg-type]
                start=start,
                end=end,
                where=_parse_where(where),
                calendar=calendar,
                timezone=timezone,
                params=params,
            )
        except (ServqError, ValueError) as exc:
            raise _fail(str(exc)) from None
    if fmt == "parquet":
        if output is None:
            raise _fail("--format parquet needs --output FILE")
        df.to_parquet(output, index=False)
        console.print(f"wrote {len(df):,} rows to {output}")
        return
    if fmt == "csv":
        text = df.to_csv(index=False)
    elif fmt == "json":
        text = (
            json.dumps(
                json.loads(df.to_json(orient="records", date_format="iso", force_ascii=False)),
                ensure_ascii=False,
                indent=2,
            )
            + "\n"
        )
    elif fmt == "table":
        t = Table(title="Metrics 指标")
        for col in df.columns:
            t.add_column(str(col), justify="right" if df[col].dtype.kind in "fi" else "left")
        for row in df.itertuples(index=False):
            t.add_row(*(_cell(v) for v in row))
        console.print(t)
        return
    else:
        raise _fail(f"unknown format '{fmt}': use table, csv, json or parquet")
    if output is not None:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {len(df):,} rows to {output}")
    else:
        sys.stdout.write(text)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if hasattr(v, "strftime"):
        return str(
            v.strftime("%Y-%m-%d %H:%M") if getattr(v, "hour", 0) else v.strftime("%Y-%m-%d")
        )
    return str(v)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
