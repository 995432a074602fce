"""kernel: products as data — product versions (append-only); the version of each application and loan

Revision ID: k0014
Revises: k0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0014"
down_revision = "k0013"
branch_labels = None
depends_on = None

TABLE = "product_version"


def upgrade() -> None:
    op.create_table(
        TABLE,
        col.id_column(),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        col.money("min_amount"),
        col.money("max_amount"),
        sa.Column("terms_months", sa.JSON(), nullable=False),
        sa.Column("annual_rate", col.RATE, nullable=False),
        sa.Column("repayment_methods", sa.JSON(), nullable=False),
        sa.Column("upfront_fee_rate", col.RATE, nullable=False),
        col.money("instalment_fee"),
        sa.Column("penalty_multiplier", col.RATE, nullable=False),
        sa.Column("grace_days", sa.SmallInteger(), nullable=False),
        sa.Column("day_count", sa.SmallInteger(), nullable=False),
        sa.Column("shift_holidays", sa.Boolean(), nullable=False),
        sa.Column("repayment_day", sa.SmallInteger()),
        sa.Column("allocation_order", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        col.timestamp("created_at"),
        col.primary_key("product_version"),
        col.unique("product_version", "code", "version"),
    )
    # The version a loan was priced and booked on (None: a product a plugin registers).
    op.add_column("application", sa.Column("product_version", sa.Integer()))
    op.add_column("application", col.money("instalment_fee", nullable=True))
    op.add_column("loan", sa.Column("product_version", sa.Integer()))
    # A product's history is evidence of what was offered: never rewritten.
    if op.get_bind().dialect.name == "postgresql":
        # lendkit_history_append_only() comes with k0007.
        op.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION lendkit_history_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{action.lower()} BEFORE {action} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: add a row instead'); END"
            )


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): no copy of tables others refer to.
    op.drop_column("loan", "product_version")
    op.drop_column("application", "instalment_fee")
    op.drop_column("application", "product_version")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {TABLE}_append_only ON {TABLE}")
    op.drop_table(TABLE)  # SQLite drops a table's triggers with it
