"""The ``servq users`` commands: add, list, update and disable users, and their API tokens.

Owns: the ``users_app`` Typer group and how users and tokens are printed (Rich tables for
people, ``--json`` for scripts). Works on the application store of ``--workspace`` (or
``--store`` / ``SERVQ_APP_DB``) through :class:`servq.auth.UserStore`. Passwords are read with
hidden input (typed twice) or, with ``--password-stdin``, from the first line of standard input;
they are never options, so they stay out of shell history and process lists. Shares the one-line
error (exit status 2) with ``servq.cli.sla_cmd`` and imports nothing from ``servq.cli.main``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from servq.app_store import open_store
from servq.auth import ROLE_NAMES, ROLES, UserStore
from servq.cli.common import JsonOpt, StoreOpt, WorkspaceOpt, err_console
from servq.cli.common import fail as _fail
from servq.cli.common import print_json as _print_json
from servq.errors import ServqError
from servq.workspace import default_workspace_path

users_app = typer.Typer(
    help="Users, roles and API tokens. 用户、角色与 API 令牌。",
    no_args_is_help=True,
)

console = Console(width=None if sys.stdout.isatty() else 200)

UsernameArg = Annotated[str, typer.Argument(help="User name 用户名")]
RoleOpt = Annotated[str | None, typer.Option("--role", "-r", help=f"Role: {', '.join(ROLES)}")]
DepartmentOpt = Annotated[
    list[str] | None,
    typer.Option("--department", "-d", help="Team the user owns (repeatable) 负责的部门"),
]
AgentOpt = Annotated[
    str | None, typer.Option("--agent", help="Agent name of an agent user 坐席姓名")
]
DisplayNameOpt = Annotated[str | None, typer.Option("--display-name", help="Name shown 显示名称")]
LangOpt = Annotated[str | None, typer.Option("--lang", help="Interface language: zh or en")]
StdinOpt = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


@contextmanager
def _users(workspace: Path | None, store: str | None) -> Iterator[UserStore]:
    """The users of the workspace's store; any servq error ends the command with status 2."""
    try:
        with open_store(workspace or default_workspace_path(), url=store) as app_store:
            yield UserStore(app_store)
    except ServqError as exc:
        raise _fail(str(exc)) from None


def _read_password(from_stdin: bool) -> str:
    """A new password: the first line of stdin, or typed twice without echo."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise _fail("no password on standard input / 标准输入中没有密码")
        return password
    first: str = typer.prompt("Password 密码", hide_input=True, err=True)
    second: str = typer.prompt("Repeat password 再次输入密码", hide_input=True, err=True)
    if first != second:
        raise _fail("the passwords do not match / 两次输入的密码不一致")
    return first


def _role(role: str) -> str:
    en, zh = ROLE_NAMES.get(role, (role, role))
    return f"{en} {zh}"


def _when(value: Any) -> str:
    return "–" if value is None else str(value).replace("T", " ")[:19]


@users_app.command("add")
def add(
    username: UsernameArg,
    role: Annotated[str, typer.Option("--role", "-r", help=f"Role: {', '.join(ROLES)}")],
    department: DepartmentOpt = None,
    agent: AgentOpt = None,
    display_name: DisplayNameOpt = None,
    lang: Annotated[str, typer.Option("--lang", help="Interface language: zh or en")] = "zh",
    password_stdin: StdinOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Add a user. 添加用户。"""
    with _users(workspace, store) as users:
        password = _read_password(password_stdin)
        user = users.create_user(
            username,
            password,
            role,
            display_name=display_name,
            departments=department or (),
            agent=agent,
            lang=lang,
        )
    err_console.print(
        f"added user {user.username} ({user.role}) / 已添加用户 {user.username}"
        f"（{ROLE_NAMES[user.role][1]}）",
        highlight=False,
    )


