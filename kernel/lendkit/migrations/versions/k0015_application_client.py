"""kernel: an application's client facts (device, addresses, location) and referral code

The device id, both IP addresses and the location are personal data:
SM4-encrypted, the device id with a blind index for counting by device.

Revision ID: k0015
Revises: k0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0015"
down_revision = "k0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "application_context",
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("borrower_id", sa.BigInteger(), nullable=False),
        sa.Column("device_id", sa.LargeBinary()),
        sa.Column("device_index", sa.LargeBinary(32)),
        sa.Column("ip", sa.LargeBinary()),
        sa.Column("seen_ip", sa.LargeBinary()),
        sa.Column("location", sa.LargeBinary()),
        sa.Column("user_agent", sa.String(512)),
        sa.Column("app_version", sa.String(32)),
        sa.Column("referral_code", sa.String(32)),
        col.timestamp("created_at"),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        col.primary_key("application_context", "application_id"),
        col.foreign_key("application_context", "application_id", "application.id"),
        col.foreign_key("application_context", "borrower_id", "borrower.id"),
    )
    op.create_index("ix_application_context_device_index", "application_context", ["device_index"])


def downgrade() -> None:
    op.drop_index("ix_application_context_device_index", table_name="application_context")
    op.drop_table("application_context")
