"""kernel: borrowers and staff, personal data encrypted

Revision ID: k0003
Revises: k0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0003"
down_revision = "k0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "borrower",
        col.id_column(),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.Column("phone", sa.LargeBinary(), nullable=False),
        sa.Column("phone_index", sa.LargeBinary(32), nullable=False),
        sa.Column("name", sa.LargeBinary()),
        sa.Column("id_number", sa.LargeBinary()),
        sa.Column("id_number_index", sa.LargeBinary(32)),
        sa.Column("bank_card", sa.LargeBinary()),
        sa.Column("address", sa.LargeBinary()),
        sa.Column("password_hash", sa.String(200)),
        sa.Column("kyc_status", sa.String(16), nullable=False),
        col.timestamp("created_at"),
        col.primary_key("borrower"),
        col.unique("borrower", "phone_index"),
        col.unique("borrower", "id_number_index"),
    )
    op.create_table(
        "staff_user",
        col.id_column(),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.LargeBinary(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("totp_secret", sa.LargeBinary()),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        col.timestamp("locked_until", nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        col.timestamp("created_at"),
        col.primary_key("staff_user"),
        col.unique("staff_user", "username"),
    )


def downgrade() -> None:
    op.drop_table("staff_user")
    op.drop_table("borrower")
