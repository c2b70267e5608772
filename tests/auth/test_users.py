"""UserStore on SQLite: passwords, sign-in and its rate limit, sessions, API tokens, roles."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from servq.app_store import Store
from servq.auth import (
    PERMISSIONS,
    ROLE_NAMES,
    ROLES,
    AuthError,
    LoginFailed,
    Principal,
    RateLimited,
    UserStore,
)
from servq.auth.tables import LoginAttemptRow, SessionRow, TokenRow, UserRow
from servq.errors import ServqError

PW = "correct-horse-1"
T0 = datetime(2025, 10, 9, 8, 0)
# argon2id with tiny costs: the rules are the same, the tests much faster
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class Clock:
    """Naive UTC time that moves only when told to."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def users(store: Store, clock: Clock) -> UserStore:
    user_store = UserStore(store, clock=clock)
    user_store.hasher = FAST_HASHER
    return user_store


def user_row(store: Store, username: str) -> UserRow:
    with store.session() as s:
        row = s.scalars(select(UserRow).where(UserRow.username == username)).one()
        s.expunge(row)
        return row


def attempts(store: Store) -> list[tuple[str, str, bool, bool]]:
    with store.session() as s:
        rows = s.scalars(select(LoginAttemptRow).order_by(LoginAttemptRow.id)).all()
        return [(r.username, r.client, r.ok, r.limited) for r in rows]


