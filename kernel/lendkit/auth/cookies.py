"""The session and CSRF cookies, and when they are marked ``Secure``.

``lendkit_session`` holds the session token: ``HttpOnly`` (scripts cannot
read it), ``SameSite=Lax`` (not sent on cross-site POSTs), ``Path=/``, no
``Max-Age`` (gone when the browser closes; the server times it out anyway).
``lendkit_csrf`` holds the CSRF token for pages' scripts to copy into the
``X-CSRF-Token`` header, so it is readable by scripts. ``Secure`` follows
``[auth] secure_cookies``: ``always``, ``never``, or ``auto`` — Secure
unless the request came over plain HTTP to a loopback address (the demo).
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import Cookie

from lendkit.settings import Settings

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "clear_cookies", "session_cookies"]

SESSION_COOKIE = "lendkit_session"
CSRF_COOKIE = "lendkit_csrf"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _secure(settings: Settings, request: Request[Any, Any, Any]) -> bool:
    mode = settings.auth.secure_cookies
    if mode != "auto":
        return mode == "always"
    host = request.url.hostname or ""
    return request.url.scheme == "https" or not (host in _LOOPBACK or host.startswith("127."))


def session_cookies(
    settings: Settings, request: Request[Any, Any, Any], token: str, csrf: str
) -> list[Cookie]:
    secure = _secure(settings, request)
    return [
        Cookie(
            key=SESSION_COOKIE, value=token, path="/", httponly=True, samesite="lax", secure=secure
        ),
        Cookie(
            key=CSRF_COOKIE, value=csrf, path="/", httponly=False, samesite="lax", secure=secure
        ),
    ]


def clear_cookies(settings: Settings, request: Request[Any, Any, Any]) -> list[Cookie]:
    secure = _secure(settings, request)
    return [
        Cookie(
            key=name,
            value="",
            path="/",
            max_age=0,
            httponly=http_only,
            samesite="lax",
            secure=secure,
        )
        for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False))
    ]
