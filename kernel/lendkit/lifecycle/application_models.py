"""Tables of credit applications: the application, its credit decisions, its history.

An ``application`` is what a borrower asked for (product, amount, term,
method, declared income) and, once approved, the offer he may accept until
it expires: the priced terms are copied onto the row, so the offer he sees
is the offer he accepts even if the product changes meanwhile.

A ``credit_decision`` is the automatic assessment of one application, kept
whole so that it can be explained later: the inputs (the applicant as the
hooks saw him, the bureau report, the consent that allowed the query, the
policy), every plugin's answer or error, and the reasons of the outcome.
``application_event`` is the application's history, one row per status
change, with who decided and why. Both are append-only: the database
refuses updates and deletes (migration ``k0010``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lendkit.db import Base, BigId, Json, UTCDateTime, utcnow

__all__ = ["Application", "ApplicationEvent", "ApplicationStatus", "CreditDecision"]

AMOUNT = Numeric(18, 2)
RATE = Numeric(9, 6)


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"  # only inside the submitting transaction, before the decision
    REVIEW = "review"  # waiting for a member of staff
    APPROVED = "approved"  # an offer is open until offer_expires_at
    REJECTED = "rejected"
    ACCEPTED = "accepted"  # the borrower took the offer; a loan follows (loan_id)
    EXPIRED = "expired"  # the offer lapsed unaccepted


class Application(Base):
    __tablename__ = "application"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrower.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    product_code: Mapped[str] = mapped_column(String(32))
    # The product version applied for (None: a product a plugin registers); priced from it.
    product_version: Mapped[int | None] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(AMOUNT)  # requested
    term: Mapped[int] = mapped_column(SmallInteger)
    method: Mapped[str] = mapped_column(String(24))
    annual_income: Mapped[Decimal] = mapped_column(AMOUNT)  # declared by the borrower
    status: Mapped[str] = mapped_column(String(16), default=ApplicationStatus.SUBMITTED)
    # The automatic decision's limit (the least of the proposals), if any.
    credit_limit: Mapped[Decimal | None] = mapped_column(AMOUNT)
    # The offer, once approved: terms copied from the product and priced.
    approved_amount: Mapped[Decimal | None] = mapped_column(AMOUNT)
    annual_rate: Mapped[Decimal | None] = mapped_column(RATE)
    upfront_fee: Mapped[Decimal | None] = mapped_column(AMOUNT)
    instalment_fee: Mapped[Decimal | None] = mapped_column(AMOUNT)  # after adjust_offer
    apr_irr: Mapped[Decimal | None] = mapped_column(RATE)
    apr_simple: Mapped[Decimal | None] = mapped_column(RATE)
    offer: Mapped[dict[str, Any] | None] = mapped_column(Json)  # the quote as shown
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the accepted offer is booked as a loan; from then on the loan counts.
    loan_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("loan.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_application_idempotency", "borrower_id", "idempotency_key", unique=True),
        Index("ix_application_borrower_status", "borrower_id", "status"),
        Index("ix_application_status", "status", "id"),
    )


class CreditDecision(Base):
    """One automatic assessment: inputs, every plugin's answer, outcome and reasons."""

    __tablename__ = "credit_decision"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("application.id"))
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrower.id"))
    outcome: Mapped[str] = mapped_column(String(16))  # approve | review | reject
    credit_limit: Mapped[Decimal | None] = mapped_column(AMOUNT)
    # [{"code", "outcome", "source"}]: each rule or plugin that moved the outcome.
    reasons: Mapped[list[dict[str, str]]] = mapped_column(Json, default=list)
    # {"applicant", "report", "consent_id", "policy"}: what the decision saw.
    inputs: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # [{"hook", "plugin", "result", "error"}]: every plugin asked, in order.
    trace: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    sandbox: Mapped[bool] = mapped_column(default=False)  # a sandbox plugin answered
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_credit_decision_application", "application_id", "id"),)


class ApplicationEvent(Base):
    """The application's history: one row per status change, never updated."""

    __tablename__ = "application_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("application.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))  # borrower:12, staff:alice, system
    reasons: Mapped[list[str]] = mapped_column(Json, default=list)
    note: Mapped[str | None] = mapped_column(Text)  # a reviewer's words (masked)
    detail: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_application_event_application", "application_id", "id"),)
