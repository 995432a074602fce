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

Every status change is an ``application_event`` row (append-only), an
audit row and an outbox event (``application.submitted``,
``application.approved``, ...), in the caller's transaction. Functions
never commit; the web routes commit around them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

import pluggy
from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from lendkit import audit, outbox
from lendkit.clearing.money import ZERO, money, parse_amount
from lendkit.clock import china_today
from lendkit.db import utcnow
from lendkit.errors import ConflictError, LendkitError, NotFoundError, ValidationFailed
from lendkit.lifecycle import client_context, consents, credit, offers, products
from lendkit.lifecycle.application_models import (
    Application,
    ApplicationEvent,
    ApplicationStatus,
    CreditDecision,
)
from lendkit.lifecycle.models import Loan, LoanStatus
from lendkit.lifecycle.pricing import Quote, check_rate_cap
from lendkit.lifecycle.product_rules import price
from lendkit.lifecycle.products import Product
from lendkit.lifecycle.schedules import MAX_AMOUNT, MAX_TERM_MONTHS
from lendkit.masking import mask_text
from lendkit.models import Borrower
from lendkit.settings import Settings
from lendkit.types import Applicant, ClientContext, ProductSpec

__all__ = [
    "OUTSTANDING_LOANS",
    "STATUSES",
    "KycRequired",
    "Submission",
    "SubmitResult",
    "accept",
    "application_view",
    "approve",
    "check_caps",
    "effective_status",
    "expire_offers",
    "exposure",
    "history",
    "latest_decision",
    "of_borrower",
    "offer_ttl",
    "parse_submission",
    "queue_view",
    "reject",
    "review_queue",
    "submit",
]

S = ApplicationStatus
SYSTEM_ACTOR: Final = "system:credit"
# Loans whose principal counts against the caps.
OUTSTANDING_LOANS: Final = (
    LoanStatus.BOOKED,
    LoanStatus.DISBURSING,
    LoanStatus.ACTIVE,
    LoanStatus.OVERDUE,
)
TRANSITIONS: Final[Mapping[str | None, frozenset[str]]] = MappingProxyType(
    {
        None: frozenset({S.SUBMITTED}),
        S.SUBMITTED: frozenset({S.APPROVED, S.REVIEW, S.REJECTED}),
        S.REVIEW: frozenset({S.APPROVED, S.REJECTED}),
        S.APPROVED: frozenset({S.ACCEPTED, S.EXPIRED}),
    }
)
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
_OUTCOME_STATUS: Final = MappingProxyType(
    {"approve": S.APPROVED, "review": S.REVIEW, "reject": S.REJECTED}
)
_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_CODE = re.compile(r"[a-z0-9_]{1,40}")
_NOT_FOUND = "未找到该申请。No such application."


class KycRequired(LendkitError):
    """403: only a borrower whose identity is verified may apply."""

    status = 403
    code = "kyc_required"
    title = "Identity not verified"


# -- Input --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Submission:
    """What a borrower asks for, checked for form (amounts are CNY at the fen)."""

    product_code: str
    amount: Decimal
    term: int
    method: str
    annual_income: Decimal
    idempotency_key: str
    # What the app and the server saw (lendkit.lifecycle.client_context), and a referral.
    client: ClientContext | None = None
    referral_code: str | None = None


@dataclass(frozen=True, slots=True)
class SubmitResult:
    application: Application
    created: bool  # False: the idempotency key named an earlier submission


def _invalid(field: str, zh: str, en: str) -> ValidationFailed:
    return ValidationFailed(f"{zh} / {en}", code=f"invalid_{field}")


def _amount(data: Mapping[str, Any], name: str, label: str) -> Decimal:
    value = data.get(name)
    if value is None:
        raise _invalid(name, f"请填写{label}", f"{name} is required")
    amount = parse_amount(value, name=name, label=label, code=f"invalid_{name}")
    if amount >= MAX_AMOUNT:
        raise _invalid(name, f"{label}金额过大", f"{name} is too large")
    return amount


def parse_submission(
    data: Mapping[str, Any], idempotency_key: str | None = None, *, seen_ip: str | None = None
) -> Submission:
    """Check an application's fields for form (422 ``invalid_<field>``), not yet the product.

    The idempotency key comes from the body (``idempotency_key``) or, when
    the body has none, from the ``Idempotency-Key`` header. The optional
    ``client`` object and ``referral_code`` are checked by
    :func:`lendkit.lifecycle.client_context.parse`; ``seen_ip`` is the
    address the request came from.
    """
    key = data.get("idempotency_key") or idempotency_key
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise _invalid(
            "idempotency_key",
            "请提供幂等键（1 至 128 个字母、数字或 . _ : -）",
            "an idempotency key is required: 1 to 128 letters, digits or . _ : -",
        )
    code = data.get("product_code")
    if not isinstance(code, str) or not 1 <= len(code) <= 32:
        raise _invalid("product_code", "请选择产品", "product_code is required")
    term = data.get("term")
    if isinstance(term, bool) or not isinstance(term, int) or not 1 <= term <= MAX_TERM_MONTHS:
        raise _invalid(
            "term",
            f"期限须为 1 至 {MAX_TERM_MONTHS} 的整数（月）",
            f"term must be a whole number of months from 1 to {MAX_TERM_MONTHS}",
        )
    method = data.get("method")
    if not isinstance(method, str) or not 1 <= len(method) <= 24:
        raise _invalid("method", "请选择还款方式", "method (the repayment method) is required")
    extras = client_context.parse(data)
    client = extras.client
    if seen_ip is not None:
        client = replace(client or ClientContext(), seen_ip=seen_ip)
    return Submission(
        product_code=code,
        amount=_amount(data, "amount", "借款金额"),
        term=term,
        method=method,
        annual_income=_amount(data, "annual_income", "年收入"),
        idempotency_key=key,
        client=client,
        referral_code=extras.referral_code,
    )


