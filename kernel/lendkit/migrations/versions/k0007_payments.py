"""kernel: funding sources, payment orders and their history, reconciliation

Revision ID: k0007
Revises: k0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0007"
down_revision = "k0006"
branch_labels = None
depends_on = None

# Rows auditors rely on: the database refuses to change or delete them.
APPEND_ONLY = ("payment_order_event", "channel_statement_line", "recon_resolution")
# Rows with a mutable state but fixed terms: these columns never change.
FIXED = {
    "payment_order": (
        "order_no",
        "idempotency_key",
        "kind",
        "channel",
        "loan_id",
        "amount",
        "business_date",
    ),
    "recon_exception": (
        "channel",
        "business_date",
        "kind",
        "order_no",
        "statement_amount",
        "statement_status",
        "order_amount",
        "order_status",
        "ledger_amount",
    ),
}


def upgrade() -> None:
    funding_source = op.create_table(
        "funding_source",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("penalty_rule", sa.String(8), nullable=False),
        sa.Column("fees_rule", sa.String(8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        col.timestamp("created_at"),
        col.primary_key("funding_source"),
        col.unique("funding_source", "code"),
    )
    op.bulk_insert(
        funding_source,
        [
            {
                "code": "own",
                "name": "自有资金 Own funds",
                "kind": "own",
                "penalty_rule": "share",
                "fees_rule": "own",
                "active": True,
                "created_at": datetime.now(UTC),
            }
        ],
    )
    op.create_table(
        "loan_funding",
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("share", sa.Numeric(7, 6), nullable=False),
        col.timestamp("created_at"),
        col.primary_key("loan_funding", "loan_id", "source"),
        col.foreign_key("loan_funding", "source", "funding_source.code"),
    )
    op.create_table(
        "payment_order",
        col.id_column(),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.Column("order_no", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        col.money("amount"),
        sa.Column("payee_name", sa.LargeBinary(), nullable=False),
        sa.Column("payee_card", sa.LargeBinary(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result_date", sa.Date()),
        sa.Column("channel_ref", sa.String(64)),
        sa.Column("failure_code", sa.String(64), nullable=False),
        sa.Column("reserve_entry_id", col.BIG_ID),
        sa.Column("result_entry_id", col.BIG_ID),
        sa.Column("attempts", sa.Integer(), nullable=False),
        col.timestamp("next_attempt_at", nullable=True),
        col.timestamp("created_at"),
        col.timestamp("updated_at"),
        col.primary_key("payment_order"),
        col.unique("payment_order", "order_no"),
        col.unique("payment_order", "idempotency_key"),
        col.foreign_key("payment_order", "reserve_entry_id", "journal_entry.id"),
        col.foreign_key("payment_order", "result_entry_id", "journal_entry.id"),
    )
    op.create_index(op.f("ix_payment_order_loan_id"), "payment_order", ["loan_id"])
    op.create_index("ix_payment_order_due", "payment_order", ["status", "next_attempt_at"])
    op.create_index("ix_payment_order_result", "payment_order", ["channel", "result_date"])
    op.create_table(
        "payment_order_event",
        col.id_column(),
        sa.Column("order_id", col.BIG_ID, nullable=False),
        col.timestamp("at"),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("note", sa.String(256), nullable=False),
        sa.Column("entry_id", col.BIG_ID),
        col.primary_key("payment_order_event"),
        col.foreign_key("payment_order_event", "order_id", "payment_order.id"),
        col.foreign_key("payment_order_event", "entry_id", "journal_entry.id"),
    )
    op.create_index(op.f("ix_payment_order_event_order_id"), "payment_order_event", ["order_id"])
    _reconciliation_tables()
    _append_only()


def _reconciliation_tables() -> None:
    op.create_table(
        "channel_statement",
        col.id_column(),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        col.money("total_amount"),
        col.timestamp("imported_at"),
        col.primary_key("channel_statement"),
        sa.UniqueConstraint("channel", "business_date", "digest", name="uq_channel_statement_file"),
    )
    op.create_table(
        "channel_statement_line",
        col.id_column(),
        sa.Column("statement_id", col.BIG_ID, nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(64), nullable=False),
        sa.Column("channel_ref", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        col.money("amount"),
        col.money("fee"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=False),
        col.primary_key("channel_statement_line"),
        col.foreign_key("channel_statement_line", "statement_id", "channel_statement.id"),
    )
    op.create_index(
        "ix_channel_statement_line_order", "channel_statement_line", ["statement_id", "order_no"]
    )
    op.create_table(
        "recon_run",
        col.id_column(),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("statement_id", col.BIG_ID, nullable=False),
        col.timestamp("started_at"),
        col.timestamp("finished_at"),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("missing_ours", sa.Integer(), nullable=False),
        sa.Column("missing_theirs", sa.Integer(), nullable=False),
        sa.Column("amount_mismatch", sa.Integer(), nullable=False),
        sa.Column("status_mismatch", sa.Integer(), nullable=False),
        col.money("statement_total"),
        col.money("matched_total"),
        col.money("fees"),
        col.primary_key("recon_run"),
        col.foreign_key("recon_run", "statement_id", "channel_statement.id"),
    )
    op.create_index("ix_recon_run_day", "recon_run", ["channel", "business_date"])
    op.create_table(
        "recon_exception",
        col.id_column(),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("order_no", sa.String(64), nullable=False),
        sa.Column("payment_kind", sa.String(16), nullable=False),
        sa.Column("loan_id", col.BIG_ID),
        col.money("statement_amount", nullable=True),
        sa.Column("statement_status", sa.String(16)),
        col.money("order_amount", nullable=True),
        sa.Column("order_status", sa.String(16)),
        col.money("ledger_amount", nullable=True),
        sa.Column("settled_on", sa.Date()),
        sa.Column("detail", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_id", col.BIG_ID, nullable=False),
        col.timestamp("created_at"),
        col.timestamp("resolved_at", nullable=True),
        col.primary_key("recon_exception"),
        col.foreign_key("recon_exception", "run_id", "recon_run.id"),
        sa.UniqueConstraint(
            "channel", "business_date", "kind", "order_no", name="uq_recon_exception_key"
        ),
    )
    op.create_index("ix_recon_exception_open", "recon_exception", ["status", "business_date"])
    op.create_table(
        "recon_resolution",
        col.id_column(),
        sa.Column("exception_id", col.BIG_ID, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.String(256), nullable=False),
        sa.Column("entry_ids", sa.JSON(), nullable=False),
        col.timestamp("at"),
        col.primary_key("recon_resolution"),
        col.foreign_key("recon_resolution", "exception_id", "recon_exception.id"),
        col.unique("recon_resolution", "exception_id"),
    )


PG_APPEND_ONLY = """
CREATE FUNCTION lendkit_history_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: add a row instead', TG_TABLE_NAME;
END $$ LANGUAGE plpgsql;
"""


def _append_only() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(PG_APPEND_ONLY)
    col.append_only(APPEND_ONLY)
    for table, columns in FIXED.items():
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
        message = f"{table}: {', '.join(columns)} never change"
        if postgresql:
            op.execute(
                f"CREATE FUNCTION {table}_fixed() RETURNS trigger AS $$ BEGIN "
                f"IF {changed} THEN RAISE EXCEPTION '{message}'; END IF; RETURN NEW; "
                "END $$ LANGUAGE plpgsql"
            )
            op.execute(
                f"CREATE TRIGGER {table}_fixed BEFORE UPDATE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_fixed()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {table}_fixed BEFORE UPDATE ON {table} "
                f"WHEN {changed.replace('IS DISTINCT FROM', 'IS NOT')} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )


def downgrade() -> None:
    col.drop_append_only(APPEND_ONLY)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION lendkit_history_append_only()")
        for table in FIXED:
            op.execute(f"DROP TRIGGER {table}_fixed ON {table}")
            op.execute(f"DROP FUNCTION {table}_fixed()")
    for table in (
        "recon_resolution",
        "recon_exception",
        "recon_run",
        "channel_statement_line",
        "channel_statement",
        "payment_order_event",
        "payment_order",
        "loan_funding",
        "funding_source",
    ):
        op.drop_table(table)
