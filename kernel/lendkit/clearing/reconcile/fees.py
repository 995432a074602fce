"""The channel's fees of the day, booked from the latest reconciled statement."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit.clearing import ledger
from lendkit.clearing.ledger import Line
from lendkit.clearing.ledger_models import JournalEntry
from lendkit.clearing.money import ZERO, money

__all__ = ["FEE_ACCOUNT", "book_fees", "fee_cause", "fees_booked"]

FEE_ACCOUNT = "channel_fee_expense"


def fee_cause(channel: str, business_date: date) -> str:
    return f"channel_fee:{channel}:{business_date.isoformat()}"


def fees_booked(session: Session, channel: str, business_date: date) -> tuple[Decimal, int]:
    """The channel's fees booked for that day (net of reversals), and how many entries.

    The entries' keys are the cause, then ``<cause>:2``, ``:3``… so each is
    found by its unique key.
    """
    cause, total, count = fee_cause(channel, business_date), ZERO, 0
    while True:
        key = cause if count == 0 else f"{cause}:{count + 1}"
        entry = session.scalar(select(JournalEntry).where(JournalEntry.idempotency_key == key))
        if entry is None:
            return total, count
        count += 1
        reversed_ = session.scalar(
            select(JournalEntry.id).where(JournalEntry.reverses_id == entry.id)
        )
        if reversed_ is None:
            total += sum((ln.amount for ln in entry.lines if ln.account.code == FEE_ACCOUNT), ZERO)


def book_fees(
    session: Session, channel: str, business_date: date, fees: Decimal
) -> JournalEntry | None:
    """Post the channel's fees for the day: Dr channel fees / Cr the channel's account.

    The channel pays the borrower, or takes from them, the full amount (the
    statement's amount is the order's) and charges its fee to us, out of the
    funds it holds for us: so the fee leaves ``channel_in_transit:<channel>``.
    The books follow the latest reconciled statement of the day: the first
    run posts its fees under the key ``channel_fee:<channel>:<date>``; a run
    over a changed statement posts only the difference (``…:2``, ``…:3``);
    a rerun of the same statement posts nothing. Dated the statement's
    business date, so the day's fund-flow report shows them beside the
    statement's fees.
    """
    booked, count = fees_booked(session, channel, business_date)
    delta = money(fees) - booked
    if delta == 0:
        return None
    cause = fee_cause(channel, business_date)
    return ledger.post(
        session,
        business_date=business_date,
        idempotency_key=cause if count == 0 else f"{cause}:{count + 1}",
        cause=cause,
        memo=f"channel fees {channel} {business_date.isoformat()}"
        + ("" if count == 0 else f": statement changed by {delta}"),
        lines=[Line.debit(FEE_ACCOUNT, delta), Line.credit(f"channel_in_transit:{channel}", delta)],
    )
