"""Borrowers from registration to a verified identity (KYC), as plain functions.

The lifecycle starts here: a borrower registers with a mobile number, agrees
to the privacy policy, then submits his real-name details. They are checked
for form (:mod:`lendkit.lifecycle.identity`), checked against every other
borrower (one person, one account: the ID number's blind index is unique),
and then by whoever implements the ``verify_identity`` hook: an identity
vendor, or the sandbox in the demo. The KYC status moves::

    registered ──▶ verified | rejected | review
    rejected   ──▶ verified | rejected | review      (the borrower resubmits)
    review     ──▶ verified | rejected               (a member of staff decides)

Each move is a :class:`~lendkit.models.KycTransition` row (append-only), an
audit row and an outbox event (``borrower.verified``, ``borrower.rejected``,
``borrower.review``), written in the caller's transaction: all or nothing.
Anything refused raises before a row is written, so a 4xx leaves no trace
but the error. A rejection releases the ID number, so an impostor who typed
someone else's number does not lock its owner out; the transition keeps the
number's blind index to link attempts.

Functions take the caller's session and never commit; the web routes and
the demo seeding commit around them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType

import pluggy
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from lendkit import audit, outbox
from lendkit.clock import china_today
from lendkit.crypto.orm import lookup
from lendkit.db import utcnow
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed
from lendkit.lifecycle import consents, identity
from lendkit.masking import mask_text
from lendkit.models import Borrower, KycTransition
from lendkit.settings import Settings
from lendkit.types import IdentityClaim, IdentityVerdict

__all__ = [
    "STATUSES",
    "TRANSITIONS",
    "KycResult",
    "RealNameSubmission",
    "decide_review",
    "register",
    "review_queue",
    "submit_real_name",
]

log = logging.getLogger(__name__)

# Status -> (Chinese, English) label, as shown to borrowers and staff.
STATUSES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "registered": ("已注册，未实名", "registered, not yet verified"),
        "verified": ("已实名认证", "identity verified"),
        "rejected": ("实名核验未通过", "identity check failed"),
        "review": ("人工复核中", "under manual review"),
    }
)
TRANSITIONS: Mapping[str | None, frozenset[str]] = MappingProxyType(
    {
        None: frozenset({"registered"}),
        "registered": frozenset({"verified", "rejected", "review"}),
        "rejected": frozenset({"verified", "rejected", "review"}),
        "review": frozenset({"verified", "rejected"}),
        "verified": frozenset(),
    }
)
EVENTS = {
    "verified": "borrower.verified",
    "rejected": "borrower.rejected",
    "review": "borrower.review",
}
STAND_IN_LABEL = "沙箱核验，并非真实身份核验。Stand-in check: not a real identity check."
WARNINGS = {
    "credit_card": "这是一张信用卡，放款须使用借记卡。This is a credit card: loans are paid out "
    "to a debit card.",
    "card_check_digit_unconfirmed": "卡号未通过校验位检查，已按您的确认保存。The card number "
    "fails its check digit and was saved because you confirmed it.",
}
_NOT_FOUND = "未找到该借款人。No such borrower."


# -- Registration -------------------------------------------------------------


def register(
    session: Session,
    phone: str,
    *,
    password_hash: str | None = None,
    actor: str | None = None,
    now: datetime | None = None,
) -> Borrower:
    """Create a borrower for a mobile number (409 ``phone_registered`` if taken).

    The caller proves the number belongs to the person (an SMS code, see
    :mod:`lendkit.auth.registration`). ``actor`` defaults to the new
    borrower himself.
    """
    phone = identity.check_phone(phone)
    now = now or utcnow()
    index = lookup(session, "phone", phone)
    if session.scalar(select(Borrower.id).where(Borrower.phone_index == index)) is not None:
        raise _phone_taken()
    borrower = Borrower(
        phone=phone, password_hash=password_hash, kyc_status="registered", created_at=now
    )
    try:
        with session.begin_nested():
            session.add(borrower)
            session.flush()
    except IntegrityError:
        raise _phone_taken() from None  # registered a moment ago by a concurrent request
    actor = actor or f"borrower:{borrower.id}"
    _append(session, borrower, None, "registered", actor, now)
    audit.record(session, actor, "borrower.register", f"borrower:{borrower.id}")
    outbox.publish(session, "borrower.registered", {"borrower_id": borrower.id})
    return borrower


def _phone_taken() -> ConflictError:
    return ConflictError(
        "该手机号已注册，请直接登录。This mobile number is already registered: sign in instead.",
        code="phone_registered",
    )


# -- Real-name submission ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RealNameSubmission:
    """What the borrower typed; ``phone`` is the card's mobile (default: his own)."""

    name: str = field(repr=False)
    id_number: str = field(repr=False)
    bank_card: str = field(repr=False)
    phone: str | None = field(default=None, repr=False)
    card_confirmed: bool = False
    evidence: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)


