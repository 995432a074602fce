"""Money in the borrower's suspense account applied to the loan, in order.

Allocation order (``ALLOCATION_ORDER``, a product may reorder it): penalty →
overdue interest → overdue principal → current interest → current
principal. Whatever is left stays in ``borrower_suspense`` as the
borrower's credit, never lost. The journal lines are clearing's
(:func:`lendkit.clearing.postings.repayment`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit.clearing import funding, ledger, postings
from lendkit.clearing.colending import Funder, Repayment
from lendkit.clearing.money import ZERO, money
from lendkit.errors import ConflictError
from lendkit.lifecycle import accrual, overdue
from lendkit.lifecycle.loan_models import RUNNING, Instalment, Loan, LoanStatus
from lendkit.lifecycle.loans import locked, open_rows, post, receivable, record

__all__ = [
    "Allocation",
    "accrue",
    "allocate",
    "allocation_of",
    "applied_before",
    "post_repayment",
    "posted",
    "recognise_in_full",
]


@dataclass(frozen=True, slots=True)
class Allocation:
    """How one repayment was applied; ``credit`` stayed with the borrower."""

    repayment: Repayment
    credit: Decimal
    settled: bool


def recognise_in_full(
    session: Session,
    loan: Loan,
    funders: Sequence[Funder],
    row: Instalment,
    component: Literal["fee", "interest"],
    business_date: date,
    through: date | None,
) -> None:
    """Recognise the rest of a row's fee or interest now: it is being paid before
    end of day accrued all of it (end of day then finds nothing left). ``through``
    is the last day end of day has accrued the loan (:func:`accrual.covered_through`)."""
    full = getattr(row, component)
    accrued = row.fee_accrued if component == "fee" else accrual.recognised_interest(row, through)
    if full > accrued:
        accrue(
            session,
            loan,
            funders,
            "loan_fees" if component == "fee" else "loan_interest",
            full - accrued,
            f"loan:{loan.id}:{component}:{row.period}",
            business_date,
        )
        setattr(row, f"{component}_accrued", full)


def accrue(
    session: Session,
    loan: Loan,
    funders: Sequence[Funder],
    account: str,
    amount: Decimal,
    key: str,
    business_date: date,
) -> None:
    post(
        session,
        loan.id,
        business_date,
        key,
        f"{account} recognised on payment",
        postings.accrued(
            account, amount, funders, loan.id, rule="own" if account == "loan_fees" else "share"
        ),
    )


def allocate(
    session: Session,
    loan_id: int,
    amount: Decimal,
    *,
    channel: str,
    idempotency_key: str,
    business_date: date,
) -> Allocation:
    """Apply ``amount`` (already in ``borrower_suspense``) to the loan, in order.

    Paying an instalment before its due date pays its whole interest (the
    remainder is recognised now); the next end of day then finds nothing
    left to accrue on it.
    """
    loan, done = applied_before(session, loan_id, idempotency_key, amount)
    if done is not None:
        return done
    if loan.status not in RUNNING:
        raise ConflictError(
            f"贷款状态为 {loan.status}，不能还款 / loan {loan_id} is {loan.status}: "
            "nothing to repay",
            code="loan_not_repayable",
        )
    funders = funding.funders_of(session, loan.id)
    rows = open_rows(session, loan.id)
    through = accrual.covered_through(session, loan.id)
    left = money(amount)
    parts = {"penalty": ZERO, "interest": ZERO, "principal": ZERO, "fees": ZERO}

    def take(owed: Decimal) -> Decimal:
        nonlocal left
        paid = min(left, max(owed, ZERO))
        left -= paid
        return paid

    late = [r for r in rows if r.status in ("due", "overdue")]
    current = [r for r in rows if r.status == "pending"][:1]

    owed_penalty = receivable(session, loan.id, "loan_penalty")

    def penalty() -> None:
        parts["penalty"] += take(owed_penalty)

    def interest(group: list[Instalment]) -> None:
        """Fees and interest of each row, oldest first (recognised if not yet accrued)."""
        for row in group:
            fee = take(row.fee - row.paid_fee)
            if fee > row.fee_accrued - row.paid_fee:
                recognise_in_full(session, loan, funders, row, "fee", business_date, through)
            paid = take(row.interest - row.paid_interest)
            if paid > accrual.recognised_interest(row, through) - row.paid_interest:
                recognise_in_full(session, loan, funders, row, "interest", business_date, through)
            row.paid_fee += fee
            row.paid_interest += paid
            parts["fees"] += fee
            parts["interest"] += paid

    def principal(group: list[Instalment]) -> None:
        for row in group:
            paid = take(row.principal - row.paid_principal)
            row.paid_principal += paid
            parts["principal"] += paid

    steps: dict[str, Callable[[], None]] = {
        "penalty": penalty,
        "overdue_interest": lambda: interest(late),
        "overdue_principal": lambda: principal(late),
        "current_interest": lambda: interest(current),
        "current_principal": lambda: principal(current),
    }
    for step in loan.allocation_order.split(","):
        steps[step]()
    repayment = Repayment(
        principal=parts["principal"],
        interest=parts["interest"],
        penalty=parts["penalty"],
        fees=parts["fees"],
    )
    post_repayment(session, loan, repayment, channel, idempotency_key, business_date, funders)
    for row in rows:
        if (
            row.paid_principal == row.principal
            and row.paid_interest == row.interest
            and (row.paid_fee == row.fee)
        ):
            if row.status == "pending":
                # Paid ahead: the next period starts accruing.
                loan.next_period = row.period + 1
            row.status = "paid"
    penalty_left = owed_penalty - repayment.penalty
    settled = _refresh_standing(session, loan, rows, business_date, repayment, left, penalty_left)
    return Allocation(repayment, left, settled)


def applied_before(
    session: Session, loan_id: int, key: str, amount: Decimal
) -> tuple[Loan, Allocation | None]:
    """The loan, locked, and how ``key``'s money was applied if it was before (a retry)."""
    loan = locked(session, loan_id)
    done = posted(session, f"{key}:allocate")
    return loan, None if done is None else allocation_of(done, amount, loan)


