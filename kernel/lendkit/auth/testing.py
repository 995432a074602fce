"""Test helpers: credentials for a real tenant without going through sign-in.

For tests whose subject is not authentication itself::

    headers = staff_headers(runtime, "support")
    httpx.get(f"{live_server}/api/marketing/coupons", headers=headers)

The headers carry the session cookie and the CSRF token, so unsafe methods
work too. Sign-in itself is tested through the real routes.
"""

from __future__ import annotations

from sqlalchemy import select

from lendkit.auth import sessions
from lendkit.auth.cookies import SESSION_COOKIE
from lendkit.auth.csrf import HEADER, token_for
from lendkit.db import utcnow
from lendkit.models import StaffUser
from lendkit.runtime import Runtime

__all__ = ["borrower_headers", "session_headers", "staff_headers"]


def session_headers(token: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={token}", HEADER: token_for(token)}


def staff_headers(
    runtime: Runtime, role: str = "admin", username: str | None = None
) -> dict[str, str]:
    """Headers of a fresh session of staff user ``username`` (created with ``role``)."""
    username = username or f"test-{role}"
    with runtime.sessions.begin() as session:
        staff = session.scalar(select(StaffUser).where(StaffUser.username == username))
        if staff is None:
            staff = StaffUser(
                username=username,
                display_name=f"测试{role}",
                role=role,
                password_hash="!",  # noqa: S106 - no password: cannot sign in
            )
            session.add(staff)
            session.flush()
        token, _ = sessions.create(
            session,
            runtime.settings,
            kind="staff",
            subject_id=staff.id,
            actor=f"staff:{username}",
            role=staff.role,
            now=utcnow(),
        )
    return session_headers(token)


def borrower_headers(runtime: Runtime, borrower_id: int) -> dict[str, str]:
    """Headers of a fresh session of borrower ``borrower_id`` (who must exist)."""
    with runtime.sessions.begin() as session:
        token, _ = sessions.create(
            session,
            runtime.settings,
            kind="borrower",
            subject_id=borrower_id,
            actor=f"borrower:{borrower_id}",
            role="borrower",
            now=utcnow(),
        )
    return session_headers(token)
