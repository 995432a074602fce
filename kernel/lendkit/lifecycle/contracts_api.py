"""Built-in plugin: loan agreements over HTTP, the e-sign callback, the clause map.

Borrowers act on their own loans (``/api/borrowers/me/loans/{loan_id}/...``,
permission ``borrower.self``; another borrower's loan is 404): prepare the
agreement, read it (status as JSON, the document as PDF), start signing.
Staff with ``contracts.read`` see a loan's signing status and history
(``/api/loans/{loan_id}/contract``), without the borrower's signing link.
E-sign vendors post results to ``/api/contracts/esign/{vendor}/callback``:
public, authenticated by the vendor's own signature, which the vendor's
plugin verifies (``parse_signature_callback``) before anything is written.
"""

from __future__ import annotations

import logging

from litestar import Response
from litestar.params import FromPath, RawBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED
from litestar.types import ControllerRouterHandler
from sqlalchemy.orm import Session

import lendkit
from lendkit.auth.principal import current
from lendkit.clearing.channels import CallbackMalformed, CallbackRejected
from lendkit.errors import NotFoundError
from lendkit.lifecycle import contract_signing, contract_status, contracts
from lendkit.lifecycle.contract_models import Contract, ContractStatus
from lendkit.lifecycle.loan_models import Loan
from lendkit.masking import mask_text
from lendkit.types import Permission, SignatureCallbackRejected, SignatureResult
from lendkit.web.routes import Db, Json, Req, Rt, get_route, post_route, routes_hook
from lendkit.web.schema import VENDOR_CALLBACK, described

__all__ = ["ROUTES"]

log = logging.getLogger(__name__)

SELF = {"permission": "borrower.self"}
READ = {"permission": "contracts.read"}
_NOT_FOUND = "未找到该贷款。No such loan."
_NOT_PREPARED = (
    "借款合同尚未生成，请先生成合同。"
    "The loan agreement has not been prepared yet: prepare it first."
)


def _borrower_id(request: Req) -> int:
    principal = current(request)
    assert principal.subject_id is not None  # borrower.self: borrowers only
    return principal.subject_id


def _own_loan(db_session: Session, borrower_id: int, loan_id: int) -> Loan:
    loan = db_session.get(Loan, loan_id)
    if loan is None or loan.borrower_id != borrower_id:
        raise NotFoundError(_NOT_FOUND, code="unknown_loan")
    return loan


def _contract(db_session: Session, loan_id: int) -> Contract:
    contract = contract_status.contract_of(db_session, loan_id)
    if contract is None:
        raise NotFoundError(_NOT_PREPARED, code="contract_not_prepared")
    return contract


# -- The borrower ---------------------------------------------------------------------


# Not POST .../contract: Litestar 2.25 wraps the first of two sync handlers
# sharing a path twice, and a Response-returning one then answers 500.
@post_route("/api/borrowers/me/loans/{loan_id:int}/contract/prepare", SELF)
def prepare_my_contract(
    loan_id: FromPath[int], request: Req, db_session: Db, runtime: Rt
) -> Response[Json]:
    """Prepare my loan agreement (201), or return the one prepared before (200)."""
    borrower_id = _borrower_id(request)
    _own_loan(db_session, borrower_id, loan_id)
    existed = contract_status.contract_of(db_session, loan_id) is not None
    contract = contracts.prepare(db_session, runtime, loan_id, actor=current(request).actor)
    return Response(
        contract_status.status_view(db_session, contract),
        status_code=HTTP_200_OK if existed else HTTP_201_CREATED,
    )


@get_route("/api/borrowers/me/loans/{loan_id:int}/contract", SELF)
def my_contract(loan_id: FromPath[int], request: Req, db_session: Db) -> Json:
    """My agreement's signing status, digests and history."""
    _own_loan(db_session, _borrower_id(request), loan_id)
    return contract_status.status_view(db_session, _contract(db_session, loan_id))


