"""Tables of loan agreements: the rendered contract and its signature history.

A ``contract`` is the loan agreement as the borrower read it: the PDF
rendered once from the template (tenant's override or the kit's), its SM3
digest, and which template text produced it. The PDF names the borrower, so
it is personal data: it is kept SM4-encrypted like every other personal
field (``Encrypted``, base64 inside), in the database rather than in a file
beside it, so that the document, its digest and its signature history
commit together, travel in the same backup and answer on every app server
of a PostgreSQL tenant without a shared disk. Its terms never change once
rendered (migration ``k0011`` refuses it); only the key protecting the
ciphertext may (key rotation), and the signed copy is added once.

``contract_signature`` is the append-only history of signing: one row per
step (requested, pending at the vendor, signed, failed), with the vendor's
reference and, for a signature, the SM3 digest of the signed PDF. A loan may
be disbursed only when a ``signed`` row with a digest exists
(:func:`lendkit.lifecycle.contract_status.require_signed`).
"""

from __future__ import annotations

import base64
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from lendkit.crypto.orm import Encrypted, EncryptedRow
from lendkit.db import Base, BigId, UTCDateTime, utcnow

__all__ = ["Contract", "ContractSignature", "ContractStatus", "SignatureStatus"]


class ContractStatus(StrEnum):
    PREPARED = "prepared"  # rendered and stored; nobody asked for a signature yet
    SIGNING = "signing"  # a signing request is open at the vendor
    SIGNED = "signed"  # the signed PDF and its digest are stored
    FAILED = "failed"  # the last attempt failed; the borrower may try again


class SignatureStatus(StrEnum):
    REQUESTED = "requested"  # recorded before the vendor is called
    PENDING = "pending"  # the vendor accepted the request; its result comes by callback
    SIGNED = "signed"
    FAILED = "failed"


FINAL = (SignatureStatus.SIGNED, SignatureStatus.FAILED)


class Contract(EncryptedRow, Base):
    """One loan's agreement, as rendered, and once signed, as signed."""

    __tablename__ = "contract"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    loan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loan.id"), unique=True)
    borrower_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("borrower.id"))
    number: Mapped[str] = mapped_column(String(48), unique=True)  # 合同编号
    # Which template produced the PDF: its name, declared version, where it
    # came from (tenant / plugin / kit) and the SM3 digest of its source text.
    template: Mapped[str] = mapped_column(String(200))
    template_version: Mapped[str] = mapped_column(String(64))
    template_origin: Mapped[str] = mapped_column(String(16))
    template_sm3: Mapped[str] = mapped_column(String(64))
    pdf: Mapped[str] = mapped_column(Encrypted())  # base64 of the PDF; SM4 at rest
    sm3: Mapped[str] = mapped_column(String(64))  # hex SM3 of the PDF bytes
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=ContractStatus.PREPARED)
    signed_pdf: Mapped[str | None] = mapped_column(Encrypted())
    signed_sm3: Mapped[str | None] = mapped_column(String(64))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False)  # signed by a sandbox vendor
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def pdf_bytes(self) -> bytes:
        return base64.b64decode(self.pdf)

    @property
    def signed_pdf_bytes(self) -> bytes | None:
        return None if self.signed_pdf is None else base64.b64decode(self.signed_pdf)


class ContractSignature(Base):
    """One step of signing a contract; never updated (the database refuses it)."""

    __tablename__ = "contract_signature"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contract_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("contract.id"))
    loan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loan.id"))
    # The kernel's number of one signing attempt, sent to the vendor and
    # echoed in its callback: a retry of the same attempt is the same request.
    request_no: Mapped[str] = mapped_column(String(48))
    attempt: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(12))
    vendor: Mapped[str | None] = mapped_column(String(64))
    vendor_ref: Mapped[str | None] = mapped_column(String(128))
    sign_url: Mapped[str | None] = mapped_column(String(500))
    signed_sm3: Mapped[str | None] = mapped_column(String(64))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(64), default="")
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16))  # request | vendor | callback
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_contract_signature_loan", "loan_id", "id"),
        Index("ix_contract_signature_request", "request_no", "id"),
    )
