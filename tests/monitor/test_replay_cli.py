"""``servq replay``: a hand-made event file through the monitor, deadlines worked out by hand.

``standard`` (cn-office, 09:00–12:00 and 13:30–18:00 Beijing time) gives an urgent case 30 min
to a first reply and 4 business hours to resolution. C-1, created Monday 3 March 2025 09:00,
is answered at 09:10 and solved at 15:00: its resolution is due at 14:30 (09:00–12:00 is 3 h,
then 13:30–14:30), with the warning at 80% (3 h 12 min: 13:42). C-2 is answered and solved
within its targets. One line is not an event at all.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from servq.cli.main import app

runner = CliRunner()

EVENTS = [
    {"event_id": "1", "type": "case_created", "case_id": "C-1", "priority": "urgent",
     "timestamp": "2025-03-03T09:00:00+08:00"},
    {"event_id": "2", "type": "agent_replied", "case_id": "C-1", "agent": "li",
     "timestamp": "2025-03-03T09:10:00+08:00"},
    {"event_id": "3", "type": "case_resolved", "case_id": "C-1",
     "timestamp": "2025-03-03T15:00:00+08:00"},
    {"event_id": "4", "type": "case_created", "case_id": "C-2", "priority": "urgent",
     "timestamp": "2025-03-03T10:00:00+08:00"},
    {"event_id": "5", "type": "agent_replied", "case_id": "C-2", "agent": "li",
     "timestamp": "2025-03-03T10:05:00+08:00"},
    {"event_id": "6", "type": "case_resolved", "case_id": "C-2",
     "timestamp": "2025-03-03T11:00:00+08:00"},
]  # fmt: skip


def test_replay_raises_the_breach_worked_out_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(e) for e in EVENTS] + ['{"event_id": "7", "type": "case_created"}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(
        app, ["replay", str(path), "--workspace", str(tmp_path / "ws"), "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["events"], out["rejected"]) == (7, 1)
    # one alert: C-1's resolution, opened by the 13:42 warning and raised to a breach at 14:30
    assert out["alerts"] == 1
    assert out["by_kind"] == {"sla_breach": 1}
    assert out["by_rule"] == {"sla.standard.resolution": 1}
    assert out["per_day"] == {"2025-03-03": 1}
    # the live workspace store is untouched: the replay used a store of its own
    assert not (tmp_path / "ws" / "app.db").exists()


def test_replay_errors_are_one_line(tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    result = runner.invoke(app, ["replay", *ws])
    assert result.exit_code == 2 and "either an events file or --demo" in result.output
    result = runner.invoke(app, ["replay", "--demo", *ws])
    assert result.exit_code == 2 and "run `servq demo` first" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event_id": "1"}\nnot json\n', encoding="utf-8")
    result = runner.invoke(app, ["replay", str(bad), *ws])
    assert result.exit_code == 2 and "bad.jsonl:2: not JSON" in result.output
