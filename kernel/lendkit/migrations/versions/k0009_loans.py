"""kernel: loans, instalments, loan history (append-only), end-of-day runs

Also makes PostgreSQL's balance check scale to batch entries: k0006 summed
an entry's lines once per line at commit (quadratic in the entry's size, and
without an index on ``entry_id`` a scan of the journal each time); now one
statement-level trigger sums, once, every entry a statement touched. An
entry's lines must therefore be written in one statement, as ``ledger.post``
and ``batch.post_lines`` do.

Revision ID: k0009
Revises: k0008
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0009"
down_revision = "k0008"
branch_labels = None
depends_on = None


PG_BALANCED = """
CREATE FUNCTION lendkit_entries_balanced() RETURNS trigger AS $$
DECLARE
  unbalanced bigint;
BEGIN
  SELECT l.entry_id INTO unbalanced FROM journal_line l
  WHERE l.entry_id IN (SELECT DISTINCT entry_id FROM added)
  GROUP BY l.entry_id HAVING SUM(l.amount) <> 0 LIMIT 1;
  IF unbalanced IS NOT NULL THEN
    RAISE EXCEPTION 'journal entry % does not balance', unbalanced;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
DROP TRIGGER journal_line_balanced ON journal_line;
DROP FUNCTION lendkit_entry_balanced();
CREATE TRIGGER journal_line_balanced AFTER INSERT ON journal_line
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION lendkit_entries_balanced();
"""
PG_BALANCED_K0006 = """
DROP TRIGGER journal_line_balanced ON journal_line;
DROP FUNCTION lendkit_entries_balanced();
CREATE FUNCTION lendkit_entry_balanced() RETURNS trigger AS $$
BEGIN
  IF (SELECT COALESCE(SUM(amount), 0) FROM journal_line WHERE entry_id = NEW.entry_id) <> 0 THEN
    RAISE EXCEPTION 'journal entry % does not balance', NEW.entry_id;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER journal_line_balanced AFTER INSERT ON journal_line
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lendkit_entry_balanced();
"""


def upgrade() -> None:
    op.create_index("ix_journal_line_entry", "journal_line", ["entry_id"])
    op.create_table(
        "loan",
        col.id_column(),
        sa.Column("borrower_id", col.BIG_ID, nullable=False),
        sa.Column("product_code", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        col.money("principal"),
        sa.Column("term", sa.SmallInteger(), nullable=False),
        sa.Column("method", sa.String(24), nullable=False),
        sa.Column("annual_rate", col.RATE, nullable=False),
        sa.Column("penalty_rate", col.RATE, nullable=False),
        sa.Column("day_count", sa.SmallInteger(), nullable=False),
        sa.Column("grace_days", sa.SmallInteger(), nullable=False),
        col.money("upfront_fee"),
        col.money("instalment_fee"),
        sa.Column("shift_holidays", sa.Boolean(), nullable=False),
        sa.Column("repayment_day", sa.SmallInteger()),
        sa.Column("allocation_order", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("disbursed_on", sa.Date()),
        sa.Column("next_period", sa.SmallInteger(), nullable=False),
        sa.Column("dpd", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(4), nullable=False),
        sa.Column("classification", sa.String(16), nullable=False),
        col.timestamp("created_at"),
        col.primary_key("loan"),
        col.foreign_key("loan", "borrower_id", "borrower.id"),
        col.unique("loan", "idempotency_key"),
        postgresql_with={"fillfactor": 80},
    )
    op.create_index("ix_loan_status", "loan", ["status", "id"])
    op.create_index("ix_loan_borrower", "loan", ["borrower_id"])
    op.create_table(
        "loan_instalment",
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.SmallInteger(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        col.money("principal"),
        col.money("interest"),
        col.money("fee"),
        col.money("interest_accrued"),
        col.money("fee_accrued"),
        col.money("paid_principal"),
        col.money("paid_interest"),
        col.money("paid_fee"),
        sa.Column("status", sa.String(12), nullable=False),
        col.primary_key("loan_instalment", "loan_id", "period"),
        col.foreign_key("loan_instalment", "loan_id", "loan.id"),
        postgresql_with={"fillfactor": 80},
    )
    op.create_table(
        "loan_event",
        col.id_column(),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16)),
        sa.Column("detail", sa.JSON(), nullable=False),
        col.timestamp("at"),
        col.primary_key("loan_event"),
        col.foreign_key("loan_event", "loan_id", "loan.id"),
    )
    op.create_index(op.f("ix_loan_event_loan_id"), "loan_event", ["loan_id"])
    op.create_table(
        "eod_run",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("loans", sa.Integer(), nullable=False),
        col.timestamp("started_at"),
        col.timestamp("finished_at", nullable=True),
        col.primary_key("eod_run", "business_date"),
    )
    op.create_table(
        "eod_chunk",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("first_loan_id", sa.BigInteger(), nullable=False),
        sa.Column("last_loan_id", sa.BigInteger(), nullable=False),
        col.timestamp("done_at", nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        col.primary_key("eod_chunk", "business_date", "chunk"),
        col.foreign_key("eod_chunk", "business_date", "eod_run.business_date"),
    )
    op.create_index("ix_eod_chunk_todo", "eod_chunk", ["business_date", "done_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_BALANCED)
        op.execute(
            "CREATE TRIGGER loan_event_append_only BEFORE UPDATE OR DELETE ON loan_event "
            "FOR EACH ROW EXECUTE FUNCTION lendkit_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER loan_event_no_{action.lower()} BEFORE {action} ON loan_event "
                "BEGIN SELECT RAISE(ABORT, 'loan history is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER loan_event_append_only ON loan_event")
        op.execute(PG_BALANCED_K0006)
    op.drop_table("eod_chunk")
    op.drop_table("eod_run")
    op.drop_table("loan_event")
    op.drop_table("loan_instalment")
    op.drop_table("loan")
    op.drop_index("ix_journal_line_entry", table_name="journal_line")
