"""Collections (催收): the overdue queue, cases, promises to pay, notes, contacts, reminders.

Plain functions in the caller's transaction (except :func:`reach` and the
jobs, which open their own). The routes are in ``collections_api.py``.

* **Cases.** A loan that goes overdue gets one open ``collection_case``:
  opened by the ``loan.overdue`` event, or on the spot by the first action
  on the loan; closed by ``loan.cured``, ``loan.settled``, ``loan.prepaid``,
  ``loan.written_off`` (or end of day's ``loan.active``). The event only
  triggers :func:`sync_case`, which makes the case match the loan's status
  *now*, so late or repeated events never open a case for a loan that is
  no longer overdue.
* **The queue** is the overdue loans themselves (the loan's status is the
  truth), with their open case if they have one: worst bucket first, then
  days past due, then the amount due; filtered by bucket and collector.
* **Contacts** are refused outside the rules (:class:`ContactRules`: at
  most three a day per borrower, all channels and loans together, and none
  from 21:00 to 08:00 China time — 不得暴力催收、骚扰). The check and the
  log row are written under a lock of the borrower's row, so two collectors
  at once cannot both make the third call.
* **Promises to pay** are judged the business day after their date: kept
  when the borrower paid at least the amount from the day it was made to
  its date (repayments, prepayment, recoveries), broken otherwise.
* **Reminders.** ``loan.due_soon`` (end of day, three days before a due
  date) queues one ``collection_reminder`` per event id; the reminder job
  sends it through ``send_notification`` outside quiet hours. End of day
  runs at night, so sending from the event itself would text borrowers at
  one in the morning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from lendkit import audit
from lendkit.auth import notify
from lendkit.auth.errors import NotificationFailed
from lendkit.clearing.money import ZERO, money, parse_amount
from lendkit.clearing.payments import business_today
from lendkit.clock import CHINA
from lendkit.db import utcnow
from lendkit.errors import ConflictError, LendkitError, NotFoundError, ValidationFailed
from lendkit.lifecycle import loans, overdue, write_off
from lendkit.lifecycle.collection_models import (
    Assignment,
    CaseStatus,
    CollectionCase,
    Contact,
    Note,
    Promise,
    PromiseStatus,
    Reminder,
    ReminderStatus,
)
from lendkit.lifecycle.models import RUNNING, Instalment, Loan, LoanEvent, LoanStatus
from lendkit.masking import mask_name, mask_phone, mask_text
from lendkit.models import Borrower, StaffUser
from lendkit.types import ContactReceipt, ContactRequest, Event

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = [
    "PROMISES",
    "RULES",
    "TOPICS",
    "ContactLimitReached",
    "ContactRules",
    "ContactUnavailable",
    "PromiseRules",
    "add_note",
    "amount_due",
    "amount_to_cure",
    "approve_write_off",
    "assign",
    "case_of",
    "case_view",
    "check_contact_allowed",
    "clock",
    "close_case",
    "evaluate_promises",
    "on_event",
    "open_case",
    "promise",
    "queue",
    "reach",
    "record_contact",
    "remember_reminder",
    "request_write_off",
    "send_reminders",
    "sync_case",
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
LATE_ROWS = ("due", "overdue")
PAYING_KINDS = ("repaid", "prepaid", "recovered")
OPENING = frozenset({"overdue"})
CLOSING = frozenset({"cured", "settled", "prepaid", "written_off", "active"})
# Every loan event collections acts on; the rest pass by.
TOPICS = tuple(f"loan.{kind}" for kind in sorted(OPENING | CLOSING | {"due_soon"}))
MAX_TEXT = 2000
MAX_PAGE = 200
COLLECTION_TEMPLATE = "collection_overdue"
REMINDER_TEMPLATE = "loan_due_soon"

# How the built-in sandbox shows these messages (a vendor plugin maps the
# template name to its own registered template).
notify.TEMPLATES.setdefault(
    REMINDER_TEMPLATE,
    "【{tenant}】您的借款第 {period} 期 {amount} 元将于 {due_date} 到期，请按时还款。"
    "Your instalment {period} of {amount} CNY falls due on {due_date}.",
)
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


@dataclass(frozen=True, slots=True)
class PromiseRules:
    """A promise is for a date from today up to ``max_days`` ahead."""

    max_days: int = 30


RULES = ContactRules()
PROMISES = PromiseRules()


class ContactLimitReached(LendkitError):
    status: ClassVar[int] = 429
    code: ClassVar[str] = "contact_limit_reached"
    title: ClassVar[str] = "Contact limit reached"


class ContactUnavailable(LendkitError):
    status: ClassVar[int] = 503
    code: ClassVar[str] = "contact_unavailable"
    title: ClassVar[str] = "Contact service unavailable"


def clock() -> datetime:
    """The time contacts are checked and logged at (the server's, never the caller's)."""
    return utcnow()


def _today(now: datetime) -> date:
    return business_today(now)


def _loan(session: Session, loan_id: int) -> Loan:
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise NotFoundError("未找到该贷款。No such loan.", code="unknown_loan")
    return loan


def _text(value: object, name: str, label: str, *, required: bool = True) -> str | None:
    """Free text from staff: at most MAX_TEXT characters, masked before it is stored."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationFailed(f"请填写{label} / {name} is required", code=f"{name}_invalid")
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ValidationFailed(
            f"{label}须为不超过 {MAX_TEXT} 字的文本 / {name} must be text of at most "
            f"{MAX_TEXT} characters",
            code=f"{name}_invalid",
        )
    return mask_text(value.strip())


