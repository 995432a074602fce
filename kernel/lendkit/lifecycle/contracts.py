"""Loan agreements: rendered to PDF, stored with their digest, signed, then required.

* :func:`prepare` renders a booked loan's agreement from the Jinja2 template
  ``contracts/loan_agreement.html`` (the tenant's ``templates/`` first, then
  plugins', then the kit's) into a PDF — parties, terms, the full schedule,
  the all-in annualized rate both ways — and stores it SM4-encrypted with its
  SM3 digest. Once stored it is what the borrower reads and signs, whatever
  the template says later.
* :func:`request_signature` asks the ``sign_contract`` hook (an e-sign
  vendor) to have it signed. The vendor is called *between* two
  transactions, never inside one, so a slow vendor holds no lock; the
  attempt is recorded before (``requested``) and after (``pending``).
* :func:`apply_signature_result` applies the vendor's verified result
  (callback): ``signed`` stores the signed PDF and its SM3 digest,
  ``failed`` lets the borrower try again. Repeated or late results change
  nothing.
* :func:`require_signed` is the disbursement gate: 409 ``contract_not_signed``
  unless a completed signature record with the signed PDF's digest exists.

Every step is an append-only ``contract_signature`` row, an audit row and a
loan event (``loan.contract_prepared``, ``loan.contract_signing``,
``loan.contract_signed``, ``loan.contract_signature_failed``). Logs and events
carry ids and digests only: the PDF names the borrower. Rendering (template,
context, PDF) is :mod:`lendkit.lifecycle.contract_render`.
"""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit import audit
from lendkit.clearing.payments import business_today
from lendkit.crypto.sm3 import sm3_hex
from lendkit.db import utcnow
from lendkit.errors import ConflictError, LendkitError, NotFoundError
from lendkit.lifecycle.application_models import Application
from lendkit.lifecycle.contract_models import (
    FINAL,
    Contract,
    ContractSignature,
    ContractStatus,
    SignatureStatus,
)
from lendkit.lifecycle.contract_render import (
    TEMPLATE,
    agreement_context,
    booked_on,
    render,
)
from lendkit.lifecycle.models import Loan, LoanStatus
from lendkit.lifecycle.pricing import annualized_rate
from lendkit.lifecycle.schedules import build_schedule
from lendkit.models import Borrower
from lendkit.types import ContractSigner, ContractToSign, SignatureResult, SignatureTicket

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = [
    "TEMPLATE",
    "EsignUnavailable",
    "apply_signature_result",
    "contract_of",
    "history",
    "prepare",
    "request_signature",
    "require_signed",
    "status_view",
]

log = logging.getLogger(__name__)

STAND_IN_NOTICE = "沙箱电子签名，不具法律效力。Stand-in e-signature: not legally valid."


class EsignUnavailable(LendkitError):
    status = 503
    code = "esign_unavailable"
    title = "E-signature unavailable"


# -- Preparing ------------------------------------------------------------------


def contract_of(session: Session, loan_id: int) -> Contract | None:
    return session.scalar(select(Contract).where(Contract.loan_id == loan_id))


def _record_event(session: Session, loan: Loan, kind: str, **detail: Any) -> None:
    from lendkit.lifecycle import loans  # loans may import this module

    loans.record(session, loan, kind, business_today(), **detail)


