"""Channel fees: booked by reconciliation, once per channel and day, following the statement."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from lendkit.clearing import accounts, ledger, reconcile
from lendkit.clearing.accounts import AccountType
from lendkit.clearing.ledger import JournalEntry
from lendkit.types import StatementLine
from sqlalchemy import select

D = Decimal
DAY = date(2026, 11, 24)


def line(number: int, kind: str = "collect", fee: str = "0.50", status: str = "succeeded"):
    return StatementLine(DAY, f"C_FEE_{number}", f"R{number}", kind, D("100.00"), status, D(fee))  # type: ignore[arg-type]


def run(runtime, lines):
    return reconcile.reconcile(runtime, DAY, "sandbox", lines=lines)["sandbox"]


def fee_entries(session):
    return list(
        session.scalars(
            select(JournalEntry)
            .where(JournalEntry.cause == "channel_fee:sandbox:2026-11-24")
            .order_by(JournalEntry.id)
        )
    )


def test_the_chart_has_a_channel_fee_expense_account():
    kind = accounts.kind_of("channel_fee_expense")
    assert (kind.name_zh, kind.type, kind.per) == ("通道手续费", AccountType.EXPENSE, None)
    assert kind.debit_normal
    with pytest.raises(ValueError, match="takes no qualifier"):
        accounts.kind_of("channel_fee_expense:sandbox")


def test_reconciliation_books_the_days_fees_once(runtime):
    statement = [line(1, "disburse", "1.00"), line(2), line(3, status="failed", fee="0.00")]

    first = run(runtime, statement)
    again = run(runtime, statement)

    assert first.fees == again.fees == D("1.50")
    with runtime.sessions() as session:
        [entry] = fee_entries(session)
        assert entry.idempotency_key == "channel_fee:sandbox:2026-11-24"
        assert entry.business_date == DAY  # the statement's day, not the day it ran
        assert sorted((ln.account.code, ln.amount) for ln in entry.lines) == [
            ("channel_fee_expense", D("1.50")),
            ("channel_in_transit:sandbox", D("-1.50")),
        ]
        assert ledger.balance(session, "channel_fee_expense") == D("1.50")
        assert ledger.balance(session, "channel_in_transit:sandbox") == D("-1.50")
        assert reconcile.fees_booked(session, "sandbox", DAY) == (D("1.50"), 1)
        assert ledger.trial_balance(session).balanced


def test_a_changed_statement_books_only_the_difference(runtime):
    run(runtime, [line(1), line(2)])  # 1.00
    run(runtime, [line(1), line(2), line(4, "disburse", "1.00")])  # 2.00: +1.00
    run(runtime, [line(1)])  # 0.50: -1.50
    run(runtime, [line(1)])  # the same again: nothing

    with runtime.sessions() as session:
        entries = fee_entries(session)
        assert [e.idempotency_key for e in entries] == [
            "channel_fee:sandbox:2026-11-24",
            "channel_fee:sandbox:2026-11-24:2",
            "channel_fee:sandbox:2026-11-24:3",
        ]
        moves = [
            next(ln.amount for ln in e.lines if ln.account.code == "channel_fee_expense")
            for e in entries
        ]
        assert moves == [D("1.00"), D("1.00"), D("-1.50")]
        assert ledger.balance(session, "channel_fee_expense") == D("0.50")
        assert reconcile.fees_booked(session, "sandbox", DAY) == (D("0.50"), 3)
        assert ledger.trial_balance(session).balanced


def test_a_reversed_fee_entry_is_booked_again_by_the_next_run(runtime):
    """The books follow the statement: a fee is disputed with the channel, not reversed."""
    run(runtime, [line(1)])
    with runtime.sessions.begin() as session:
        [entry] = fee_entries(session)
        ledger.reverse(session, entry.id, business_date=DAY, reason="posted by mistake")
    with runtime.sessions() as session:
        assert reconcile.fees_booked(session, "sandbox", DAY) == (D("0.00"), 1)

    run(runtime, [line(1)])

    with runtime.sessions() as session:
        assert reconcile.fees_booked(session, "sandbox", DAY) == (D("0.50"), 2)
        assert ledger.balance(session, "channel_fee_expense") == D("0.50")


def test_a_statement_without_fees_books_nothing(runtime):
    run(runtime, [line(1, fee="0.00"), line(2, status="failed", fee="0.00")])
    with runtime.sessions() as session:
        assert fee_entries(session) == []
        assert reconcile.fees_booked(session, "sandbox", DAY) == (D("0.00"), 0)
