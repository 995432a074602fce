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

revision = "k0015"
down_revision = "k0014"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


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
        sa.Column("created_at", TS, nullable=False),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.PrimaryKeyConstraint("application_id", name=op.f("pk_application_context")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_application_context_application_id_application"),
        ),
        sa.ForeignKeyConstraint(
            ["borrower_id"],
            ["borrower.id"],
            name=op.f("fk_application_context_borrower_id_borrower"),
        ),
    )
    op.create_index("ix_application_context_device_index", "application_context", ["device_index"])


def downgrade() -> None:
    op.drop_index("ix_application_context_device_index", table_name="application_context")
    op.drop_table("application_context")
