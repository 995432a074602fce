"""Sending payment orders to their channels and asking about the silent ones:
the worker jobs ``payments-instruct`` and ``payments-timeouts``, outside any
request's transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from lendkit.clearing.channels import callback_url, channel_of
from lendkit.clearing.payment_models import READY, PaymentOrder, Status
from lendkit.clearing.payment_orders import (
    apply_ack,
    apply_result,
    fail,
    locked,
    record_note,
)
from lendkit.db import utcnow
from lendkit.masking import mask_text
from lendkit.runtime import Runtime
from lendkit.types import PaymentInstruction

__all__ = ["MAX_BACKOFF", "NOT_ACKNOWLEDGED", "in_transit_timeout", "instruct_due", "query_overdue"]

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)  # a claimed order is not claimed again for this long
MAX_BACKOFF = timedelta(minutes=5)
# The failure code of an order the channel never acknowledged and has no record of.
NOT_ACKNOWLEDGED = "not_acknowledged"


# -- Worker jobs: outside any request -------------------------------------------


def in_transit_timeout(runtime: Runtime) -> timedelta:
    return timedelta(minutes=runtime.settings.payments.in_transit_timeout_minutes)


def _backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 12)), MAX_BACKOFF)


def instruct_due(runtime: Runtime, now: datetime | None = None, limit: int = 50) -> int:
    """Send orders waiting for their channel (job ``payments-instruct``); returns how many.

    Orders are claimed for a short lease in one transaction, sent outside
    any transaction, and the answers applied in another; a crash in between
    sends again, which the channel answers from the first submission. An
    order already sent ``[payments] max_instruct_attempts`` times without an
    answer is not sent again but queried (:func:`_query_unacknowledged`).
    """
    now = now or utcnow()
    cap = runtime.settings.payments.max_instruct_attempts
    claimed: list[tuple[str, str, PaymentInstruction]] = []
    unanswered: list[tuple[str, str, int]] = []
    with runtime.sessions.begin() as session:
        orders = session.scalars(
            select(PaymentOrder)
            .where(PaymentOrder.status.in_(list(READY)), PaymentOrder.next_attempt_at <= now)
            .order_by(PaymentOrder.next_attempt_at, PaymentOrder.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for order in orders:
            order.next_attempt_at = now + LEASE
            if order.attempts >= cap:
                unanswered.append((order.channel, order.order_no, order.attempts))
                continue
            order.attempts += 1
            claimed.append(
                (
                    order.channel,
                    order.kind,
                    PaymentInstruction(
                        order_no=order.order_no,
                        kind=order.kind,  # type: ignore[arg-type]
                        amount=order.amount,
                        account_name=order.payee_name,
                        card_number=order.payee_card,
                        callback_url=callback_url(runtime.settings, order.channel),
                        memo=f"loan {order.loan_id}",
                    ),
                )
            )
    for channel_name, kind, instruction in claimed:
        try:
            channel = channel_of(runtime, channel_name)
            send = channel.disburse if kind == "disburse" else channel.collect
            ack = send(instruction)
        except Exception as exc:
            log.warning(
                "payment instruction not delivered; will retry",
                extra={"order_no": instruction.order_no, "error": mask_text(str(exc))[:300]},
            )
            with runtime.sessions.begin() as session:
                waiting = locked(session, instruction.order_no)
                if waiting is not None and waiting.status in READY:
                    waiting.next_attempt_at = utcnow() + _backoff(waiting.attempts)
            continue
        with runtime.sessions.begin() as session:
            apply_ack(session, instruction.order_no, ack, timeout=in_transit_timeout(runtime))
    for channel_name, order_no, attempts in unanswered:
        _query_unacknowledged(runtime, channel_name, order_no, attempts)
    return len(claimed) + len(unanswered)


def _query_unacknowledged(
    runtime: Runtime, channel_name: str, order_no: str, attempts: int
) -> None:
    """Ask the channel about an order it never acknowledged, and settle it by the answer.

    The channel knows the order (the acknowledgement was lost, not the
    instruction): its answer is applied like a time-out query's — pending
    moves the order in transit, a result confirms or fails it. The channel
    has no record of it: the order fails with ``not_acknowledged`` and its
    reservation is reversed; it is never sent again. The query fails too:
    the order keeps waiting and is asked again after the longest back-off,
    because failing it without the channel's word could free funds the
    channel is paying out.
    """
    try:
        result = channel_of(runtime, channel_name).query(order_no)
    except Exception as exc:
        log.warning(
            "unacknowledged payment could not be queried; will ask again",
            extra={"order_no": order_no, "error": mask_text(str(exc))[:300]},
        )
        with runtime.sessions.begin() as session:
            waiting = locked(session, order_no)
            if waiting is not None and waiting.status in READY:
                waiting.next_attempt_at = utcnow() + MAX_BACKOFF
                record_note(
                    session,
                    waiting,
                    "query",
                    "query_failed",
                    f"no acknowledgement after {attempts} attempts; the query failed too",
                )
        return
    with runtime.sessions.begin() as session:
        if result.status != "unknown":
            apply_result(
                session, channel_name, result, source="query", timeout=in_transit_timeout(runtime)
            )
            return
        waiting = locked(session, order_no)
        if waiting is not None and waiting.status in READY:
            fail(
                session,
                waiting,
                code=NOT_ACKNOWLEDGED,
                source="query",
                note=f"no acknowledgement after {attempts} attempts; "
                "the channel has no record of it",
            )


def query_overdue(runtime: Runtime, now: datetime | None = None, limit: int = 50) -> int:
    """Ask the channel about orders in transit past the time-out (job ``payments-timeouts``)."""
    now = now or utcnow()
    timeout = in_transit_timeout(runtime)
    with runtime.sessions.begin() as session:
        orders = session.scalars(
            select(PaymentOrder)
            .where(PaymentOrder.status == Status.IN_TRANSIT, PaymentOrder.next_attempt_at <= now)
            .order_by(PaymentOrder.next_attempt_at, PaymentOrder.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        due = [(order.channel, order.order_no) for order in orders]
        for order in orders:
            order.next_attempt_at = now + LEASE
    for channel_name, order_no in due:
        try:
            result = channel_of(runtime, channel_name).query(order_no)
        except Exception as exc:
            log.warning(
                "payment query failed; will retry",
                extra={"order_no": order_no, "error": mask_text(str(exc))[:300]},
            )
            continue
        with runtime.sessions.begin() as session:
            if result.status in ("pending", "unknown"):
                pending = locked(session, order_no)
                if pending is not None and pending.status == Status.IN_TRANSIT:
                    pending.next_attempt_at = now + timeout
                    if result.status == "unknown":
                        record_note(
                            session, pending, "query", "channel_unknown", "channel has no record"
                        )
                continue
            apply_result(session, channel_name, result, source="query", timeout=timeout)
    return len(due)
