"""The per-borrower caps on what a borrower may owe or ask for here, and his exposure.

The caps count everything the borrower owes or may soon owe here: open
applications and unexpired offers, accepted offers not yet booked, and the
principal of loans booked, disbursing, active or overdue.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from lendkit.clearing.money import ZERO, money
from lendkit.db import utcnow
from lendkit.errors import ValidationFailed
from lendkit.lifecycle.application_models import Application, ApplicationStatus
from lendkit.lifecycle.loan_models import Loan, LoanStatus
from lendkit.settings import Settings

__all__ = ["OUTSTANDING_LOANS", "check_caps", "exposure", "still_open"]

S = ApplicationStatus
SYSTEM_ACTOR: Final = "system:credit"
# Loans whose principal counts against the caps.
OUTSTANDING_LOANS: Final = (
    LoanStatus.BOOKED,
    LoanStatus.DISBURSING,
    LoanStatus.ACTIVE,
    LoanStatus.OVERDUE,
)


def still_open(now: datetime) -> ColumnElement[bool]:
    """Applications that may still become a loan: they count, and block a second one."""
    return or_(
        Application.status.in_((S.SUBMITTED, S.REVIEW)),
        and_(Application.status == S.APPROVED, Application.offer_expires_at > now),
        and_(Application.status == S.ACCEPTED, Application.loan_id.is_(None)),
    )


def exposure(session: Session, borrower_id: int, now: datetime | None = None) -> Decimal:
    """What the borrower owes or may soon owe here: what the caps count.

    Open applications (requested amount) and offers (offered amount), and
    the principal of his loans booked, disbursing, active or overdue.
    """
    now = now or utcnow()
    asked = session.scalar(
        select(
            func.coalesce(
                func.sum(
                    case(
                        (Application.status.in_((S.SUBMITTED, S.REVIEW)), Application.amount),
                        else_=Application.approved_amount,
                    )
                ),
                0,
            )
        ).where(Application.borrower_id == borrower_id, still_open(now))
    )
    owed = session.scalar(
        select(func.coalesce(func.sum(Loan.principal), 0)).where(
            Loan.borrower_id == borrower_id, Loan.status.in_(OUTSTANDING_LOANS)
        )
    )
    return money(asked or 0) + money(owed or 0)


def _cap_error(
    code: str, zh: str, en: str, total: Decimal, cap: Decimal, held: Decimal
) -> ValidationFailed:
    room = max(cap - held, ZERO)
    return ValidationFailed(
        f"加上本次申请，您的借款及申请合计 {total:,.2f} 元，超过{zh}（{cap:,.2f} 元），"
        f"尚可申请 {room:,.2f} 元 / with this application you would owe or have asked for "
        f"{total:,.2f} CNY, above {en} ({cap:,.2f} CNY); {room:,.2f} CNY left",
        code=code,
    )


def check_caps(
    session: Session,
    settings: Settings,
    borrower_id: int,
    amount: Decimal,
    annual_income: Decimal,
    now: datetime | None = None,
    *,
    held: Decimal | None = None,
) -> None:
    """Refuse ``amount`` if, with the borrower's exposure, it passes a cap (422).

    ``settings.caps``: ``per_borrower`` (``borrower_cap_exceeded``),
    ``per_household`` (``household_cap_exceeded``) and ``income_fraction``
    of the declared annual income (``income_cap_exceeded``). ``held`` is
    the borrower's :func:`exposure`, when the caller has it already.
    """
    caps = settings.caps
    if held is None:
        held = exposure(session, borrower_id, now)
    total = held + amount
    if total > caps.per_borrower:
        raise _cap_error(
            "borrower_cap_exceeded",
            "单户借款上限",
            "the per-borrower cap",
            total,
            caps.per_borrower,
            held,
        )
    # TODO(household): households are not modelled yet, so a household is the
    # borrower alone; sum the exposure of everyone in it once they are linked.
    if total > caps.per_household:
        raise _cap_error(
            "household_cap_exceeded",
            "每户借款上限",
            "the per-household cap",
            total,
            caps.per_household,
            held,
        )
    income_cap = money(annual_income * caps.income_fraction)
    if total > income_cap:
        share = f"{caps.income_fraction * 100:.2f}%"
        raise _cap_error(
            "income_cap_exceeded",
            f"年收入 {annual_income:,.2f} 元的 {share}",
            f"{share} of the declared annual income of {annual_income:,.2f} CNY",
            total,
            income_cap,
            held,
        )
