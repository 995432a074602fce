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

revision = "k0012"
down_revision = "k0011"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AMOUNT = sa.Numeric(18, 2)
TS = sa.DateTime(timezone=True)
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


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    other = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=op.f(f"fk_{table}_{column}_{other}"))


def upgrade() -> None:
    op.create_table(
        "collection_case",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("borrower_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("collector_id", sa.BigInteger()),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("opened_by", ACTOR, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("closed_on", sa.Date()),
        sa.Column("closed_at", TS),
        sa.Column("close_reason", sa.String(32)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_case")),
        _fk("collection_case", "loan_id", "loan.id"),
        _fk("collection_case", "borrower_id", "borrower.id"),
        _fk("collection_case", "collector_id", "staff_user.id"),
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
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("collector_id", sa.BigInteger()),
        sa.Column("previous_id", sa.BigInteger()),
        sa.Column("assigned_by", ACTOR, nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_assignment")),
        _fk("collection_assignment", "case_id", "collection_case.id"),
        _fk("collection_assignment", "loan_id", "loan.id"),
        _fk("collection_assignment", "collector_id", "staff_user.id"),
        _fk("collection_assignment", "previous_id", "staff_user.id"),
    )
    op.create_index("ix_collection_assignment_case", "collection_assignment", ["case_id", "id"])
    op.create_table(
        "collection_note",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("author", ACTOR, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_note")),
        _fk("collection_note", "case_id", "collection_case.id"),
        _fk("collection_note", "loan_id", "loan.id"),
    )
    op.create_index("ix_collection_note_case", "collection_note", ["case_id", "id"])
    op.create_table(
        "collection_contact",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("borrower_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("actor", ACTOR, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("attempt_id", sa.BigInteger()),
        sa.Column("provider", sa.String(64)),
        sa.Column("reference", sa.String(128)),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_contact")),
        _fk("collection_contact", "case_id", "collection_case.id"),
        _fk("collection_contact", "loan_id", "loan.id"),
        _fk("collection_contact", "borrower_id", "borrower.id"),
        _fk("collection_contact", "attempt_id", "collection_contact.id"),
    )
    op.create_index(
        "ix_collection_contact_borrower_at", "collection_contact", ["borrower_id", "at"]
    )
    op.create_index("ix_collection_contact_case", "collection_contact", ["case_id", "id"])
    op.create_table(
        "collection_promise",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("made_by", ACTOR, nullable=False),
        sa.Column("made_at", TS, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("paid", AMOUNT),
        sa.Column("evaluated_on", sa.Date()),
        sa.Column("evaluated_at", TS),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_promise")),
        _fk("collection_promise", "case_id", "collection_case.id"),
        _fk("collection_promise", "loan_id", "loan.id"),
    )
    op.create_index("ix_collection_promise_due", "collection_promise", ["status", "promised_date"])
    op.create_index("ix_collection_promise_case", "collection_promise", ["case_id", "id"])
    op.create_table(
        "collection_reminder",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("borrower_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.SmallInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("message_id", sa.String(128)),
        sa.Column("reason", sa.String(32)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_reminder")),
        sa.UniqueConstraint("event_id", name=op.f("uq_collection_reminder_event_id")),
        _fk("collection_reminder", "loan_id", "loan.id"),
        _fk("collection_reminder", "borrower_id", "borrower.id"),
    )
    op.create_index("ix_collection_reminder_status", "collection_reminder", ["status", "id"])
    _guards()


def _guards() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    distinct = "IS DISTINCT FROM" if postgresql else "IS NOT"
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
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
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
