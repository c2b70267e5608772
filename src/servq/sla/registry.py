"""Where SLA policies come from: the built-ins, a workspace's ``sla/`` folder, a file.

Owns: finding a policy by name or path. As with calendars, two policies with the same name are
refused, not ranked: asking for a duplicated name is an error naming both files, so a user file
never silently shadows a built-in policy and targets never change unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from servq.registry import DefinitionRegistry
from servq.sla.model import SlaPolicy, load_policy_file, parse_policy

POLICY_FOLDER = "sla"
CALENDAR_FOLDER = "calendars"


@dataclass(frozen=True)
class PolicyEntry:
    policy: SlaPolicy
    origin: str  # "built-in" or the file path


@cache
def _builtins() -> tuple[PolicyEntry, ...]:
    found: list[PolicyEntry] = []
    files = resources.files("servq.sla.builtin").iterdir()
    for entry in sorted(files, key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            text = entry.read_text(encoding="utf-8")
            found.append(PolicyEntry(parse_policy(text, f"servq:sla/{entry.name}"), "built-in"))
    return tuple(found)


def builtin_policies() -> dict[str, PolicyEntry]:
    """The policies shipped with servq, by name."""
    return {e.policy.name: e for e in _builtins()}


class PolicyRegistry(DefinitionRegistry[SlaPolicy, PolicyEntry]):
    """Built-in policies plus any ``*.yaml`` in ``folders``; names must be unique.

    ``calendar_folders`` is where the policies' calendars are looked for besides the built-ins.
    """

    kind, plural = "SLA policy", "policies"

    def __init__(
        self,
        folders: Sequence[Path] | None = None,
        *,
        calendar_folders: Sequence[Path] | None = None,
    ) -> None:
        self.calendar_folders = list(calendar_folders or [])
        super().__init__(_builtins(), folders)

    @classmethod
    def for_workspace(cls, path: Path) -> PolicyRegistry:
        """Built-ins plus ``<workspace>/sla/*.yaml``, with ``<workspace>/calendars``."""
        return cls([path / POLICY_FOLDER], calendar_folders=[path / CALENDAR_FOLDER])

    def load_file(self, path: Path) -> SlaPolicy:
        return load_policy_file(path, calendar_folders=self.calendar_folders)

    def entry(self, item: SlaPolicy, origin: str) -> PolicyEntry:
        return PolicyEntry(item, origin)

    def value(self, entry: PolicyEntry) -> SlaPolicy:
        return entry.policy

    def origin(self, entry: PolicyEntry) -> str:
        return entry.origin

    def name_of(self, item: SlaPolicy) -> str:
        return item.name


def load_policy(
    name_or_path: str | Path | SlaPolicy,
    folders: Sequence[Path] | None = None,
    *,
    calendar_folders: Sequence[Path] | None = None,
) -> SlaPolicy:
    """A built-in policy, one from ``folders`` (e.g. ``<workspace>/sla``), or a file.

    Raises DefinitionError when the name is defined twice or its file has problems.
    """
    if isinstance(name_or_path, SlaPolicy):
        return name_or_path
    return PolicyRegistry(folders, calendar_folders=calendar_folders).get(name_or_path)
