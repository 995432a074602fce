"""Payment orders' state machine: one per movement of money through a channel.

Disbursement (放款)::

    created ─▶ reserved ─▶ in_transit ─▶ confirmed ─(reconciliation)─▶ reversed
                  │             │
                  └─────────────┴─▶ failed ─(reconciliation)─▶ confirmed

* **created → reserved**, in the caller's transaction: post
  ``disbursement_instructed`` (Dr channel in transit / Cr each funder's
  pool). A pool that cannot cover its part fails the order at once
  (``insufficient_funds``); nothing is sent.
* **reserved → in_transit**, after commit: the worker job
  ``payments-instruct`` hands the instruction to the channel; the gateway's
  acknowledgement moves the order on, a refusal fails it. An unreachable
  channel is tried again with back-off, ``[payments] max_instruct_attempts``
  times; then the order is queried at the channel instead: what the channel
  knows is applied, and an order it has no record of fails
  (``not_acknowledged``), its reservation reversed.
* **in_transit → confirmed**: a callback (or a query) says the money
  arrived: post ``disbursement_confirmed`` (Dr principal receivable per
  funder / Cr in transit).
* **→ failed**: the reservation is reversed (:func:`ledger.reverse`).

Collection (代扣, or a repayment the borrower starts)::

    created ─▶ in_transit ─▶ confirmed        (or failed: nothing was posted)

On confirmation, post ``repayment_received`` (Dr in transit / Cr borrower
suspense) and publish ``payment.collected`` with the order's purpose:
applying the money to the loan by that purpose and paying the funders back
is the loan lifecycle's step (:mod:`lendkit.lifecycle.repayment`, its lines
from :func:`lendkit.clearing.postings.repayment`), taken when it consumes
that event. That is the seam.

Safety: every request carries an idempotency key (a retry returns the first
order; the same key with other terms is a 409); the channel gets the order
number as its idempotency key; results are applied under a row lock and a
state check, and every posting has a key derived from the order number, so a
result that arrives twice, late, or after a time-out never posts twice. A
result that contradicts a final state is recorded in the order's history and
left to reconciliation. The ``status`` column is a cache of the last row of
the append-only ``payment_order_event`` history, which auditors read.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit import audit, outbox
from lendkit.clearing import ledger, postings
from lendkit.clearing.funding import funders_of
from lendkit.clearing.money import money
from lendkit.clearing.payment_models import (
    FINAL,
    READY,
    TRANSITIONS,
    Outcome,
    PaymentOrder,
    PaymentOrderEvent,
    Source,
    Status,
)
from lendkit.clock import china_today
from lendkit.db import utcnow
from lendkit.errors import ConflictError, NotFoundError
from lendkit.masking import mask_text
from lendkit.types import ChannelAck, ChannelResult

__all__ = [
    "apply_ack",
    "apply_result",
    "business_today",
    "fail",
    "force_confirm",
    "force_reverse",
    "history",
    "locked",
    "order_by_no",
    "record_note",
    "transition",
]

log = logging.getLogger(__name__)


def business_today(now: datetime | None = None) -> date:
    """Today's business date in China."""
    return china_today(now or utcnow())


# -- State changes ---------------------------------------------------------------


def transition(
    session: Session,
    order: PaymentOrder,
    to: Status,
    *,
    source: Source,
    code: str = "",
    note: str = "",
    entry_id: int | None = None,
) -> None:
    current = Status(order.status)
    if to not in TRANSITIONS[current]:
        raise ConflictError(
            f"payment {order.order_no} cannot go from {current} to {to}",
            code="invalid_transition",
        )
    now = utcnow()
    session.add(
        PaymentOrderEvent(
            order_id=order.id,
            at=now,
            from_status=current,
            to_status=to,
            source=source,
            code=code,
            note=note[:256],
            entry_id=entry_id,
        )
    )
    if entry_id is not None:  # money moved: on the audit record too
        audit.record(
            session,
            source,
            f"payment.{to}",
            f"payment:{order.order_no}",
            kind=str(order.kind),
            amount=str(order.amount),
            entry_id=entry_id,
        )
    order.status = to
    order.updated_at = now
    if to in FINAL:
        order.next_attempt_at = None
    session.flush()


