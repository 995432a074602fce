"""Contacts with overdue borrowers (催收联系), within the contact rules.

Contacts are refused outside the rules (:class:`ContactRules`: at most three
a day per borrower, all channels and loans together, and none from 21:00 to
08:00 China time — 不得暴力催收、骚扰). The check and the log row are written
under a lock of the borrower's row, so two collectors at once cannot both
make the third call.

The same quiet hours hold back the SMS reminders of
:mod:`~lendkit.lifecycle.collection_reminders`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lendkit.auth import notify
from lendkit.auth.errors import NotificationFailed
from lendkit.clearing.payments import business_today
from lendkit.clock import CHINA
from lendkit.db import utcnow
from lendkit.errors import ConflictError, LendkitError, ValidationFailed
from lendkit.lifecycle.collection_cases import amount_to_cure, open_case, staff_text
from lendkit.lifecycle.collection_models import Contact
from lendkit.lifecycle.loan_models import Loan
from lendkit.lifecycle.vendor_calls import ask_vendor
from lendkit.models import Borrower
from lendkit.row_values import plain_view
from lendkit.types import ContactReceipt, ContactRequest

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = [
    "CHANNELS",
    "OUTCOMES",
    "PLUGIN_CHANNELS",
    "RULES",
    "ContactLimitReached",
    "ContactRules",
    "ContactUnavailable",
    "check_contact_allowed",
    "contact_view",
    "reach",
    "record_contact",
    "send_sms",
]

log = logging.getLogger(__name__)

CHANNELS = ("sms", "call", "visit")
PLUGIN_CHANNELS = ("sms", "call")  # what contact_borrower plugins deliver
OUTCOMES = frozenset(
    {
        "reached",  # spoke with the borrower
        "promised_to_pay",
        "refused",
        "no_answer",
        "busy",
        "left_message",
        "not_home",  # a visit found nobody
        "wrong_number",
        "delivered",  # an SMS arrived
        "failed",
    }
)
COLLECTION_TEMPLATE = "collection_overdue"

# How the built-in sandbox shows this message (a vendor plugin maps the
# template name to its own registered template).
notify.TEMPLATES.setdefault(
    COLLECTION_TEMPLATE,
    "【{tenant}】您的借款已逾期 {dpd} 天，应还 {amount} 元，请尽快还款。"
    "Your loan is {dpd} days overdue: {amount} CNY is due, please repay.",
)


# -- Rules as data -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactRules:
    """When a borrower may be contacted: a daily limit and quiet hours (China time).

    The limit counts every contact made or attempted with the borrower on the
    calendar day in China, over all his loans and channels. Quiet hours run
    from ``quiet_from`` to ``quiet_until`` across midnight; equal times mean
    none. They also hold back SMS reminders until morning.
    """

    daily_limit: int = 3
    quiet_from: time = time(21, 0)
    quiet_until: time = time(8, 0)

    def quiet(self, moment: datetime) -> bool:
        local = moment.astimezone(CHINA).time()
        if self.quiet_from == self.quiet_until:
            return False
        if self.quiet_from > self.quiet_until:
            return local >= self.quiet_from or local < self.quiet_until
        return self.quiet_from <= local < self.quiet_until


RULES = ContactRules()


class ContactLimitReached(LendkitError):
    status: ClassVar[int] = 429
    code: ClassVar[str] = "contact_limit_reached"
    title: ClassVar[str] = "Contact limit reached"


class ContactUnavailable(LendkitError):
    status: ClassVar[int] = 503
    code: ClassVar[str] = "contact_unavailable"
    title: ClassVar[str] = "Contact service unavailable"


# -- Contacts ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Attempt:
    id: int
    request: ContactRequest


def check_contact_allowed(
    session: Session, borrower_id: int, now: datetime, rules: ContactRules = RULES
) -> int:
    """Refuse a contact the rules forbid; the contacts already made today otherwise.

    Locks the borrower's row, so the caller's check and log row are one step.
    """
    if rules.quiet(now):
        raise ConflictError(
            f"北京时间 {rules.quiet_from:%H:%M} 至次日 {rules.quiet_until:%H:%M} 不得联系借款人 / "
            f"no contact with borrowers from {rules.quiet_from:%H:%M} to "
            f"{rules.quiet_until:%H:%M} China time",
            code="contact_quiet_hours",
        )
    session.execute(select(Borrower.id).where(Borrower.id == borrower_id).with_for_update())
    start = datetime.combine(now.astimezone(CHINA).date(), time(0), CHINA)
    made = (
        session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(
                Contact.borrower_id == borrower_id,
                Contact.kind != "result",
                Contact.at >= start,
                Contact.at < start + timedelta(days=1),
            )
        )
        or 0
    )
    if made >= rules.daily_limit:
        raise ContactLimitReached(
            f"今日已联系该借款人 {made} 次，已达每日上限 {rules.daily_limit} 次 / the borrower "
            f"was contacted {made} times today: the limit is {rules.daily_limit} a day",
        )
    return made


def _channel(value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValidationFailed(
            f"联系方式须为 {'、'.join(allowed)} 之一 / channel must be one of {', '.join(allowed)}",
            code="contact_channel_invalid",
        )
    return value


def record_contact(
    session: Session,
    loan_id: int,
    *,
    channel: object,
    outcome: object,
    note: object = None,
    actor: str,
    now: datetime | None = None,
    rules: ContactRules = RULES,
) -> Contact:
    """Log a contact a member of staff makes now (a call, a visit, an SMS by hand).

    The time is the server's: a contact cannot be logged for another time,
    and one the rules forbid now is refused (``contact_quiet_hours``,
    ``contact_limit_reached``) before anything is written.
    """
    now = now or utcnow()
    chosen = _channel(channel, CHANNELS)
    if not isinstance(outcome, str) or outcome not in OUTCOMES:
        raise ValidationFailed(
            f"联系结果须为 {', '.join(sorted(OUTCOMES))} 之一 / outcome must be one of "
            f"{', '.join(sorted(OUTCOMES))}",
            code="contact_outcome_invalid",
        )
    remark = staff_text(note, "note", "备注", required=False)
    return _log(session, loan_id, chosen, "recorded", outcome, actor, now, rules, note=remark)


def _log(
    session: Session,
    loan_id: int,
    channel: str,
    kind: str,
    outcome: str,
    actor: str,
    now: datetime,
    rules: ContactRules,
    *,
    note: str | None = None,
) -> Contact:
    """Check the rules under the borrower's lock, then write the contact's row."""
    opened = open_case(session, loan_id, actor=actor, business_date=business_today(now))
    check_contact_allowed(session, opened.borrower_id, now, rules)
    row = Contact(
        case_id=opened.id,
        loan_id=loan_id,
        borrower_id=opened.borrower_id,
        channel=channel,
        kind=kind,
        outcome=outcome,
        note=note,
        actor=actor,
        at=now,
        sandbox=False,
    )
    session.add(row)
    session.flush()
    return row


def reach(
    runtime: Runtime,
    loan_id: int,
    *,
    channel: object,
    actor: str,
    now: datetime | None = None,
    rules: ContactRules = RULES,
) -> dict[str, Any]:
    """Reach the borrower through an SMS or call plugin (``contact_borrower``).

    Three steps, like signing a contract: the attempt is checked against the
    rules and logged (it counts even if the vendor then fails: no harassment
    by retrying), the plugin is asked with no transaction open, and its
    receipt is logged. For SMS, when no plugin answers, the tenant's
    ordinary sender (``send_notification``) delivers it. Nobody answering,
    or a plugin raising: 503 ``contact_unavailable``, after the failure is
    logged.
    """
    now = now or utcnow()
    chosen = _channel(channel, PLUGIN_CHANNELS)
    with runtime.sessions.begin() as session:
        attempt = _log_attempt(session, loan_id, chosen, actor, now, rules)
    receipt: ContactReceipt | None
    receipt, failure = ask_vendor(
        lambda: runtime.pm.hook.contact_borrower(
            contact=attempt.request, settings=runtime.settings
        ),
        missing="no_contact_plugin",
        broken="plugin_error",
        log=log,
        warning="contact plugin failed",
        extra={"loan_id": loan_id, "attempt": attempt.id},
    )
    with runtime.sessions.begin() as session:
        if receipt is None and failure == "no_contact_plugin" and chosen == "sms":
            receipt, failure = _send_by_notification(session, runtime, attempt.request)
        result = Contact(
            case_id=session.get_one(Contact, attempt.id).case_id,
            loan_id=loan_id,
            borrower_id=attempt.request.borrower_id,
            channel=chosen,
            kind="result",
            outcome=(receipt.status if receipt is not None else "failed"),
            note=(receipt.reason if receipt is not None else failure) or None,
            actor=f"contact:{receipt.provider}"[:64] if receipt is not None else "system",
            at=utcnow(),
            attempt_id=attempt.id,
            provider=receipt.provider[:64] if receipt is not None else None,
            reference=receipt.reference[:128] if receipt is not None else None,
            sandbox=receipt.sandbox if receipt is not None else False,
        )
        session.add(result)
        session.flush()
        view = contact_view(result)
    if failure:
        raise ContactUnavailable(
            "催收联系服务暂不可用，本次联系已记录 / the contact service is unavailable; the "
            "attempt was logged",
        )
    return view


def _log_attempt(
    session: Session, loan_id: int, channel: str, actor: str, now: datetime, rules: ContactRules
) -> _Attempt:
    row = _log(session, loan_id, channel, "attempt", "requested", actor, now, rules)
    loan = session.get_one(Loan, loan_id)
    borrower = session.get_one(Borrower, row.borrower_id)
    request = ContactRequest(
        request_no=f"contact-{row.id}",
        channel="sms" if channel == "sms" else "call",
        loan_id=loan_id,
        borrower_id=row.borrower_id,
        to=borrower.phone,
        template=COLLECTION_TEMPLATE,
        params={"amount": str(amount_to_cure(session, loan_id)), "dpd": str(loan.dpd)},
    )
    return _Attempt(row.id, request)


def _send_by_notification(
    session: Session, runtime: Runtime, request: ContactRequest
) -> tuple[ContactReceipt | None, str]:
    try:
        message_id = send_sms(session, runtime, request.to, request.template, request.params)
    except NotificationFailed as exc:
        return None, exc.reason or "no_sender"
    stand_in = notify.is_stand_in(message_id)
    return ContactReceipt("send_notification", message_id, "accepted", sandbox=stand_in), ""


def send_sms(
    session: Session, runtime: Runtime, to: str, template: str, params: Mapping[str, str]
) -> str:
    """An SMS through the tenant's sender (``send_notification``); its message id.

    Raises :class:`~lendkit.auth.errors.NotificationFailed`, after rolling back
    what the failing sender wrote.
    """
    with session.begin_nested():
        return notify.send(
            session,
            runtime.settings,
            runtime.pm,
            channel="sms",
            to=to,
            template=template,
            params=params,
        )


def contact_view(row: Contact) -> dict[str, Any]:
    return plain_view(
        row,
        "id case_id channel kind outcome note actor at attempt_id provider reference",
        stand_in=row.sandbox,
    )
