"""Paying a partner its due income (:func:`settle_partner`).

A payment posts Dr ``partner_payable`` /
Cr ``fund_pool`` *of the same source*: the cash of the partner's income sits
in its own pool (the repayment settled it there), so that is where it
leaves from; the fund-flow report shows it as that pool's "partner
settlements". A payment is limited to what is due, idempotent by the
caller's key (the bank transfer's reference), and audited.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit import audit
from lendkit.clearing import ledger
from lendkit.clearing.funding import FundingSource
from lendkit.clearing.ledger import JournalEntry, Line
from lendkit.clearing.money import parse_amount
from lendkit.clearing.settlement import due
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed

__all__ = ["KEY_PREFIX", "settle_partner"]

KEY_PREFIX = "partner-settlement:"


def settle_partner(
    session: Session,
    source: str,
    business_date: date,
    amount: Decimal,
    idempotency_key: str,
    *,
    actor: str = "system",
    note: str = "",
) -> JournalEntry:
    """Record that ``amount`` of the partner's due income was paid to it; audited.

    Posts Dr ``partner_payable:<source>`` / Cr ``fund_pool:<source>`` in the
    caller's transaction. The same key again returns the first entry; the same
    key for another amount, partner or date is ``409 idempotency_key_reused``.
    Refused: an unknown partner (``unknown_partner``), an amount that is not
    positive whole fen (``invalid_amount``), a future business date
    (``invalid_business_date``), more than :func:`due` (``settlement_exceeds_due``)
    and more than the pool holds (``insufficient_funds``, from the ledger).
    """
    from lendkit.clearing.payments import business_today

    if not idempotency_key or len(idempotency_key) > 128 - len(KEY_PREFIX):
        raise ValidationFailed(
            "an idempotency key of 1 to 100 characters is required",
            code="idempotency_key_missing",
        )
    value = parse_amount(amount)  # positive, in whole fen, else invalid_amount
    # Lock the partner: settlements of one partner are checked against what is due one at a time.
    partner = session.scalar(
        select(FundingSource)
        .where(FundingSource.code == source, FundingSource.kind == "partner")
        .with_for_update()
    )
    if partner is None:
        raise NotFoundError(f"no partner funding source {source!r}", code="unknown_partner")
    key = KEY_PREFIX + idempotency_key
    lines = [
        Line.debit(f"partner_payable:{source}", value, source=source),
        Line.credit(f"fund_pool:{source}", value, source=source),
    ]
    existing = session.scalar(select(JournalEntry).where(JournalEntry.idempotency_key == key))
    if existing is not None:
        theirs = sorted((line.account.code, line.amount) for line in existing.lines)
        ours = sorted((line.account, line.amount) for line in lines)
        if theirs != ours or existing.business_date != business_date:
            raise ConflictError(
                f"idempotency key {idempotency_key!r} was used for a different settlement",
                code="idempotency_key_reused",
            )
        return existing
    if business_date > business_today():
        raise ValidationFailed(
            f"business date {business_date} is in the future", code="invalid_business_date"
        )
    owed = due(session, source, business_date)
    if value > owed:
        raise ValidationFailed(
            f"{source} is due {owed} on {business_date}; {value} is more",
            code="settlement_exceeds_due",
        )
    entry = ledger.post(
        session,
        business_date=business_date,
        idempotency_key=key,
        cause=f"partner_settlement:{source}",
        memo=(f"paid to {source}" + (f": {note}" if note else ""))[:256],
        lines=lines,
    )
    audit.record(
        session,
        actor,
        "partner.settled",
        f"funding_source:{source}",
        amount=str(value),
        business_date=business_date.isoformat(),
        entry_id=entry.id,
        key=idempotency_key,
        note=note[:256],
    )
    return entry