def record_note(
    session: Session, order: PaymentOrder, source: Source, code: str, note: str
) -> None:
    """A history row that changes nothing but must be on record (once per code and note)."""
    seen = session.scalar(
        select(PaymentOrderEvent.id).where(
            PaymentOrderEvent.order_id == order.id,
            PaymentOrderEvent.code == code,
            PaymentOrderEvent.note == note[:256],
        )
    )
    if seen is None:
        session.add(
            PaymentOrderEvent(
                order_id=order.id,
                from_status=order.status,
                to_status=order.status,
                source=source,
                code=code,
                note=note[:256],
            )
        )


def _publish(session: Session, topic: str, order: PaymentOrder) -> None:
    outbox.publish(
        session,
        topic,
        {
            "order_no": order.order_no,
            "loan_id": order.loan_id,
            "kind": order.kind,
            "channel": order.channel,
            "amount": str(order.amount),
            "purpose": order.purpose,
            "reamortize": order.reamortize,
            "status": order.status,
            "code": order.failure_code,
            "result_date": order.result_date.isoformat() if order.result_date else None,
        },
    )


def fail(
    session: Session,
    order: PaymentOrder,
    *,
    code: str,
    source: Source,
    note: str = "",
    settled_on: date | None = None,
) -> None:
    entry_id = None
    if order.reserve_entry_id is not None:
        entry_id = ledger.reverse(
            session,
            order.reserve_entry_id,
            business_date=business_today(),
            reason=f"payment {order.order_no} failed: {code}",
        ).id
    order.failure_code = code[:64]
    order.result_date = settled_on or business_today()
    transition(
        session, order, Status.FAILED, source=source, code=code, note=note, entry_id=entry_id
    )
    _publish(session, "payment.failed", order)


def _confirm(
    session: Session,
    order: PaymentOrder,
    *,
    source: Source,
    settled_on: date | None = None,
    note: str = "",
    key_suffix: str = "",
) -> None:
    """Post the result entry and mark the order confirmed.

    ``key_suffix`` distinguishes a reservation posted again by
    reconciliation (the first was reversed when the order failed).
    """
    today = business_today()
    cause = f"payment:{order.order_no}"
    if order.kind == "disburse":
        shares = funders_of(session, order.loan_id)
        if order.reserve_entry_id is None or _is_reversed(session, order.reserve_entry_id):
            reserve = ledger.post(
                session,
                business_date=today,
                idempotency_key=f"payment:{order.order_no}:reserve{key_suffix}",
                cause=cause,
                memo=f"disbursement {order.order_no} reserved again ({source})",
                lines=postings.disbursement_instructed(
                    order.amount, shares, order.channel, order.loan_id
                ),
            )
            order.reserve_entry_id = reserve.id
        lines = postings.disbursement_confirmed(order.amount, shares, order.channel, order.loan_id)
        key, topic = f"payment:{order.order_no}:confirm", "payment.disbursed"
    else:
        lines = postings.repayment_received(order.amount, order.channel, order.loan_id)
        key, topic = f"payment:{order.order_no}:receive", "payment.collected"
    entry = ledger.post(
        session,
        business_date=today,
        idempotency_key=key,
        cause=cause,
        memo=f"{order.kind} {order.order_no} confirmed ({source})",
        lines=lines,
    )
    order.result_entry_id = entry.id
    order.result_date = settled_on or today
    order.failure_code = ""
    transition(session, order, Status.CONFIRMED, source=source, note=note, entry_id=entry.id)
    _publish(session, topic, order)


def _is_reversed(session: Session, entry_id: int) -> bool:
    found = session.scalar(
        select(ledger.JournalEntry.id).where(ledger.JournalEntry.reverses_id == entry_id)
    )
    return found is not None


def locked(session: Session, order_no: str) -> PaymentOrder | None:
    return session.scalar(
        select(PaymentOrder).where(PaymentOrder.order_no == order_no).with_for_update()
    )


def order_by_no(session: Session, order_no: str) -> PaymentOrder:
    order = session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == order_no))
    if order is None:
        raise NotFoundError(f"no payment order {order_no!r}", code="unknown_order")
    return order


def history(session: Session, order: PaymentOrder) -> list[PaymentOrderEvent]:
    return list(
        session.scalars(
            select(PaymentOrderEvent)
            .where(PaymentOrderEvent.order_id == order.id)
            .order_by(PaymentOrderEvent.id)
        )
    )


