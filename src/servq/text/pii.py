"""Personal data found and masked before a text is stored or shown.

Owns: what counts as personal data in servq's texts, how each kind is validated, and the three
masking styles. Kinds (ids used in :class:`PiiConfig`):

- ``mobile``: Chinese mobile numbers, ``1[3-9]`` and 9 more digits, optionally after ``+86``,
  ``0086``, ``86`` or ``(+86)``, written whole or as 3-4-4 groups split by spaces or hyphens
  (``13812345678``, ``138-1234-5678``, ``+86 138 1234 5678``);
- ``landline``: area code (``010``, ``02x``, or ``0`` and three digits starting 3-9), optionally
  in parentheses or followed by a hyphen or space, then 7 or 8 digits not starting with 0, then
  optionally an extension (``-123``, ``转123``, ``ext 123``);
- ``resident_id``: 18-character resident identity numbers (GB 11643-1999) whose check
  character is right (a final ``X`` or ``x`` allowed), whose first two digits are a province
  code and whose birth date is a real date between 1900 and today;
- ``bank_card``: 16 to 19 digits, whole or in groups of four split by spaces or hyphens,
  passing the Luhn check; digits that start with a date (``YYYYMMDD``, years 1900-2099) are
  taken for a timestamp or an order number and left alone, and so are 18 digits shaped like a
  resident id (province, date) whose check character is wrong;
- ``email``: ``local@domain.tld``.

Never masked: a number that is part of a longer run of digits (nothing is found inside 20 or
more digits), a number right after or before a decimal point or thousands separator, 11 digits
not starting ``1[3-9]``, 14-digit timestamps such as ``20250101123000``, amounts.

Styles: ``partial`` keeps a few edge characters (``138****5678``, ``010-****5678``,
``110101********123X``, ``****1234``, ``z***@example.com``); ``token`` replaces the value with
a token in Chinese or English (``[手机号]`` / ``[PHONE]``); ``full`` replaces every character
with ``*``. :class:`PiiConfig` picks kinds and styles, and can be built from a plain dict (a
workspace's YAML configuration).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any, Literal, get_args

__all__ = [
    "KINDS",
    "STYLES",
    "PiiConfig",
    "PiiMatch",
    "find_pii",
    "luhn_ok",
    "mask",
    "mask_many",
    "valid_resident_id",
]

Kind = Literal["mobile", "landline", "resident_id", "bank_card", "email"]
Style = Literal["partial", "token", "full"]
KINDS: tuple[Kind, ...] = get_args(Kind)
STYLES: tuple[Style, ...] = get_args(Style)

TOKENS: dict[str, dict[Kind, str]] = {
    "zh": {
        "mobile": "[手机号]",
        "landline": "[固定电话]",
        "resident_id": "[身份证号]",
        "bank_card": "[银行卡号]",
        "email": "[邮箱]",
    },
    "en": {
        "mobile": "[PHONE]",
        "landline": "[LANDLINE]",
        "resident_id": "[ID_NUMBER]",
        "bank_card": "[BANK_CARD]",
        "email": "[EMAIL]",
    },
}

# first two digits of a resident id: provinces, Hong Kong, Macao, Taiwan (and 83, residence
# permits of their residents)
_PROVINCES = frozenset(
    [
        *("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36"),
        *("37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62"),
        *("63", "64", "65", "71", "81", "82", "83"),
    ]
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# no digit, and no digit followed by a decimal point or thousands separator, on either side
_BEFORE = r"(?<![0-9])(?<![0-9][.,])"
_AFTER = r"(?![0-9])(?![.,][0-9])"

_MOBILE = re.compile(
    _BEFORE
    + r"(?P<prefix>(?:\(\+?(?:00)?86\)|\+86|0086|86)[ -]?)?"
    + r"(?P<body>1[3-9][0-9](?:[0-9]{8}|[ -][0-9]{4}[ -][0-9]{4}))"
    + _AFTER
)
_LANDLINE = re.compile(
    _BEFORE
    + r"(?P<area>\(0(?:10|2[0-9]|[3-9][0-9]{2})\)[ ]?|0(?:10|2[0-9]|[3-9][0-9]{2})[ -]?)"
    + r"(?P<local>[1-9][0-9]{6,7})"
    + r"(?P<ext>[ ]?(?:-|转|分机|ext\.?|x)[ ]?[0-9]{1,6})?"
    + _AFTER
)
_RESIDENT_ID = re.compile(
    _BEFORE
    + r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}"
    + r"[0-9Xx](?![0-9Xx])(?![.,][0-9])"
)
_BANK_CARD = re.compile(
    _BEFORE
    + r"(?<![0-9]-)"
    + r"(?:[0-9]{16,19}|[0-9]{4}(?P<sep>[ -])[0-9]{4}(?:(?P=sep)[0-9]{4}){2}"
    + r"(?:(?P=sep)[0-9]{1,3})?)"
    + r"(?![0-9])(?![.,-][0-9])"
)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
_TRIGGER = re.compile(r"[0-9@]")
_DIGIT = re.compile(r"[0-9]")
_DATE_START = re.compile(r"(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])")

# when two matches overlap, the longer wins; equal lengths by this order
_PRIORITY: dict[Kind, int] = {
    "email": 0,
    "resident_id": 1,
    "bank_card": 2,
    "mobile": 3,
    "landline": 4,
}


# -- validators -----------------------------------------------------------------------------------
def _real_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _id_shape(digits: str) -> bool:
    """18 characters with a province code and a real birth date between 1900 and today."""
    if len(digits) != 18 or digits[:2] not in _PROVINCES:
        return False
    born = _real_date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
    return born is not None and date(1900, 1, 1) <= born <= date.today()


def valid_resident_id(s: str) -> bool:
    """Whether ``s`` is an 18-character resident identity number: 17 digits and a check
    character (digit, ``X`` or ``x``) that is right by GB 11643-1999, a province code and a
    plausible birth date."""
    if len(s) != 18 or not s[:17].isascii() or not s[:17].isdigit():
        return False
    last = s[17].upper()
    if last != "X" and not ("0" <= last <= "9"):
        return False
    if not _id_shape(s[:17] + "0"):
        return False
    total = sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == last


def luhn_ok(s: str) -> bool:
    """Whether a number passes the Luhn check; spaces and hyphens between digits are ignored.
    Fewer than two digits, or anything other than digits, spaces and hyphens, fails."""
    digits = s.replace(" ", "").replace("-", "")
    if len(digits) < 2 or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(value: str) -> bool:
    digits = value.replace(" ", "").replace("-", "")
    if _DATE_START.match(digits):
        return False
    if len(digits) == 18 and _id_shape(digits[:17] + "0"):
        return False  # shaped like a resident id with a wrong check character
    return luhn_ok(digits)


# -- configuration --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PiiConfig:
    """What to mask and how.

    ``kinds``: the kinds to find (default: all five); ``style``: ``partial``, ``token`` or
    ``full``; ``styles``: a style per kind, overriding ``style``; ``token_lang``: ``zh`` or
    ``en`` tokens; ``mask_char``: the one character that hides a character.
    """

    kinds: frozenset[str] = frozenset(KINDS)
    style: str = "partial"
    styles: Mapping[str, str] = field(default_factory=dict)
    token_lang: str = "zh"
    mask_char: str = "*"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(self.kinds))
        object.__setattr__(self, "styles", dict(self.styles))
        bad_kinds = sorted(set(self.kinds) - set(KINDS))
        if bad_kinds:
            raise ValueError(f"unknown PII kind(s) {bad_kinds}; kinds: {', '.join(KINDS)}")
        bad_style_kinds = sorted(set(self.styles) - set(KINDS))
        if bad_style_kinds:
            raise ValueError(
                f"styles: unknown PII kind(s) {bad_style_kinds}; kinds: {', '.join(KINDS)}"
            )
        for where, style in [("style", self.style), *self.styles.items()]:
            if style not in STYLES:
                raise ValueError(f"{where}: unknown style {style!r}; styles: {', '.join(STYLES)}")
        if self.token_lang not in TOKENS:
            raise ValueError(f"token_lang: {self.token_lang!r} is not one of zh, en")
        if len(self.mask_char) != 1:
            raise ValueError(f"mask_char: {self.mask_char!r} is not one character")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PiiConfig:
        """From a plain mapping, e.g. a workspace YAML section. Unknown keys raise ValueError
        naming them; ``kinds`` is a list of kind names."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError(f"PII configuration must be a mapping, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise ValueError(
                f"unknown PII configuration key(s) {', '.join(unknown)}; "
                f"keys: {', '.join(sorted(known))}"
            )
        args: dict[str, Any] = dict(data)
        if "kinds" in args:
            kinds = args["kinds"]
            if isinstance(kinds, str) or not isinstance(kinds, Iterable):
                raise ValueError("kinds: expected a list of kind names")
            args["kinds"] = frozenset(str(k) for k in kinds)
        if "styles" in args and not isinstance(args["styles"], Mapping):
            raise ValueError("styles: expected a mapping of kind to style")
        for key in ("style", "token_lang", "mask_char"):
            if key in args and not isinstance(args[key], str):
                raise ValueError(f"{key}: expected text, got {args[key]!r}")
        return cls(**args)

    def style_of(self, kind: str) -> str:
        return self.styles.get(kind, self.style)


