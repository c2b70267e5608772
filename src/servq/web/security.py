"""Who is asking: browser sessions, API tokens, CSRF and permission checks for the web process.

Owns: reading the caller from a request (``Authorization: Bearer sqt_…`` for machines, the
``servq_session`` cookie for browsers), refusing a state-changing browser request whose
``X-CSRF-Token`` header (or ``csrf_token`` form field) is not its session's token, and the
FastAPI dependencies :func:`reader` and :func:`needs`. Users, passwords, sessions and tokens
themselves live in :mod:`servq.auth`.

A token-authenticated request needs no CSRF token: a browser never adds the header on its own.
Session cookies are ``HttpOnly`` and ``SameSite=Lax``; ``Secure`` when served over HTTPS
(``SERVQ_SECURE_COOKIES=1``).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request, Response

from servq.auth import Principal, UserStore

SESSION_COOKIE = "servq_session"
LANG_COOKIE = "servq_lang"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_MAX_AGE = 7 * 24 * 3600


class NotSignedIn(HTTPException):
    def __init__(self) -> None:
        super().__init__(401, "sign in first / 请先登录")


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def users_of(request: Request) -> UserStore:
    users: UserStore = request.app.state.users
    return users


def identify(request: Request) -> tuple[Principal, str | None] | None:
    """The caller and, for a browser session, its CSRF token; None when anonymous. Cached on
    the request, so pages and dependencies ask the store once."""
    if hasattr(request.state, "identity"):
        cached: tuple[Principal, str | None] | None = request.state.identity
        return cached
    found: tuple[Principal, str | None] | None = None
    header = request.headers.get("authorization", "")
    users = users_of(request)
    if header.lower().startswith("bearer "):
        principal = users.resolve_token(header[7:].strip())
        if principal is None:
            raise HTTPException(401, "the API token is unknown or revoked / API 令牌无效或已吊销")
        found = (principal, None)
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            session = users.resolve_session(token)
            if session is not None:
                found = (session[0], session[1])
    request.state.identity = found
    return found


async def check_csrf(request: Request, csrf: str | None) -> None:
    if request.method in SAFE_METHODS or csrf is None:
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, csrf):
        raise HTTPException(403, "missing or wrong CSRF token / 缺少或错误的 CSRF 令牌")


async def reader(request: Request) -> Principal:
    """Dependency: a signed-in caller allowed to read data."""
    return await _require(request, "read")


def needs(permission: str) -> Callable[[Request], Any]:
    """Dependency factory: a signed-in caller holding ``permission``."""

    async def dependency(request: Request) -> Principal:
        return await _require(request, permission)

    dependency.__name__ = f"needs_{permission}"
    return dependency


async def _require(request: Request, permission: str) -> Principal:
    from starlette.concurrency import run_in_threadpool

    identity = await run_in_threadpool(identify, request)
    if identity is None:
        raise NotSignedIn()
    principal, csrf = identity
    await check_csrf(request, csrf)
    if not principal.can(permission):
        raise HTTPException(
            403,
            f"your role ({principal.role}) may not do this ({permission}) / "
            f"您的角色（{principal.role}）无此权限（{permission}）",
        )
    return principal


def set_session_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=os.environ.get("SERVQ_SECURE_COOKIES") == "1",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