def _check_product(product: ProductSpec, amount: Decimal, term: int, method: str) -> None:
    if not product.min_amount <= amount <= product.max_amount:
        low, high = f"{product.min_amount:,.2f}", f"{product.max_amount:,.2f}"
        raise ValidationFailed(
            f"该产品的借款金额须在 {low} 至 {high} 元之间 / "
            f"the amount must be from {low} to {high} CNY for this product",
            code="amount_out_of_range",
        )
    if term not in product.terms_months:
        terms = ", ".join(str(t) for t in product.terms_months)
        raise ValidationFailed(
            f"该产品的期限可选 {terms} 个月 / this product's terms are {terms} months",
            code="term_not_offered",
        )
    if method not in product.repayment_methods:
        methods = ", ".join(product.repayment_methods)
        raise ValidationFailed(
            f"该产品的还款方式可选 {methods} / this product is repaid by {methods}",
            code="method_not_offered",
        )


def _reason_codes(reasons: Sequence[str]) -> tuple[str, ...]:
    if any(not isinstance(c, str) or not _CODE.fullmatch(c) for c in reasons):
        raise ValidationFailed(
            "原因代码须为 1 至 40 个小写字母、数字或下划线 / "
            "reason codes are 1 to 40 lower-case letters, digits or underscores",
            code="reasons_invalid",
        )
    return tuple(reasons)


# -- Caps ---------------------------------------------------------------------------


def _open(now: datetime) -> ColumnElement[bool]:
    """Applications that may still become a loan: they count, and block a second one."""
    return or_(
        Application.status.in_((S.SUBMITTED, S.REVIEW)),
        and_(Application.status == S.APPROVED, Application.offer_expires_at > now),
        and_(Application.status == S.ACCEPTED, Application.loan_id.is_(None)),
    )


def exposure(session: Session, borrower_id: int, now: datetime | None = None) -> Decimal:
    """What the borrower owes or may soon owe here: what the caps count.

    Open applications (requested amount) and offers (offered amount), and
    the principal of his loans booked, disbursing, active or overdue.
    """
    now = now or utcnow()
    asked = session.scalar(
        select(
            func.coalesce(
                func.sum(
                    case(
                        (Application.status.in_((S.SUBMITTED, S.REVIEW)), Application.amount),
                        else_=Application.approved_amount,
                    )
                ),
                0,
            )
        ).where(Application.borrower_id == borrower_id, _open(now))
    )
    owed = session.scalar(
        select(func.coalesce(func.sum(Loan.principal), 0)).where(
            Loan.borrower_id == borrower_id, Loan.status.in_(OUTSTANDING_LOANS)
        )
    )
    return money(asked or 0) + money(owed or 0)


def _cap_error(
    code: str, zh: str, en: str, total: Decimal, cap: Decimal, held: Decimal
) -> ValidationFailed:
    room = max(cap - held, ZERO)
    return ValidationFailed(
        f"加上本次申请，您的借款及申请合计 {total:,.2f} 元，超过{zh}（{cap:,.2f} 元），"
        f"尚可申请 {room:,.2f} 元 / with this application you would owe or have asked for "
        f"{total:,.2f} CNY, above {en} ({cap:,.2f} CNY); {room:,.2f} CNY left",
        code=code,
    )


def check_caps(
    session: Session,
    settings: Settings,
    borrower_id: int,
    amount: Decimal,
    annual_income: Decimal,
    now: datetime | None = None,
    *,
    held: Decimal | None = None,
) -> None:
    """Refuse ``amount`` if, with the borrower's exposure, it passes a cap (422).

    ``settings.caps``: ``per_borrower`` (``borrower_cap_exceeded``),
    ``per_household`` (``household_cap_exceeded``) and ``income_fraction``
    of the declared annual income (``income_cap_exceeded``). ``held`` is
    the borrower's :func:`exposure`, when the caller has it already.
    """
    caps = settings.caps
    if held is None:
        held = exposure(session, borrower_id, now)
    total = held + amount
    if total > caps.per_borrower:
        raise _cap_error(
            "borrower_cap_exceeded",
            "单户借款上限",
            "the per-borrower cap",
            total,
            caps.per_borrower,
            held,
        )
    # TODO(household): households are not modelled yet, so a household is the
    # borrower alone; sum the exposure of everyone in it once they are linked.
    if total > caps.per_household:
        raise _cap_error(
            "household_cap_exceeded",
            "每户借款上限",
            "the per-household cap",
            total,
            caps.per_household,
            held,
        )
    income_cap = money(annual_income * caps.income_fraction)
    if total > income_cap:
        share = f"{caps.income_fraction * 100:.2f}%"
        raise _cap_error(
            "income_cap_exceeded",
            f"年收入 {annual_income:,.2f} 元的 {share}",
            f"{share} of the declared annual income of {annual_income:,.2f} CNY",
            total,
            income_cap,
            held,
        )


