"""Built-in plugin: the loan lifecycle's side of the payment seam.

Clearing ends a disbursement with ``payment.disbursed`` and a repayment
with ``payment.collected`` (the money in the borrower's suspense account);
this plugin turns them into the loan's steps, in the outbox delivery's own
transaction, so each happens exactly once however often the event comes:
the loan is activated, or the money is applied to it by the order's
purpose (:func:`lendkit.lifecycle.repayment.collected`, keyed by the
order), or a failed payout makes the loan disbursable again.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

import lendkit
from lendkit.clearing.payment_orders import business_today, order_by_no
from lendkit.lifecycle import booking, repayment
from lendkit.lifecycle.loan_models import Loan
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
        booking.activate(session, loan_id, day)
    elif event.topic == "payment.failed" and payload.get("kind") == "disburse":
        booking.disbursement_failed(
            session, loan_id, day or business_today(), payload.get("code") or ""
        )
    elif event.topic == "payment.collected" and day is not None:
        repayment.collected(session, order_by_no(session, payload["order_no"]), day)
