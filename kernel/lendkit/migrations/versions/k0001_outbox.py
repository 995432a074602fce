"""kernel: transactional outbox

Revision ID: k0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0001"
down_revision = None
branch_labels = ("kernel",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_event",
        col.id_column(),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        col.timestamp("created_at"),
        sa.Column("fanned_out", sa.Boolean(), nullable=False),
        col.primary_key("outbox_event"),
    )
    op.create_index("ix_outbox_event_pending", "outbox_event", ["fanned_out", "id"])
    op.create_table(
        "outbox_delivery",
        col.id_column(),
        sa.Column("event_id", col.BIG_ID, nullable=False),
        sa.Column("subscriber", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        col.timestamp("next_attempt_at"),
        sa.Column("last_error", sa.Text()),
        col.timestamp("delivered_at", nullable=True),
        col.primary_key("outbox_delivery"),
        col.foreign_key("outbox_delivery", "event_id", "outbox_event.id"),
        col.unique("outbox_delivery", "event_id", "subscriber"),
    )
    op.create_index("ix_outbox_delivery_due", "outbox_delivery", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("outbox_delivery")
    op.drop_table("outbox_event")
