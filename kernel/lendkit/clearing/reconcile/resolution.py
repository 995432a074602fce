"""Settling an exception: an audited action that posts balanced entries when money moves.

Every exception is closed through :func:`close`, whether a person resolved it
or a later run no longer found it (``cleared``, by the system).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit import audit
from lendkit.clearing import ledger, payments
from lendkit.clearing.ledger import Line
from lendkit.clearing.money import ZERO, money
from lendkit.clearing.payments import Status
from lendkit.clearing.reconcile.models import ACTIONS, ReconException, ReconResolution
from lendkit.db import utcnow
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed
from lendkit.types import ChannelResult

__all__ = ["close", "resolve"]


def close(
    session: Session,
    exception: ReconException,
    action: str,
    actor: str,
    note: str,
    entry_ids: list[int],
) -> ReconResolution:
    exception.status = "resolved"
    exception.resolved_at = utcnow()
    resolution = ReconResolution(
        exception_id=exception.id,
        action=action,
        actor=actor,
        note=note[:256],
        entry_ids=entry_ids,
        at=utcnow(),
    )
    session.add(resolution)
    audit.record(
        session,
        actor,
        "recon.resolve",
        f"recon_exception:{exception.id}",
        resolution=action,
        kind=exception.kind,
        channel=exception.channel,
        business_date=exception.business_date.isoformat(),
        order_no=exception.order_no,
        entries=entry_ids,
        note=note[:256],
    )
    session.flush()
    return resolution


def _suspense_lines(exception: ReconException, delta: Decimal) -> list[Line]:
    """The channel moved ``delta`` more than our books say, in the payment's direction.

    A collection that took more from the borrower owes it back (Cr suspense);
    a disbursement that paid more is owed by the borrower (Dr suspense).
    """
    transit = f"channel_in_transit:{exception.channel}"
    moved = money(delta) if exception.payment_kind == "collect" else -money(delta)
    return [
        Line.debit(transit, moved, loan_id=exception.loan_id),
        Line.credit("borrower_suspense", moved, loan_id=exception.loan_id),
    ]


def resolve(
    session: Session,
    exception_id: int,
    action: str,
    *,
    actor: str,
    note: str,
) -> ReconResolution:
    """Settle one exception by ``action``; audited; balanced entries where money moves.

    Raises :class:`NotFoundError` (``unknown_exception``),
    :class:`ConflictError` (``already_resolved``) and
    :class:`ValidationFailed` (``action_not_allowed``, ``note_required``,
    ``nothing_to_book``).
    """
    exception = session.scalar(
        select(ReconException).where(ReconException.id == exception_id).with_for_update()
    )
    if exception is None:
        raise NotFoundError(f"no reconciliation exception {exception_id}", code="unknown_exception")
    if exception.status != "open":
        raise ConflictError(
            f"exception {exception_id} is already resolved", code="already_resolved"
        )
    if action not in ACTIONS[exception.kind]:
        allowed = ", ".join(sorted(ACTIONS[exception.kind]))
        raise ValidationFailed(
            f"{exception.kind} is resolved by one of: {allowed}", code="action_not_allowed"
        )
    if not note.strip():
        raise ValidationFailed("say why in a note", code="note_required")
    entry_ids: list[int] = []
    today = payments.business_today()
    if action == "book_suspense":
        moved = exception.statement_amount if exception.statement_status == "succeeded" else None
        if moved is None:
            raise ValidationFailed("the channel moved no money here", code="nothing_to_book")
        delta = moved - (exception.ledger_amount or ZERO)
        if delta == 0:
            raise ValidationFailed("the ledger already shows that amount", code="nothing_to_book")
        entry = ledger.post(
            session,
            business_date=today,
            idempotency_key=f"recon:{exception.id}:book_suspense",
            cause=f"recon:{exception.id}",
            memo=f"reconciliation {exception.kind} {exception.order_no}",
            lines=_suspense_lines(exception, delta),
        )
        entry_ids.append(entry.id)
    elif action == "reverse_order":
        order = payments.order_by_no(session, exception.order_no)
        entry_ids += payments.force_reverse(session, order, note=f"recon:{exception.id}")
    elif action == "follow_statement":
        entry_ids += _follow_statement(session, exception)
    return close(session, exception, action, actor, note, entry_ids)


def _follow_statement(session: Session, exception: ReconException) -> list[int]:
    order = payments.order_by_no(session, exception.order_no)
    succeeded = exception.statement_status == "succeeded"
    settled = exception.settled_on or exception.business_date
    before = {order.reserve_entry_id, order.result_entry_id}
    if order.status not in payments.FINAL:
        payments.apply_result(
            session,
            order.channel,
            ChannelResult(
                order_no=order.order_no,
                status="succeeded" if succeeded else "failed",
                amount=exception.statement_amount,
                settled_on=settled,
                code="" if succeeded else "statement_failed",
            ),
            source="reconcile",
        )
    elif succeeded and order.status == Status.FAILED:
        payments.force_confirm(session, order, settled_on=settled, note=f"recon:{exception.id}")
    elif not succeeded and order.status == Status.CONFIRMED:
        return payments.force_reverse(session, order, note=f"recon:{exception.id}")
    after = [order.reserve_entry_id, order.result_entry_id]
    return [entry for entry in after if entry is not None and entry not in before]
