"""Payment requests, in the caller's transaction: a disbursement (funds
reserved at once) or a collection, one order per idempotency key.

A retry with the same key returns the first order; the same key with other
terms is a 409 (``idempotency_key_reused``). The worker sends the order to
its channel after commit (:mod:`lendkit.clearing.payment_dispatch`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lendkit.clearing import colending, ledger, postings
from lendkit.clearing.channels import channel_names
from lendkit.clearing.funding import funders_of, set_loan_funding
from lendkit.clearing.money import money
from lendkit.clearing.payment_models import (
    Payee,
    PaymentOrder,
    PaymentOrderEvent,
    Purpose,
    Reamortize,
    Status,
)
from lendkit.clearing.payment_orders import business_today, fail, transition
from lendkit.db import utcnow
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed
from lendkit.types import PaymentKind

if TYPE_CHECKING:
    from lendkit.clearing.colending import Funder
    from lendkit.runtime import Runtime

__all__ = ["request_collection", "request_disbursement"]


def request_disbursement(
    session: Session,
    runtime: Runtime,
    *,
    idempotency_key: str,
    loan_id: int,
    amount: Decimal,
    channel: str,
    payee: Payee,
    funders: Sequence[Funder] | None = None,
) -> PaymentOrder:
    """Create a disbursement and reserve its funds, or return the order of this key.

    ``funders`` records the loan's funding (validated, once); without them
    the loan's recorded funding is used, or own funds alone. The order comes
    back ``reserved``, or ``failed`` with ``failure_code`` (e.g.
    ``insufficient_funds``); the worker sends it after commit.
    """
    order, fresh = _new_order(
        session, runtime, "disburse", idempotency_key, loan_id, amount, channel, payee
    )
    if not fresh:
        return order
    if funders is not None:
        shares = set_loan_funding(session, runtime.settings, loan_id, funders)
    else:
        try:
            shares = funders_of(session, loan_id)
        except NotFoundError:
            shares = set_loan_funding(
                session, runtime.settings, loan_id, [colending.Funder("own", Decimal(1))]
            )
    try:
        with session.begin_nested():
            entry = ledger.post(
                session,
                business_date=business_today(),
                idempotency_key=f"payment:{order.order_no}:reserve",
                cause=f"payment:{order.order_no}",
                memo=f"disbursement {order.order_no} reserved",
                lines=postings.disbursement_instructed(order.amount, shares, channel, loan_id),
            )
    except ValidationFailed as exc:
        if exc.code != "insufficient_funds":
            raise
        fail(session, order, code="insufficient_funds", source="api", note=exc.detail)
        return order
    order.reserve_entry_id = entry.id
    transition(session, order, Status.RESERVED, source="api", entry_id=entry.id)
    return order


def request_collection(
    session: Session,
    runtime: Runtime,
    *,
    idempotency_key: str,
    loan_id: int,
    amount: Decimal,
    channel: str,
    payee: Payee,
    purpose: Purpose = "repayment",
    reamortize: Reamortize | None = None,
) -> PaymentOrder:
    """Create a withholding order (代扣), or return the order of this key.

    Nothing is posted until the channel confirms the money arrived; the
    order's ``purpose`` (and a part prepayment's ``reamortize`` option) says
    what the loan does with the money then.
    """
    if purpose == "disbursement" or (purpose == "part_prepayment") != (reamortize is not None):
        raise ValidationFailed(
            f"a collection is a repayment or a prepayment, and only a part prepayment says how "
            f"to reamortize (not {purpose}, {reamortize})",
            code="purpose_invalid",
        )
    order, _ = _new_order(
        session,
        runtime,
        "collect",
        idempotency_key,
        loan_id,
        amount,
        channel,
        payee,
        purpose=purpose,
        reamortize=reamortize,
    )
    return order


def _new_order(
    session: Session,
    runtime: Runtime,
    kind: PaymentKind,
    key: str,
    loan_id: int,
    amount: Decimal,
    channel: str,
    payee: Payee,
    *,
    purpose: Purpose = "disbursement",
    reamortize: Reamortize | None = None,
) -> tuple[PaymentOrder, bool]:
    if not key or len(key) > 128:
        raise ValidationFailed(
            "an idempotency key of 1 to 128 characters is required", code="idempotency_key_missing"
        )
    try:
        value = money(amount)
    except (TypeError, InvalidOperation):
        raise ValidationFailed(f"amount {amount!r} is not money", code="invalid_amount") from None
    if value <= 0 or value != amount:
        raise ValidationFailed(
            f"amount {amount} must be positive, in whole fen", code="invalid_amount"
        )
    existing = session.scalar(select(PaymentOrder).where(PaymentOrder.idempotency_key == key))
    if existing is not None:
        return _same_request(
            existing, (kind, loan_id, value, channel, purpose, reamortize), payee
        ), False
    if channel not in channel_names(runtime):
        raise ValidationFailed(f"no payment channel {channel!r}", code="invalid_channel")
    if not payee.name or not payee.card_number.isdigit():
        raise ValidationFailed("payee name and card number are required", code="invalid_payee")
    now = utcnow()
    order = PaymentOrder(
        order_no=_order_no(kind, now),
        idempotency_key=key,
        kind=kind,
        channel=channel,
        loan_id=loan_id,
        amount=value,
        purpose=purpose,
        reamortize=reamortize,
        payee_name=payee.name,
        payee_card=payee.card_number,
        business_date=business_today(now),
        status=Status.CREATED,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(order)
            session.flush()
    except IntegrityError:
        raced = session.scalar(select(PaymentOrder).where(PaymentOrder.idempotency_key == key))
        if raced is None:
            raise
        return _same_request(
            raced, (kind, loan_id, value, channel, purpose, reamortize), payee
        ), False
    session.add(
        PaymentOrderEvent(
            order_id=order.id, at=now, from_status=None, to_status=Status.CREATED, source="api"
        )
    )
    return order, True


def _same_request(order: PaymentOrder, terms: tuple[object, ...], payee: Payee) -> PaymentOrder:
    theirs = (
        order.kind,
        order.loan_id,
        order.amount,
        order.channel,
        order.purpose,
        order.reamortize,
    )
    if theirs != terms or (order.payee_name, order.payee_card) != (
        payee.name,
        payee.card_number,
    ):
        raise ConflictError(
            f"idempotency key {order.idempotency_key!r} was used for a different payment",
            code="idempotency_key_reused",
        )
    return order


def _order_no(kind: str, now: datetime) -> str:
    prefix = "D" if kind == "disburse" else "C"
    return f"{prefix}{business_today(now):%Y%m%d}{secrets.token_hex(6).upper()}"
