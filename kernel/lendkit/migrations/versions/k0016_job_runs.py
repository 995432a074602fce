"""kernel: job_run, one row per slot of a scheduled job (claimed by one worker)

Revision ID: k0016
Revises: k0015
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "k0016"
down_revision = "k0015"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("slot", TS, nullable=False),
        sa.Column("worker", sa.String(100), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("lease_until", TS, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("outcome", sa.String(16)),
        sa.Column("error", sa.String(300)),
        sa.PrimaryKeyConstraint("job", "slot", name=op.f("pk_job_run")),
    )


def downgrade() -> None:
    op.drop_table("job_run")
