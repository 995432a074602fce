"""Payment orders: one state machine per movement of money through a channel.

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
suspense) and publish ``payment.collected``: allocating the money to the
loan's components and paying the funders back is the loan lifecycle's step
(``colending.repayment_allocated`` / ``repayment_settled``), taken when it
consumes that event. That is the seam.

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
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from lendkit import audit, outbox
from lendkit.clearing import colending, ledger
from lendkit.clearing.funding import funders_of, set_loan_funding
from lendkit.clearing.money import money
from lendkit.clock import china_today
from lendkit.crypto.orm import Encrypted, EncryptedRow
from lendkit.db import Base, BigId, UTCDateTime, utcnow
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed
from lendkit.masking import mask_text
from lendkit.types import ChannelAck, ChannelResult, PaymentInstruction, PaymentKind

if TYPE_CHECKING:
    from lendkit.clearing.colending import Funder
    from lendkit.runtime import Runtime

__all__ = [
    "FINAL",
    "NOT_ACKNOWLEDGED",
    "Outcome",
    "Payee",
    "PaymentOrder",
    "PaymentOrderEvent",
    "Status",
    "apply_ack",
    "apply_result",
    "business_today",
    "force_confirm",
    "force_reverse",
    "history",
    "instruct_due",
    "order_by_no",
    "query_overdue",
    "request_collection",
    "request_disbursement",
]

log = logging.getLogger(__name__)

AMOUNT = Numeric(18, 2)
LEASE = timedelta(seconds=60)  # a claimed order is not claimed again for this long
MAX_BACKOFF = timedelta(minutes=5)
# The failure code of an order the channel never acknowledged and has no record of.
NOT_ACKNOWLEDGED = "not_acknowledged"


def business_today(now: datetime | None = None) -> date:
    """Today's business date in China."""
    return china_today(now or utcnow())


class Status(StrEnum):
    CREATED = "created"
    RESERVED = "reserved"
    IN_TRANSIT = "in_transit"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    REVERSED = "reversed"


FINAL = frozenset({Status.CONFIRMED, Status.FAILED, Status.REVERSED})
READY = frozenset({Status.CREATED, Status.RESERVED})  # waiting to be sent to the channel
TRANSITIONS: dict[Status | None, frozenset[Status]] = {
    None: frozenset({Status.CREATED}),
    Status.CREATED: frozenset({Status.RESERVED, Status.IN_TRANSIT, Status.FAILED}),
    Status.RESERVED: frozenset({Status.IN_TRANSIT, Status.FAILED}),
    Status.IN_TRANSIT: frozenset({Status.CONFIRMED, Status.FAILED}),
    # Only reconciliation moves a final order, when the channel's statement disagrees.
    Status.CONFIRMED: frozenset({Status.REVERSED}),
    Status.FAILED: frozenset({Status.CONFIRMED}),
    Status.REVERSED: frozenset(),
}
Source = Literal["api", "worker", "callback", "query", "reconcile"]


class PaymentOrder(EncryptedRow, Base):
    __tablename__ = "payment_order"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # disburse | collect
    channel: Mapped[str] = mapped_column(String(32))
    loan_id: Mapped[int] = mapped_column(BigInteger, index=True)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    # Personal data, SM4-encrypted at rest; decrypted only to build the instruction.
    payee_name: Mapped[str] = mapped_column(Encrypted())
    payee_card: Mapped[str] = mapped_column(Encrypted())
    business_date: Mapped[date] = mapped_column(Date)
    # A cache of the last history row (see PaymentOrderEvent).
    status: Mapped[str] = mapped_column(String(16))
    result_date: Mapped[date | None] = mapped_column(Date)  # the channel's settlement date
    channel_ref: Mapped[str | None] = mapped_column(String(64))
    failure_code: Mapped[str] = mapped_column(String(64), default="")
    reserve_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))
    result_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_payment_order_due", "status", "next_attempt_at"),
        Index("ix_payment_order_result", "channel", "result_date"),
    )


class PaymentOrderEvent(Base):
    """One step of an order's history; append-only (the database refuses changes)."""

    __tablename__ = "payment_order_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("payment_order.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(String(256), default="")
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"))


@dataclass(frozen=True, slots=True)
class Payee:
    """Whose card the money goes to or comes from; kept out of ``repr``."""

    name: str = field(repr=False)
    card_number: str = field(repr=False)


Outcome = Literal["applied", "duplicate", "conflict", "ignored"]


# -- Requests: the caller's transaction ---------------------------------------


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
                lines=colending.disbursement_instructed(order.amount, shares, channel, loan_id),
            )
    except ValidationFailed as exc:
        if exc.code != "insufficient_funds":
            raise
        _fail(session, order, code="insufficient_funds", source="api", note=exc.detail)
        return order
    order.reserve_entry_id = entry.id
    _transition(session, order, Status.RESERVED, source="api", entry_id=entry.id)
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
) -> PaymentOrder:
    """Create a withholding order (代扣), or return the order of this key.

    Nothing is posted until the channel confirms the money arrived.
    """
    order, _ = _new_order(
        session, runtime, "collect", idempotency_key, loan_id, amount, channel, payee
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
) -> tuple[PaymentOrder, bool]:
    from lendkit.clearing.channels import channel_names

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
        return _same_request(existing, kind, loan_id, value, channel, payee), False
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
        return _same_request(raced, kind, loan_id, value, channel, payee), False
    session.add(
        PaymentOrderEvent(
            order_id=order.id, at=now, from_status=None, to_status=Status.CREATED, source="api"
        )
    )
    return order, True


