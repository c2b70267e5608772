"""Notification channels: where alerts go, written in YAML and validated all at once.

Owns: the :class:`Channel` model (kinds ``webhook``, ``email``, ``wecom``, ``dingtalk``,
``feishu``, ``slack``), the checks that tie fields to kinds, loading a channels file with every
problem reported by file, line and field, and resolving ``${ENV_NAME}`` references from the
environment at send time (so a secret never sits in the file).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from servq.errors import DefinitionError, Problem, ServqError
from servq.monitor.notify.message import Language
from servq.yamlfile import Loc, load_model, parse_yaml

ChannelKind = Literal["webhook", "email", "wecom", "dingtalk", "feishu", "slack"]
CHANNEL_KINDS: tuple[str, ...] = get_args(ChannelKind)
HTTP_KINDS = frozenset(CHANNEL_KINDS) - {"email"}
SIGNING_KINDS = frozenset({"webhook", "dingtalk", "feishu"})  # kinds that use `secret`
EMAIL_FIELDS = ("smtp_host", "smtp_port", "starttls", "ca_file", "username", "password", "to")

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
ENV_FIELDS = ("url", "secret", "username", "password")  # fields that may hold ${ENV_NAME}


class MissingSecret(ServqError):
    """A ``${ENV_NAME}`` reference whose variable is not set when a message is sent."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"environment variable {name} is not set / 环境变量 {name} 未设置")


