"""Reading applications: the queries to page through, and the views as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from lendkit.db import in_order, utcnow
from lendkit.lifecycle import credit
from lendkit.lifecycle.application_models import (
    Application,
    ApplicationEvent,
    ApplicationStatus,
    CreditDecision,
)

__all__ = [
    "STATUSES",
    "application_view",
    "effective_status",
    "history",
    "latest_decision",
    "of_borrower",
    "queue_view",
    "review_queue",
]

S = ApplicationStatus
# Status -> (Chinese, English), as borrowers and staff see it.
STATUSES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        S.SUBMITTED: ("已提交", "submitted"),
        S.REVIEW: ("人工审核中", "under manual review"),
        S.APPROVED: ("已批准，请在有效期内确认", "approved: accept the offer before it expires"),
        S.REJECTED: ("未获批准", "declined"),
        S.ACCEPTED: ("已接受报价", "offer accepted"),
        S.EXPIRED: ("报价已过期", "the offer has expired"),
    }
)


def effective_status(app: Application, now: datetime | None = None) -> str:
    """The status as the borrower sees it: an open offer past its expiry is ``expired``."""
    if (
        app.status == S.APPROVED
        and app.offer_expires_at is not None
        and app.offer_expires_at <= (now or utcnow())
    ):
        return S.EXPIRED
    return app.status


def review_queue() -> Select[Application]:
    """Applications waiting for a person, oldest first (a query, to page through)."""
    return select(Application).where(Application.status == S.REVIEW).order_by(Application.id)


def of_borrower(borrower_id: int) -> Select[Application]:
    """A borrower's applications, newest first (a query, to page through)."""
    return (
        select(Application)
        .where(Application.borrower_id == borrower_id)
        .order_by(Application.id.desc())
    )


def history(session: Session, application_id: int) -> list[ApplicationEvent]:
    return in_order(session, ApplicationEvent, ApplicationEvent.application_id == application_id)


def latest_decision(session: Session, application_id: int) -> CreditDecision | None:
    decisions = credit.decisions_of(session, application_id)
    return decisions[-1] if decisions else None


def _money_or_none(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def application_view(
    session: Session, app: Application, *, staff: bool = False, now: datetime | None = None
) -> dict[str, Any]:
    """An application as JSON: the borrower's view, or with ``staff`` the whole record.

    Staff also see the declared income, the credit limit, every credit
    decision with its inputs and plugin answers, and the history.
    """
    now = now or utcnow()
    status = effective_status(app, now)
    zh, en = STATUSES[status]
    view: dict[str, Any] = {
        "id": app.id,
        "borrower_id": app.borrower_id,
        "product_code": app.product_code,
        "product_version": app.product_version,
        "amount": str(app.amount),
        "term": app.term,
        "method": app.method,
        "status": status,
        "status_label": {"zh": zh, "en": en},
        "created_at": app.created_at.isoformat(),
        "offer": None,
        "loan_id": app.loan_id,  # once the accepted offer is booked
    }
    if app.offer is not None and app.offer_expires_at is not None:
        view["offer"] = dict(app.offer) | {
            "amount": _money_or_none(app.approved_amount),
            "expires_at": app.offer_expires_at.isoformat(),
            "expired": status == S.EXPIRED,
            "accepted_at": app.accepted_at.isoformat() if app.accepted_at else None,
        }
    if staff:
        view |= {
            "annual_income": str(app.annual_income),
            "credit_limit": _money_or_none(app.credit_limit),
            "decisions": [credit.decision_view(d) for d in credit.decisions_of(session, app.id)],
            "history": [
                {
                    "from_status": row.from_status,
                    "to_status": row.to_status,
                    "actor": row.actor,
                    "reasons": list(row.reasons),
                    "note": row.note,
                    "detail": dict(row.detail),
                    "at": row.at.isoformat(),
                }
                for row in history(session, app.id)
            ],
        }
    return view


def queue_view(session: Session, app: Application) -> dict[str, Any]:
    """One line of the review queue: what asks for a person, and why."""
    decision = latest_decision(session, app.id)
    return {
        "id": app.id,
        "borrower_id": app.borrower_id,
        "product_code": app.product_code,
        "amount": str(app.amount),
        "term": app.term,
        "since": app.updated_at.isoformat(),
        "credit_limit": _money_or_none(app.credit_limit),
        "reasons": list(decision.reasons) if decision else [],
        "stand_in": bool(decision and decision.sandbox),
    }
