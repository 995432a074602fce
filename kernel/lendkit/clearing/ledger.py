"""The double-entry journal: append-only, balanced, idempotent.

:func:`post` writes one balanced entry (lines summing to zero, debits
positive) in the caller's transaction, with an idempotency key: posting the
same key again returns the first entry. Corrections are reversing entries
(:func:`reverse`); the database refuses updates and deletes of journal rows,
and on PostgreSQL also refuses, at commit, any entry that does not balance.

Balances are kept in the same transaction in ``account_balance``, spread
over a few bucket rows per account so that the accounts every posting
touches (fund pools, channels, income) are not one hot row serializing the
whole system; an account's balance is the sum of its buckets.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from lendkit.clearing.accounts import kind_of
from lendkit.clearing.money import ZERO, money
from lendkit.db import Base, BigId, UTCDateTime, utcnow
from lendkit.errors import ConflictError, ValidationFailed

__all__ = [
    "ZERO",
    "Account",
    "AccountBalance",
    "JournalEntry",
    "JournalLine",
    "Line",
    "TrialBalance",
    "balance",
    "post",
    "reverse",
    "statement",
    "trial_balance",
]

BUCKETS = 16
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
    )


class AccountBalance(Base):
    __tablename__ = "account_balance"

    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), primary_key=True)
    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    balance: Mapped[Decimal] = mapped_column(AMOUNT)


@dataclass(frozen=True, slots=True)
class Line:
    """One side of a posting: ``amount`` > 0 debits, < 0 credits ``account``."""

    account: str
    amount: Decimal
    loan_id: int | None = None
    source: str | None = None

    @staticmethod
    def debit(account: str, amount: Decimal, **dims: object) -> Line:
        return Line(account, money(amount), **dims)  # type: ignore[arg-type]

    @staticmethod
    def credit(account: str, amount: Decimal, **dims: object) -> Line:
        return Line(account, -money(amount), **dims)  # type: ignore[arg-type]


def _account_id(session: Session, code: str) -> int:
    kind_of(code)  # refuses codes outside the chart
    found = session.scalar(select(Account.id).where(Account.code == code))
    if found is not None:
        return found
    try:
        with session.begin_nested():
            account = Account(code=code)
            session.add(account)
        return account.id
    except IntegrityError:  # created concurrently: use theirs
        return session.scalars(select(Account.id).where(Account.code == code)).one()


def _upsert(session: Session) -> type:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert  # type: ignore[return-value]


def _add_to_balance(session: Session, account_id: int, amount: Decimal) -> None:
    insert = _upsert(session)
    statement = insert(AccountBalance).values(
        account_id=account_id, bucket=secrets.randbelow(BUCKETS), balance=amount
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["account_id", "bucket"],
            set_={"balance": AccountBalance.balance + statement.excluded.balance},
        )
    )


def balance(session: Session, code: str) -> Decimal:
    """The account's current balance (debit positive), from its buckets."""
    total = session.scalar(
        select(func.coalesce(func.sum(AccountBalance.balance), 0))
        .join(Account, Account.id == AccountBalance.account_id)
        .where(Account.code == code)
    )
    return money(total or 0)


def _same(entry: JournalEntry, lines: Sequence[Line]) -> bool:
    theirs = sorted(
        (line.account.code, line.amount, line.loan_id, line.source) for line in entry.lines
    )
    ours = sorted((line.account, money(line.amount), line.loan_id, line.source) for line in lines)
    return theirs == ours


def post(
    session: Session,
    *,
    business_date: date,
    idempotency_key: str,
    cause: str,
    lines: Sequence[Line],
    memo: str = "",
    reverses_id: int | None = None,
) -> JournalEntry:
    """Post a balanced entry, or return the entry already posted under this key.

    Raises :class:`ValidationFailed` for an unbalanced or empty entry or an
    overdraft of a no-overdraft account, :class:`ConflictError` when the key
    was used for a different entry.
    """
    existing = session.scalar(
        select(JournalEntry).where(JournalEntry.idempotency_key == idempotency_key)
    )
    if existing is not None:
        if not _same(existing, lines):
            raise ConflictError(
                f"idempotency key {idempotency_key!r} was used for a different entry"
            )
        return existing
    if len(lines) < 2 or any(money(line.amount) == 0 for line in lines):
        raise ValidationFailed(
            "an entry needs at least two non-zero lines", code="unbalanced_entry"
        )
    if sum(money(line.amount) for line in lines) != ZERO:
        raise ValidationFailed(
            f"entry {idempotency_key!r} does not balance", code="unbalanced_entry"
        )
    try:
        with session.begin_nested():
            entry = JournalEntry(
                business_date=business_date,
                idempotency_key=idempotency_key,
                cause=cause,
                memo=memo,
                reverses_id=reverses_id,
                posted_at=utcnow(),
            )
            session.add(entry)
            session.flush()
    except IntegrityError:
        # The same key committed concurrently: that first posting is the answer.
        raced = session.scalars(
            select(JournalEntry).where(JournalEntry.idempotency_key == idempotency_key)
        ).first()
        if raced is None:
            raise
        if not _same(raced, lines):
            raise ConflictError(
                f"idempotency key {idempotency_key!r} was used for a different entry"
            ) from None
        return raced
    for line in lines:
        account_id = _account_id(session, line.account)
        amount = money(line.amount)
        session.add(
            JournalLine(
                entry_id=entry.id,
                account_id=account_id,
                amount=amount,
                loan_id=line.loan_id,
                source=line.source,
            )
        )
        _add_to_balance(session, account_id, amount)
    session.flush()
    _check_overdrafts(session, lines)
    session.refresh(entry, ["lines"])
    return entry


