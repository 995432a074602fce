"""kernel: wrapped data keys

Revision ID: k0002
Revises: k0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0002"
down_revision = "k0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crypto_key",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("wrapper", sa.String(64), nullable=False),
        col.timestamp("created_at"),
        col.timestamp("retired_at", nullable=True),
        col.primary_key("crypto_key"),
    )


def downgrade() -> None:
    op.drop_table("crypto_key")
