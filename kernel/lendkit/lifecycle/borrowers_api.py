"""Built-in plugin: a borrower's real-name details, KYC status and consents; staff reviews.

Borrowers act on themselves only (``/api/borrowers/me/...``, permission
``borrower.self``); staff read any borrower's KYC status and consents with
``borrowers.read`` (a borrower: only his own, another id is 404 as on every
borrower route) and decide manual reviews with ``kyc.review``. Every answer
masks personal data. A 4xx changes nothing: the request's transaction
rolls back. Real-name problems answer 422 with one ``errors`` entry per
field (``field``, ``code``, ``detail``), so a form can mark each one.

The clause map is here too. The identity check itself is the
``verify_identity`` hook's: vendors' plugins, or the sandbox in the demo.

Registration is with sign-in (``POST /api/auth/borrower/register``,
:mod:`lendkit.auth.account_api`), since it starts a session.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from litestar import Response, get
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.orm import Session

from lendkit.auth.principal import Principal, current
from lendkit.errors import NotFoundError, ValidationFailed
from lendkit.lifecycle import borrowers, consents, kyc_views
from lendkit.masking import mask_id_number, mask_name
from lendkit.models import Borrower, KycTransition
from lendkit.web import paging
from lendkit.web.routes import Db, Json, Req, Rt, Window, get_route, post_route, routes_hook

__all__ = ["ROUTES"]

SELF = {"permission": "borrower.self"}
READ = {"permission": "borrowers.read"}
REVIEW = {"permission": "kyc.review"}
PUBLIC = {"permission": "public"}
_NOT_FOUND = "未找到该借款人。No such borrower."
MAX_EVIDENCE_ITEMS, MAX_EVIDENCE_LENGTH = 10, 4096


@dataclass
class RealNameBody:
    name: str
    id_number: str
    bank_card: str
    phone: str | None = None  # the card's mobile (银行预留手机号); default: the account's
    card_confirmed: bool = False  # "the number is right" after bank_card_unconfirmed
    evidence: dict[str, str] = field(default_factory=dict)  # for the identity vendor


@dataclass
class ConsentBody:
    purpose: str
    version: str
    digest: str
    channel: str = "app"


@dataclass
class ReviewDecision:
    decision: str  # verified | rejected
    reasons: list[str] = field(default_factory=list)
    note: str | None = None


def _me(request: Req) -> Principal:
    principal = current(request)
    assert principal.subject_id is not None  # borrower.self: borrowers only
    return principal


def _borrower(db_session: Session, principal: Principal, borrower_id: int) -> Borrower:
    if principal.is_borrower and principal.subject_id != borrower_id:
        raise NotFoundError(_NOT_FOUND)
    borrower = db_session.get(Borrower, borrower_id)
    if borrower is None:
        raise NotFoundError(_NOT_FOUND)
    return borrower


# -- Consent texts (public: shown before anyone signs in) ---------------------------


@get("/api/consents/texts", opt=PUBLIC, sync_to_thread=False)
def consent_texts(window: Window) -> Json:
    """The current text of each consent; send back its version and digest to agree (a page)."""
    texts = [
        {
            "purpose": t.purpose,
            "version": t.version,
            "title": t.title,
            "text": t.text,
            "digest": t.digest,
        }
        for t in consents.current_texts()
    ]
    return paging.page_of_list(window, texts)


# -- The borrower himself ----------------------------------------------------------


@post_route(
    "/api/borrowers/me/real-name",
    SELF,
    status_code=HTTP_200_OK,
)
def submit_real_name(
    data: JSONBody[RealNameBody], request: Req, db_session: Db, runtime: Rt
) -> Json:
    """Submit name, resident ID number, bank card and the card's mobile number.

    Needs the privacy-policy consent (403 ``consent_required``); the answer
    is the KYC status after the identity verifier's verdict.
    """
    principal = _me(request)
    evidence = data.evidence or {}
    if len(evidence) > MAX_EVIDENCE_ITEMS or any(
        len(k) > 64 or len(v) > MAX_EVIDENCE_LENGTH for k, v in evidence.items()
    ):
        raise ValidationFailed(
            f"核验材料最多 {MAX_EVIDENCE_ITEMS} 项，每项不超过 {MAX_EVIDENCE_LENGTH} 个字符。"
            f"Evidence holds at most {MAX_EVIDENCE_ITEMS} items of at most "
            f"{MAX_EVIDENCE_LENGTH} characters.",
            code="evidence_invalid",
        )
    assert principal.subject_id is not None
    result = borrowers.submit_real_name(
        db_session,
        runtime.pm,
        runtime.settings,
        principal.subject_id,
        borrowers.RealNameSubmission(
            name=data.name,
            id_number=data.id_number,
            bank_card=data.bank_card,
            phone=data.phone,
            card_confirmed=data.card_confirmed,
            evidence=evidence,
        ),
        actor=principal.actor,
    )
    return kyc_views.kyc_view(db_session, result.borrower, result.warnings)


@get_route("/api/borrowers/me/kyc", SELF)
def my_kyc(request: Req, db_session: Db) -> Json:
    """My KYC status, the verifier's verdict, masked details and the history."""
    principal = _me(request)
    assert principal.subject_id is not None
    return kyc_views.kyc_view(db_session, _borrower(db_session, principal, principal.subject_id))


