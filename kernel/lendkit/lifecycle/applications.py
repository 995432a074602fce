"""Credit applications: submit, decide (automatically or by a person), offer, accept.

A verified borrower applies for one of the tenant's products on offer
(:mod:`lendkit.lifecycle.products`): an amount in the product's range, one
of its terms and repayment methods, and his declared annual income. The
application keeps the product version it was submitted on: its offer is
priced on that version and its loan booked on it, whatever changes after.
The application moves::

    submitted ──▶ approved | review | rejected       (the credit assessment)
    review    ──▶ approved | rejected                (a member of staff, with reason codes)
    approved  ──▶ accepted | expired                 (the borrower, or time)

An approved application carries an **offer**: the product's terms priced
by :func:`~lendkit.lifecycle.pricing.quote`, adjusted by the
``adjust_offer`` plugins (:mod:`lendkit.lifecycle.offers`), within the
tenant's rate cap, open for ``[lifecycle] offer_ttl_days`` (7 by default). Accepting an offer after it
expired is refused (409 ``offer_expired``); the ``application-offers`` job
marks lapsed offers ``expired``. A loan is booked from an accepted offer
by the contract step, which sets ``loan_id``.

Checked at submission, in this order, each refusal leaving nothing behind:
the idempotency key (the same key returns the first application; with
other terms, 409 ``idempotency_key_reused``), the product's limits (422),
a verified identity (403 ``kyc_required``), the credit-query consent (403
``consent_required``, before any bureau is asked), one open application
per product (409 ``application_open``), the per-borrower caps (422
``borrower_cap_exceeded``, ``household_cap_exceeded``,
``income_cap_exceeded``) and the rate cap (422 ``rate_above_cap``).

The caps count everything the borrower owes or may soon owe here: open
applications and unexpired offers, accepted offers not yet booked, and the
principal of loans booked, disbursing, active or overdue.

Form checks are :mod:`~lendkit.lifecycle.application_input`, the caps
:mod:`~lendkit.lifecycle.application_caps`, the offer
:mod:`~lendkit.lifecycle.offers`, reading and views
:mod:`~lendkit.lifecycle.application_views`.

Every status change is an ``application_event`` row (append-only), an
audit row and an outbox event (``application.submitted``,
``application.approved``, ...), in the caller's transaction. Functions
never commit; the web routes commit around them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

import pluggy
from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit import audit, outbox
from lendkit.db import utcnow
from lendkit.errors import ConflictError, LendkitError, NotFoundError, ValidationFailed
from lendkit.lifecycle import client_context, consents, credit, products
from lendkit.lifecycle.application_caps import check_caps, exposure, still_open
from lendkit.lifecycle.application_input import (
    Submission,
    check_product,
    parse_amount_field,
    reason_codes,
)
from lendkit.lifecycle.application_models import Application, ApplicationEvent, ApplicationStatus
from lendkit.lifecycle.application_views import STATUSES, effective_status
from lendkit.lifecycle.offers import make_offer, offer_detail, price_offer
from lendkit.masking import mask_text
from lendkit.models import Borrower
from lendkit.settings import Settings
from lendkit.types import Applicant

__all__ = [
    "KycRequired",
    "SubmitResult",
    "accept",
    "approve",
    "expire_offers",
    "reject",
    "submit",
]

S = ApplicationStatus
SYSTEM_ACTOR: Final = "system:credit"

TRANSITIONS: Final[Mapping[str | None, frozenset[str]]] = MappingProxyType(
    {
        None: frozenset({S.SUBMITTED}),
        S.SUBMITTED: frozenset({S.APPROVED, S.REVIEW, S.REJECTED}),
        S.REVIEW: frozenset({S.APPROVED, S.REJECTED}),
        S.APPROVED: frozenset({S.ACCEPTED, S.EXPIRED}),
    }
)
_OUTCOME_STATUS: Final = MappingProxyType(
    {"approve": S.APPROVED, "review": S.REVIEW, "reject": S.REJECTED}
)
_NOT_FOUND = "未找到该申请。No such application."


class KycRequired(LendkitError):
    """403: only a borrower whose identity is verified may apply."""

    status = 403
    code = "kyc_required"
    title = "Identity not verified"


@dataclass(frozen=True, slots=True)
class SubmitResult:
    application: Application
    created: bool  # False: the idempotency key named an earlier submission


# -- Transitions --------------------------------------------------------------------


def _move(
    session: Session,
    app: Application,
    to_status: str,
    actor: str,
    now: datetime,
    *,
    reasons: Sequence[str] = (),
    note: str | None = None,
    **detail: Any,
) -> ApplicationEvent:
    """One status change: history row, status, audit row and event together."""
    from_status = None if to_status == S.SUBMITTED else app.status
    if to_status not in TRANSITIONS.get(from_status, frozenset()):
        raise ConflictError(
            f"申请状态不能从“{from_status}”变为“{to_status}” / "
            f"the application cannot move from {from_status!r} to {to_status!r}",
            code="application_transition_invalid",
        )
    row = ApplicationEvent(
        application_id=app.id,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        reasons=list(reasons),
        note=note,
        detail=detail,
        at=now,
    )
    session.add(row)
    app.status = to_status
    app.updated_at = now
    session.flush()
    audit.record(
        session,
        actor,
        f"application.{to_status}",
        f"application:{app.id}",
        borrower_id=app.borrower_id,
        from_status=from_status,
        reasons=list(reasons),
        event_id=row.id,
        **detail,
    )
    outbox.publish(
        session,
        f"application.{to_status}",
        {
            "application_id": app.id,
            "borrower_id": app.borrower_id,
            "product_code": app.product_code,
            "amount": str(app.amount),
            "from_status": from_status,
            "to_status": to_status,
            "reasons": list(reasons),
        }
        | detail,
    )
    return row


def _locked(session: Session, application_id: int) -> Application:
    app = session.get(Application, application_id, with_for_update=True)
    if app is None:
        raise NotFoundError(_NOT_FOUND)
    return app


def _same_terms(app: Application, submission: Submission) -> bool:
    return (app.product_code, app.amount, app.term, app.method, app.annual_income) == (
        submission.product_code,
        submission.amount,
        submission.term,
        submission.method,
        submission.annual_income,
    )


def submit(
    session: Session,
    pm: pluggy.PluginManager,
    settings: Settings,
    borrower_id: int,
    submission: Submission,
    *,
    actor: str,
    policy: credit.CreditPolicy | None = None,
    now: datetime | None = None,
) -> SubmitResult:
    """Submit an application and decide it automatically: approved, review or rejected.

    Refusals, in the order of the module's docstring, each before anything
    is written. Returns the application and whether it is new (False: the
    idempotency key named an earlier one with the same terms).
    """
    now = now or utcnow()
    borrower = session.get(Borrower, borrower_id, with_for_update=True)  # one at a time
    if borrower is None:
        raise NotFoundError("未找到该借款人。No such borrower.")
    earlier = session.scalar(
        select(Application).where(
            Application.borrower_id == borrower_id,
            Application.idempotency_key == submission.idempotency_key,
        )
    )
    if earlier is not None:
        if not _same_terms(earlier, submission):
            raise ConflictError(
                "该幂等键已用于另一笔申请 / this idempotency key was used for another "
                "application with different terms",
                code="idempotency_key_reused",
            )
        return SubmitResult(earlier, created=False)
    product = products.for_application(session, pm, submission.product_code)
    check_product(product.spec, submission.amount, submission.term, submission.method)
    if borrower.kyc_status != "verified":
        raise KycRequired(
            "请先完成实名认证再申请借款 / verify your identity (real-name check) before applying"
        )
    consents.require_consent(session, borrower_id, credit.CONSENT_PURPOSE)
    if (
        session.scalar(
            select(Application.id)
            .where(
                Application.borrower_id == borrower_id,
                Application.product_code == product.code,
                still_open(now),
            )
            .limit(1)
        )
        is not None
    ):
        raise ConflictError(
            "您已有一笔该产品的申请在处理中或待确认 / you already have an open application "
            "or offer for this product",
            code="application_open",
        )
    held = exposure(session, borrower_id, now)
    check_caps(
        session, settings, borrower_id, submission.amount, submission.annual_income, held=held
    )
    priced = price_offer(
        product, submission.amount, submission.term, submission.method, settings, now
    )

    app = Application(
        borrower_id=borrower_id,
        idempotency_key=submission.idempotency_key,
        product_code=product.code,
        product_version=product.version,
        amount=submission.amount,
        term=submission.term,
        method=submission.method,
        annual_income=submission.annual_income,
        status=S.SUBMITTED,
        created_at=now,
        updated_at=now,
    )
    session.add(app)
    session.flush()
    client_context.record(session, app.id, borrower_id, submission.client, submission.referral_code)
    _move(session, app, S.SUBMITTED, actor, now, term=app.term, method=app.method)
    decision = credit.assess(
        session,
        pm,
        settings,
        Applicant(
            application_id=app.id,
            borrower_id=borrower_id,
            product_code=app.product_code,
            amount=app.amount,
            term=app.term,
            method=app.method,
            annual_income=app.annual_income,
            exposure=held,
            client=submission.client,
        ),
        policy=policy,
        now=now,
    )
    app.credit_limit = decision.credit_limit
    to_status = _OUTCOME_STATUS[decision.outcome]
    detail: dict[str, Any] = {
        "decision_id": decision.id,
        "credit_limit": None if decision.credit_limit is None else str(decision.credit_limit),
    }
    if to_status == S.APPROVED:
        make_offer(session, pm, app, product, priced, settings, now)
        detail |= offer_detail(app)
    codes = [reason["code"] for reason in decision.reasons]
    _move(session, app, to_status, SYSTEM_ACTOR, now, reasons=codes, **detail)
    return SubmitResult(app, created=True)


def _clean_note(note: str | None) -> str | None:
    return mask_text(note.strip())[:500] if note and note.strip() else None


def approve(
    session: Session,
    pm: pluggy.PluginManager,
    settings: Settings,
    application_id: int,
    *,
    actor: str,
    reasons: Sequence[str] = (),
    note: str | None = None,
    amount: Decimal | str | int | None = None,
    now: datetime | None = None,
) -> Application:
    """A member of staff approves an application under review: it gets an offer.

    ``amount`` may lower what was asked for (never raise it, nor go below
    the product's minimum). The offer is priced now, on the product version
    the application was submitted on, adjusted by the ``adjust_offer``
    plugins as an automatic approval is, within the rate cap. 409 ``application_not_in_review`` unless the
    application is waiting for a person.
    """
    now = now or utcnow()
    codes = reason_codes(reasons)
    app = _locked(session, application_id)
    if app.status != S.REVIEW:
        raise _not_in_review(app)
    product = products.version_of(session, pm, app.product_code, app.product_version)
    approved = (
        app.amount
        if amount is None
        else parse_amount_field({"amount": amount}, "amount", "批准金额")
    )
    if approved > app.amount:
        raise ValidationFailed(
            f"批准金额不能超过申请金额 {app.amount:,.2f} 元 / the approved amount cannot be "
            f"more than the {app.amount:,.2f} CNY asked for",
            code="amount_above_requested",
        )
    check_product(product.spec, approved, app.term, app.method)
    priced = price_offer(product, approved, app.term, app.method, settings, now)
    make_offer(session, pm, app, product, priced, settings, now)
    _move(
        session,
        app,
        S.APPROVED,
        actor,
        now,
        reasons=codes,
        note=_clean_note(note),
        **offer_detail(app),
    )
    return app


def reject(
    session: Session,
    application_id: int,
    *,
    actor: str,
    reasons: Sequence[str],
    note: str | None = None,
    now: datetime | None = None,
) -> Application:
    """A member of staff rejects an application under review, with at least one reason code."""
    now = now or utcnow()
    codes = reason_codes(reasons)
    if not codes:
        raise ValidationFailed(
            "拒绝须给出至少一个原因代码 / a rejection needs at least one reason code",
            code="reasons_required",
        )
    app = _locked(session, application_id)
    if app.status != S.REVIEW:
        raise _not_in_review(app)
    _move(session, app, S.REJECTED, actor, now, reasons=codes, note=_clean_note(note))
    return app


def _not_in_review(app: Application) -> ConflictError:
    zh, en = STATUSES.get(app.status, (app.status, app.status))
    return ConflictError(
        f"该申请不在人工审核中（当前：{zh}）/ this application is not waiting for review "
        f"(it is {en})",
        code="application_not_in_review",
    )


def accept(
    session: Session,
    borrower_id: int,
    application_id: int,
    *,
    actor: str,
    now: datetime | None = None,
) -> Application:
    """The borrower accepts his open offer; accepting it again changes nothing.

    404 if it is not his; 409 ``offer_expired`` once the offer has lapsed,
    409 ``offer_not_open`` when there is no offer to accept.
    """
    now = now or utcnow()
    app = _locked(session, application_id)
    if app.borrower_id != borrower_id:
        raise NotFoundError(_NOT_FOUND)
    if app.status == S.ACCEPTED:
        return app
    if effective_status(app, now) == S.EXPIRED:
        raise ConflictError(
            "该报价已过期，请重新申请 / this offer has expired: apply again",
            code="offer_expired",
        )
    if app.status != S.APPROVED:
        zh, en = STATUSES.get(app.status, (app.status, app.status))
        raise ConflictError(
            f"该申请没有可接受的报价（当前：{zh}）/ there is no offer to accept (the "
            f"application is {en})",
            code="offer_not_open",
        )
    app.accepted_at = now
    _move(session, app, S.ACCEPTED, actor, now, approved_amount=str(app.approved_amount))
    return app


def expire_offers(session: Session, now: datetime | None = None, limit: int = 500) -> int:
    """Mark up to ``limit`` lapsed offers ``expired``; returns how many (the job's work)."""
    now = now or utcnow()
    lapsed = session.scalars(
        select(Application)
        .where(Application.status == S.APPROVED, Application.offer_expires_at <= now)
        .order_by(Application.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for app in lapsed:
        _move(session, app, S.EXPIRED, "system", now)
    return len(lapsed)
