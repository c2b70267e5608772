"""Risk words: the built-in Chinese and English lists and how a word matches a text.

Owns: the word lists shipped with servq (``zh.txt``, ``en.txt`` beside this module, one word a
line, ``#`` comments), a workspace's own lists (``<workspace>/riskwords/NAME.txt``), and the one
definition of a match, written as an Ibis expression so it runs inside the warehouse engine:

- a word with a Chinese character matches as a substring (``投诉`` in ``我要投诉你们``);
- any other word matches as a whole word, case-insensitive: ``sue`` matches ``I will SUE`` but
  not ``issue``, ``12315`` matches ``打12315投诉`` but not ``123150``. A word boundary is any
  character other than an ASCII letter, digit or underscore; a space inside a phrase matches any
  run of white space (``cancel my account`` matches ``cancel  my\\naccount``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path

import ibis
import ibis.expr.types as ir

from servq.errors import ServqError

BUILTIN_LISTS = ("zh", "en")
LIST_FOLDER = "riskwords"
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_EDGE = "[^0-9A-Za-z_]"


def _words(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for line in text.splitlines():
        word = line.split("#", 1)[0].strip()
        if word and word not in out:
            out.append(word)
    return tuple(out)


@cache
def builtin_list(name: str) -> tuple[str, ...]:
    """A list shipped with servq: ``zh`` or ``en``."""
    if name not in BUILTIN_LISTS:
        raise ServqError(f"no built-in risk-word list '{name}'; built-in: zh, en")
    return _words(resources.files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8"))


def list_names(folders: Sequence[Path] = ()) -> list[str]:
    """Every list a rule can name: the built-ins, then ``*.txt`` in ``folders``."""
    names = list(BUILTIN_LISTS)
    for folder in folders:
        if folder.is_dir():
            names += [p.stem for p in sorted(folder.glob("*.txt")) if p.stem not in names]
    return names


def load_list(name: str, folders: Sequence[Path] = ()) -> tuple[str, ...]:
    """The words of a list: a built-in one, else ``NAME.txt`` in the first folder holding it."""
    if name in BUILTIN_LISTS:
        return builtin_list(name)
    for folder in folders:
        path = folder / f"{name}.txt"
        if path.is_file():
            return _words(path.read_text(encoding="utf-8"))
    raise ServqError(
        f"no risk-word list '{name}'; lists: {', '.join(list_names(folders))} "
        f"(a list of your own is <workspace>/{LIST_FOLDER}/{name}.txt)"
    )


def is_chinese(word: str) -> bool:
    """Whether a word holds a Chinese character (and so matches as a substring)."""
    return bool(_CJK.search(word))


def whole_word_pattern(word: str) -> str:
    """The regular expression (RE2 and Python syntax alike) of a whole-word, case-insensitive
    match of ``word``."""
    body = r"\s+".join(re.escape(part) for part in word.split())
    return f"(?i)(^|{_EDGE}){body}($|{_EDGE})"


def match_expr(text: ir.StringValue, word: str) -> ir.BooleanValue:
    """True where ``text`` holds ``word`` (never null: a missing text holds no word)."""
    found = text.contains(word) if is_chinese(word) else text.re_search(whole_word_pattern(word))
    return ibis.coalesce(found, False)
