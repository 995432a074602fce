"""The demo's loan book, grown by running the lifecycle over past business days.

Nothing is inserted by hand: for each simulated day loans are booked and
disbursed, borrowers pay (or do not), some prepay, collections write off
the hopeless, and end of day runs — the same kernel functions production
uses, so the journal, the loans' histories and their events are genuine.
Only the channel round trip of the loan book's payments is skipped: each
payment is posted as a confirmed order posts it (see
:mod:`lendkit.testing.factories`), on the tenant's one payment channel.

The behaviour of each borrower is drawn from a seeded random generator, so
every demo tenant has the same book: loans current, overdue in every bucket,
prepaid, settled and written off, funded by own funds and a partner bank.
Every loan is booked on a product the tenant offers, at its terms.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from lendkit import outbox
from lendkit.clearing import funding, ledger, payments
from lendkit.clearing.colending import Funder
from lendkit.clearing.ledger import Line
from lendkit.clearing.money import money
from lendkit.lifecycle import (
    allocation,
    application_input,
    applications,
    booking,
    consents,
    eod,
    loans,
    prepayment,
    write_off,
)
from lendkit.lifecycle import products as kernel_products
from lendkit.lifecycle.loan_models import RUNNING, Instalment, Loan
from lendkit.models import Borrower
from lendkit.testing.factories import add_capital, disbursed_loan
from lendkit.types import ProductSpec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lendkit_demo.channel import demo_channel
from lendkit_demo.statement import statement_with_mismatches

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = ["simulate"]

DAYS = 150  # simulated business days, ending yesterday
PARTNER = "bank"
# The products the book lends, and how often: (code, weight, principal range in 100 CNY).
MIX = (("consumer-12", 3, (20, 200)), ("business-bullet", 2, (100, 300)))


@dataclass(frozen=True, slots=True)
class Habit:
    """How a borrower pays: ``late`` days after each due date, or stops at ``stop``."""

    late: int = 0
    stop_after: int | None = None  # instalments paid before stopping
    prepay_after: int | None = None  # instalments paid before settling early


def _habit(rng: random.Random) -> Habit:
    roll = rng.random()
    if roll < 0.70:
        return Habit()
    if roll < 0.80:
        return Habit(late=rng.choice([2, 5, 12, 20]))
    if roll < 0.88:
        return Habit(prepay_after=rng.randrange(1, 3))
    return Habit(stop_after=rng.randrange(0, 3))


def _collect(
    session: Session, channel: str, loan_id: int, amount: Decimal, key: str, day: date
) -> None:
    """The borrower's money as a confirmed collection leaves it: in suspense."""
    ledger.post(
        session,
        business_date=day,
        idempotency_key=key,
        cause=f"payment:{key}",
        memo="demo collection",
        lines=[
            Line.debit(f"channel_in_transit:{channel}", amount, loan_id=loan_id),
            Line.credit("borrower_suspense", amount, loan_id=loan_id),
        ],
    )


