"""Authorization: the permission matrix, every route's declared permission, the
guard on a real server, borrowers confined to their own records, unmasking."""

from __future__ import annotations

import re
from types import SimpleNamespace

import httpx
import lendkit
import pytest
from lendkit.audit import AuditEntry
from lendkit.auth.guard import permission_of
from lendkit.auth.models import AuthSession
from lendkit.auth.permissions import PERMISSIONS, PUBLIC, ROLE_PERMISSIONS, ROLES, allowed
from lendkit.auth.testing import borrower_headers, staff_headers
from lendkit.models import Borrower, StaffUser
from lendkit.settings import TOTP_ROLES
from lendkit.testing import free_port
from lendkit.web.app import create_app
from litestar import get
from sqlalchemy import select

FAST_ARGON2 = {"password_time_cost": 1, "password_memory_kib": 8, "password_parallelism": 1}
FIRST_PARTY_PLUGINS = ["marketing", "sms-sandbox"]
ALICE = {
    "phone": "13812345678",
    "name": "张三",
    "id_number": "11010119900307123X",
    "bank_card": "6222020200112233445",
    "address": "北京市东城区朝阳路1号",
}
BOB = {**ALICE, "phone": "13987654321", "id_number": "110101198001010018", "name": "李四"}


@pytest.fixture
def tenant(make_tenant):
    """Kernel plus every first-party plugin; ask for it before ``runtime``."""
    return make_tenant(plugins=FIRST_PARTY_PLUGINS, auth=FAST_ARGON2)


def routes(app):
    """(path, method, handler) of every route of ``app``."""
    for route in app.routes:
        for handler in route.route_handlers:
            for method in sorted(getattr(handler, "http_methods", {"WEBSOCKET"})):
                yield route.path, method, handler


def add_borrower(runtime, **fields):
    with runtime.sessions.begin() as session:
        borrower = Borrower(**fields)
        session.add(borrower)
        session.flush()
        return borrower.id


def audit_rows(runtime, action):
    with runtime.sessions.begin() as session:
        return [
            (e.actor, e.object, e.outcome, e.details)
            for e in session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        ]


def problem(response, status, code):
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code
    assert re.search(r"[\u4e00-\u9fff]", body["detail"]), "detail has Chinese"
    assert re.search(r"[A-Za-z]{4,}", body["detail"]), "detail has English"
    return body


# -- The matrix -------------------------------------------------------------


def test_the_matrix_names_only_known_roles_and_permissions():
    assert set(ROLE_PERMISSIONS) == set(ROLES)
    for role, held in ROLE_PERMISSIONS.items():
        assert held <= set(PERMISSIONS), role
        assert PUBLIC not in held
    assert allowed("borrower", PUBLIC)
    assert allowed("admin", "staff.manage")
    assert not allowed("support", "pii.unmask")
    assert not allowed("borrower", "staff.view")
    assert not allowed("nobody", "account.self")
    # Only the borrower role reaches its own record through /me; no staff role does.
    assert [r for r, held in ROLE_PERMISSIONS.items() if "borrower.self" in held] == ["borrower"]
    assert {r for r, held in ROLE_PERMISSIONS.items() if "pii.unmask" in held} == {
        "admin",
        "risk_officer",
    }


# What moves money, decides credit or shows personal data unmasked.
SENSITIVE = {
    "loans.disburse",
    "applications.review",
    "kyc.review",
    "collections.manage",
    "pii.unmask",
}


def test_every_role_holding_a_sensitive_permission_needs_totp_by_default(tenant, runtime):
    roles = create_app(runtime).state.permissions.roles
    holders = {role for role, held in roles.items() if held & SENSITIVE}

    assert holders == {"admin", "risk_officer", "finance"}
    assert set(TOTP_ROLES) == holders
    assert runtime.settings.auth.totp_roles == list(TOTP_ROLES)  # the tenant sets none


# -- Every route declares a permission --------------------------------------


def test_every_route_of_kernel_and_first_party_plugins_declares_a_known_permission(tenant, runtime):
    app = create_app(runtime)
    found = list(routes(app))

    undeclared = [f"{m} {p}" for p, m, h in found if permission_of(h) is None]
    unknown = [
        f"{m} {p}: {permission_of(h)!r}"
        for p, m, h in found
        if permission_of(h) is not None
        and permission_of(h) not in app.state.permissions.permissions
    ]

    assert not undeclared, f"routes without opt['permission']: {undeclared}"
    assert not unknown, f"routes naming a permission missing from the matrix: {unknown}"
    paths = {p for p, _, _ in found}
    assert {"/api/marketing/coupons", "/api/borrowers/me", "/healthz"} <= paths


