"""A loan agreement's signing status: its history, the disbursement gate, the status view.

:func:`require_signed` is the disbursement gate: 409 ``contract_not_signed``
unless a completed signature record with the signed PDF's digest exists.
Read only, and below :mod:`~lendkit.lifecycle.loans` (which calls the gate):
preparing and signing are :mod:`~lendkit.lifecycle.contracts` and
:mod:`~lendkit.lifecycle.contract_signing`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit.crypto.sm3 import sm3_hex
from lendkit.db import in_order
from lendkit.errors import ConflictError
from lendkit.lifecycle.contract_models import Contract, ContractSignature, SignatureStatus

__all__ = [
    "STAND_IN_NOTICE",
    "contract_of",
    "history",
    "latest_signature",
    "require_signed",
    "status_view",
]

STAND_IN_NOTICE = "沙箱电子签名，不具法律效力。Stand-in e-signature: not legally valid."


def contract_of(session: Session, loan_id: int) -> Contract | None:
    return session.scalar(select(Contract).where(Contract.loan_id == loan_id))


def history(session: Session, loan_id: int) -> list[ContractSignature]:
    return in_order(session, ContractSignature, ContractSignature.loan_id == loan_id)


def latest_signature(session: Session, contract_id: int) -> ContractSignature | None:
    return session.scalar(
        select(ContractSignature)
        .where(ContractSignature.contract_id == contract_id)
        .order_by(ContractSignature.id.desc())
        .limit(1)
    )


# -- The disbursement gate ------------------------------------------------------


def require_signed(session: Session, loan_id: int) -> ContractSignature:
    """The loan's completed signature record; 409 ``contract_not_signed`` without one.

    Completed means a ``signed`` row with the signed PDF's SM3 digest, and
    the signed PDF stored with the contract still hashing to that digest.
    """
    signature = session.scalar(
        select(ContractSignature)
        .where(
            ContractSignature.loan_id == loan_id,
            ContractSignature.status == SignatureStatus.SIGNED,
            ContractSignature.signed_sm3.is_not(None),
        )
        .order_by(ContractSignature.id.desc())
        .limit(1)
    )
    contract = contract_of(session, loan_id) if signature is not None else None
    signed = contract.signed_pdf_bytes if contract is not None else None
    if signature is None or signed is None or sm3_hex(signed) != signature.signed_sm3:
        raise ConflictError(
            f"贷款 {loan_id} 的借款合同尚未签署完成，不能放款。"
            f"The loan agreement of loan {loan_id} is not signed: it cannot be disbursed.",
            code="contract_not_signed",
        )
    return signature


# -- Views ----------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def status_view(
    session: Session, contract: Contract, *, with_history: bool = True
) -> dict[str, Any]:
    """The contract's signing status as JSON-ready values; no personal data."""
    rows = history(session, contract.loan_id) if with_history else []
    latest = latest_signature(session, contract.id)
    stand_in = contract.sandbox or bool(latest is not None and latest.sandbox)
    view: dict[str, Any] = {
        "loan_id": contract.loan_id,
        "contract_no": contract.number,
        "status": contract.status,
        "sm3": contract.sm3,
        "size": contract.size,
        "template": contract.template,
        "template_version": contract.template_version,
        "template_origin": contract.template_origin,
        "created_at": _iso(contract.created_at),
        "signed_sm3": contract.signed_sm3,
        "signed_at": _iso(contract.signed_at),
        "vendor": latest.vendor if latest is not None else None,
        "sign_url": latest.sign_url if latest is not None else None,
        "stand_in": stand_in,
        "notice": STAND_IN_NOTICE if stand_in else None,
    }
    if with_history:
        view["history"] = [
            {
                "request_no": row.request_no,
                "attempt": row.attempt,
                "status": row.status,
                "vendor": row.vendor,
                "reference": row.vendor_ref,
                "signed_sm3": row.signed_sm3,
                "reason": row.reason or None,
                "stand_in": row.sandbox,
                "source": row.source,
                "actor": row.actor,
                "at": _iso(row.at),
            }
            for row in rows
        ]
    return view
