"""Errors as RFC 9457 problem details with a stable ``code``.

Every error response is ``application/problem+json`` carrying ``type``,
``title``, ``status``, ``detail``, ``code`` and the ``request_id``; a 500
never leaks internals, only the request id to quote to support.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from lendkit.errors import LendkitError, ValidationFailed
from lendkit.logs import REQUEST_ID

__all__ = ["HTTP_PROBLEMS", "PROBLEM_JSON", "exception_handlers", "problem"]

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

# The framework's own HTTP errors: status -> stable code, bilingual title, and the
# bilingual detail used when litestar's own says nothing more than the status.
HTTP_PROBLEMS: dict[int, tuple[str, str, str]] = {
    400: (
        "bad_request",
        "请求有误 / Bad request",
        "请求无法处理 / the request cannot be processed",
    ),
    401: ("unauthenticated", "需要登录 / Authentication required", "请先登录 / sign in first"),
    403: ("forbidden", "无权访问 / Forbidden", "没有访问权限 / you may not do this"),
    404: (
        "not_found",
        "未找到 / Not found",
        "这个地址上没有内容 / there is nothing at this address",
    ),
    405: (
        "method_not_allowed",
        "不支持该请求方法 / Method not allowed",
        "这个地址不接受该请求方法，见 Allow 头 / this address does not accept this method: "
        "see the Allow header",
    ),
    409: ("conflict", "冲突 / Conflict", "请求与当前状态冲突 / the request conflicts"),
    413: (
        "body_too_large",
        "请求体过大 / Request body too large",
        "请求体超过了允许的大小 / the request body is larger than allowed",
    ),
    415: (
        "unsupported_media_type",
        "不支持的内容类型 / Unsupported media type",
        "不支持该内容类型 / this content type is not accepted",
    ),
    429: (
        "too_many_requests",
        "请求过于频繁 / Too many requests",
        "请稍后再试 / try again later",
    ),
    503: ("unavailable", "服务暂不可用 / Unavailable", "请稍后再试 / try again later"),
}
INTERNAL = (
    "internal_error",
    "服务器内部错误 / Internal error",
    "服务出错了，请向客服提供请求编号 / something went wrong on our side; quote the "
    "request id to support",
)


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
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
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _lendkit_error(_: Request[Any, Any, Any], exc: LendkitError) -> Response[dict[str, Any]]:
    return problem(
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        headers=exc.headers or None,
        **exc.problem_fields(),
    )


def _validation(exc: ValidationException) -> Response[dict[str, Any]]:
    errors = exc.extra if isinstance(exc.extra, list) else []
    first = next((e.get("message") for e in errors if isinstance(e, dict)), None)
    return problem(
        ValidationFailed.status,
        ValidationFailed.code,
        "输入无效 / Invalid input",
        f"请求内容不符合接口要求，见 errors / the request does not match the API: "
        f"{first or exc.detail}",
        errors=errors,
    )


def _too_large(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    code, title, _ = HTTP_PROBLEMS[413]
    limit = request.route_handler.resolve_request_max_body_size()
    kib = f"{limit // 1024} KiB" if limit else "the limit"
    return problem(413, code, title, f"请求体超过 {kib} / the request body is larger than {kib}")


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return _validation(exc)
    if status == 413:
        return _too_large(request)
    if status >= 500:
        log.error("http error", extra={"status": status, "detail": exc.detail})
    if status == 500:
        return problem(status, *INTERNAL)
    code, title, detail = HTTP_PROBLEMS.get(
        status, (f"http_{status}", f"HTTP {status}", f"HTTP {status}")
    )
    own = exc.detail if exc.detail and exc.detail != _phrase(status) else None
    if own is not None and status < 500:
        # litestar said something specific (in English): keep it after the Chinese.
        detail = f"{detail.split(' / ')[0]} / {own}"
    return problem(status, code, title, detail, headers=exc.headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error")
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, *INTERNAL)


exception_handlers: ExceptionHandlersMap = {
    LendkitError: _lendkit_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
