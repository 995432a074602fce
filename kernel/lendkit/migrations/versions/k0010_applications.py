"""kernel: credit applications, credit decisions and application history (append-only)

Revision ID: k0010
Revises: k0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0010"
down_revision = "k0009"
branch_labels = None
depends_on = None

# The decision record and the history are evidence: never rewritten.
APPEND_ONLY = ("credit_decision", "application_event")


def upgrade() -> None:
    op.create_table(
        "application",
        col.id_column(),
        sa.Column("borrower_id", col.BIG_ID, nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("product_code", sa.String(32), nullable=False),
        col.money("amount"),
        sa.Column("term", sa.SmallInteger(), nullable=False),
        sa.Column("method", sa.String(24), nullable=False),
        col.money("annual_income"),
        sa.Column("status", sa.String(16), nullable=False),
        col.money("credit_limit", nullable=True),
        col.money("approved_amount", nullable=True),
        sa.Column("annual_rate", col.RATE),
        col.money("upfront_fee", nullable=True),
        sa.Column("apr_irr", col.RATE),
        sa.Column("apr_simple", col.RATE),
        sa.Column("offer", sa.JSON()),
        col.timestamp("offered_at", nullable=True),
        col.timestamp("offer_expires_at", nullable=True),
        col.timestamp("accepted_at", nullable=True),
        sa.Column("loan_id", sa.BigInteger()),
        col.timestamp("created_at"),
        col.timestamp("updated_at"),
        col.primary_key("application"),
        col.foreign_key("application", "borrower_id", "borrower.id"),
        col.foreign_key("application", "loan_id", "loan.id"),
    )
    op.create_index(
        "ix_application_idempotency", "application", ["borrower_id", "idempotency_key"], unique=True
    )
    op.create_index("ix_application_borrower_status", "application", ["borrower_id", "status"])
    op.create_index("ix_application_status", "application", ["status", "id"])
    op.create_table(
        "credit_decision",
        col.id_column(),
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("borrower_id", col.BIG_ID, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        col.money("credit_limit", nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("trace", sa.JSON(), nullable=False),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        col.timestamp("decided_at"),
        col.primary_key("credit_decision"),
        col.foreign_key("credit_decision", "application_id", "application.id"),
        col.foreign_key("credit_decision", "borrower_id", "borrower.id"),
    )
    op.create_index("ix_credit_decision_application", "credit_decision", ["application_id", "id"])
    op.create_table(
        "application_event",
        col.id_column(),
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("detail", sa.JSON(), nullable=False),
        col.timestamp("at"),
        col.primary_key("application_event"),
        col.foreign_key("application_event", "application_id", "application.id"),
    )
    op.create_index(
        "ix_application_event_application", "application_event", ["application_id", "id"]
    )
    # The database itself refuses to rewrite a decision record or the history.
    col.append_only(APPEND_ONLY)


def downgrade() -> None:
    col.drop_append_only(APPEND_ONLY)
    op.drop_index("ix_application_event_application", table_name="application_event")
    op.drop_table("application_event")  # SQLite drops a table's triggers with it
    op.drop_index("ix_credit_decision_application", table_name="credit_decision")
    op.drop_table("credit_decision")
    op.drop_index("ix_application_status", table_name="application")
    op.drop_index("ix_application_borrower_status", table_name="application")
    op.drop_index("ix_application_idempotency", table_name="application")
    op.drop_table("application")
