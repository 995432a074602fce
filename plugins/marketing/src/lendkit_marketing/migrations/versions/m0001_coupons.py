"""marketing: coupons table

Revision ID: m0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m0001"
down_revision = None
branch_labels = ("marketing",)
depends_on = "kernel"


def upgrade() -> None:
    op.create_table(
        "marketing_coupon",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("borrower_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
        sa.Column("source_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_coupon")),
        sa.UniqueConstraint("code", name=op.f("uq_marketing_coupon_code")),
        sa.UniqueConstraint("source_event_id", name=op.f("uq_marketing_coupon_source_event_id")),
    )


def downgrade() -> None:
    op.drop_table("marketing_coupon")
