"""Errors of sign-in and user management, each with an English and a Chinese message."""

from __future__ import annotations

from servq.errors import ServqError


class AuthError(ServqError):
    """A user or token that does not exist, or a change that is not allowed."""


class LoginFailed(AuthError):
    """Sign-in refused. One message for an unknown user, a disabled one or a wrong password,
    so the answer does not tell which user names exist."""

    MESSAGE = "wrong user name or password / 用户名或密码错误"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


class RateLimited(AuthError):
    """Too many failed sign-ins recently; the password was not checked."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"too many failed sign-ins, try again in {retry_after} s "
            f"/ 登录失败次数过多，请 {retry_after} 秒后再试"
        )
