"""Reconciliation's tables: statements and their lines, runs, exceptions, resolutions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lendkit.db import Base, BigId, Json, UTCDateTime, utcnow

__all__ = [
    "ACTIONS",
    "AMOUNT",
    "KINDS",
    "Action",
    "ChannelStatement",
    "ChannelStatementLine",
    "Kind",
    "ReconException",
    "ReconResolution",
    "ReconRun",
]

AMOUNT = Numeric(18, 2)

Kind = Literal["missing_ours", "missing_theirs", "amount_mismatch", "status_mismatch"]
KINDS: tuple[Kind, ...] = ("missing_ours", "missing_theirs", "amount_mismatch", "status_mismatch")
Action = Literal["accept", "book_suspense", "reverse_order", "follow_statement"]
ACTIONS: dict[str, frozenset[str]] = {
    # "accept": no money moves (a timing difference, a refused payment); a note says why.
    "missing_ours": frozenset({"accept", "book_suspense"}),
    "missing_theirs": frozenset({"accept", "reverse_order"}),
    "amount_mismatch": frozenset({"accept", "book_suspense"}),
    "status_mismatch": frozenset({"accept", "follow_statement"}),
}


class ChannelStatement(Base):
    """One imported statement file; a re-sent, different file is a new row."""

    __tablename__ = "channel_statement"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    business_date: Mapped[date] = mapped_column(Date)
    digest: Mapped[str] = mapped_column(String(64))  # SM3 of the lines, canonical form
    line_count: Mapped[int] = mapped_column(Integer)
    total_amount: Mapped[Decimal] = mapped_column(AMOUNT)  # succeeded lines
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("channel", "business_date", "digest", name="uq_channel_statement_file"),
    )


class ChannelStatementLine(Base):
    __tablename__ = "channel_statement_line"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("channel_statement.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    order_no: Mapped[str] = mapped_column(String(64))
    channel_ref: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    fee: Mapped[Decimal] = mapped_column(AMOUNT)
    status: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    settled_on: Mapped[date] = mapped_column(Date)

    __table_args__ = (Index("ix_channel_statement_line_order", "statement_id", "order_no"),)


class ReconRun(Base):
    """One reconciliation of one statement: what it found, counted."""

    __tablename__ = "recon_run"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    business_date: Mapped[date] = mapped_column(Date)
    statement_id: Mapped[int] = mapped_column(ForeignKey("channel_statement.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lines: Mapped[int] = mapped_column(Integer)
    matched: Mapped[int] = mapped_column(Integer)
    missing_ours: Mapped[int] = mapped_column(Integer)
    missing_theirs: Mapped[int] = mapped_column(Integer)
    amount_mismatch: Mapped[int] = mapped_column(Integer)
    status_mismatch: Mapped[int] = mapped_column(Integer)
    statement_total: Mapped[Decimal] = mapped_column(AMOUNT)
    matched_total: Mapped[Decimal] = mapped_column(AMOUNT)
    fees: Mapped[Decimal] = mapped_column(AMOUNT)

    __table_args__ = (Index("ix_recon_run_day", "channel", "business_date"),)

    @property
    def exceptions(self) -> int:
        return self.missing_ours + self.missing_theirs + self.amount_mismatch + self.status_mismatch


class ReconException(Base):
    """One mismatch waiting for a person (or already settled, see its resolution)."""

    __tablename__ = "recon_exception"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    business_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(24))
    order_no: Mapped[str] = mapped_column(String(64))
    payment_kind: Mapped[str] = mapped_column(String(16))  # disburse | collect
    loan_id: Mapped[int | None] = mapped_column(BigId)
    statement_amount: Mapped[Decimal | None] = mapped_column(AMOUNT)
    statement_status: Mapped[str | None] = mapped_column(String(16))
    order_amount: Mapped[Decimal | None] = mapped_column(AMOUNT)
    order_status: Mapped[str | None] = mapped_column(String(16))
    ledger_amount: Mapped[Decimal | None] = mapped_column(AMOUNT)
    settled_on: Mapped[date | None] = mapped_column(Date)
    detail: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    run_id: Mapped[int] = mapped_column(ForeignKey("recon_run.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint(
            "channel", "business_date", "kind", "order_no", name="uq_recon_exception_key"
        ),
        Index("ix_recon_exception_open", "status", "business_date"),
    )


class ReconResolution(Base):
    """How an exception was settled, by whom; append-only."""

    __tablename__ = "recon_resolution"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    exception_id: Mapped[int] = mapped_column(ForeignKey("recon_exception.id"), unique=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(256))
    entry_ids: Mapped[list[int]] = mapped_column(Json)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
