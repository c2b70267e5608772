"""The core flows of :class:`UserStore` on the real PostgreSQL server (a fresh database)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import inspect, select

from servq.app_store import open_store
from servq.auth import AuthError, LoginFailed, RateLimited, UserStore
from servq.auth.tables import LoginAttemptRow, UserRow

T0 = datetime(2025, 10, 9, 8, 0)


def test_core_flows_on_postgresql(pg_url: str) -> None:
    now = [T0]
    with open_store(url=pg_url) as store:
        assert store.dialect == "postgresql"
        tables = set(inspect(store.engine).get_table_names())
        assert {"auth_user", "auth_session", "auth_token", "auth_login_attempt"} <= tables
        users = UserStore(store, clock=lambda: now[0])
        users.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

        demo = users.ensure_demo_users()
        assert users.ensure_demo_users() == demo
        assert len(users.list_users()) == 7
        owner = users.get("phone-owner")
        assert owner is not None and owner.departments == ("电话客服组",)  # JSONB round trip
        with pytest.raises(AuthError, match="already exists"):
            users.create_user("admin", "another-pass", "viewer")

        principal, token, csrf = users.login("analyst", "analyst-demo-2025", client="10.0.0.1")
        assert principal.role == "analyst"
        assert users.resolve_session(token) == (principal, csrf)
        now[0] += timedelta(hours=12, seconds=1)
        assert users.resolve_session(token) is None
        _, token, _ = users.login("analyst", "analyst-demo-2025", client="10.0.0.1")
        users.logout(token)
        assert users.resolve_session(token) is None

        api = users.issue_token("quality", "etl")
        resolved = users.resolve_token(api)
        assert resolved is not None and resolved.via == "token"
        users.revoke_token(users.list_tokens("quality")[0]["id"])
        assert users.resolve_token(api) is None

        users.update_user("viewer", active=False)
        with pytest.raises(LoginFailed):
            users.login("viewer", "viewer-demo-2025", client="10.0.0.2")

        for _ in range(5):
            with pytest.raises(LoginFailed):
                users.login("admin", "wrong-password", client="10.0.0.3")
        with pytest.raises(RateLimited) as info:
            users.login("admin", "admin-demo-2025", client="10.0.0.4")
        assert info.value.retry_after == 15 * 60
        now[0] += timedelta(minutes=15)
        users.login("admin", "admin-demo-2025", client="10.0.0.4")

        with store.session() as s:
            hashes = s.scalars(select(UserRow.password_hash)).all()
            limited = s.scalars(select(LoginAttemptRow).where(LoginAttemptRow.limited)).all()
        assert all(h.startswith("$argon2id$") for h in hashes)
        assert [(a.username, a.client) for a in limited] == [("admin", "10.0.0.4")]