# -- Cases ---------------------------------------------------------------------


def case_of(session: Session, loan_id: int, *, lock: bool = False) -> CollectionCase | None:
    """The loan's open case, if it has one."""
    statement = select(CollectionCase).where(
        CollectionCase.loan_id == loan_id, CollectionCase.status == CaseStatus.OPEN
    )
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return session.scalar(statement)


def open_case(session: Session, loan_id: int, *, actor: str, business_date: date) -> CollectionCase:
    """The loan's open case, opened now if it has none; 409 unless the loan is overdue."""
    found = case_of(session, loan_id, lock=True)
    if found is not None:
        return found
    _loan(session, loan_id)
    loan = loans.locked(session, loan_id)  # one opening per loan at a time
    found = case_of(session, loan_id, lock=True)
    if found is not None:
        return found
    if loan.status != LoanStatus.OVERDUE:
        raise ConflictError(
            f"贷款状态为 {loan.status}，未逾期，无需催收 / loan {loan_id} is {loan.status}, "
            "not overdue: there is nothing to collect",
            code="loan_not_overdue",
        )
    opened = CollectionCase(
        loan_id=loan.id,
        borrower_id=loan.borrower_id,
        status=CaseStatus.OPEN,
        opened_on=business_date,
        opened_by=actor,
        opened_at=utcnow(),
    )
    session.add(opened)
    session.flush()
    return opened


def close_case(
    session: Session, loan_id: int, *, reason: str, business_date: date
) -> CollectionCase | None:
    """Close the loan's open case (if any) because the loan became ``reason``."""
    found = case_of(session, loan_id, lock=True)
    if found is None:
        return None
    found.status = CaseStatus.CLOSED
    found.closed_on = business_date
    found.closed_at = utcnow()
    found.close_reason = reason
    session.flush()
    return found


def sync_case(
    session: Session, loan_id: int, *, actor: str, business_date: date, reason: str
) -> CollectionCase | None:
    """Make the loan's case match the loan: open while overdue, closed otherwise."""
    loan = session.get(Loan, loan_id)
    if loan is None:
        return None
    if loan.status == LoanStatus.OVERDUE:
        return open_case(session, loan_id, actor=actor, business_date=business_date)
    return close_case(
        session,
        loan_id,
        reason=reason if reason in CLOSING else str(loan.status),
        business_date=business_date,
    )


def on_event(session: Session, event: Event) -> None:
    """The built-in ``on_loan_event`` subscriber: cases follow the loan; reminders queue."""
    if event.topic not in TOPICS:
        return
    kind = event.topic.removeprefix("loan.")
    payload = event.payload
    loan_id = payload.get("loan_id")
    if not isinstance(loan_id, int):
        return
    day = (
        date.fromisoformat(payload["business_date"])
        if payload.get("business_date")
        else business_today()
    )
    if kind == "due_soon":
        remember_reminder(session, event)
    elif kind in OPENING or kind in CLOSING:
        sync_case(session, loan_id, actor=f"event:{event.id}", business_date=day, reason=kind)