def apply_ack(session: Session, order_no: str, ack: ChannelAck, *, timeout: timedelta) -> Outcome:
    """Record the channel's answer to the instruction (unless a result overtook it)."""
    order = locked(session, order_no)
    if order is None:
        raise NotFoundError(f"no payment order {order_no!r}", code="unknown_order")
    if order.status not in READY:
        return "ignored"  # the callback was faster than the acknowledgement
    if ack.accepted:
        order.channel_ref = ack.channel_ref or order.channel_ref
        order.next_attempt_at = utcnow() + timeout
        transition(session, order, Status.IN_TRANSIT, source="worker", code=ack.code)
    else:
        fail(
            session,
            order,
            code=ack.code or "refused",
            source="worker",
            note=mask_text(ack.message),
        )
    return "applied"


def apply_result(
    session: Session,
    channel: str,
    result: ChannelResult,
    *,
    source: Source,
    timeout: timedelta = timedelta(minutes=30),
) -> Outcome:
    """Apply a result from a callback or a query; safe to call any number of times.

    Raises :class:`NotFoundError` (``unknown_order``) for an order this
    channel does not carry.
    """
    order = locked(session, result.order_no)
    if order is None or order.channel != channel:
        raise NotFoundError(
            f"channel {channel!r} has no payment order {result.order_no!r}", code="unknown_order"
        )
    if result.channel_ref and not order.channel_ref:
        order.channel_ref = result.channel_ref
    if result.status in ("pending", "unknown"):
        if result.status == "pending" and order.status in READY:
            order.next_attempt_at = utcnow() + timeout
            transition(session, order, Status.IN_TRANSIT, source=source, note="channel has it")
            return "applied"
        return "ignored"
    succeeded = result.status == "succeeded"
    if order.status in FINAL:
        agrees = order.status == Status.CONFIRMED if succeeded else order.status != Status.CONFIRMED
        if agrees:
            return "duplicate"
        record_note(
            session,
            order,
            source,
            "conflicting_result",
            f"channel now says {result.status} {result.code}".strip(),
        )
        log.warning(
            "payment result contradicts a final order",
            extra={"order_no": order.order_no, "status": order.status, "result": result.status},
        )
        return "conflict"
    if order.status in READY:
        transition(
            session, order, Status.IN_TRANSIT, source=source, note="result before acknowledgement"
        )
    note = ""
    if result.amount is not None and money(result.amount) != order.amount:
        note = f"channel reports amount {money(result.amount)}"
    if succeeded:
        _confirm(session, order, source=source, settled_on=result.settled_on, note=note)
    else:
        fail(
            session,
            order,
            code=result.code or "failed",
            source=source,
            note=mask_text(result.message),
            settled_on=result.settled_on,
        )
    return "applied"


# -- Reconciliation's corrections -------------------------------------------------


def force_confirm(session: Session, order: PaymentOrder, *, settled_on: date, note: str) -> None:
    """The channel did move the money of an order we failed: book it (reconciliation only)."""
    if order.status != Status.FAILED:
        raise ConflictError(
            f"payment {order.order_no} is {order.status}, not failed", code="invalid_transition"
        )
    _confirm(
        session, order, source="reconcile", settled_on=settled_on, note=note, key_suffix=":recon"
    )


def force_reverse(session: Session, order: PaymentOrder, *, note: str) -> list[int]:
    """A confirmed order's money never moved: reverse its entries (reconciliation only).

    Returns the ids of the reversing entries.
    """
    if order.status != Status.CONFIRMED or order.result_entry_id is None:
        raise ConflictError(
            f"payment {order.order_no} is {order.status}, not confirmed",
            code="invalid_transition",
        )
    today = business_today()
    reason = f"payment {order.order_no} reversed by reconciliation"
    ids = [ledger.reverse(session, order.result_entry_id, business_date=today, reason=reason).id]
    if order.reserve_entry_id is not None and not _is_reversed(session, order.reserve_entry_id):
        ids.append(
            ledger.reverse(session, order.reserve_entry_id, business_date=today, reason=reason).id
        )
    order.failure_code = "reversed"
    transition(session, order, Status.REVERSED, source="reconcile", note=note, entry_id=ids[0])
    _publish(session, "payment.failed", order)
    return ids
