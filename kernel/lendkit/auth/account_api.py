"""Built-in plugin: register, sign in, sign out, who am I, change my password; the
session clean-up job and the clause map of authentication and authorization."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar import Response, get
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from sqlalchemy import select

import lendkit
from lendkit import audit
from lendkit.auth import cleanup, login, otp, registration, sessions
from lendkit.auth.borrowers_api import borrower_view
from lendkit.auth.cookies import clear_cookies, session_cookies
from lendkit.auth.errors import InvalidCredentials
from lendkit.auth.models import AuthSession
from lendkit.auth.passwords import check_borrower_password, check_staff_password, hasher_for
from lendkit.auth.permissions import Matrix
from lendkit.auth.principal import current
from lendkit.db import utcnow
from lendkit.models import Borrower, StaffUser
from lendkit.runtime import Runtime
from lendkit.types import Job
from lendkit.web.routes import Db, Json, Req, Rt, post_route, routes_hook

__all__ = ["ROUTES"]

PUBLIC = {"permission": "public"}
SELF = {"permission": "account.self"}


@dataclass
class StaffLogin:
    username: str
    password: str
    totp: str | None = None


@dataclass
class BorrowerLogin:
    phone: str
    password: str


@dataclass
class OtpRequest:
    phone: str
    purpose: str = "login"  # or "register"


@dataclass
class Registration:
    phone: str
    code: str
    password: str | None = None


@dataclass
class OtpLogin:
    phone: str
    code: str


@dataclass
class PasswordChange:
    current_password: str
    new_password: str


def _signed_in(
    runtime: Runtime, request: Req, result: login.SignedIn, status_code: int = 200, **extra: Any
) -> Response[Json]:
    body = {
        "kind": result.kind,
        "actor": result.actor,
        "role": result.role,
        "csrf_token": result.csrf_token,
        "idle_timeout_minutes": runtime.settings.auth.idle_timeout_minutes,
        **extra,
    }
    return Response(
        body,
        status_code=status_code,
        cookies=session_cookies(runtime.settings, request, result.token, result.csrf_token),
    )


@post_route("/api/auth/staff/login", PUBLIC, status_code=200)
def staff_login(data: JSONBody[StaffLogin], request: Req, runtime: Rt) -> Response[Json]:
    """Staff sign-in: username, password, and the TOTP code where required."""
    result = login.staff_login(runtime, data.username, data.password, data.totp, utcnow())
    return _signed_in(runtime, request, result)


@post_route("/api/auth/borrower/login", PUBLIC, status_code=200)
def borrower_login(data: JSONBody[BorrowerLogin], request: Req, runtime: Rt) -> Response[Json]:
    """Borrower sign-in with mobile number and password."""
    result = login.borrower_password_login(runtime, data.phone, data.password, utcnow())
    return _signed_in(runtime, request, result)


@post_route(
    "/api/auth/borrower/otp",
    PUBLIC,
    status_code=HTTP_202_ACCEPTED,
)
def request_code(data: JSONBody[OtpRequest], runtime: Rt) -> Json:
    """Send a code by SMS: to sign in (answers alike for unknown numbers) or to register."""
    with runtime.sessions.begin() as session:
        otp.issue(session, runtime.settings, runtime.pm, data.phone, utcnow(), data.purpose)
    detail = (
        "验证码已发送。The code is on its way."
        if data.purpose == "register"
        else "如该号码已注册，验证码已发送。If the number is registered, a code is on its way."
    )
    return {
        "status": "sent",
        "detail": detail,
        "expires_in_seconds": runtime.settings.auth.otp_ttl_seconds,
    }


@post_route("/api/auth/borrower/register", PUBLIC)
def register(data: JSONBody[Registration], request: Req, runtime: Rt) -> Response[Json]:
    """Register a borrower with his mobile number and its SMS code (purpose ``register``).

    Signs him in (session cookie and CSRF token, as sign-in does); the
    password is optional (SMS codes sign in too). Next: agree to the privacy
    policy and submit real-name details.
    """
    result, borrower_id = registration.register_borrower(
        runtime, data.phone, data.code, data.password, utcnow()
    )
    with runtime.read_sessions.begin() as session:
        borrower = session.get(Borrower, borrower_id)
        assert borrower is not None
        view = borrower_view(borrower, unmasked=False)
    return _signed_in(runtime, request, result, HTTP_201_CREATED, borrower=view)


@post_route("/api/auth/borrower/otp/login", PUBLIC, status_code=200)
def code_login(data: JSONBody[OtpLogin], request: Req, runtime: Rt) -> Response[Json]:
    """Borrower sign-in with the SMS code."""
    result = login.borrower_otp_login(runtime, data.phone, data.code, utcnow())
    return _signed_in(runtime, request, result)


@get("/api/auth/me", opt=SELF, sync_to_thread=False)
def me(request: Req) -> Json:
    """Who is calling, and what the role allows (plugins' permissions included)."""
    principal = current(request)
    matrix: Matrix = request.app.state.permissions
    return {
        "kind": principal.kind,
        "actor": principal.actor,
        "role": principal.role,
        "permissions": sorted(matrix.roles.get(principal.role, ())),
    }


@post_route("/api/auth/logout", SELF, status_code=HTTP_204_NO_CONTENT)
def logout(request: Req, runtime: Rt, db_session: Db) -> Response[None]:
    """End this session (a signed API request has none: nothing to do)."""
    principal = current(request)
    if principal.session_id is not None:
        row = db_session.get(AuthSession, principal.session_id)
        if row is not None:
            sessions.revoke(db_session, row, utcnow())
        audit.record(db_session, principal.actor, "auth.logout", principal.actor)
    return Response(
        None, status_code=HTTP_204_NO_CONTENT, cookies=clear_cookies(runtime.settings, request)
    )


@post_route("/api/auth/password", SELF, status_code=HTTP_204_NO_CONTENT)
def change_password(data: JSONBody[PasswordChange], request: Req, runtime: Rt) -> None:
    """Change one's own password; ends every other session of the account."""
    principal = current(request)
    if principal.subject_id is None:
        raise InvalidCredentials("API 密钥没有密码。An API key has no password.")
    hasher = hasher_for(runtime.settings)
    now = utcnow()
    failed = False
    with runtime.sessions.begin() as session:
        account: StaffUser | Borrower | None = (
            session.get(StaffUser, principal.subject_id)
            if principal.kind == "staff"
            else session.get(Borrower, principal.subject_id)
        )
        if account is None or not hasher.verify(account.password_hash, data.current_password):
            audit.record(
                session,
                principal.actor,
                "auth.password_change",
                principal.actor,
                outcome="failure",
                reason="bad_password",
            )
            failed = True
        else:
            if isinstance(account, StaffUser):
                check_staff_password(data.new_password, account.username)
            else:
                check_borrower_password(data.new_password)
            account.password_hash = hasher.hash(data.new_password)
            kind = "staff" if isinstance(account, StaffUser) else "borrower"
            others = select(AuthSession).where(
                AuthSession.kind == kind,
                AuthSession.subject_id == account.id,
                AuthSession.revoked_at.is_(None),
                AuthSession.id != principal.session_id,
            )
            for row in session.scalars(others):
                sessions.revoke(session, row, now)
            audit.record(session, principal.actor, "auth.password_change", principal.actor)
    if failed:
        raise InvalidCredentials("当前密码错误。The current password is wrong.")


ROUTES = [
    staff_login,
    borrower_login,
    request_code,
    register,
    code_login,
    me,
    logout,
    change_password,
]


# -- Hook implementations ------------------------------------------------------------


register_routes = routes_hook(ROUTES)


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return [Job(name="auth-cleanup", every=timedelta(minutes=10), run=cleanup.purge)]
