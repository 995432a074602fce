"""kernel: job_run, one row per slot of a scheduled job (claimed by one worker)

Revision ID: k0016
Revises: k0015
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0016"
down_revision = "k0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("job", sa.String(100), nullable=False),
        col.timestamp("slot"),
        sa.Column("worker", sa.String(100), nullable=False),
        col.timestamp("started_at"),
        col.timestamp("lease_until"),
        sa.Column("attempt", sa.Integer(), nullable=False),
        col.timestamp("finished_at", nullable=True),
        sa.Column("outcome", sa.String(16)),
        sa.Column("error", sa.String(300)),
        col.primary_key("job_run", "job", "slot"),
    )


def downgrade() -> None:
    op.drop_table("job_run")
