"""Built-in plugin: staff and their roles, API keys."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT
from sqlalchemy import select

from lendkit import audit
from lendkit.auth import apikeys, sessions
from lendkit.auth.permissions import STAFF_ROLES
from lendkit.auth.principal import current
from lendkit.db import utcnow
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed
from lendkit.masking import mask_name
from lendkit.models import StaffUser
from lendkit.web import paging
from lendkit.web.routes import (
    Db,
    Json,
    Req,
    Rt,
    Window,
    delete_route,
    get_route,
    post_route,
    put_route,
    routes_hook,
)

__all__ = ["ROUTES"]


@dataclass
class RoleChange:
    role: str


@dataclass
class NewApiKey:
    name: str
    role: str


def _staff_view(staff: StaffUser) -> Json:
    now = utcnow()
    return {
        "id": staff.id,
        "username": staff.username,
        "display_name": mask_name(staff.display_name),
        "role": staff.role,
        "active": staff.active,
        "totp_enrolled": staff.totp_secret is not None,
        "locked": staff.locked_until is not None and staff.locked_until > now,
    }


@get_route("/api/staff", {"permission": "staff.view"})
def list_staff(db_session: Db, window: Window) -> Json:
    """Every staff user with role and state (names masked; a page)."""
    return paging.page_of(db_session, window, select(StaffUser).order_by(StaffUser.id), _staff_view)


@put_route("/api/staff/{staff_id:int}/role", {"permission": "staff.manage"})
def change_role(
    staff_id: FromPath[int], data: JSONBody[RoleChange], request: Req, runtime: Rt, db_session: Db
) -> Json:
    """Give a staff user another role; ends the user's sessions; audited."""
    principal = current(request)
    if data.role not in STAFF_ROLES:
        raise ValidationFailed(
            f"未知角色 {data.role!r}。Unknown role {data.role!r}; one of {sorted(STAFF_ROLES)}."
        )
    staff = db_session.get(StaffUser, staff_id)
    if staff is None:
        raise NotFoundError("未找到该员工。No such staff user.")
    if principal.kind == "staff" and principal.subject_id == staff.id:
        raise ConflictError(
            "不能修改自己的角色。You cannot change your own role; ask another administrator."
        )
    if data.role in runtime.settings.auth.totp_roles and staff.totp_secret is None:
        raise ConflictError(
            "该角色须使用动态口令，请先为该员工设置 TOTP（`lendkit staff totp`）。"
            "This role needs TOTP: enrol the user first with `lendkit staff totp`.",
            code="role_needs_totp",
        )
    old = staff.role
    if old != data.role:
        staff.role = data.role
        ended = sessions.revoke_all(db_session, "staff", staff.id, utcnow())
        audit.record(
            db_session,
            principal.actor,
            "staff.role_change",
            f"staff:{staff.username}",
            old_role=old,
            new_role=data.role,
            sessions_ended=ended,
        )
    return _staff_view(staff)


@post_route("/api/auth/api-keys", {"permission": "apikeys.manage"})
def create_api_key(data: JSONBody[NewApiKey], request: Req, db_session: Db) -> Json:
    """A new key for a machine client; the secret is shown in this answer only."""
    principal = current(request)
    key, secret = apikeys.create(db_session, data.name, data.role, principal.actor)
    audit.record(
        db_session, principal.actor, "apikey.create", f"apikey:{key.key_id}", role=key.role
    )
    return {"key_id": key.key_id, "name": key.name, "role": key.role, "secret": secret}


@delete_route(
    "/api/auth/api-keys/{key_id:str}",
    {"permission": "apikeys.manage"},
    status_code=HTTP_204_NO_CONTENT,
)
def revoke_api_key(key_id: FromPath[str], request: Req, db_session: Db) -> None:
    """Revoke a key: its signatures are refused from now on."""
    principal = current(request)
    apikeys.revoke(db_session, key_id, utcnow())
    audit.record(db_session, principal.actor, "apikey.revoke", f"apikey:{key_id}")


ROUTES = [list_staff, change_role, create_api_key, revoke_api_key]


# -- Hook implementations ------------------------------------------------------------


register_routes = routes_hook(ROUTES)
