"""The Litestar app factory: kernel shell plus whatever the plugins register."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import ImproperlyConfiguredException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig
from sqlalchemy.orm import Session

from lendkit import __version__, registry
from lendkit.auth.guard import auth_guard
from lendkit.callers import Caller, caller_of
from lendkit.errors import StartupError
from lendkit.runtime import Runtime
from lendkit.templating import make_environment
from lendkit.web import apidocs, paging, plugin_pages
from lendkit.web.ids import id_guard
from lendkit.web.problems import exception_handlers
from lendkit.web.request import LendkitRequest
from lendkit.web.request_id import request_id_middleware

__all__ = ["create_app"]


def provide_runtime(state: State) -> Runtime:
    runtime: Runtime = state.runtime
    return runtime


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def provide_db_session(state: State, request: Request[Any, Any, Any]) -> Iterator[Session]:
    """One transaction per request: committed after the handler, rolled back on error.

    Safe methods get a read-only session, which on SQLite runs beside writers.
    """
    runtime: Runtime = state.runtime
    factory = runtime.read_sessions if request.method in SAFE_METHODS else runtime.sessions
    with factory.begin() as session:
        yield session


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    """The ``caller`` dependency (:mod:`lendkit.callers`): who is calling, typed."""
    return caller_of(request)


def create_app(runtime: Runtime) -> Litestar:
    """Build the app for ``runtime``; route clashes between plugins stop start-up."""
    settings = runtime.settings
    permissions = registry.permissions(runtime.pm)
    pages = plugin_pages.collect(runtime.pm, permissions)
    try:
        app = Litestar(
            route_handlers=[
                *registry.routes(runtime.pm),
                *plugin_pages.INDEX_ROUTES,
                *plugin_pages.page_routes(pages),
                apidocs.static_router(),
            ],
            dependencies={
                "runtime": Provide(provide_runtime, sync_to_thread=False),
                "db_session": Provide(provide_db_session),
                "caller": Provide(provide_caller, sync_to_thread=False),
                # limit and offset of a list endpoint (lendkit.web.paging).
                "window": Provide(paging.provide_window, sync_to_thread=False),
            },
            state=State({"runtime": runtime, "permissions": permissions, "pages": pages}),
            exception_handlers=exception_handlers,
            # Every route's opt["permission"], enforced (lendkit.auth.guard); then no
            # path id beyond what a database column holds (lendkit.web.ids).
            guards=[auth_guard, id_guard],
            # JSON bodies decoded with specific 400s (lendkit.web.bodies).
            request_class=LendkitRequest,
            request_max_body_size=settings.server.max_body_kib * 1024,
            template_config=TemplateConfig(
                instance=JinjaTemplateEngine.from_environment(
                    make_environment(settings, runtime.pm)
                )
            ),
            # The schema and its docs page, whose scripts are the kit's own static files.
            openapi_config=apidocs.openapi_config(
                f"{settings.tenant.display_name} API (lendkit)", __version__
            ),
            logging_config=None,
        )
    except ImproperlyConfiguredException as exc:
        raise StartupError(f"cannot mount routes: {exc.detail}") from None
    # Outermost, around the exception handler too, so that even a 404 for an
    # unknown path carries a request id (route middleware runs too late).
    app.asgi_handler = request_id_middleware(app.asgi_handler)
    return app
