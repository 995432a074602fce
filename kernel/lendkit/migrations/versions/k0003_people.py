"""kernel: borrowers and staff, personal data encrypted

Revision ID: k0003
Revises: k0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "k0003"
down_revision = "k0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "borrower",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
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
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_borrower")),
        sa.UniqueConstraint("phone_index", name=op.f("uq_borrower_phone_index")),
        sa.UniqueConstraint("id_number_index", name=op.f("uq_borrower_id_number_index")),
    )
    op.create_table(
        "staff_user",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.LargeBinary(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("totp_secret", sa.LargeBinary()),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_user_username")),
    )


def downgrade() -> None:
    op.drop_table("staff_user")
    op.drop_table("borrower")
