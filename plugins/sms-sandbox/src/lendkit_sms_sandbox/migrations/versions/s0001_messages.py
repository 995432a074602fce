"""sms-sandbox: the kept messages

Revision ID: s0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0001"
down_revision = None
branch_labels = ("sms-sandbox",)
depends_on = "kernel"

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sms_sandbox_message",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.LargeBinary(), nullable=False),
        sa.Column("recipient_masked", sa.String(32), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("text", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_sandbox_message")),
        sa.UniqueConstraint("message_id", name=op.f("uq_sms_sandbox_message_message_id")),
    )


def downgrade() -> None:
    op.drop_table("sms_sandbox_message")
