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

revision = "k0009"
down_revision = "k0008"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AMOUNT = sa.Numeric(18, 2)
RATE = sa.Numeric(9, 6)
TS = sa.DateTime(timezone=True)


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


def _money(name: str) -> sa.Column[object]:
    return sa.Column(name, AMOUNT, nullable=False)


def upgrade() -> None:
    op.create_index("ix_journal_line_entry", "journal_line", ["entry_id"])
    op.create_table(
        "loan",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("borrower_id", BIG_ID, nullable=False),
        sa.Column("product_code", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        _money("principal"),
        sa.Column("term", sa.SmallInteger(), nullable=False),
        sa.Column("method", sa.String(24), nullable=False),
        sa.Column("annual_rate", RATE, nullable=False),
        sa.Column("penalty_rate", RATE, nullable=False),
        sa.Column("day_count", sa.SmallInteger(), nullable=False),
        sa.Column("grace_days", sa.SmallInteger(), nullable=False),
        _money("upfront_fee"),
        _money("instalment_fee"),
        sa.Column("shift_holidays", sa.Boolean(), nullable=False),
        sa.Column("repayment_day", sa.SmallInteger()),
        sa.Column("allocation_order", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("disbursed_on", sa.Date()),
        sa.Column("next_period", sa.SmallInteger(), nullable=False),
        sa.Column("dpd", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(4), nullable=False),
        sa.Column("classification", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan")),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrower.id"], name=op.f("fk_loan_borrower_id_borrower")
        ),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_loan_idempotency_key")),
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
        _money("principal"),
        _money("interest"),
        _money("fee"),
        _money("interest_accrued"),
        _money("fee_accrued"),
        _money("paid_principal"),
        _money("paid_interest"),
        _money("paid_fee"),
        sa.Column("status", sa.String(12), nullable=False),
        sa.PrimaryKeyConstraint("loan_id", "period", name=op.f("pk_loan_instalment")),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loan.id"], name=op.f("fk_loan_instalment_loan_id_loan")
        ),
        postgresql_with={"fillfactor": 80},
    )
    op.create_table(
        "loan_event",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16)),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_event")),
        sa.ForeignKeyConstraint(["loan_id"], ["loan.id"], name=op.f("fk_loan_event_loan_id_loan")),
    )
    op.create_index(op.f("ix_loan_event_loan_id"), "loan_event", ["loan_id"])
    op.create_table(
        "eod_run",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("loans", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.PrimaryKeyConstraint("business_date", name=op.f("pk_eod_run")),
    )
    op.create_table(
        "eod_chunk",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("first_loan_id", sa.BigInteger(), nullable=False),
        sa.Column("last_loan_id", sa.BigInteger(), nullable=False),
        sa.Column("done_at", TS),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("business_date", "chunk", name=op.f("pk_eod_chunk")),
        sa.ForeignKeyConstraint(
            ["business_date"],
            ["eod_run.business_date"],
            name=op.f("fk_eod_chunk_business_date_eod_run"),
        ),
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
