"""``servq users``: add, list, update, passwd, disable, enable, token, tokens, revoke, end to end.

Every command runs on a workspace's SQLite store; results are read back through the JSON output
and through :class:`UserStore`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from servq.app_store import APP_DB_ENV, open_store
from servq.auth import LoginFailed, UserStore
from servq.cli.main import app

runner = CliRunner()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(APP_DB_ENV, raising=False)  # the store must be the workspace's file
    return tmp_path / "ws"


def run(workspace: Path, *args: str, code: int = 0, stdin: str | None = None) -> Result:
    result = runner.invoke(app, ["users", *args, "-w", str(workspace)], input=stdin)
    assert result.exit_code == code, result.output
    return result


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def login(workspace: Path, username: str, password: str) -> str:
    with open_store(workspace) as store:
        principal, _, _ = UserStore(store).login(username, password, client="test")
        return principal.role


def test_add_list_update_and_passwd(workspace: Path) -> None:
    out = run(workspace, "add", "ann", "--role", "analyst", "--password-stdin", stdin="pass-1234\n")
    assert "added user ann" in out.stderr and "已添加用户" in out.stderr
    run(
        workspace,
        "add",
        "wang",
        "--role",
        "department_owner",
        "-d",
        "电话客服组",
        "-d",
        "在线客服组",
        "--display-name",
        "Wang Fang",
        "--lang",
        "en",
        stdin="owner-pass-1\nowner-pass-1\n",  # typed twice at the hidden prompt
    )
    users = as_json(run(workspace, "list", "--json"))
    assert [(u["username"], u["role"], u["departments"], u["lang"]) for u in users] == [
        ("ann", "analyst", [], "zh"),
        ("wang", "department_owner", ["电话客服组", "在线客服组"], "en"),
    ]
    assert "password" not in json.dumps(users)
    assert login(workspace, "ann", "pass-1234") == "analyst"
    assert login(workspace, "wang", "owner-pass-1") == "department_owner"

    run(workspace, "update", "ann", "--role", "viewer", "--display-name", "Ann")
    users = as_json(run(workspace, "list", "--json"))
    assert (users[0]["role"], users[0]["display_name"]) == ("viewer", "Ann")
    table = run(workspace, "list").stdout
    assert "Wang Fang" in table and "只读用户" in table

    run(workspace, "passwd", "ann", "--password-stdin", stdin="new-pass-99\n")
    assert login(workspace, "ann", "new-pass-99") == "viewer"
    with pytest.raises(LoginFailed):
        login(workspace, "ann", "pass-1234")


def test_errors_are_one_line_with_status_2(workspace: Path) -> None:
    run(workspace, "add", "ann", "--role", "analyst", "--password-stdin", stdin="pass-1234\n")
    for args, stdin, words in [
        (("add", "ann", "--role", "analyst", "--password-stdin"), "pass-5678\n", "already exists"),
        (("add", "bob", "--role", "boss", "--password-stdin"), "pass-5678\n", "unknown role"),
        (("add", "bob", "--role", "viewer", "--password-stdin"), "short\n", "too short"),
        (("add", "bob", "--role", "viewer"), "pass-5678\npass-5679\n", "do not match"),
        (("add", "own", "--role", "department_owner", "--password-stdin"), "pass-5678\n", "部门"),
        (("update", "ann"), None, "nothing to change"),
        (("update", "nobody", "--lang", "en"), None, "no user 'nobody'"),
        (("passwd", "nobody", "--password-stdin"), "pass-5678\n", "no user"),
        (("disable", "nobody"), None, "no user"),
        (("revoke", "7"), None, "no API token 7"),
        (("token", "nobody", "--name", "x"), None, "no user"),
    ]:
        result = run(workspace, *args, code=2, stdin=stdin)
        last = result.stderr.strip().splitlines()[-1].split("error: ", 1)[-1]
        assert words in last, (args, result.stderr)
        assert result.stderr.count("error") == 1 and result.stdout.strip() == ""
    assert [u["username"] for u in as_json(run(workspace, "list", "--json"))] == ["ann"]


def test_token_is_printed_once_and_can_be_revoked(workspace: Path) -> None:
    run(workspace, "add", "ann", "--role", "analyst", "--password-stdin", stdin="pass-1234\n")
    issued = run(workspace, "token", "ann", "--name", "nightly export")
    token = issued.stdout.strip()
    assert token.startswith("sqt_") and "\n" not in token
    assert "will not be shown again" in issued.stderr and "不会再显示" in issued.stderr
    with open_store(workspace) as store:
        who = UserStore(store).resolve_token(token)
        assert who is not None and (who.username, who.via) == ("ann", "token")

    listed = as_json(run(workspace, "tokens", "ann", "--json"))
    assert [(t["id"], t["name"], t["active"]) for t in listed] == [(1, "nightly export", True)]
    assert token not in run(workspace, "tokens", "--json").stdout
    assert "nightly export" in run(workspace, "tokens").stdout

    run(workspace, "revoke", str(listed[0]["id"]))
    assert as_json(run(workspace, "tokens", "--json"))[0]["active"] is False
    with open_store(workspace) as store:
        assert UserStore(store).resolve_token(token) is None


def test_disable_and_enable(workspace: Path) -> None:
    run(workspace, "add", "root", "--role", "admin", "--password-stdin", stdin="pass-1234\n")
    run(workspace, "add", "ann", "--role", "analyst", "--password-stdin", stdin="pass-1234\n")
    assert "last active admin" in run(workspace, "disable", "root", code=2).stderr
    run(workspace, "disable", "ann")
    assert [u["active"] for u in as_json(run(workspace, "list", "--json"))] == [False, True]
    with pytest.raises(LoginFailed):
        login(workspace, "ann", "pass-1234")
    run(workspace, "enable", "ann")
    assert login(workspace, "ann", "pass-1234") == "analyst"


def test_store_option_picks_another_database(workspace: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    run(workspace, "add", "ann", "--role", "viewer", "--store", url, stdin="pass-1234\npass-1234\n")
    assert as_json(run(workspace, "list", "--json")) == []
    assert [u["username"] for u in as_json(run(workspace, "list", "--json", "--store", url))] == [
        "ann"
    ]
