"""The kernel's own tables (plugins keep theirs in their own packages)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lendkit.db import Base, BigId, Json, UTCDateTime, utcnow

__all__ = ["OutboxDelivery", "OutboxEvent"]


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
