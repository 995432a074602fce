"""Borrowers' authorizations: recorded as shown, checked before use.

征信业管理条例 Art. 29 forbids querying a borrower's credit report or
reporting his loans to a bureau without his prior authorization, and the
personal-information law asks for consent before processing. So each
authorization is a :class:`~lendkit.models.Consent` row that proves what the
person saw — the text's purpose, version and SM3 digest — when, and through
which channel, and :func:`require_consent` stands in front of every use:
no active grant, no query (403 ``consent_required``).

The texts live here, versioned; a client shows :func:`current_texts` and
sends back the version and digest of what it showed, which must match.
Granting is idempotent (the same active grant is returned, not repeated);
revoking sets ``revoked_at`` on the active grants and is idempotent too.
Rows are never deleted (the database refuses), so the history stays whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lendkit import audit, outbox
from lendkit.crypto.sm3 import sm3_hex
from lendkit.db import in_order, utcnow
from lendkit.errors import LendkitError, ValidationFailed
from lendkit.models import Consent
from lendkit.row_values import plain_view

__all__ = [
    "CHANNELS",
    "PURPOSES",
    "TEXTS",
    "ConsentRequired",
    "ConsentText",
    "active_consent",
    "consent_view",
    "current_texts",
    "digest_of",
    "grant",
    "history",
    "require_consent",
    "revoke",
]

CHANNELS = frozenset({"app", "web", "h5", "counter", "api"})


def digest_of(text: str) -> str:
    """SM3 of the text's UTF-8 bytes, lower-case hex: what the record keeps."""
    return sm3_hex(text.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class ConsentText:
    """One version of the text a borrower agrees to."""

    purpose: str
    version: str
    title: str
    text: str

    @property
    def digest(self) -> str:
        return digest_of(self.text)


def _texts(*texts: ConsentText) -> Mapping[str, Mapping[str, ConsentText]]:
    table: dict[str, dict[str, ConsentText]] = {}
    for text in texts:
        table.setdefault(text.purpose, {})[text.version] = text
    return MappingProxyType({k: MappingProxyType(v) for k, v in table.items()})


# Purpose -> version -> text. Add a version, never edit one: records point at it.
TEXTS = _texts(
    ConsentText(
        "privacy_policy",
        "2026-01",
        "个人信息处理规则 Privacy policy",
        "本人同意贷款人为办理借款业务，收集、存储和使用本人的姓名、身份证号码、手机号码和银行卡号，"
        "并提交身份核验服务机构核验本人身份。上述信息以国密 SM4 加密保存，仅用于本人申请的业务。"
        "I agree that the lender collects, stores and uses my name, resident ID number, mobile "
        "number and bank card number to provide loans, and sends them to an identity "
        "verification service to confirm who I am. They are stored encrypted with SM4 and used "
        "only for the business I apply for.",
    ),
    ConsentText(
        "credit_query",
        "2026-01",
        "征信查询授权书 Authorization to query my credit report",
        "本人授权贷款人在本人申请贷款、贷后管理期间，向中国人民银行征信中心及依法设立的征信机构"
        "查询、使用本人的信用报告。I authorize the lender to query and use my credit report "
        "from the PBOC Credit Reference Center and licensed credit bureaus while my application "
        "is considered and while the loan is outstanding.",
    ),
    ConsentText(
        "credit_report",
        "2026-01",
        "征信报送授权书 Authorization to report my loan",
        "本人授权贷款人向中国人民银行征信中心及依法设立的征信机构报送本人的借款及还款信息；"
        "报送不良信息前贷款人将告知本人。I authorize the lender to report my loans and "
        "repayments to the PBOC Credit Reference Center and licensed credit bureaus; I will be "
        "told before any negative information is reported.",
    ),
)
PURPOSES = frozenset(TEXTS)

_PURPOSE_NAMES = {
    "privacy_policy": ("个人信息处理", "processing of personal data"),
    "credit_query": ("征信查询", "credit report queries"),
    "credit_report": ("征信报送", "credit reporting"),
}


def current_texts() -> list[ConsentText]:
    """The newest version of each purpose's text (versions sort as strings)."""
    return [versions[max(versions)] for _, versions in sorted(TEXTS.items())]


class ConsentRequired(LendkitError):
    """403: the borrower has not authorized this use (or revoked it)."""

    status = 403
    code = "consent_required"
    title = "Consent required"

    def __init__(self, purpose: str) -> None:
        zh, en = _PURPOSE_NAMES.get(purpose, (purpose, purpose))
        super().__init__(
            f"借款人尚未授权“{zh}”（或已撤回授权），不能继续。"
            f"The borrower has not authorized {en} ({purpose}), or has revoked it: "
            "record the consent first."
        )
        self.purpose = purpose


def _text(purpose: str, version: str) -> ConsentText:
    versions = TEXTS.get(purpose)
    if versions is None:
        raise ValidationFailed(
            f"未知的授权事项“{purpose}”；可选：{', '.join(sorted(PURPOSES))}。"
            f"Unknown consent purpose {purpose!r}; one of {', '.join(sorted(PURPOSES))}.",
            code="consent_purpose_unknown",
        )
    text = versions.get(version)
    if text is None:
        raise ValidationFailed(
            f"授权文本版本“{version}”不存在，请刷新后重新阅读。"
            f"There is no version {version!r} of this text: reload it and read it again.",
            code="consent_version_unknown",
        )
    return text


def active_consent(session: Session, borrower_id: int, purpose: str) -> Consent | None:
    """The newest unrevoked grant of ``purpose``, if any."""
    return session.scalar(
        select(Consent)
        .where(
            Consent.borrower_id == borrower_id,
            Consent.purpose == purpose,
            Consent.revoked_at.is_(None),
        )
        .order_by(Consent.id.desc())
        .limit(1)
    )


def require_consent(session: Session, borrower_id: int, purpose: str) -> Consent:
    """The active grant of ``purpose``, or 403 ``consent_required``.

    Call it before every credit-bureau query (``credit_query``), every
    report (``credit_report``) and before processing real-name details
    (``privacy_policy``).
    """
    consent = active_consent(session, borrower_id, purpose)
    if consent is None:
        raise ConsentRequired(purpose)
    return consent


def grant(
    session: Session,
    borrower_id: int,
    purpose: str,
    version: str,
    digest: str,
    channel: str,
    actor: str,
    now: datetime | None = None,
) -> tuple[Consent, bool]:
    """Record an authorization; returns the row and whether it is new.

    ``digest`` is the SM3 hex of the text the borrower was shown: it must be
    the digest of that version (422 ``consent_text_mismatch`` otherwise), so
    the record proves what was agreed to.
    """
    text = _text(purpose, version)
    if channel not in CHANNELS:
        raise ValidationFailed(
            f"渠道须为 {', '.join(sorted(CHANNELS))} 之一。"
            f"The channel must be one of {', '.join(sorted(CHANNELS))}.",
            code="consent_channel_invalid",
        )
    if digest.strip().lower() != text.digest:
        raise ValidationFailed(
            "授权文本摘要与该版本不符：请重新加载并阅读授权文本。"
            "The digest does not match this version of the text: reload the text, read it "
            "and agree again.",
            code="consent_text_mismatch",
        )
    existing = active_consent(session, borrower_id, purpose)
    if existing is not None and existing.text_version == version:
        return existing, False
    consent = Consent(
        borrower_id=borrower_id,
        purpose=purpose,
        text_version=version,
        text_digest=text.digest,
        channel=channel,
        granted_at=now or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(consent)
            session.flush()
    except IntegrityError:
        # The same grant, recorded a moment ago by a concurrent request.
        existing = active_consent(session, borrower_id, purpose)
        if existing is None or existing.text_version != version:
            raise
        return existing, False
    audit.record(
        session,
        actor,
        "consent.grant",
        f"borrower:{borrower_id}",
        purpose=purpose,
        version=version,
        channel=channel,
        consent_id=consent.id,
    )
    outbox.publish(
        session,
        "borrower.consent_granted",
        {"borrower_id": borrower_id, "consent_id": consent.id, "purpose": purpose},
    )
    return consent, True


def revoke(
    session: Session, borrower_id: int, purpose: str, actor: str, now: datetime | None = None
) -> list[Consent]:
    """Revoke every active grant of ``purpose``; the rows revoked (none: nothing to do)."""
    if purpose not in PURPOSES:
        _text(purpose, "")  # raises consent_purpose_unknown
    now = now or utcnow()
    rows = list(
        session.scalars(
            select(Consent)
            .where(
                Consent.borrower_id == borrower_id,
                Consent.purpose == purpose,
                Consent.revoked_at.is_(None),
            )
            .order_by(Consent.id)
        )
    )
    for row in rows:
        row.revoked_at = now
    if rows:
        session.flush()
        ids = [row.id for row in rows]
        audit.record(
            session,
            actor,
            "consent.revoke",
            f"borrower:{borrower_id}",
            purpose=purpose,
            consent_ids=ids,
        )
        outbox.publish(
            session,
            "borrower.consent_revoked",
            {"borrower_id": borrower_id, "consent_ids": ids, "purpose": purpose},
        )
    return rows


def history(session: Session, borrower_id: int) -> list[Consent]:
    """Every grant of the borrower, oldest first, revoked ones included."""
    return in_order(session, Consent, Consent.borrower_id == borrower_id)


def consent_view(consent: Consent) -> dict[str, Any]:
    return plain_view(
        consent,
        "id purpose channel granted_at revoked_at",
        version=consent.text_version,
        digest=consent.text_digest,
        active=consent.revoked_at is None,
    )
