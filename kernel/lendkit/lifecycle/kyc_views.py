"""A borrower's KYC status and history as the API shows them: personal data masked."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lendkit.db import in_order
from lendkit.lifecycle import identity
from lendkit.lifecycle.borrowers import STAND_IN_LABEL, STATUSES, WARNINGS
from lendkit.masking import mask_card, mask_id_number, mask_name, mask_phone
from lendkit.models import Borrower, KycTransition
from lendkit.row_values import plain_view

__all__ = ["kyc_history", "kyc_view"]


def kyc_history(session: Session, borrower_id: int) -> list[KycTransition]:
    return in_order(session, KycTransition, KycTransition.borrower_id == borrower_id)


def _transition_view(row: KycTransition) -> dict[str, Any]:
    return plain_view(
        row,
        "id from_status to_status actor provider reference note occurred_at",
        stand_in=row.sandbox,
        reasons=list(row.reasons),
    )


def kyc_view(
    session: Session, borrower: Borrower, warnings: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The borrower's KYC status for an API answer: personal data masked."""
    history = kyc_history(session, borrower.id)
    decided = next((row for row in reversed(history) if row.provider), None)
    zh, en = STATUSES.get(borrower.kyc_status, (borrower.kyc_status, borrower.kyc_status))
    hint = identity.card_hint(borrower.bank_card) if borrower.bank_card else None
    real_name = None
    if borrower.id_number is not None:
        real_name = {
            "name": mask_name(borrower.name or ""),
            "id_number": mask_id_number(borrower.id_number),
            "bank_card": mask_card(borrower.bank_card or ""),
            "card_phone": mask_phone(borrower.card_phone or ""),
        }
    return {
        "borrower_id": borrower.id,
        "status": borrower.kyc_status,
        "status_label": {"zh": zh, "en": en},
        "verified_at": borrower.verified_at.isoformat() if borrower.verified_at else None,
        "real_name": real_name,
        "card": (
            {"bank_zh": hint.bank_zh, "bank_en": hint.bank_en, "kind": hint.kind} if hint else None
        ),
        "verification": (
            {
                "provider": decided.provider,
                "reference": decided.reference,
                "outcome": decided.to_status,
                "reasons": list(decided.reasons),
                "stand_in": decided.sandbox,
                "label": STAND_IN_LABEL if decided.sandbox else None,
            }
            if decided
            else None
        ),
        "warnings": [{"code": code, "detail": WARNINGS.get(code, code)} for code in warnings],
        "history": [_transition_view(row) for row in history],
    }
