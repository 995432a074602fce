"""Accrued interest derived from dates, not stored day by day.

A period's interest accrues evenly over the days of the period (the
instalment's ``start_date`` to its ``due_date``): by the end of day ``D`` it
has accrued ``interest × elapsed ÷ days`` (elapsed = ``D − start_date``,
at most ``days``), rounded half-up to the fen, so on the due date exactly the
scheduled interest has accrued. That is a function of the dates, so end of
day does not write it to the instalment row every day: it posts the day's
increase to the journal, and every reader (repayment, payoff quote,
prepayment) asks :func:`recognised_interest` instead.

The stored ``interest_accrued`` is written only when the row's state changes:
it is the whole interest once the row falls due, or once a repayment
recognises the rest of the period early (paying ahead), and it is the running
total of a 随借随还 (``draw-repay``) row, whose interest depends on the
principal out each day, not on dates alone. What the journal holds for a
row is the larger of that stored floor and the figure of the dates.

"By the end of day ``D``" means: end of day for ``D`` has run for the loan.
:func:`covered_through` tells which day that is for a loan, chunk by chunk,
so a repayment taken while end of day runs sees exactly what was posted.

Day counts: a period's interest uses the actual days of the period (above);
daily amounts on a balance — 随借随还 interest and penalty interest — use the
annual rate ÷ the loan's day count (360 or 365).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from lendkit.clearing.money import FEN, money
from lendkit.lifecycle.loan_models import EodChunk, EodRun

__all__ = [
    "accrued_interest",
    "covered_through",
    "daily_amount",
    "previous_day",
    "recognised_interest",
]


class Row(Protocol):
    """The part of an instalment the accrual reads."""

    start_date: date
    due_date: date
    interest: Decimal
    interest_accrued: Decimal
    status: str


def accrued_interest(interest: Decimal, start: date, due: date, through: date | None) -> Decimal:
    """The period's ``interest`` accrued by the end of day ``through`` (None: no day yet)."""
    if through is None or through <= start:
        return money(0)
    days = (due - start).days
    elapsed = (through - start).days
    if elapsed >= days:
        return money(interest)
    # Integer fen, half-up: exactly money(interest × elapsed ÷ days), without a
    # 28-digit intermediate.
    fen = int(interest / FEN)
    return Decimal((2 * fen * elapsed + days) // (2 * days)) * FEN


def recognised_interest(row: Row, through: date | None) -> Decimal:
    """What of the row's interest the journal has recognised by the end of ``through``.

    A row that fell due has all of it; a pending row the dates' figure, or
    the stored floor when a repayment recognised more (or for 随借随还, whose
    stored figure is its running total, never below the dates' figure of it).
    """
    if row.status != "pending":
        return money(row.interest)
    dates = accrued_interest(row.interest, row.start_date, row.due_date, through)
    return max(row.interest_accrued, dates)


def daily_amount(balance: Decimal, annual_rate: Decimal, day_count: int) -> Decimal:
    """One day's interest on ``balance``: annual rate ÷ day count (360 or 365), half-up."""
    return money(balance * annual_rate / day_count)


def previous_day(session: Session, day: date) -> date | None:
    """The day before ``day`` if end of day ran for it (days run in order), else None."""
    before = day - timedelta(days=1)
    return before if session.get(EodRun, before) is not None else None


def covered_through(session: Session, loan_id: int) -> date | None:
    """The last business date whose end of day has been done for the loan.

    The latest day if its run finished or the loan's chunk of it is done;
    otherwise the day before it (None before the first run). Call it with the
    loan locked: a chunk holds its loans' locks until it commits.
    """
    latest = session.execute(
        select(EodRun.business_date, EodRun.finished_at, EodChunk.done_at)
        .outerjoin(
            EodChunk,
            and_(
                EodChunk.business_date == EodRun.business_date,
                EodChunk.first_loan_id <= loan_id,
                EodChunk.last_loan_id >= loan_id,
            ),
        )
        .order_by(EodRun.business_date.desc())
        .limit(1)
    ).first()
    if latest is None:
        return None
    day, finished, chunk_done = latest
    if finished is not None or chunk_done is not None:
        return day
    return previous_day(session, day)
