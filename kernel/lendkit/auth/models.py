"""The tables of authentication: sessions, one-time codes, lock-outs, API keys.

No secret is stored in a form that lets a database reader use it: session
tokens and one-time codes are stored as SM3 / HMAC-SM3 digests, API-key
secrets SM4-encrypted (:class:`Encrypted`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lendkit.crypto.orm import Encrypted, EncryptedRow
from lendkit.db import Base, BigId, UTCDateTime, utcnow

__all__ = ["ApiKey", "AuthSession", "LoginGuard", "OtpCode", "UsedNonce"]


class AuthSession(Base):
    """A signed-in browser or app: the cookie holds the token, we keep its SM3."""

    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # staff | borrower
    subject_id: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))  # as written in the audit log
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # absolute limit
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_auth_session_subject", "kind", "subject_id"),)


class OtpCode(Base):
    """An SMS one-time code, kept only as HMAC-SM3 of phone index and code."""

    __tablename__ = "auth_otp"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    phone_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    purpose: Mapped[str] = mapped_column(String(16))  # login
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_auth_otp_phone", "phone_index", "purpose", "created_at"),)


class LoginGuard(Base):
    """Failed sign-ins of a borrower's phone (by blind index, known or not)."""

    __tablename__ = "auth_login_guard"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsedNonce(Base):
    """A nonce (API request) or TOTP step already used: refused if seen again."""

    __tablename__ = "auth_nonce"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(80))
    value: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("scope", "value"),
        Index("ix_auth_nonce_expires_at", "expires_at"),
    )


class ApiKey(EncryptedRow, Base):
    """A machine client: signs requests with HMAC-SM3; the secret is SM4-encrypted."""

    __tablename__ = "auth_api_key"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    secret: Mapped[str] = mapped_column(Encrypted())
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
