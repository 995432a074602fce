"""kernel: borrowers' KYC history and consents

Revision ID: k0008
Revises: k0007
Create Date: 2026-11-26
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "k0008"
down_revision = "k0007"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# A consent's terms never change; only revoked_at is set, once.
CONSENT_FIXED = (
    "borrower_id",
    "purpose",
    "text_version",
    "text_digest",
    "channel",
    "granted_at",
)


def _ts(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("borrower", sa.Column("card_phone", sa.LargeBinary()))
    op.add_column("borrower", _ts("verified_at", nullable=True))
    op.create_table(
        "kyc_transition",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("borrower_id", BIG_ID, nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(64)),
        sa.Column("reference", sa.String(128)),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("id_number_index", sa.LargeBinary(32)),
        _ts("occurred_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_transition")),
        sa.ForeignKeyConstraint(
            ["borrower_id"],
            ["borrower.id"],
            name=op.f("fk_kyc_transition_borrower_id_borrower"),
        ),
    )
    op.create_index("ix_kyc_transition_borrower", "kyc_transition", ["borrower_id", "id"])
    op.create_index("ix_kyc_transition_id_number_index", "kyc_transition", ["id_number_index"])
    op.create_table(
        "consent",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("borrower_id", BIG_ID, nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("text_version", sa.String(32), nullable=False),
        sa.Column("text_digest", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        _ts("granted_at"),
        _ts("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrower.id"], name=op.f("fk_consent_borrower_id_borrower")
        ),
    )
    op.create_index("ix_consent_borrower_purpose", "consent", ["borrower_id", "purpose"])
    op.create_index(
        "uq_consent_active",
        "consent",
        ["borrower_id", "purpose", "text_version"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    _guard_history()


def _guard_history() -> None:
    """The database itself refuses to rewrite KYC history or a consent's terms."""
    if op.get_bind().dialect.name == "postgresql":
        # lendkit_history_append_only() comes with k0007.
        op.execute(
            "CREATE TRIGGER kyc_transition_append_only BEFORE UPDATE OR DELETE ON kyc_transition "
            "FOR EACH ROW EXECUTE FUNCTION lendkit_history_append_only()"
        )
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in CONSENT_FIXED)
        op.execute(
            "CREATE FUNCTION consent_guard() RETURNS trigger AS $$ BEGIN "
            "IF TG_OP = 'DELETE' THEN "
            "RAISE EXCEPTION 'consent is append-only: revoke instead of deleting'; END IF; "
            f"IF OLD.revoked_at IS NOT NULL OR {changed} THEN "
            "RAISE EXCEPTION 'consent: only revoked_at may be set, once'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER consent_guard BEFORE UPDATE OR DELETE ON consent "
            "FOR EACH ROW EXECUTE FUNCTION consent_guard()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER kyc_transition_no_{action.lower()} BEFORE {action} ON kyc_transition "
            "BEGIN SELECT RAISE(ABORT, 'kyc_transition is append-only: add a row instead'); END"
        )
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in CONSENT_FIXED)
    op.execute(
        "CREATE TRIGGER consent_no_delete BEFORE DELETE ON consent "
        "BEGIN SELECT RAISE(ABORT, 'consent is append-only: revoke instead of deleting'); END"
    )
    op.execute(
        "CREATE TRIGGER consent_fixed BEFORE UPDATE ON consent "
        f"WHEN OLD.revoked_at IS NOT NULL OR {changed} "
        "BEGIN SELECT RAISE(ABORT, 'consent: only revoked_at may be set, once'); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER consent_guard ON consent")
        op.execute("DROP FUNCTION consent_guard()")
        op.execute("DROP TRIGGER kyc_transition_append_only ON kyc_transition")
    op.drop_index("uq_consent_active", table_name="consent")
    op.drop_index("ix_consent_borrower_purpose", table_name="consent")
    op.drop_table("consent")  # SQLite drops a table's triggers with it
    op.drop_index("ix_kyc_transition_id_number_index", table_name="kyc_transition")
    op.drop_index("ix_kyc_transition_borrower", table_name="kyc_transition")
    op.drop_table("kyc_transition")
    with op.batch_alter_table("borrower") as batch:
        batch.drop_column("verified_at")
        batch.drop_column("card_phone")
