"""Tables of collections (催收): cases, who works them, promises, notes, contacts, reminders.

A ``collection_case`` is one stretch of a loan being overdue: opened when
the loan goes overdue, closed when it is cured, settled, prepaid or written
off; a loan overdue again later gets a new case. At most one case per loan
is open (a partial unique index). Its opening never changes, and a closed
case is never reopened (migration ``k0012`` refuses both).

What happens on a case is history, and history is append-only (the
database refuses updates and deletes): ``collection_assignment`` (each
hand-over to a collector; the case's ``collector_id`` only points at the
last), ``collection_note`` and ``collection_contact`` (every attempt to
reach the borrower by SMS, call or visit, and a vendor's receipt for it).
A ``collection_promise`` (promise to pay, 承诺还款) is fixed once made; only
its outcome is written, once, when its date has passed.

No personal data is stored here: contacts name the borrower by id and the
phone number is read from the (encrypted) borrower row when a message is
sent; free text from staff is masked (:func:`lendkit.masking.mask_text`)
before it is stored, in case someone typed a number into it.

``collection_reminder`` queues the SMS reminder of an instalment falling
due (``loan.due_soon``), one row per event, so each reminder is sent once.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from lendkit.db import Base, BigId, UTCDateTime, utcnow

__all__ = [
    "Assignment",
    "CaseStatus",
    "CollectionCase",
    "Contact",
    "Note",
    "Promise",
    "PromiseStatus",
    "Reminder",
    "ReminderStatus",
]

AMOUNT = Numeric(18, 2)


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class PromiseStatus(StrEnum):
    OPEN = "open"  # its date has not passed yet
    KEPT = "kept"  # paid at least the amount from the day it was made to its date
    BROKEN = "broken"


class ReminderStatus(StrEnum):
    PENDING = "pending"  # waiting for the reminder job (and for the end of quiet hours)
    SENT = "sent"
    FAILED = "failed"  # no sender took it
    SKIPPED = "skipped"  # paid before it was sent, or the loan is no longer running
    EXPIRED = "expired"  # the due date passed before it could be sent


class CollectionCase(Base):
    """One overdue stretch of one loan, and the collector working it now."""

    __tablename__ = "collection_case"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    loan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loan.id"))
    borrower_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("borrower.id"))
    status: Mapped[str] = mapped_column(String(8), default=CaseStatus.OPEN)
    # The last assignment's collector (None: unassigned); history in collection_assignment.
    collector_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("staff_user.id"))
    opened_on: Mapped[date] = mapped_column(Date)  # business date
    opened_by: Mapped[str] = mapped_column(String(64))  # event:<id>, staff:<name>, system
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_on: Mapped[date | None] = mapped_column(Date)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # cured | settled | written_off | active | cancelled: what the loan became.
    close_reason: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index(
            "uq_collection_case_open",
            "loan_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_collection_case_loan", "loan_id", "id"),
        Index("ix_collection_case_collector", "collector_id", "status"),
    )


class Assignment(Base):
    """A case handed to a collector (or taken back: ``collector_id`` None); never updated."""

    __tablename__ = "collection_assignment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("collection_case.id"))
    loan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loan.id"))
    collector_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("staff_user.id"))
    previous_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("staff_user.id"))
    assigned_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_collection_assignment_case", "case_id", "id"),)


class Note(Base):
    """A collector's note on a case (masked free text); never updated."""

    __tablename__ = "collection_note"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("collection_case.id"))
    loan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loan.id"))
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_collection_note_case", "case_id", "id"),)


class Contact(Base):
    """One contact with the borrower; never updated.

    ``kind``: ``recorded`` (staff made the call or visit and logged it),
    ``attempt`` (the kernel asked an SMS or call plugin, logged before it
    asked) or ``result`` (that plugin's receipt, pointing at its attempt
    through ``attempt_id``). Recorded contacts and attempts count towards
    the contact limits; results do not.
    """

    __tablename__ = "collection_contact"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("collection_case.id"))
    loan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loan.id"))
    borrower_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("borrower.id"))
    channel: Mapped[str] = mapped_column(String(8))  # sms | call | visit
    kind: Mapped[str] = mapped_column(String(8))  # recorded | attempt | result
    outcome: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))  # staff:<name>, or the vendor for a result
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempt_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("collection_contact.id"))
    provider: Mapped[str | None] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(128))  # the vendor's receipt id
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_collection_contact_borrower_at", "borrower_id", "at"),
        Index("ix_collection_contact_case", "case_id", "id"),
    )


class Promise(Base):
    """A promise to pay (承诺还款): ``amount`` by ``promised_date``; its terms never change."""

    __tablename__ = "collection_promise"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("collection_case.id"))
    loan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loan.id"))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    promised_date: Mapped[date] = mapped_column(Date)
    made_on: Mapped[date] = mapped_column(Date)  # business date; payments count from here
    made_by: Mapped[str] = mapped_column(String(64))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(8), default=PromiseStatus.OPEN)
    paid: Mapped[Decimal | None] = mapped_column(AMOUNT)  # counted when evaluated
    evaluated_on: Mapped[date | None] = mapped_column(Date)
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_collection_promise_due", "status", "promised_date"),
        Index("ix_collection_promise_case", "case_id", "id"),
    )


class Reminder(Base):
    """The SMS reminder of one ``loan.due_soon`` event: sent once, by the reminder job."""

    __tablename__ = "collection_reminder"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(BigInteger, unique=True)  # the outbox event
    loan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loan.id"))
    borrower_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("borrower.id"))
    period: Mapped[int] = mapped_column(SmallInteger)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    status: Mapped[str] = mapped_column(String(8), default=ReminderStatus.PENDING)
    message_id: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_collection_reminder_status", "status", "id"),)