def prepare(session: Session, runtime: Runtime, loan_id: int, *, actor: str = "system") -> Contract:
    """Render and store the agreement of a booked loan; the stored one if it exists.

    Runs in the caller's transaction. 404 ``unknown_loan``; 409
    ``contract_not_preparable`` for a loan past booking without a contract,
    ``contract_party_incomplete`` for a borrower without a verified real name.
    """
    existing = contract_of(session, loan_id)
    if existing is not None:
        return existing
    loan = session.get(Loan, loan_id, with_for_update=True)
    if loan is None:
        raise NotFoundError(f"未找到贷款 {loan_id}。No loan {loan_id}.", code="unknown_loan")
    existing = contract_of(session, loan_id)  # prepared while we waited for the lock
    if existing is not None:
        return existing
    if loan.status != LoanStatus.BOOKED:
        raise ConflictError(
            f"贷款状态为 {loan.status}，不能再生成借款合同。"
            f"Loan {loan_id} is {loan.status}: its agreement can no longer be prepared.",
            code="contract_not_preparable",
        )
    borrower = session.get(Borrower, loan.borrower_id)
    if borrower is None or not borrower.name or not borrower.id_number:
        raise ConflictError(
            "借款人尚未完成实名认证，无法生成借款合同。"
            "The borrower has no verified real name and ID number: no agreement can be prepared.",
            code="contract_party_incomplete",
        )
    booked = booked_on(session, loan)
    schedule = build_schedule(
        loan.principal,
        loan.term,
        loan.annual_rate,
        loan.method,
        start=booked,
        upfront_fee=loan.upfront_fee,
        instalment_fee=loan.instalment_fee,
    )
    number = f"{runtime.settings.tenant.slug.upper()[:20]}-{booked:%Y%m%d}-{loan.id:08d}"
    offer = session.scalar(select(Application.offer).where(Application.loan_id == loan.id))
    context = agreement_context(
        runtime,
        loan,
        borrower,
        number,
        schedule,
        annualized_rate(schedule),
        adjustments=(offer or {}).get("adjustments", []),
    )
    rendered = render(runtime, context)
    contract = Contract(
        loan_id=loan.id,
        borrower_id=loan.borrower_id,
        number=number,
        template=rendered.template,
        template_version=rendered.version,
        template_origin=rendered.origin,
        template_sm3=rendered.template_sm3,
        pdf=base64.b64encode(rendered.pdf).decode("ascii"),
        sm3=sm3_hex(rendered.pdf),
        size=len(rendered.pdf),
        status=ContractStatus.PREPARED,
        sandbox=False,
        created_at=utcnow(),
    )
    session.add(contract)
    session.flush()
    audit.record(
        session,
        actor,
        "contract.prepared",
        f"loan:{loan.id}",
        contract_no=number,
        sm3=contract.sm3,
        template_version=rendered.version,
        template_origin=rendered.origin,
    )
    _record_event(session, loan, "contract_prepared", contract_no=number, sm3=contract.sm3)
    log.info(
        "contract prepared",
        extra={
            "loan_id": loan.id,
            "contract_no": number,
            "sm3": contract.sm3,
            "size": contract.size,
        },
    )
    return contract


# -- Signing --------------------------------------------------------------------


def history(session: Session, loan_id: int) -> list[ContractSignature]:
    return list(
        session.scalars(
            select(ContractSignature)
            .where(ContractSignature.loan_id == loan_id)
            .order_by(ContractSignature.id)
        )
    )


def _latest(session: Session, contract_id: int) -> ContractSignature | None:
    return session.scalar(
        select(ContractSignature)
        .where(ContractSignature.contract_id == contract_id)
        .order_by(ContractSignature.id.desc())
        .limit(1)
    )


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


@dataclass(frozen=True, slots=True)
class _Request:
    contract_id: int
    request_no: str
    to_sign: ContractToSign | None  # None: nothing to ask the vendor


def _open_request(
    session: Session, runtime: Runtime, loan_id: int, borrower_id: int | None, actor: str
) -> _Request:
    loan = session.get(Loan, loan_id)
    if loan is None or (borrower_id is not None and loan.borrower_id != borrower_id):
        raise NotFoundError(f"未找到贷款 {loan_id}。No loan {loan_id}.", code="unknown_loan")
    contract = _locked_contract(session, prepare(session, runtime, loan_id, actor=actor).id)
    latest = _latest(session, contract.id)
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
        _record_event(session, loan, "contract_signing", request_no=request_no)
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
        try:
            ticket = runtime.pm.hook.sign_contract(
                contract=request.to_sign, settings=runtime.settings
            )
            failure = "" if ticket is not None else "no_esign_vendor"
        except Exception as exc:  # a vendor's failure must not lose the attempt
            failure = "vendor_error"
            log.warning(
                "e-sign vendor failed",
                extra={
                    "loan_id": loan_id,
                    "request_no": request.request_no,
                    "error": type(exc).__name__,
                },
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
    _step(
        session,
        contract,
        latest,
        SignatureStatus.FAILED,
        source=source,
        actor=actor,
        reason=reason[:64],
        **fields,
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
    _record_event(
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
        _step(
            session,
            contract,
            latest,
            SignatureStatus.FAILED,
            source=source,
            actor=actor,
            reason="superseded",
            **details,
        )
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
    _record_event(
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
    latest = _latest(session, contract.id)
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