@users_app.command("list")
def list_users(
    as_json: JsonOpt = False, workspace: WorkspaceOpt = None, store: StoreOpt = None
) -> None:
    """List users. 列出用户。"""
    with _users(workspace, store) as users:
        rows = users.list_users()
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"Users 用户 ({len(rows)}, times UTC)")
    for col in ("user", "name", "role", "departments", "agent", "lang", "active", "created"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["username"],
            r["display_name"],
            _role(r["role"]),
            ", ".join(r["departments"]),
            r["agent"] or "",
            r["lang"],
            "yes 是" if r["active"] else "no 否",
            _when(r["created_at"]),
        )
    console.print(table)


@users_app.command("update")
def update(
    username: UsernameArg,
    role: RoleOpt = None,
    department: DepartmentOpt = None,
    clear_departments: Annotated[
        bool, typer.Option("--clear-departments", help="Remove every department.")
    ] = False,
    agent: Annotated[
        str | None, typer.Option("--agent", help='Agent name ("" clears it) 坐席姓名')
    ] = None,
    display_name: DisplayNameOpt = None,
    lang: LangOpt = None,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Change a user's role, departments, agent, name or language. 修改用户信息。"""
    if department and clear_departments:
        raise _fail("give --department or --clear-departments, not both / 两者只能选一")
    departments = [] if clear_departments else department
    if all(v is None for v in (role, departments, agent, display_name, lang)):
        raise _fail("nothing to change: give at least one option / 没有要修改的内容")
    with _users(workspace, store) as users:
        user = users.update_user(
            username,
            role=role,
            departments=departments,
            agent=agent,
            display_name=display_name,
            lang=lang,
        )
    err_console.print(
        f"updated user {user.username} ({user.role}) / 已更新用户 {user.username}", highlight=False
    )


@users_app.command("passwd")
def passwd(
    username: UsernameArg,
    password_stdin: StdinOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Set a user's password; their sessions end. 修改密码（会话随之失效）。"""
    with _users(workspace, store) as users:
        if users.get(username) is None:
            raise _fail(f"no user '{username}' / 用户不存在：{username}")
        users.set_password(username, _read_password(password_stdin))
    err_console.print(f"password of {username} changed / 已修改 {username} 的密码", highlight=False)


@users_app.command("disable")
def disable(username: UsernameArg, workspace: WorkspaceOpt = None, store: StoreOpt = None) -> None:
    """Disable a user: no sign-in, sessions end, tokens stop working. 停用用户。"""
    with _users(workspace, store) as users:
        users.update_user(username, active=False)
    err_console.print(f"disabled user {username} / 已停用用户 {username}", highlight=False)


@users_app.command("enable")
def enable(username: UsernameArg, workspace: WorkspaceOpt = None, store: StoreOpt = None) -> None:
    """Enable a disabled user again. 重新启用用户。"""
    with _users(workspace, store) as users:
        users.update_user(username, active=True)
    err_console.print(f"enabled user {username} / 已启用用户 {username}", highlight=False)


@users_app.command("token")
def token(
    username: UsernameArg,
    name: Annotated[str, typer.Option("--name", help="What the token is for 令牌用途")],
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Issue an API token; it is printed once. 签发 API 令牌（只显示一次）。"""
    with _users(workspace, store) as users:
        secret = users.issue_token(username, name)
    # the token alone on stdout (for scripts), the note on stderr
    sys.stdout.write(secret + "\n")
    err_console.print(
        "keep this token now: it will not be shown again / 请立即保存此令牌，之后不会再显示",
        highlight=False,
    )


@users_app.command("tokens")
def tokens(
    username: Annotated[str | None, typer.Argument(help="Only this user's tokens")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """List API tokens (never their text). 列出 API 令牌。"""
    with _users(workspace, store) as users:
        rows = users.list_tokens(username)
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"API tokens 令牌 ({len(rows)}, times UTC)")
    for col in ("id", "user", "name", "created", "last used", "revoked"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["username"],
            r["name"],
            _when(r["created_at"]),
            _when(r["last_used_at"]),
            _when(r["revoked_at"]),
        )
    console.print(table)


@users_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="Token id (servq users tokens)")],
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Revoke an API token. 吊销 API 令牌。"""
    with _users(workspace, store) as users:
        users.revoke_token(token_id)
    err_console.print(f"revoked token {token_id} / 已吊销令牌 {token_id}", highlight=False)
