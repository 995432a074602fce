"""kernel: funding sources, payment orders and their history, reconciliation

Revision ID: k0007
Revises: k0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "k0007"
down_revision = "k0006"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AMOUNT = sa.Numeric(18, 2)
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


def _ts(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


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
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_source")),
        sa.UniqueConstraint("code", name=op.f("uq_funding_source_code")),
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
        _ts("created_at"),
        sa.PrimaryKeyConstraint("loan_id", "source", name=op.f("pk_loan_funding")),
        sa.ForeignKeyConstraint(
            ["source"], ["funding_source.code"], name=op.f("fk_loan_funding_source_funding_source")
        ),
    )
    op.create_table(
        "payment_order",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.Column("order_no", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("payee_name", sa.LargeBinary(), nullable=False),
        sa.Column("payee_card", sa.LargeBinary(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result_date", sa.Date()),
        sa.Column("channel_ref", sa.String(64)),
        sa.Column("failure_code", sa.String(64), nullable=False),
        sa.Column("reserve_entry_id", BIG_ID),
        sa.Column("result_entry_id", BIG_ID),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_order")),
        sa.UniqueConstraint("order_no", name=op.f("uq_payment_order_order_no")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payment_order_idempotency_key")),
        sa.ForeignKeyConstraint(
            ["reserve_entry_id"],
            ["journal_entry.id"],
            name=op.f("fk_payment_order_reserve_entry_id_journal_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["result_entry_id"],
            ["journal_entry.id"],
            name=op.f("fk_payment_order_result_entry_id_journal_entry"),
        ),
    )
    op.create_index(op.f("ix_payment_order_loan_id"), "payment_order", ["loan_id"])
    op.create_index("ix_payment_order_due", "payment_order", ["status", "next_attempt_at"])
    op.create_index("ix_payment_order_result", "payment_order", ["channel", "result_date"])
    op.create_table(
        "payment_order_event",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("order_id", BIG_ID, nullable=False),
        _ts("at"),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("note", sa.String(256), nullable=False),
        sa.Column("entry_id", BIG_ID),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_order_event")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["payment_order.id"],
            name=op.f("fk_payment_order_event_order_id_payment_order"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["journal_entry.id"],
            name=op.f("fk_payment_order_event_entry_id_journal_entry"),
        ),
    )
    op.create_index(op.f("ix_payment_order_event_order_id"), "payment_order_event", ["order_id"])
    _reconciliation_tables()
    _append_only()


def _reconciliation_tables() -> None:
    op.create_table(
        "channel_statement",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("total_amount", AMOUNT, nullable=False),
        _ts("imported_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_statement")),
        sa.UniqueConstraint("channel", "business_date", "digest", name="uq_channel_statement_file"),
    )
    op.create_table(
        "channel_statement_line",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("statement_id", BIG_ID, nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(64), nullable=False),
        sa.Column("channel_ref", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("fee", AMOUNT, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_statement_line")),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["channel_statement.id"],
            name=op.f("fk_channel_statement_line_statement_id_channel_statement"),
        ),
    )
    op.create_index(
        "ix_channel_statement_line_order", "channel_statement_line", ["statement_id", "order_no"]
    )
    op.create_table(
        "recon_run",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("statement_id", BIG_ID, nullable=False),
        _ts("started_at"),
        _ts("finished_at"),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("missing_ours", sa.Integer(), nullable=False),
        sa.Column("missing_theirs", sa.Integer(), nullable=False),
        sa.Column("amount_mismatch", sa.Integer(), nullable=False),
        sa.Column("status_mismatch", sa.Integer(), nullable=False),
        sa.Column("statement_total", AMOUNT, nullable=False),
        sa.Column("matched_total", AMOUNT, nullable=False),
        sa.Column("fees", AMOUNT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_run")),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["channel_statement.id"],
            name=op.f("fk_recon_run_statement_id_channel_statement"),
        ),
    )
    op.create_index("ix_recon_run_day", "recon_run", ["channel", "business_date"])
    op.create_table(
        "recon_exception",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("order_no", sa.String(64), nullable=False),
        sa.Column("payment_kind", sa.String(16), nullable=False),
        sa.Column("loan_id", BIG_ID),
        sa.Column("statement_amount", AMOUNT),
        sa.Column("statement_status", sa.String(16)),
        sa.Column("order_amount", AMOUNT),
        sa.Column("order_status", sa.String(16)),
        sa.Column("ledger_amount", AMOUNT),
        sa.Column("settled_on", sa.Date()),
        sa.Column("detail", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_id", BIG_ID, nullable=False),
        _ts("created_at"),
        _ts("resolved_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_exception")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["recon_run.id"], name=op.f("fk_recon_exception_run_id_recon_run")
        ),
        sa.UniqueConstraint(
            "channel", "business_date", "kind", "order_no", name="uq_recon_exception_key"
        ),
    )
    op.create_index("ix_recon_exception_open", "recon_exception", ["status", "business_date"])
    op.create_table(
        "recon_resolution",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("exception_id", BIG_ID, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.String(256), nullable=False),
        sa.Column("entry_ids", sa.JSON(), nullable=False),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_resolution")),
        sa.ForeignKeyConstraint(
            ["exception_id"],
            ["recon_exception.id"],
            name=op.f("fk_recon_resolution_exception_id_recon_exception"),
        ),
        sa.UniqueConstraint("exception_id", name=op.f("uq_recon_resolution_exception_id")),
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
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION lendkit_history_append_only()"
            )
    else:
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: add a row instead'); END"
                )
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
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
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
