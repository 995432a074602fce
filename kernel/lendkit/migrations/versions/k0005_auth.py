"""kernel: authentication — sessions, one-time codes, lock-outs, nonces, API keys, sandbox

Revision ID: k0005
Revises: k0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from lendkit.migrations import columns as col

revision = "k0005"
down_revision = "k0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_session",
        col.id_column(),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        col.timestamp("created_at"),
        col.timestamp("last_seen_at"),
        col.timestamp("expires_at"),
        col.timestamp("revoked_at", nullable=True),
        col.primary_key("auth_session"),
        col.unique("auth_session", "token_hash"),
    )
    op.create_index("ix_auth_session_subject", "auth_session", ["kind", "subject_id"])
    op.create_table(
        "auth_otp",
        col.id_column(),
        sa.Column("phone_index", sa.LargeBinary(32), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
        col.timestamp("created_at"),
        col.timestamp("expires_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        col.timestamp("consumed_at", nullable=True),
        col.primary_key("auth_otp"),
    )
    op.create_index("ix_auth_otp_phone", "auth_otp", ["phone_index", "purpose", "created_at"])
    op.create_table(
        "auth_login_guard",
        col.id_column(),
        sa.Column("subject_index", sa.LargeBinary(32), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        col.timestamp("locked_until", nullable=True),
        col.primary_key("auth_login_guard"),
        col.unique("auth_login_guard", "subject_index"),
    )
    op.create_table(
        "auth_nonce",
        col.id_column(),
        sa.Column("scope", sa.String(80), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        col.timestamp("expires_at"),
        col.primary_key("auth_nonce"),
        col.unique("auth_nonce", "scope", "value"),
    )
    op.create_index("ix_auth_nonce_expires_at", "auth_nonce", ["expires_at"])
    op.create_table(
        "auth_api_key",
        col.id_column(),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        col.timestamp("created_at"),
        col.timestamp("last_used_at", nullable=True),
        col.timestamp("revoked_at", nullable=True),
        col.primary_key("auth_api_key"),
        col.unique("auth_api_key", "key_id"),
    )
    op.create_table(
        "notification_sandbox",
        col.id_column(),
        sa.Column("row_key", sa.LargeBinary(16), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.LargeBinary(), nullable=False),
        sa.Column("recipient_masked", sa.String(32), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("text", sa.LargeBinary(), nullable=False),
        col.timestamp("created_at"),
        col.primary_key("notification_sandbox"),
        col.unique("notification_sandbox", "message_id"),
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
