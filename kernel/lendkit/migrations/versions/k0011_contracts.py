"""kernel: loan agreements (encrypted PDF + SM3 digest) and their signature history

Revision ID: k0011
Revises: k0010
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0011"
down_revision = "k0010"
branch_labels = None
depends_on = None

DIGEST = sa.String(64)
# What the borrower read never changes once rendered; the signed digest is set once.
FIXED = (
    "loan_id",
    "borrower_id",
    "number",
    "template",
    "template_version",
    "template_origin",
    "template_sm3",
    "sm3",
    "size",
    "created_at",
)


def upgrade() -> None:
    op.create_table(
        "contract",
        col.id_column(),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("borrower_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.String(48), nullable=False),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("template_version", sa.String(64), nullable=False),
        sa.Column("template_origin", sa.String(16), nullable=False),
        sa.Column("template_sm3", DIGEST, nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("sm3", DIGEST, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("signed_pdf", sa.LargeBinary()),
        sa.Column("signed_sm3", DIGEST),
        col.timestamp("signed_at", nullable=True),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        col.timestamp("created_at"),
        col.primary_key("contract"),
        col.foreign_key("contract", "loan_id", "loan.id"),
        col.foreign_key("contract", "borrower_id", "borrower.id"),
        col.unique("contract", "loan_id"),
        col.unique("contract", "number"),
    )
    op.create_table(
        "contract_signature",
        col.id_column(),
        sa.Column("contract_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("request_no", sa.String(48), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("vendor", sa.String(64)),
        sa.Column("vendor_ref", sa.String(128)),
        sa.Column("sign_url", sa.String(500)),
        sa.Column("signed_sm3", DIGEST),
        col.timestamp("signed_at", nullable=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        col.timestamp("at"),
        col.primary_key("contract_signature"),
        col.foreign_key("contract_signature", "contract_id", "contract.id"),
        col.foreign_key("contract_signature", "loan_id", "loan.id"),
    )
    op.create_index("ix_contract_signature_loan", "contract_signature", ["loan_id", "id"])
    op.create_index("ix_contract_signature_request", "contract_signature", ["request_no", "id"])
    _guards()


def _guards() -> None:
    """The history is append-only; a contract's terms and signed digest never change."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    distinct = "IS DISTINCT FROM" if postgresql else "IS NOT"
    changed = " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in FIXED)
    changed += f" OR (OLD.signed_sm3 IS NOT NULL AND OLD.signed_sm3 {distinct} NEW.signed_sm3)"
    message = "contract: the rendered terms and the signed digest never change"
    col.append_only(["contract_signature"])
    if postgresql:
        op.execute(
            "CREATE FUNCTION contract_fixed() RETURNS trigger AS $$ BEGIN "
            f"IF {changed} THEN RAISE EXCEPTION '{message}'; END IF; RETURN NEW; "
            "END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER contract_fixed BEFORE UPDATE ON contract "
            "FOR EACH ROW EXECUTE FUNCTION contract_fixed()"
        )
        return
    op.execute(
        f"CREATE TRIGGER contract_fixed BEFORE UPDATE ON contract WHEN {changed} "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
    )


def downgrade() -> None:
    col.drop_append_only(["contract_signature"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER contract_fixed ON contract")
        op.execute("DROP FUNCTION contract_fixed()")
    op.drop_index("ix_contract_signature_request", table_name="contract_signature")
    op.drop_index("ix_contract_signature_loan", table_name="contract_signature")
    op.drop_table("contract_signature")  # SQLite drops a table's triggers with it
    op.drop_table("contract")
