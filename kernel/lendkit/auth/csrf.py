"""CSRF protection for cookie-authenticated requests: a token bound to the session.

Unsafe methods (anything but GET, HEAD, OPTIONS) that authenticate with the
session cookie must carry ``X-CSRF-Token`` (or, for HTML forms, a
``csrf_token`` field) equal to HMAC-SM3(session token, "lendkit csrf v1").
The browser gets the value at sign-in (response body and the readable
``lendkit_csrf`` cookie). Because the server recomputes it from the session
instead of comparing two client-supplied copies, a cookie planted by a
sibling sub-domain does not help an attacker (the "signed double-submit"
pattern). ``SameSite=Lax`` on the session cookie is a second layer.
Signed API requests carry no cookie and need no CSRF token.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from lendkit.auth.digests import equal
from lendkit.auth.errors import CsrfFailed
from lendkit.crypto.sm3 import hmac_sm3

__all__ = ["FORM_FIELD", "HEADER", "SAFE_METHODS", "check", "token_for"]

HEADER = "X-CSRF-Token"
FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def token_for(session_token: str) -> str:
    return hmac_sm3(session_token.encode(), b"lendkit csrf v1").hex()


async def check(request: Request[Any, Any, Any], session_token: str) -> None:
    """Refuse (403 ``csrf_failed``) an unsafe request without the session's token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(_FORMS):
        form = await request.form()
        value = form.get(FORM_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not equal(sent, token_for(session_token)):
        raise CsrfFailed(
            f"请求缺少有效的 CSRF 令牌（请求头 {HEADER}）。"
            f"This request needs the {HEADER} header with the token given at sign-in.",
        )
