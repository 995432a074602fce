"""Paying early: what settles the loan today, settling it, or paying part of
the principal and laying out the rest of the schedule again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit.clearing import funding
from lendkit.clearing.colending import Repayment
from lendkit.clearing.money import ZERO, money
from lendkit.clearing.payment_models import Reamortize
from lendkit.errors import ConflictError, ValidationFailed
from lendkit.lifecycle import accrual
from lendkit.lifecycle.allocation import (
    Allocation,
    accrue,
    allocate,
    allocation_of,
    applied_before,
    post_repayment,
    posted,
    recognise_in_full,
)
from lendkit.lifecycle.loan_models import RUNNING, Instalment, Loan, LoanStatus
from lendkit.lifecycle.loans import OPEN_ROWS, locked, open_rows, receivable, record
from lendkit.lifecycle.schedules import build_schedule

__all__ = ["payoff", "prepay", "prepay_part"]


def payoff(session: Session, loan_id: int, *, fee_rate: Decimal = ZERO) -> Repayment:
    """What settles the loan today: penalty, everything due, the current period's
    interest accrued so far (not the rest of it), all principal, and the
    prepayment fee (``fee_rate`` × outstanding principal)."""
    rows = session.scalars(
        select(Instalment).where(Instalment.loan_id == loan_id, Instalment.status.in_(OPEN_ROWS))
    ).all()
    late = [r for r in rows if r.status != "pending"]
    principal = sum((r.principal - r.paid_principal for r in rows), ZERO)
    through = accrual.covered_through(session, loan_id)
    current = (r for r in rows if r.status == "pending")
    return Repayment(
        principal=principal,
        interest=sum((r.interest - r.paid_interest for r in late), ZERO)
        + sum((accrual.recognised_interest(r, through) - r.paid_interest for r in current), ZERO),
        penalty=receivable(session, loan_id, "loan_penalty"),
        fees=sum((r.fee - r.paid_fee for r in late), ZERO) + money(principal * fee_rate),
    )


def prepay(
    session: Session,
    loan_id: int,
    amount: Decimal,
    *,
    channel: str,
    idempotency_key: str,
    business_date: date,
    fee_rate: Decimal = ZERO,
) -> Allocation:
    """Settle the loan early from ``amount`` (already in suspense); what is left
    over stays the borrower's credit. Less than the payoff is refused
    (``prepayment_short``): allocate it as an ordinary repayment instead."""
    loan, done = applied_before(session, loan_id, idempotency_key, amount)
    if done is not None:
        return done
    if loan.status not in RUNNING:
        raise ConflictError(
            f"贷款状态为 {loan.status}，不能提前还款 / loan {loan_id} is {loan.status}: "
            "it cannot be prepaid",
            code="loan_not_repayable",
        )
    due = payoff(session, loan_id, fee_rate=fee_rate)
    if money(amount) < due.total:
        raise ValidationFailed(
            f"提前结清需 {due.total} 元，只收到 {money(amount)} 元 / "
            f"settling the loan takes {due.total}, not {money(amount)}",
            code="prepayment_short",
        )
    funders = funding.funders_of(session, loan.id)
    rows = open_rows(session, loan.id)
    through = accrual.covered_through(session, loan.id)
    fee = money(sum((r.principal - r.paid_principal for r in rows), ZERO) * fee_rate)
    if fee:
        accrue(session, loan, funders, "loan_fees", fee, f"{idempotency_key}:fee", business_date)
    for row in rows:
        # Fees and interest due, the current period's interest to date; all principal.
        if row.status != "pending":
            recognise_in_full(session, loan, funders, row, "fee", business_date, through)
            row.paid_fee = row.fee
            row.paid_interest = row.interest
        else:
            row.paid_interest = accrual.recognised_interest(row, through)
        row.paid_principal = row.principal
        row.status = "paid" if row.status != "pending" else "prepaid"
    post_repayment(session, loan, due, channel, idempotency_key, business_date, funders)
    credit = money(amount) - due.total
    loan.dpd, loan.bucket = 0, "M0"
    record(
        session,
        loan,
        "prepaid",
        business_date,
        to_status=LoanStatus.SETTLED,
        principal=str(due.principal),
        interest=str(due.interest),
        penalty=str(due.penalty),
        fees=str(due.fees),
        credit=str(credit),
    )
    return Allocation(due, credit, True)


def prepay_part(
    session: Session,
    loan_id: int,
    amount: Decimal,
    *,
    mode: Reamortize,
    channel: str,
    idempotency_key: str,
    business_date: date,
) -> Allocation:
    """Pay ``amount`` of principal early and lay out the rest of the schedule again.

    The current instalment is paid as scheduled (its interest in full, as for
    any instalment paid before its due date) and ``amount`` beyond it goes to
    principal; the instalments after it are rebuilt on the lower balance
    with the loan's method and rate, on the same due dates: ``reduce`` keeps
    their number and lowers the payment, ``shorten`` keeps the payment and
    drops the last ones (``cancelled``). The old schedule is kept in the
    loan's history (``reamortized``). Nothing overdue may be left
    (``settle_overdue_first``); paying everything is :func:`prepay`.
    """
    loan = locked(session, loan_id)
    done = posted(session, f"{idempotency_key}:allocate")
    if done is not None:  # a retry: the instalment's entry and the extra principal's
        first = posted(session, f"{idempotency_key}:instalment:allocate")
        assert first is not None  # posted in the same transaction as ``done``
        one, two = allocation_of(first, ZERO, loan), allocation_of(done, ZERO, loan)
        return Allocation(
            Repayment(
                principal=one.repayment.principal + two.repayment.principal,
                interest=one.repayment.interest,
                penalty=one.repayment.penalty,
                fees=one.repayment.fees,
            ),
            ZERO,
            False,
        )
    rows = open_rows(session, loan.id)
    if loan.status != LoanStatus.ACTIVE or any(r.status != "pending" for r in rows):
        raise ConflictError(
            "请先还清逾期和到期款项 / pay what is due or overdue first",
            code="settle_overdue_first",
        )
    current, later = rows[0], list(rows[1:])
    owed_now = current.principal + current.interest + current.fee
    extra = money(amount) - owed_now
    balance_after = sum((r.principal for r in later), ZERO)
    if extra <= 0 or extra >= balance_after:
        raise ValidationFailed(
            f"部分提前还款须多于本期应还 {owed_now} 元且少于结清金额 / a part prepayment must be "
            f"more than this instalment's {owed_now} and less than settling the loan",
            code="prepayment_amount_invalid",
        )
    paid = allocate(
        session,
        loan_id,
        owed_now,
        channel=channel,
        idempotency_key=f"{idempotency_key}:instalment",
        business_date=business_date,
    )
    if paid.credit:
        raise ConflictError("the instalment did not take its amount", code="prepayment_failed")
    remaining = balance_after - extra
    old = [(r.period, str(r.principal), str(r.interest)) for r in later]
    count = len(later) if mode == "reduce" else _shortened(loan, later, remaining)
    fresh = build_schedule(
        remaining,
        count,
        loan.annual_rate,
        loan.method if loan.method != "bullet" else "interest-first",
        start=current.due_date,
        instalment_fee=loan.instalment_fee,
    ).rows
    for row, new in zip(later, [*fresh, *([None] * (len(later) - count))], strict=True):
        if new is None:
            row.principal = row.interest = row.fee = ZERO
            row.status = "cancelled"
        else:
            row.principal, row.interest, row.fee = new.principal, new.interest, new.fee
    later[0].principal += extra  # taken now, booked against the next instalment's row
    later[0].paid_principal += extra
    repayment = Repayment(principal=extra)
    post_repayment(session, loan, repayment, channel, idempotency_key, business_date)
    record(
        session,
        loan,
        "reamortized",
        business_date,
        mode=mode,
        principal=str(extra),
        periods=count,
        old_schedule=old,
    )
    session.flush()
    return Allocation(
        Repayment(
            principal=paid.repayment.principal + extra,
            interest=paid.repayment.interest,
            penalty=paid.repayment.penalty,
            fees=paid.repayment.fees,
        ),
        ZERO,
        False,
    )


def _shortened(loan: Loan, later: Sequence[Instalment], remaining: Decimal) -> int:
    """How many instalments of at most the old payment repay ``remaining``."""
    old_payment = later[0].principal + later[0].interest
    for count in range(1, len(later) + 1):
        rows = build_schedule(
            remaining, count, loan.annual_rate, loan.method, start=later[0].start_date
        ).rows
        if max(r.principal + r.interest for r in rows) <= old_payment:
            return count
    return len(later)
