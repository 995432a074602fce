"""Loans for tests, benchmarks and the demo: booked and disbursed without a gateway.

The disbursement is posted exactly as a confirmed payment order of
``channel`` would post it (reserve, then confirm), so the books are those
of a real loan; only the payment order and the gateway round trip are
skipped. The caller names the channel: the kernel knows none. Not part of
the runtime: nothing in the kernel's own code paths books a loan this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from lendkit.clearing import colending, ledger, postings
from lendkit.clearing.colending import Funder
from lendkit.clearing.ledger import Line
from lendkit.lifecycle import booking
from lendkit.lifecycle.loan_models import Loan
from lendkit.models import Borrower

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = ["add_capital", "borrower", "disbursed_loan"]


def borrower(session: Session, n: int) -> int:
    person = Borrower(phone=f"139{n:08d}", kyc_status="verified")
    session.add(person)
    session.flush()
    return person.id


def add_capital(session: Session, source: str, amount: Decimal, day: date, key: str) -> None:
    ledger.post(
        session,
        business_date=day,
        idempotency_key=key,
        cause="capital",
        lines=[
            Line.debit(f"fund_pool:{source}", amount, source=source),
            Line.credit(f"funding_capital:{source}", amount, source=source),
        ],
    )


def disbursed_loan(
    session: Session,
    runtime: Runtime,
    terms: booking.Terms,
    *,
    channel: str,
    key: str,
    day: date,
    funders: Sequence[Funder] | None = None,
) -> Loan:
    """Book ``terms`` and disburse them through ``channel`` on ``day`` (funds in the pools)."""
    loan = booking.book(
        session, runtime, terms, idempotency_key=key, business_date=day, funders=funders
    )
    shares = list(funders or [Funder(colending.OWN, Decimal(1))])
    amount = loan.principal - loan.upfront_fee
    for step, lines in (
        ("reserve", postings.disbursement_instructed(amount, shares, channel, loan.id)),
        ("confirm", postings.disbursement_confirmed(amount, shares, channel, loan.id)),
    ):
        ledger.post(
            session,
            business_date=day,
            idempotency_key=f"test-disbursement:{loan.id}:{step}",
            cause=f"loan:{loan.id}",
            lines=lines,
        )
    return booking.activate(session, loan.id, day)
