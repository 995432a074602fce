"""The permission matrix: which role may do what. Data only, in one place.

Every route declares one permission in ``opt={"permission": "<name>"}``;
the guard (:mod:`lendkit.auth.guard`) lets a request through when the
caller's role holds it. ``public`` is the one permission everybody holds,
signed in or not (health probes, sign-in, the home page, the API schema).

Plugins add their own permissions through the ``register_permissions``
hook (see :func:`build_matrix`); a route naming a permission nobody
registered is refused (403) and fails the route-walking test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from lendkit.errors import StartupError
from lendkit.types import Permission

__all__ = [
    "KERNEL",
    "PERMISSIONS",
    "PUBLIC",
    "ROLES",
    "ROLE_PERMISSIONS",
    "STAFF_ROLES",
    "Matrix",
    "allowed",
    "build_matrix",
]

PUBLIC: Final = "public"

# Role name -> what it means; "borrower" is the only non-staff role.
ROLES: Final = MappingProxyType(
    {
        "admin": "系统管理员 Administrator: staff, roles, API keys, everything else",
        "risk_officer": "风控专员 Risk officer: borrowers, credit decisions, unmasked data",
        "finance": "财务 Finance: money movement, reconciliation, marketing costs",
        "collections": "催收 Collections: overdue borrowers (masked data)",
        "auditor": "审计 Auditor: read-only review of staff and the audit log",
        "support": "客服 Support: borrower enquiries (masked data)",
        "borrower": "借款人 Borrower: his own records only",
    }
)
STAFF_ROLES: Final = frozenset(ROLES) - {"borrower"}

# Permission name -> what it allows.
PERMISSIONS: Final = MappingProxyType(
    {
        PUBLIC: "anyone, signed in or not",
        "account.self": "see and end one's own session, change one's own password",
        "borrower.self": "a borrower reads his own record, submits his real-name details "
        "and grants or revokes his consents",
        "borrowers.read": "read borrower records, masked (a borrower: only his own)",
        "pii.unmask": "see personal data unmasked (every view is audited)",
        "kyc.review": "decide real-name checks sent to manual review (verified or rejected)",
        "applications.review": "work the credit-application review queue: read decisions, "
        "approve or reject with reason codes",
        "staff.view": "list staff users and their roles",
        "staff.manage": "change a staff user's role",
        "apikeys.manage": "create and revoke API keys for machine clients",
        "audit.view": "read the audit log",
        "plugins.manage": "see the tenant's plugins and which are loaded (switched in lendkit.toml)",
        "products.manage": "create, change and retire loan products (each change a new "
        "version) and read their history",
    }
)

_EVERYONE_SIGNED_IN = frozenset({"account.self"})
_STAFF = _EVERYONE_SIGNED_IN | {"borrowers.read"}

ROLE_PERMISSIONS: Final = MappingProxyType(
    {
        "admin": frozenset(PERMISSIONS) - {PUBLIC, "borrower.self"},
        "risk_officer": _STAFF
        | {"pii.unmask", "kyc.review", "applications.review", "products.manage"},
        "finance": _STAFF,
        "collections": _STAFF,
        "auditor": _STAFF | {"staff.view", "audit.view"},
        "support": _STAFF,
        "borrower": _EVERYONE_SIGNED_IN | {"borrower.self", "borrowers.read"},
    }
)


def allowed(role: str, permission: str) -> bool:
    """Whether ``role`` holds the kernel permission ``permission`` (``public``: everybody)."""
    return KERNEL.allows(role, permission)


@dataclass(frozen=True, slots=True)
class Matrix:
    """The kernel's permissions plus those plugins register: what the guard enforces."""

    permissions: Mapping[str, str]
    roles: Mapping[str, frozenset[str]]

    def allows(self, role: str, permission: str) -> bool:
        return permission == PUBLIC or permission in self.roles.get(role, frozenset())


KERNEL: Final = Matrix(PERMISSIONS, ROLE_PERMISSIONS)


def build_matrix(registered: Iterable[Permission]) -> Matrix:
    """The kernel matrix extended by plugins' permissions; clashes stop start-up."""
    permissions = dict(PERMISSIONS)
    roles = {role: set(held) for role, held in ROLE_PERMISSIONS.items()}
    for permission in registered:
        if permission.name in permissions:
            raise StartupError(f"permission {permission.name!r} is registered twice")
        strangers = set(permission.roles) - STAFF_ROLES
        if strangers:
            raise StartupError(
                f"permission {permission.name!r}: unknown staff roles {sorted(strangers)}"
            )
        permissions[permission.name] = permission.description
        for role in {"admin", *permission.roles}:
            roles[role].add(permission.name)
    return Matrix(
        MappingProxyType(permissions), MappingProxyType({r: frozenset(h) for r, h in roles.items()})
    )
