"""The audit log: append-only, each row MAC'd, chained by SM3, checkpoints signed with SM2.

Writers call :func:`record` inside their own transaction; the row carries an
HMAC-SM3 of its content (key held by the tenant's key ring, so rows cannot
be forged by someone with database access alone). A sealer (a worker job)
then chains rows in commit order — ``chain = SM3(previous chain ‖ seq ‖
mac)`` — so auditing never serializes the writes it audits, and every so
often signs the head with SM2. :func:`verify` names the first altered,
inserted or missing row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac
from sqlalchemy import BigInteger, Index, LargeBinary, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from lendkit.db import Base, BigId, Json, UTCDateTime, utcnow
from lendkit.logs import REQUEST_ID

__all__ = ["AuditCheckpoint", "AuditEntry", "record"]


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(Json)
    mac: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Assigned by the sealer, in commit order.
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    chain: Mapped[bytes | None] = mapped_column(LargeBinary(32))

    __table_args__ = (Index("ix_audit_log_unsealed", "seq", "id"),)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    chain: Mapped[bytes] = mapped_column(LargeBinary(32))
    signature: Mapped[str] = mapped_column(String(128))
    public_key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


def canonical(entry: AuditEntry) -> bytes:
    """The bytes the MAC covers: every field a reader relies on."""
    return json.dumps(
        [
            entry.occurred_at.isoformat(),
            entry.actor,
            entry.action,
            entry.object,
            entry.outcome,
            entry.request_id,
            entry.details,
        ],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def mac_of(key: bytes, entry: AuditEntry) -> bytes:
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(canonical(entry))
    return mac.finalize()


def record(
    session: Session,
    actor: str,
    action: str,
    object: str,  # noqa: A002 - the audit vocabulary's own word
    outcome: str = "success",
    **details: Any,
) -> AuditEntry:
    """Append an audit row in the caller's transaction (never personal data in details)."""
    from lendkit.crypto.orm import keyring_of

    entry = AuditEntry(
        occurred_at=utcnow(),
        actor=actor,
        action=action,
        object=object,
        outcome=outcome,
        request_id=REQUEST_ID.get(),
        details=details,
    )
    entry.mac = mac_of(keyring_of(session).single(session.connection(), "audit"), entry)
    session.add(entry)
    return entry
