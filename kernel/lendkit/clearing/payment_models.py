"""Payment orders' tables and values: the order, its append-only history, the payee.

The state machine over them is :mod:`lendkit.clearing.payment_orders`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from lendkit.crypto.orm import Encrypted, EncryptedRow
from lendkit.db import Base, BigId, UTCDateTime, utcnow

__all__ = [
    "FINAL",
    "READY",
    "TRANSITIONS",
    "Outcome",
    "Payee",
    "PaymentOrder",
    "PaymentOrderEvent",
    "Purpose",
    "Reamortize",
    "Source",
    "Status",
]

AMOUNT = Numeric(18, 2)


class Status(StrEnum):
    CREATED = "created"
    RESERVED = "reserved"
    IN_TRANSIT = "in_transit"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    REVERSED = "reversed"


FINAL = frozenset({Status.CONFIRMED, Status.FAILED, Status.REVERSED})
READY = frozenset({Status.CREATED, Status.RESERVED})  # waiting to be sent to the channel
TRANSITIONS: dict[Status | None, frozenset[Status]] = {
    None: frozenset({Status.CREATED}),
    Status.CREATED: frozenset({Status.RESERVED, Status.IN_TRANSIT, Status.FAILED}),
    Status.RESERVED: frozenset({Status.IN_TRANSIT, Status.FAILED}),
    Status.IN_TRANSIT: frozenset({Status.CONFIRMED, Status.FAILED}),
    # Only reconciliation moves a final order, when the channel's statement disagrees.
    Status.CONFIRMED: frozenset({Status.REVERSED}),
    Status.FAILED: frozenset({Status.CONFIRMED}),
    Status.REVERSED: frozenset(),
}
Source = Literal["api", "worker", "callback", "query", "reconcile"]
# Why the money moves: the loan lifecycle acts on the order's purpose when the
# payment is confirmed, never on anything it finds in the loan's history.
Purpose = Literal["disbursement", "repayment", "prepayment", "part_prepayment"]
# A part prepayment's option: keep the number of instalments and lower them,
# or keep the payment and drop the last ones.
Reamortize = Literal["reduce", "shorten"]


class PaymentOrder(EncryptedRow, Base):
    __tablename__ = "payment_order"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # disburse | collect
    channel: Mapped[str] = mapped_column(String(32))
    loan_id: Mapped[int] = mapped_column(BigInteger, index=True)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    purpose: Mapped[str] = mapped_column(String(16), default="repayment")
    reamortize: Mapped[str | None] = mapped_column(String(8))  # part prepayments only
    # Personal data, SM4-encrypted at rest; decrypted only to build the instruction.
    payee_name: Mapped[str] = mapped_column(Encrypted())
    payee_card: Mapped[str] = mapped_column(Encrypted())
    business_date: Mapped[date] = mapped_column(Date)
    # A cache of the last history row (see PaymentOrderEvent).
    status: Mapped[str] = mapped_column(String(16))
    result_date: Mapped[date | None] = mapped_column(Date)  # the channel's settlement date
    channel_ref: Mapped[str | None] = mapped_column(String(64))
    failure_code: Mapped[str] = mapped_column(String(64), default="")
    reserve_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))
    result_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_payment_order_due", "status", "next_attempt_at"),
        Index("ix_payment_order_result", "channel", "result_date"),
    )


class PaymentOrderEvent(Base):
    """One step of an order's history; append-only (the database refuses changes)."""

    __tablename__ = "payment_order_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("payment_order.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(String(256), default="")
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))


@dataclass(frozen=True, slots=True)
class Payee:
    """Whose card the money goes to or comes from; kept out of ``repr``."""

    name: str = field(repr=False)
    card_number: str = field(repr=False)


Outcome = Literal["applied", "duplicate", "conflict", "ignored"]