def _consents(db_session: Session, borrower_id: int) -> Json:
    rows = consents.history(db_session, borrower_id)
    active = {purpose: False for purpose in sorted(consents.PURPOSES)}
    for row in rows:
        active[row.purpose] = active.get(row.purpose, False) or row.revoked_at is None
    return {"active": active, "consents": [consents.consent_view(row) for row in rows]}


@get_route("/api/borrowers/me/consents", SELF)
def my_consents(request: Req, db_session: Db) -> Json:
    """Which purposes I have authorized now, and every grant and revocation."""
    principal = _me(request)
    assert principal.subject_id is not None
    return _consents(db_session, principal.subject_id)


@post_route("/api/borrowers/me/consents", SELF)
def grant_consent(data: JSONBody[ConsentBody], request: Req, db_session: Db) -> Response[Json]:
    """Agree to a text (its purpose, version and SM3 digest); 200 if already agreed."""
    principal = _me(request)
    assert principal.subject_id is not None
    row, created = consents.grant(
        db_session,
        principal.subject_id,
        data.purpose,
        data.version,
        data.digest,
        data.channel,
        principal.actor,
    )
    return Response(
        consents.consent_view(row), status_code=HTTP_201_CREATED if created else HTTP_200_OK
    )


@post_route("/api/borrowers/me/consents/{purpose:str}/revoke", SELF, status_code=HTTP_200_OK)
def revoke_consent(purpose: FromPath[str], request: Req, db_session: Db) -> Json:
    """Withdraw my authorization for ``purpose`` (nothing to withdraw: nothing changes)."""
    principal = _me(request)
    assert principal.subject_id is not None
    rows = consents.revoke(db_session, principal.subject_id, purpose, principal.actor)
    return {"revoked": [consents.consent_view(row) for row in rows]}


# -- Staff (and a borrower, for himself) -----------------------------------------


@get_route("/api/borrowers/{borrower_id:int}/kyc", READ)
def borrower_kyc(borrower_id: FromPath[int], request: Req, db_session: Db) -> Json:
    """One borrower's KYC status and history, masked (a borrower: only himself)."""
    return kyc_views.kyc_view(db_session, _borrower(db_session, current(request), borrower_id))


@get_route("/api/borrowers/{borrower_id:int}/consents", READ)
def borrower_consents(borrower_id: FromPath[int], request: Req, db_session: Db) -> Json:
    """One borrower's consents (a borrower: only himself)."""
    borrower = _borrower(db_session, current(request), borrower_id)
    return _consents(db_session, borrower.id)


def _review_view(row: tuple[Borrower, KycTransition]) -> Json:
    borrower, transition = row
    return {
        "review_id": transition.id,
        "borrower_id": borrower.id,
        "since": transition.occurred_at.isoformat(),
        "provider": transition.provider,
        "reasons": list(transition.reasons),
        "name": mask_name(borrower.name or ""),
        "id_number": mask_id_number(borrower.id_number or ""),
    }


@get_route("/api/kyc/reviews", REVIEW)
def review_queue(db_session: Db, window: Window) -> Json:
    """Real-name checks waiting for a person, oldest first (masked; a page)."""
    return paging.page_of(db_session, window, borrowers.review_queue(), _review_view)


@post_route("/api/kyc/reviews/{review_id:int}", REVIEW, status_code=HTTP_200_OK)
def decide_review(
    review_id: FromPath[int], data: JSONBody[ReviewDecision], request: Req, db_session: Db
) -> Json:
    """Decide a review: ``verified`` or ``rejected``, with reason codes and a note."""
    result = borrowers.decide_review(
        db_session,
        review_id,
        data.decision,
        actor=current(request).actor,
        reasons=tuple(data.reasons),
        note=data.note,
    )
    return kyc_views.kyc_view(db_session, result.borrower)


ROUTES = [
    consent_texts,
    submit_real_name,
    my_kyc,
    my_consents,
    grant_consent,
    revoke_consent,
    borrower_kyc,
    borrower_consents,
    review_queue,
    decide_review,
]


# -- Hook implementations ------------------------------------------------------------


register_routes = routes_hook(ROUTES)
