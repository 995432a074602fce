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

from sqlalchemy import BigInteger, Index, LargeBinary, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from lendkit.crypto.sm3 import hmac_sm3, sm3
from lendkit.db import Base, BigId, Json, UTCDateTime, utcnow
from lendkit.logs import REQUEST_ID

__all__ = ["AuditCheckpoint", "AuditEntry", "Verdict", "checkpoint", "record", "seal", "verify"]


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
    return hmac_sm3(key, canonical(entry))


def record(
    session: Session,
    actor: str,
    action: str,
    object: str,
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


GENESIS = bytes(32)
_SEALER_LOCK = 0x6C656E64  # pg advisory lock key: one sealer at a time


def _link(previous: bytes, seq: int, mac: bytes) -> bytes:
    return sm3(previous + seq.to_bytes(8, "big") + mac)


def _checkpoint_message(seq: int, chain: bytes) -> bytes:
    return b"lendkit audit checkpoint\0" + seq.to_bytes(8, "big") + chain


def seal(session: Session, limit: int = 5000) -> int:
    """Chain unsealed rows in commit order; return how many were sealed."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_SEALER_LOCK)))
    head = session.execute(
        select(AuditEntry.seq, AuditEntry.chain)
        .where(AuditEntry.seq.is_not(None))
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).first()
    seq, chain = (head.seq, head.chain) if head else (0, GENESIS)
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.seq.is_(None)).order_by(AuditEntry.id).limit(limit)
    ).all()
    for row in rows:
        seq += 1
        chain = _link(chain, seq, row.mac)
        row.seq, row.chain = seq, chain
    session.flush()
    return len(rows)


def checkpoint(session: Session, note: str | None = None) -> AuditCheckpoint | None:
    """Sign the current head of the chain with the tenant's SM2 key."""
    from lendkit.crypto import gm
    from lendkit.crypto.orm import keyring_of

    head = session.execute(
        select(AuditEntry.seq, AuditEntry.chain)
        .where(AuditEntry.seq.is_not(None))
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).first()
    if head is None:
        return None
    last = session.scalar(select(func.max(AuditCheckpoint.seq)))
    if last == head.seq:
        return None
    private_key = keyring_of(session).single(session.connection(), "sm2").decode()
    signed = AuditCheckpoint(
        seq=head.seq,
        chain=head.chain,
        signature=gm.sm2_sign(_checkpoint_message(head.seq, head.chain), private_key),
        public_key=gm.sm2_public_key(private_key),
        note=note,
    )
    session.add(signed)
    session.flush()
    return signed


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    rows: int
    checkpoints: int
    problem: str | None = None


def verify(session: Session) -> Verdict:
    """Check every MAC, the chain and every checkpoint; name the first problem."""
    from lendkit.crypto import gm
    from lendkit.crypto.orm import keyring_of

    ring = keyring_of(session)
    key = ring.single(session.connection(), "audit")
    public_key = gm.sm2_public_key(ring.single(session.connection(), "sm2").decode())
    chain, expected, count = GENESIS, 1, 0
    chains: dict[int, bytes] = {}
    rows = session.scalars(
        select(AuditEntry).order_by(AuditEntry.seq.is_(None), AuditEntry.seq, AuditEntry.id)
    )
    for row in rows:
        count += 1
        where = f"audit row id {row.id}" + (
            f" (seq {row.seq})" if row.seq is not None else " (unsealed)"
        )
        if row.seq is not None and row.seq != expected:
            return Verdict(
                False, count, 0, f"audit row seq {expected} is missing (next present: {where})"
            )
        if mac_of(key, row) != row.mac:
            return Verdict(
                False,
                count,
                0,
                f"{where}: content does not match its MAC (altered, or inserted without the audit key)",
            )
        if row.seq is not None:
            chain = _link(chain, row.seq, row.mac)
            if chain != row.chain:
                return Verdict(
                    False,
                    count,
                    0,
                    f"{where}: chain hash broken (a row before it was removed or re-linked)",
                )
            chains[row.seq] = chain
            expected += 1
    checkpoints = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).all()
    for point in checkpoints:
        message = _checkpoint_message(point.seq, point.chain)
        if point.public_key != public_key or not gm.sm2_verify(
            message, point.signature, public_key
        ):
            return Verdict(
                False,
                count,
                len(checkpoints),
                f"checkpoint at seq {point.seq}: SM2 signature invalid",
            )
        if point.seq not in chains:
            return Verdict(
                False,
                count,
                len(checkpoints),
                f"audit rows after seq {expected - 1} are missing (checkpoint covers seq {point.seq})",
            )
        if chains[point.seq] != point.chain:
            return Verdict(
                False,
                count,
                len(checkpoints),
                f"audit row seq {point.seq}: differs from its signed checkpoint",
            )
    return Verdict(True, count, len(checkpoints))
