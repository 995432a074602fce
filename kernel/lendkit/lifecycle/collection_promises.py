"""Promises to pay (还款承诺): recorded on a case, judged the business day after their date.

A promise is kept when the borrower paid at least its amount from the day
it was made to its date (repayments, prepayment, recoveries), broken
otherwise; the ``collections-promises`` job judges them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit.clearing.money import ZERO, money, parse_amount
from lendkit.clearing.payments import business_today
from lendkit.db import utcnow
from lendkit.errors import ConflictError, ValidationFailed
from lendkit.lifecycle import loans
from lendkit.lifecycle.collection_cases import find_loan, open_case
from lendkit.lifecycle.collection_models import Promise, PromiseStatus
from lendkit.lifecycle.loan_models import Loan, LoanEvent

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = [
    "PROMISES",
    "PromiseRules",
    "evaluate_promises",
    "open_promises",
    "paid_between",
    "promise",
    "promise_job",
    "promise_view",
]

PAYING_KINDS = ("repaid", "prepaid", "recovered")


@dataclass(frozen=True, slots=True)
class PromiseRules:
    """A promise is for a date from today up to ``max_days`` ahead."""

    max_days: int = 30


PROMISES = PromiseRules()


def open_promises(session: Session, case_ids: list[int]) -> dict[int, Promise]:
    if not case_ids:
        return {}
    found = session.scalars(
        select(Promise).where(Promise.case_id.in_(case_ids), Promise.status == PromiseStatus.OPEN)
    ).all()
    return {p.case_id: p for p in found}


def _amount(value: object) -> Decimal:
    return parse_amount(value, label="承诺金额", code="promise_amount_invalid")


def _date(value: object) -> date:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            '承诺日期须为 "YYYY-MM-DD" / date must be "YYYY-MM-DD"', code="promise_date_invalid"
        ) from None


def promise(
    session: Session,
    loan_id: int,
    amount: object,
    promised_date: object,
    *,
    actor: str,
    business_date: date,
    rules: PromiseRules = PROMISES,
) -> Promise:
    """Record the borrower's promise to pay ``amount`` by ``promised_date``.

    The amount is more than zero and at most what the loan owes; the date
    from today to ``rules.max_days`` ahead; one open promise per case
    (``promise_open``: wait for it to be judged).
    """
    sum_ = _amount(amount)
    day = promised_date if isinstance(promised_date, date) else _date(promised_date)
    last = business_date + timedelta(days=rules.max_days)
    if not business_date <= day <= last:
        raise ValidationFailed(
            f"承诺日期须在 {business_date} 至 {last} 之间 / the promised date must be from "
            f"{business_date} to {last}",
            code="promise_date_invalid",
        )
    opened = open_case(session, loan_id, actor=actor, business_date=business_date)
    owed = sum(loans.outstanding(session, loan_id).values(), ZERO)
    if not ZERO < sum_ <= owed:
        raise ValidationFailed(
            f"承诺金额须大于零且不超过欠款 {owed} 元 / the amount must be more than zero and "
            f"at most the {owed} owed",
            code="promise_amount_invalid",
        )
    if open_promises(session, [opened.id]):
        raise ConflictError(
            "该案件已有未到期的还款承诺 / the case already has an open promise to pay",
            code="promise_open",
        )
    made = Promise(
        case_id=opened.id,
        loan_id=loan_id,
        amount=sum_,
        promised_date=day,
        made_on=business_date,
        made_by=actor,
        made_at=utcnow(),
        status=PromiseStatus.OPEN,
    )
    session.add(made)
    session.flush()
    loans.record(
        session,
        find_loan(session, loan_id),
        "promise_made",
        business_date,
        promise_id=made.id,
        amount=str(sum_),
        promised_date=day.isoformat(),
    )
    return made


def paid_between(session: Session, loan_id: int, first: date, last: date) -> Decimal:
    """What the borrower paid on the loan from ``first`` to ``last`` (business dates)."""
    total = ZERO
    for kind, detail in session.execute(
        select(LoanEvent.kind, LoanEvent.detail).where(
            LoanEvent.loan_id == loan_id,
            LoanEvent.kind.in_(PAYING_KINDS),
            LoanEvent.business_date >= first,
            LoanEvent.business_date <= last,
        )
    ):
        parts = ("amount",) if kind == "recovered" else PAYMENT_PARTS
        total += sum((Decimal(str(detail.get(p) or 0)) for p in parts), ZERO)
    return money(total)


PAYMENT_PARTS = ("principal", "interest", "penalty", "fees", "credit")


def evaluate_promises(session: Session, today: date, *, limit: int = 500) -> dict[str, int]:
    """Judge open promises whose date is before ``today``: kept or broken (once)."""
    due = session.scalars(
        select(Promise)
        .where(Promise.status == PromiseStatus.OPEN, Promise.promised_date < today)
        .order_by(Promise.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    counts = {"kept": 0, "broken": 0}
    for made in due:
        paid = paid_between(session, made.loan_id, made.made_on, made.promised_date)
        made.status = PromiseStatus.KEPT if paid >= made.amount else PromiseStatus.BROKEN
        made.paid = paid
        made.evaluated_on = today
        made.evaluated_at = utcnow()
        counts[made.status] += 1
        loans.record(
            session,
            session.get_one(Loan, made.loan_id),
            f"promise_{made.status}",
            today,
            promise_id=made.id,
            amount=str(made.amount),
            paid=str(paid),
            promised_date=made.promised_date.isoformat(),
        )
    session.flush()
    return counts


def promise_job(runtime: Runtime, now: datetime) -> dict[str, int]:
    """The worker's job: judge every promise whose date has passed, in batches."""
    totals = {"kept": 0, "broken": 0}
    while True:
        with runtime.sessions.begin() as session:
            counts = evaluate_promises(session, business_today(now))
        for key, value in counts.items():
            totals[key] += value
        if sum(counts.values()) == 0:
            return totals


def promise_view(made: Promise) -> dict[str, Any]:
    return {
        "id": made.id,
        "case_id": made.case_id,
        "amount": str(made.amount),
        "promised_date": made.promised_date.isoformat(),
        "made_on": made.made_on.isoformat(),
        "made_by": made.made_by,
        "status": made.status,
        "paid": None if made.paid is None else str(made.paid),
        "evaluated_on": made.evaluated_on.isoformat() if made.evaluated_on else None,
    }
