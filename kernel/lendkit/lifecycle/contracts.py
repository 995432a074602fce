"""Loan agreements: rendered to PDF, stored with their digest, signed, then required.

* :func:`prepare` renders a booked loan's agreement from the Jinja2 template
  ``contracts/loan_agreement.html`` (the tenant's ``templates/`` first, then
  plugins', then the kit's) into a PDF — parties, terms, the full schedule,
  the all-in annualized rate both ways — and stores it SM4-encrypted with its
  SM3 digest. Once stored it is what the borrower reads and signs, whatever
  the template says later.
Signing is :mod:`~lendkit.lifecycle.contract_signing`, the status and the
disbursement gate :mod:`~lendkit.lifecycle.contract_status`:

* :func:`~lendkit.lifecycle.contract_signing.request_signature` asks the ``sign_contract`` hook (an e-sign
  vendor) to have it signed. The vendor is called *between* two
  transactions, never inside one, so a slow vendor holds no lock; the
  attempt is recorded before (``requested``) and after (``pending``).
* :func:`~lendkit.lifecycle.contract_signing.apply_signature_result` applies the vendor's verified result
  (callback): ``signed`` stores the signed PDF and its SM3 digest,
  ``failed`` lets the borrower try again. Repeated or late results change
  nothing.
* :func:`~lendkit.lifecycle.contract_status.require_signed` is the disbursement gate: 409 ``contract_not_signed``
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
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit import audit
from lendkit.clearing.payments import business_today
from lendkit.crypto.sm3 import sm3_hex
from lendkit.db import utcnow
from lendkit.errors import ConflictError, NotFoundError
from lendkit.lifecycle import booking, loans
from lendkit.lifecycle.application_models import Application
from lendkit.lifecycle.contract_models import Contract, ContractStatus
from lendkit.lifecycle.contract_render import (
    TEMPLATE,
    agreement_context,
    booked_on,
    render,
)
from lendkit.lifecycle.contract_status import contract_of
from lendkit.lifecycle.loan_models import Loan, LoanStatus
from lendkit.lifecycle.pricing import annualized_rate
from lendkit.models import Borrower

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = ["TEMPLATE", "prepare", "record_event"]

log = logging.getLogger(__name__)


def record_event(session: Session, loan: Loan, kind: str, **detail: Any) -> None:
    """Append ``kind`` to the loan's history on today's business date."""
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
    schedule = booking.schedule_of(loan, booked)  # the booked one: holidays, day count, due day
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
    record_event(session, loan, "contract_prepared", contract_no=number, sm3=contract.sm3)
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
