"""Sign-in: staff (password + TOTP) and borrowers (password or SMS code).

Each function runs its own transaction and commits what a failure must
leave behind — the failed-login count, the lock-out, the audit row — before
raising, so a 401 never rolls back the evidence. Answers do not tell an
unknown account from a wrong password (same error, same argon2 work).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lendkit import audit
from lendkit.auth import lockout, otp, sessions, totp
from lendkit.auth.csrf import token_for
from lendkit.auth.errors import (
    AuthError,
    InvalidCredentials,
    Locked,
    TotpNotEnrolled,
    TotpRequired,
)
from lendkit.auth.models import LoginGuard
from lendkit.auth.passwords import hasher_for
from lendkit.crypto.orm import lookup
from lendkit.errors import ValidationFailed
from lendkit.models import Borrower, StaffUser
from lendkit.runtime import Runtime
from lendkit.settings import Settings

__all__ = ["SignedIn", "borrower_otp_login", "borrower_password_login", "staff_login"]

_WRONG = "用户名或密码错误。Wrong username or password."
_WRONG_PHONE = "手机号或密码错误。Wrong mobile number or password."
_WRONG_CODE = "验证码错误或已失效。The code is wrong or has expired."


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    csrf_token: str
    kind: str
    actor: str
    role: str


def _run(runtime: Runtime, work: Callable[[Session], SignedIn]) -> SignedIn:
    """Run ``work(session)`` in a transaction that commits even if it raises an AuthError."""
    failure: AuthError | None = None
    with runtime.sessions.begin() as session:
        try:
            return work(session)
        except AuthError as exc:
            failure = exc
    raise failure


def _start(
    session: Session,
    settings: Settings,
    kind: str,
    subject_id: int,
    actor: str,
    role: str,
    now: datetime,
    method: str,
) -> SignedIn:
    token, _ = sessions.create(
        session, settings, kind=kind, subject_id=subject_id, actor=actor, role=role, now=now
    )
    audit.record(session, actor, "auth.login", actor, method=method)
    return SignedIn(token, token_for(token), kind, actor, role)


def _failed(
    session: Session,
    settings: Settings,
    target: lockout.Lockable,
    actor: str,
    reason: str,
    now: datetime,
    error: AuthError,
) -> AuthError:
    """Count a failure, audit it (and the lock-out it may cause); the error to raise."""
    audit.record(session, "anonymous", "auth.login", actor, outcome="failure", reason=reason)
    if lockout.record_failure(target, settings, now):
        audit.record(
            session,
            "system",
            "auth.lockout",
            actor,
            minutes=settings.auth.lockout_minutes,
            failures=settings.auth.max_failed_logins,
        )
        return Locked(settings.auth.lockout_minutes)
    return error


def _check_lock(session: Session, target: lockout.Lockable, actor: str, now: datetime) -> None:
    try:
        lockout.check(target, now)
    except Locked:
        audit.record(session, "anonymous", "auth.login", actor, outcome="failure", reason="locked")
        raise


def staff_login(
    runtime: Runtime, username: str, password: str, totp_code: str | None, now: datetime
) -> SignedIn:
    settings = runtime.settings
    hasher = hasher_for(settings)

    def work(session: Session) -> SignedIn:
        staff = session.scalar(select(StaffUser).where(StaffUser.username == username))
        if staff is None or not staff.active:
            hasher.verify(None, password)  # same work as a wrong password
            audit.record(
                session,
                "anonymous",
                "auth.login",
                "staff:unknown",
                outcome="failure",
                reason="unknown_or_inactive",
            )
            raise InvalidCredentials(_WRONG)
        actor = f"staff:{staff.username}"
        _check_lock(session, staff, actor, now)
        if not hasher.verify(staff.password_hash, password):
            raise _failed(
                session, settings, staff, actor, "bad_password", now, InvalidCredentials(_WRONG)
            )
        if staff.role in settings.auth.totp_roles or staff.totp_secret:
            if not staff.totp_secret:
                audit.record(
                    session,
                    "anonymous",
                    "auth.login",
                    actor,
                    outcome="failure",
                    reason="totp_not_enrolled",
                )
                raise TotpNotEnrolled(
                    "该账户须使用动态口令（TOTP），但尚未设置；请管理员运行 "
                    "`lendkit staff totp`。This account needs a TOTP authenticator and has "
                    "none: ask an administrator to run `lendkit staff totp`."
                )
            if not totp_code:
                raise TotpRequired(
                    "请输入身份验证器中的 6 位动态口令。"
                    "Enter the 6-digit code from your authenticator app (field `totp`)."
                )
            if not totp.verify(session, staff.id, staff.totp_secret, totp_code, now):
                raise _failed(
                    session,
                    settings,
                    staff,
                    actor,
                    "bad_totp",
                    now,
                    InvalidCredentials(
                        "动态口令错误或已使用。The TOTP code is wrong or was already used."
                    ),
                )
        lockout.record_success(staff)
        if hasher.needs_rehash(staff.password_hash):
            staff.password_hash = hasher.hash(password)
        method = "password+totp" if staff.totp_secret else "password"
        return _start(session, settings, "staff", staff.id, actor, staff.role, now, method)

    return _run(runtime, work)


def _guard(session: Session, phone_index: bytes) -> LoginGuard:
    """The lock-out record of a phone number, created on first use (race-safe)."""
    row = session.scalar(select(LoginGuard).where(LoginGuard.subject_index == phone_index))
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = LoginGuard(subject_index=phone_index, failed_logins=0)
            session.add(row)
        return row
    except IntegrityError:
        found = session.scalar(select(LoginGuard).where(LoginGuard.subject_index == phone_index))
        assert found is not None
        return found


def _borrower_login(
    runtime: Runtime,
    phone: str,
    now: datetime,
    method: str,
    check: Callable[[Session, bytes, Borrower | None], bool],
    wrong: str,
) -> SignedIn:
    settings = runtime.settings

    def work(session: Session) -> SignedIn:
        try:
            digits = otp.normalized_phone(phone)
        except ValidationFailed:
            raise InvalidCredentials(wrong) from None
        index = lookup(session, "phone", digits)
        guard = _guard(session, index)
        borrower = session.scalar(select(Borrower).where(Borrower.phone_index == index))
        actor = f"borrower:{borrower.id}" if borrower else "borrower:unknown"
        _check_lock(session, guard, actor, now)
        if not check(session, index, borrower) or borrower is None:
            raise _failed(
                session, settings, guard, actor, f"bad_{method}", now, InvalidCredentials(wrong)
            )
        lockout.record_success(guard)
        return _start(session, settings, "borrower", borrower.id, actor, "borrower", now, method)

    return _run(runtime, work)


def borrower_password_login(runtime: Runtime, phone: str, password: str, now: datetime) -> SignedIn:
    hasher = hasher_for(runtime.settings)

    def check(session: Session, index: bytes, borrower: Borrower | None) -> bool:
        stored = borrower.password_hash if borrower else None
        if not hasher.verify(stored, password):
            return False
        assert borrower is not None
        assert stored is not None
        if hasher.needs_rehash(stored):
            borrower.password_hash = hasher.hash(password)
        return True

    return _borrower_login(runtime, phone, now, "password", check, _WRONG_PHONE)


def borrower_otp_login(runtime: Runtime, phone: str, code: str, now: datetime) -> SignedIn:
    def check(session: Session, index: bytes, borrower: Borrower | None) -> bool:
        return otp.verify(session, runtime.settings, index, code, now)

    return _borrower_login(runtime, phone, now, "sms_code", check, _WRONG_CODE)
