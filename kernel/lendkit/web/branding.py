"""Built-in plugin: the tenant's logo at a stable URL, for its pages and its borrowers' apps."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_304_NOT_MODIFIED
from litestar.types import ControllerRouterHandler

import lendkit
from lendkit.branding import LOGO_PATH, find_logo
from lendkit.errors import NotFoundError
from lendkit.runtime import Runtime

# A day in caches (the pages' URL carries the file's digest, so a new logo is
# fetched at once); an SVG opened on its own runs no script and loads nothing.
HEADERS = {
    "Cache-Control": "public, max-age=86400",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
}


@get(LOGO_PATH, opt={"permission": "public"}, sync_to_thread=True, include_in_schema=False)
def logo(runtime: NamedDependency[Runtime], request: Request[Any, Any, Any]) -> Response[bytes]:
    found = find_logo(runtime.settings)
    if found is None:
        raise NotFoundError("本机构未设置标志 / this tenant has no logo", code="logo_not_found")
    headers = {**HEADERS, "ETag": found.etag}
    if request.headers.get("if-none-match") == found.etag:
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(found.content, media_type=found.media_type, headers=headers)


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return [logo]
