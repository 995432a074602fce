"""SMS one-time codes for borrowers: signing in, and registering a number.

Six digits from :mod:`secrets`, valid ``[auth] otp_ttl_seconds`` (5
minutes), at most ``otp_max_attempts`` guesses, one new code per
``otp_resend_seconds`` and ten a day per phone and purpose. Only HMAC-SM3 of
the phone's blind index and the code is stored (key derived from the index
key), never the code. A sign-in code asked for an unknown number answers
exactly as for a known one, but sends nothing; a registration code is sent
to any valid number (registering proves the number is the person's).
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime, timedelta

import pluggy
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lendkit.auth import notify
from lendkit.auth.digests import derived_key, equal
from lendkit.auth.errors import TooManyRequests
from lendkit.auth.models import OtpCode
from lendkit.crypto.orm import lookup
from lendkit.crypto.sm3 import hmac_sm3
from lendkit.errors import ValidationFailed
from lendkit.lifecycle.identity import check_phone
from lendkit.models import Borrower
from lendkit.settings import Settings

__all__ = ["DAILY_LIMIT", "PURPOSES", "issue", "normalized_phone", "verify"]

DAILY_LIMIT = 10
PURPOSE = "login"
# Purpose -> the SMS template that carries its code.
PURPOSES = {"login": "otp_login", "register": "otp_register"}


def normalized_phone(phone: str) -> str:
    """The 11-digit mobile number, or 422 ``phone_invalid`` (a ``ValidationFailed``)."""
    return check_phone(phone)


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise ValidationFailed(
            f"验证码用途须为 {' 或 '.join(PURPOSES)}。The purpose must be one of "
            f"{', '.join(PURPOSES)}.",
            code="purpose_invalid",
        )


def _code_hash(session: Session, phone_index: bytes, code: str) -> bytes:
    return hmac_sm3(derived_key(session, "otp"), phone_index + b"\0" + code.encode())


def issue(
    session: Session,
    settings: Settings,
    pm: pluggy.PluginManager,
    phone: str,
    now: datetime,
    purpose: str = PURPOSE,
) -> None:
    """Create and send a code for ``phone``: a sign-in code only if a borrower has it."""
    _check_purpose(purpose)
    phone = normalized_phone(phone)
    index = lookup(session, "phone", phone)
    auth = settings.auth
    last = session.scalar(
        select(func.max(OtpCode.created_at)).where(
            OtpCode.phone_index == index, OtpCode.purpose == purpose
        )
    )
    if last is not None and now - last < timedelta(seconds=auth.otp_resend_seconds):
        wait = math.ceil(auth.otp_resend_seconds - (now - last).total_seconds())
        raise TooManyRequests(
            f"验证码发送过于频繁，请 {wait} 秒后再试。Wait {wait} seconds before asking again.",
            headers={"Retry-After": str(wait)},
        )
    today = session.scalar(
        select(func.count()).where(
            OtpCode.phone_index == index,
            OtpCode.purpose == purpose,
            OtpCode.created_at > now - timedelta(days=1),
        )
    )
    if (today or 0) >= DAILY_LIMIT:
        raise TooManyRequests(
            "今日验证码次数已用完，请使用密码登录或明天再试。"
            "No more codes today: sign in with your password or try tomorrow.",
            headers={"Retry-After": "86400"},
        )
    # A new code replaces any earlier one.
    session.execute(
        update(OtpCode)
        .where(
            OtpCode.phone_index == index,
            OtpCode.purpose == purpose,
            OtpCode.consumed_at.is_(None),
        )
        .values(consumed_at=now)
    )
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(
        OtpCode(
            phone_index=index,
            purpose=purpose,
            code_hash=_code_hash(session, index, code),
            created_at=now,
            expires_at=now + timedelta(seconds=auth.otp_ttl_seconds),
            attempts=0,
        )
    )
    session.flush()
    known = session.scalar(select(Borrower.id).where(Borrower.phone_index == index))
    if known is not None or purpose == "register":
        notify.send(
            session,
            settings,
            pm,
            channel="sms",
            to=phone,
            template=PURPOSES[purpose],
            params={"code": code, "minutes": str(auth.otp_ttl_seconds // 60)},
        )


def verify(
    session: Session,
    settings: Settings,
    phone_index: bytes,
    code: str,
    now: datetime,
    purpose: str = PURPOSE,
) -> bool:
    """Whether ``code`` is the live ``purpose`` code of the phone; uses it up when right."""
    row = session.scalar(
        select(OtpCode)
        .where(
            OtpCode.phone_index == phone_index,
            OtpCode.purpose == purpose,
            OtpCode.consumed_at.is_(None),
        )
        .order_by(OtpCode.created_at.desc(), OtpCode.id.desc())
        .limit(1)
    )
    if row is None or now >= row.expires_at:
        return False
    row.attempts += 1
    if row.attempts >= settings.auth.otp_max_attempts:
        row.consumed_at = now  # the last guess this code allows
    code = code.strip()
    if not (len(code) == 6 and code.isdigit()):
        return False
    if equal(row.code_hash, _code_hash(session, phone_index, code)):
        row.consumed_at = now
        return True
    return False
