"""The dashboard's words in Chinese and English.

Owns: ``messages.yaml`` (``key: {en: …, zh: …}``; every key has both), :func:`t` for the
templates, the subset the browser scripts need (:func:`client_messages`), and choosing the
language of a request: the ``servq_lang`` cookie (set by the switch, kept a year), else the
user's own setting, else the browser's ``Accept-Language``, else Chinese.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

LANGS = ("zh", "en")


@lru_cache(maxsize=1)
def messages() -> dict[str, dict[str, str]]:
    text = resources.files("servq.web").joinpath("messages.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    out: dict[str, dict[str, str]] = {}
    for key, value in data.items():
        if not isinstance(value, dict) or set(value) != {"en", "zh"}:
            raise ValueError(f"messages.yaml: {key} needs exactly en and zh")
        out[str(key)] = {"en": str(value["en"]), "zh": str(value["zh"])}
    return out


def t(key: str, lang: str) -> str:
    """The text of ``key`` in ``lang``; an unknown key shows as itself (and fails the tests)."""
    entry = messages().get(key)
    if entry is None:
        return key
    return entry["en" if lang == "en" else "zh"]


def client_messages(lang: str) -> dict[str, str]:
    """Every ``js.*`` message in ``lang``, keyed without the prefix, for the page scripts."""
    side = "en" if lang == "en" else "zh"
    return {k[3:]: v[side] for k, v in messages().items() if k.startswith("js.")}


def pick_lang(cookie: str | None, user_lang: str | None, accept: str | None) -> str:
    if cookie in LANGS:
        return str(cookie)
    if user_lang in LANGS:
        return str(user_lang)
    if accept:
        first = accept.split(",")[0].strip().lower()
        if first.startswith("en"):
            return "en"
    return "zh"
