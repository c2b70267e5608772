"""Users and roles: who may sign in, how, and what each role may see and do.

Owns: the ``auth_user``, ``auth_session``, ``auth_token`` and ``auth_login_attempt`` tables
(declared on :class:`servq.app_store.Base` when this package is imported), the role →
permission table and :class:`UserStore` (passwords, sessions, API tokens, sign-in rate limit).
May import the application store; imports nothing of the HTTP API or the CLI, which build on it.

- ``roles``: :data:`ROLES`, :data:`PERMISSIONS` and the frozen :class:`Principal`;
- ``errors``: :class:`AuthError`, :class:`LoginFailed`, :class:`RateLimited`;
- ``tables``: the rows; ``users``: :class:`UserStore`, the transactions.
"""

from servq.auth.errors import AuthError, LoginFailed, RateLimited
from servq.auth.roles import PERMISSIONS, ROLE_NAMES, ROLES, Principal
from servq.auth.users import UserStore

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "ROLE_NAMES",
    "AuthError",
    "LoginFailed",
    "Principal",
    "RateLimited",
    "UserStore",
]