class CountingHasher(PasswordHasher):
    """A fast argon2id hasher that counts how often a password is verified."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def counting(users: UserStore) -> CountingHasher:
    hasher = CountingHasher()
    users.hasher = hasher
    return hasher


# -- passwords ------------------------------------------------------------------------------------
def test_passwords_are_argon2id_hashes_salted_per_user(users: UserStore, store: Store) -> None:
    users.create_user("ann", PW, "analyst")
    users.create_user("bob", PW, "analyst")
    a, b = user_row(store, "ann").password_hash, user_row(store, "bob").password_hash
    assert a.startswith("$argon2id$") and b.startswith("$argon2id$")
    assert a != b
    assert PW not in a


def test_default_hasher_is_argon2id_with_real_costs(store: Store) -> None:
    hasher = UserStore(store).hasher
    encoded = hasher.hash(PW)
    assert encoded.startswith("$argon2id$")
    assert hasher.memory_cost >= 19 * 1024 and hasher.time_cost >= 2


def test_sign_in_rehashes_an_outdated_hash(users: UserStore, store: Store) -> None:
    users.create_user("ann", PW, "analyst")
    old = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1).hash(PW)
    with store.session() as s:
        s.scalars(select(UserRow)).one().password_hash = old
    users.login("ann", PW, client="c")
    new = user_row(store, "ann").password_hash
    assert new != old
    assert "m=1024,t=1,p=1" in new  # the store's current parameters
    users.login("ann", PW, client="c")  # and the new hash verifies


# -- sign-in --------------------------------------------------------------------------------------
def test_login_opens_a_session_and_stores_only_its_digest(users: UserStore, store: Store) -> None:
    created = users.create_user("ann", PW, "analyst", display_name="Ann Li", lang="en")
    principal, token, csrf = users.login("ann", PW, client="10.0.0.1")
    assert principal == created
    assert principal.via == "session" and principal.display_name == "Ann Li"
    assert len(token) >= 40 and len(csrf) >= 40 and token != csrf
    with store.session() as s:
        row = s.scalars(select(SessionRow)).one()
        assert row.id == hashlib.sha256(token.encode()).hexdigest()
        assert row.client == "10.0.0.1" and row.csrf_token == csrf
    assert users.resolve_session(token) == (principal, csrf)
    assert users.resolve_session(token + "x") is None
    assert attempts(store) == [("ann", "10.0.0.1", True, False)]


def test_every_failure_has_the_same_message_and_is_recorded(users: UserStore, store: Store) -> None:
    users.create_user("ann", PW, "analyst")
    users.create_user("off", PW, "analyst")
    users.update_user("off", active=False)
    messages = []
    for name, password in (("ann", "wrong-password"), ("nobody", PW), ("off", PW)):
        with pytest.raises(LoginFailed) as info:
            users.login(name, password, client="c")
        messages.append(str(info.value))
    assert messages == ["wrong user name or password / 用户名或密码错误"] * 3
    assert isinstance(info.value, AuthError) and isinstance(info.value, ServqError)
    assert attempts(store) == [
        ("ann", "c", False, False),
        ("nobody", "c", False, False),
        ("off", "c", False, False),
    ]
    with store.session() as s:
        assert s.scalars(select(SessionRow)).all() == []


def test_unknown_users_cost_a_password_check_too(
    users: UserStore, counting: CountingHasher
) -> None:
    with pytest.raises(LoginFailed):
        users.login("nobody", PW, client="c")
    assert counting.verified == 1
    with pytest.raises(LoginFailed):
        users.login("not a valid name!", PW, client="c")
    assert counting.verified == 2


def test_five_failures_lock_the_user_name_until_the_oldest_leaves_the_window(
    users: UserStore, clock: Clock, store: Store, counting: CountingHasher
) -> None:
    users.create_user("ann", PW, "analyst")
    for _ in range(5):
        with pytest.raises(LoginFailed):
            users.login("ann", "wrong-password", client="c1")
        clock.advance(minutes=1)
    # the 6th attempt, right password and another client: refused without checking it
    checked = counting.verified
    with pytest.raises(RateLimited) as info:
        users.login("ann", PW, client="c2")
    assert counting.verified == checked
    assert info.value.retry_after == 10 * 60  # first failure at T0, now T0+5min, window 15min
    assert "600" in str(info.value) and " / " in str(info.value)
    assert attempts(store)[-1] == ("ann", "c2", False, True)
    # refused attempts do not move the end of the lock
    clock.now = T0 + timedelta(minutes=15, seconds=-1)
    with pytest.raises(RateLimited) as info:
        users.login("ann", PW, client="c2")
    assert info.value.retry_after == 1
    clock.now = T0 + timedelta(minutes=15)
    principal, _, _ = users.login("ann", PW, client="c2")
    assert principal.username == "ann"


def test_a_success_neither_counts_nor_resets_the_failures(users: UserStore, clock: Clock) -> None:
    users.create_user("ann", PW, "analyst")
    for _ in range(4):
        with pytest.raises(LoginFailed):
            users.login("ann", "wrong-password", client="c")
        clock.advance(seconds=10)
    users.login("ann", PW, client="c")
    users.login("ann", PW, client="c")
    with pytest.raises(LoginFailed):
        users.login("ann", "wrong-password", client="c")
    with pytest.raises(RateLimited) as info:
        users.login("ann", PW, client="c")
    assert info.value.retry_after == 15 * 60 - 40


def test_twenty_failures_lock_the_client_for_every_user(users: UserStore, clock: Clock) -> None:
    users.create_user("ann", PW, "analyst")
    for n in range(20):
        with pytest.raises(LoginFailed):
            users.login(f"guess{n}", "wrong-password", client="10.9.9.9")
        clock.advance(seconds=3)
    with pytest.raises(RateLimited) as info:
        users.login("ann", PW, client="10.9.9.9")
    assert info.value.retry_after == 15 * 60 - 60
    # the user name itself is not locked: from another client it works
    users.login("ann", PW, client="10.1.1.1")
    clock.now = T0 + timedelta(minutes=15)
    users.login("ann", PW, client="10.9.9.9")


def test_nineteen_failures_from_one_client_do_not_lock_it(users: UserStore) -> None:
    users.create_user("ann", PW, "analyst")
    for n in range(19):
        with pytest.raises(LoginFailed):
            users.login(f"guess{n}", "wrong-password", client="c")
    users.login("ann", PW, client="c")


# -- sessions -------------------------------------------------------------------------------------
def test_session_expires_after_twelve_idle_hours(
    users: UserStore, clock: Clock, store: Store
) -> None:
    users.create_user("ann", PW, "analyst")
    _, token, _ = users.login("ann", PW, client="c")
    clock.advance(hours=11)
    assert users.resolve_session(token) is not None  # used: the idle time starts again
    clock.advance(hours=11, minutes=59)
    assert users.resolve_session(token) is not None
    clock.advance(hours=12)
    assert users.resolve_session(token) is None
    with store.session() as s:
        assert s.scalars(select(SessionRow)).all() == []  # the expired row is gone


def test_session_ends_seven_days_after_sign_in_however_used(users: UserStore, clock: Clock) -> None:
    users.create_user("ann", PW, "analyst")
    _, token, _ = users.login("ann", PW, client="c")
    for _ in range(16):  # every 10 hours up to 6 days 16 hours
        clock.advance(hours=10)
        assert users.resolve_session(token) is not None
    clock.now = T0 + timedelta(days=7, seconds=-1)
    assert users.resolve_session(token) is not None
    clock.now = T0 + timedelta(days=7)
    assert users.resolve_session(token) is None


def test_last_seen_is_written_at_most_once_a_minute(
    users: UserStore, clock: Clock, store: Store
) -> None:
    users.create_user("ann", PW, "analyst")
    _, token, _ = users.login("ann", PW, client="c")

    def seen() -> tuple[Any, Any]:
        with store.session() as s:
            row = s.scalars(select(SessionRow)).one()
            return row.last_seen_at, row.expires_at

    clock.advance(seconds=59)
    users.resolve_session(token)
    assert seen() == (T0, T0 + timedelta(hours=12))
    clock.advance(seconds=1)
    users.resolve_session(token)
    assert seen() == (T0 + timedelta(minutes=1), T0 + timedelta(hours=12, minutes=1))


def test_logout_ends_only_that_session(users: UserStore) -> None:
    users.create_user("ann", PW, "analyst")
    _, one, _ = users.login("ann", PW, client="c")
    _, two, _ = users.login("ann", PW, client="c")
    users.logout(one)
    users.logout(one)  # again: nothing to do
    users.logout("no-such-token")
    assert users.resolve_session(one) is None
    assert users.resolve_session(two) is not None


def test_new_password_ends_sessions_and_replaces_the_old(users: UserStore) -> None:
    users.create_user("ann", PW, "analyst")
    _, token, _ = users.login("ann", PW, client="c")
    users.set_password("ann", "another-pass-2")
    assert users.resolve_session(token) is None
    with pytest.raises(LoginFailed):
        users.login("ann", PW, client="c")
    users.login("ann", "another-pass-2", client="c")
    with pytest.raises(AuthError, match="at least 8"):
        users.set_password("ann", "short")
    with pytest.raises(AuthError, match="no user"):
        users.set_password("nobody", "long-enough-1")


# -- API tokens -----------------------------------------------------------------------------------
def test_tokens_are_issued_once_resolved_and_revoked(
    users: UserStore, clock: Clock, store: Store
) -> None:
    users.create_user("ann", PW, "analyst")
    users.create_user("bob", PW, "viewer")
    token = users.issue_token("ann", "nightly export")
    other = users.issue_token("bob", "dashboard")
    assert token.startswith("sqt_") and len(token) > 40 and token != other
    with store.session() as s:
        hashes = set(s.scalars(select(TokenRow.token_hash)).all())
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    principal = users.resolve_token(token)
    assert principal is not None
    assert (principal.username, principal.via) == ("ann", "token")
    assert users.resolve_token(token[:-1]) is None
    assert users.resolve_token("not-a-token") is None

    listed = users.list_tokens()
    assert [(t["username"], t["name"], t["active"]) for t in listed] == [
        ("ann", "nightly export", True),
        ("bob", "dashboard", True),
    ]
    assert listed[0]["last_used_at"] == T0.isoformat()
    assert token not in json.dumps(listed) and other not in json.dumps(listed)
    assert [t["username"] for t in users.list_tokens("bob")] == ["bob"]

    clock.advance(seconds=30)
    users.resolve_token(token)
    assert users.list_tokens("ann")[0]["last_used_at"] == T0.isoformat()
    clock.advance(seconds=30)
    users.resolve_token(token)
    assert users.list_tokens("ann")[0]["last_used_at"] == (T0 + timedelta(minutes=1)).isoformat()

    users.revoke_token(listed[0]["id"])
    users.revoke_token(listed[0]["id"])  # again: still revoked, no error
    assert users.resolve_token(token) is None
    assert users.resolve_token(other) is not None
    assert users.list_tokens("ann")[0]["active"] is False
    with pytest.raises(AuthError, match="no API token 999"):
        users.revoke_token(999)
    with pytest.raises(AuthError, match="no user"):
        users.list_tokens("nobody")
    with pytest.raises(AuthError, match="token name"):
        users.issue_token("ann", "  ")


def test_a_disabled_user_has_no_way_in(users: UserStore) -> None:
    users.create_user("ann", PW, "analyst")
    users.create_user("root", PW, "admin")
    _, session_token, _ = users.login("ann", PW, client="c")
    api_token = users.issue_token("ann", "script")
    users.update_user("ann", active=False)
    assert users.resolve_session(session_token) is None
    assert users.resolve_token(api_token) is None
    with pytest.raises(LoginFailed):
        users.login("ann", PW, client="c")
    with pytest.raises(AuthError, match="disabled"):
        users.issue_token("ann", "another")
    assert [u["active"] for u in users.list_users() if u["username"] == "ann"] == [False]
    # enabled again: the password and the token work, the old session stays ended
    users.update_user("ann", active=True)
    assert users.resolve_token(api_token) is not None
    assert users.resolve_session(session_token) is None
    users.login("ann", PW, client="c")


# -- roles ----------------------------------------------------------------------------------------
def test_permissions_of_every_role() -> None:
    everything = {"read", "read_all", "export", "alerts_write", "ingest", "reports", "users_admin"}
    assert set(ROLES) == set(PERMISSIONS) == set(ROLE_NAMES)
    assert PERMISSIONS["admin"] == everything
    assert PERMISSIONS["quality_manager"] == everything - {"users_admin"}
    assert PERMISSIONS["analyst"] == {"read", "read_all", "export", "reports"}
    assert PERMISSIONS["department_owner"] == {"read", "export", "alerts_write", "reports"}
    assert PERMISSIONS["agent"] == {"read"}
    assert PERMISSIONS["viewer"] == {"read", "read_all"}
    assert ROLE_NAMES["department_owner"][1] == "部门负责人"
    assert [ROLE_NAMES[r][1] for r in ROLES] == [
        "管理员",
        "质量经理",
        "分析师",
        "部门负责人",
        "坐席",
        "只读用户",
    ]


def principal(role: str, departments: tuple[str, ...] = (), agent: str | None = None) -> Principal:
    return Principal(1, "u", "U", role, departments, agent, "zh", "session")


@pytest.mark.parametrize(
    ("who", "scope"),
    [
        (principal("admin", ("a",)), {}),
        (principal("quality_manager"), {}),
        (principal("analyst"), {}),
        (principal("viewer", agent="x"), {}),
        (principal("department_owner", ("电话客服组", "b")), {"team": ["电话客服组", "b"]}),
        (principal("department_owner"), {"team": []}),
        (principal("agent", ("a",), "刘洋"), {"agent": ["刘洋"]}),
        (principal("agent"), {"agent": []}),
    ],
)
def test_scope_of_each_role(who: Principal, scope: dict[str, list[str]]) -> None:
    assert who.scope() == scope


def test_can_and_as_dict() -> None:
    owner = principal("department_owner", ("a",))
    assert owner.can("alerts_write") and owner.can("export") and not owner.can("read_all")
    assert not principal("viewer").can("export")
    assert principal("admin").can("users_admin")
    assert not principal("quality_manager").can("users_admin")
    with pytest.raises(ValueError):
        owner.can("exprot")
    data = owner.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["scope"] == {"team": ["a"]}
    assert data["permissions"] == ["alerts_write", "export", "read", "reports"]
    assert data["role_name"] == {"en": "Department owner", "zh": "部门负责人"}


# -- user management ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("username", "password", "role", "kwargs", "message"),
    [
        ("ann", PW, "boss", {}, "unknown role 'boss'"),
        ("a", PW, "analyst", {}, "user name 'a' is not valid"),
        ("x" * 65, PW, "analyst", {}, "is not valid"),
        ("ann smith", PW, "analyst", {}, "is not valid"),
        ("ann/x", PW, "analyst", {}, "is not valid"),
        ("ann", "1234567", "analyst", {}, "at least 8 characters"),
        ("ann", PW, "analyst", {"lang": "fr"}, "unknown language"),
        ("ann", PW, "department_owner", {}, "at least one department"),
        ("ann", PW, "department_owner", {"departments": [" ", ""]}, "at least one department"),
        ("ann", PW, "agent", {}, "needs an agent name"),
        ("ann", PW, "agent", {"agent": "  "}, "needs an agent name"),
    ],
)
def test_create_user_refuses_what_is_not_valid(
    users: UserStore,
    username: str,
    password: str,
    role: str,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(AuthError, match=message) as info:
        users.create_user(username, password, role, **kwargs)
    assert " / " in str(info.value)  # English / Chinese
    assert users.list_users() == []


def test_create_user_accepts_chinese_names_and_refuses_duplicates(users: UserStore) -> None:
    owner = users.create_user(
        "王芳", PW, "department_owner", departments=["电话客服组", " 电话客服组 ", "b"]
    )
    assert owner.departments == ("电话客服组", "b") and owner.display_name == "王芳"
    users.create_user("a.b-c_d@corp", PW, "viewer")
    with pytest.raises(AuthError, match="already exists"):
        users.create_user("王芳", "other-pass-1", "viewer")
    assert [u["username"] for u in users.list_users()] == ["a.b-c_d@corp", "王芳"]
    assert all("password_hash" not in u for u in users.list_users())


def test_update_user_changes_only_what_is_given(users: UserStore, clock: Clock) -> None:
    users.create_user("liu", PW, "agent", agent="刘洋", display_name="Liu")
    clock.advance(hours=1)
    changed = users.update_user("liu", role="department_owner", departments=["在线客服组"])
    assert (changed.role, changed.departments, changed.agent) == (
        "department_owner",
        ("在线客服组",),
        "刘洋",
    )
    assert changed.display_name == "Liu" and changed.lang == "zh"
    changed = users.update_user("liu", lang="en", agent="", display_name="Liu Yang")
    assert (changed.lang, changed.agent, changed.display_name) == ("en", None, "Liu Yang")
    row = users.list_users()[0]
    assert row["updated_at"] == (T0 + timedelta(hours=1)).isoformat()
    assert row["created_at"] == T0.isoformat()
    with pytest.raises(AuthError, match="at least one department"):
        users.update_user("liu", departments=[])
    with pytest.raises(AuthError, match="needs an agent name"):
        users.update_user("liu", role="agent")
    with pytest.raises(AuthError, match="no user 'nobody'"):
        users.update_user("nobody", lang="en")
    got = users.get("liu")
    assert got is not None and got.role == "department_owner"
    assert users.get("nobody") is None


def test_the_last_active_admin_stays(users: UserStore) -> None:
    users.create_user("root", PW, "admin")
    with pytest.raises(AuthError, match="last active admin"):
        users.update_user("root", active=False)
    with pytest.raises(AuthError, match="last active admin"):
        users.update_user("root", role="viewer")
    users.create_user("root2", PW, "admin")
    users.update_user("root", role="viewer")
    with pytest.raises(AuthError, match="last active admin"):
        users.update_user("root2", active=False)


def test_demo_users_are_created_once(users: UserStore) -> None:
    first = users.ensure_demo_users()
    assert ("admin", "admin-demo-2025", "admin") in first
    assert ("phone-owner", "owner-demo-2025", "department_owner") in first
    assert {role for _, _, role in first} == set(ROLES)
    users.set_password("viewer", "changed-by-someone")
    assert users.ensure_demo_users() == first
    assert len(users.list_users()) == 7
    with pytest.raises(LoginFailed):  # an existing user is left as it is
        users.login("viewer", "viewer-demo-2025", client="c")
    for username, password, role in first:
        if username != "viewer":
            who, _, _ = users.login(username, password, client="c")
            assert who.role == role and who.lang == "zh"
    phone = users.get("phone-owner")
    agent = users.get("agent-liu")
    assert phone is not None and phone.scope() == {"team": ["电话客服组"]}
    assert agent is not None and agent.scope() == {"agent": ["刘洋"]} and agent.departments == ()
    online = users.get("online-owner")
    assert online is not None and online.scope() == {"team": ["在线客服组"]}
