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

from litestar import Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import ControllerRouterHandler
from sqlalchemy.orm import Session

import lendkit
from lendkit.auth.principal import current
from lendkit.errors import NotFoundError, ValidationFailed
from lendkit.lifecycle import products
from lendkit.lifecycle import products_bodies as bodies
from lendkit.runtime import Runtime
from lendkit.types import ComplianceItem
from lendkit.web import paging
from lendkit.web.bodies import json_object
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


@get("/api/products", opt=PUBLIC, sync_to_thread=True)
def list_products(
    db_session: NamedDependency[Session],
    runtime: NamedDependency[Runtime],
    window: NamedDependency[paging.Window],
) -> dict[str, Any]:
    """The products on offer, by code: each current version's terms, with ``apr_irr_max``
    (a page)."""
    offered = [products.product_view(p) for p in products.on_offer(db_session, runtime.pm)]
    return paging.page_of_list(window, offered)


@get("/api/products/{code:str}", opt=PUBLIC, sync_to_thread=True)
def get_product(
    code: FromPath[str], db_session: NamedDependency[Session], runtime: NamedDependency[Runtime]
) -> dict[str, Any]:
    """One product on offer (404 ``product_unknown`` when retired or unknown)."""
    return products.product_view(_offered(db_session, runtime, code))


@get(ADMIN, opt=MANAGE, sync_to_thread=True)
def manage_list(
    db_session: NamedDependency[Session],
    runtime: NamedDependency[Runtime],
    window: NamedDependency[paging.Window],
) -> dict[str, Any]:
    """Every product, retired ones too, with where it comes from (``table`` or ``plugin``;
    a page)."""
    every = [products.product_view(p) for p in products.all_products(db_session, runtime.pm)]
    return paging.page_of_list(window, every)


@post(
    ADMIN,
    opt=MANAGE,
    sync_to_thread=True,
    status_code=HTTP_201_CREATED,
    operation_class=described(bodies.PRODUCT),
)
def manage_create(
    data: JSONBody[Any],
    request: Request[Any, Any, Any],
    db_session: NamedDependency[Session],
    runtime: NamedDependency[Runtime],
) -> Response[dict[str, Any]]:
    """Create a product: the fields of ``ProductSpec`` (amounts and rates as strings,
    ``terms_months`` and ``repayment_methods`` as lists). 201 with version 1; 200 when
    the same product exists already; 409 ``product_exists`` for another under its code."""
    product, created = products.create(
        db_session, runtime.pm, runtime.settings, json_object(data), actor=current(request).actor
    )
    return Response(
        _record(db_session, product), status_code=HTTP_201_CREATED if created else HTTP_200_OK
    )


def _record(db_session: Session, product: products.Product) -> dict[str, Any]:
    view = products.product_view(product)
    view["history"] = [products.version_view(v) for v in products.history(db_session, product.code)]
    return view


@get(f"{ADMIN}/{{code:str}}", opt=MANAGE, sync_to_thread=True)
def manage_get(
    code: FromPath[str], db_session: NamedDependency[Session], runtime: NamedDependency[Runtime]
) -> dict[str, Any]:
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
    code: FromPath[str],
    data: JSONBody[Any],
    request: Request[Any, Any, Any],
    db_session: NamedDependency[Session],
    runtime: NamedDependency[Runtime],
) -> dict[str, Any]:
    """Change a product: the fields sent replace the current version's in a new version
    (``base_version``: the version you changed, 409 ``product_version_conflict`` if it is
    no longer current). A change that changes nothing adds no version."""
    body = dict(json_object(data))
    base = _base_version(body)
    product, _ = products.update(
        db_session,
        runtime.pm,
        runtime.settings,
        code,
        body,
        actor=current(request).actor,
        base_version=base,
    )
    return _record(db_session, product)


@post(f"{ADMIN}/{{code:str}}/retire", opt=MANAGE, sync_to_thread=True, status_code=HTTP_200_OK)
def manage_retire(
    code: FromPath[str],
    request: Request[Any, Any, Any],
    db_session: NamedDependency[Session],
    runtime: NamedDependency[Runtime],
) -> dict[str, Any]:
    """Retire a product: no new applications; its loans and open offers go on."""
    product, _ = products.retire(db_session, runtime.pm, code, actor=current(request).actor)
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


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return list(ROUTES)


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [
        ComplianceItem(
            function="Loan products as versioned data, each within the rate cap",
            clauses=(
                "中国人民银行公告〔2021〕第3号 (综合年化利率 all-in annualized rate)",
                "网络小额贷款业务管理暂行办法 (产品管理 product management)",
            ),
            description="Every product change is a new, audited version, refused when the "
            "worst case of its terms is above the rate cap; applications and loans keep "
            "the version they were priced and booked on; the products on offer are "
            "published with their dearest all-in annualized rate.",
        )
    ]
