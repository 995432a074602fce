"""kernel: credit applications, credit decisions and application history (append-only)

Revision ID: k0010
Revises: k0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "k0010"
down_revision = "k0009"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AMOUNT = sa.Numeric(18, 2)
RATE = sa.Numeric(9, 6)
TS = sa.DateTime(timezone=True)
# The decision record and the history are evidence: never rewritten.
APPEND_ONLY = ("credit_decision", "application_event")


def upgrade() -> None:
    op.create_table(
        "application",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("borrower_id", BIG_ID, nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("product_code", sa.String(32), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("term", sa.SmallInteger(), nullable=False),
        sa.Column("method", sa.String(24), nullable=False),
        sa.Column("annual_income", AMOUNT, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("credit_limit", AMOUNT),
        sa.Column("approved_amount", AMOUNT),
        sa.Column("annual_rate", RATE),
        sa.Column("upfront_fee", AMOUNT),
        sa.Column("apr_irr", RATE),
        sa.Column("apr_simple", RATE),
        sa.Column("offer", sa.JSON()),
        sa.Column("offered_at", TS),
        sa.Column("offer_expires_at", TS),
        sa.Column("accepted_at", TS),
        sa.Column("loan_id", sa.BigInteger()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application")),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrower.id"], name=op.f("fk_application_borrower_id_borrower")
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loan.id"], name=op.f("fk_application_loan_id_loan")),
    )
    op.create_index(
        "ix_application_idempotency", "application", ["borrower_id", "idempotency_key"], unique=True
    )
    op.create_index("ix_application_borrower_status", "application", ["borrower_id", "status"])
    op.create_index("ix_application_status", "application", ["status", "id"])
    op.create_table(
        "credit_decision",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("borrower_id", BIG_ID, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("credit_limit", AMOUNT),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("trace", sa.JSON(), nullable=False),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("decided_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_decision")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_credit_decision_application_id_application"),
        ),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrower.id"], name=op.f("fk_credit_decision_borrower_id_borrower")
        ),
    )
    op.create_index("ix_credit_decision_application", "credit_decision", ["application_id", "id"])
    op.create_table(
        "application_event",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_event")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_application_event_application_id_application"),
        ),
    )
    op.create_index(
        "ix_application_event_application", "application_event", ["application_id", "id"]
    )
    _append_only()


def _append_only() -> None:
    """The database itself refuses to rewrite a decision record or the history."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY:
        if postgresql:
            # lendkit_history_append_only() comes with k0007.
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION lendkit_history_append_only()"
            )
            continue
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: add a row instead'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.drop_index("ix_application_event_application", table_name="application_event")
    op.drop_table("application_event")  # SQLite drops a table's triggers with it
    op.drop_index("ix_credit_decision_application", table_name="credit_decision")
    op.drop_table("credit_decision")
    op.drop_index("ix_application_status", table_name="application")
    op.drop_index("ix_application_borrower_status", table_name="application")
    op.drop_index("ix_application_idempotency", table_name="application")
    op.drop_table("application")
