"""Roles, what each may do, and the signed-in :class:`Principal`.

Owns: the fixed role list, the role → permissions table and the frozen value the web layer
checks on every request. Nothing here touches the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROLES = ("admin", "quality_manager", "analyst", "department_owner", "agent", "viewer")

ROLE_NAMES: dict[str, tuple[str, str]] = {
    "admin": ("Administrator", "管理员"),
    "quality_manager": ("Quality manager", "质量经理"),
    "analyst": ("Analyst", "分析师"),
    "department_owner": ("Department owner", "部门负责人"),
    "agent": ("Agent", "坐席"),
    "viewer": ("Viewer", "只读用户"),
}

# every permission a role can hold; Principal.can refuses names outside this set
PERMISSION_NAMES = (
    "read",  # see data (scoped unless read_all)
    "read_all",  # see every department, not only one's own
    "export",  # row-level CSV / Excel export
    "alerts_write",  # acknowledge, silence, resolve alerts
    "ingest",  # upload files, replay quarantine
    "reports",  # generate reports
    "users_admin",  # manage users and API tokens
)

PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSION_NAMES),
    "quality_manager": frozenset(PERMISSION_NAMES) - {"users_admin"},
    "analyst": frozenset({"read", "read_all", "export", "reports"}),
    "department_owner": frozenset({"read", "export", "alerts_write", "reports"}),
    "agent": frozenset({"read"}),
    "viewer": frozenset({"read", "read_all"}),
}

VIA = ("session", "token")
LANGS = ("zh", "en")


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user as signed in through a session or an API token."""

    user_id: int
    username: str
    display_name: str
    role: str
    departments: tuple[str, ...]
    agent: str | None
    lang: str
    via: str

    def can(self, permission: str) -> bool:
        """Whether the role holds ``permission`` (one of :data:`PERMISSION_NAMES`).

        An unknown permission name is a programming error and raises ``ValueError`` rather
        than quietly answering no.
        """
        if permission not in PERMISSION_NAMES:
            raise ValueError(f"unknown permission {permission!r}")
        return permission in PERMISSIONS.get(self.role, frozenset())

    def scope(self) -> dict[str, list[str]]:
        """Filters on the data this principal may read: ``{}`` means everything.

        A department owner sees their teams (``{"team": [...]}``), an agent only their own
        rows (``{"agent": [name]}``). Empty lists match nothing: an owner without departments
        or an agent without a name sees no data rather than all of it.
        """
        if self.can("read_all"):
            return {}
        if self.role == "agent":
            return {"agent": [self.agent] if self.agent else []}
        if self.role == "department_owner":
            return {"team": list(self.departments)}
        return {"team": []}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (no secrets), with the permissions and the scope."""
        en, zh = ROLE_NAMES.get(self.role, (self.role, self.role))
        return {
            "user_id": self.user_id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "role_name": {"en": en, "zh": zh},
            "departments": list(self.departments),
            "agent": self.agent,
            "lang": self.lang,
            "via": self.via,
            "permissions": sorted(PERMISSIONS.get(self.role, frozenset())),
            "scope": self.scope(),
        }
