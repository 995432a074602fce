"""The one path of a repayment: the borrower's order, then the money applied.

:func:`repay` takes the loan, an amount or a prepayment (full, or part with
its reamortization option), the idempotency key and the channel, and
returns the withholding order (代扣). The order carries its purpose; when
the channel confirms the money arrived (``payment.collected``),
:func:`collected` applies it by that purpose — allocated in order, the loan
settled, or part of its principal paid early — and never looks for the
intent anywhere else. A collection on a written-off loan is a recovery.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit.clearing.payment_models import PaymentOrder, Purpose, Reamortize
from lendkit.clearing.payment_orders import business_today
from lendkit.clearing.payment_requests import request_collection
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed
from lendkit.lifecycle.allocation import Allocation, allocate
from lendkit.lifecycle.loan_models import RUNNING, Loan, LoanStatus
from lendkit.lifecycle.loans import payee_of, record
from lendkit.lifecycle.prepayment import payoff, prepay, prepay_part
from lendkit.lifecycle.write_off import recover

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = ["collected", "repay"]

# The codes with which a prepayment cannot go ahead as asked when its money
# arrives (the loan moved on since the order): the money is then allocated
# as an ordinary repayment, never refused.
_FALL_BACK = frozenset({"prepayment_short", "prepayment_amount_invalid", "settle_overdue_first"})


def repay(
    session: Session,
    runtime: Runtime,
    loan_id: int,
    *,
    channel: str,
    idempotency_key: str,
    amount: Decimal | None = None,
    purpose: Purpose = "repayment",
    reamortize: Reamortize | None = None,
) -> tuple[PaymentOrder, bool]:
    """Ask the borrower's card for a repayment; returns the order and whether it is new.

    ``purpose`` is ``repayment`` (``amount``, allocated in order),
    ``prepayment`` (the payoff of today; no amount) or ``part_prepayment``
    (``amount``: this instalment plus principal paid early, the rest of the
    schedule laid out again by ``reamortize``). At most what the loan owes
    today (``amount_above_outstanding``). A retry with the same key returns
    the first order.
    """
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise NotFoundError(f"no loan {loan_id}", code="unknown_loan")
    if loan.status not in RUNNING:
        raise ConflictError(
            f"贷款状态为 {loan.status}，无需还款 / the loan is {loan.status}: nothing to repay",
            code="loan_not_repayable",
        )
    due = payoff(session, loan.id)
    if purpose == "prepayment":
        amount = due.total
    elif amount is None:
        raise ValidationFailed("须提供还款金额 / an amount is required", code="amount_invalid")
    if amount > due.total:
        raise ValidationFailed(
            f"还款金额不能超过当前应还总额 {due.total} 元 / the amount cannot exceed the "
            f"{due.total} the loan owes today",
            code="amount_above_outstanding",
        )
    before = session.scalar(
        select(PaymentOrder.id).where(PaymentOrder.idempotency_key == idempotency_key)
    )
    order = request_collection(
        session,
        runtime,
        idempotency_key=idempotency_key,
        loan_id=loan.id,
        amount=amount,
        channel=channel,
        payee=payee_of(session, loan.borrower_id),
        purpose=purpose,
        reamortize=reamortize,
    )
    if before is None and purpose != "repayment":
        # For the loan's history (auditors, the borrower's record); nothing reads it back.
        record(
            session,
            loan,
            "prepayment_requested",
            business_today(),
            order_no=order.order_no,
            amount=str(amount),
            **({"reamortize": reamortize} if reamortize else {}),
        )
    return order, before is None


def collected(session: Session, order: PaymentOrder, business_date: date) -> None:
    """The money of ``order`` is in the borrower's suspense: apply it by its purpose, once.

    Keyed by the order, so a repeated event applies nothing twice. Money for
    a loan settled or written off meanwhile stays the borrower's credit
    (``payment_unallocated``); a written-off loan's is a recovery.
    """
    loan = session.get_one(Loan, order.loan_id)
    key = f"payment:{order.order_no}"
    written_off = loan.status == LoanStatus.WRITTEN_OFF
    try:
        if not written_off and _prepaid(session, order, key, business_date):
            return
        (recover if written_off else allocate)(
            session,
            loan.id,
            order.amount,
            channel=order.channel,
            idempotency_key=key,
            business_date=business_date,
        )
    except ConflictError as exc:
        if exc.code != "loan_not_repayable":
            raise
        record(
            session,
            loan,
            "payment_unallocated",
            business_date,
            order_no=order.order_no,
            amount=str(order.amount),
        )


def _prepaid(session: Session, order: PaymentOrder, key: str, business_date: date) -> bool:
    """Prepay as the order asked; False when it is an ordinary repayment, or when
    the loan moved on since the order (penalty grew, an instalment fell due):
    then the money is allocated in order instead."""
    step: Callable[..., Allocation]
    if order.purpose == "prepayment":
        step = prepay
    elif order.purpose == "part_prepayment":
        mode: Reamortize = "shorten" if order.reamortize == "shorten" else "reduce"
        step = partial(prepay_part, mode=mode)
    else:
        return False
    try:
        step(
            session,
            order.loan_id,
            order.amount,
            channel=order.channel,
            idempotency_key=key,
            business_date=business_date,
        )
    except (ValidationFailed, ConflictError) as exc:
        if exc.code not in _FALL_BACK:
            raise
        return False
    return True
