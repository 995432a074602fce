"""TOTP second factor (RFC 6238) for staff: 6 digits, 30-second steps.

Required for the roles in ``[auth] totp_roles`` (admin by default), and for
anyone who has enrolled. Codes of the previous and next step are accepted
(clock drift); a code, once used, is refused for the rest of its window.

The HMAC inside TOTP is RFC 6238's default, which every authenticator app
implements; it is pyotp's, not ours (see docs/security.md).
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta

import pyotp
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lendkit.auth.digests import equal
from lendkit.auth.models import UsedNonce

__all__ = ["new_secret", "provisioning_uri", "verify"]

DRIFT_STEPS = 1


def new_secret() -> str:
    """160 random bits (``secrets``), base32: what authenticator apps expect."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """The ``otpauth://`` URI to show as a QR code when enrolling."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def verify(session: Session, staff_id: int, secret: str, code: str, now: datetime) -> bool:
    """Whether ``code`` is valid now and unused; marks its step used."""
    code = code.strip()
    if not (len(code) == 6 and code.isdigit()):
        return False
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        if equal(totp.generate_otp(step + offset), code):
            return _first_use(session, staff_id, step + offset, now)
    return False


def _first_use(session: Session, staff_id: int, step: int, now: datetime) -> bool:
    try:
        with session.begin_nested():
            session.add(
                UsedNonce(
                    scope=f"totp:{staff_id}",
                    value=str(step),
                    expires_at=now + timedelta(minutes=5),
                )
            )
    except IntegrityError:
        return False
    return True
