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

Every change is validated (:mod:`lendkit.lifecycle.product_rules`), audited
(``product.created``, ``product.updated``, ``product.retired``) and
published through the outbox under the same topics, in the caller's
transaction. Each is idempotent: sending the same product again changes
nothing and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import pluggy
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lendkit import audit, outbox, registry
from lendkit.clock import china_today
from lendkit.db import utcnow
from lendkit.errors import (
    ConflictError,
    LendkitError,
    NotFoundError,
    StartupError,
    ValidationFailed,
)
from lendkit.lifecycle.product_models import ProductStatus, ProductVersion
from lendkit.lifecycle.product_rules import check_worst_case, parse_spec, spec_data, worst_case
from lendkit.settings import Settings
from lendkit.types import ProductSpec

__all__ = [
    "SEED_ACTOR",
    "Product",
    "all_products",
    "check_codes",
    "create",
    "find",
    "for_application",
    "history",
    "on_offer",
    "product_view",
    "retire",
    "seed",
    "update",
    "version_of",
    "version_view",
]

SEED_ACTOR: Final = "system:seed"
log = logging.getLogger(__name__)


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


def _spec_of(row: ProductVersion) -> ProductSpec:
    return ProductSpec(
        code=row.code,
        name=row.name,
        description=row.description,
        min_amount=row.min_amount,
        max_amount=row.max_amount,
        terms_months=tuple(row.terms_months),
        annual_rate=_rate(row.annual_rate),
        repayment_methods=tuple(row.repayment_methods),
        upfront_fee_rate=_rate(row.upfront_fee_rate),
        instalment_fee=row.instalment_fee,
        penalty_multiplier=_rate(row.penalty_multiplier),
        grace_days=row.grace_days,
        day_count=365 if row.day_count == 365 else 360,
        shift_holidays=row.shift_holidays,
        repayment_day=row.repayment_day,
        allocation_order=tuple(row.allocation_order),
    )


def _product(row: ProductVersion) -> Product:
    return Product(_spec_of(row), row.version, row.status, "table", row.actor, row.created_at)


def _row(spec: ProductSpec, version: int, status: str, actor: str, now: datetime) -> ProductVersion:
    data = spec_data(spec)
    return ProductVersion(
        code=spec.code,
        version=version,
        status=status,
        name=spec.name,
        description=spec.description,
        min_amount=spec.min_amount,
        max_amount=spec.max_amount,
        terms_months=data["terms_months"],
        annual_rate=spec.annual_rate,
        repayment_methods=data["repayment_methods"],
        upfront_fee_rate=spec.upfront_fee_rate,
        instalment_fee=spec.instalment_fee,
        penalty_multiplier=spec.penalty_multiplier,
        grace_days=spec.grace_days,
        day_count=spec.day_count,
        shift_holidays=spec.shift_holidays,
        repayment_day=spec.repayment_day,
        allocation_order=data["allocation_order"],
        actor=actor,
        created_at=now,
    )


# -- Reading -------------------------------------------------------------------------