@get_route("/api/borrowers/me/loans/{loan_id:int}/contract.pdf", SELF)
def my_contract_pdf(loan_id: FromPath[int], request: Req, db_session: Db) -> Response[bytes]:
    """My agreement as PDF: the signed copy once signed, the one to read before."""
    _own_loan(db_session, _borrower_id(request), loan_id)
    contract = _contract(db_session, loan_id)
    signed = contract.signed_pdf_bytes
    pdf, digest = (
        (signed, contract.signed_sm3) if signed is not None else (contract.pdf_bytes, contract.sm3)
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{contract.number}.pdf"',
            "Cache-Control": "no-store",
            "X-Content-SM3": digest or "",
        },
    )


@post_route(
    "/api/borrowers/me/loans/{loan_id:int}/contract/sign", SELF, status_code=HTTP_202_ACCEPTED
)
def sign_my_contract(loan_id: FromPath[int], request: Req, runtime: Rt) -> Response[Json]:
    """Start signing my agreement at the e-sign vendor (preparing it if needed).

    202 while the vendor has it (follow ``sign_url`` when there is one; the
    result arrives by callback), 200 once signed; asking again never starts
    a second signing. 503 ``esign_unavailable`` when no vendor takes it.
    """
    view = contract_signing.request_signature(
        runtime, loan_id, actor=current(request).actor, borrower_id=_borrower_id(request)
    )
    signed = view["status"] == ContractStatus.SIGNED
    return Response(view, status_code=HTTP_200_OK if signed else HTTP_202_ACCEPTED)


# -- Staff --------------------------------------------------------------------------


@get_route("/api/loans/{loan_id:int}/contract", READ)
def loan_contract(loan_id: FromPath[int], db_session: Db) -> Json:
    """A loan's agreement: signing status, digests, template and the signing history."""
    if db_session.get(Loan, loan_id) is None:
        raise NotFoundError(_NOT_FOUND, code="unknown_loan")
    view = contract_status.status_view(db_session, _contract(db_session, loan_id))
    view.pop("sign_url", None)  # the borrower's own link to sign: not for staff
    return view


# -- The e-sign vendor's callback ---------------------------------------------------------


# Public on purpose: vendors hold no lendkit credentials. Every callback is
# authenticated by the vendor's signature, which its plugin verifies in
# parse_signature_callback before anything is read or written (401
# callback_rejected otherwise); a verified result can only move a signing
# request along its history, never sign a different document.
@post_route(
    "/api/contracts/esign/{vendor:str}/callback",
    {"permission": "public"},
    status_code=HTTP_200_OK,
    operation_class=described(VENDOR_CALLBACK, media_type="application/octet-stream"),
)
def esign_callback(
    vendor: FromPath[str], request: Req, body: RawBody, runtime: Rt, db_session: Db
) -> dict[str, str]:
    """Apply an e-sign vendor's result; 200 for new and repeated results alike."""
    headers = {key.lower(): value for key, value in request.headers.items()}
    try:
        result: SignatureResult | None = runtime.pm.hook.parse_signature_callback(
            vendor=vendor, headers=headers, body=body, settings=runtime.settings
        )
    except SignatureCallbackRejected as exc:
        log.warning(
            "e-sign callback refused",
            extra={"vendor": vendor[:64], "code": exc.code, "error": mask_text(exc.message)[:200]},
        )
        if exc.code == "bad_signature":
            raise CallbackRejected(
                "回调签名无效。The callback's signature does not verify."
            ) from None
        raise CallbackMalformed("回调内容无法解析。The callback is not understood.") from None
    if result is None:
        raise NotFoundError(
            f"未知的电子签约服务商 {vendor[:64]}。Unknown e-sign vendor {vendor[:64]!r}.",
            code="unknown_esign_vendor",
        )
    outcome = contract_signing.apply_signature_result(db_session, result, source="callback")
    log.info(
        "e-sign callback",
        extra={"vendor": result.vendor, "request_no": result.request_no, "outcome": outcome},
    )
    return {"code": "OK", "request_no": result.request_no, "outcome": outcome}


ROUTES: list[ControllerRouterHandler] = [
    prepare_my_contract,
    my_contract,
    my_contract_pdf,
    sign_my_contract,
    loan_contract,
    esign_callback,
]


register_routes = routes_hook(ROUTES)


@lendkit.hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(
            name="contracts.read",
            description="read loan agreements' signing status, digests and history "
            "(no personal data, no signing links)",
            roles=("risk_officer", "finance", "collections", "auditor", "support"),
        )
    ]