def _check_overdrafts(session: Session, lines: Iterable[Line]) -> None:
    for code in {line.account for line in lines if kind_of(line.account).no_overdraft}:
        kind = kind_of(code)
        if session.get_bind().dialect.name == "postgresql":
            # Serialize only postings that draw on this account, not every posting.
            session.execute(select(Account.id).where(Account.code == code).with_for_update())
        current = balance(session, code)
        if (current < 0) if kind.debit_normal else (current > 0):
            raise ValidationFailed(
                f"{code} would be overdrawn ({current})", code="insufficient_funds"
            )


def reverse(session: Session, entry_id: int, *, business_date: date, reason: str) -> JournalEntry:
    """Post the mirror image of an entry (once; reversing again returns the same reversal)."""
    original = session.get(JournalEntry, entry_id)
    if original is None:
        raise ValidationFailed(f"no journal entry {entry_id}", code="not_found")
    if original.reverses_id is not None:
        raise ValidationFailed(
            "a reversal is not reversed; post a new entry", code="reversal_of_reversal"
        )
    return post(
        session,
        business_date=business_date,
        idempotency_key=f"reversal:{original.id}",
        cause=original.cause,
        memo=f"reversal of entry {original.id}: {reason}",
        reverses_id=original.id,
        lines=[
            Line(line.account.code, -line.amount, line.loan_id, line.source)
            for line in original.lines
        ],
    )


@dataclass(frozen=True, slots=True)
class TrialBalance:
    as_of: date | None
    rows: list[tuple[str, Decimal]]  # (account code, balance), debit positive
    total: Decimal
    mismatched: list[str]  # accounts whose kept balance differs from their lines

    @property
    def balanced(self) -> bool:
        return self.total == ZERO and not self.mismatched


def trial_balance(session: Session, as_of: date | None = None) -> TrialBalance:
    """Balances recomputed from the journal lines (up to ``as_of``), cross-checked.

    Without a date, each account's kept balance must also equal its lines.
    """
    query = (
        select(Account.code, func.coalesce(func.sum(JournalLine.amount), 0))
        .join(JournalLine, JournalLine.account_id == Account.id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .group_by(Account.code)
        .order_by(Account.code)
    )
    if as_of is not None:
        query = query.where(JournalEntry.business_date <= as_of)
    rows = [(code, money(total)) for code, total in session.execute(query)]
    mismatched: list[str] = []
    if as_of is None:
        kept = dict(
            session.execute(
                select(Account.code, func.sum(AccountBalance.balance))
                .join(AccountBalance, AccountBalance.account_id == Account.id)
                .group_by(Account.code)
            ).all()
        )
        mismatched = [code for code, total in rows if money(kept.get(code, 0)) != total]
    return TrialBalance(as_of, rows, money(sum((t for _, t in rows), ZERO)), mismatched)


def statement(
    session: Session, code: str, start: date, end: date
) -> list[tuple[JournalEntry, Decimal, Decimal]]:
    """Lines of one account between two business dates: (entry, amount, running balance)."""
    account_id = session.scalar(select(Account.id).where(Account.code == code))
    if account_id is None:
        return []
    opening = money(
        session.scalar(
            select(func.coalesce(func.sum(JournalLine.amount), 0))
            .join(JournalEntry)
            .where(JournalLine.account_id == account_id, JournalEntry.business_date < start)
        )
        or 0
    )
    rows = session.execute(
        select(JournalEntry, JournalLine.amount)
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .where(JournalLine.account_id == account_id, JournalEntry.business_date.between(start, end))
        .order_by(JournalEntry.business_date, JournalEntry.id, JournalLine.id)
    ).all()
    result, running = [], opening
    for entry, amount in rows:
        running += amount
        result.append((entry, money(amount), running))
    return result
