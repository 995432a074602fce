"""Built-in plugin: loan products over HTTP — on offer to everyone, managed by staff.

Anyone, signed in or not, lists the products on offer (``GET /api/products``)
and reads one (``GET /api/products/{code}``): the current version's terms
and the dearest all-in annualized rate (``apr_irr_max``). Staff with
``products.manage`` (admins, risk officers) manage them under
``/api/admin/products``: list every product with retired ones, create (201;
200 when the same product was sent before), read one with its history,
change one (``PATCH``: the fields sent over the current version make the
next one; optional ``base_version`` guards against a change made
meanwhile) and retire one. Every refusal is problem+json with a code and a
Chinese and English message, and changes nothing.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, patch
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.orm import Session

from lendkit.auth.principal import current
from lendkit.errors import NotFoundError, ValidationFailed
from lendkit.lifecycle import product_changes, products
from lendkit.lifecycle import products_bodies as bodies
from lendkit.runtime import Runtime
from lendkit.web import paging
from lendkit.web.bodies import json_object
from lendkit.web.routes import Body, Db, Json, Req, Rt, Window, get_route, post_route, routes_hook
from lendkit.web.schema import described

__all__ = ["ROUTES"]

PUBLIC = {"permission": "public"}
MANAGE = {"permission": "products.manage"}
ADMIN = "/api/admin/products"


def _offered(db_session: Session, runtime: Runtime, code: str) -> products.Product:
    for product in products.on_offer(db_session, runtime.pm):
        if product.code == code:
            return product
    raise NotFoundError(
        f"没有在售的产品“{code[:40]}” / there is no product {code[:40]!r} on offer",
        code="product_unknown",
    )


@get_route("/api/products", PUBLIC)
def list_products(db_session: Db, runtime: Rt, window: Window) -> Json:
    """The products on offer, by code: each current version's terms, with ``apr_irr_max``
    (a page)."""
    offered = [products.product_view(p) for p in products.on_offer(db_session, runtime.pm)]
    return paging.page_of_list(window, offered)


@get_route("/api/products/{code:str}", PUBLIC)
def get_product(code: FromPath[str], db_session: Db, runtime: Rt) -> Json:
    """One product on offer (404 ``product_unknown`` when retired or unknown)."""
    return products.product_view(_offered(db_session, runtime, code))


@get_route(ADMIN, MANAGE)
def manage_list(db_session: Db, runtime: Rt, window: Window) -> Json:
    """Every product, retired ones too, with where it comes from (``table`` or ``plugin``;
    a page)."""
    every = [products.product_view(p) for p in products.all_products(db_session, runtime.pm)]
    return paging.page_of_list(window, every)


@post_route(ADMIN, MANAGE, bodies.PRODUCT)
def manage_create(data: Body, request: Req, db_session: Db, runtime: Rt) -> Response[Json]:
    """Create a product: the fields of ``ProductSpec`` (amounts and rates as strings,
    ``terms_months`` and ``repayment_methods`` as lists). 201 with version 1; 200 when
    the same product exists already; 409 ``product_exists`` for another under its code."""
    product, created = product_changes.create(
        db_session, runtime.pm, runtime.settings, json_object(data), actor=current(request).actor
    )
    return Response(
        _record(db_session, product), status_code=HTTP_201_CREATED if created else HTTP_200_OK
    )


def _record(db_session: Session, product: products.Product) -> Json:
    view = products.product_view(product)
    view["history"] = [products.version_view(v) for v in products.history(db_session, product.code)]
    return view


@get_route(f"{ADMIN}/{{code:str}}", MANAGE)
def manage_get(code: FromPath[str], db_session: Db, runtime: Rt) -> Json:
    """One product, retired or not, with every version (``history``, oldest first)."""
    try:
        product = products.find(db_session, runtime.pm, code)
    except ValidationFailed as exc:
        raise NotFoundError(exc.detail, code="product_unknown") from None
    return _record(db_session, product)


def _base_version(body: dict[str, Any]) -> int | None:
    value = body.pop("base_version", None)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValidationFailed(
            "base_version 须为版本号（整数）/ base_version must be a version number",
            code="invalid_base_version",
        )
    return value


@patch(
    f"{ADMIN}/{{code:str}}",
    opt=MANAGE,
    sync_to_thread=True,
    status_code=HTTP_200_OK,
    operation_class=described(bodies.PRODUCT_CHANGE),
)
def manage_update(
    code: FromPath[str], data: Body, request: Req, db_session: Db, runtime: Rt
) -> Json:
    """Change a product: the fields sent replace the current version's in a new version
    (``base_version``: the version you changed, 409 ``product_version_conflict`` if it is
    no longer current). A change that changes nothing adds no version."""
    body = dict(json_object(data))
    base = _base_version(body)
    product, _ = product_changes.update(
        db_session,
        runtime.pm,
        runtime.settings,
        code,
        body,
        actor=current(request).actor,
        base_version=base,
    )
    return _record(db_session, product)


@post_route(f"{ADMIN}/{{code:str}}/retire", MANAGE, status_code=HTTP_200_OK)
def manage_retire(code: FromPath[str], request: Req, db_session: Db, runtime: Rt) -> Json:
    """Retire a product: no new applications; its loans and open offers go on."""
    product, _ = product_changes.retire(db_session, runtime.pm, code, actor=current(request).actor)
    return _record(db_session, product)


# GETs first on a shared path (see lendkit.lifecycle.applications_api on litestar's double wrapping).
ROUTES = [
    list_products,
    get_product,
    manage_list,
    manage_create,
    manage_get,
    manage_update,
    manage_retire,
]


register_routes = routes_hook(ROUTES)
