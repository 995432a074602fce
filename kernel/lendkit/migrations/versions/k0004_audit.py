"""kernel: audit log and signed checkpoints

Revision ID: k0004
Revises: k0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0004"
down_revision = "k0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        col.id_column(),
        col.timestamp("occurred_at"),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("mac", sa.LargeBinary(32), nullable=False),
        sa.Column("seq", sa.BigInteger()),
        sa.Column("chain", sa.LargeBinary(32)),
        col.primary_key("audit_log"),
        col.unique("audit_log", "seq"),
    )
    op.create_index("ix_audit_log_unsealed", "audit_log", ["seq", "id"])
    op.create_table(
        "audit_checkpoint",
        col.id_column(),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("chain", sa.LargeBinary(32), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("public_key", sa.String(128), nullable=False),
        col.timestamp("created_at"),
        sa.Column("note", sa.Text()),
        col.primary_key("audit_checkpoint"),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoint")
    op.drop_table("audit_log")