# -- Offers ---------------------------------------------------------------------------


def offer_ttl(settings: Settings) -> timedelta:
    """How long an offer stays open: ``[lifecycle] offer_ttl_days`` (7 by default)."""
    return timedelta(days=settings.lifecycle.offer_ttl_days)


def _price(
    product: Product, amount: Decimal, term: int, method: str, settings: Settings, now: datetime
) -> Quote:
    """The product's own offer: schedule and annualized rate (422 ``rate_above_cap``)."""
    today = china_today(now)
    priced = price(product.spec, amount, term, method, today)
    check_rate_cap(priced.rate, settings, on=today)
    return priced


def _make_offer(
    session: Session,
    pm: pluggy.PluginManager,
    app: Application,
    product: Product,
    priced: Quote,
    settings: Settings,
    now: datetime,
) -> None:
    """Adjust the product's offer through the plugins (the cap on the result) and keep it."""
    adjusted = offers.adjust(
        session,
        pm,
        settings,
        application_id=app.id,
        borrower_id=app.borrower_id,
        product=product,
        priced=priced,
    )
    final = adjusted.quote
    schedule = final.schedule
    app.approved_amount = schedule.principal
    app.annual_rate = schedule.annual_rate
    app.upfront_fee = schedule.upfront_fee
    app.instalment_fee = schedule.instalment_fee
    app.apr_irr = final.rate.apr_irr
    app.apr_simple = final.rate.apr_simple
    app.offer = final.as_json() | {
        "product_version": product.version,
        "principal": str(schedule.principal),
        "term": schedule.term,
        "method": schedule.method,
        "annual_rate": str(schedule.annual_rate),
        "upfront_fee": str(schedule.upfront_fee),
        "instalment_fee": str(schedule.instalment_fee),
        "net_disbursed": str(schedule.net_disbursed),
        "start": schedule.start.isoformat(),
        "apr_simple_label": "单利 simple rate",
        # The product's own rate, then each plugin's change with the rate after it.
        "base_apr_irr": str(priced.rate.apr_irr),
        "adjustments": adjusted.adjustments,
        "adjustment_errors": adjusted.errors,
    }
    app.offered_at = now
    app.offer_expires_at = now + offer_ttl(settings)


def effective_status(app: Application, now: datetime | None = None) -> str:
    """The status as the borrower sees it: an open offer past its expiry is ``expired``."""
    if (
        app.status == S.APPROVED
        and app.offer_expires_at is not None
        and app.offer_expires_at <= (now or utcnow())
    ):
        return S.EXPIRED
    return app.status


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
    _check_product(product.spec, submission.amount, submission.term, submission.method)
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
                _open(now),
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
    priced = _price(product, submission.amount, submission.term, submission.method, settings, now)

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
        _make_offer(session, pm, app, product, priced, settings, now)
        detail |= _offer_detail(app)
    codes = [reason["code"] for reason in decision.reasons]
    _move(session, app, to_status, SYSTEM_ACTOR, now, reasons=codes, **detail)
    return SubmitResult(app, created=True)


def _offer_detail(app: Application) -> dict[str, Any]:
    assert app.offer_expires_at is not None
    return {
        "approved_amount": str(app.approved_amount),
        "apr_irr": str(app.apr_irr),
        "offer_expires_at": app.offer_expires_at.isoformat(),
    }


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
    codes = _reason_codes(reasons)
    app = _locked(session, application_id)
    if app.status != S.REVIEW:
        raise _not_in_review(app)
    product = products.version_of(session, pm, app.product_code, app.product_version)
    approved = app.amount if amount is None else _amount({"amount": amount}, "amount", "批准金额")
    if approved > app.amount:
        raise ValidationFailed(
            f"批准金额不能超过申请金额 {app.amount:,.2f} 元 / the approved amount cannot be "
            f"more than the {app.amount:,.2f} CNY asked for",
            code="amount_above_requested",
        )
    _check_product(product.spec, approved, app.term, app.method)
    priced = _price(product, approved, app.term, app.method, settings, now)
    _make_offer(session, pm, app, product, priced, settings, now)
    _move(
        session,
        app,
        S.APPROVED,
        actor,
        now,
        reasons=codes,
        note=_clean_note(note),
        **_offer_detail(app),
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
    codes = _reason_codes(reasons)
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


# -- Reading ---------------------------------------------------------------------------


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
    return list(
        session.scalars(
            select(ApplicationEvent)
            .where(ApplicationEvent.application_id == application_id)
            .order_by(ApplicationEvent.id)
        )
    )


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