# -- The queue -----------------------------------------------------------------


def _owed() -> Any:
    return (
        Instalment.principal
        - Instalment.paid_principal
        + Instalment.interest
        - Instalment.paid_interest
        + Instalment.fee
        - Instalment.paid_fee
    )


def _due(loan_id: Any) -> Any:
    """What the loan's due and overdue instalments still owe (penalty aside)."""
    return select(func.coalesce(func.sum(_owed()), 0)).where(
        Instalment.loan_id == loan_id, Instalment.status.in_(LATE_ROWS)
    )


def _amount_due() -> Any:
    """:func:`_due` of each loan of the enclosing query."""
    return _due(Loan.id).correlate(Loan).scalar_subquery()


def amount_due(session: Session, loan_id: int) -> Decimal:
    """What the loan's due and overdue instalments still owe (penalty aside)."""
    return money(session.scalar(_due(loan_id)) or ZERO)


def queue(
    session: Session,
    *,
    bucket: str | None = None,
    collector: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Overdue loans, worst first: bucket, then days past due, then amount due.

    ``collector`` is a staff username, or ``"none"`` for loans nobody works.
    """
    buckets = [name for _, name in overdue.BUCKETS]
    if bucket is not None and bucket not in buckets:
        raise ValidationFailed(
            f"逾期阶段须为 {'、'.join(buckets)} 之一 / bucket must be one of {', '.join(buckets)}",
            code="bucket_invalid",
        )
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValidationFailed(
            f"每页 1 至 {MAX_PAGE} 条，偏移不得为负 / limit must be 1 to {MAX_PAGE} and "
            "offset not negative",
            code="page_invalid",
        )
    amount = _amount_due().label("amount_due")
    rank = case(*((Loan.bucket == name, i) for i, name in enumerate(buckets)), else_=-1)
    conditions: list[Any] = [Loan.status == LoanStatus.OVERDUE]
    if bucket is not None:
        conditions.append(Loan.bucket == bucket)
    if collector == "none":
        conditions.append(CollectionCase.collector_id.is_(None))
    elif collector is not None:
        conditions.append(StaffUser.username == collector)
    joined = (
        select(Loan, CollectionCase, StaffUser.username, amount)
        .outerjoin(
            CollectionCase,
            and_(CollectionCase.loan_id == Loan.id, CollectionCase.status == CaseStatus.OPEN),
        )
        .outerjoin(StaffUser, StaffUser.id == CollectionCase.collector_id)
        .where(*conditions)
    )
    total = session.scalar(select(func.count()).select_from(joined.subquery())) or 0
    rows = session.execute(
        joined.order_by(rank.desc(), Loan.dpd.desc(), amount.desc(), Loan.id)
        .limit(limit)
        .offset(offset)
    ).all()
    names = _borrower_names(session, {row[0].borrower_id for row in rows})
    promises = _open_promises(session, [row[1].id for row in rows if row[1] is not None])
    items = [
        {
            "loan_id": loan.id,
            "case_id": opened.id if opened else None,
            "borrower_id": loan.borrower_id,
            "borrower_name": names.get(loan.borrower_id),
            "bucket": loan.bucket,
            "dpd": loan.dpd,
            "classification": loan.classification,
            "principal": str(loan.principal),
            "amount_due": str(money(due)),
            "collector": username,
            "opened_on": opened.opened_on.isoformat() if opened else None,
            "promise": promise_view(promises[opened.id])
            if opened and opened.id in promises
            else None,
        }
        for loan, opened, username, due in rows
    ]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def _borrower_names(session: Session, ids: set[int]) -> dict[int, str | None]:
    if not ids:
        return {}
    people = session.scalars(select(Borrower).where(Borrower.id.in_(ids))).all()
    return {p.id: mask_name(p.name) if p.name else None for p in people}


def _open_promises(session: Session, case_ids: list[int]) -> dict[int, Promise]:
    if not case_ids:
        return {}
    found = session.scalars(
        select(Promise).where(Promise.case_id.in_(case_ids), Promise.status == PromiseStatus.OPEN)
    ).all()
    return {p.case_id: p for p in found}


# -- Assignment and notes ------------------------------------------------------


def assign(
    session: Session,
    loan_id: int,
    collector: str | None,
    *,
    actor: str,
    may_collect: Callable[[str], bool],
    business_date: date,
    note: object = None,
) -> CollectionCase:
    """Hand the loan's case to ``collector`` (a username; None takes it back).

    The collector must be active staff whose role ``may_collect``. Giving a
    case to its current collector changes nothing; every change is an
    ``collection_assignment`` row and an audit row.
    """
    remark = _text(note, "note", "备注", required=False)
    staff: StaffUser | None = None
    if collector is not None:
        staff = session.scalar(select(StaffUser).where(StaffUser.username == collector))
        if staff is None or not staff.active:
            raise NotFoundError(
                f"未找到在职员工 {collector[:64]} / no active staff user {collector[:64]!r}",
                code="unknown_collector",
            )
        if not may_collect(staff.role):
            raise ValidationFailed(
                f"员工 {collector[:64]} 无催收权限 / staff user {collector[:64]!r} may not "
                "work collections (role without collections.work)",
                code="collector_not_allowed",
            )
    opened = open_case(session, loan_id, actor=actor, business_date=business_date)
    wanted = staff.id if staff is not None else None
    if opened.collector_id == wanted:
        return opened
    previous = opened.collector_id
    session.add(
        Assignment(
            case_id=opened.id,
            loan_id=loan_id,
            collector_id=wanted,
            previous_id=previous,
            assigned_by=actor,
            note=remark,
            at=utcnow(),
        )
    )
    opened.collector_id = wanted
    audit.record(
        session,
        actor,
        "collections.assigned",
        f"loan:{loan_id}",
        case_id=opened.id,
        collector=collector,
        previous=_username(session, previous),
    )
    session.flush()
    return opened


def _username(session: Session, staff_id: int | None) -> str | None:
    if staff_id is None:
        return None
    return session.scalar(select(StaffUser.username).where(StaffUser.id == staff_id))


def add_note(
    session: Session, loan_id: int, text: object, *, actor: str, business_date: date
) -> Note:
    """Add a note to the loan's case (masked free text; notes are never changed)."""
    body = _text(text, "text", "备注内容")
    assert body is not None
    opened = open_case(session, loan_id, actor=actor, business_date=business_date)
    note = Note(case_id=opened.id, loan_id=loan_id, author=actor, text=body, at=utcnow())
    session.add(note)
    session.flush()
    return note


# -- Contacts ------------------------------------------------------------------


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
    remark = _text(note, "note", "备注", required=False)
    opened = open_case(session, loan_id, actor=actor, business_date=_today(now))
    check_contact_allowed(session, opened.borrower_id, now, rules)
    row = Contact(
        case_id=opened.id,
        loan_id=loan_id,
        borrower_id=opened.borrower_id,
        channel=chosen,
        kind="recorded",
        outcome=outcome,
        note=remark,
        actor=actor,
        at=now,
        sandbox=False,
    )
    session.add(row)
    session.flush()
    return row


def amount_to_cure(session: Session, loan_id: int) -> Decimal:
    """What ends the overdue: due and overdue instalments still unpaid, plus the penalty."""
    return amount_due(session, loan_id) + loans.receivable(session, loan_id, "loan_penalty")


@dataclass(frozen=True, slots=True)
class _Attempt:
    id: int
    request: ContactRequest


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
    receipt: ContactReceipt | None = None
    failure = ""
    try:
        receipt = runtime.pm.hook.contact_borrower(
            contact=attempt.request, settings=runtime.settings
        )
        failure = "" if receipt is not None else "no_contact_plugin"
    except Exception as exc:  # a vendor's failure must not lose the attempt
        failure = "plugin_error"
        log.warning(
            "contact plugin failed",
            extra={"loan_id": loan_id, "attempt": attempt.id, "error": type(exc).__name__},
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
    opened = open_case(session, loan_id, actor=actor, business_date=_today(now))
    check_contact_allowed(session, opened.borrower_id, now, rules)
    loan = session.get_one(Loan, loan_id)
    borrower = session.get_one(Borrower, opened.borrower_id)
    row = Contact(
        case_id=opened.id,
        loan_id=loan_id,
        borrower_id=opened.borrower_id,
        channel=channel,
        kind="attempt",
        outcome="requested",
        actor=actor,
        at=now,
        sandbox=False,
    )
    session.add(row)
    session.flush()
    request = ContactRequest(
        request_no=f"contact-{row.id}",
        channel="sms" if channel == "sms" else "call",
        loan_id=loan_id,
        borrower_id=opened.borrower_id,
        to=borrower.phone,
        template=COLLECTION_TEMPLATE,
        params={"amount": str(amount_to_cure(session, loan_id)), "dpd": str(loan.dpd)},
    )
    return _Attempt(row.id, request)


def _send_by_notification(
    session: Session, runtime: Runtime, request: ContactRequest
) -> tuple[ContactReceipt | None, str]:
    try:
        with session.begin_nested():  # a failing sender's own writes roll back
            message_id = notify.send(
                session,
                runtime.settings,
                runtime.pm,
                channel="sms",
                to=request.to,
                template=request.template,
                params=request.params,
            )
    except NotificationFailed as exc:
        return None, exc.reason or "no_sender"
    stand_in = notify.is_stand_in(message_id)
    return ContactReceipt("send_notification", message_id, "accepted", sandbox=stand_in), ""


# -- Promises to pay -----------------------------------------------------------


def _amount(value: object) -> Decimal:
    return parse_amount(value, label="承诺金额", code="promise_amount_invalid")


def _date(value: object) -> date:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            '承诺日期须为 "YYYY-MM-DD" / date must be "YYYY-MM-DD"', code="promise_date_invalid"
        ) from None


def promise(
    session: Session,
    loan_id: int,
    amount: object,
    promised_date: object,
    *,
    actor: str,
    business_date: date,
    rules: PromiseRules = PROMISES,
) -> Promise:
    """Record the borrower's promise to pay ``amount`` by ``promised_date``.

    The amount is more than zero and at most what the loan owes; the date
    from today to ``rules.max_days`` ahead; one open promise per case
    (``promise_open``: wait for it to be judged).
    """
    sum_ = _amount(amount)
    day = promised_date if isinstance(promised_date, date) else _date(promised_date)
    last = business_date + timedelta(days=rules.max_days)
    if not business_date <= day <= last:
        raise ValidationFailed(
            f"承诺日期须在 {business_date} 至 {last} 之间 / the promised date must be from "
            f"{business_date} to {last}",
            code="promise_date_invalid",
        )
    opened = open_case(session, loan_id, actor=actor, business_date=business_date)
    owed = sum(loans.outstanding(session, loan_id).values(), ZERO)
    if not ZERO < sum_ <= owed:
        raise ValidationFailed(
            f"承诺金额须大于零且不超过欠款 {owed} 元 / the amount must be more than zero and "
            f"at most the {owed} owed",
            code="promise_amount_invalid",
        )
    if _open_promises(session, [opened.id]):
        raise ConflictError(
            "该案件已有未到期的还款承诺 / the case already has an open promise to pay",
            code="promise_open",
        )
    made = Promise(
        case_id=opened.id,
        loan_id=loan_id,
        amount=sum_,
        promised_date=day,
        made_on=business_date,
        made_by=actor,
        made_at=utcnow(),
        status=PromiseStatus.OPEN,
    )
    session.add(made)
    session.flush()
    loans.record(
        session,
        _loan(session, loan_id),
        "promise_made",
        business_date,
        promise_id=made.id,
        amount=str(sum_),
        promised_date=day.isoformat(),
    )
    return made


def paid_between(session: Session, loan_id: int, first: date, last: date) -> Decimal:
    """What the borrower paid on the loan from ``first`` to ``last`` (business dates)."""
    total = ZERO
    for kind, detail in session.execute(
        select(LoanEvent.kind, LoanEvent.detail).where(
            LoanEvent.loan_id == loan_id,
            LoanEvent.kind.in_(PAYING_KINDS),
            LoanEvent.business_date >= first,
            LoanEvent.business_date <= last,
        )
    ):
        parts = ("amount",) if kind == "recovered" else PAYMENT_PARTS
        total += sum((Decimal(str(detail.get(p) or 0)) for p in parts), ZERO)
    return money(total)


PAYMENT_PARTS = ("principal", "interest", "penalty", "fees", "credit")


def evaluate_promises(session: Session, today: date, *, limit: int = 500) -> dict[str, int]:
    """Judge open promises whose date is before ``today``: kept or broken (once)."""
    due = session.scalars(
        select(Promise)
        .where(Promise.status == PromiseStatus.OPEN, Promise.promised_date < today)
        .order_by(Promise.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    counts = {"kept": 0, "broken": 0}
    for made in due:
        paid = paid_between(session, made.loan_id, made.made_on, made.promised_date)
        made.status = PromiseStatus.KEPT if paid >= made.amount else PromiseStatus.BROKEN
        made.paid = paid
        made.evaluated_on = today
        made.evaluated_at = utcnow()
        counts[made.status] += 1
        loans.record(
            session,
            session.get_one(Loan, made.loan_id),
            f"promise_{made.status}",
            today,
            promise_id=made.id,
            amount=str(made.amount),
            paid=str(paid),
            promised_date=made.promised_date.isoformat(),
        )
    session.flush()
    return counts


def promise_job(runtime: Runtime, now: datetime) -> dict[str, int]:
    """The worker's job: judge every promise whose date has passed, in batches."""
    totals = {"kept": 0, "broken": 0}
    while True:
        with runtime.sessions.begin() as session:
            counts = evaluate_promises(session, business_today(now))
        for key, value in counts.items():
            totals[key] += value
        if sum(counts.values()) == 0:
            return totals


# -- Write-off -----------------------------------------------------------------


def request_write_off(
    session: Session, loan_id: int, *, actor: str, reason: object, business_date: date
) -> Loan:
    """Ask for the loan's write-off (``write_off.request_write_off``), audited."""
    why = _text(reason, "reason", "核销原因")
    assert why is not None
    _loan(session, loan_id)
    write_off.request_write_off(
        session, loan_id, requested_by=actor, reason=why, business_date=business_date
    )
    audit.record(session, actor, "collections.write_off_requested", f"loan:{loan_id}", reason=why)
    return _loan(session, loan_id)


def approve_write_off(session: Session, loan_id: int, *, actor: str, business_date: date) -> Loan:
    """Approve a write-off someone else asked for (four eyes); closes the case."""
    was = _loan(session, loan_id).status
    loan = write_off.approve_write_off(
        session, loan_id, approved_by=actor, business_date=business_date
    )
    if was != LoanStatus.WRITTEN_OFF:
        close_case(session, loan_id, reason="written_off", business_date=business_date)
        audit.record(session, actor, "collections.write_off_approved", f"loan:{loan_id}")
    return loan


# -- Reminders -----------------------------------------------------------------


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
    try:
        with session.begin_nested():
            message_id = notify.send(
                session,
                runtime.settings,
                runtime.pm,
                channel="sms",
                to=borrower.phone,
                template=REMINDER_TEMPLATE,
                params={
                    "amount": str(left),
                    "due_date": reminder.due_date.isoformat(),
                    "period": str(reminder.period),
                },
            )
    except NotificationFailed as exc:
        reminder.status, reminder.reason = ReminderStatus.FAILED, (exc.reason or "")[:32]
        return
    reminder.status = ReminderStatus.SENT
    reminder.message_id = message_id[:128]
    reminder.sent_at = utcnow()


def reminder_job(runtime: Runtime, now: datetime) -> dict[str, int]:
    return send_reminders(runtime, now)


# -- Views ---------------------------------------------------------------------


def promise_view(made: Promise) -> dict[str, Any]:
    return {
        "id": made.id,
        "case_id": made.case_id,
        "amount": str(made.amount),
        "promised_date": made.promised_date.isoformat(),
        "made_on": made.made_on.isoformat(),
        "made_by": made.made_by,
        "status": made.status,
        "paid": None if made.paid is None else str(made.paid),
        "evaluated_on": made.evaluated_on.isoformat() if made.evaluated_on else None,
    }


def contact_view(row: Contact) -> dict[str, Any]:
    return {
        "id": row.id,
        "case_id": row.case_id,
        "channel": row.channel,
        "kind": row.kind,
        "outcome": row.outcome,
        "note": row.note,
        "actor": row.actor,
        "at": row.at.isoformat(),
        "attempt_id": row.attempt_id,
        "provider": row.provider,
        "reference": row.reference,
        "stand_in": row.sandbox,
    }


def note_view(row: Note) -> dict[str, Any]:
    return {
        "id": row.id,
        "case_id": row.case_id,
        "author": row.author,
        "text": row.text,
        "at": row.at.isoformat(),
    }


def case_view(session: Session, loan_id: int) -> dict[str, Any]:
    """Everything about a loan in collections: standing, borrower (masked), the case
    and its whole history (every case of the loan), promises, notes, contacts."""
    loan = _loan(session, loan_id)
    borrower = session.get_one(Borrower, loan.borrower_id)
    cases = session.scalars(
        select(CollectionCase).where(CollectionCase.loan_id == loan_id).order_by(CollectionCase.id)
    ).all()
    assignments = session.scalars(
        select(Assignment).where(Assignment.loan_id == loan_id).order_by(Assignment.id)
    ).all()
    staff_ids = {c.collector_id for c in cases} | {
        i for a in assignments for i in (a.collector_id, a.previous_id)
    }
    names = _usernames(session, {i for i in staff_ids if i is not None})

    def of(model: Any) -> list[Any]:
        return list(
            session.scalars(select(model).where(model.loan_id == loan_id).order_by(model.id))
        )

    requested = session.scalars(
        select(LoanEvent)
        .where(LoanEvent.loan_id == loan_id, LoanEvent.kind == "write_off_requested")
        .order_by(LoanEvent.id.desc())
    ).first()
    current = next((c for c in cases if c.status == CaseStatus.OPEN), None)
    return {
        "loan": {
            "id": loan.id,
            "status": loan.status,
            "dpd": loan.dpd,
            "bucket": loan.bucket,
            "classification": loan.classification,
            "principal": str(loan.principal),
            "amount_due": str(amount_due(session, loan_id)),
            "amount_to_cure": str(amount_to_cure(session, loan_id)),
            "outstanding": {
                k.removeprefix("loan_"): str(v)
                for k, v in loans.outstanding(session, loan_id).items()
            },
        },
        "borrower": {
            "id": borrower.id,
            "name": mask_name(borrower.name) if borrower.name else None,
            "phone": mask_phone(borrower.phone),
        },
        "case": _case_view(current, names) if current else None,
        "cases": [_case_view(c, names) for c in cases],
        "assignments": [
            {
                "id": a.id,
                "case_id": a.case_id,
                "collector": names.get(a.collector_id) if a.collector_id else None,
                "previous": names.get(a.previous_id) if a.previous_id else None,
                "assigned_by": a.assigned_by,
                "note": a.note,
                "at": a.at.isoformat(),
            }
            for a in assignments
        ],
        "promises": [promise_view(p) for p in of(Promise)],
        "notes": [note_view(n) for n in of(Note)],
        "contacts": [contact_view(c) for c in of(Contact)],
        "write_off_request": None
        if requested is None
        else {
            "requested_by": requested.detail.get("requested_by"),
            "reason": requested.detail.get("reason"),
            "business_date": requested.business_date.isoformat(),
        },
    }


def _usernames(session: Session, ids: set[int]) -> Mapping[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(ids)))
    return {staff_id: username for staff_id, username in rows}


def _case_view(found: CollectionCase, names: Mapping[int, str]) -> dict[str, Any]:
    return {
        "id": found.id,
        "status": found.status,
        "collector": names.get(found.collector_id) if found.collector_id else None,
        "opened_on": found.opened_on.isoformat(),
        "opened_by": found.opened_by,
        "closed_on": found.closed_on.isoformat() if found.closed_on else None,
        "close_reason": found.close_reason,
    }
