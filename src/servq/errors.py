"""Errors a user sees. Each says what is wrong and where, in words a user can act on."""

from __future__ import annotations

from dataclasses import dataclass


class ServqError(Exception):
    """Base of every error servq raises on purpose."""


class SourceError(ServqError):
    """A file that cannot be read at all: nothing from it was written."""

    def __init__(self, path: object, message: str) -> None:
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


@dataclass(frozen=True)
class Problem:
    """One problem in a definition file, with where it is."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class DefinitionError(ServqError):
    """A YAML definition (profile, metric, calendar, ...) has problems; lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) found:\n{lines}")


class WorkspaceError(ServqError):
    """The workspace is missing, locked or of an unknown schema version."""
