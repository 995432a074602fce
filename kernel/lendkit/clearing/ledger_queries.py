"""Reading the journal: an account's balance, the trial balance, an account's statement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lendkit.clearing.ledger_models import Account, AccountBalance, JournalEntry, JournalLine
from lendkit.clearing.money import ZERO, money

__all__ = ["TrialBalance", "balance", "statement", "trial_balance"]


def balance(session: Session, code: str) -> Decimal:
    """The account's current balance (debit positive), from its buckets."""
    total = session.scalar(
        select(func.coalesce(func.sum(AccountBalance.balance), 0))
        .join(Account, Account.id == AccountBalance.account_id)
        .where(Account.code == code)
    )
    return money(total or 0)


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
