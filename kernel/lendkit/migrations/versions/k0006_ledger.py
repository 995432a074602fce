"""kernel: double-entry ledger (append-only; balanced entries enforced on PostgreSQL)

Revision ID: k0006
Revises: k0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0006"
down_revision = "k0005"
branch_labels = None
depends_on = None

JOURNAL = ("journal_entry", "journal_line")

PG_APPEND_ONLY = """
CREATE FUNCTION lendkit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the journal is append-only: post a reversing entry instead';
END $$ LANGUAGE plpgsql;
"""
PG_BALANCED = """
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
    op.create_table(
        "ledger_account",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(96), nullable=False),
        col.timestamp("created_at"),
        col.primary_key("ledger_account"),
        col.unique("ledger_account", "code"),
    )
    op.create_table(
        "journal_entry",
        col.id_column(),
        sa.Column("business_date", sa.Date(), nullable=False),
        col.timestamp("posted_at"),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("cause", sa.String(128), nullable=False),
        sa.Column("memo", sa.String(256), nullable=False),
        sa.Column("reverses_id", col.BIG_ID),
        col.primary_key("journal_entry"),
        col.foreign_key("journal_entry", "reverses_id", "journal_entry.id"),
        col.unique("journal_entry", "idempotency_key"),
        col.unique("journal_entry", "reverses_id"),
    )
    op.create_index(op.f("ix_journal_entry_business_date"), "journal_entry", ["business_date"])
    op.create_table(
        "journal_line",
        col.id_column(),
        sa.Column("entry_id", col.BIG_ID, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        col.money("amount"),
        sa.Column("loan_id", sa.BigInteger()),
        sa.Column("source", sa.String(32)),
        col.primary_key("journal_line"),
        col.foreign_key("journal_line", "entry_id", "journal_entry.id"),
        col.foreign_key("journal_line", "account_id", "ledger_account.id"),
    )
    op.create_index("ix_journal_line_account", "journal_line", ["account_id", "entry_id"])
    op.create_index("ix_journal_line_loan", "journal_line", ["loan_id"])
    op.create_table(
        "account_balance",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        col.money("balance"),
        col.primary_key("account_balance", "account_id", "bucket"),
        col.foreign_key("account_balance", "account_id", "ledger_account.id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_APPEND_ONLY)
        for table in JOURNAL:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION lendkit_append_only()"
            )
        op.execute(PG_BALANCED)
    else:
        for table in JOURNAL:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'the journal is append-only: post a reversing entry instead'); END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER journal_line_balanced ON journal_line")
        for table in JOURNAL:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION lendkit_entry_balanced()")
        op.execute("DROP FUNCTION lendkit_append_only()")
    op.drop_table("account_balance")
    op.drop_table("journal_line")
    op.drop_table("journal_entry")
    op.drop_table("ledger_account")
