"""Sign-in on a real server and database: staff with TOTP, borrowers by password or SMS
code, sessions and their time-outs, CSRF, lock-out, and the audit rows they leave."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pyotp
import pytest
from lendkit.audit import AuditEntry
from lendkit.auth.models import AuthSession, LoginGuard, OtpCode
from lendkit.auth.passwords import hasher_for
from lendkit.db import utcnow
from lendkit.models import Borrower, StaffUser
from lendkit_sms_sandbox import messages
from sqlalchemy import select, update

FAST_ARGON2 = {"password_time_cost": 1, "password_memory_kib": 8, "password_parallelism": 1}
PASSWORD = "Correct-horse-9"
PHONE, OTHER_PHONE, UNKNOWN_PHONE = "13812345678", "13987654321", "13700000000"


@pytest.fixture
def tenant_auth():
    """Extra ``[auth]`` settings; a test overrides it with ``parametrize``."""
    return {}


@pytest.fixture
def plugins():
    """The tenant's plugins: the stand-in SMS sender, whose kept messages tests read."""
    return ["sms-sandbox"]


@pytest.fixture(autouse=True)
def tenant(make_tenant, tenant_auth, plugins):
    return make_tenant(
        plugins=plugins,
        auth={**FAST_ARGON2, "max_failed_logins": 3, "lockout_minutes": 15, **tenant_auth},
    )


def add_staff(runtime, username, role, *, totp_secret=None, password=PASSWORD):
    with runtime.sessions.begin() as session:
        staff = StaffUser(
            username=username,
            display_name="测试员工",
            role=role,
            password_hash=hasher_for(runtime.settings).hash(password),
            totp_secret=totp_secret,
        )
        session.add(staff)
        session.flush()
        return staff.id


def add_borrower(runtime, phone, password=PASSWORD):
    with runtime.sessions.begin() as session:
        borrower = Borrower(
            phone=phone,
            name="张三",
            password_hash=hasher_for(runtime.settings).hash(password) if password else None,
        )
        session.add(borrower)
        session.flush()
        return borrower.id


def audit_rows(runtime, action):
    with runtime.sessions.begin() as session:
        return [
            (e.actor, e.object, e.outcome, e.details)
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        ]


def assert_problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code
    assert re.search(r"[\u4e00-\u9fff]", body["detail"]), "detail has Chinese"
    assert re.search(r"[A-Za-z]{4,}", body["detail"]), "detail has English"
    return body


def staff_login(base, username, password=PASSWORD, totp=None):
    return httpx.post(
        f"{base}/api/auth/staff/login",
        json={"username": username, "password": password, "totp": totp},
    )


# -- Staff -----------------------------------------------------------------


