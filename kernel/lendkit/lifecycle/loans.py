"""A loan's history and standing, shared by every step of its lifecycle.

The steps live in modules of their own, one job each:
:mod:`~lendkit.lifecycle.booking` (book, disburse, activate),
:mod:`~lendkit.lifecycle.repayment` (the one path of a repayment: the
order, then the money allocated when it arrives), with
:mod:`~lendkit.lifecycle.allocation` and :mod:`~lendkit.lifecycle.prepayment`
behind it, and :mod:`~lendkit.lifecycle.write_off` (write-off and
recoveries). Each works in the caller's transaction, is idempotent (a retry
with the same key returns the first result), writes the loan's history
(``loan_event``, :func:`record`) and publishes an event through the outbox.
Money moves only through clearing, and every journal line is built there
(:mod:`lendkit.clearing.postings`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lendkit import outbox
from lendkit.clearing import ledger
from lendkit.clearing.ledger import JournalLine, Line
from lendkit.clearing.money import money
from lendkit.clearing.payment_models import Payee
from lendkit.clearing.postings import RECEIVABLES
from lendkit.errors import ConflictError, NotFoundError
from lendkit.lifecycle.loan_models import Instalment, Loan, LoanEvent
from lendkit.models import Borrower

__all__ = [
    "OPEN_ROWS",
    "locked",
    "open_rows",
    "outstanding",
    "payee_of",
    "post",
    "receivable",
    "record",
]

OPEN_ROWS = ("pending", "due", "overdue")


def record(
    session: Session,
    loan: Loan,
    kind: str,
    business_date: date,
    *,
    to_status: str | None = None,
    **detail: Any,
) -> None:
    """Append to the loan's history, move its status, publish ``loan.<kind>``."""
    before = loan.status
    if to_status is not None:
        loan.status = to_status
    session.add(
        LoanEvent(
            loan_id=loan.id,
            business_date=business_date,
            kind=kind,
            from_status=before,
            to_status=loan.status,
            detail=detail,
        )
    )
    outbox.publish(
        session,
        f"loan.{kind}",
        {"loan_id": loan.id, "status": loan.status, "business_date": business_date.isoformat()}
        | detail,
    )


def locked(session: Session, loan_id: int) -> Loan:
    loan = session.get(Loan, loan_id, with_for_update=True, populate_existing=True)
    if loan is None:
        raise NotFoundError(f"no loan {loan_id}", code="unknown_loan")
    return loan


def post(
    session: Session, loan_id: int, business_date: date, key: str, memo: str, lines: list[Line]
) -> None:
    """Post one of the loan's entries (lines from :mod:`lendkit.clearing.postings`)."""
    ledger.post(
        session,
        business_date=business_date,
        idempotency_key=key,
        cause=f"loan:{loan_id}",
        memo=memo,
        lines=lines,
    )


def open_rows(session: Session, loan_id: int) -> Sequence[Instalment]:
    """The loan's instalments still open, in order, locked for the repayment."""
    return session.scalars(
        select(Instalment)
        .where(Instalment.loan_id == loan_id, Instalment.status.in_(OPEN_ROWS))
        .order_by(Instalment.period)
        .with_for_update()
    ).all()


def receivable(session: Session, loan_id: int, account: str) -> Decimal:
    """What the journal says the loan still owes on one receivable account."""
    total = session.scalar(
        select(func.coalesce(func.sum(JournalLine.amount), 0))
        .join(ledger.Account, ledger.Account.id == JournalLine.account_id)
        .where(JournalLine.loan_id == loan_id, ledger.Account.code == account)
    )
    return money(total or 0)


def outstanding(session: Session, loan_id: int) -> dict[str, Decimal]:
    """The loan's receivables as the journal has them, by component (one query)."""
    totals = dict.fromkeys(RECEIVABLES, money(0))
    for code, total in session.execute(
        select(ledger.Account.code, func.sum(JournalLine.amount))
        .join(ledger.Account, ledger.Account.id == JournalLine.account_id)
        .where(JournalLine.loan_id == loan_id, ledger.Account.code.in_(RECEIVABLES))
        .group_by(ledger.Account.code)
    ):
        totals[code] = money(total or 0)
    return totals


def payee_of(session: Session, borrower_id: int) -> Payee:
    """The borrower's verified name and card: where money goes to and comes from."""
    person = session.get_one(Borrower, borrower_id)
    if not person.name or not person.bank_card:
        raise ConflictError(
            "借款人尚未完成实名认证和绑卡 / the borrower has no verified name and bank card",
            code="borrower_not_verified",
        )
    return Payee(name=person.name, card_number=person.bank_card)