_DEFAULT = PiiConfig()


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """Personal data of ``kind`` at ``text[start:end]`` (``value``)."""

    kind: str
    start: int
    end: int
    value: str


# -- finding --------------------------------------------------------------------------------------
def _candidates(text: str, kinds: frozenset[str]) -> list[PiiMatch]:
    out: list[PiiMatch] = []
    has_digit = _DIGIT.search(text) is not None
    if "email" in kinds and "@" in text:
        out += [PiiMatch("email", m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]
    if not has_digit:
        return out
    if "resident_id" in kinds:
        out += [
            PiiMatch("resident_id", m.start(), m.end(), m.group())
            for m in _RESIDENT_ID.finditer(text)
            if valid_resident_id(m.group())
        ]
    if "bank_card" in kinds:
        out += [
            PiiMatch("bank_card", m.start(), m.end(), m.group())
            for m in _BANK_CARD.finditer(text)
            if _card_ok(m.group())
        ]
    if "mobile" in kinds:
        out += [PiiMatch("mobile", m.start(), m.end(), m.group()) for m in _MOBILE.finditer(text)]
    if "landline" in kinds:
        out += [
            PiiMatch("landline", m.start(), m.end(), m.group()) for m in _LANDLINE.finditer(text)
        ]
    return out


def find_pii(text: str | None, config: PiiConfig | None = None) -> list[PiiMatch]:
    """Personal data in ``text`` by position; where candidates overlap, the longer one (then
    email, resident id, bank card, mobile, landline) is kept."""
    if not text or _TRIGGER.search(text) is None:
        return []
    cfg = config or _DEFAULT
    found = _candidates(text, cfg.kinds)
    if len(found) < 2:
        return found
    found.sort(key=lambda m: (m.start, m.start - m.end, _PRIORITY[m.kind]))  # type: ignore[index]
    kept: list[PiiMatch] = []
    for m in found:
        if kept and m.start < kept[-1].end:
            continue
        kept.append(m)
    return kept


# -- masking --------------------------------------------------------------------------------------
def _hide_digits(value: str, keep_first: int, keep_last: int, char: str) -> str:
    """Every digit of ``value`` hidden except the first and last few; other characters kept."""
    positions = [i for i, c in enumerate(value) if "0" <= c <= "9"]
    hide = set(positions[keep_first : len(positions) - keep_last])
    return "".join(char if i in hide else c for i, c in enumerate(value))


def _partial(m: PiiMatch, char: str) -> str:
    v = m.value
    if m.kind == "mobile":
        found = _MOBILE.fullmatch(v)
        prefix = (found.group("prefix") or "") if found else ""
        return prefix + _hide_digits(v[len(prefix) :], 3, 4, char)
    if m.kind == "landline":
        found = _LANDLINE.fullmatch(v)
        if found is None:
            return _hide_digits(v, 0, 2, char)
        area, local, ext = found.group("area"), found.group("local"), found.group("ext") or ""
        return area + _hide_digits(local, 0, 4, char) + _hide_digits(ext, 0, 0, char)
    if m.kind == "resident_id":
        return v[:6] + char * 8 + v[14:]
    if m.kind == "bank_card":
        digits = v.replace(" ", "").replace("-", "")
        return char * 4 + digits[-4:]
    local, _, domain = v.partition("@")
    return f"{local[:1]}{char * 3}@{domain}"


def _masked(m: PiiMatch, cfg: PiiConfig) -> str:
    style = cfg.style_of(m.kind)
    if style == "token":
        return TOKENS[cfg.token_lang][m.kind]  # type: ignore[index]
    if style == "full":
        return cfg.mask_char * len(m.value)
    return _partial(m, cfg.mask_char)


def mask(text: str | None, config: PiiConfig | None = None) -> str:
    """``text`` with its personal data masked (``None`` gives ``""``)."""
    if not text:
        return ""
    cfg = config or _DEFAULT
    found = find_pii(text, cfg)
    if not found:
        return text
    parts: list[str] = []
    pos = 0
    for m in found:
        parts += [text[pos : m.start], _masked(m, cfg)]
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts)


def mask_many(texts: Iterable[str | None], config: PiiConfig | None = None) -> list[str]:
    """:func:`mask` for each text; ``None`` and empty texts give ``""``."""
    cfg = config or _DEFAULT
    return [mask(t, cfg) for t in texts]