def _newest(session: Session, code: str, *, lock: bool = False) -> ProductVersion | None:
    query = (
        select(ProductVersion)
        .where(ProductVersion.code == code)
        .order_by(ProductVersion.version.desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def _registered(pm: pluggy.PluginManager) -> dict[str, ProductSpec]:
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
    found = {row.code: _product(row) for row in rows}
    for code, spec in _registered(pm).items():
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
    spec = _registered(pm).get(code)
    row = _newest(session, code)
    if spec is not None and row is not None:
        raise _clash(code)
    if spec is not None:
        return Product(spec, None)
    if row is not None:
        return _product(row)
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
        spec = _registered(pm).get(code)
        if spec is None:
            raise _unknown(code, on_offer(session, pm))
        return Product(spec, None)
    row = session.scalar(
        select(ProductVersion).where(ProductVersion.code == code, ProductVersion.version == version)
    )
    if row is None:
        raise _unknown(f"{code} v{version}", on_offer(session, pm))
    return _product(row)


def history(session: Session, code: str) -> list[ProductVersion]:
    """Every version of ``code``, oldest first."""
    return list(
        session.scalars(
            select(ProductVersion)
            .where(ProductVersion.code == code)
            .order_by(ProductVersion.version)
        )
    )


# -- Changing ------------------------------------------------------------------------


def _record(session: Session, action: str, row: ProductVersion, actor: str, **detail: Any) -> None:
    """Audit and publish one change (``product.created`` / ``updated`` / ``retired``)."""
    audit.record(
        session,
        actor,
        f"product.{action}",
        f"product:{row.code}",
        version=row.version,
        status=row.status,
        **detail,
    )
    outbox.publish(
        session,
        f"product.{action}",
        {"code": row.code, "version": row.version, "status": row.status}
        | {"product": spec_data(_spec_of(row))},
    )


def _not_plugins(pm: pluggy.PluginManager, code: str) -> None:
    if code in _registered(pm):
        raise ConflictError(
            f"产品代码“{code}”由插件注册，不能在此管理 / the product {code!r} is registered by "
            "a plugin: it cannot be managed here (use another code, or change the plugin)",
            code="product_not_managed",
        )


def _checked(spec: ProductSpec, settings: Settings, now: datetime) -> ProductSpec:
    check_worst_case(spec, settings, china_today(now))
    return spec


def create(
    session: Session,
    pm: pluggy.PluginManager,
    settings: Settings,
    data: Mapping[str, Any],
    *,
    actor: str,
    now: datetime | None = None,
) -> tuple[Product, bool]:
    """Create product ``data["code"]`` as version 1; returns it and whether it is new.

    Sending the same product again returns it unchanged (False); another
    product under a code in use is 409 ``product_exists``, a code a plugin
    registers 409 ``product_not_managed``. 422 for every invalid field,
    ``product_rate_above_cap`` for a worst case above the cap.
    """
    now = now or utcnow()
    spec = parse_spec(data)
    _not_plugins(pm, spec.code)
    existing = _newest(session, spec.code)
    if existing is None:
        row = _row(_checked(spec, settings, now), 1, ProductStatus.ACTIVE, actor, now)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            existing = _newest(session, spec.code)  # created meanwhile by another request
            if existing is None:
                raise
        else:
            _record(session, "created", row, actor)
            return _product(row), True
    if existing.status == ProductStatus.ACTIVE and _spec_of(existing) == spec:
        return _product(existing), False
    raise ConflictError(
        f"产品代码“{spec.code}”已存在（第 {existing.version} 版），请修改该产品或换用其他代码 / "
        f"product {spec.code!r} exists (version {existing.version}): change it instead, or "
        "use another code",
        code="product_exists",
    )


def _locked_current(session: Session, pm: pluggy.PluginManager, code: str) -> ProductVersion:
    _not_plugins(pm, code)
    if _newest(session, code, lock=True) is None:
        raise NotFoundError(
            f"没有代码为“{code[:40]}”的产品 / there is no product {code[:40]!r}",
            code="product_unknown",
        )
    # Read again now the lock is held: another change may have committed while we waited.
    current = _newest(session, code)
    assert current is not None
    return current


def update(
    session: Session,
    pm: pluggy.PluginManager,
    settings: Settings,
    code: str,
    changes: Mapping[str, Any],
    *,
    actor: str,
    base_version: int | None = None,
    now: datetime | None = None,
) -> tuple[Product, bool]:
    """Change product ``code``: the fields in ``changes`` over the current version
    become the next version. Returns it and whether a version was added (a change
    that changes nothing adds none, so a retry is harmless).

    ``base_version``, when given, is the version the change was made on: 409
    ``product_version_conflict`` if another change came first. 404
    ``product_unknown``, 409 ``product_retired_readonly`` (a retired product stays
    retired: use a new code), 409 ``product_not_managed`` for a plugin's.
    """
    now = now or utcnow()
    if changes.get("code", code) != code:
        raise ValidationFailed(
            "产品代码不能修改 / a product's code cannot be changed", code="invalid_code"
        )
    current = _locked_current(session, pm, code)
    if base_version is not None and base_version != current.version:
        raise ConflictError(
            f"产品已被修改（当前第 {current.version} 版，而非第 {base_version} 版），请重新读取后再改 "
            f"/ the product changed meanwhile (it is at version {current.version}, not "
            f"{base_version}): read it again and redo the change",
            code="product_version_conflict",
        )
    if current.status == ProductStatus.RETIRED:
        raise ConflictError(
            f"产品“{code}”已停售，不能再修改 / product {code!r} is retired and cannot change; "
            "create a product with a new code",
            code="product_retired_readonly",
        )
    before = _spec_of(current)
    spec = parse_spec({**spec_data(before), **changes, "code": code})
    if spec == before:
        return _product(current), False
    row = _row(_checked(spec, settings, now), current.version + 1, current.status, actor, now)
    session.add(row)
    session.flush()
    changed = sorted(k for k, v in spec_data(spec).items() if spec_data(before)[k] != v)
    _record(session, "updated", row, actor, changed=changed, previous_version=current.version)
    return _product(row), True


def retire(
    session: Session,
    pm: pluggy.PluginManager,
    code: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> tuple[Product, bool]:
    """Stop new applications on ``code`` with a retired version of the same terms.

    Loans booked on it and offers already made go on unchanged. Retiring a
    retired product changes nothing (False).
    """
    now = now or utcnow()
    current = _locked_current(session, pm, code)
    if current.status == ProductStatus.RETIRED:
        return _product(current), False
    row = _row(_spec_of(current), current.version + 1, ProductStatus.RETIRED, actor, now)
    session.add(row)
    session.flush()
    _record(session, "retired", row, actor, previous_version=current.version)
    return _product(row), True


# -- Start-up: seeds from lendkit.toml, one owner per code --------------------------------


def seed(session: Session, pm: pluggy.PluginManager, settings: Settings) -> list[str]:
    """Create each ``[[products]]`` product of the settings whose code is absent.

    A product present already is left as it is (a warning says so when the
    file differs: change it through the API). Raises :class:`StartupError`
    naming the product when one is invalid. Returns the codes created.
    """
    created: list[str] = []
    for n, data in enumerate(settings.products):
        label = f"lendkit.toml: products[{n}] ({data.get('code', '?')!s:.40})"
        try:
            spec = parse_spec(data)
            existing = _newest(session, spec.code)
            if existing is None:
                create(session, pm, settings, data, actor=SEED_ACTOR)
                created.append(spec.code)
            elif _spec_of(existing) != spec:
                log.warning(
                    "lendkit.toml product differs from the table; seeds only create missing "
                    "products: change it through the products API",
                    extra={"code": spec.code, "version": existing.version},
                )
        except LendkitError as exc:
            raise StartupError(f"{label}: {exc.detail}") from None
    return created


def check_codes(session: Session, pm: pluggy.PluginManager) -> None:
    """Refuse to start when a plugin registers a code the products table holds."""
    try:
        all_products(session, pm)
    except ConflictError as exc:
        raise StartupError(exc.detail) from None


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
    return spec_data(_spec_of(row)) | {
        "version": row.version,
        "status": row.status,
        "actor": row.actor,
        "created_at": row.created_at.isoformat(),
    }
