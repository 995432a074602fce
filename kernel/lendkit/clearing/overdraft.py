"""Overdraft checks: the no-overdraft parts a posting draws on, their locks, their balances.

A part of an account that may not be overdrawn is the whole account, or, for
kinds kept by loan, one loan's lines (loan id) or the lines without a loan
(None). Only a part the posting draws on can it overdraw, so only those are
locked and read again.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from lendkit.clearing.accounts import AccountKind, kind_of
from lendkit.clearing.ledger_models import AccountBalance, JournalLine
from lendkit.clearing.money import ZERO, money
from lendkit.errors import ValidationFailed

__all__ = [
    "Drawing",
    "Drawn",
    "Part",
    "current_balances",
    "drawn_parts",
    "lock_keys",
    "part_moves",
    "refuse_overdrafts",
]

Part = tuple[int, bool, int | None]  # (account id, by loan, loan id)
Drawn = dict[Part, tuple[str, AccountKind]]


class Drawing(Protocol):
    """What the check reads of a posting's line (a :class:`lendkit.clearing.ledger.Line`)."""

    @property
    def account(self) -> str: ...

    @property
    def loan_id(self) -> int | None: ...


def drawn_parts(lines: Sequence[Drawing], amounts: Sequence[Decimal], ids: dict[str, int]) -> Drawn:
    """The no-overdraft parts this entry draws on: only those can it overdraw."""
    names: Drawn = {}
    moved = _moves(lines, amounts, ids, names)
    return {
        part: names[part]
        for part, amount in moved.items()
        if (amount < 0 if names[part][1].debit_normal else amount > 0)
    }


def part_moves(
    lines: Sequence[Drawing], amounts: Sequence[Decimal], ids: dict[str, int]
) -> dict[Part, Decimal]:
    """What this entry moves on each no-overdraft part, drawn or not."""
    return _moves(lines, amounts, ids, {})


def _moves(
    lines: Sequence[Drawing], amounts: Sequence[Decimal], ids: dict[str, int], names: Drawn
) -> dict[Part, Decimal]:
    moved: dict[Part, Decimal] = {}
    for line, amount in zip(lines, amounts, strict=True):
        kind = kind_of(line.account)
        if kind.no_overdraft:
            part = (ids[line.account], kind.by_loan, line.loan_id if kind.by_loan else None)
            moved[part] = moved.get(part, ZERO) + amount
            names[part] = (line.account, kind)
    return moved


def lock_keys(drawn: Drawn) -> list[str]:
    """Advisory lock names of the drawn parts, sorted (a fixed order: no deadlock
    between two postings drawing on the same parts). A whole account, and the
    lines without a loan of an account kept by loan, share the account's lock;
    one loan's part has its own."""
    keys = {
        f"lendkit.ledger:{a}" if loan is None else f"lendkit.ledger:{a}:{loan}"
        for a, _, loan in drawn
    }
    return sorted(keys)


def refuse_overdrafts(
    session: Session,
    drawn: Drawn,
    current: dict[Part, Decimal] | None = None,
) -> None:
    """Refuse the posting if it took a drawn part below zero.

    On PostgreSQL the posting's statement took a transaction-level advisory
    lock on each drawn part (see lock_keys), so two postings drawing on one
    part at once are checked one after the other: this read comes after the
    lock, in a statement that sees what the other committed. Locks by loan
    mean repayments of different loans never wait for each other, where a
    lock on ``loan_principal`` would serialize them all.
    """
    if not drawn:
        return
    if current is None:
        current = current_balances(session, drawn)
    for part, (code, kind) in drawn.items():
        balance_ = current.get(part, ZERO)
        if (balance_ < 0) if kind.debit_normal else (balance_ > 0):
            of = f" for loan {part[2]}" if part[1] and part[2] is not None else ""
            raise ValidationFailed(
                f"{code}{of} would be overdrawn ({balance_})", code="insufficient_funds"
            )


def current_balances(session: Session, drawn: Drawn) -> dict[Part, Decimal]:
    current: dict[Part, Decimal] = {}
    accounts = [a for a, by_loan, _ in drawn if not by_loan]
    if accounts:
        for account_id, total in session.execute(
            select(AccountBalance.account_id, func.sum(AccountBalance.balance))
            .where(AccountBalance.account_id.in_(accounts))
            .group_by(AccountBalance.account_id)
        ):
            current[(account_id, False, None)] = money(total or 0)
    parts = [
        and_(
            JournalLine.account_id == a,
            JournalLine.loan_id.is_(None) if loan is None else JournalLine.loan_id == loan,
        )
        for a, by_loan, loan in drawn
        if by_loan
    ]
    if parts:
        for account_id, loan_id, total in session.execute(
            select(JournalLine.account_id, JournalLine.loan_id, func.sum(JournalLine.amount))
            .where(or_(*parts))
            .group_by(JournalLine.account_id, JournalLine.loan_id)
        ):
            current[(account_id, True, loan_id)] = money(total or 0)
    return current
