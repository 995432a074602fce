"""Errors as RFC 9457 problem details with a stable ``code``.

Every error response is ``application/problem+json`` carrying ``type``,
``title``, ``status``, ``detail``, ``code`` and the ``request_id``; a 500
never leaks internals, only the request id to quote to support.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from lendkit.errors import LendkitError
from lendkit.logs import REQUEST_ID

__all__ = ["PROBLEM_JSON", "exception_handlers", "problem"]

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

# Stable codes for the framework's own HTTP errors.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    503: "unavailable",
}


def problem(
    status: int, code: str, title: str, detail: str, **extra: Any
) -> Response[dict[str, Any]]:
    body = {
        "type": f"https://lendkit.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": REQUEST_ID.get(),
        **extra,
    }
    return Response(body, status_code=status, media_type=PROBLEM_JSON)


def _lendkit_error(_: Request[Any, Any, Any], exc: LendkitError) -> Response[dict[str, Any]]:
    return problem(exc.status, exc.code, exc.title, exc.detail)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return problem(400, "validation_failed", "Invalid input", exc.detail, errors=exc.extra)
    if status >= 500:
        log.error("http error", extra={"status": status, "detail": exc.detail})
    return problem(status, HTTP_CODES.get(status, f"http_{status}"), exc.detail, exc.detail)


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error")
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        "Internal error",
        "Something went wrong on our side; quote the request id to support.",
    )


exception_handlers: ExceptionHandlersMap = {
    LendkitError: _lendkit_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
