"""The journal's tables: accounts, entries, their lines and the kept balances.

Rows of ``journal_entry`` and ``journal_line`` are never updated or deleted
(the database refuses it); ``account_balance`` holds each account's balance
spread over a few bucket rows (see :mod:`lendkit.clearing.ledger`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Numeric, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lendkit.db import Base, BigId, UTCDateTime, utcnow

__all__ = ["AMOUNT", "Account", "AccountBalance", "JournalEntry", "JournalLine"]

AMOUNT = Numeric(18, 2)


class Account(Base):
    __tablename__ = "ledger_account"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(96), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JournalEntry(Base):
    __tablename__ = "journal_entry"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    business_date: Mapped[date] = mapped_column(Date, index=True)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    cause: Mapped[str] = mapped_column(String(128))
    memo: Mapped[str] = mapped_column(String(256), default="")
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"), unique=True)

    lines: Mapped[list[JournalLine]] = relationship(
        back_populates="entry", order_by="JournalLine.id"
    )


class JournalLine(Base):
    __tablename__ = "journal_line"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entry.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)  # debit > 0 > credit
    loan_id: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str | None] = mapped_column(String(32))  # funding source, for co-lending splits

    entry: Mapped[JournalEntry] = relationship(back_populates="lines")
    account: Mapped[Account] = relationship()

    __table_args__ = (
        Index("ix_journal_line_account", "account_id", "entry_id"),
        Index("ix_journal_line_loan", "loan_id"),
        Index("ix_journal_line_entry", "entry_id"),
    )


class AccountBalance(Base):
    __tablename__ = "account_balance"

    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), primary_key=True)
    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    balance: Mapped[Decimal] = mapped_column(AMOUNT)
