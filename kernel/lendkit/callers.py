"""Who is calling a plugin's route, as a typed value: part of the public plugin API.

Every route of the web app, a plugin's too, may ask for the dependency
``caller``::

    from litestar import get
    from lendkit.callers import BorrowerCaller, CurrentCaller

    @get("/api/referrals/me", opt={"permission": "borrower.self"}, sync_to_thread=False)
    def my_referrals(caller: CurrentCaller) -> dict[str, int]:
        assert isinstance(caller, BorrowerCaller)  # borrower.self: borrowers only
        return {"borrower_id": caller.borrower_id}

The guard has checked the route's permission before the handler runs, so
the caller holds it. ``borrower.self`` is the permission of borrower-facing
routes: only a signed-in borrower holds it, and he acts on his own records
only (``caller.borrower_id``); staff routes name a permission the plugin
registers (``register_permissions``) or a kernel one. A plugin never reads
``request.user`` or the session cookie itself.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar.connection import ASGIConnection
from litestar.params import SkipValidation

from lendkit.auth.permissions import Matrix
from lendkit.auth.principal import current
from lendkit.types.callers import ApiClientCaller, BorrowerCaller, Caller, StaffCaller

__all__ = [
    "BORROWER_PERMISSION",
    "ApiClientCaller",
    "BorrowerCaller",
    "Caller",
    "CurrentCaller",
    "StaffCaller",
    "caller_of",
]

# The permission of borrower-facing routes: a borrower, on his own records.
BORROWER_PERMISSION = "borrower.self"


# The annotation of the ``caller`` dependency in a route handler: the caller as
# the kernel built it, passed through as is (litestar does not re-validate it).
CurrentCaller: TypeAlias = SkipValidation[Caller]


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The caller of a guarded route (401 when there is none, as on a public route)."""
    principal = current(connection)
    matrix: Matrix = connection.app.state.permissions
    held = frozenset(matrix.roles.get(principal.role, frozenset()))
    if principal.kind == "borrower":
        assert principal.subject_id is not None
        return BorrowerCaller(
            borrower_id=principal.subject_id, permissions=held, actor=principal.actor
        )
    if principal.kind == "staff":
        assert principal.subject_id is not None
        return StaffCaller(
            user_id=principal.subject_id,
            role=principal.role,
            permissions=held,
            actor=principal.actor,
        )
    return ApiClientCaller(role=principal.role, permissions=held, actor=principal.actor)
