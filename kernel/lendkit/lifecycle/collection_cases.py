"""Collection cases (催收案件): open and closed with the loan, assigned, noted, written off.

Plain functions in the caller's transaction. A loan that goes overdue gets
one open ``collection_case``: opened by the ``loan.overdue`` event, or on the
spot by the first action on the loan; closed by ``loan.cured``,
``loan.settled``, ``loan.prepaid``, ``loan.written_off`` (or end of day's
``loan.active``). The event only triggers :func:`sync_case`, which makes the
case match the loan's status *now*, so late or repeated events never open a
case for a loan that is no longer overdue.

Contacts and reminders are :mod:`~lendkit.lifecycle.collection_contacts`,
promises to pay :mod:`~lendkit.lifecycle.collection_promises`, the queue and
a case's record :mod:`~lendkit.lifecycle.collection_queue`; the routes are in
``collections_api.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lendkit import audit
from lendkit.clearing.money import ZERO, money
from lendkit.db import utcnow
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed
from lendkit.lifecycle import loans, write_off
from lendkit.lifecycle.collection_models import Assignment, CaseStatus, CollectionCase, Note
from lendkit.lifecycle.loan_models import Instalment, Loan, LoanStatus
from lendkit.masking import mask_text
from lendkit.models import StaffUser
from lendkit.row_values import plain_view

__all__ = [
    "CLOSING",
    "MAX_TEXT",
    "OPENING",
    "TOPICS",
    "add_note",
    "amount_due",
    "amount_due_column",
    "amount_to_cure",
    "approve_write_off",
    "assign",
    "case_of",
    "clock",
    "close_case",
    "find_loan",
    "note_view",
    "open_case",
    "request_write_off",
    "staff_text",
    "sync_case",
]

LATE_ROWS = ("due", "overdue")
OPENING = frozenset({"overdue"})
CLOSING = frozenset({"cured", "settled", "prepaid", "written_off", "active"})
# Every loan event collections acts on; the rest pass by.
TOPICS = tuple(f"loan.{kind}" for kind in sorted(OPENING | CLOSING | {"due_soon"}))
MAX_TEXT = 2000


def clock() -> datetime:
    """The time contacts are checked and logged at (the server's, never the caller's)."""
    return utcnow()


def find_loan(session: Session, loan_id: int) -> Loan:
    """The loan, or 404 ``unknown_loan``."""
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise NotFoundError("未找到该贷款。No such loan.", code="unknown_loan")
    return loan


def staff_text(value: object, name: str, label: str, *, required: bool = True) -> str | None:
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
    find_loan(session, loan_id)
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


# -- What is owed -------------------------------------------------------------


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


def amount_due_column() -> Any:
    """:func:`_due` of each loan of the enclosing query."""
    return _due(Loan.id).correlate(Loan).scalar_subquery()


def amount_due(session: Session, loan_id: int) -> Decimal:
    """What the loan's due and overdue instalments still owe (penalty aside)."""
    return money(session.scalar(_due(loan_id)) or ZERO)


def amount_to_cure(session: Session, loan_id: int) -> Decimal:
    """What ends the overdue: due and overdue instalments still unpaid, plus the penalty."""
    return amount_due(session, loan_id) + loans.receivable(session, loan_id, "loan_penalty")


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
    remark = staff_text(note, "note", "备注", required=False)
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
    body = staff_text(text, "text", "备注内容")
    assert body is not None
    opened = open_case(session, loan_id, actor=actor, business_date=business_date)
    note = Note(case_id=opened.id, loan_id=loan_id, author=actor, text=body, at=utcnow())
    session.add(note)
    session.flush()
    return note


def note_view(row: Note) -> dict[str, Any]:
    return plain_view(row, "id case_id author text at")


# -- Write-off -----------------------------------------------------------------


def request_write_off(
    session: Session, loan_id: int, *, actor: str, reason: object, business_date: date
) -> Loan:
    """Ask for the loan's write-off (``write_off.request_write_off``), audited."""
    why = staff_text(reason, "reason", "核销原因")
    assert why is not None
    find_loan(session, loan_id)
    write_off.request_write_off(
        session, loan_id, requested_by=actor, reason=why, business_date=business_date
    )
    audit.record(session, actor, "collections.write_off_requested", f"loan:{loan_id}", reason=why)
    return find_loan(session, loan_id)


def approve_write_off(session: Session, loan_id: int, *, actor: str, business_date: date) -> Loan:
    """Approve a write-off someone else asked for (four eyes); closes the case."""
    was = find_loan(session, loan_id).status
    loan = write_off.approve_write_off(
        session, loan_id, approved_by=actor, business_date=business_date
    )
    if was != LoanStatus.WRITTEN_OFF:
        close_case(session, loan_id, reason="written_off", business_date=business_date)
        audit.record(session, actor, "collections.write_off_approved", f"loan:{loan_id}")
    return loan
