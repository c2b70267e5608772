"""Where calendars come from: the built-ins, a workspace's ``calendars/`` folder, a file.

Owns: the built-in calendars and finding a calendar by name or path, through the registry every
kind of definition shares (``servq.registry``): a name defined twice is an error naming both
files, so business hours never change unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from servq.calendar.model import CalendarSpec, load_calendar_file, parse_calendar
from servq.registry import DefinitionRegistry


@dataclass(frozen=True)
class CalendarEntry:
    calendar: CalendarSpec
    origin: str  # "built-in" or the file path


@cache
def _builtins() -> tuple[CalendarEntry, ...]:
    found: list[CalendarEntry] = []
    files = resources.files("servq.calendar.builtin").iterdir()
    for entry in sorted(files, key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            text = entry.read_text(encoding="utf-8")
            found.append(
                CalendarEntry(parse_calendar(text, f"servq:calendars/{entry.name}"), "built-in")
            )
    return tuple(found)


def builtin_calendars() -> dict[str, CalendarEntry]:
    """The calendars shipped with servq, by name."""
    return {e.calendar.name: e for e in _builtins()}


class CalendarRegistry(DefinitionRegistry[CalendarSpec, CalendarEntry]):
    """Built-in calendars plus any ``*.yaml`` in the given folders; names must be unique."""

    kind, plural = "calendar", "calendars"

    def __init__(self, folders: Sequence[Path] | None = None) -> None:
        super().__init__(_builtins(), folders)

    def load_file(self, path: Path) -> CalendarSpec:
        return load_calendar_file(path)

    def entry(self, item: CalendarSpec, origin: str) -> CalendarEntry:
        return CalendarEntry(item, origin)

    def value(self, entry: CalendarEntry) -> CalendarSpec:
        return entry.calendar

    def origin(self, entry: CalendarEntry) -> str:
        return entry.origin

    def name_of(self, item: CalendarSpec) -> str:
        return item.name


def load_calendar(
    name_or_path: str | Path | CalendarSpec, folders: Sequence[Path] | None = None
) -> CalendarSpec:
    """A built-in calendar, one from ``folders`` (e.g. ``<workspace>/calendars``), or a file.

    Raises DefinitionError when the name is defined twice or its file has problems.
    """
    if isinstance(name_or_path, CalendarSpec):
        return name_or_path
    return CalendarRegistry(folders).get(name_or_path)
