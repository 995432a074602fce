"""Plugins' pages (the ``register_pages`` hook): served inside the kit's layout, with menus.

Each :class:`~lendkit.types.Page` becomes a GET route at its path, guarded
by its permission like any route, rendering ``plugin_page.html``: the kit's
layout around the plugin's template, with the menu of the page's area
(``console`` for staff, ``h5`` for borrowers) as the caller may see it.
``/console/`` and ``/h5/`` list the menus on their own. Everything about a
page that can be wrong is refused at start-up, once, not at the first
request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pluggy
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.response import Template
from sqlalchemy.orm import Session

from lendkit import registry
from lendkit.auth.errors import Forbidden
from lendkit.auth.permissions import PUBLIC, Matrix
from lendkit.callers import BORROWER_PERMISSION, BorrowerCaller, Caller, caller_of
from lendkit.errors import StartupError
from lendkit.types import Page, PageArea

__all__ = ["INDEX_ROUTES", "collect", "menu", "page_routes"]

_PATH = re.compile(r"[A-Za-z0-9/_.-]+")
_AREA_TITLES = {"console": ("管理后台", "Staff console"), "h5": ("我的", "My account")}


def collect(pm: pluggy.PluginManager, matrix: Matrix) -> tuple[Page, ...]:
    """The enabled plugins' pages, checked: prefixes, permissions, one page per path."""
    seen: dict[str, str] = {}
    pages: list[Page] = []
    for plugin, page in registry.pages(pm):
        where = f"plugin {plugin!r}: page {page.path!r}"
        prefix = f"/{page.area}/{plugin}/"
        if page.area not in _AREA_TITLES:
            raise StartupError(f"{where}: area must be 'console' or 'h5', not {page.area!r}")
        if not page.path.startswith(prefix) or not _PATH.fullmatch(page.path):
            raise StartupError(
                f"{where}: the path must start with {prefix} and hold only letters, digits "
                "and / _ . -"
            )
        if page.permission not in matrix.permissions:
            raise StartupError(f"{where}: permission {page.permission!r} is registered by nobody")
        if page.area == "console" and page.permission in (BORROWER_PERMISSION, PUBLIC):
            raise StartupError(
                f"{where}: a console page is for staff: name a staff permission, "
                f"not {page.permission!r}"
            )
        if page.area == "h5" and page.permission != BORROWER_PERMISSION:
            raise StartupError(f"{where}: a borrower page takes {BORROWER_PERMISSION!r}")
        if page.path in seen:
            raise StartupError(
                f"{where}: the path is claimed twice (by {seen[page.path]!r} and {plugin!r})"
            )
        seen[page.path] = plugin
        pages.append(page)
    return tuple(pages)


def menu(pages: Sequence[Page], area: PageArea, caller: Caller) -> list[Page]:
    """The menu entries of ``area`` that ``caller`` may open, in registration order."""
    return [
        page for page in pages if page.area == area and page.menu and caller.holds(page.permission)
    ]


def _route(page: Page) -> HTTPRouteHandler:
    def render(request: Request[Any, Any, Any], db_session: NamedDependency[Session]) -> Template:
        caller = caller_of(request)  # the guard let it through: it holds the permission
        context = dict(page.context(db_session, caller)) if page.context is not None else {}
        pages: tuple[Page, ...] = request.app.state.pages
        return Template(
            "plugin_page.html",
            context={**context, "page": page, "menu": menu(pages, page.area, caller)},
        )

    return get(
        page.path,
        opt={"permission": page.permission},
        sync_to_thread=True,
        include_in_schema=False,
        name=f"page:{page.path}",
    )(render)


def page_routes(pages: Sequence[Page]) -> list[HTTPRouteHandler]:
    return [_route(page) for page in pages]


def _index(request: Request[Any, Any, Any], area: PageArea) -> Template:
    caller = caller_of(request)
    pages: tuple[Page, ...] = request.app.state.pages
    zh, en = _AREA_TITLES[area]
    return Template(
        "plugin_menu.html",
        context={"menu": menu(pages, area, caller), "title_zh": zh, "title_en": en},
    )


@get("/console/", opt={"permission": "account.self"}, sync_to_thread=False, include_in_schema=False)
def console_index(request: Request[Any, Any, Any]) -> Template:
    """The staff console's menu: the plugins' console pages this member of staff may open."""
    if isinstance(caller_of(request), BorrowerCaller):
        raise Forbidden("管理后台仅供员工使用。The console is for staff.", reason="staff_only")
    return _index(request, "console")


@get("/h5/", opt={"permission": BORROWER_PERMISSION}, sync_to_thread=False, include_in_schema=False)
def h5_index(request: Request[Any, Any, Any]) -> Template:
    """The borrower's menu: the plugins' borrower pages."""
    return _index(request, "h5")


INDEX_ROUTES = [console_index, h5_index]
