"""The collections queue and a loan's collection record (read only).

The queue is the overdue loans themselves (the loan's status is the truth),
with their open case if they have one: worst bucket first, then days past
due, then the amount due; filtered by bucket and collector.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from lendkit.clearing.money import money
from lendkit.db import in_order
from lendkit.errors import ValidationFailed
from lendkit.lifecycle import loans, overdue
from lendkit.lifecycle.collection_cases import (
    amount_due,
    amount_due_column,
    amount_to_cure,
    find_loan,
    note_view,
)
from lendkit.lifecycle.collection_contacts import contact_view
from lendkit.lifecycle.collection_models import (
    Assignment,
    CaseStatus,
    CollectionCase,
    Contact,
    Note,
    Promise,
)
from lendkit.lifecycle.collection_promises import open_promises, promise_view
from lendkit.lifecycle.loan_models import Loan, LoanEvent, LoanStatus
from lendkit.masking import mask_name, mask_phone
from lendkit.models import Borrower, StaffUser

__all__ = ["MAX_PAGE", "case_view", "queue"]

MAX_PAGE = 200


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
    amount = amount_due_column().label("amount_due")
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
    promises = open_promises(session, [row[1].id for row in rows if row[1] is not None])
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


def case_view(session: Session, loan_id: int) -> dict[str, Any]:
    """Everything about a loan in collections: standing, borrower (masked), the case
    and its whole history (every case of the loan), promises, notes, contacts."""
    loan = find_loan(session, loan_id)
    borrower = session.get_one(Borrower, loan.borrower_id)
    cases = in_order(session, CollectionCase, CollectionCase.loan_id == loan_id)
    assignments = in_order(session, Assignment, Assignment.loan_id == loan_id)
    staff_ids = {c.collector_id for c in cases} | {
        i for a in assignments for i in (a.collector_id, a.previous_id)
    }
    names = _usernames(session, {i for i in staff_ids if i is not None})

    def of(model: Any) -> list[Any]:
        return in_order(session, model, model.loan_id == loan_id)

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