@dataclass(frozen=True, slots=True)
class KycResult:
    """The outcome of a submission or a review decision."""

    borrower: Borrower
    transition: KycTransition
    warnings: tuple[str, ...] = ()


def _locked_borrower(session: Session, borrower_id: int) -> Borrower:
    borrower = session.get(Borrower, borrower_id, with_for_update=True)
    if borrower is None:
        raise NotFoundError(_NOT_FOUND)
    return borrower


def submit_real_name(
    session: Session,
    pm: pluggy.PluginManager,
    settings: Settings,
    borrower_id: int,
    submission: RealNameSubmission,
    *,
    actor: str,
    today: date | None = None,
    now: datetime | None = None,
) -> KycResult:
    """Check, store and verify a borrower's real-name details; move his KYC status.

    Refusals, in order (each leaves everything as it was): 404 no such
    borrower; 409 ``kyc_already_verified`` / ``kyc_in_review``; 403
    ``consent_required`` (privacy policy not agreed); 422 with every field
    that fails (:class:`~lendkit.lifecycle.identity.InvalidIdentity`); 409
    ``id_number_registered`` (another borrower has this ID number).
    """
    now = now or utcnow()
    borrower = _locked_borrower(session, borrower_id)
    if borrower.kyc_status == "verified":
        raise ConflictError(
            "您已完成实名认证，无需重复提交。Your identity is already verified.",
            code="kyc_already_verified",
        )
    if borrower.kyc_status == "review":
        raise ConflictError(
            "您的实名信息正在人工复核，请等待结果。Your details are under manual review: "
            "please wait for the result.",
            code="kyc_in_review",
        )
    consents.require_consent(session, borrower.id, "privacy_policy")
    checked = identity.check_real_name(
        submission.name,
        submission.id_number,
        submission.bank_card,
        submission.phone or borrower.phone,
        card_confirmed=submission.card_confirmed,
        today=today or china_today(now),
    )
    index = lookup(session, "id_number", checked.id_number.number)
    taken = select(Borrower.id).where(Borrower.id_number_index == index, Borrower.id != borrower.id)
    if session.scalar(taken) is not None:
        raise _id_taken()
    borrower.name = checked.name
    borrower.id_number = checked.id_number.number
    borrower.bank_card = checked.card.number
    borrower.card_phone = checked.phone
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise _id_taken() from None  # the same number, submitted a moment ago
    claim = IdentityClaim(
        borrower_id=borrower.id,
        name=checked.name,
        id_number=checked.id_number.number,
        bank_card=checked.card.number,
        phone=checked.phone,
        birth_date=checked.id_number.birth_date,
        evidence=MappingProxyType(dict(submission.evidence)),
    )
    verdict = _verify(session, pm, settings, claim)
    transition = _move(session, borrower, verdict.outcome, actor, now, _Why(verdict, index))
    return KycResult(borrower, transition, checked.card.warnings)


def _id_taken() -> ConflictError:
    return ConflictError(
        "该身份证号码已被其他账户使用；如非本人操作，请联系客服。"
        "This ID number is already used by another account; if that was not you, contact "
        "support.",
        code="id_number_registered",
    )


def _verify(
    session: Session, pm: pluggy.PluginManager, settings: Settings, claim: IdentityClaim
) -> IdentityVerdict:
    """Ask the verifiers; fail safe to ``review``, never to ``verified``."""
    try:
        with session.begin_nested():
            verdict = pm.hook.verify_identity(claim=claim, session=session, settings=settings)
    except Exception as exc:
        # The message may quote the claim: log the type only.
        log.warning(
            "identity verifier failed",
            extra={"borrower_id": claim.borrower_id, "error": type(exc).__name__},
        )
        return IdentityVerdict("review", provider="", reasons=("verifier_error",))
    if verdict is None:
        return IdentityVerdict("review", provider="", reasons=("no_verifier",))
    if not isinstance(verdict, IdentityVerdict) or verdict.outcome not in EVENTS:
        log.warning("identity verifier answered nonsense", extra={"borrower_id": claim.borrower_id})
        return IdentityVerdict("review", provider="", reasons=("verifier_error",))
    return verdict


@dataclass(frozen=True, slots=True)
class _Why:
    """What a KYC transition records beside the statuses."""

    verdict: IdentityVerdict | None = None
    id_number_index: bytes | None = None
    reasons: tuple[str, ...] = ()
    note: str | None = None