def fill(path, value="1"):
    return re.sub(r"\{[^}]+\}", value, path)


def test_every_non_public_route_refuses_an_anonymous_caller(tenant, runtime, live_server):
    app = create_app(runtime)
    guarded = [(p, m) for p, m, h in routes(app) if permission_of(h) != PUBLIC]
    assert len(guarded) >= 10

    for path, method in guarded:
        response = httpx.request(method, f"{live_server}{fill(path)}", json={})
        problem(response, 401, "unauthenticated")


def test_every_non_public_route_refuses_a_role_without_its_permission(tenant, runtime, live_server):
    app = create_app(runtime)
    headers = {role: staff_headers(runtime, role) for role in ROLES if role != "borrower"}
    borrower_id = add_borrower(runtime, phone="13800000000")
    headers["borrower"] = borrower_headers(runtime, borrower_id)
    checked = 0
    for path, method, handler in routes(app):
        permission = permission_of(handler)
        if permission == PUBLIC:
            continue
        for role in ROLES:
            if app.state.permissions.allows(role, permission):
                continue
            response = httpx.request(
                method, f"{live_server}{fill(path)}", headers=headers[role], json={}
            )
            problem(response, 403, "forbidden")
            checked += 1
    assert checked >= 20


def test_a_route_without_a_permission_is_refused(tenant, runtime):
    import threading
    import time

    import uvicorn

    @get("/api/test/undeclared", sync_to_thread=False)
    def undeclared() -> str:
        return "leaked"

    @lendkit.hookimpl
    def register_routes():
        return [undeclared]

    runtime.pm.register(SimpleNamespace(register_routes=register_routes), name="test-undeclared")
    app = create_app(runtime)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/test/undeclared", headers=staff_headers(runtime, "admin")
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)

    assert problem(response, 403, "forbidden")["reason"] == "undeclared_permission"


# -- Borrowers reach only their own records ----------------------------------


def borrower_routes(app):
    """Every route that takes a borrower id, with the methods it answers."""
    return [
        (path, method)
        for path, method, handler in routes(app)
        if "{borrower_id" in path and method != "OPTIONS"
    ]


def test_a_borrower_never_reads_another_borrower_on_any_borrower_route(
    tenant, runtime, live_server
):
    """Kit policy (docs/security.md): another borrower's id is 404, like a missing one."""
    alice = add_borrower(runtime, **ALICE)
    bob = add_borrower(runtime, **BOB)
    as_alice = borrower_headers(runtime, alice)
    found = borrower_routes(create_app(runtime))
    assert found, "no borrower routes found"

    for path, method in found:
        own = httpx.request(method, f"{live_server}{fill(path, str(alice))}", headers=as_alice)
        assert own.status_code not in (401, 403, 404), f"{method} {path}: {own.text}"
        assert own.status_code < 500, f"{method} {path}: {own.text}"
        for other in (bob, bob + 1000):  # another borrower, and one that does not exist
            theirs = httpx.request(
                method, f"{live_server}{fill(path, str(other))}", headers=as_alice
            )
            body = problem(theirs, 404, "not_found")
            assert "李四" not in theirs.text
            assert body["detail"] == "未找到该借款人。No such borrower."


def test_a_borrower_sees_his_own_record_masked(tenant, runtime, live_server):
    alice = add_borrower(runtime, **ALICE)

    response = httpx.get(
        f"{live_server}/api/borrowers/me", headers=borrower_headers(runtime, alice)
    )

    assert response.status_code == 200
    assert response.json() == {
        "id": alice,
        "kyc_status": "registered",
        "created_at": response.json()["created_at"],
        "masked": True,
        "name": "张*",
        "phone": "138****5678",
        "id_number": "1101**********123X",
        "bank_card": "**** 3445",
        "address": "北京市东城区****",
    }
    for value in ALICE.values():
        assert value not in response.text


