"""kernel: double-entry ledger (append-only; balanced entries enforced on PostgreSQL)

Revision ID: k0006
Revises: k0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "k0006"
down_revision = "k0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AMOUNT = sa.Numeric(18, 2)
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
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_account")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_account_code")),
    )
    op.create_table(
        "journal_entry",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("cause", sa.String(128), nullable=False),
        sa.Column("memo", sa.String(256), nullable=False),
        sa.Column("reverses_id", BIG_ID),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entry")),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["journal_entry.id"],
            name=op.f("fk_journal_entry_reverses_id_journal_entry"),
        ),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_journal_entry_idempotency_key")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_journal_entry_reverses_id")),
    )
    op.create_index(op.f("ix_journal_entry_business_date"), "journal_entry", ["business_date"])
    op.create_table(
        "journal_line",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("entry_id", BIG_ID, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("loan_id", sa.BigInteger()),
        sa.Column("source", sa.String(32)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_line")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entry.id"], name=op.f("fk_journal_line_entry_id_journal_entry")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_account.id"],
            name=op.f("fk_journal_line_account_id_ledger_account"),
        ),
    )
    op.create_index("ix_journal_line_account", "journal_line", ["account_id", "entry_id"])
    op.create_index("ix_journal_line_loan", "journal_line", ["loan_id"])
    op.create_table(
        "account_balance",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("balance", AMOUNT, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "bucket", name=op.f("pk_account_balance")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_account.id"],
            name=op.f("fk_account_balance_account_id_ledger_account"),
        ),
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
