"""The plugin's own table, on the kernel's declarative base."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from lendkit.db import Base, BigId, UTCDateTime, utcnow
from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

__all__ = ["Coupon"]


class Coupon(Base):
    __tablename__ = "marketing_coupon"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    # Borrowers are referred to by id only; this plugin stores no personal data.
    borrower_id: Mapped[int | None] = mapped_column(BigId)
    source_event_id: Mapped[int | None] = mapped_column(BigId, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
