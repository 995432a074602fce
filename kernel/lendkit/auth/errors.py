"""Authentication and authorization errors: stable codes, bilingual details.

Each is a :class:`~lendkit.errors.LendkitError`, so it becomes an
``application/problem+json`` document with its ``Retry-After`` or
``WWW-Authenticate`` headers and optional machine-readable ``reason``.

=================  ======  ===================================================
code               status  when
=================  ======  ===================================================
unauthenticated    401     no credentials, unknown or revoked session, bad
                           API-key signature (``reason`` says which check)
session_expired    401     the session timed out (idle or absolute)
invalid_credentials 401    sign-in with a wrong password, code or TOTP
totp_required      401     right password; this account needs its TOTP code
forbidden          403     signed in, but the role lacks the permission
csrf_failed        403     cookie-authenticated unsafe request without the
                           ``X-CSRF-Token`` header matching the session
totp_not_enrolled  403     an account that must use TOTP has none set up
locked             423     too many failed sign-ins; ``Retry-After`` given
too_many_requests  429     one-time codes asked for too often
notification_failed 503    no sender delivered the one-time code
=================  ======  ===================================================
"""

from __future__ import annotations

from lendkit.errors import LendkitError

__all__ = [
    "AuthError",
    "CsrfFailed",
    "Forbidden",
    "InvalidCredentials",
    "Locked",
    "NotificationFailed",
    "SessionExpired",
    "TooManyRequests",
    "TotpNotEnrolled",
    "TotpRequired",
    "Unauthenticated",
]


class AuthError(LendkitError):
    """Base class of sign-in and permission refusals."""


class Unauthenticated(
    AuthError, status=401, code="unauthenticated", title="Authentication required"
):
    """No credentials, an unknown or revoked session, a bad API-key signature."""

    def __init__(self, detail: str | None = None, *, reason: str | None = None) -> None:
        super().__init__(
            detail
            or "请先登录，或使用已签名的 API 请求。Sign in first, or send a signed API request.",
            reason=reason,
            headers={"WWW-Authenticate": 'Cookie realm="lendkit", LENDKIT-HMAC-SM3'},
        )


class SessionExpired(AuthError, status=401, code="session_expired", title="Session expired"):
    """The session timed out (idle or absolute)."""


class InvalidCredentials(
    AuthError, status=401, code="invalid_credentials", title="Wrong credentials"
):
    """Sign-in with a wrong password, code or TOTP."""


class TotpRequired(AuthError, status=401, code="totp_required", title="TOTP code required"):
    """The password was right; this account needs its TOTP code too."""


class Forbidden(AuthError, status=403, code="forbidden", title="Forbidden"):
    """Signed in, but the role lacks the permission."""


class CsrfFailed(AuthError, status=403, code="csrf_failed", title="CSRF token missing or wrong"):
    """A cookie-authenticated unsafe request without the session's ``X-CSRF-Token``."""


class TotpNotEnrolled(AuthError, status=403, code="totp_not_enrolled", title="TOTP not set up"):
    """An account that must use TOTP has none set up."""


class Locked(AuthError, status=423, code="locked", title="Account locked"):
    """Too many failed sign-ins; ``Retry-After`` says when to try again."""

    def __init__(self, minutes: int) -> None:
        super().__init__(
            f"登录失败次数过多，账户已锁定，请 {minutes} 分钟后再试。"
            f"Too many failed sign-ins: locked, try again in {minutes} minutes.",
            headers={"Retry-After": str(minutes * 60)},
        )


class TooManyRequests(AuthError, status=429, code="too_many_requests", title="Too many requests"):
    """One-time codes asked for too often."""


class NotificationFailed(
    AuthError, status=503, code="notification_failed", title="Message not sent"
):
    """No sender delivered the one-time code."""
