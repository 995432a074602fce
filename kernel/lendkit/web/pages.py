"""Built-in plugin: the tenant's home page."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.response import Template
from litestar.types import ControllerRouterHandler
from sqlalchemy.orm import Session

import lendkit
from lendkit.lifecycle import products
from lendkit.plugins import plugin_names
from lendkit.runtime import Runtime


@get("/", opt={"permission": "public"}, sync_to_thread=True, include_in_schema=False)
def home(runtime: NamedDependency[Runtime], db_session: NamedDependency[Session]) -> Template:
    return Template(
        "home.html",
        context={
            "products": [p.spec for p in products.on_offer(db_session, runtime.pm)],
            "plugins": plugin_names(runtime.pm),
            "version": lendkit.__version__,
        },
    )


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return [home]
