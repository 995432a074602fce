"""Booking a loan: priced and funded, paid out, then live with its schedule.

``book`` (or ``book_offer`` for an accepted application) records the loan
and its funders; ``disburse`` sends the net amount through a channel; the
channel's confirmation activates it (``activate``), or
``disbursement_failed`` makes it disbursable again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lendkit.clearing import colending, funding, postings
from lendkit.clearing.colending import Funder
from lendkit.clearing.money import ZERO, money
from lendkit.clearing.payment_models import Payee, PaymentOrder, Status
from lendkit.clearing.payment_orders import business_today
from lendkit.clearing.payment_requests import request_disbursement
from lendkit.errors import ConflictError, ValidationFailed
from lendkit.lifecycle import client_context, contract_status, overdue
from lendkit.lifecycle.loan_models import Instalment, Loan, LoanStatus
from lendkit.lifecycle.loans import locked, post, record
from lendkit.lifecycle.pricing import annualized_rate, check_rate_cap
from lendkit.lifecycle.products import version_of
from lendkit.lifecycle.schedules import Schedule, build_schedule
from lendkit.types import ALLOCATION_ORDER

if TYPE_CHECKING:
    from lendkit.lifecycle.application_models import Application
    from lendkit.runtime import Runtime

__all__ = [
    "PENALTY_MULTIPLIER",
    "Terms",
    "activate",
    "book",
    "book_offer",
    "disburse",
    "disbursement_failed",
]

PENALTY_MULTIPLIER = Decimal("1.5")


@dataclass(frozen=True, slots=True)
class Terms:
    borrower_id: int
    product_code: str
    principal: Decimal
    term: int
    method: str
    annual_rate: Decimal
    penalty_multiplier: Decimal = PENALTY_MULTIPLIER
    grace_days: int = 0
    day_count: int = 360
    upfront_fee: Decimal = ZERO
    instalment_fee: Decimal = ZERO
    shift_holidays: bool = False
    repayment_day: int | None = None
    allocation_order: tuple[str, ...] = ALLOCATION_ORDER
    product_version: int | None = None  # the product version the terms were copied from


def schedule_of(terms: Terms | Loan, start: date) -> Schedule:
    """The schedule of a loan's terms (as booked, or as offered) from ``start``."""
    return build_schedule(
        terms.principal,
        terms.term,
        terms.annual_rate,
        terms.method,
        start=start,
        upfront_fee=terms.upfront_fee,
        instalment_fee=terms.instalment_fee,
        shift_holidays=terms.shift_holidays,
        day_count=terms.day_count,
        repayment_day=terms.repayment_day,
    )


def book(
    session: Session,
    runtime: Runtime,
    terms: Terms,
    *,
    idempotency_key: str,
    business_date: date,
    funders: Sequence[Funder] | None = None,
) -> Loan:
    """Book a signed loan: priced, within the cap, funded; not yet disbursed."""
    existing = session.scalar(select(Loan).where(Loan.idempotency_key == idempotency_key))
    if existing is not None:
        if (existing.borrower_id, existing.principal, existing.term, existing.annual_rate) != (
            terms.borrower_id,
            money(terms.principal),
            terms.term,
            terms.annual_rate,
        ):
            raise ConflictError(
                f"idempotency key {idempotency_key!r} was used for a different loan",
                code="idempotency_key_reused",
            )
        return existing
    schedule = schedule_of(terms, business_date)
    check_rate_cap(annualized_rate(schedule), runtime.settings, on=business_date)
    cap = runtime.settings.caps.rate_cap(business_date)
    if sorted(terms.allocation_order) != sorted(ALLOCATION_ORDER):
        raise ValidationFailed(
            "还款冲销顺序须恰好列出 "
            + "、".join(ALLOCATION_ORDER)
            + " / the allocation order must list each of "
            + ", ".join(ALLOCATION_ORDER)
            + " once",
            code="allocation_order_invalid",
        )
    if terms.upfront_fee and funders and any(f.source != colending.OWN for f in funders):
        raise ValidationFailed(
            "合作出资贷款暂不支持前置费用 / upfront fees are not supported on co-lent loans yet",
            code="upfront_fee_colending_unsupported",
        )
    penalty, clipped = overdue.penalty_rate(terms.annual_rate, terms.penalty_multiplier, cap)
    loan = Loan(
        borrower_id=terms.borrower_id,
        product_code=terms.product_code,
        product_version=terms.product_version,
        idempotency_key=idempotency_key,
        principal=schedule.principal,
        term=terms.term,
        method=schedule.method,
        annual_rate=terms.annual_rate,
        penalty_rate=penalty,
        day_count=terms.day_count,
        grace_days=terms.grace_days,
        upfront_fee=schedule.upfront_fee,
        instalment_fee=schedule.instalment_fee,
        shift_holidays=terms.shift_holidays,
        repayment_day=terms.repayment_day,
        allocation_order=",".join(terms.allocation_order),
        status=LoanStatus.BOOKED,
        next_period=1,
        dpd=0,
        bucket="M0",
        classification="normal",
    )
    session.add(loan)
    session.flush()
    funding.set_loan_funding(
        session, runtime.settings, loan.id, funders or [Funder(colending.OWN, Decimal(1))]
    )
    record(session, loan, "booked", business_date, principal=str(loan.principal))
    if clipped:
        record(
            session,
            loan,
            "penalty_clipped",
            business_date,
            wanted=str(terms.annual_rate * terms.penalty_multiplier),
            cap=str(cap),
        )
    return loan


