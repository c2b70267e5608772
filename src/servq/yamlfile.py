"""Load a YAML definition into a pydantic model, reporting every problem with file, line and field.

Owns: the one way servq reads definition files (profiles now; metrics, calendars, rules later).
pydantic collects every validation error at once; this module maps each error's location back to
the YAML line it came from, so a user fixes the whole file in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from servq.errors import DefinitionError, Problem

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text: the models parse them, so an impossible date
    (2025-02-30) is a problem with a line number instead of a crash inside PyYAML."""


Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _index_lines(node: yaml.Node, path: Loc, out: dict[Loc, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), out)
            # remember the key's own line too, for errors about the key itself
            out.setdefault((*path, key, "__key__"), key_node.start_mark.line + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), out)


class LineMap:
    """Where each path of a YAML document starts."""

    def __init__(self, lines: dict[Loc, int]) -> None:
        self._lines = lines

    def line(self, loc: Sequence[str | int]) -> int | None:
        path = tuple(loc)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), None)


def parse_yaml(text: str, file: str) -> tuple[Any, LineMap]:
    try:
        node = yaml.compose(text, Loader=Loader)
        data = yaml.load(text, Loader=Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DefinitionError([Problem(file, line, "", f"not valid YAML: {exc}")]) from exc
    lines: dict[Loc, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, LineMap(lines)


def loc_text(loc: Sequence[str | int]) -> str:
    """A location as people read it: ``rules[2].targets``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_model(
    model: type[M],
    text: str,
    file: str,
    *,
    checks: Callable[[M], list[tuple[Loc, str]]] | None = None,
    context: dict[str, Any] | None = None,
) -> M:
    """Validate YAML text as ``model``; then run ``checks`` (cross-field rules) on the result.

    Every problem from both stages is raised together in one DefinitionError.
    """
    data, lines = parse_yaml(text, file)
    if not isinstance(data, dict):
        raise DefinitionError([Problem(file, lines.line(()), "", "expected a mapping at the top")])
    try:
        obj = model.model_validate(data, context=context)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            msg = err["msg"]
            given = err.get("input")
            if isinstance(given, str | int | float) and err["type"] != "missing":
                msg = f"{msg} (got {given!r})"
            problems.append(Problem(file, lines.line(loc), loc_text(loc), msg))
        raise DefinitionError(problems) from None
    if checks is not None:
        found = checks(obj)
        if found:
            raise DefinitionError(
                [Problem(file, lines.line(loc), loc_text(loc), msg) for loc, msg in found]
            )
    return obj


def load_model_file(
    model: type[M],
    path: Path,
    *,
    checks: Callable[[M], list[tuple[Loc, str]]] | None = None,
) -> M:
    return load_model(model, read_definition(path), str(path), checks=checks)


def read_definition(path: Path) -> str:
    """The text of a definition file; a file that cannot be read is a DefinitionError."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(str(path), None, "", f"cannot read: {exc}")]) from exc
