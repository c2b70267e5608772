"""Users, passwords, sessions and API tokens: :class:`UserStore`.

Owns: every rule about who may sign in. Passwords are hashed with argon2id (argon2-cffi's
defaults, rehashed on sign-in when those change); session and API tokens are random, handed out
once and stored as SHA-256 digests only. Sign-in is rate limited per user name and per client
over a sliding window; refused attempts do not extend the lock. Each method is one or two short
transactions; password hashing runs outside them so a slow hash never holds the store's lock.

Times are naive UTC from the ``clock`` given to :class:`UserStore` (tests move it by hand).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from servq.app_store import Store
from servq.auth.errors import AuthError, LoginFailed, RateLimited
from servq.auth.roles import LANGS, ROLE_NAMES, ROLES, Principal
from servq.auth.tables import LoginAttemptRow, SessionRow, TokenRow, UserRow

# sign-in rate limit: failures counted over a sliding window
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 20
# sessions end after this long unused, and this long after sign-in whatever happens
SESSION_IDLE = timedelta(hours=12)
SESSION_LIFETIME = timedelta(days=7)
# last_seen_at / last_used_at are written at most this often
TOUCH_EVERY = timedelta(minutes=1)

TOKEN_PREFIX = "sqt_"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_TEXT = 200  # display names, departments, agent names, clients
MAX_TOKEN_NAME = 100

_USERNAME = re.compile(r"[\w.@-]{2,64}")  # \w: Unicode letters and digits (Chinese too) and _

DEMO_USERS: tuple[tuple[str, str, str, str, tuple[str, ...], str | None], ...] = (
    # username, password, role, display name, departments, agent
    ("admin", "admin-demo-2025", "admin", "Demo administrator", (), None),
    ("quality", "quality-demo-2025", "quality_manager", "Demo quality manager", (), None),
    ("analyst", "analyst-demo-2025", "analyst", "Demo analyst", (), None),
    (
        "phone-owner",
        "owner-demo-2025",
        "department_owner",
        "Phone team owner",
        ("电话客服组",),
        None,
    ),
    (
        "online-owner",
        "owner-demo-2025",
        "department_owner",
        "Online team owner",
        ("在线客服组",),
        None,
    ),
    ("agent-liu", "agent-demo-2025", "agent", "Liu Yang", (), "刘洋"),
    ("viewer", "viewer-demo-2025", "viewer", "Demo viewer", (), None),
)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _norm(username: str) -> str:
    return unicodedata.normalize("NFC", username)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _check_username(username: str) -> str:
    name = _norm(username)
    if not _USERNAME.fullmatch(name):
        raise AuthError(
            f"user name '{username}' is not valid: use 2–64 letters, digits or . _ - @ "
            f"/ 用户名无效：须为 2–64 个字母、数字或 . _ - @"
        )
    return name


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AuthError(
            f"password too short: at least {MIN_PASSWORD} characters "
            f"/ 密码太短：至少 {MIN_PASSWORD} 个字符"
        )
    if len(password) > MAX_PASSWORD:
        raise AuthError(
            f"password too long: at most {MAX_PASSWORD} characters "
            f"/ 密码太长：最多 {MAX_PASSWORD} 个字符"
        )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AuthError(
            f"unknown role '{role}': use one of {', '.join(ROLES)} "
            f"/ 未知角色：可选 {', '.join(ROLES)}"
        )


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise AuthError(f"unknown language '{lang}': use zh or en / 未知语言：可选 zh 或 en")


def _text(value: str, what_en: str, what_zh: str) -> str:
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise AuthError(
            f"{what_en} too long: at most {MAX_TEXT} characters "
            f"/ {what_zh}太长：最多 {MAX_TEXT} 个字符"
        )
    return text


def _departments(values: Iterable[str]) -> list[str]:
    """Departments without blanks or repeats, in the order given."""
    out: list[str] = []
    for value in values:
        text = _text(value, "department name", "部门名称")
        if text and text not in out:
            out.append(text)
    return out


def _check_scope(role: str, departments: list[str], agent: str | None) -> None:
    if role == "department_owner" and not departments:
        raise AuthError(
            "a department owner needs at least one department / 部门负责人至少需要一个部门"
        )
    if role == "agent" and not agent:
        raise AuthError("an agent user needs an agent name / 坐席用户需要指定坐席姓名")


def _no_user(username: str) -> AuthError:
    return AuthError(f"no user '{username}' / 用户不存在：{username}")


def _principal(row: UserRow, via: str) -> Principal:
    return Principal(
        user_id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        departments=tuple(row.departments or ()),
        agent=row.agent,
        lang=row.lang,
        via=via,
    )


def _user_dict(row: UserRow) -> dict[str, Any]:
    en, zh = ROLE_NAMES.get(row.role, (row.role, row.role))
    return {
        "id": row.id,
        "username": row.username,
        "display_name": row.display_name,
        "role": row.role,
        "role_name": {"en": en, "zh": zh},
        "departments": list(row.departments or ()),
        "agent": row.agent,
        "lang": row.lang,
        "active": row.active,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


def _token_dict(row: TokenRow, username: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "username": username,
        "name": row.name,
        "created_at": _iso(row.created_at),
        "last_used_at": _iso(row.last_used_at),
        "revoked_at": _iso(row.revoked_at),
        "active": row.revoked_at is None,
    }


class UserStore:
    """Users of one application store.

    >>> users = UserStore(open_store("servq-data"))                         # doctest: +SKIP
    >>> principal, session_token, csrf = users.login("admin", pw, client="10.0.0.1")  # +SKIP
    >>> users.resolve_session(session_token)                                 # doctest: +SKIP
    """

    def __init__(self, store: Store, *, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or _utcnow
        # argon2id with argon2-cffi's recommended parameters; replaceable (tests use cheaper ones)
        self.hasher = PasswordHasher()
        self._dummy: tuple[PasswordHasher, str] | None = None

    # -- helpers --------------------------------------------------------------------------------
    def _now(self) -> datetime:
        moment = self.clock()
        return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)

    def _dummy_hash(self) -> str:
        """A hash of a random password, verified for unknown users so they cost the same time."""
        if self._dummy is None or self._dummy[0] is not self.hasher:
            self._dummy = (self.hasher, self.hasher.hash(secrets.token_urlsafe(16)))
        return self._dummy[1]

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _user(s: Session, username: str) -> UserRow | None:
        return s.scalars(select(UserRow).where(UserRow.username == _norm(username))).first()

    def _require(self, s: Session, username: str) -> UserRow:
        row = self._user(s, username)
        if row is None:
            raise _no_user(username)
        return row

    @staticmethod
    def _keeps_an_admin(s: Session, row: UserRow, role: str, active: bool) -> None:
        """Refuse to demote or disable the last active admin: nobody could manage users."""
        if row.role != "admin" or not row.active or (role == "admin" and active):
            return
        others = s.scalar(
            select(func.count())
            .select_from(UserRow)
            .where(UserRow.role == "admin", UserRow.active.is_(True), UserRow.id != row.id)
        )
        if not others:
            raise AuthError(
                f"'{row.username}' is the last active admin: at least one must remain "
                f"/ {row.username} 是最后一个启用的管理员，至少需要保留一个"
            )

    # -- users ----------------------------------------------------------------------------------
    def create_user(
        self,
        username: str,
        password: str,
        role: str,
        *,
        display_name: str | None = None,
        departments: Iterable[str] = (),
        agent: str | None = None,
        lang: str = "zh",
    ) -> Principal:
        """Add a user; :class:`AuthError` when a value is not valid or the name is taken."""
        name = _check_username(username)
        _check_role(role)
        _check_password(password)
        _check_lang(lang)
        depts = _departments(departments)
        agent_name = None if agent is None else (_text(agent, "agent name", "坐席姓名") or None)
        _check_scope(role, depts, agent_name)
        shown = _text(display_name, "display name", "显示名称") if display_name else ""
        taken = AuthError(f"user '{name}' already exists / 用户已存在：{name}")
        with self.store.session() as s:
            if self._user(s, name) is not None:
                raise taken
        password_hash = self.hasher.hash(password)
        now = self._now()
        row = UserRow(
            username=name,
            display_name=shown or name,
            password_hash=password_hash,
            role=role,
            departments=depts,
            agent=agent_name,
            lang=lang,
            active=True,
            created_at=now,
            updated_at=now,
        )
        try:
            with self.store.session() as s:
                s.add(row)
                s.flush()
                return _principal(row, "session")
        except IntegrityError:  # another process added the same name meanwhile
            raise taken from None

    def update_user(
        self,
        username: str,
        *,
        role: str | None = None,
        departments: Iterable[str] | None = None,
        agent: str | None = None,
        display_name: str | None = None,
        lang: str | None = None,
        active: bool | None = None,
    ) -> Principal:
        """Change what is given (``None`` keeps a value; ``agent=""`` clears the agent name).

        Disabling a user ends their sessions at once; their API tokens stop resolving.
        """
        if role is not None:
            _check_role(role)
        if lang is not None:
            _check_lang(lang)
        depts = None if departments is None else _departments(departments)
        agent_name = None if agent is None else (_text(agent, "agent name", "坐席姓名") or None)
        shown = None if display_name is None else _text(display_name, "display name", "显示名称")
        with self.store.session() as s:
            row = self._require(s, username)
            new_role = role if role is not None else row.role
            new_depts = depts if depts is not None else list(row.departments or ())
            new_agent = agent_name if agent is not None else row.agent
            new_active = active if active is not None else row.active
            _check_scope(new_role, new_depts, new_agent)
            self._keeps_an_admin(s, row, new_role, new_active)
            row.role = new_role
            row.departments = new_depts
            row.agent = new_agent
            if shown is not None:
                row.display_name = shown or row.username
            if lang is not None:
                row.lang = lang
            row.active = new_active
            row.updated_at = self._now()
            if not new_active:
                s.execute(delete(SessionRow).where(SessionRow.user_id == row.id))
            return _principal(row, "session")

    def set_password(self, username: str, password: str) -> None:
        """Replace the password; every session of the user ends (API tokens stay valid)."""
        _check_password(password)
        with self.store.session() as s:
            self._require(s, username)
        password_hash = self.hasher.hash(password)
        with self.store.session() as s:
            row = self._require(s, username)
            row.password_hash = password_hash
            row.updated_at = self._now()
            s.execute(delete(SessionRow).where(SessionRow.user_id == row.id))

    def get(self, username: str) -> Principal | None:
        """The user as a principal (``via="session"``), disabled or not; None when unknown.

        Use :meth:`resolve_session` or :meth:`resolve_token` to authenticate a request: they
        also refuse disabled users.
        """
        with self.store.session() as s:
            row = self._user(s, username)
            return None if row is None else _principal(row, "session")

    def list_users(self) -> list[dict[str, Any]]:
        """Every user by name, JSON-ready, without password hashes."""
        with self.store.session() as s:
            rows = s.scalars(select(UserRow).order_by(UserRow.username)).all()
            return [_user_dict(r) for r in rows]

    # -- sign-in --------------------------------------------------------------------------------
    def _failures(self, s: Session, column: Any, value: str, since: datetime) -> list[datetime]:
        return list(
            s.scalars(
                select(LoginAttemptRow.at)
                .where(
                    column == value,
                    LoginAttemptRow.at > since,
                    LoginAttemptRow.ok.is_(False),
                    LoginAttemptRow.limited.is_(False),
                )
                .order_by(LoginAttemptRow.at)
            ).all()
        )

    def _retry_after(self, s: Session, username: str, client: str, now: datetime) -> int:
        """Seconds until a sign-in may be tried again; 0 when it may be tried now."""
        since = now - FAILURE_WINDOW
        wait = 0.0
        for column, value, limit in (
            (LoginAttemptRow.username, username, MAX_FAILURES_PER_USER),
            (LoginAttemptRow.client, client, MAX_FAILURES_PER_CLIENT),
        ):
            times = self._failures(s, column, value, since)
            if len(times) >= limit:
                # allowed again once enough of the oldest failures have left the window
                leaves = times[len(times) - limit] + FAILURE_WINDOW
                wait = max(wait, (leaves - now).total_seconds())
        return 0 if wait <= 0 else max(1, math.ceil(wait))

    def login(self, username: str, password: str, *, client: str) -> tuple[Principal, str, str]:
        """Sign in: (principal with ``via="session"``, session token, CSRF token).

        :class:`RateLimited` after too many recent failures (the password is not checked), else
        :class:`LoginFailed` for any wrong user name, disabled user or password.
        """
        name = _norm(username)[:MAX_TEXT]
        client = client[:MAX_TEXT]
        now = self._now()
        user_id: int | None = None
        stored_hash: str | None = None
        with self.store.session() as s:
            wait = self._retry_after(s, name, client, now)
            if wait:
                s.add(LoginAttemptRow(username=name, client=client, at=now, ok=False, limited=True))
            else:
                row = self._user(s, name)
                if row is not None:
                    stored_hash = row.password_hash
                    user_id = row.id if row.active else None
        if wait:
            raise RateLimited(wait)
        # verify even for unknown users, so the time taken does not tell which names exist
        matches = self._verify(stored_hash or self._dummy_hash(), password)
        if not matches:
            user_id = None
        new_hash = None
        if user_id is not None and stored_hash and self.hasher.check_needs_rehash(stored_hash):
            new_hash = self.hasher.hash(password)
        now = self._now()
        with self.store.session() as s:
            user = None if user_id is None else s.get(UserRow, user_id)
            # the user may have been disabled or given a new password since it was read
            if user is not None and (not user.active or user.password_hash != stored_hash):
                user = None
            s.add(LoginAttemptRow(username=name, client=client, at=now, ok=user is not None))
            result = None
            if user is not None:
                if new_hash is not None:
                    user.password_hash = new_hash
                s.execute(delete(SessionRow).where(SessionRow.expires_at <= now))
                token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
                s.add(
                    SessionRow(
                        id=_digest(token),
                        user_id=user.id,
                        csrf_token=csrf,
                        created_at=now,
                        last_seen_at=now,
                        expires_at=min(now + SESSION_IDLE, now + SESSION_LIFETIME),
                        client=client,
                    )
                )
                result = (_principal(user, "session"), token, csrf)
        if result is None:
            raise LoginFailed()
        return result

    def resolve_session(self, token: str) -> tuple[Principal, str] | None:
        """The principal and CSRF token of a live session; None when unknown, expired (idle or
        absolute) or the user is disabled."""
        if not token or len(token) > MAX_TEXT:
            return None
        now = self._now()
        with self.store.session() as s:
            row = s.get(SessionRow, _digest(token))
            if row is None:
                return None
            ends = min(row.last_seen_at + SESSION_IDLE, row.created_at + SESSION_LIFETIME)
            if now >= ends:
                s.delete(row)
                return None
            user = s.get(UserRow, row.user_id)
            if user is None or not user.active:
                return None
            if now - row.last_seen_at >= TOUCH_EVERY:
                row.last_seen_at = now
                row.expires_at = min(now + SESSION_IDLE, row.created_at + SESSION_LIFETIME)
            return _principal(user, "session"), row.csrf_token

    def logout(self, token: str) -> None:
        """End the session of ``token`` (nothing happens when there is none)."""
        if not token or len(token) > MAX_TEXT:
            return
        with self.store.session() as s:
            s.execute(delete(SessionRow).where(SessionRow.id == _digest(token)))

    # -- API tokens -----------------------------------------------------------------------------
    def issue_token(self, username: str, name: str) -> str:
        """A new API token for the user, returned once: only its digest is kept."""
        label = name.strip()
        if not label or len(label) > MAX_TOKEN_NAME:
            raise AuthError(
                f"token name must be 1–{MAX_TOKEN_NAME} characters "
                f"/ 令牌名称须为 1–{MAX_TOKEN_NAME} 个字符"
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.session() as s:
            user = self._require(s, username)
            if not user.active:
                raise AuthError(f"user '{user.username}' is disabled / 用户已停用：{user.username}")
            s.add(
                TokenRow(
                    user_id=user.id, name=label, token_hash=_digest(token), created_at=self._now()
                )
            )
        return token

    def resolve_token(self, token: str) -> Principal | None:
        """The principal (``via="token"``) of a live API token; None when unknown, revoked or
        the user is disabled."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TEXT:
            return None
        now = self._now()
        with self.store.session() as s:
            row = s.scalars(select(TokenRow).where(TokenRow.token_hash == _digest(token))).first()
            if row is None or row.revoked_at is not None:
                return None
            user = s.get(UserRow, row.user_id)
            if user is None or not user.active:
                return None
            if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
                row.last_used_at = now
            return _principal(user, "token")

    def list_tokens(self, username: str | None = None) -> list[dict[str, Any]]:
        """API tokens (all, or one user's) by id, JSON-ready, without secrets."""
        with self.store.session() as s:
            query = select(TokenRow, UserRow.username).join(UserRow, TokenRow.user_id == UserRow.id)
            if username is not None:
                query = query.where(UserRow.id == self._require(s, username).id)
            rows = s.execute(query.order_by(TokenRow.id)).all()
            return [_token_dict(token, name) for token, name in rows]

    def revoke_token(self, token_id: int) -> None:
        """Revoke an API token for good (revoking it again changes nothing)."""
        with self.store.session() as s:
            row = s.get(TokenRow, token_id)
            if row is None:
                raise AuthError(f"no API token {token_id} / 令牌不存在：{token_id}")
            if row.revoked_at is None:
                row.revoked_at = self._now()

    # -- demo -----------------------------------------------------------------------------------
    def ensure_demo_users(self) -> list[tuple[str, str, str]]:
        """Create the demo users that do not exist yet; (username, password, role) of each.

        Users that already exist are left as they are, so a demo password someone changed
        stays changed (and the returned password is then no longer theirs).
        """
        out: list[tuple[str, str, str]] = []
        for username, password, role, shown, departments, agent in DEMO_USERS:
            if self.get(username) is None:
                try:
                    self.create_user(
                        username,
                        password,
                        role,
                        display_name=shown,
                        departments=departments,
                        agent=agent,
                        lang="zh",
                    )
                except AuthError:  # created by another process meanwhile
                    if self.get(username) is None:
                        raise
            out.append((username, password, role))
        return out
