"""``servq text``: analyse texts in a file, train and evaluate classifiers, top issues.

Owns: the command-line surface of :mod:`servq.text`. Shares ``--workspace`` and the one-line
error (exit status 2) with ``servq.cli.sla_cmd``.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from servq.cli.common import WorkspaceOpt
from servq.cli.common import fail as _fail
from servq.errors import ServqError
from servq.workspace import default_workspace_path

text_app = typer.Typer(
    help="Text analytics: sentiment, aspects, risk words, masking, issues. 文本分析。",
    no_args_is_help=True,
)

FormatOpt = Annotated[str, typer.Option("--format", help="table, csv or json.")]


def _read_table(path: Path) -> pd.DataFrame:
    """Any file ``servq ingest`` reads (CSV in any encoding, Excel, JSON, Parquet), as text."""
    import pyarrow as pa

    from servq.ingest.readers.base import ReadOptions, ReadStats
    from servq.ingest.readers.registry import reader_for

    stats = ReadStats()
    batches = list(reader_for(path).read(path, ReadOptions(), stats))
    if not batches:
        return pd.DataFrame()
    frame: pd.DataFrame = pa.Table.from_batches(batches).to_pandas()
    return frame.drop(columns=[c for c in frame.columns if c.startswith("_")], errors="ignore")


def _emit(frame: pd.DataFrame, fmt: str, output: Path | None, title: str) -> None:
    if fmt not in ("table", "csv", "json"):
        raise ServqError(f"--format {fmt}: use table, csv or json")
    if fmt == "csv":
        text = frame.to_csv(index=False)
    elif fmt == "json":
        text = frame.to_json(orient="records", force_ascii=False, indent=1) + "\n"
    else:
        if output is not None:
            raise ServqError("--output needs --format csv or json")
        table = Table(title=title)
        for col in frame.columns:
            table.add_column(str(col), overflow="fold")
        for row in frame.itertuples(index=False):
            table.add_row(*(_cell(v) for v in row))
        Console().print(table)
        return
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _cell(value: Any) -> str:
    """A table cell: empty for a missing value, scores to three decimals (csv and json keep
    every digit)."""
    if _missing(value):
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


@text_app.command("analyze")
def analyze_cmd(
    path: Annotated[Path, typer.Argument(help="CSV, Excel, JSON(L) or Parquet file.")],
    column: Annotated[str, typer.Option("--column", "-c", help="The text column.")],
    lang: Annotated[str, typer.Option(help="auto, zh or en.")] = "auto",
    fmt: FormatOpt = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
    keep: Annotated[
        list[str] | None, typer.Option("--keep", help="Input column to keep (repeatable).")
    ] = None,
) -> None:
    """Sentiment, aspects, risk words, urgency and masked text of every row, in order.
    逐行分析：情感、方面、风险词、紧急度、脱敏文本。"""
    from servq.text.analyze import analyze

    try:
        if lang not in ("auto", "zh", "en"):
            raise ServqError(f"--lang {lang}: use auto, zh or en")
        frame = _read_table(path)
        if column not in frame.columns:
            have = ", ".join(map(str, frame.columns)) or "none"
            raise ServqError(f"{path}: no column '{column}' (columns: {have})")
        found = analyze(frame[column].tolist(), lang=lang)
        kept = frame[list(keep or [])] if keep else pd.DataFrame(index=frame.index)
        missing = [k for k in keep or [] if k not in frame.columns]
        if missing:
            raise ServqError(f"{path}: no column {', '.join(missing)} to keep")
        out = pd.concat([kept.reset_index(drop=True), found.reset_index(drop=True)], axis=1)
        if fmt == "table":
            out = out.drop(columns=["risk_words"])
        _emit(out, fmt, output, f"Text analysis 文本分析 ({len(out):,} rows)")
    except (ServqError, ValueError) as exc:
        raise _fail(str(exc)) from None


@text_app.command("train")
def train_cmd(
    data: Annotated[Path, typer.Option("--data", help="Labelled CSV, TSV or JSON lines.")],
    text_column: Annotated[str, typer.Option(help="Column with the text.")] = "text",
    label_column: Annotated[str, typer.Option(help="Column with the label.")] = "label",
    lang: Annotated[str | None, typer.Option(help="zh or en [detected].")] = None,
    test_size: Annotated[float, typer.Option(help="Share held out for the report.")] = 0.2,
    out: Annotated[
        Path | None, typer.Option("--out", help="Model file [<workspace>/models/<data>.npz].")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Train a classifier on your own labelled texts and print its evaluation.
    用自有标注数据训练分类模型并输出评估报告。"""
    from servq.text.sentiment import train_from_file

    try:
        model, report = train_from_file(
            data, text_column, label_column, lang=lang, test_size=test_size
        )
        target = out or (workspace or default_workspace_path()) / "models" / f"{data.stem}.npz"
        target.parent.mkdir(parents=True, exist_ok=True)
        saved = model.save(target)
    except (ServqError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps({"model": str(saved), **report.to_dict()}, ensure_ascii=False))
        return
    held = f"held-out {test_size:.0%}" if test_size > 0 else "training rows"
    print(f"Evaluation on the {held} · 评估:")
    print(report.as_text())
    print(f"model written to {saved} · 模型已保存")


