"""Passwords: argon2id with the documented parameters, the staff policy, rehash on
sign-in when the parameters change."""

from __future__ import annotations

import httpx
import pyotp
import pytest
from lendkit.auth.passwords import Hasher, check_borrower_password, check_staff_password
from lendkit.errors import ValidationFailed
from lendkit.models import StaffUser
from lendkit.settings import Settings
from sqlalchemy import select

LOW = {"password_time_cost": 1, "password_memory_kib": 8, "password_parallelism": 1}


@pytest.fixture
def tenant_auth():
    return LOW


@pytest.fixture
def tenant(make_tenant, tenant_auth):
    """A tenant with cheap argon2 parameters; ask for it before ``runtime``."""
    return make_tenant(auth=tenant_auth)


def test_production_defaults_are_the_documented_rfc_9106_parameters():
    auth = Settings().auth

    assert (auth.password_time_cost, auth.password_memory_kib, auth.password_parallelism) == (
        3,
        65536,
        4,
    )
    assert (auth.max_failed_logins, auth.lockout_minutes, auth.idle_timeout_minutes) == (5, 30, 30)
    assert auth.totp_roles == ["admin", "risk_officer", "finance"]


def test_hashes_are_salted_argon2id_and_verify():
    hasher = Hasher(1, 8, 1, 2)

    first, second = hasher.hash("Correct-horse-9"), hasher.hash("Correct-horse-9")

    assert first.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert first != second
    assert hasher.verify(first, "Correct-horse-9")
    assert not hasher.verify(first, "correct-horse-9")
    assert not hasher.verify(None, "Correct-horse-9")
    assert not hasher.verify("not a hash", "Correct-horse-9")
    assert not hasher.verify(first, "x" * 10_000)
    assert not hasher.needs_rehash(first)
    assert Hasher(2, 8, 1, 2).needs_rehash(first)


@pytest.mark.parametrize(
    "password",
    ["Short-1a", "alllowercase-letters", "ALLUPPERCASE12", "abcdefghij1234", "Lily-is-great-1"],
)
def test_staff_policy_refuses_weak_passwords_bilingually(password):
    with pytest.raises(ValidationFailed) as refused:
        check_staff_password(password, username="lily")

    assert refused.value.code == "weak_password"
    assert "至少三类" in refused.value.detail
    assert "at least three of" in refused.value.detail


@pytest.mark.parametrize(
    "password", ["Correct-horse", "correct horse 9", "CORRECT-HORSE-9", "Abcdefgh12"]
)
def test_staff_policy_accepts_three_of_four_classes_from_ten_characters(password):
    check_staff_password(password, username="lily")


def test_borrower_policy_needs_letters_and_digits():
    check_borrower_password("abcd1234")
    for weak in ("abcdefgh", "12345678", "abc123"):
        with pytest.raises(ValidationFailed):
            check_borrower_password(weak)


@pytest.mark.parametrize("tenant_auth", [{**LOW, "password_time_cost": 2}])
def test_sign_in_rehashes_when_the_parameters_changed(tenant, runtime, live_server):
    # The tenant now hashes with t=2; this user's hash was made with t=1.
    old = Hasher(1, 8, 1, 1).hash("Correct-horse-9")
    with runtime.sessions.begin() as session:
        session.add(
            StaffUser(username="lily", display_name="莉莉", role="support", password_hash=old)
        )

    response = httpx.post(
        f"{live_server}/api/auth/staff/login",
        json={"username": "lily", "password": "Correct-horse-9"},
    )

    assert response.status_code == 200
    with runtime.sessions.begin() as session:
        stored = session.scalar(select(StaffUser.password_hash).where(StaffUser.username == "lily"))
    assert stored != old
    assert stored.startswith("$argon2id$v=19$m=8,t=2,p=1$")


def test_staff_add_command_enrols_admins_in_totp(tenant, runtime, live_server, lendkit_cli):
    made = lendkit_cli(
        "staff",
        "add",
        "root",
        "--role",
        "admin",
        "--name",
        "管理员",
        env={"LENDKIT_STAFF_PASSWORD": "Correct-horse-9"},
    )

    assert made.returncode == 0, made.stderr
    assert "otpauth://totp/" in made.stdout
    secret = made.stdout.splitlines()[2].strip()
    response = httpx.post(
        f"{live_server}/api/auth/staff/login",
        json={"username": "root", "password": "Correct-horse-9", "totp": pyotp.TOTP(secret).now()},
    )
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"
