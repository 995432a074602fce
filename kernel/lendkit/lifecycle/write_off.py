"""Writing a loan off (requested by one member of staff, approved by another)
and the money recovered after it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit.clearing import funding, postings
from lendkit.clearing.money import money
from lendkit.errors import ConflictError
from lendkit.lifecycle.loan_models import Loan, LoanEvent, LoanStatus
from lendkit.lifecycle.loans import locked, post, record

__all__ = ["approve_write_off", "recover", "request_write_off"]


def request_write_off(
    session: Session, loan_id: int, *, requested_by: str, reason: str, business_date: date
) -> None:
    """Ask for a write-off; another member of staff approves it (four eyes)."""
    loan = locked(session, loan_id)
    if loan.status != LoanStatus.OVERDUE:
        raise ConflictError(
            f"只有逾期贷款可以核销 / only an overdue loan can be written off, not a {loan.status} one",
            code="loan_not_write_off_able",
        )
    record(
        session,
        loan,
        "write_off_requested",
        business_date,
        requested_by=requested_by,
        reason=reason,
    )


def approve_write_off(
    session: Session, loan_id: int, *, approved_by: str, business_date: date
) -> Loan:
    """Write the loan off: each funder bears its own part of what is still owed.

    Own funds' receivables go to the ``write_off`` expense; a partner's
    principal comes off its capital and its income parts off what we owe it.
    """
    loan = locked(session, loan_id)
    if loan.status == LoanStatus.WRITTEN_OFF:
        return loan
    requested = session.scalars(
        select(LoanEvent)
        .where(LoanEvent.loan_id == loan_id, LoanEvent.kind == "write_off_requested")
        .order_by(LoanEvent.id.desc())
    ).first()
    if requested is None or loan.status != LoanStatus.OVERDUE:
        raise ConflictError(
            "没有待批准的核销申请 / there is no write-off request to approve",
            code="no_write_off_request",
        )
    if requested.detail.get("requested_by") == approved_by:
        raise ConflictError(
            "申请人不能批准自己的核销 / the requester cannot approve their own write-off",
            code="four_eyes_required",
        )
    lines = postings.write_off(session, loan.id)
    if lines:
        post(
            session,
            loan.id,
            business_date,
            f"loan:{loan.id}:write_off",
            f"written off, approved by {approved_by}",
            lines,
        )
    record(
        session,
        loan,
        "written_off",
        business_date,
        to_status=LoanStatus.WRITTEN_OFF,
        approved_by=approved_by,
        requested_by=requested.detail.get("requested_by"),
    )
    return loan


def recover(
    session: Session,
    loan_id: int,
    amount: Decimal,
    *,
    channel: str,
    idempotency_key: str,
    business_date: date,
) -> None:
    """Money collected after a write-off: each funder recovers by its share."""
    loan = locked(session, loan_id)
    if loan.status != LoanStatus.WRITTEN_OFF:
        raise ConflictError(f"loan {loan_id} is not written off", code="loan_not_written_off")
    total = money(amount)
    recovered, settled = postings.recovery(
        total, funding.funders_of(session, loan.id), channel, loan.id
    )
    post(
        session,
        loan.id,
        business_date,
        f"{idempotency_key}:recover",
        "recovered after write-off",
        recovered,
    )
    post(
        session,
        loan.id,
        business_date,
        f"{idempotency_key}:settle",
        "recovery settled to the funders' pools",
        settled,
    )
    record(session, loan, "recovered", business_date, amount=str(total))