def posted(session: Session, key: str) -> ledger.JournalEntry | None:
    """The entry posted under ``key``: a payment applied before (a retry)."""
    return session.scalar(
        select(ledger.JournalEntry).where(ledger.JournalEntry.idempotency_key == key)
    )


def allocation_of(entry: ledger.JournalEntry, amount: Decimal, loan: Loan) -> Allocation:
    parts = {"loan_principal": ZERO, "loan_interest": ZERO, "loan_penalty": ZERO, "loan_fees": ZERO}
    for line in entry.lines:
        if line.account.code in parts:
            parts[line.account.code] -= line.amount
    repayment = Repayment(
        principal=parts["loan_principal"],
        interest=parts["loan_interest"],
        penalty=parts["loan_penalty"],
        fees=parts["loan_fees"],
    )
    return Allocation(repayment, money(amount) - repayment.total, loan.status == LoanStatus.SETTLED)


def _refresh_standing(
    session: Session,
    loan: Loan,
    rows: Sequence[Instalment],
    business_date: date,
    repayment: Repayment,
    credit: Decimal,
    penalty_left: Decimal,
) -> bool:
    """After a repayment: cured, settled, or still overdue with a new DPD."""
    record(
        session,
        loan,
        "repaid",
        business_date,
        principal=str(repayment.principal),
        interest=str(repayment.interest),
        penalty=str(repayment.penalty),
        fees=str(repayment.fees),
        credit=str(credit),
    )
    unpaid = [r for r in rows if r.status != "paid"]
    if not unpaid and penalty_left == 0:
        loan.dpd, loan.bucket = 0, "M0"
        record(session, loan, "settled", business_date, to_status=LoanStatus.SETTLED)
        return True
    late = [r for r in unpaid if r.status == "overdue"]
    if loan.status == LoanStatus.OVERDUE and not late:
        loan.dpd, loan.bucket = 0, "M0"
        record(session, loan, "cured", business_date, to_status=LoanStatus.ACTIVE)
    elif late:
        loan.dpd = (business_date - min(r.due_date for r in late)).days
        loan.bucket = overdue.bucket_of(loan.dpd)
    return False


def post_repayment(
    session: Session,
    loan: Loan,
    repayment: Repayment,
    channel: str,
    idempotency_key: str,
    business_date: date,
    funders: Sequence[Funder] | None = None,
) -> None:
    """Post the repayment's two entries (:func:`lendkit.clearing.postings.repayment`),
    keyed ``<key>:allocate`` and ``<key>:settle``."""
    if not repayment.total:
        return
    allocated, settled = postings.repayment(session, loan.id, repayment, channel, funders)
    # One round trip on PostgreSQL for both entries, each with its own key.
    ledger.post_many(
        session,
        business_date=business_date,
        postings=[
            ledger.Posting(
                f"{idempotency_key}:allocate", f"loan:{loan.id}", allocated, "repayment allocated"
            ),
            ledger.Posting(
                f"{idempotency_key}:settle",
                f"loan:{loan.id}",
                settled,
                "repayment settled to the funders' pools",
            ),
        ],
    )