def simulate(runtime: Runtime, echo: Callable[[str], object] = print, days: int = DAYS) -> None:
    """Grow the demo's loan book over ``days`` business days ending yesterday."""
    rng = random.Random(2026)  # noqa: S311 - demo data, not secrets
    channel = demo_channel(runtime)
    with runtime.read_sessions() as session:
        products = {
            code: kernel_products.find(session, runtime.pm, code).spec for code, _, _ in MIX
        }
    # The business date is China's: on a UTC machine after 16:00 the two differ.
    today = payments.business_today()
    start = today - timedelta(days=days)
    with runtime.sessions.begin() as session:
        funding.add_source(session, code=PARTNER, name="合作银行（演示）", actor="demo")
        add_capital(session, "own", Decimal("5000000"), start, "demo:capital:own")
        add_capital(session, PARTNER, Decimal("5000000"), start, "demo:capital:bank")
        # The verified people only: the sign-in borrowers go through the real steps instead.
        people = list(
            session.scalars(
                select(Borrower.id).where(Borrower.kyc_status == "verified").order_by(Borrower.id)
            )
        )
    habits: dict[int, Habit] = {}
    paid: dict[int, int] = {}
    queue = list(people)
    rng.shuffle(queue)
    applicants, queue = queue[:16], queue[16:]  # today's applications, not yet borrowers
    day = start
    while day < today:
        with runtime.sessions.begin() as session:
            if day < today - timedelta(days=20) and queue:
                for _ in range(rng.choice([1, 2, 2, 3])):
                    if not queue:
                        break
                    _new_loan(session, runtime, rng, products, queue.pop(), day, habits)
            _pay(session, channel, day, habits, paid)
            _write_off(session, day)
        eod.run(runtime, day)
        if day.weekday() == 6:  # as the worker would, if only weekly: plugins see the events
            outbox.drain(runtime.sessions, runtime.pm, runtime.settings.outbox)
        if (day - start).days % 30 == 29:
            echo(f"  demo loan book: simulated {(day - start).days + 1} of {days} days")
        day += timedelta(days=1)
    _applications(runtime, applicants)
    queued = statement_with_mismatches(runtime, today - timedelta(days=1))
    echo(f"  demo reconciliation: {queued} exceptions on yesterday's {channel} statement")
    with runtime.read_sessions() as session:
        counts: dict[str, int] = {}
        for status in session.scalars(select(Loan.status)):
            counts[status] = counts.get(status, 0) + 1
    echo("  demo loan book: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))


def _applications(runtime: Runtime, people: list[int]) -> None:
    """Today's applications, decided by the real pipeline (the bureau stand-in):
    approved, in review or rejected; every other approved offer accepted,
    which books its loan (awaiting its signature)."""
    amounts = ["8000.00", "20000.00", "50000.00", "90000.00"]
    for n, person in enumerate(people):
        with runtime.sessions.begin() as session:
            for text in consents.current_texts():
                consents.grant(
                    session, person, text.purpose, text.version, text.digest, "app", "demo"
                )
            submission = application_input.parse_submission(
                {
                    "product_code": "consumer-12",
                    "amount": amounts[n % len(amounts)],
                    "term": 12,
                    "method": "equal-installment",
                    "annual_income": "300000.00",
                    "idempotency_key": f"demo:application:{person}",
                }
            )
            result = applications.submit(
                session, runtime.pm, runtime.settings, person, submission, actor="demo"
            )
            app = result.application
            if app.status == "approved" and n % 2 == 0:
                applications.accept(session, person, app.id, actor=f"borrower:{person}")
                booking.book_offer(session, runtime, app)


def _new_loan(
    session: Session,
    runtime: Runtime,
    rng: random.Random,
    products: dict[str, ProductSpec],
    borrower_id: int,
    day: date,
    habits: dict[int, Habit],
) -> None:
    code, _, (low, high) = rng.choices(MIX, weights=[weight for _, weight, _ in MIX])[0]
    product = products[code]
    # The partner bank co-funds loans without an upfront fee (the kernel co-lends no fees yet).
    colent = not product.upfront_fee_rate and rng.random() < 0.6
    principal = Decimal(rng.randrange(low, high) * 100)
    loan = disbursed_loan(
        session,
        runtime,
        booking.Terms(
            borrower_id=borrower_id,
            product_code=product.code,
            principal=principal,
            term=rng.choice([t for t in product.terms_months if t <= 12]),
            method=rng.choice(product.repayment_methods),
            annual_rate=product.annual_rate,
            penalty_multiplier=product.penalty_multiplier,
            grace_days=product.grace_days,
            day_count=product.day_count,
            upfront_fee=money(principal * product.upfront_fee_rate),
            instalment_fee=product.instalment_fee,
            shift_holidays=product.shift_holidays,
            repayment_day=product.repayment_day,
            allocation_order=product.allocation_order,
        ),
        channel=demo_channel(runtime),
        key=f"demo:loan:{borrower_id}",
        day=day,
        funders=[Funder("own", Decimal("0.3")), Funder(PARTNER, Decimal("0.7"))]
        if colent
        else None,
    )
    habits[loan.id] = _habit(rng)


def _pay(
    session: Session, channel: str, day: date, habits: dict[int, Habit], paid: dict[int, int]
) -> None:
    """Each borrower with an instalment due by ``day`` pays it, late, early, or never."""
    oldest = session.execute(
        select(Instalment.loan_id, func.min(Instalment.period))
        .join(Loan, Loan.id == Instalment.loan_id)
        .where(
            Loan.status.in_(RUNNING),
            Instalment.status.in_(loans.OPEN_ROWS),
            Instalment.due_date <= day,
        )
        .group_by(Instalment.loan_id)
    ).all()
    for loan_id, period in oldest:
        habit, count = habits.get(loan_id, Habit()), paid.get(loan_id, 0)
        key = f"demo:pay:{loan_id}:{count}"
        if habit.prepay_after is not None and count >= habit.prepay_after:
            due = prepayment.payoff(session, loan_id)
            _collect(session, channel, loan_id, due.total, key, day)
            prepayment.prepay(
                session, loan_id, due.total, channel=channel, idempotency_key=key, business_date=day
            )
            continue
        row = session.get_one(Instalment, (loan_id, period))
        if habit.stop_after is not None and count >= habit.stop_after:
            continue
        if (day - row.due_date).days < habit.late:
            continue
        owed = (
            loans.receivable(session, loan_id, "loan_penalty")
            + row.principal
            + row.interest
            + row.fee
            - row.paid_principal
            - row.paid_interest
            - row.paid_fee
        )
        _collect(session, channel, loan_id, owed, key, day)
        allocation.allocate(
            session, loan_id, owed, channel=channel, idempotency_key=key, business_date=day
        )
        paid[loan_id] = count + 1


def _write_off(session: Session, day: date) -> None:
    """Collections give up on loans 100 days past due: requested, then approved."""
    for loan in session.scalars(select(Loan).where(Loan.status == "overdue", Loan.dpd >= 100)):
        write_off.request_write_off(
            session,
            loan.id,
            requested_by="staff:collections",
            reason="100 days past due",
            business_date=day,
        )
        write_off.approve_write_off(
            session, loan.id, approved_by="staff:risk_officer", business_date=day
        )