@text_app.command("evaluate")
def evaluate_cmd(
    data: Annotated[Path, typer.Option("--data", help="Labelled CSV, TSV or JSON lines.")],
    model: Annotated[
        str,
        typer.Option(
            help="'sentiment': the labels servq gives (positive, negative, neutral; language "
            "per text); or a shipped model (sentiment-zh, opinion-en, ...) or a model file."
        ),
    ] = "sentiment",
    text_column: Annotated[str, typer.Option(help="Column with the text.")] = "text",
    label_column: Annotated[str, typer.Option(help="Column with the label.")] = "label",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Accuracy, macro-F1 and the confusion matrix of a model on labelled texts. With
    ``--model sentiment`` (the default), the labels servq itself gives, neutral included.
    评估模型：准确率、宏平均 F1、混淆矩阵；默认评估 servq 实际给出的情感标签（含中性）。"""
    from servq.text.sentiment import (
        MODELS,
        TextClassifier,
        evaluate,
        evaluate_predictions,
        load_model,
        predict_sentiment,
        read_labelled_file,
    )

    try:
        texts, labels = read_labelled_file(data, text_column, label_column)
        if model == "sentiment":
            predicted = predict_sentiment(texts).labels
            report = evaluate_predictions([str(x) for x in labels], predicted)
        else:
            clf = load_model(model) if model in MODELS else TextClassifier.load(Path(model))
            report = evaluate(clf, texts, labels)
    except (ServqError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print(report.as_text())


@text_app.command("issues")
def issues_cmd(
    start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD).")] = None,
    by: Annotated[
        str | None, typer.Option(help="Group by site, team, agent, channel or survey.")
    ] = None,
    top: Annotated[int, typer.Option(help="Issues per group.")] = 10,
    negative_only: Annotated[
        bool, typer.Option("--negative-only", help="Only negative feedback.")
    ] = False,
    tz: Annotated[str, typer.Option("--tz", help="Time zone of days and weeks.")] = (
        "Asia/Shanghai"
    ),
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """High-frequency issues in the feedback: topics, counts, examples, weekly trend, and
    what is newly emerging. 高频问题：主题、数量、示例、趋势与新发问题。"""
    from servq.text.issues import top_issues
    from servq.workspace import open_workspace

    try:
        for day in (start, end):
            if day is not None:
                date.fromisoformat(day)
        if by is not None and by not in ("site", "team", "agent", "channel", "survey"):
            raise ServqError(f"--by {by}: use site, team, agent, channel or survey")
        with open_workspace(workspace or default_workspace_path(), read_only=True) as ws:
            feedback = ws.read("feedback")
        if feedback.empty:
            raise ServqError("no feedback in the warehouse: ingest some first")
        found = top_issues(
            feedback,
            by=by,
            start=start,
            end=end,
            top=top,
            negative_only=negative_only,
            tz=tz,
        )
    except (ServqError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if fmt == "table":
        shown = [c for c in found.columns if c not in ("trend", "phrases")]
        found = found[shown]
    _emit(found, fmt, None, "Top issues 高频问题")
