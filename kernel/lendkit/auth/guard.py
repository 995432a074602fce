"""The app-level guard: every route's declared permission, enforced.

Runs before every handler. It reads ``opt["permission"]`` of the route:
``public`` passes; otherwise the caller must prove who it is — an
``X-Lendkit-Signature`` signed request (API key) or the session cookie —
and its role must hold the permission. Cookie-authenticated unsafe
requests must also carry the CSRF token. A route that declares no
permission, or one missing from the matrix, is refused (fail closed).
Litestar's automatic ``OPTIONS`` answers (the allowed methods) are public.

The caller becomes ``request.user`` (a :class:`Principal`).
"""

from __future__ import annotations

import logging
from typing import Any

import anyio.to_thread
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler

from lendkit.auth import apikeys, csrf, sessions, signing
from lendkit.auth.cookies import SESSION_COOKIE
from lendkit.auth.errors import Forbidden, Unauthenticated
from lendkit.auth.permissions import PUBLIC, Matrix
from lendkit.auth.principal import Principal
from lendkit.db import utcnow
from lendkit.runtime import Runtime

__all__ = ["auth_guard", "permission_of"]

log = logging.getLogger(__name__)


def permission_of(handler: BaseRouteHandler) -> str | None:
    """The permission ``handler`` declares (``public`` for automatic OPTIONS), or None."""
    permission = handler.opt.get("permission")
    if permission is None and _automatic_options(handler):
        return PUBLIC
    return permission if isinstance(permission, str) else None


def _automatic_options(handler: BaseRouteHandler) -> bool:
    return (
        isinstance(handler, HTTPRouteHandler)
        and handler.http_methods == {"OPTIONS"}
        and handler.fn.__qualname__.endswith("create_options_handler.<locals>.options_handler")
    )


async def auth_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    permission = permission_of(handler)
    if permission == PUBLIC:
        return
    matrix: Matrix = connection.app.state.permissions
    if permission is None or permission not in matrix.permissions:
        log.error(
            "route refused: no known permission declared",
            extra={"route": connection.scope.get("path"), "permission": permission},
        )
        raise Forbidden(
            "该接口未声明有效权限，已拒绝访问。This route declares no known permission, so "
            "it is refused until it does.",
            reason="undeclared_permission",
        )
    runtime: Runtime = connection.app.state.runtime
    if signing.KEY_HEADER.lower() in connection.headers:
        principal = await _signed(runtime, connection)
    else:
        token = connection.cookies.get(SESSION_COOKIE)
        if not token:
            raise Unauthenticated(reason="no_credentials")
        principal = await anyio.to_thread.run_sync(_from_session, runtime, token)
        if isinstance(connection, Request):
            await csrf.check(connection, token)
    if not matrix.allows(principal.role, permission):
        raise Forbidden(
            f"当前角色（{principal.role}）没有“{permission}”权限。"
            f"Your role ({principal.role}) lacks the permission {permission!r}.",
        )
    connection.scope["user"] = principal


def _from_session(runtime: Runtime, token: str) -> Principal:
    now = utcnow()
    # A read session: on SQLite it never queues behind writers.
    with runtime.read_sessions.begin() as session:
        row = sessions.resolve(session, runtime.settings, token, now)
        principal = Principal(
            kind="staff" if row.kind == "staff" else "borrower",
            actor=row.actor,
            role=row.role,
            subject_id=row.subject_id,
            session_id=row.id,
            session_token=token,
        )
        stale = sessions.needs_touch(row, now)
    if stale:
        with runtime.sessions.begin() as session:
            sessions.touch(session, row.id, now)
    return principal


async def _signed(runtime: Runtime, connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    body = await connection.body() if isinstance(connection, Request) else b""
    scope = connection.scope
    method = str(scope.get("method", "GET"))
    query = scope.get("query_string", b"").decode("utf-8", "replace")
    headers = {name: connection.headers.get(name.lower(), "") for name in _SIGNED_HEADERS}

    def check() -> Principal:
        with runtime.sessions.begin() as session:
            return apikeys.authenticate(
                session,
                runtime.settings,
                headers,
                method,
                scope["path"],
                query,
                body,
                utcnow(),
            )

    return await anyio.to_thread.run_sync(check)


_SIGNED_HEADERS = (
    signing.KEY_HEADER,
    signing.TIMESTAMP_HEADER,
    signing.NONCE_HEADER,
    signing.SIGNATURE_HEADER,
)
