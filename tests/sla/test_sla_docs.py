"""docs/sla.md is tested: a policy field, state, target or built-in policy it does not mention
fails, and its example policy must be valid."""

from __future__ import annotations

from pathlib import Path

from servq.sla import STATES, TARGETS, Rule, SlaPolicy, builtin_policies, parse_policy

DOC = Path(__file__).resolve().parents[2] / "docs" / "sla.md"


def test_every_field_state_and_target_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in [*SlaPolicy.model_fields, *Rule.model_fields, *STATES, *TARGETS]:
        assert f"| `{name}` |" in text, f"docs/sla.md does not document {name}"


def test_every_builtin_policy_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in builtin_policies():
        assert f"| `{name}` |" in text, f"docs/sla.md does not list policy {name}"


def test_the_documented_example_is_a_valid_policy() -> None:
    text = DOC.read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    policy = parse_policy(example, "docs/sla.md")
    assert policy.rules[-1].is_default
