"""On the demo, the text analysed at ingest finds the planted rude agent: the lowest attitude
score, the highest share of negative comments, and attitude as his top issue from the command
line. The generator documents about 40% of his feedback complaining about attitude against
about 5% for other agents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import servq
from servq.cli.main import app
from servq.demo.planted import RUDE_AGENT
from servq.demo.run import run_demo

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo-text") / "ws"
    with servq.open_workspace(path) as ws:
        run_demo(ws, size=3000, seed=7)
    return path


def test_the_rude_agent_has_the_worst_attitude_and_most_negative_comments(demo: Path) -> None:
    with servq.open_workspace(demo) as ws:
        m = ws.metrics(["attitude_sentiment", "negative_share"], by="agent").set_index("agent")
        feedback = ws.read("feedback")
    assert feedback["sentiment_label"].notna().sum() == feedback["text"].notna().sum()
    assert m["attitude_sentiment"].idxmin() == RUDE_AGENT
    assert m.loc[RUDE_AGENT, "attitude_sentiment"] < 0
    others = m.drop(index=RUDE_AGENT)
    assert m.loc[RUDE_AGENT, "negative_share"] > others["negative_share"].median() * 1.5


def test_text_issues_by_agent_puts_attitude_first_for_him(demo: Path) -> None:
    result = runner.invoke(
        app, ["text", "issues", "--workspace", str(demo), "--by", "agent", "--top", "1",
              "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {r["group"]: r for r in json.loads(result.output)}
    assert rows[RUDE_AGENT]["topic"] == "attitude"
    assert sum(r["topic"] == "attitude" for r in rows.values()) <= 3
