"""The demo's sign-ins: staff per role, and borrowers who are verified, have consents,
a signed contract and a loan they can repay (never ``borrower_not_verified``)."""

from __future__ import annotations

import threading
from decimal import Decimal

import httpx
import pyotp
import pytest
from lendkit.auth.cookies import SESSION_COOKIE
from lendkit.auth.passwords import check_staff_password
from lendkit.auth.testing import session_headers
from lendkit.clearing.payments import business_today
from lendkit.testing.factories import add_capital
from lendkit.worker import run_worker
from lendkit_channel_sandbox.testing import sandbox_tenant_on
from lendkit_demo import products, signins
from lendkit_demo.launcher import banner
from lendkit_demo.tenant import demo_plugins

FAST_ARGON2 = {"password_time_cost": 1, "password_memory_kib": 8, "password_parallelism": 1}


@pytest.fixture(params=["sqlite", "postgresql"])
def tenant(request, tmp_path):
    with sandbox_tenant_on(
        request.param,
        tmp_path / "tenant",
        plugins=tuple(demo_plugins()),
        auth=FAST_ARGON2,
        products=products.as_settings(),
    ) as opened:
        with opened.runtime.sessions.begin() as session:
            opened.runtime.pm.hook.seed_demo(session=session, settings=opened.runtime.settings)
            # The loan book's capital, which the demo's simulation adds.
            add_capital(session, "own", Decimal("100000"), business_today(), "test:capital")
        yield opened


def test_demo_seeding_creates_a_working_sign_in_per_role(tenant):
    base = tenant.app_url
    roles = {login.role for login in signins.DEMO_STAFF}
    assert roles == {"admin", "risk_officer", "finance", "collections", "auditor", "support"}
    for login in signins.DEMO_STAFF:
        check_staff_password(login.password, login.login)

    with_totp = [login for login in signins.DEMO_STAFF if login.totp_secret]
    assert {login.role for login in with_totp} == set(tenant.runtime.settings.auth.totp_roles)
    for login in with_totp:
        response = httpx.post(
            f"{base}/api/auth/staff/login",
            json={
                "username": login.login,
                "password": login.password,
                "totp": pyotp.TOTP(login.totp_secret).now(),
            },
        )
        assert response.status_code == 200, response.text
        assert response.json()["role"] == login.role
    # The demo's banner names every secret a demo sign-in needs.
    printed = banner("http://127.0.0.1:8000", "http://127.0.0.1:8765")
    assert all(login.totp_secret in printed for login in with_totp)
    support = httpx.post(
        f"{base}/api/auth/staff/login",
        json={"username": "support", "password": signins.DEMO_STAFF_PASSWORD},
    )
    assert support.status_code == 200


def sign_in(base: str, phone: str) -> dict[str, str]:
    response = httpx.post(
        f"{base}/api/auth/borrower/login",
        json={"phone": phone, "password": signins.DEMO_BORROWER_PASSWORD},
    )
    assert response.status_code == 200, response.text
    return session_headers(response.cookies[SESSION_COOKIE])


def test_a_demo_borrower_is_verified_has_a_signed_contract_and_can_repay(tenant):
    runtime, base = tenant.runtime, tenant.app_url
    loan_ids = signins.onboard(runtime)
    assert signins.onboard(runtime) == loan_ids  # idempotent: nothing new the second time
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(runtime, stop), daemon=True)
    worker.start()
    try:
        signins.complete(runtime, loan_ids, echo=lambda _: None)
    finally:
        stop.set()
        worker.join(timeout=10)

    for login, loan_id in zip(signins.DEMO_BORROWERS, loan_ids, strict=True):
        me = sign_in(base, login.login)
        kyc = httpx.get(f"{base}/api/borrowers/me/kyc", headers=me).json()
        assert kyc["status"] == "verified"
        assert kyc["verification"]["stand_in"] is True
        granted = httpx.get(f"{base}/api/borrowers/me/consents", headers=me).json()["active"]
        assert granted == {"privacy_policy": True, "credit_query": True, "credit_report": True}
        loans = httpx.get(f"{base}/api/borrowers/me/loans", headers=me).json()["items"]
        assert [(loan["id"], loan["status"]) for loan in loans] == [(loan_id, "active")]
        contract = httpx.get(f"{base}/api/borrowers/me/loans/{loan_id}/contract", headers=me)
        assert contract.json()["status"] == "signed"

        repaid = httpx.post(
            f"{base}/api/borrowers/me/loans/{loan_id}/repayments",
            headers=me,
            json={"amount": "100.00", "idempotency_key": f"demo-test-repay-{loan_id}"},
        )
        assert repaid.status_code == 201, repaid.text
        assert repaid.json()["kind"] == "collect"
