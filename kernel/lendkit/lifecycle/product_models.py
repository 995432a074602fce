"""The table of products as data: one row per version, never rewritten.

Staff (the products API) and the tenant's ``[[products]]`` seeds write it;
each change is a new ``product_version`` row with the next ``version`` of
its ``code``, holding every field of :class:`~lendkit.types.ProductSpec`.
The current version is the newest; ``status`` ``retired`` stops new
applications. Applications and loans name the version they were priced and
booked on, so a change never reaches them. Append-only: the database
refuses updates and deletes (migration ``k0014``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Numeric, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lendkit.db import Base, BigId, Json, UTCDateTime, utcnow

__all__ = ["ProductStatus", "ProductVersion"]

AMOUNT = Numeric(18, 2)
RATE = Numeric(9, 6)


class ProductStatus(StrEnum):
    ACTIVE = "active"  # on offer
    RETIRED = "retired"  # no new applications; loans and open offers go on


class ProductVersion(Base):
    __tablename__ = "product_version"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=ProductStatus.ACTIVE)
    name: Mapped[str] = mapped_column(String(200), info={"pii": False})  # the product's
    description: Mapped[str] = mapped_column(Text, default="")
    min_amount: Mapped[Decimal] = mapped_column(AMOUNT)
    max_amount: Mapped[Decimal] = mapped_column(AMOUNT)
    terms_months: Mapped[list[int]] = mapped_column(Json)
    annual_rate: Mapped[Decimal] = mapped_column(RATE)
    repayment_methods: Mapped[list[str]] = mapped_column(Json)
    upfront_fee_rate: Mapped[Decimal] = mapped_column(RATE)
    instalment_fee: Mapped[Decimal] = mapped_column(AMOUNT)
    penalty_multiplier: Mapped[Decimal] = mapped_column(RATE)
    grace_days: Mapped[int] = mapped_column(SmallInteger)
    day_count: Mapped[int] = mapped_column(SmallInteger)
    shift_holidays: Mapped[bool] = mapped_column()
    repayment_day: Mapped[int | None] = mapped_column(SmallInteger)
    allocation_order: Mapped[list[str]] = mapped_column(Json)
    actor: Mapped[str] = mapped_column(String(64))  # staff:alice, system:seed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # One row per version of a code; also the index that finds the newest.
    __table_args__ = (UniqueConstraint("code", "version"),)
