"""Server-side sessions: a random token in an HttpOnly cookie, its SM3 in the database.

A session ends when it is idle for ``[auth] idle_timeout_minutes``, when it
reaches ``session_max_hours``, on sign-out, and when the user's role changes
(the role is copied into the session when it starts).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lendkit.auth.errors import SessionExpired, Unauthenticated
from lendkit.auth.models import AuthSession
from lendkit.crypto.sm3 import sm3
from lendkit.settings import Settings

__all__ = ["create", "needs_touch", "resolve", "revoke", "revoke_all", "touch"]

TOUCH_EVERY = timedelta(seconds=15)  # write last_seen_at at most this often


def _hash(token: str) -> bytes:
    return sm3(b"lendkit session\0" + token.encode())


def create(
    session: Session,
    settings: Settings,
    *,
    kind: str,
    subject_id: int,
    actor: str,
    role: str,
    now: datetime,
) -> tuple[str, AuthSession]:
    """Start a session; returns the token (for the cookie, never stored) and the row."""
    token = secrets.token_urlsafe(32)
    row = AuthSession(
        token_hash=_hash(token),
        kind=kind,
        subject_id=subject_id,
        actor=actor,
        role=role,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.auth.session_max_hours),
    )
    session.add(row)
    session.flush()
    return token, row


def resolve(session: Session, settings: Settings, token: str, now: datetime) -> AuthSession:
    """The live session of ``token``; 401 ``session_expired`` or ``unauthenticated``.

    Reads only, so it can run in a read session; :func:`touch` records activity.
    """
    row = session.scalar(select(AuthSession).where(AuthSession.token_hash == _hash(token)))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated(
            "会话无效或已退出，请重新登录。Your session is unknown or ended: sign in again.",
            reason="session_unknown",
        )
    idle = timedelta(minutes=settings.auth.idle_timeout_minutes)
    if now - row.last_seen_at > idle:
        raise SessionExpired(
            f"超过 {settings.auth.idle_timeout_minutes} 分钟未操作，会话已超时，请重新登录。"
            f"Your session timed out after {settings.auth.idle_timeout_minutes} minutes "
            "without activity: sign in again.",
            reason="idle",
        )
    if now >= row.expires_at:
        raise SessionExpired(
            f"会话已达 {settings.auth.session_max_hours} 小时上限，请重新登录。"
            f"Your session reached its {settings.auth.session_max_hours}-hour limit: "
            "sign in again.",
            reason="absolute",
        )
    return row


def needs_touch(row: AuthSession, now: datetime) -> bool:
    return now - row.last_seen_at > TOUCH_EVERY


def touch(session: Session, session_id: int, now: datetime) -> None:
    """Record activity (resets the idle clock); a plain UPDATE, no read first."""
    session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.last_seen_at < now)
        .values(last_seen_at=now)
    )


def revoke(session: Session, row: AuthSession, now: datetime) -> None:
    row.revoked_at = now


def revoke_all(session: Session, kind: str, subject_id: int, now: datetime) -> int:
    """End every live session of one user (role change, deactivation); returns how many."""
    result = session.execute(
        update(AuthSession)
        .where(
            AuthSession.kind == kind,
            AuthSession.subject_id == subject_id,
            AuthSession.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