def resolve(value: str, environ: Mapping[str, str]) -> str:
    """``value`` with every ``${NAME}`` replaced by the variable's value; MissingSecret if unset."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise MissingSecret(name)
        return environ[name]

    return _ENV_REF.sub(one, value)


def _bad_env_syntax(value: str) -> bool:
    """True when ``${`` appears outside a well-formed ``${NAME}`` reference."""
    return "${" in _ENV_REF.sub("", value)


def _problem(loc: tuple[str | int, ...], en: str, zh: str, given: Any = None) -> InitErrorDetails:
    error = PydanticCustomError("channel", "{en} / {zh}", {"en": en, "zh": zh})
    return InitErrorDetails(type=error, loc=loc, input=given)


def _raise_if(problems: list[InitErrorDetails]) -> None:
    """Raise the problems as one ValidationError: pydantic keeps each one's own location."""
    if problems:
        raise ValidationError.from_exception_data("Channel", problems)


class Channel(BaseModel):
    """One place notifications go. Fields not used by the channel's kind are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=200)
    kind: ChannelKind
    url: str | None = Field(default=None, description="http kinds: the webhook address")
    secret: str | None = Field(
        default=None,
        description="webhook: HMAC key; dingtalk: 加签 secret; feishu: signing secret (optional)",
    )
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    ca_file: str | None = Field(default=None, description="CA bundle that signs the SMTP server")
    username: str | None = None
    password: str | None = None
    sender: str | None = Field(default=None, alias="from")
    to: tuple[str, ...] = ()
    language: Language = "both"
    timezone: str = Field(default="UTC", description="zone the times in messages are shown in")
    timeout: float = Field(default=10.0, gt=0, le=300)
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff: float = Field(default=1.0, ge=0, le=3600, description="first back-off, seconds")
    backoff_max: float = Field(default=60.0, ge=0, le=3600, description="back-off cap, seconds")

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone / 未知时区: {value}") from None
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _kind_rules(cls, data: Any, handler: ModelWrapValidatorHandler[Channel]) -> Channel:
        channel = handler(data)
        _raise_if(channel_problems(channel))
        return channel

    @property
    def is_http(self) -> bool:
        return self.kind in HTTP_KINDS


def _http_problems(ch: Channel) -> list[InitErrorDetails]:
    found = []
    if ch.url is None:
        found.append(_problem(("url",), f"url is required for kind {ch.kind}", "必须填写 url"))
    elif "${" not in ch.url and not ch.url.startswith(("http://", "https://")):
        en, zh = "url must start with http:// or https://", "url 必须以 http:// 或 https:// 开头"
        found.append(_problem(("url",), en, zh, ch.url))
    for name in sorted(ch.model_fields_set & {*EMAIL_FIELDS, "sender"}):
        loc = "from" if name == "sender" else name
        en, zh = f"{loc} is for e-mail channels only", f"{loc} 只用于 email 渠道"
        found.append(_problem((loc,), en, zh))
    if ch.secret is not None and ch.kind not in SIGNING_KINDS:
        en, zh = (
            f"{ch.kind} does not sign messages: remove secret",
            f"{ch.kind} 不支持签名，请删除 secret",
        )
        found.append(_problem(("secret",), en, zh))
    return found  # a DingTalk robot may be secured by keywords or an IP list instead of 加签


def _email_problems(ch: Channel) -> list[InitErrorDetails]:
    found = []
    required = (("smtp_host", ch.smtp_host), ("from", ch.sender), ("to", ch.to or None))
    for loc, value in required:
        if value is None:
            en, zh = f"{loc} is required for e-mail", f"email 渠道必须填写 {loc}"
            found.append(_problem((loc,), en, zh))
    for loc in ("url", "secret"):
        if loc in ch.model_fields_set:
            en, zh = f"{loc} is not used by e-mail", f"email 渠道不使用 {loc}"
            found.append(_problem((loc,), en, zh))
    if ch.password is not None and ch.username is None:
        en, zh = "password given without username", "填写了 password 但没有 username"
        found.append(_problem(("password",), en, zh))
    for i, address in enumerate(ch.to):
        if "@" not in address:
            en, zh = "not an e-mail address", "不是电子邮件地址"
            found.append(_problem(("to", i), en, zh, address))
    return found


def channel_problems(ch: Channel) -> list[InitErrorDetails]:
    """Every rule that ties fields to the channel's kind, as located problems."""
    found = _http_problems(ch) if ch.is_http else _email_problems(ch)
    if ch.backoff_max < ch.backoff:
        en, zh = "backoff_max is smaller than backoff", "backoff_max 小于 backoff"
        found.append(_problem(("backoff_max",), en, zh, ch.backoff_max))
    for name in ENV_FIELDS:
        value = getattr(ch, name)
        if value is not None and _bad_env_syntax(value):
            en = "write an environment variable as ${NAME} (letters, digits, _)"
            zh = "环境变量应写成 ${NAME}（字母、数字、下划线）"
            found.append(_problem((name,), en, zh))
    return found


class ChannelFile(BaseModel):
    """A channels file: ``channels:`` followed by a list of channels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: list[Channel] = Field(min_length=1)


def duplicate_names(data: Any) -> list[tuple[Loc, str]]:
    """Channel names used twice, found in the raw YAML so they are reported with the rest."""
    items = data.get("channels") if isinstance(data, dict) else None
    seen: set[str] = set()
    found: list[tuple[Loc, str]] = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name in seen:
            found.append(
                (("channels", i, "name"), f"name {name} is used twice / 渠道名 {name} 重复")
            )
        seen.add(str(name))
    return found


def parse_channels(text: str, file: str = "<channels>") -> dict[str, Channel]:
    """Channels from YAML text, by name; DefinitionError lists every problem with its line."""
    data, lines = parse_yaml(text, file)
    found = [
        Problem(file, lines.line(loc), f"channels[{loc[1]}].name", msg)
        for loc, msg in duplicate_names(data)
    ]
    try:
        spec = load_model(ChannelFile, text, file)
    except DefinitionError as exc:
        found = sorted(exc.problems + found, key=lambda p: (p.line or 0, p.field))
    if found:
        raise DefinitionError(found)
    return {ch.name: ch for ch in spec.channels}


def load_channels(path: Path | str) -> dict[str, Channel]:
    """Channels from a YAML file, by name; DefinitionError lists every problem with its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(str(path), None, "", f"cannot read: {exc}")]) from exc
    return parse_channels(text, str(path))


@dataclass(frozen=True)
class Resolved:
    """A channel's ``${ENV}`` fields with the environment's values in place."""

    url: str
    secret: str | None
    username: str | None
    password: str | None

    def hidden_words(self) -> list[str]:
        """Texts never to write to a log: secrets, the URL and its query values (tokens)."""
        words = [self.url, self.secret, self.password]
        words += [value for _, value in parse_qsl(urlsplit(self.url).query)]
        return sorted({w for w in words if w and len(w) >= 4}, key=len, reverse=True)


def resolve_channel(channel: Channel, environ: Mapping[str, str]) -> Resolved:
    """Read the channel's ``${ENV}`` references now; MissingSecret names an unset variable."""

    def value(text: str | None) -> str | None:
        return None if text is None else resolve(text, environ)

    return Resolved(
        url=value(channel.url) or "",
        secret=value(channel.secret),
        username=value(channel.username),
        password=value(channel.password),
    )
