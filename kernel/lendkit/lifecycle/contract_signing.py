"""Signing a loan agreement through the ``sign_contract`` hook, and the vendor's result.

:func:`request_signature` asks the ``sign_contract`` hook (an e-sign vendor)
to have the agreement signed. The vendor is called *between* two
transactions, never inside one, so a slow vendor holds no lock; the attempt
is recorded before (``requested``) and after (``pending``).
:func:`apply_signature_result` applies the vendor's verified result
(callback): ``signed`` stores the signed PDF and its SM3 digest, ``failed``
lets the borrower try again. Repeated or late results change nothing.
"""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit import audit
from lendkit.crypto.sm3 import sm3_hex
from lendkit.db import utcnow
from lendkit.errors import LendkitError, NotFoundError
from lendkit.lifecycle.contract_models import (
    FINAL,
    Contract,
    ContractSignature,
    ContractStatus,
    SignatureStatus,
)
from lendkit.lifecycle.contract_status import latest_signature, status_view
from lendkit.lifecycle.contracts import prepare, record_event
from lendkit.lifecycle.loan_models import Loan
from lendkit.lifecycle.vendor_calls import ask_vendor
from lendkit.models import Borrower
from lendkit.types import ContractSigner, ContractToSign, SignatureResult, SignatureTicket

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = ["EsignUnavailable", "apply_signature_result", "request_signature"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Request:
    contract_id: int
    request_no: str
    to_sign: ContractToSign | None  # None: nothing to ask the vendor


class EsignUnavailable(LendkitError):
    status = 503
    code = "esign_unavailable"
    title = "E-signature unavailable"


def _latest_of_request(session: Session, request_no: str) -> ContractSignature | None:
    return session.scalar(
        select(ContractSignature)
        .where(ContractSignature.request_no == request_no)
        .order_by(ContractSignature.id.desc())
        .limit(1)
    )


def _locked_contract(session: Session, contract_id: int) -> Contract:
    contract = session.get(Contract, contract_id, with_for_update=True, populate_existing=True)
    assert contract is not None
    return contract


def _step(
    session: Session,
    contract: Contract,
    previous: ContractSignature | None,
    status: SignatureStatus,
    *,
    source: str,
    actor: str,
    request_no: str | None = None,
    attempt: int | None = None,
    **fields: Any,
) -> ContractSignature:
    """Append one row of the signing history, carrying the attempt's vendor details over."""
    row = ContractSignature(
        contract_id=contract.id,
        loan_id=contract.loan_id,
        request_no=request_no or (previous.request_no if previous else ""),
        attempt=attempt or (previous.attempt if previous else 1),
        status=status,
        vendor=fields.pop("vendor", None) or (previous.vendor if previous else None),
        vendor_ref=fields.pop("vendor_ref", None) or (previous.vendor_ref if previous else None),
        sign_url=fields.pop("sign_url", None) or (previous.sign_url if previous else None),
        sandbox=fields.pop("stand_in", None) or (previous.sandbox if previous else False),
        reason=fields.pop("reason", "") or "",
        source=source,
        actor=actor[:64],
        at=utcnow(),
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def _open_request(
    session: Session, runtime: Runtime, loan_id: int, borrower_id: int | None, actor: str
) -> _Request:
    loan = session.get(Loan, loan_id)
    if loan is None or (borrower_id is not None and loan.borrower_id != borrower_id):
        raise NotFoundError(f"未找到贷款 {loan_id}。No loan {loan_id}.", code="unknown_loan")
    contract = _locked_contract(session, prepare(session, runtime, loan_id, actor=actor).id)
    latest = latest_signature(session, contract.id)
    if contract.status == ContractStatus.SIGNED:
        return _Request(contract.id, latest.request_no if latest else "", None)
    if latest is not None and latest.status not in FINAL:
        # Open at the vendor, or the call was cut short: ask again with the same
        # number, which the vendor answers without starting a second signing.
        request_no = latest.request_no
    else:
        attempt = (latest.attempt + 1) if latest is not None else 1
        # Unique beyond this tenant too: a vendor account may serve several.
        request_no = f"LK{contract.id:08d}S{attempt:02d}{secrets.token_hex(5).upper()}"
        _step(
            session,
            contract,
            None,
            SignatureStatus.REQUESTED,
            source="request",
            actor=actor,
            request_no=request_no,
            attempt=attempt,
        )
        contract.status = ContractStatus.SIGNING
        audit.record(
            session, actor, "contract.signature_requested", f"loan:{loan_id}", request_no=request_no
        )
        record_event(session, loan, "contract_signing", request_no=request_no)
    borrower = session.get(Borrower, contract.borrower_id)
    assert borrower is not None
    return _Request(
        contract.id,
        request_no,
        ContractToSign(
            request_no=request_no,
            contract_no=contract.number,
            loan_id=loan_id,
            title=f"借款合同 Loan Agreement {contract.number}",
            pdf=contract.pdf_bytes,
            sm3=contract.sm3,
            signer=ContractSigner(
                borrower_id=borrower.id,
                name=borrower.name or "",
                id_number=borrower.id_number or "",
                phone=borrower.phone,
            ),
            callback_base_url=runtime.settings.payments.callback_base_url,
        ),
    )


def request_signature(
    runtime: Runtime, loan_id: int, *, actor: str, borrower_id: int | None = None
) -> dict[str, Any]:
    """Have the loan's agreement signed (preparing it if needed); the status view after.

    Opens its own transactions: one records the attempt, the vendor is asked
    with none open, another records its answer — unless its callback came
    first. Asking again while an attempt is open sends the same request
    number (the vendor answers as before: never a second signing); after the
    signature nobody is asked. ``borrower_id`` confines the call to his own
    loans (404 otherwise). No vendor answering, or one raising: 503
    ``esign_unavailable``, audited, and the attempt stays open for the next
    try (a late callback still applies to it).
    """
    with runtime.sessions.begin() as session:
        request = _open_request(session, runtime, loan_id, borrower_id, actor)
    failure = ""
    ticket: SignatureTicket | None = None
    if request.to_sign is not None:
        to_sign = request.to_sign
        ticket, failure = ask_vendor(
            lambda: runtime.pm.hook.sign_contract(contract=to_sign, settings=runtime.settings),
            missing="no_esign_vendor",
            broken="vendor_error",
            log=log,
            warning="e-sign vendor failed",
            extra={"loan_id": loan_id, "request_no": request.request_no},
        )
    with runtime.sessions.begin() as session:
        contract = _locked_contract(session, request.contract_id)
        if request.to_sign is not None:
            _record_ticket(session, contract, request.request_no, ticket, failure, actor)
        view = status_view(session, contract)
    if failure:
        raise EsignUnavailable(
            "电子签约服务暂不可用，请稍后重试。"
            "The e-signature service is unavailable: please try again later.",
            code="esign_unavailable",
        )
    return view


def _record_ticket(
    session: Session,
    contract: Contract,
    request_no: str,
    ticket: SignatureTicket | None,
    failure: str,
    actor: str,
) -> None:
    latest = _latest_of_request(session, request_no)
    if ticket is None or failure:
        audit.record(
            session,
            actor,
            "contract.signature_requested",
            f"loan:{contract.loan_id}",
            outcome="failure",
            request_no=request_no,
            reason=failure or "no_esign_vendor",
        )
        return
    if latest is None or latest.status in FINAL:
        return  # the vendor's callback was first: it said everything
    if ticket.status == "pending":
        if latest.status == SignatureStatus.REQUESTED or latest.vendor_ref != ticket.reference:
            _step(
                session,
                contract,
                latest,
                SignatureStatus.PENDING,
                source="vendor",
                actor=f"esign:{ticket.vendor}",
                vendor=ticket.vendor,
                vendor_ref=ticket.reference,
                sign_url=ticket.sign_url or None,
                stand_in=ticket.sandbox,
            )
        return
    apply_signature_result(
        session,
        SignatureResult(
            request_no=request_no,
            vendor=ticket.vendor,
            reference=ticket.reference,
            status=ticket.status,
            signed_pdf=ticket.signed_pdf,
            reason=ticket.reason,
            sandbox=ticket.sandbox,
        ),
        source="vendor",
    )


def _fail(
    session: Session,
    contract: Contract,
    latest: ContractSignature,
    reason: str,
    *,
    source: str,
    actor: str,
    **fields: Any,
) -> None:
    failed = SignatureStatus.FAILED
    _step(
        session, contract, latest, failed, source=source, actor=actor, reason=reason[:64], **fields
    )
    if contract.status != ContractStatus.SIGNED:
        contract.status = ContractStatus.FAILED
    audit.record(
        session,
        actor,
        "contract.signature_failed",
        f"loan:{contract.loan_id}",
        outcome="failure",
        request_no=latest.request_no,
        reason=reason,
    )
    loan = session.get(Loan, contract.loan_id)
    assert loan is not None
    record_event(
        session, loan, "contract_signature_failed", request_no=latest.request_no, reason=reason
    )


def apply_signature_result(
    session: Session, result: SignatureResult, *, source: str = "callback"
) -> str:
    """Apply a vendor's result to its request; what happened, in one word.

    ``applied`` (the history moved), ``duplicate`` (the same result again:
    nothing changes), ``ignored`` (the request was already final, or the
    contract was signed by another attempt: nothing changes). A ``signed``
    result is accepted only with a PDF that begins with the exact bytes of
    the agreement sent (an incremental update, as a PAdES signature is);
    otherwise the attempt fails with ``document_altered``. 404
    ``unknown_signature_request`` for a request number we never issued.
    """
    first = _latest_of_request(session, result.request_no)
    if first is None:
        raise NotFoundError(
            f"未找到签约请求 {result.request_no}。No signing request {result.request_no}.",
            code="unknown_signature_request",
        )
    contract = _locked_contract(session, first.contract_id)
    latest = _latest_of_request(session, result.request_no)  # under the lock now
    assert latest is not None
    actor = f"esign:{result.vendor}"
    digest = sm3_hex(result.signed_pdf) if result.signed_pdf else None
    if latest.status in FINAL:
        same = latest.status == result.status and (
            result.status == "failed" or latest.signed_sm3 == digest
        )
        if not same:
            log.warning(
                "conflicting e-sign result ignored",
                extra={"request_no": result.request_no, "had": latest.status, "got": result.status},
            )
        return "duplicate" if same else "ignored"
    if latest.vendor is not None and latest.vendor != result.vendor:
        log.warning(
            "e-sign result from another vendor ignored",
            extra={"request_no": result.request_no, "vendor": result.vendor},
        )
        return "ignored"
    details: dict[str, Any] = {
        "vendor": result.vendor,
        "vendor_ref": result.reference,
        "stand_in": result.sandbox,
    }
    if contract.status == ContractStatus.SIGNED:
        # Signed by another attempt meanwhile: this one is over, whatever it says.
        over = details | {"reason": "superseded"}
        _step(session, contract, latest, SignatureStatus.FAILED, source=source, actor=actor, **over)
        return "ignored"
    if result.status == "failed":
        reason = result.reason or "vendor_failed"
        _fail(session, contract, latest, reason, source=source, actor=actor, **details)
        return "applied"
    signed = result.signed_pdf or b""
    if not signed or not signed.startswith(contract.pdf_bytes) or len(signed) == contract.size:
        _fail(session, contract, latest, "document_altered", source=source, actor=actor, **details)
        return "applied"
    assert digest is not None
    signed_at = utcnow()
    _step(
        session,
        contract,
        latest,
        SignatureStatus.SIGNED,
        source=source,
        actor=actor,
        signed_sm3=digest,
        signed_at=signed_at,
        **details,
    )
    contract.signed_pdf = base64.b64encode(signed).decode("ascii")
    contract.signed_sm3 = digest
    contract.signed_at = signed_at
    contract.sandbox = result.sandbox
    contract.status = ContractStatus.SIGNED
    audit.record(
        session,
        actor,
        "contract.signed",
        f"loan:{contract.loan_id}",
        request_no=result.request_no,
        vendor_ref=result.reference,
        signed_sm3=digest,
        sandbox=result.sandbox,
    )
    loan = session.get(Loan, contract.loan_id)
    assert loan is not None
    record_event(
        session,
        loan,
        "contract_signed",
        request_no=result.request_no,
        signed_sm3=digest,
        sandbox=result.sandbox,
    )
    log.info(
        "contract signed",
        extra={"loan_id": contract.loan_id, "request_no": result.request_no, "sm3": digest},
    )
    return "applied"
