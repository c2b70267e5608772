"""The tables of users, sessions, API tokens and sign-in attempts in the application store.

Secrets are never stored: ``auth_user.password_hash`` is an argon2id hash, a session row's id
and ``auth_token.token_hash`` are SHA-256 hex digests of tokens only the client holds.
``auth_session.expires_at`` is the moment the session ends unless it is used again: the earlier
of idle expiry (last use + idle limit) and absolute expiry (creation + lifetime).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from servq.app_store import Base, JSONType

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only


class UserRow(Base):
    """One user who can sign in: role, the departments or agent they are scoped to."""

    __tablename__ = "auth_user"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    departments: Mapped[list[str]] = mapped_column(JSONType)
    agent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lang: Mapped[str] = mapped_column(String(8), default="zh")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class SessionRow(Base):
    """One browser session; the id is the SHA-256 hex of the session token."""

    __tablename__ = "auth_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(_ID, ForeignKey("auth_user.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    client: Mapped[str] = mapped_column(String(200), default="")


class TokenRow(Base):
    """One API token of a user, by the SHA-256 hex of its text."""

    __tablename__ = "auth_token"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(_ID, ForeignKey("auth_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class LoginAttemptRow(Base):
    """One sign-in attempt. ``limited`` marks attempts refused by the rate limit before the
    password was checked: they are kept for the record but do not count as failures."""

    __tablename__ = "auth_login_attempt"
    __table_args__ = (
        Index("ix_auth_login_attempt_username_at", "username", "at"),
        Index("ix_auth_login_attempt_client_at", "client", "at"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200))
    client: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime)
    ok: Mapped[bool] = mapped_column(Boolean)
    limited: Mapped[bool] = mapped_column(Boolean, default=False)