def book_offer(session: Session, runtime: Runtime, app: Application) -> Loan:
    """Book the loan of an accepted offer, once (``app.loan_id``), on the offer's terms.

    The offer's principal, rate and fees (as adjusted) and the rest of the
    terms of the product version the application was submitted on are
    copied onto the loan: changing the product later changes nothing here.
    """
    if app.loan_id is not None:
        return session.get_one(Loan, app.loan_id)
    if app.status != "accepted" or app.approved_amount is None or app.annual_rate is None:
        raise ConflictError(
            "只有已接受的报价可以生成贷款 / only an accepted offer becomes a loan",
            code="offer_not_accepted",
        )
    product = version_of(session, runtime.pm, app.product_code, app.product_version).spec
    loan = book(
        session,
        runtime,
        Terms(
            borrower_id=app.borrower_id,
            product_code=app.product_code,
            principal=app.approved_amount,
            term=app.term,
            method=app.method,
            annual_rate=app.annual_rate,
            penalty_multiplier=product.penalty_multiplier,
            grace_days=product.grace_days,
            day_count=product.day_count,
            upfront_fee=app.upfront_fee or ZERO,
            instalment_fee=product.instalment_fee
            if app.instalment_fee is None
            else app.instalment_fee,
            shift_holidays=product.shift_holidays,
            repayment_day=product.repayment_day,
            allocation_order=product.allocation_order,
            product_version=app.product_version,
        ),
        idempotency_key=f"application:{app.id}",
        business_date=business_today(),
    )
    app.loan_id = loan.id
    return loan


def disburse(
    session: Session,
    runtime: Runtime,
    loan_id: int,
    *,
    channel: str,
    payee: Payee,
    idempotency_key: str,
) -> PaymentOrder:
    """Send the net amount (principal − upfront fee) through ``channel``."""
    loan = locked(session, loan_id)
    if loan.status not in (LoanStatus.BOOKED, LoanStatus.DISBURSING):
        raise ConflictError(
            f"贷款状态为 {loan.status}，不能放款 / loan {loan_id} is {loan.status}: "
            "it cannot be disbursed",
            code="loan_not_disbursable",
        )
    _check_borrower_cap(session, runtime, loan)
    contract_status.require_signed(session, loan.id)  # 409 contract_not_signed
    order = request_disbursement(
        session,
        runtime,
        idempotency_key=idempotency_key,
        loan_id=loan.id,
        amount=loan.principal - loan.upfront_fee,
        channel=channel,
        payee=payee,
    )
    if order.status != Status.FAILED and loan.status == LoanStatus.BOOKED:
        record(
            session,
            loan,
            "disbursing",
            business_today(),
            to_status=LoanStatus.DISBURSING,
            order_no=order.order_no,
        )
    return order


def _check_borrower_cap(session: Session, runtime: Runtime, loan: Loan) -> None:
    """The borrower's loans still owing, this one included, stay within
    ``[caps] per_borrower`` (checked again here: applications may have raced)."""
    owing = session.scalar(
        select(func.coalesce(func.sum(Loan.principal), 0)).where(
            Loan.borrower_id == loan.borrower_id,
            Loan.id != loan.id,
            Loan.status.in_((LoanStatus.DISBURSING, LoanStatus.ACTIVE, LoanStatus.OVERDUE)),
        )
    )
    cap = runtime.settings.caps.per_borrower
    if money(owing or 0) + loan.principal > cap:
        raise ConflictError(
            f"借款人在贷余额将超过上限 {cap} 元 / the borrower's loans would exceed the cap of "
            f"{cap} per borrower",
            code="borrower_cap_exceeded",
        )


def activate(session: Session, loan_id: int, disbursed_on: date) -> Loan:
    """The borrower has the money: lay out the schedule from ``disbursed_on``."""
    loan = locked(session, loan_id)
    if loan.status != LoanStatus.DISBURSING and loan.status != LoanStatus.BOOKED:
        return loan  # already active (a repeated event) or past it
    schedule = schedule_of(loan, disbursed_on)
    start = disbursed_on
    for row in schedule.rows:
        session.add(
            Instalment(
                loan_id=loan.id,
                period=row.period,
                start_date=start,
                due_date=row.due_date,
                principal=row.principal,
                # 随借随还: interest is what end of day accrues on the balance.
                interest=ZERO if loan.method == "draw-repay" else row.interest,
                fee=row.fee,
                interest_accrued=ZERO,
                fee_accrued=ZERO,
                paid_principal=ZERO,
                paid_interest=ZERO,
                paid_fee=ZERO,
                status="pending",
            )
        )
        start = row.due_date
    loan.disbursed_on = disbursed_on
    loan.next_period = schedule.rows[0].period
    if loan.upfront_fee:
        # Own funds only (see book).
        post(
            session,
            loan.id,
            disbursed_on,
            f"loan:{loan.id}:upfront_fee",
            "upfront fee",
            postings.upfront_fee(loan.upfront_fee, loan.id),
        )
    record(
        session,
        loan,
        "disbursed",
        disbursed_on,
        to_status=LoanStatus.ACTIVE,
        # What a subscriber needs (referral rebates, marketing), without reading tables.
        borrower_id=loan.borrower_id,
        product_code=loan.product_code,
        principal=str(loan.principal),
        net_disbursed=str(loan.principal - loan.upfront_fee),
        referral_code=client_context.referral_code_of_loan(session, loan.id),
    )
    return loan


def disbursement_failed(session: Session, loan_id: int, business_date: date, code: str) -> None:
    """The payout failed and was reversed: the loan may be disbursed again."""
    loan = locked(session, loan_id)
    if loan.status == LoanStatus.DISBURSING:
        record(
            session,
            loan,
            "disbursement_failed",
            business_date,
            to_status=LoanStatus.BOOKED,
            code=code,
        )
