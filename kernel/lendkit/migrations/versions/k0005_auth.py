"""kernel: authentication — sessions, one-time codes, lock-outs, nonces, API keys, sandbox

Revision ID: k0005
Revises: k0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "k0005"
down_revision = "k0004"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auth_session",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("last_seen_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("revoked_at", WHEN),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_session_token_hash")),
    )
    op.create_index("ix_auth_session_subject", "auth_session", ["kind", "subject_id"])
    op.create_table(
        "auth_otp",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("phone_index", sa.LargeBinary(32), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("consumed_at", WHEN),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_otp")),
    )
    op.create_index("ix_auth_otp_phone", "auth_otp", ["phone_index", "purpose", "created_at"])
    op.create_table(
        "auth_login_guard",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("subject_index", sa.LargeBinary(32), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", WHEN),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_login_guard")),
        sa.UniqueConstraint("subject_index", name=op.f("uq_auth_login_guard_subject_index")),
    )
    op.create_table(
        "auth_nonce",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(80), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_nonce")),
        sa.UniqueConstraint("scope", "value", name=op.f("uq_auth_nonce_scope")),
    )
    op.create_index("ix_auth_nonce_expires_at", "auth_nonce", ["expires_at"])
    op.create_table(
        "auth_api_key",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("last_used_at", WHEN),
        sa.Column("revoked_at", WHEN),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_api_key")),
        sa.UniqueConstraint("key_id", name=op.f("uq_auth_api_key_key_id")),
    )
    op.create_table(
        "notification_sandbox",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.LargeBinary(), nullable=False),
        sa.Column("recipient_masked", sa.String(32), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("text", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_sandbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_notification_sandbox_message_id")),
    )


def downgrade() -> None:
    op.drop_table("notification_sandbox")
    op.drop_table("auth_api_key")
    op.drop_index("ix_auth_nonce_expires_at", table_name="auth_nonce")
    op.drop_table("auth_nonce")
    op.drop_table("auth_login_guard")
    op.drop_index("ix_auth_otp_phone", table_name="auth_otp")
    op.drop_table("auth_otp")
    op.drop_index("ix_auth_session_subject", table_name="auth_session")
    op.drop_table("auth_session")
