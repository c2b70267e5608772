"""Every word the dashboard shows exists in Chinese and English."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from servq.web.i18n import client_messages, messages, pick_lang, t

WEB = Path(str(resources.files("servq.web")))


def test_every_template_key_has_both_languages() -> None:
    known = messages()
    used: set[str] = set()
    for template in (WEB / "templates").glob("*.html"):
        used |= set(re.findall(r"t\('([a-z_.]+)'\)", template.read_text(encoding="utf-8")))
    # page titles are t(page + '.title')
    used |= {f"{page}.title" for page in ("overview", "explorer", "sla", "alerts", "voc", "data")}
    assert len(used) > 50
    missing = sorted(k for k in used if k not in known)
    assert missing == []
    for key in used:
        assert t(key, "zh") != t(key, "en") or key in {"app.brand"}, key


def test_every_script_message_is_sent_to_the_page() -> None:
    script = (WEB / "static" / "app.js").read_text(encoding="utf-8")
    used = set(re.findall(r'\bM\("([a-z_]+)"\)', script))
    assert len(used) > 30
    zh, en = client_messages("zh"), client_messages("en")
    assert sorted(k for k in used if k not in zh) == []
    assert sorted(k for k in used if k not in en) == []


def test_no_chinese_left_in_the_english_texts() -> None:
    han = re.compile(r"[\u4e00-\u9fff]")
    english = {k: v["en"] for k, v in messages().items()}
    # the language switch names the other language; filter hints show real team names
    allowed = {"nav.lang", "explorer.filter_hint"}
    assert [k for k, v in english.items() if han.search(v) and k not in allowed] == []


def test_language_choice() -> None:
    assert pick_lang("en", "zh", "zh-CN") == "en"  # the switch wins
    assert pick_lang(None, "en", "zh-CN") == "en"  # then the user's setting
    assert pick_lang(None, None, "en-GB,en;q=0.9") == "en"  # then the browser
    assert pick_lang(None, None, None) == "zh"
    assert pick_lang("fr", None, None) == "zh"
