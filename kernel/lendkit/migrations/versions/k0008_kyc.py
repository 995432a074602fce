"""kernel: borrowers' KYC history and consents

Revision ID: k0008
Revises: k0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0008"
down_revision = "k0007"
branch_labels = None
depends_on = None

# A consent's terms never change; only revoked_at is set, once.
CONSENT_FIXED = (
    "borrower_id",
    "purpose",
    "text_version",
    "text_digest",
    "channel",
    "granted_at",
)


def upgrade() -> None:
    op.add_column("borrower", sa.Column("card_phone", sa.LargeBinary()))
    op.add_column("borrower", col.timestamp("verified_at", nullable=True))
    op.create_table(
        "kyc_transition",
        col.id_column(),
        sa.Column("borrower_id", col.BIG_ID, nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(64)),
        sa.Column("reference", sa.String(128)),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("id_number_index", sa.LargeBinary(32)),
        col.timestamp("occurred_at"),
        col.primary_key("kyc_transition"),
        col.foreign_key("kyc_transition", "borrower_id", "borrower.id"),
    )
    op.create_index("ix_kyc_transition_borrower", "kyc_transition", ["borrower_id", "id"])
    op.create_index("ix_kyc_transition_id_number_index", "kyc_transition", ["id_number_index"])
    op.create_table(
        "consent",
        col.id_column(),
        sa.Column("borrower_id", col.BIG_ID, nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("text_version", sa.String(32), nullable=False),
        sa.Column("text_digest", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        col.timestamp("granted_at"),
        col.timestamp("revoked_at", nullable=True),
        col.primary_key("consent"),
        col.foreign_key("consent", "borrower_id", "borrower.id"),
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
    col.append_only(["kyc_transition"])
    if op.get_bind().dialect.name == "postgresql":
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