def test_staff_read_masked_and_unmasking_needs_permission_and_is_audited(
    tenant, runtime, live_server
):
    alice = add_borrower(runtime, **ALICE)
    url = f"{live_server}/api/borrowers/{alice}"

    masked = httpx.get(url, headers=staff_headers(runtime, "support"))
    assert masked.status_code == 200
    assert masked.json()["phone"] == "138****5678"
    problem(
        httpx.get(f"{url}?unmask=true", headers=staff_headers(runtime, "support")), 403, "forbidden"
    )
    problem(
        httpx.get(
            f"{live_server}/api/borrowers/me?unmask=true", headers=borrower_headers(runtime, alice)
        ),
        403,
        "forbidden",
    )
    assert audit_rows(runtime, "pii.unmask") == []

    plain = httpx.get(f"{url}?unmask=true", headers=staff_headers(runtime, "risk_officer"))

    assert plain.status_code == 200
    assert {k: plain.json()[k] for k in ALICE} == ALICE
    assert plain.json()["masked"] is False
    assert audit_rows(runtime, "pii.unmask") == [
        (
            "staff:test-risk_officer",
            f"borrower:{alice}",
            "success",
            {"fields": ["name", "phone", "id_number", "bank_card", "address"]},
        )
    ]


# -- Role changes --------------------------------------------------------------


def test_admin_changes_a_role_which_ends_the_users_sessions_and_is_audited(
    tenant, runtime, live_server
):
    admin = staff_headers(runtime, "admin")
    lily = staff_headers(runtime, "support", username="lily")
    with runtime.sessions.begin() as session:
        lily_id = session.scalar(select(StaffUser.id).where(StaffUser.username == "lily"))
        admin_id = session.scalar(select(StaffUser.id).where(StaffUser.username == "test-admin"))
    assert httpx.get(f"{live_server}/api/auth/me", headers=lily).status_code == 200

    changed = httpx.put(
        f"{live_server}/api/staff/{lily_id}/role", headers=admin, json={"role": "collections"}
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "collections"
    problem(httpx.get(f"{live_server}/api/auth/me", headers=lily), 401, "unauthenticated")
    assert audit_rows(runtime, "staff.role_change") == [
        (
            "staff:test-admin",
            "staff:lily",
            "success",
            {"old_role": "support", "new_role": "collections", "sessions_ended": 1},
        )
    ]
    listed = httpx.get(f"{live_server}/api/staff", headers=staff_headers(runtime, "auditor"))
    assert {s["username"]: s["role"] for s in listed.json()["items"]}["lily"] == "collections"
    # Not one's own role, not an unknown role, not admin without TOTP.
    own = httpx.put(
        f"{live_server}/api/staff/{admin_id}/role", headers=admin, json={"role": "finance"}
    )
    problem(own, 409, "conflict")
    bogus = httpx.put(
        f"{live_server}/api/staff/{lily_id}/role", headers=admin, json={"role": "god"}
    )
    problem(bogus, 422, "validation_failed")
    no_totp = httpx.put(
        f"{live_server}/api/staff/{lily_id}/role", headers=admin, json={"role": "admin"}
    )
    problem(no_totp, 409, "role_needs_totp")
    with runtime.sessions.begin() as session:
        assert session.scalars(select(AuthSession).where(AuthSession.revoked_at.is_not(None))).all()


# -- Plugins bring their own permissions ------------------------------------


def test_plugins_register_permissions_without_touching_the_kernel_matrix():
    from lendkit.auth.permissions import build_matrix
    from lendkit.types import Permission

    matrix = build_matrix([Permission("loans.export", "export loans", roles=("finance",))])
    assert "loans.export" not in PERMISSIONS
    assert matrix.allows("finance", "loans.export")
    assert matrix.allows("admin", "loans.export")
    assert not matrix.allows("support", "loans.export")


@pytest.mark.parametrize(
    ("permission", "message"),
    [
        (("pii.unmask", ()), "registered twice"),
        (("loans.export", ("borrower",)), "unknown staff roles"),
    ],
)
def test_a_clashing_or_misassigned_plugin_permission_stops_start_up(permission, message):
    from lendkit.auth.permissions import build_matrix
    from lendkit.errors import StartupError
    from lendkit.types import Permission

    name, roles = permission
    with pytest.raises(StartupError, match=message):
        build_matrix([Permission(name, "x", roles=roles)])
