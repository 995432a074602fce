"""The API describes itself: the OpenAPI schema and its docs pages, served offline.

``/schema`` (and ``/schema/redoc``) is the Redoc page, ``/schema/openapi.json``
and ``/schema/openapi.yaml`` the schema itself. Litestar's pages load their
scripts, fonts and icon from CDNs, so offline they are blank; here the page
loads Redoc from the kit's own ``/static/vendor/`` (see its README for the
version and digest), without web fonts or a remote icon.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, YamlRenderPlugin
from litestar.static_files import create_static_files_router

__all__ = ["DOCS_PATH", "REDOC_JS", "STATIC_DIR", "STATIC_PATH", "openapi_config", "static_router"]

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
STATIC_PATH = "/static"
DOCS_PATH = "/schema"
REDOC_JS = f"{STATIC_PATH}/vendor/redoc/redoc.standalone.js"
# An empty icon: the browser asks nobody for one.
_NO_ICON = '<link rel="icon" href="data:,">'
PUBLIC = {"permission": "public"}


def static_router() -> Router:
    """``/static/...``: the kit's own browser files, public, cached for a day."""
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        opt=PUBLIC,
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=86400, public=True),
    )


def openapi_config(title: str, version: str) -> OpenAPIConfig:
    """The schema under :data:`DOCS_PATH`, its page rendered by the vendored Redoc."""
    return OpenAPIConfig(
        title=title,
        version=version,
        description=(
            "Errors are `application/problem+json` with a stable `code`; list endpoints "
            "answer `{items, total, limit, offset, next}`. See docs/api.md."
        ),
        path=DOCS_PATH,
        openapi_router=Router(path=DOCS_PATH, route_handlers=[], opt=PUBLIC),
        render_plugins=[
            RedocRenderPlugin(
                path=["/", "/redoc"], js_url=REDOC_JS, google_fonts=False, favicon=_NO_ICON
            ),
            YamlRenderPlugin(path=["/openapi.yaml", "/openapi.yml"], favicon=_NO_ICON),
        ],
    )
