"""kernel: collections — cases, assignments, promises to pay, notes, contacts, reminders

Assignments, notes and contacts are append-only; a case's opening never
changes and a closed case stays closed; a promise's terms never change and
its outcome is written once.

Revision ID: k0012
Revises: k0011
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0012"
down_revision = "k0011"
branch_labels = None
depends_on = None

ACTOR = sa.String(64)

APPEND_ONLY = ("collection_assignment", "collection_note", "collection_contact")
# Table -> (columns that never change, the condition under which nothing may change).
FIXED = {
    "collection_case": (
        ("loan_id", "borrower_id", "opened_on", "opened_by", "opened_at"),
        "OLD.status = 'closed'",
    ),
    "collection_promise": (
        ("case_id", "loan_id", "amount", "promised_date", "made_on", "made_by", "made_at"),
        "OLD.status <> 'open'",
    ),
}


def upgrade() -> None:
    op.create_table(
        "collection_case",
        col.id_column(),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("borrower_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("collector_id", sa.BigInteger()),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("opened_by", ACTOR, nullable=False),
        col.timestamp("opened_at"),
        sa.Column("closed_on", sa.Date()),
        col.timestamp("closed_at", nullable=True),
        sa.Column("close_reason", sa.String(32)),
        col.primary_key("collection_case"),
        col.foreign_key("collection_case", "loan_id", "loan.id"),
        col.foreign_key("collection_case", "borrower_id", "borrower.id"),
        col.foreign_key("collection_case", "collector_id", "staff_user.id"),
    )
    op.create_index(
        "uq_collection_case_open",
        "collection_case",
        ["loan_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_collection_case_loan", "collection_case", ["loan_id", "id"])
    op.create_index("ix_collection_case_collector", "collection_case", ["collector_id", "status"])
    op.create_table(
        "collection_assignment",
        col.id_column(),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("collector_id", sa.BigInteger()),
        sa.Column("previous_id", sa.BigInteger()),
        sa.Column("assigned_by", ACTOR, nullable=False),
        sa.Column("note", sa.Text()),
        col.timestamp("at"),
        col.primary_key("collection_assignment"),
        col.foreign_key("collection_assignment", "case_id", "collection_case.id"),
        col.foreign_key("collection_assignment", "loan_id", "loan.id"),
        col.foreign_key("collection_assignment", "collector_id", "staff_user.id"),
        col.foreign_key("collection_assignment", "previous_id", "staff_user.id"),
    )
    op.create_index("ix_collection_assignment_case", "collection_assignment", ["case_id", "id"])
    op.create_table(
        "collection_note",
        col.id_column(),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("author", ACTOR, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        col.timestamp("at"),
        col.primary_key("collection_note"),
        col.foreign_key("collection_note", "case_id", "collection_case.id"),
        col.foreign_key("collection_note", "loan_id", "loan.id"),
    )
    op.create_index("ix_collection_note_case", "collection_note", ["case_id", "id"])
    op.create_table(
        "collection_contact",
        col.id_column(),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("borrower_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("actor", ACTOR, nullable=False),
        col.timestamp("at"),
        sa.Column("attempt_id", sa.BigInteger()),
        sa.Column("provider", sa.String(64)),
        sa.Column("reference", sa.String(128)),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        col.primary_key("collection_contact"),
        col.foreign_key("collection_contact", "case_id", "collection_case.id"),
        col.foreign_key("collection_contact", "loan_id", "loan.id"),
        col.foreign_key("collection_contact", "borrower_id", "borrower.id"),
        col.foreign_key("collection_contact", "attempt_id", "collection_contact.id"),
    )
    op.create_index(
        "ix_collection_contact_borrower_at", "collection_contact", ["borrower_id", "at"]
    )
    op.create_index("ix_collection_contact_case", "collection_contact", ["case_id", "id"])
    op.create_table(
        "collection_promise",
        col.id_column(),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        col.money("amount"),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("made_by", ACTOR, nullable=False),
        col.timestamp("made_at"),
        sa.Column("status", sa.String(8), nullable=False),
        col.money("paid", nullable=True),
        sa.Column("evaluated_on", sa.Date()),
        col.timestamp("evaluated_at", nullable=True),
        col.primary_key("collection_promise"),
        col.foreign_key("collection_promise", "case_id", "collection_case.id"),
        col.foreign_key("collection_promise", "loan_id", "loan.id"),
    )
    op.create_index("ix_collection_promise_due", "collection_promise", ["status", "promised_date"])
    op.create_index("ix_collection_promise_case", "collection_promise", ["case_id", "id"])
    op.create_table(
        "collection_reminder",
        col.id_column(),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("borrower_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.SmallInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        col.money("amount"),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("message_id", sa.String(128)),
        sa.Column("reason", sa.String(32)),
        col.timestamp("created_at"),
        col.timestamp("sent_at", nullable=True),
        col.primary_key("collection_reminder"),
        col.unique("collection_reminder", "event_id"),
        col.foreign_key("collection_reminder", "loan_id", "loan.id"),
        col.foreign_key("collection_reminder", "borrower_id", "borrower.id"),
    )
    op.create_index("ix_collection_reminder_status", "collection_reminder", ["status", "id"])
    _guards()


def _guards() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    distinct = "IS DISTINCT FROM" if postgresql else "IS NOT"
    col.append_only(APPEND_ONLY)
    for table, (columns, frozen) in FIXED.items():
        changed = " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)
        message = f"{table}: {', '.join(columns)} never change, nor a settled row"
        if postgresql:
            op.execute(
                f"CREATE FUNCTION {table}_fixed() RETURNS trigger AS $$ BEGIN "
                f"IF TG_OP = 'DELETE' OR {frozen} OR {changed} THEN "
                f"RAISE EXCEPTION '{message}'; END IF; RETURN NEW; "
                "END $$ LANGUAGE plpgsql"
            )
            op.execute(
                f"CREATE TRIGGER {table}_fixed BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_fixed()"
            )
            continue
        op.execute(
            f"CREATE TRIGGER {table}_fixed BEFORE UPDATE ON {table} WHEN {frozen} OR {changed} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} rows are never deleted'); END"
        )


def downgrade() -> None:
    col.drop_append_only(APPEND_ONLY)
    if op.get_bind().dialect.name == "postgresql":
        for table in FIXED:
            op.execute(f"DROP TRIGGER {table}_fixed ON {table}")
            op.execute(f"DROP FUNCTION {table}_fixed()")
    # SQLite drops a table's triggers with it.
    op.drop_table("collection_reminder")
    op.drop_table("collection_promise")
    op.drop_table("collection_contact")
    op.drop_table("collection_note")
    op.drop_table("collection_assignment")
    op.drop_table("collection_case")
