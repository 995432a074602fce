"""SMS one-time sign-in codes for borrowers.

Six digits from :mod:`secrets`, valid ``[auth] otp_ttl_seconds`` (5
minutes), at most ``otp_max_attempts`` guesses, one new code per
``otp_resend_seconds`` and ten a day per phone. Only HMAC-SM3 of the phone's
blind index and the code is stored (key derived from the index key), never
the code. Asking for a code for an unknown number answers exactly as for a
known one, but sends nothing.
"""

from __future__ import annotations

import math
import re
import secrets
from datetime import datetime, timedelta

import pluggy
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lendkit.auth import notify
from lendkit.auth.digests import derived_key, equal, hmac_sm3
from lendkit.auth.errors import TooManyRequests
from lendkit.auth.models import OtpCode
from lendkit.crypto.blind import normalize
from lendkit.crypto.orm import lookup
from lendkit.errors import ValidationFailed
from lendkit.models import Borrower
from lendkit.settings import Settings

__all__ = ["DAILY_LIMIT", "issue", "normalized_phone", "verify"]

DAILY_LIMIT = 10
PURPOSE = "login"
_MOBILE = re.compile(r"1[3-9]\d{9}")


def normalized_phone(phone: str) -> str:
    """The 11-digit mobile number, or 422 ``validation_failed``."""
    digits = normalize("phone", phone)
    if not _MOBILE.fullmatch(digits):
        raise ValidationFailed("请输入 11 位手机号码。Enter an 11-digit mobile number.")
    return digits


def _code_hash(session: Session, phone_index: bytes, code: str) -> bytes:
    return hmac_sm3(derived_key(session, "otp"), phone_index + b"\0" + code.encode())


def issue(
    session: Session, settings: Settings, pm: pluggy.PluginManager, phone: str, now: datetime
) -> None:
    """Create and send a sign-in code for ``phone`` (sent only if a borrower has it)."""
    phone = normalized_phone(phone)
    index = lookup(session, "phone", phone)
    auth = settings.auth
    last = session.scalar(
        select(func.max(OtpCode.created_at)).where(
            OtpCode.phone_index == index, OtpCode.purpose == PURPOSE
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
            OtpCode.purpose == PURPOSE,
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
            OtpCode.purpose == PURPOSE,
            OtpCode.consumed_at.is_(None),
        )
        .values(consumed_at=now)
    )
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(
        OtpCode(
            phone_index=index,
            purpose=PURPOSE,
            code_hash=_code_hash(session, index, code),
            created_at=now,
            expires_at=now + timedelta(seconds=auth.otp_ttl_seconds),
            attempts=0,
        )
    )
    session.flush()
    known = session.scalar(select(Borrower.id).where(Borrower.phone_index == index))
    if known is not None:
        notify.send(
            session,
            settings,
            pm,
            channel="sms",
            to=phone,
            template="otp_login",
            params={"code": code, "minutes": str(auth.otp_ttl_seconds // 60)},
        )


def verify(
    session: Session, settings: Settings, phone_index: bytes, code: str, now: datetime
) -> bool:
    """Whether ``code`` is the live code of the phone; uses it up when right."""
    row = session.scalar(
        select(OtpCode)
        .where(
            OtpCode.phone_index == phone_index,
            OtpCode.purpose == PURPOSE,
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
