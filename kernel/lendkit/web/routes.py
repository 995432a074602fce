"""The shorthand of the kernel's routes: the parameters they name, one decorator a verb.

Every kernel route runs in a worker thread (``sync_to_thread``: it holds a
database session) and declares its permission in ``opt``; a route that reads
its JSON body by hand (for bilingual 422s, field by field) carries the body's
schema so the OpenAPI document shows it (:func:`lendkit.web.schema.described`).
The aliases are the parameter types as litestar reads them: a route writes
``db_session: Db`` for ``db_session: NamedDependency[Session]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from litestar import Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import Schema
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED
from litestar.types import ControllerRouterHandler
from sqlalchemy.orm import Session

import lendkit
from lendkit.runtime import Runtime
from lendkit.web import paging
from lendkit.web.schema import described

__all__ = [
    "Body",
    "Db",
    "Json",
    "Req",
    "Rt",
    "Window",
    "delete_route",
    "get_route",
    "post_route",
    "put_route",
    "routes_hook",
]

Req = Request[Any, Any, Any]
Db = NamedDependency[Session]
Rt = NamedDependency[Runtime]
Window = NamedDependency[paging.Window]
Body = JSONBody[Any]
Json = dict[str, Any]


def _options(opt: dict[str, Any], body: Schema | None, extra: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"opt": opt, "sync_to_thread": True, **extra}
    if body is not None:
        options["operation_class"] = described(body)
    return options


def get_route(path: str, opt: dict[str, Any], **extra: Any) -> HTTPRouteHandler:
    """A GET route needing ``opt`` (its permission)."""
    return get(path, **_options(opt, None, extra))


def post_route(
    path: str,
    opt: dict[str, Any],
    body: Schema | None = None,
    *,
    status_code: int = HTTP_201_CREATED,
    **extra: Any,
) -> HTTPRouteHandler:
    """A POST route needing ``opt``, its body shown as ``body``; 201 unless ``status_code``."""
    return post(path, status_code=status_code, **_options(opt, body, extra))


def put_route(
    path: str, opt: dict[str, Any], body: Schema | None = None, **extra: Any
) -> HTTPRouteHandler:
    """A PUT route needing ``opt``, its body shown as ``body``."""
    return put(path, **_options(opt, body, extra))


def delete_route(path: str, opt: dict[str, Any], **extra: Any) -> HTTPRouteHandler:
    """A DELETE route needing ``opt``."""
    return delete(path, **_options(opt, None, extra))


def routes_hook(
    handlers: Sequence[ControllerRouterHandler],
) -> Callable[[], list[ControllerRouterHandler]]:
    """A module's ``register_routes`` hook implementation: it serves ``handlers``, in order."""

    def register_routes() -> list[ControllerRouterHandler]:
        return list(handlers)

    return lendkit.hookimpl(register_routes)
