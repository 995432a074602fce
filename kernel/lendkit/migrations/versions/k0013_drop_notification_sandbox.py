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

revision = "k0013"
down_revision = "k0012"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)
# Created by k0005; a migration names the tables of its history.
TABLE = "notification_sandbox"


def upgrade() -> None:
    op.drop_table(TABLE)


def downgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.LargeBinary(), nullable=False),
        sa.Column("recipient_masked", sa.String(32), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("text", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_sandbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_notification_sandbox_message_id")),
    )
