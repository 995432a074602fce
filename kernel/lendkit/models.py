"""The kernel's own tables (plugins keep theirs in their own packages)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lendkit.crypto.orm import BlindIndex, Encrypted, EncryptedRow
from lendkit.db import Base, BigId, Json, UTCDateTime, utcnow

__all__ = ["Borrower", "CryptoKey", "OutboxDelivery", "OutboxEvent", "StaffUser"]


class OutboxEvent(Base):
    """An event written in the same transaction as the change it describes."""

    __tablename__ = "outbox_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # False until the dispatcher has created one delivery per subscriber.
    fanned_out: Mapped[bool] = mapped_column(default=False)

    deliveries: Mapped[list[OutboxDelivery]] = relationship(back_populates="event")

    __table_args__ = (Index("ix_outbox_event_pending", "fanned_out", "id"),)


class OutboxDelivery(Base):
    """One event to one subscribing plugin, tracked on its own."""

    __tablename__ = "outbox_delivery"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_event.id"))
    subscriber: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|dead
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[OutboxEvent] = relationship(back_populates="deliveries")

    __table_args__ = (
        UniqueConstraint("event_id", "subscriber"),
        Index("ix_outbox_delivery_due", "status", "next_attempt_at"),
    )


class CryptoKey(Base):
    """A data key, stored only wrapped by the master key (or a KMS)."""

    __tablename__ = "crypto_key"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    purpose: Mapped[str] = mapped_column(String(16))  # field | index
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    wrapper: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set once no row is protected by this key any more (after a rotation).
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Borrower(EncryptedRow, Base):
    """A borrower; every piece of personal data is SM4-encrypted at rest.

    Lookups go through blind indexes: one borrower per mobile number and per
    resident ID number.
    """

    __tablename__ = "borrower"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(Encrypted())
    phone_index: Mapped[bytes] = mapped_column(BlindIndex("phone", kind="phone"), unique=True)
    name: Mapped[str | None] = mapped_column(Encrypted())
    id_number: Mapped[str | None] = mapped_column(Encrypted())
    id_number_index: Mapped[bytes | None] = mapped_column(
        BlindIndex("id_number", kind="id_number"), unique=True
    )
    bank_card: Mapped[str | None] = mapped_column(Encrypted())
    address: Mapped[str | None] = mapped_column(Encrypted())
    password_hash: Mapped[str | None] = mapped_column(String(200))
    kyc_status: Mapped[str] = mapped_column(String(16), default="registered")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffUser(EncryptedRow, Base):
    """A member of staff who signs in to the console; one role each."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(Encrypted())
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str | None] = mapped_column(Encrypted())
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
