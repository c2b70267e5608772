"""One registry for every kind of YAML definition: built-ins plus a workspace folder plus a file.

Owns: finding a definition (mapping profile, calendar, SLA policy, ...) by name or by path, and
refusing duplicates. Two definitions with the same name are refused, not ranked: asking for a
duplicated name is an error naming both files, so a user's file never silently shadows a
built-in one and numbers never change unnoticed. Built-ins register exactly as a user file does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from servq.errors import DefinitionError, Problem, ServqError

D = TypeVar("D")  # the definition
E = TypeVar("E")  # its registry entry: the definition plus where it came from


class DefinitionRegistry(ABC, Generic[D, E]):
    """Built-in entries plus any ``*.yaml``/``*.yml`` in ``folders``; names must be unique."""

    kind = "definition"  # the words used in messages: "calendar", "SLA policy", ...
    plural = "definitions"

    def __init__(self, builtins: Iterable[E], folders: Sequence[Path] | None = None) -> None:
        self._entries: dict[str, E] = {self.name_of(self.value(e)): e for e in builtins}
        self._problems: list[Problem] = []
        self._duplicates: dict[str, list[Problem]] = {}
        for folder in folders or []:
            if not folder.is_dir():
                continue
            for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
                try:
                    item = self.load_file(path)
                except DefinitionError as exc:
                    self._problems.extend(exc.problems)
                    continue
                name = self.name_of(item)
                if name in self._entries:
                    problem = Problem(
                        str(path),
                        None,
                        "name",
                        f"{self.kind} '{name}' is also defined by "
                        f"{self.origin(self._entries[name])}; give one of them another name",
                    )
                    self._problems.append(problem)
                    self._duplicates.setdefault(name, []).append(problem)
                    continue
                self._entries[name] = self.entry(item, str(path))

    # -- what a kind of definition provides ---------------------------------------------------
    @abstractmethod
    def load_file(self, path: Path) -> D: ...

    @abstractmethod
    def entry(self, item: D, origin: str) -> E: ...

    @abstractmethod
    def value(self, entry: E) -> D: ...

    @abstractmethod
    def origin(self, entry: E) -> str: ...

    @abstractmethod
    def name_of(self, item: D) -> str: ...

    # -- lookups --------------------------------------------------------------------------------
    @property
    def problems(self) -> list[Problem]:
        """Problems found in user files (those definitions are not registered)."""
        return list(self._problems)

    def entries(self) -> list[E]:
        return sorted(self._entries.values(), key=lambda e: self.name_of(self.value(e)))

    def get(self, name_or_path: str | Path) -> D:
        """A definition by name, or by the path of a YAML file."""
        text = str(name_or_path)
        if text in self._duplicates:
            raise DefinitionError(self._duplicates[text])
        if text in self._entries:
            return self.value(self._entries[text])
        path = Path(text)
        if path.suffix in (".yaml", ".yml"):
            if not path.is_file():
                raise ServqError(f"no {self.kind} file {path}")
            return self.load_file(path)
        bad = [p for p in self._problems if Path(p.file).stem == text]
        if bad:
            raise DefinitionError(bad)
        known = ", ".join(sorted(self._entries))
        raise ServqError(f"no {self.kind} '{text}'; known {self.plural}: {known}")