def _same_request(
    order: PaymentOrder,
    kind: str,
    loan_id: int,
    amount: Decimal,
    channel: str,
    payee: Payee,
) -> PaymentOrder:
    theirs = (order.kind, order.loan_id, order.amount, order.channel)
    if theirs != (kind, loan_id, amount, channel) or (order.payee_name, order.payee_card) != (
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


# -- State changes ---------------------------------------------------------------


def _transition(
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


def _note(session: Session, order: PaymentOrder, source: Source, code: str, note: str) -> None:
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
            "status": order.status,
            "code": order.failure_code,
            "result_date": order.result_date.isoformat() if order.result_date else None,
        },
    )


def _fail(
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
    _transition(
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
                lines=colending.disbursement_instructed(
                    order.amount, shares, order.channel, order.loan_id
                ),
            )
            order.reserve_entry_id = reserve.id
        lines = colending.disbursement_confirmed(order.amount, shares, order.channel, order.loan_id)
        key, topic = f"payment:{order.order_no}:confirm", "payment.disbursed"
    else:
        lines = colending.repayment_received(order.amount, order.channel, order.loan_id)
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
    _transition(session, order, Status.CONFIRMED, source=source, note=note, entry_id=entry.id)
    _publish(session, topic, order)


def _is_reversed(session: Session, entry_id: int) -> bool:
    found = session.scalar(
        select(ledger.JournalEntry.id).where(ledger.JournalEntry.reverses_id == entry_id)
    )
    return found is not None


def _locked(session: Session, order_no: str) -> PaymentOrder | None:
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
    order = _locked(session, order_no)
    if order is None:
        raise NotFoundError(f"no payment order {order_no!r}", code="unknown_order")
    if order.status not in READY:
        return "ignored"  # the callback was faster than the acknowledgement
    if ack.accepted:
        order.channel_ref = ack.channel_ref or order.channel_ref
        order.next_attempt_at = utcnow() + timeout
        _transition(session, order, Status.IN_TRANSIT, source="worker", code=ack.code)
    else:
        _fail(
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
    order = _locked(session, result.order_no)
    if order is None or order.channel != channel:
        raise NotFoundError(
            f"channel {channel!r} has no payment order {result.order_no!r}", code="unknown_order"
        )
    if result.channel_ref and not order.channel_ref:
        order.channel_ref = result.channel_ref
    if result.status in ("pending", "unknown"):
        if result.status == "pending" and order.status in READY:
            order.next_attempt_at = utcnow() + timeout
            _transition(session, order, Status.IN_TRANSIT, source=source, note="channel has it")
            return "applied"
        return "ignored"
    succeeded = result.status == "succeeded"
    if order.status in FINAL:
        agrees = order.status == Status.CONFIRMED if succeeded else order.status != Status.CONFIRMED
        if agrees:
            return "duplicate"
        _note(
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
        _transition(
            session, order, Status.IN_TRANSIT, source=source, note="result before acknowledgement"
        )
    note = ""
    if result.amount is not None and money(result.amount) != order.amount:
        note = f"channel reports amount {money(result.amount)}"
    if succeeded:
        _confirm(session, order, source=source, settled_on=result.settled_on, note=note)
    else:
        _fail(
            session,
            order,
            code=result.code or "failed",
            source=source,
            note=mask_text(result.message),
            settled_on=result.settled_on,
        )
    return "applied"


# -- Worker jobs: outside any request -------------------------------------------


def _timeout(runtime: Runtime) -> timedelta:
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
    from lendkit.clearing.channels import callback_url, channel_of

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
                waiting = _locked(session, instruction.order_no)
                if waiting is not None and waiting.status in READY:
                    waiting.next_attempt_at = utcnow() + _backoff(waiting.attempts)
            continue
        with runtime.sessions.begin() as session:
            apply_ack(session, instruction.order_no, ack, timeout=_timeout(runtime))
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
    from lendkit.clearing.channels import channel_of

    try:
        result = channel_of(runtime, channel_name).query(order_no)
    except Exception as exc:
        log.warning(
            "unacknowledged payment could not be queried; will ask again",
            extra={"order_no": order_no, "error": mask_text(str(exc))[:300]},
        )
        with runtime.sessions.begin() as session:
            waiting = _locked(session, order_no)
            if waiting is not None and waiting.status in READY:
                waiting.next_attempt_at = utcnow() + MAX_BACKOFF
                _note(
                    session,
                    waiting,
                    "query",
                    "query_failed",
                    f"no acknowledgement after {attempts} attempts; the query failed too",
                )
        return
    with runtime.sessions.begin() as session:
        if result.status != "unknown":
            apply_result(session, channel_name, result, source="query", timeout=_timeout(runtime))
            return
        waiting = _locked(session, order_no)
        if waiting is not None and waiting.status in READY:
            _fail(
                session,
                waiting,
                code=NOT_ACKNOWLEDGED,
                source="query",
                note=f"no acknowledgement after {attempts} attempts; "
                "the channel has no record of it",
            )


def query_overdue(runtime: Runtime, now: datetime | None = None, limit: int = 50) -> int:
    """Ask the channel about orders in transit past the time-out (job ``payments-timeouts``)."""
    from lendkit.clearing.channels import channel_of

    now = now or utcnow()
    timeout = _timeout(runtime)
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
                pending = _locked(session, order_no)
                if pending is not None and pending.status == Status.IN_TRANSIT:
                    pending.next_attempt_at = now + timeout
                    if result.status == "unknown":
                        _note(session, pending, "query", "channel_unknown", "channel has no record")
                continue
            apply_result(session, channel_name, result, source="query", timeout=timeout)
    return len(due)


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
    _transition(session, order, Status.REVERSED, source="reconcile", note=note, entry_id=ids[0])
    _publish(session, "payment.failed", order)
    return ids
