"""Reminders (还款提醒) of instalments about to fall due, sent by SMS outside quiet hours.

``loan.due_soon`` (end of day, three days before a due date) queues one
``collection_reminder`` per event id; the reminder job sends it through
``send_notification`` outside quiet hours. End of day runs at night, so
sending from the event itself would text borrowers at one in the morning.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit.auth import notify
from lendkit.auth.errors import NotificationFailed
from lendkit.clearing.money import money
from lendkit.clearing.payments import business_today
from lendkit.db import utcnow
from lendkit.lifecycle.collection_contacts import RULES, ContactRules, send_sms
from lendkit.lifecycle.collection_models import Reminder, ReminderStatus
from lendkit.lifecycle.loan_models import RUNNING, Instalment, Loan
from lendkit.models import Borrower
from lendkit.types import Event

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = ["REMINDER_TEMPLATE", "remember_reminder", "reminder_job", "send_reminders"]

REMINDER_TEMPLATE = "loan_due_soon"

# How the built-in sandbox shows the reminder (a vendor plugin maps the
# template name to its own registered template).
notify.TEMPLATES.setdefault(
    REMINDER_TEMPLATE,
    "【{tenant}】您的借款第 {period} 期 {amount} 元将于 {due_date} 到期，请按时还款。"
    "Your instalment {period} of {amount} CNY falls due on {due_date}.",
)


def remember_reminder(session: Session, event: Event) -> Reminder | None:
    """Queue the SMS reminder of a ``loan.due_soon`` event, once per event id."""
    existing = session.scalar(select(Reminder).where(Reminder.event_id == event.id))
    if existing is not None:
        return existing
    loan_id, period = event.payload.get("loan_id"), event.payload.get("period")
    row = session.get(Instalment, (loan_id, period)) if loan_id and period else None
    loan = session.get(Loan, loan_id) if row is not None else None
    if row is None or loan is None:
        return None
    reminder = Reminder(
        event_id=event.id,
        loan_id=loan.id,
        borrower_id=loan.borrower_id,
        period=row.period,
        due_date=row.due_date,
        amount=_instalment_left(row),
        status=ReminderStatus.PENDING,
        created_at=utcnow(),
    )
    session.add(reminder)
    session.flush()
    return reminder


def _instalment_left(row: Instalment) -> Decimal:
    return money(
        row.principal
        - row.paid_principal
        + row.interest
        - row.paid_interest
        + row.fee
        - row.paid_fee
    )


def send_reminders(
    runtime: Runtime, now: datetime, *, rules: ContactRules = RULES, limit: int = 200
) -> dict[str, int]:
    """Send pending reminders through ``send_notification``, one per transaction.

    Nothing goes out during quiet hours. A reminder whose instalment was paid
    meanwhile is skipped; one whose due date has passed expires. Each is
    sent inside the transaction that marks it sent, so it goes out once
    (a crash between the vendor's acceptance and the commit could repeat it).
    """
    counts: dict[str, int] = {}
    if rules.quiet(now):
        return counts
    for _ in range(limit):
        with runtime.sessions.begin() as session:
            reminder = session.scalars(
                select(Reminder)
                .where(Reminder.status == ReminderStatus.PENDING)
                .order_by(Reminder.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if reminder is None:
                break
            _send_reminder(session, runtime, reminder, now)
            counts[reminder.status] = counts.get(reminder.status, 0) + 1
    return counts


def _send_reminder(session: Session, runtime: Runtime, reminder: Reminder, now: datetime) -> None:
    loan = session.get_one(Loan, reminder.loan_id)
    row = session.get_one(Instalment, (reminder.loan_id, reminder.period))
    left = _instalment_left(row)
    if loan.status not in RUNNING or row.status in ("paid", "prepaid") or left <= 0:
        reminder.status, reminder.reason = ReminderStatus.SKIPPED, "nothing_due"
        return
    if business_today(now) > reminder.due_date:
        reminder.status, reminder.reason = ReminderStatus.EXPIRED, "past_due_date"
        return
    borrower = session.get_one(Borrower, reminder.borrower_id)
    params = {
        "amount": str(left),
        "due_date": reminder.due_date.isoformat(),
        "period": str(reminder.period),
    }
    try:
        message_id = send_sms(session, runtime, borrower.phone, REMINDER_TEMPLATE, params)
    except NotificationFailed as exc:
        reminder.status, reminder.reason = ReminderStatus.FAILED, (exc.reason or "")[:32]
        return
    reminder.status = ReminderStatus.SENT
    reminder.message_id = message_id[:128]
    reminder.sent_at = utcnow()


def reminder_job(runtime: Runtime, now: datetime) -> dict[str, int]:
    return send_reminders(runtime, now)
