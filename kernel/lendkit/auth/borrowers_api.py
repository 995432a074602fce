"""Built-in plugin: a borrower's record, masked by default.

Staff with ``borrowers.read`` read any borrower; a borrower reads only his
own: another borrower's id answers 404 ``not_found``, exactly like an id
that does not exist, so ids cannot be probed. ``?unmask=true`` needs
``pii.unmask`` (403 otherwise) and writes an audit row ``pii.unmask``.
"""

from __future__ import annotations

from typing import Any

from litestar.params import FromPath, FromQuery
from sqlalchemy.orm import Session

from lendkit import audit
from lendkit.auth.errors import Forbidden
from lendkit.auth.permissions import allowed
from lendkit.auth.principal import Principal, current
from lendkit.errors import NotFoundError
from lendkit.masking import mask_card, mask_id_number, mask_name, mask_phone
from lendkit.models import Borrower
from lendkit.web.routes import Db, Json, Req, get_route, routes_hook

__all__ = ["MASKS", "PII_FIELDS", "ROUTES", "borrower_view"]

PII_FIELDS = ("name", "phone", "id_number", "bank_card", "address")
_NOT_FOUND = "未找到该借款人。No such borrower."


def mask_address(value: str) -> str:
    """Keep the first six characters (province and city), hide the rest."""
    return value[:6] + "****" if len(value) > 6 else "****"


MASKS = {
    "name": mask_name,
    "phone": mask_phone,
    "id_number": mask_id_number,
    "bank_card": mask_card,
    "address": mask_address,
}


def borrower_view(borrower: Borrower, *, unmasked: bool) -> Json:
    view: dict[str, Any] = {
        "id": borrower.id,
        "kyc_status": borrower.kyc_status,
        "created_at": borrower.created_at.isoformat(),
        "masked": not unmasked,
    }
    for field in PII_FIELDS:
        value = getattr(borrower, field)
        view[field] = None if value is None else (str(value) if unmasked else MASKS[field](value))
    return view


def _read(db_session: Session, principal: Principal, borrower_id: int, unmask: bool) -> Json:
    if unmask and not allowed(principal.role, "pii.unmask"):
        raise Forbidden(
            "查看完整个人信息需要 pii.unmask 权限。"
            "Seeing personal data unmasked needs the permission 'pii.unmask'.",
        )
    if principal.is_borrower and principal.subject_id != borrower_id:
        raise NotFoundError(_NOT_FOUND)
    borrower = db_session.get(Borrower, borrower_id)
    if borrower is None:
        raise NotFoundError(_NOT_FOUND)
    if unmask:
        audit.record(
            db_session,
            principal.actor,
            "pii.unmask",
            f"borrower:{borrower.id}",
            fields=[f for f in PII_FIELDS if getattr(borrower, f) is not None],
        )
    return borrower_view(borrower, unmasked=unmask)


@get_route("/api/borrowers/me", {"permission": "borrower.self"})
def my_record(request: Req, db_session: Db, unmask: FromQuery[bool] = False) -> Json:
    """The signed-in borrower's own record, masked unless ``unmask=true``."""
    principal = current(request)
    assert principal.subject_id is not None
    return _read(db_session, principal, principal.subject_id, unmask)


@get_route("/api/borrowers/{borrower_id:int}", {"permission": "borrowers.read"})
def borrower_record(
    borrower_id: FromPath[int], request: Req, db_session: Db, unmask: FromQuery[bool] = False
) -> Json:
    """One borrower, masked unless ``unmask=true`` (a borrower: only himself)."""
    return _read(db_session, current(request), borrower_id, unmask)


ROUTES = [my_record, borrower_record]


# -- Hook implementations ------------------------------------------------------------


register_routes = routes_hook(ROUTES)
