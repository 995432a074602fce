"""Built-in plugin: the loan lifecycle's side of the payment seam.

Clearing ends a disbursement with ``payment.disbursed`` and a repayment
with ``payment.collected`` (the money in the borrower's suspense account);
this plugin turns them into the loan's steps, in the outbox delivery's own
transaction, so each happens exactly once however often the event comes:
the loan is activated, or the money is allocated to it (keyed by the
payment order; a written-off loan's is a recovery), or a failed payout
makes the loan disbursable again.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

import lendkit
from lendkit.clearing.payments import business_today
from lendkit.errors import ConflictError, ValidationFailed
from lendkit.lifecycle import loans
from lendkit.lifecycle.models import Loan, LoanEvent, LoanStatus
from lendkit.types import Event

__all__: list[str] = []

# Deliveries of these topics only (see lendkit.outbox): not payment.reconciled.
EVENT_TOPICS = ("payment.disbursed", "payment.collected", "payment.failed")


@lendkit.hookimpl
def on_payment_event(event: Event, session: Session) -> None:
    payload = event.payload
    loan_id = payload.get("loan_id")
    if loan_id is None or session.get(Loan, loan_id) is None:
        return  # a payment outside the lifecycle (e.g. a partner settlement)
    day = date.fromisoformat(payload["result_date"]) if payload.get("result_date") else None
    if event.topic == "payment.disbursed" and day is not None:
        loans.activate(session, loan_id, day)
    elif event.topic == "payment.failed" and payload.get("kind") == "disburse":
        loans.disbursement_failed(
            session, loan_id, day or business_today(), payload.get("code") or ""
        )
    elif event.topic == "payment.collected" and day is not None:
        loan = session.get_one(Loan, loan_id)
        if loan.status == LoanStatus.WRITTEN_OFF:
            loans.recover(
                session,
                loan_id,
                Decimal(payload["amount"]),
                channel=payload["channel"],
                idempotency_key=f"payment:{payload['order_no']}",
                business_date=day,
            )
            return
        amount, key = Decimal(payload["amount"]), f"payment:{payload['order_no']}"
        try:
            if _prepayment(session, loan_id, payload["order_no"]):
                try:
                    loans.prepay(
                        session,
                        loan_id,
                        amount,
                        channel=payload["channel"],
                        idempotency_key=key,
                        business_date=day,
                    )
                    return
                except ValidationFailed as exc:
                    if exc.code != "prepayment_short":
                        raise
                    # Penalty grew since the quote: pay what it covers, in order.
            loans.allocate(
                session,
                loan_id,
                amount,
                channel=payload["channel"],
                idempotency_key=key,
                business_date=day,
            )
        except ConflictError as exc:
            if exc.code != "loan_not_repayable":
                raise
            # Settled or written off meanwhile: the money stays the borrower's credit.
            loans.record(
                session,
                loan,
                "payment_unallocated",
                day,
                order_no=payload["order_no"],
                amount=payload["amount"],
            )


def _prepayment(session: Session, loan_id: int, order_no: str) -> bool:
    """Whether the borrower asked for this collection to settle the loan."""
    asked = session.scalars(
        select(LoanEvent.detail).where(
            LoanEvent.loan_id == loan_id, LoanEvent.kind == "prepayment_requested"
        )
    )
    return any(detail.get("order_no") == order_no for detail in asked)
