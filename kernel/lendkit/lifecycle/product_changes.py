"""Changing the tenant's products: create, change, retire; the start-up seeds.

Every change is validated (:mod:`lendkit.lifecycle.product_rules`), audited
(``product.created``, ``product.updated``, ``product.retired``) and
published through the outbox under the same topics, in the caller's
transaction. Each is idempotent: sending the same product again changes
nothing and says so. The seeds are the tenant's ``[[products]]``: a seed only
creates a code that is absent, it never changes one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import pluggy
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lendkit import audit, outbox
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
from lendkit.lifecycle.product_rules import check_worst_case, parse_spec, spec_data
from lendkit.lifecycle.products import (
    Product,
    all_products,
    newest_row,
    product_of,
    registered,
    spec_of,
)
from lendkit.settings import Settings
from lendkit.types import ProductSpec

__all__ = ["SEED_ACTOR", "check_codes", "create", "retire", "seed", "update"]

SEED_ACTOR: Final = "system:seed"
log = logging.getLogger(__name__)


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
        | {"product": spec_data(spec_of(row))},
    )


def _not_plugins(pm: pluggy.PluginManager, code: str) -> None:
    if code in registered(pm):
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
    existing = newest_row(session, spec.code)
    if existing is None:
        row = _row(_checked(spec, settings, now), 1, ProductStatus.ACTIVE, actor, now)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            existing = newest_row(session, spec.code)  # created meanwhile by another request
            if existing is None:
                raise
        else:
            _record(session, "created", row, actor)
            return product_of(row), True
    if existing.status == ProductStatus.ACTIVE and spec_of(existing) == spec:
        return product_of(existing), False
    raise ConflictError(
        f"产品代码“{spec.code}”已存在（第 {existing.version} 版），请修改该产品或换用其他代码 / "
        f"product {spec.code!r} exists (version {existing.version}): change it instead, or "
        "use another code",
        code="product_exists",
    )


def _locked_current(session: Session, pm: pluggy.PluginManager, code: str) -> ProductVersion:
    _not_plugins(pm, code)
    if newest_row(session, code, lock=True) is None:
        raise NotFoundError(
            f"没有代码为“{code[:40]}”的产品 / there is no product {code[:40]!r}",
            code="product_unknown",
        )
    # Read again now the lock is held: another change may have committed while we waited.
    current = newest_row(session, code)
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
    before = spec_of(current)
    spec = parse_spec({**spec_data(before), **changes, "code": code})
    if spec == before:
        return product_of(current), False
    row = _row(_checked(spec, settings, now), current.version + 1, current.status, actor, now)
    session.add(row)
    session.flush()
    changed = sorted(k for k, v in spec_data(spec).items() if spec_data(before)[k] != v)
    _record(session, "updated", row, actor, changed=changed, previous_version=current.version)
    return product_of(row), True


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
        return product_of(current), False
    row = _row(spec_of(current), current.version + 1, ProductStatus.RETIRED, actor, now)
    session.add(row)
    session.flush()
    _record(session, "retired", row, actor, previous_version=current.version)
    return product_of(row), True


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
            existing = newest_row(session, spec.code)
            if existing is None:
                create(session, pm, settings, data, actor=SEED_ACTOR)
                created.append(spec.code)
            elif spec_of(existing) != spec:
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
