"""The kernel's own tables (plugins keep theirs in their own packages)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lendkit.crypto.orm import BlindIndex, Encrypted, EncryptedRow
from lendkit.db import Base, BigId, Json, UTCDateTime, utcnow

__all__ = [
    "Borrower",
    "Consent",
    "CryptoKey",
    "JobRun",
    "KycTransition",
    "OutboxDelivery",
    "OutboxEvent",
    "StaffUser",
]


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


class JobRun(Base):
    """One slot of a scheduled job, claimed by the worker that runs it.

    The primary key makes the claim: of all the workers inserting
    ``(job, slot)``, one succeeds. ``lease_until`` is renewed while the job
    runs; past it, an unfinished slot may be taken over (``attempt`` + 1).
    """

    __tablename__ = "job_run"

    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    slot: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    worker: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime)
    attempt: Mapped[int] = mapped_column(default=1)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))  # ok | failed
    error: Mapped[str | None] = mapped_column(String(300))


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
    # The mobile number the bank holds for the card (银行预留手机号), for four-element checks.
    card_phone: Mapped[str | None] = mapped_column(Encrypted())
    address: Mapped[str | None] = mapped_column(Encrypted())
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # registered | verified | rejected | review; every change is a KycTransition row.
    kyc_status: Mapped[str] = mapped_column(String(16), default="registered")
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KycTransition(Base):
    """One change of a borrower's KYC status, with who or what decided it.

    Append-only: the database refuses updates and deletes, so the history a
    regulator or a dispute asks for is the history that happened. The ID
    number submitted is kept as its blind index only, so attempts with one
    number can be linked (anti-fraud) even after a rejection released it.
    """

    __tablename__ = "kyc_transition"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrower.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))  # borrower:12, staff:alice, system
    provider: Mapped[str | None] = mapped_column(String(64))  # the verifier, if any
    reference: Mapped[str | None] = mapped_column(String(128))  # the vendor's check id
    sandbox: Mapped[bool] = mapped_column(default=False)  # the verifier proves nothing
    reasons: Mapped[list[str]] = mapped_column(Json, default=list)
    note: Mapped[str | None] = mapped_column(Text)  # a reviewer's words (no personal data)
    id_number_index: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_kyc_transition_borrower", "borrower_id", "id"),
        Index("ix_kyc_transition_id_number_index", "id_number_index"),
    )


class Consent(Base):
    """A borrower's authorization for one purpose, as shown and as given.

    征信业管理条例 Art. 29: no credit-bureau query and no reporting without
    the borrower's prior authorization, so the record keeps what the person
    saw (the text's version and SM3 digest), when, and through which
    channel. Rows are never deleted and their terms never change; revoking
    sets ``revoked_at`` once; granting again adds a new row.
    """

    __tablename__ = "consent"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrower.id"))
    purpose: Mapped[str] = mapped_column(
        String(32)
    )  # credit_query | credit_report | privacy_policy
    text_version: Mapped[str] = mapped_column(String(32))
    text_digest: Mapped[str] = mapped_column(String(64))  # SM3 hex of the text shown
    channel: Mapped[str] = mapped_column(String(16))  # app | web | h5 | counter | api
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_consent_borrower_purpose", "borrower_id", "purpose"),
        # One active grant per text: two identical requests at once record it once.
        Index(
            "uq_consent_active",
            "borrower_id",
            "purpose",
            "text_version",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )


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