def _append(
    session: Session,
    borrower: Borrower,
    from_status: str | None,
    to_status: str,
    actor: str,
    now: datetime,
    why: _Why = _Why(),
) -> KycTransition:
    if to_status not in TRANSITIONS.get(from_status, frozenset()):
        raise ConflictError(
            f"实名状态不能从“{from_status}”变为“{to_status}”。"
            f"The KYC status cannot move from {from_status!r} to {to_status!r}.",
            code="kyc_transition_invalid",
        )
    verdict = why.verdict
    row = KycTransition(
        borrower_id=borrower.id,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        provider=(verdict.provider or None) if verdict else None,
        reference=(verdict.reference or None) if verdict else None,
        sandbox=bool(verdict and verdict.sandbox),
        reasons=list(verdict.reasons if verdict else why.reasons),
        note=why.note,
        id_number_index=why.id_number_index,
        occurred_at=now,
    )
    session.add(row)
    borrower.kyc_status = to_status
    session.flush()
    return row


def _move(
    session: Session, borrower: Borrower, to_status: str, actor: str, now: datetime, why: _Why
) -> KycTransition:
    """One KYC transition: history row, status, audit row and event together."""
    from_status = borrower.kyc_status
    row = _append(session, borrower, from_status, to_status, actor, now, why)
    if to_status == "verified":
        borrower.verified_at = now
    elif to_status == "rejected":
        # Release the details, above all the ID number's unique index.
        borrower.name = borrower.id_number = borrower.bank_card = borrower.card_phone = None
    session.flush()
    audit.record(
        session,
        actor,
        "kyc.transition",
        f"borrower:{borrower.id}",
        from_status=from_status,
        to_status=to_status,
        provider=row.provider,
        sandbox=row.sandbox,
        reasons=row.reasons,
        transition_id=row.id,
    )
    outbox.publish(
        session,
        EVENTS[to_status],
        {
            "borrower_id": borrower.id,
            "transition_id": row.id,
            "from_status": from_status,
            "to_status": to_status,
            "provider": row.provider,
            "stand_in": row.sandbox,
            "reasons": row.reasons,
        },
    )
    return row


# -- Manual review -----------------------------------------------------------------


def review_queue() -> Select[Borrower, KycTransition]:
    """Borrowers waiting for a person to decide, oldest first, with the transition
    (a query, to page through)."""
    later = aliased(KycTransition)
    return (
        select(Borrower, KycTransition)
        .join(KycTransition, KycTransition.borrower_id == Borrower.id)
        .where(
            Borrower.kyc_status == "review",
            KycTransition.to_status == "review",
            ~select(later.id)
            .where(later.borrower_id == KycTransition.borrower_id, later.id > KycTransition.id)
            .exists(),
        )
        .order_by(KycTransition.id)
    )


def decide_review(
    session: Session,
    transition_id: int,
    decision: str,
    *,
    actor: str,
    reasons: tuple[str, ...] = (),
    note: str | None = None,
    now: datetime | None = None,
) -> KycResult:
    """A member of staff decides a review: ``verified`` or ``rejected``.

    ``transition_id`` names the move into review being decided: 404 if it
    is no such move, 409 ``review_closed`` once it has been decided (the
    second of two reviewers deciding at once gets this, not a new row).
    """
    if decision not in ("verified", "rejected"):
        raise ValidationFailed(
            "复核结论须为 verified 或 rejected。The decision must be verified or rejected.",
            code="decision_invalid",
        )
    if any(not code.replace("_", "").isalnum() or len(code) > 40 for code in reasons):
        raise ValidationFailed(
            "原因代码须为字母、数字和下划线。Reason codes are letters, digits and underscores.",
            code="reasons_invalid",
        )
    entry = session.get(KycTransition, transition_id)
    if entry is None or entry.to_status != "review":
        raise NotFoundError("未找到该复核任务。No such review.")
    borrower = _locked_borrower(session, entry.borrower_id)
    latest = session.scalar(
        select(KycTransition.id)
        .where(KycTransition.borrower_id == borrower.id)
        .order_by(KycTransition.id.desc())
        .limit(1)
    )
    if borrower.kyc_status != "review" or latest != entry.id:
        raise ConflictError(
            "该复核任务已处理。This review has already been decided.", code="review_closed"
        )
    clean_note = mask_text(note.strip())[:500] if note and note.strip() else None
    why = _Why(reasons=reasons, note=clean_note)
    transition = _move(session, borrower, decision, actor, now or utcnow(), why)
    return KycResult(borrower, transition)