def test_staff_login_sets_a_secure_session_cookie_and_reaches_guarded_routes(runtime, live_server):
    add_staff(runtime, "lily", "support")

    response = staff_login(live_server, "lily")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["actor"], body["role"], body["kind"]) == ("staff:lily", "support", "staff")
    cookies = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("lendkit_session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=lax" in session_cookie or "SameSite=Lax" in session_cookie
    assert "Path=/" in session_cookie
    assert "Secure" not in session_cookie  # plain HTTP on loopback: the demo case
    csrf_cookie = next(c for c in cookies if c.startswith("lendkit_csrf="))
    assert "HttpOnly" not in csrf_cookie
    me = httpx.get(f"{live_server}/api/auth/me", cookies=response.cookies)
    assert me.status_code == 200
    assert me.json()["actor"] == "staff:lily"
    assert "sms-sandbox.read" in me.json()["permissions"]  # the plugin's, given to support
    assert audit_rows(runtime, "auth.login") == [
        ("staff:lily", "staff:lily", "success", {"method": "password"})
    ]


@pytest.mark.parametrize("tenant_auth", [{"secure_cookies": "always"}])
def test_secure_cookies_always_marks_them_secure(runtime, live_server):
    add_staff(runtime, "lily", "support")

    response = staff_login(live_server, "lily")

    assert all("Secure" in c for c in response.headers.get_list("set-cookie"))


def test_wrong_password_and_unknown_user_answer_alike_and_are_audited(runtime, live_server):
    add_staff(runtime, "lily", "support")

    wrong = assert_problem(
        staff_login(live_server, "lily", "Wrong-pass-99"), 401, "invalid_credentials"
    )
    unknown = assert_problem(staff_login(live_server, "nobody"), 401, "invalid_credentials")

    assert wrong["detail"] == unknown["detail"]
    assert [(o, d["reason"]) for _, o, _, d in audit_rows(runtime, "auth.login")] == [
        ("staff:lily", "bad_password"),
        ("staff:unknown", "unknown_or_inactive"),
    ]
    assert all(outcome == "failure" for _, _, outcome, _ in audit_rows(runtime, "auth.login"))


def test_admin_needs_totp_refuses_a_wrong_or_reused_code(runtime, live_server):
    secret = pyotp.random_base32()
    add_staff(runtime, "root", "admin", totp_secret=secret)
    code = pyotp.TOTP(secret).now()

    assert_problem(staff_login(live_server, "root"), 401, "totp_required")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert_problem(staff_login(live_server, "root", totp=wrong), 401, "invalid_credentials")
    ok = staff_login(live_server, "root", totp=code)
    assert ok.status_code == 200, ok.text
    assert ok.json()["role"] == "admin"
    assert_problem(staff_login(live_server, "root", totp=code), 401, "invalid_credentials")

    reasons = [d.get("reason") or d.get("method") for *_, d in audit_rows(runtime, "auth.login")]
    assert reasons == ["bad_totp", "password+totp", "bad_totp"]


@pytest.mark.parametrize("role", ["admin", "risk_officer", "finance"])
def test_a_role_that_moves_money_decides_credit_or_unmasks_cannot_sign_in_without_totp(
    runtime, live_server, role
):
    add_staff(runtime, "root", role)

    assert_problem(staff_login(live_server, "root"), 403, "totp_not_enrolled")


@pytest.mark.parametrize("tenant_auth", [{"totp_roles": ["admin"]}])
def test_totp_roles_is_the_tenants_to_set(runtime, live_server):
    add_staff(runtime, "fin", "finance")

    assert staff_login(live_server, "fin").status_code == 200


def test_lockout_after_repeated_failures_refuses_even_the_right_password(runtime, live_server):
    staff_id = add_staff(runtime, "lily", "support")

    for _ in range(2):
        assert_problem(
            staff_login(live_server, "lily", "Wrong-pass-99"), 401, "invalid_credentials"
        )
    locking = staff_login(live_server, "lily", "Wrong-pass-99")
    assert_problem(locking, 423, "locked")
    assert int(locking.headers["retry-after"]) == 15 * 60
    assert_problem(staff_login(live_server, "lily"), 423, "locked")

    assert audit_rows(runtime, "auth.lockout") == [
        ("system", "staff:lily", "success", {"minutes": 15, "failures": 3})
    ]
    with runtime.sessions.begin() as session:  # the lock runs out
        session.execute(
            update(StaffUser)
            .where(StaffUser.id == staff_id)
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )
    assert staff_login(live_server, "lily").status_code == 200


# -- Sessions, time-outs, CSRF, sign-out --------------------------------------


def test_no_session_is_401_unauthenticated(live_server):
    body = assert_problem(httpx.get(f"{live_server}/api/auth/me"), 401, "unauthenticated")
    assert body["reason"] == "no_credentials"
    forged = httpx.get(f"{live_server}/api/auth/me", headers={"Cookie": "lendkit_session=forged"})
    assert_problem(forged, 401, "unauthenticated")


def test_sessions_expire_when_idle_and_at_their_absolute_limit(runtime, live_server):
    add_staff(runtime, "lily", "support")
    idle, old = staff_login(live_server, "lily").cookies, staff_login(live_server, "lily").cookies
    with runtime.sessions.begin() as session:
        ids = session.scalars(select(AuthSession.id).order_by(AuthSession.id)).all()
        session.execute(
            update(AuthSession)
            .where(AuthSession.id == ids[0])
            .values(last_seen_at=utcnow() - timedelta(minutes=31))
        )
        session.execute(
            update(AuthSession)
            .where(AuthSession.id == ids[1])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    for cookies, reason in ((idle, "idle"), (old, "absolute")):
        response = httpx.get(f"{live_server}/api/auth/me", cookies=cookies)
        assert assert_problem(response, 401, "session_expired")["reason"] == reason


def test_unsafe_request_with_cookie_needs_the_csrf_token(runtime, live_server):
    add_staff(runtime, "lily", "support")
    login = staff_login(live_server, "lily")
    cookies, token = login.cookies, login.json()["csrf_token"]
    assert cookies["lendkit_csrf"] == token

    assert_problem(
        httpx.post(f"{live_server}/api/auth/logout", cookies=cookies), 403, "csrf_failed"
    )
    assert_problem(
        httpx.post(
            f"{live_server}/api/auth/logout", cookies=cookies, headers={"X-CSRF-Token": "0" * 64}
        ),
        403,
        "csrf_failed",
    )
    # A token planted in the cookie does not help: the server derives it from the session.
    planted = httpx.post(
        f"{live_server}/api/auth/logout",
        headers={
            "Cookie": f"lendkit_session={cookies['lendkit_session']}; lendkit_csrf=evil",
            "X-CSRF-Token": "evil",
        },
    )
    assert_problem(planted, 403, "csrf_failed")

    out = httpx.post(
        f"{live_server}/api/auth/logout", cookies=cookies, headers={"X-CSRF-Token": token}
    )
    assert out.status_code == 204
    assert_problem(httpx.get(f"{live_server}/api/auth/me", cookies=cookies), 401, "unauthenticated")
    assert audit_rows(runtime, "auth.logout") == [("staff:lily", "staff:lily", "success", {})]


def test_password_change_applies_the_staff_policy(runtime, live_server):
    add_staff(runtime, "lily", "support")
    login = staff_login(live_server, "lily")
    headers = {"X-CSRF-Token": login.json()["csrf_token"]}

    def change(current, new):
        return httpx.post(
            f"{live_server}/api/auth/password",
            cookies=login.cookies,
            headers=headers,
            json={"current_password": current, "new_password": new},
        )

    assert_problem(change(PASSWORD, "short"), 422, "weak_password")
    assert_problem(change("Wrong-pass-99", "Another-good-1"), 401, "invalid_credentials")
    assert change(PASSWORD, "Another-good-1").status_code == 204
    assert staff_login(live_server, "lily", "Another-good-1").status_code == 200


# -- Borrowers -------------------------------------------------------------------


def borrower_login(base, phone, password=PASSWORD):
    return httpx.post(
        f"{base}/api/auth/borrower/login", json={"phone": phone, "password": password}
    )


def test_borrower_password_login_and_lockout_also_for_unknown_numbers(runtime, live_server):
    borrower_id = add_borrower(runtime, PHONE)

    ok = borrower_login(live_server, "138 1234 5678")
    assert ok.status_code == 200, ok.text
    assert ok.json()["actor"] == f"borrower:{borrower_id}"

    for phone in (PHONE, UNKNOWN_PHONE):
        for _ in range(2):
            assert_problem(
                borrower_login(live_server, phone, "wrong-pass-1"), 401, "invalid_credentials"
            )
        assert_problem(borrower_login(live_server, phone, "wrong-pass-1"), 423, "locked")
    assert_problem(borrower_login(live_server, PHONE), 423, "locked")


def sandbox_codes(runtime):
    """(masked number, code) of every message the stand-in sender kept, oldest first."""
    with runtime.sessions.begin() as session:
        return [
            (m.to_masked, re.search(r"\d{6}", m.text).group())
            for m in reversed(messages(session, limit=500))
        ]


def request_code(base, phone):
    return httpx.post(f"{base}/api/auth/borrower/otp", json={"phone": phone})


def code_login(base, phone, code):
    return httpx.post(f"{base}/api/auth/borrower/otp/login", json={"phone": phone, "code": code})


def test_sms_code_login_through_the_sandbox_sender(runtime, live_server, caplog):
    caplog.set_level("INFO")
    borrower_id = add_borrower(runtime, PHONE, password=None)

    assert request_code(live_server, PHONE).status_code == 202
    [(masked, code)] = sandbox_codes(runtime)

    assert masked == "138****5678"
    response = code_login(live_server, PHONE, code)
    assert response.status_code == 200, response.text
    assert response.json()["actor"] == f"borrower:{borrower_id}"
    assert_problem(code_login(live_server, PHONE, code), 401, "invalid_credentials")  # used up
    assert code not in caplog.text
    assert PHONE not in caplog.text
    assert "notification sent" in caplog.text
    with runtime.sessions.begin() as session:  # stored only as a MAC
        row = session.scalars(select(OtpCode)).one()
        assert code.encode() not in row.code_hash
        assert len(row.code_hash) == 32
    # The stand-in's route shows it to support staff, number masked.
    from lendkit.auth.testing import staff_headers

    shown = httpx.get(
        f"{live_server}/api/sms-sandbox/messages", headers=staff_headers(runtime, "support")
    ).json()["items"]
    assert shown[0]["to"] == "138****5678"
    assert code in shown[0]["text"]


def test_sms_code_unknown_number_answers_alike_but_sends_nothing(runtime, live_server):
    add_borrower(runtime, PHONE)

    known, unknown = request_code(live_server, PHONE), request_code(live_server, UNKNOWN_PHONE)

    assert (known.status_code, unknown.status_code) == (202, 202)
    assert known.json() == unknown.json()
    assert [masked for masked, _ in sandbox_codes(runtime)] == ["138****5678"]
    assert_problem(request_code(live_server, UNKNOWN_PHONE), 429, "too_many_requests")
    assert_problem(request_code(live_server, PHONE), 429, "too_many_requests")


def test_sms_code_dies_after_too_many_wrong_guesses_and_when_expired(runtime, live_server):
    add_borrower(runtime, PHONE)
    request_code(live_server, PHONE)
    [(_, code)] = sandbox_codes(runtime)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    for _ in range(2):
        assert_problem(code_login(live_server, PHONE, wrong), 401, "invalid_credentials")
    assert_problem(code_login(live_server, PHONE, wrong), 423, "locked")
    with runtime.sessions.begin() as session:
        assert session.scalars(select(OtpCode)).one().attempts == 3
        session.execute(update(OtpCode).values(created_at=utcnow() - timedelta(minutes=10)))
    # A new code, expired before use, is refused too.
    request_code(live_server, PHONE)
    code = sandbox_codes(runtime)[-1][1]
    with runtime.sessions.begin() as session:
        session.execute(update(OtpCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    with runtime.sessions.begin() as session:  # the lock from the guesses above runs out
        session.execute(update(LoginGuard).values(locked_until=None))
    assert_problem(code_login(live_server, PHONE, code), 401, "invalid_credentials")


@pytest.mark.parametrize("plugins", [[]])
def test_without_a_sender_the_code_is_not_kept(runtime, live_server):
    add_borrower(runtime, PHONE)

    assert_problem(request_code(live_server, PHONE), 503, "notification_failed")

    with runtime.sessions.begin() as session:
        assert session.scalars(select(OtpCode)).all() == []


def test_cleanup_job_deletes_ended_sessions_and_expired_codes(runtime, live_server):
    from lendkit import registry

    add_staff(runtime, "lily", "support")
    add_borrower(runtime, PHONE)
    staff_login(live_server, "lily")
    request_code(live_server, PHONE)
    [job] = [j for j in registry.jobs(runtime.pm) if j.name == "auth-cleanup"]

    assert job.run(runtime, utcnow()) == {"sessions": 0, "otp_codes": 0, "nonces": 0}
    assert job.run(runtime, utcnow() + timedelta(days=2)) == {
        "sessions": 1,
        "otp_codes": 1,
        "nonces": 0,
    }
