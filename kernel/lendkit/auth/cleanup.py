"""The worker job that deletes what authentication no longer needs.

Ended sessions a day after they ended, one-time codes a day after they
expired, used nonces and TOTP steps once their window has passed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_

from lendkit.auth.models import AuthSession, OtpCode, UsedNonce
from lendkit.types import JobContext

__all__ = ["purge"]

KEEP = timedelta(days=1)


def purge(ctx: JobContext, now: datetime) -> dict[str, int]:
    idle = timedelta(minutes=ctx.settings.auth.idle_timeout_minutes)
    with ctx.sessions.begin() as session:
        counts = {
            "sessions": session.execute(
                delete(AuthSession).where(
                    or_(
                        AuthSession.revoked_at < now - KEEP,
                        AuthSession.expires_at < now - KEEP,
                        AuthSession.last_seen_at < now - idle - KEEP,
                    )
                )
            ).rowcount,  # type: ignore[attr-defined]
            "otp_codes": session.execute(
                delete(OtpCode).where(OtpCode.expires_at < now - KEEP)
            ).rowcount,  # type: ignore[attr-defined]
            "nonces": session.execute(delete(UsedNonce).where(UsedNonce.expires_at < now)).rowcount,  # type: ignore[attr-defined]
        }
    return {k: int(v) for k, v in counts.items()}
