"""Who is calling: set by the guard on ``request.user`` for every non-public route."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from litestar.connection import ASGIConnection

from lendkit.auth.errors import Unauthenticated

__all__ = ["Principal", "current"]


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in staff user or borrower, or a machine client with an API key.

    ``actor`` is how the audit log names it (``staff:alice``,
    ``borrower:12``, ``apikey:lk_...``); ``subject_id`` is the row id of the
    staff user or borrower (``None`` for an API key).
    """

    kind: Literal["staff", "borrower", "apikey"]
    actor: str
    role: str
    subject_id: int | None = None
    session_id: int | None = None
    session_token: str | None = None

    @property
    def is_borrower(self) -> bool:
        return self.kind == "borrower"


def current(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The caller of a guarded route (401 if, against all odds, there is none)."""
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise Unauthenticated()
    return user
