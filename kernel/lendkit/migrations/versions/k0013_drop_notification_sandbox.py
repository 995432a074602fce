"""kernel: drop the kernel's SMS message store (a stand-in sender plugin keeps its own)

The kernel keeps no message it was asked to send. The stand-in SMS sender
is a plugin now, with its table on its own branch; the old table's rows
(demo messages, one-time codes among them) are dropped, not carried over.
Downgrading recreates the table empty.

Revision ID: k0013
Revises: k0012
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0013"
down_revision = "k0012"
branch_labels = None
depends_on = None

# Created by k0005; a migration names the tables of its history.
TABLE = "notification_sandbox"


def upgrade() -> None:
    op.drop_table(TABLE)


def downgrade() -> None:
    op.create_table(
        TABLE,
        col.id_column(),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.LargeBinary(), nullable=False),
        sa.Column("recipient_masked", sa.String(32), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("text", sa.LargeBinary(), nullable=False),
        col.timestamp("created_at"),
        col.primary_key("notification_sandbox"),
        col.unique("notification_sandbox", "message_id"),
    )
