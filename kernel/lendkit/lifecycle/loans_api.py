"""Built-in plugin: loans over HTTP.

Borrowers (``borrower.self``) see their own loans, what settles them today,
and pay: a repayment or a full prepayment is a withholding order (代扣) on
their verified card; the money is allocated when the channel confirms it
(see :mod:`lendkit.lifecycle.events`). Staff read loans (``loans.read``) and
disburse booked ones (``loans.disburse``). Amounts are decimal strings.
Every 4xx is problem+json with a code and a Chinese and English message,
and changes nothing: the request's transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from litestar import Response
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy import select
from sqlalchemy.orm import Session

import lendkit
from lendkit.auth.principal import current
from lendkit.clearing import channels
from lendkit.clearing.money import parse_amount
from lendkit.clearing.payment_models import PaymentOrder, Status
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed
from lendkit.lifecycle import booking, loans, prepayment, repayment
from lendkit.lifecycle import loans_bodies as bodies
from lendkit.lifecycle.loan_models import Instalment, Loan, LoanEvent
from lendkit.runtime import Runtime
from lendkit.types import Permission
from lendkit.web import paging
from lendkit.web.bodies import json_object
from lendkit.web.idempotency import key_of
from lendkit.web.routes import Body, Db, Req, Rt, Window, get_route, post_route, routes_hook

__all__ = ["ROUTES"]

SELF = {"permission": "borrower.self"}
READ = {"permission": "loans.read"}
DISBURSE = {"permission": "loans.disburse"}
_NOT_FOUND = "未找到该贷款。No such loan."


def _amount(value: object) -> Decimal:
    return parse_amount(value, label="还款金额", code="amount_invalid")


def view(session: Session, loan: Loan, *, history: bool = False) -> dict[str, Any]:
    """The loan as JSON: terms, standing, schedule, what the journal says is owed."""
    rows = session.scalars(
        select(Instalment).where(Instalment.loan_id == loan.id).order_by(Instalment.period)
    ).all()
    result: dict[str, Any] = {
        "id": loan.id,
        "borrower_id": loan.borrower_id,
        "product_code": loan.product_code,
        "product_version": loan.product_version,  # the version it was booked on
        "principal": str(loan.principal),
        "term": loan.term,
        "method": loan.method,
        "annual_rate": str(loan.annual_rate),
        "penalty_rate": str(loan.penalty_rate),
        "status": loan.status,
        "disbursed_on": loan.disbursed_on.isoformat() if loan.disbursed_on else None,
        "dpd": loan.dpd,
        "bucket": loan.bucket,
        "classification": loan.classification,
        "outstanding": {k: str(v) for k, v in loans.outstanding(session, loan.id).items()},
        "schedule": [
            {
                "period": r.period,
                "due_date": r.due_date.isoformat(),
                "principal": str(r.principal),
                "interest": str(r.interest),
                "fee": str(r.fee),
                "paid_principal": str(r.paid_principal),
                "paid_interest": str(r.paid_interest),
                "status": r.status,
            }
            for r in rows
        ],
    }
    if history:
        result["history"] = [
            {
                "business_date": e.business_date.isoformat(),
                "kind": e.kind,
                "from": e.from_status,
                "to": e.to_status,
                "detail": e.detail,
            }
            for e in session.scalars(
                select(LoanEvent).where(LoanEvent.loan_id == loan.id).order_by(LoanEvent.id)
            )
        ]
    return result


def _mine(session: Session, request: Req, loan_id: int) -> Loan:
    principal = current(request)
    loan = session.get(Loan, loan_id)
    if loan is None or loan.borrower_id != principal.subject_id:
        raise NotFoundError(_NOT_FOUND, code="unknown_loan")
    return loan


def _channel(runtime: Runtime, body: Mapping[str, Any]) -> str:
    names = channels.channel_names(runtime)
    name = body.get("channel") or (names[0] if len(names) == 1 else None)
    if name not in names:
        raise ValidationFailed(
            f"请选择支付通道：{', '.join(names) or '无'} / choose a payment channel: "
            f"{', '.join(names) or 'none is enabled'}",
            code="channel_invalid",
        )
    return str(name)


def _order(order: PaymentOrder) -> dict[str, Any]:
    return {
        "order_no": order.order_no,
        "kind": order.kind,
        "amount": str(order.amount),
        "status": order.status,
        "failure_code": order.failure_code,
    }


# -- The borrower --------------------------------------------------------------


@get_route("/api/borrowers/me/loans", SELF)
def my_loans(
    request: Req,
    db_session: Db,
    window: Window,
) -> dict[str, Any]:
    """My loans, newest first (a page)."""
    borrower_id = current(request).subject_id
    query = select(Loan).where(Loan.borrower_id == borrower_id).order_by(Loan.id.desc())
    return paging.page_of(db_session, window, query, lambda loan: view(db_session, loan))


@get_route("/api/borrowers/me/loans/{loan_id:int}", SELF)
def my_loan(loan_id: FromPath[int], request: Req, db_session: Db) -> dict[str, Any]:
    """One of my loans with its schedule (another borrower's is 404)."""
    return view(db_session, _mine(db_session, request, loan_id))


@get_route("/api/borrowers/me/loans/{loan_id:int}/payoff", SELF)
def my_payoff(loan_id: FromPath[int], request: Req, db_session: Db) -> dict[str, str]:
    """What settles my loan today, by component."""
    due = prepayment.payoff(db_session, _mine(db_session, request, loan_id).id)
    return {
        "principal": str(due.principal),
        "interest": str(due.interest),
        "penalty": str(due.penalty),
        "fees": str(due.fees),
        "total": str(due.total),
    }


@post_route("/api/borrowers/me/loans/{loan_id:int}/repayments", SELF, bodies.REPAYMENT)
def repay(
    loan_id: FromPath[int],
    data: Body,
    request: Req,
    db_session: Db,
    runtime: Rt,
) -> Response[dict[str, Any]]:
    """Pay ``amount`` from my card (``prepay: true`` settles the whole loan instead).

    201 with the withholding order; 200 with the first order when the
    idempotency key was used before. At most what the loan owes today
    (``amount_above_outstanding``).
    """
    body = json_object(data)
    loan = _mine(db_session, request, loan_id)
    prepay = body.get("prepay") is True
    order, created = repayment.repay(
        db_session,
        runtime,
        loan.id,
        idempotency_key=f"borrower:{loan.borrower_id}:{key_of(body, request)}",
        amount=None if prepay else _amount(body.get("amount")),
        purpose="prepayment" if prepay else "repayment",
        channel=_channel(runtime, body),
    )
    return Response(_order(order), status_code=HTTP_201_CREATED if created else HTTP_200_OK)


# -- Staff ---------------------------------------------------------------------


def _summary(loan: Loan) -> dict[str, Any]:
    return {
        "id": loan.id,
        "borrower_id": loan.borrower_id,
        "principal": str(loan.principal),
        "status": loan.status,
        "dpd": loan.dpd,
        "bucket": loan.bucket,
        "classification": loan.classification,
    }


@get_route("/api/loans", READ)
def list_loans(
    db_session: Db,
    window: Window,
    status: FromQuery[str | None] = None,
    bucket: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """Loans, newest first, optionally by ``status`` and ``bucket`` (a page: follow ``next``)."""
    query = select(Loan).order_by(Loan.id.desc())
    if status:
        query = query.where(Loan.status == status)
    if bucket:
        query = query.where(Loan.bucket == bucket)
    return paging.page_of(db_session, window, query, _summary)


@get_route("/api/loans/{loan_id:int}", READ)
def loan_record(loan_id: FromPath[int], db_session: Db) -> dict[str, Any]:
    """A loan with its schedule, what it owes and its whole history."""
    loan = db_session.get(Loan, loan_id)
    if loan is None:
        raise NotFoundError(_NOT_FOUND, code="unknown_loan")
    return view(db_session, loan, history=True)


@post_route("/api/loans/{loan_id:int}/disburse", DISBURSE, bodies.DISBURSEMENT)
def disburse(
    loan_id: FromPath[int],
    data: Body,
    request: Req,
    db_session: Db,
    runtime: Rt,
) -> dict[str, Any]:
    """Pay a booked loan out to the borrower's card through ``channel``."""
    body = json_object(data)
    loan = db_session.get(Loan, loan_id)
    if loan is None:
        raise NotFoundError(_NOT_FOUND, code="unknown_loan")
    order = booking.disburse(
        db_session,
        runtime,
        loan.id,
        channel=_channel(runtime, body),
        payee=loans.payee_of(db_session, loan.borrower_id),
        idempotency_key=f"loan:{loan.id}:{key_of(body, request)}",
    )
    if order.status == Status.FAILED:
        raise ConflictError(
            f"放款失败：{order.failure_code} / the disbursement failed: {order.failure_code}",
            code=order.failure_code or "disbursement_failed",
        )
    return _order(order)


@lendkit.hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(
            "loans.read",
            "read loans: terms, schedule, standing, what they owe, history",
            ("finance", "risk_officer", "collections", "auditor", "support"),
        ),
        Permission("loans.disburse", "pay a booked, signed loan out", ("finance",)),
    ]


ROUTES = [my_loans, my_loan, my_payoff, repay, list_loans, loan_record, disburse]

register_routes = routes_hook(ROUTES)
