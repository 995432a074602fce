"""The loan lifecycle's tables: loans, their instalments and their history.

A loan keeps a copy of every term it was booked with (rate, method, penalty
rate, grace days, day count): a product may change, a signed loan never
does. Money owed is the ledger's to say (journal lines carry ``loan_id``);
the instalment rows hold the schedule and what has been paid against each
row, which allocation and end of day need to work without summing the
journal. ``loan_event`` is the loan's append-only history.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from lendkit.clearing.money import ZERO
from lendkit.db import Base, BigId, Json, UTCDateTime, utcnow

__all__ = ["EodChunk", "EodRun", "Instalment", "Loan", "LoanEvent", "LoanStatus"]

AMOUNT = Numeric(18, 2)
RATE = Numeric(9, 6)


class LoanStatus(StrEnum):
    BOOKED = "booked"  # signed, waiting for its disbursement
    DISBURSING = "disbursing"  # payment order sent, money not yet with the borrower
    ACTIVE = "active"
    OVERDUE = "overdue"
    SETTLED = "settled"
    WRITTEN_OFF = "written_off"
    CANCELLED = "cancelled"  # the disbursement failed; nothing is owed


RUNNING = (LoanStatus.ACTIVE, LoanStatus.OVERDUE)


class Loan(Base):
    __tablename__ = "loan"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrower.id"))
    product_code: Mapped[str] = mapped_column(String(32))
    # The product version it was booked on (None: a plugin's product, or booked directly).
    product_version: Mapped[int | None] = mapped_column()
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    principal: Mapped[Decimal] = mapped_column(AMOUNT)
    term: Mapped[int] = mapped_column(SmallInteger)
    method: Mapped[str] = mapped_column(String(24))
    annual_rate: Mapped[Decimal] = mapped_column(RATE)
    # Annual penalty rate on overdue principal: rate × multiplier, clipped at the cap.
    penalty_rate: Mapped[Decimal] = mapped_column(RATE)
    day_count: Mapped[int] = mapped_column(SmallInteger, default=360)
    grace_days: Mapped[int] = mapped_column(SmallInteger, default=0)
    upfront_fee: Mapped[Decimal] = mapped_column(AMOUNT, default=ZERO)
    instalment_fee: Mapped[Decimal] = mapped_column(AMOUNT, default=ZERO)
    shift_holidays: Mapped[bool] = mapped_column(default=False)  # due dates on working days
    repayment_day: Mapped[int | None] = mapped_column(SmallInteger)  # fixed day: odd 1st period
    # What a repayment pays first, comma-separated (loans.ALLOCATION_ORDER by default).
    allocation_order: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default=LoanStatus.BOOKED)
    disbursed_on: Mapped[date | None] = mapped_column(Date)
    # The period accruing interest now; term + 1 once the last one fell due.
    next_period: Mapped[int] = mapped_column(SmallInteger, default=1)
    dpd: Mapped[int] = mapped_column(default=0)  # days past due of the oldest unpaid instalment
    bucket: Mapped[str] = mapped_column(String(4), default="M0")
    classification: Mapped[str] = mapped_column(String(16), default="normal")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_loan_status", "status", "id"),
        Index("ix_loan_borrower", "borrower_id"),
        # Room on each page so that end of day's updates stay on it (HOT updates).
        {"postgresql_with": {"fillfactor": 80}},
    )


class Instalment(Base):
    """One row of a loan's schedule and what has been paid or accrued against it."""

    __tablename__ = "loan_instalment"

    loan_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loan.id"), primary_key=True, autoincrement=False
    )
    period: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    start_date: Mapped[date] = mapped_column(Date)  # interest runs from here …
    due_date: Mapped[date] = mapped_column(Date)  # … to here
    principal: Mapped[Decimal] = mapped_column(AMOUNT)
    interest: Mapped[Decimal] = mapped_column(AMOUNT)
    fee: Mapped[Decimal] = mapped_column(AMOUNT)
    interest_accrued: Mapped[Decimal] = mapped_column(AMOUNT, default=ZERO)
    fee_accrued: Mapped[Decimal] = mapped_column(AMOUNT, default=ZERO)
    paid_principal: Mapped[Decimal] = mapped_column(AMOUNT, default=ZERO)
    paid_interest: Mapped[Decimal] = mapped_column(AMOUNT, default=ZERO)
    paid_fee: Mapped[Decimal] = mapped_column(AMOUNT, default=ZERO)
    status: Mapped[str] = mapped_column(
        String(12), default="pending"
    )  # pending|due|overdue|paid|prepaid

    __table_args__ = ({"postgresql_with": {"fillfactor": 80}},)

    @property
    def unpaid_principal(self) -> Decimal:
        return self.principal - self.paid_principal


class LoanEvent(Base):
    """The loan's history: one row per transition, never updated."""

    __tablename__ = "loan_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    loan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loan.id"), index=True)
    business_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EodRun(Base):
    """One business date's end of day; ``finished_at`` is set when every chunk is done."""

    __tablename__ = "eod_run"

    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    chunks: Mapped[int] = mapped_column()
    loans: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EodChunk(Base):
    """A range of loan ids one worker processes in one transaction."""

    __tablename__ = "eod_chunk"

    business_date: Mapped[date] = mapped_column(
        Date, ForeignKey("eod_run.business_date"), primary_key=True
    )
    chunk: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    first_loan_id: Mapped[int] = mapped_column(BigInteger)
    last_loan_id: Mapped[int] = mapped_column(BigInteger)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    counts: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)

    __table_args__ = (Index("ix_eod_chunk_todo", "business_date", "done_at"),)
