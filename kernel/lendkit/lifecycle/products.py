"""The tenant's loan products: versions in the database, and those plugins register.

Products come from three places, combined here:

* the ``product_version`` table, which staff manage through the products
  API (create, change, retire): every change is a new immutable version,
  the current one is the newest, a retired one takes no new applications;
* the tenant's ``[[products]]`` in ``lendkit.toml``, seeded into the table by
  ``lendkit db upgrade`` (:meth:`~lendkit.runtime.Runtime.upgrade`): a seed
  only creates a code that is absent, it never changes one (change it
  through the API);
* ``register_products``, for plugins that bring a product type of their own:
  a plugin's product has no version (``None``; the plugin's code is its
  history) and cannot be changed through the API. A code is one product's:
  the table refuses a code a plugin registers, and a plugin enabled later
  with a code the table holds stops ``lendkit db upgrade``.

Reading is here; changes and the seeds are
:mod:`~lendkit.lifecycle.product_changes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pluggy
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lendkit import registry
from lendkit.clock import china_today
from lendkit.errors import (
    ConflictError,
    ValidationFailed,
)
from lendkit.lifecycle.product_models import ProductStatus, ProductVersion
from lendkit.lifecycle.product_rules import spec_data, worst_case
from lendkit.row_values import from_fields
from lendkit.types import ProductSpec

__all__ = [
    "Product",
    "all_products",
    "find",
    "for_application",
    "history",
    "newest_row",
    "on_offer",
    "product_of",
    "product_view",
    "registered",
    "spec_of",
    "version_of",
    "version_view",
]


@dataclass(frozen=True, slots=True)
class Product:
    """One product as the lifecycle prices it: its terms, and which version they are.

    ``version`` is None for a product a plugin registers (``source`` ``plugin``).
    """

    spec: ProductSpec
    version: int | None
    status: str = ProductStatus.ACTIVE
    source: str = "plugin"  # or "table"
    actor: str | None = None
    created_at: datetime | None = None

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def on_offer(self) -> bool:
        return self.status == ProductStatus.ACTIVE


def _rate(value: Decimal) -> Decimal:
    """A rate as read back from Numeric(9, 6), shown to 4 places when that is exact
    (``0.109000`` is ``0.1090``, as it was written)."""
    shown = value.quantize(Decimal("0.0001"))
    return shown if shown == value else value.normalize()


def spec_of(row: ProductVersion) -> ProductSpec:
    return from_fields(
        ProductSpec,
        row,
        terms_months=tuple(row.terms_months),
        annual_rate=_rate(row.annual_rate),
        repayment_methods=tuple(row.repayment_methods),
        upfront_fee_rate=_rate(row.upfront_fee_rate),
        penalty_multiplier=_rate(row.penalty_multiplier),
        day_count=365 if row.day_count == 365 else 360,
        allocation_order=tuple(row.allocation_order),
    )


def product_of(row: ProductVersion) -> Product:
    return Product(spec_of(row), row.version, row.status, "table", row.actor, row.created_at)


# -- Reading -------------------------------------------------------------------------


def newest_row(session: Session, code: str, *, lock: bool = False) -> ProductVersion | None:
    query = (
        select(ProductVersion)
        .where(ProductVersion.code == code)
        .order_by(ProductVersion.version.desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def registered(pm: pluggy.PluginManager) -> dict[str, ProductSpec]:
    return {spec.code: spec for spec in registry.products(pm)}


def _clash(code: str) -> ConflictError:
    return ConflictError(
        f"产品代码“{code}”既由插件注册又在产品表中，请停用该插件或更换代码 / the product code "
        f"{code!r} is both registered by a plugin and held in the products table: disable "
        "the plugin or retire the product and use another code",
        code="product_code_clash",
    )


def all_products(session: Session, pm: pluggy.PluginManager) -> list[Product]:
    """Every product's current version, retired ones included, by code.

    409 ``product_code_clash`` if a plugin registers a code the table holds
    (``lendkit db upgrade`` refuses to start such a tenant first).
    """
    newest = (
        select(ProductVersion.code, func.max(ProductVersion.version).label("version"))
        .group_by(ProductVersion.code)
        .subquery()
    )
    rows = session.scalars(
        select(ProductVersion).join(
            newest,
            (ProductVersion.code == newest.c.code) & (ProductVersion.version == newest.c.version),
        )
    )
    found = {row.code: product_of(row) for row in rows}
    for code, spec in registered(pm).items():
        if code in found:
            raise _clash(code)
        found[code] = Product(spec, None)
    return [found[code] for code in sorted(found)]


def on_offer(session: Session, pm: pluggy.PluginManager) -> list[Product]:
    """The products open to new applications: the current, unretired versions."""
    return [product for product in all_products(session, pm) if product.on_offer]


def _unknown(code: str, choices: list[Product]) -> ValidationFailed:
    listed = ", ".join(p.code for p in choices) or "-"
    return ValidationFailed(
        f"没有代码为“{code[:40]}”的产品，可选 {listed} / there is no product {code[:40]!r}; "
        f"one of {listed}",
        code="invalid_product",
    )


def find(session: Session, pm: pluggy.PluginManager, code: str) -> Product:
    """The current version of product ``code``, retired or not (422 ``invalid_product``)."""
    spec = registered(pm).get(code)
    row = newest_row(session, code)
    if spec is not None and row is not None:
        raise _clash(code)
    if spec is not None:
        return Product(spec, None)
    if row is not None:
        return product_of(row)
    raise _unknown(code, on_offer(session, pm))


def for_application(session: Session, pm: pluggy.PluginManager, code: str) -> Product:
    """The version a new application is priced on: the current one, if on offer.

    422 ``invalid_product``, or ``product_retired`` for a retired product.
    """
    product = find(session, pm, code)
    if not product.on_offer:
        raise ValidationFailed(
            f"产品“{code}”已停售，不再接受新申请 / product {code!r} is retired: it takes no "
            "new applications",
            code="product_retired",
        )
    return product


def version_of(
    session: Session, pm: pluggy.PluginManager, code: str, version: int | None
) -> Product:
    """Version ``version`` of ``code`` (None: the plugin's product), retired or not.

    What an application was submitted on prices its offer and books its
    loan, whatever changed since. 422 ``invalid_product`` when it is gone (a
    plugin's product whose plugin was disabled).
    """
    if version is None:
        spec = registered(pm).get(code)
        if spec is None:
            raise _unknown(code, on_offer(session, pm))
        return Product(spec, None)
    row = session.scalar(
        select(ProductVersion).where(ProductVersion.code == code, ProductVersion.version == version)
    )
    if row is None:
        raise _unknown(f"{code} v{version}", on_offer(session, pm))
    return product_of(row)


def history(session: Session, code: str) -> list[ProductVersion]:
    """Every version of ``code``, oldest first."""
    return list(
        session.scalars(
            select(ProductVersion)
            .where(ProductVersion.code == code)
            .order_by(ProductVersion.version)
        )
    )


# -- Views ---------------------------------------------------------------------------


def product_view(product: Product, on: date | None = None) -> dict[str, Any]:
    """A product as JSON: its terms, version and status, and its dearest all-in rate.

    ``apr_irr_max`` is the worst case's annualized rate (IRR method) if
    disbursed on ``on`` (today, China time), the "up to" figure an
    advertisement must show.
    """
    try:
        worst: str | None = str(worst_case(product.spec, on or china_today()).rate.apr_irr)
    except ValidationFailed:
        worst = None  # a plugin's product that cannot be priced at its range's ends
    return spec_data(product.spec) | {
        "version": product.version,
        "status": product.status,
        "source": product.source,
        "apr_irr_max": worst,
    }


def version_view(row: ProductVersion) -> dict[str, Any]:
    """One version of the history: its terms, who made it and when."""
    return spec_data(spec_of(row)) | {
        "version": row.version,
        "status": row.status,
        "actor": row.actor,
        "created_at": row.created_at.isoformat(),
    }
