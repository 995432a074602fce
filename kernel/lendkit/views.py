"""Read-only views of kernel records for plugins: part of the public plugin API.

A plugin never reads the kernel's tables (the conformance check refuses
SQL naming them, ``Base.metadata.tables`` and imports of kernel models);
it asks here, with the session it was given, and gets frozen values that
stay valid whatever the kernel's schema becomes::

    from lendkit import views

    loan = views.loan(session, event.payload["loan_id"])
    owed = loan.balances["principal"] if loan else Decimal(0)

A borrower comes masked (``138****5678``). Unmasked data needs a member of
staff (or an API client) holding a permission the plugin declares with
``register_permissions`` (or the kernel's ``pii.unmask``), and every such
read is written to the audit log: :func:`borrower_unmasked`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit import audit
from lendkit.auth.borrowers_api import MASKS, PII_FIELDS
from lendkit.auth.errors import Forbidden
from lendkit.auth.permissions import PERMISSIONS
from lendkit.callers import BorrowerCaller, Caller
from lendkit.lifecycle import application_views as _application_views
from lendkit.lifecycle import client_context, loans
from lendkit.lifecycle.application_models import Application
from lendkit.lifecycle.loan_models import Instalment, Loan
from lendkit.models import Borrower
from lendkit.row_values import from_fields
from lendkit.types import ClientContext

__all__ = [
    "ApplicationView",
    "BorrowerView",
    "InstalmentView",
    "LoanView",
    "application",
    "borrower",
    "borrower_unmasked",
    "borrowers_on_device",
    "loan",
]

UNMASK = "pii.unmask"


@dataclass(frozen=True, slots=True)
class BorrowerView:
    """A borrower: his KYC status and his personal data, masked unless ``masked`` is False.

    The personal fields are left out of ``repr`` even when masked: never log them.
    """

    id: int
    kyc_status: str  # registered | verified | rejected | review
    created_at: datetime
    verified_at: datetime | None
    masked: bool
    phone: str = field(repr=False)
    name: str | None = field(default=None, repr=False)
    id_number: str | None = field(default=None, repr=False)
    bank_card: str | None = field(default=None, repr=False)
    address: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ApplicationView:
    """A credit application: what was asked, its status, the offer's terms if it has one.

    ``status`` is as the borrower sees it (an open offer past its expiry is
    ``expired``); ``client`` the device and network facts sent with it
    (personal: left out of ``repr``), ``referral_code`` the code given.
    """

    id: int
    borrower_id: int
    product_code: str
    amount: Decimal
    term: int
    method: str
    status: str
    created_at: datetime
    approved_amount: Decimal | None
    annual_rate: Decimal | None
    apr_irr: Decimal | None
    offer_expires_at: datetime | None
    loan_id: int | None
    referral_code: str | None
    client: ClientContext | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class InstalmentView:
    """One row of a loan's schedule and what has been paid against it."""

    period: int
    start_date: date
    due_date: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    paid_principal: Decimal
    paid_interest: Decimal
    paid_fee: Decimal
    status: str  # pending | due | overdue | paid | prepaid


@dataclass(frozen=True, slots=True)
class LoanView:
    """A loan with its terms, standing, schedule and balances.

    ``balances`` is what the journal says the borrower owes now, by
    component: ``principal``, ``interest``, ``penalty`` and ``fees`` (CNY).
    """

    id: int
    borrower_id: int
    product_code: str
    principal: Decimal
    term: int
    method: str
    annual_rate: Decimal
    penalty_rate: Decimal
    upfront_fee: Decimal
    status: str  # booked | disbursing | active | overdue | settled | written_off | cancelled
    disbursed_on: date | None
    dpd: int
    bucket: str
    classification: str
    schedule: tuple[InstalmentView, ...]
    balances: Mapping[str, Decimal]


def _borrower_view(person: Borrower, *, masked: bool) -> BorrowerView:
    values = {
        name: None if (value := getattr(person, name)) is None else str(value)
        for name in PII_FIELDS
    }
    if masked:
        values = {
            name: None if value is None else MASKS[name](value) for name, value in values.items()
        }
    return BorrowerView(
        id=person.id,
        kyc_status=person.kyc_status,
        created_at=person.created_at,
        verified_at=person.verified_at,
        masked=masked,
        phone=values["phone"] or "",
        name=values["name"],
        id_number=values["id_number"],
        bank_card=values["bank_card"],
        address=values["address"],
    )


def borrower(session: Session, borrower_id: int) -> BorrowerView | None:
    """The borrower ``borrower_id``, masked; None if there is none."""
    person = session.get(Borrower, borrower_id)
    return None if person is None else _borrower_view(person, masked=True)


def borrower_unmasked(
    session: Session, borrower_id: int, *, caller: Caller, permission: str, plugin: str
) -> BorrowerView | None:
    """The borrower unmasked, for a caller holding ``permission``; audited.

    ``permission`` is one the plugin declares with ``register_permissions``
    (granted to the roles that may see the data) or the kernel's
    ``pii.unmask``; a borrower unmasks only himself. Anyone else gets 403
    ``forbidden`` and nothing is read. Each read writes an audit row
    ``pii.unmask`` naming the caller, the plugin and the permission.
    """
    if isinstance(caller, BorrowerCaller):
        allowed = caller.borrower_id == borrower_id
    else:
        declared = permission == UNMASK or permission not in PERMISSIONS
        allowed = declared and caller.holds(permission)
    if not allowed:
        raise Forbidden(
            f"查看完整个人信息需要插件声明的权限 {permission} / seeing personal data unmasked "
            f"needs the permission {permission!r}, declared by the plugin and held by the caller",
            reason="unmask_not_allowed",
        )
    person = session.get(Borrower, borrower_id)
    if person is None:
        return None
    audit.record(
        session,
        caller.actor,
        "pii.unmask",
        f"borrower:{borrower_id}",
        plugin=plugin,
        permission=permission,
        fields=[name for name in PII_FIELDS if getattr(person, name) is not None],
    )
    return _borrower_view(person, masked=False)


def application(session: Session, application_id: int) -> ApplicationView | None:
    """The application ``application_id``; None if there is none."""
    app = session.get(Application, application_id)
    if app is None:
        return None
    return from_fields(
        ApplicationView,
        app,
        status=_application_views.effective_status(app),
        referral_code=client_context.referral_code_of(session, app.id),
        client=client_context.client_of(session, app.id),
    )


def borrowers_on_device(session: Session, device_id: str) -> int:
    """How many borrowers have applied from the device ``device_id`` (the application
    being assessed included), counted by the device id's blind index."""
    return client_context.borrowers_on_device(session, device_id)


_BALANCE_NAMES = {
    "loan_principal": "principal",
    "loan_interest": "interest",
    "loan_penalty": "penalty",
    "loan_fees": "fees",
}


def loan(session: Session, loan_id: int) -> LoanView | None:
    """The loan ``loan_id`` with its schedule and balances; None if there is none."""
    row = session.get(Loan, loan_id)
    if row is None:
        return None
    instalments = session.scalars(
        select(Instalment).where(Instalment.loan_id == loan_id).order_by(Instalment.period)
    )
    owed = loans.outstanding(session, loan_id)
    return from_fields(
        LoanView,
        row,
        schedule=tuple(from_fields(InstalmentView, i) for i in instalments),
        balances=MappingProxyType({_BALANCE_NAMES[k]: v for k, v in owed.items()}),
    )
