"""The stand-in SMS sender on real databases and a real server: it keeps what the
kernel sends (encrypted), shows it masked to whoever holds its permission, and
gives way to a real sender."""

from __future__ import annotations

import httpx
import lendkit
import pytest
from lendkit.testing import check_plugin, staff_headers
from lendkit_sms_sandbox import latest_code, messages
from lendkit_sms_sandbox.models import KeptMessage
from sqlalchemy import select, text

PHONE, OTHER = "13812345678", "13987654321"


@pytest.fixture(autouse=True)
def sms_tenant(make_tenant):
    return make_tenant(plugins=["sms-sandbox"])


def ask_code(base, phone, purpose="register"):
    return httpx.post(f"{base}/api/auth/borrower/otp", json={"phone": phone, "purpose": purpose})


def test_it_passes_the_conformance_check(database_url):
    assert check_plugin("sms-sandbox", database_url=database_url) == []


def test_a_registration_code_is_kept_encrypted_and_read_back_through_the_public_functions(
    runtime, live_server
):
    assert ask_code(live_server, PHONE).status_code == 202
    assert ask_code(live_server, OTHER).status_code == 202

    with runtime.read_sessions() as session:
        code = latest_code(session, PHONE, "otp_register")
        newest, oldest = messages(session)
        assert messages(session, to=PHONE) == [oldest]
        assert messages(session, template="otp_login") == []
        with pytest.raises(LookupError):
            latest_code(session, "13700000000")
        stored = session.execute(text("SELECT recipient, text FROM sms_sandbox_message")).all()
    assert (oldest.to_masked, newest.to_masked) == ("138****5678", "139****4321")
    assert code in oldest.text
    assert "您的注册验证码为" in oldest.text
    assert oldest.message_id.startswith("stand-in-")
    for recipient, body in stored:  # SM4 ciphertext at rest, never the number or code
        assert PHONE.encode() not in bytes(recipient)
        assert code.encode() not in bytes(body)
    # The code really signs the borrower up.
    created = httpx.post(
        f"{live_server}/api/auth/borrower/register",
        json={"phone": PHONE, "code": code, "password": "borrow2026x"},
    )
    assert created.status_code == 201, created.text


def test_the_route_shows_numbers_masked_to_support_and_refuses_other_roles(runtime, live_server):
    ask_code(live_server, PHONE)

    shown = httpx.get(
        f"{live_server}/api/sms-sandbox/messages?limit=1", headers=staff_headers(runtime, "support")
    )
    refused = httpx.get(
        f"{live_server}/api/sms-sandbox/messages", headers=staff_headers(runtime, "finance")
    )
    anonymous = httpx.get(f"{live_server}/api/sms-sandbox/messages")

    assert shown.status_code == 200, shown.text
    page = shown.json()
    [message] = page["items"]
    assert page["total"] >= 1
    assert page["next"] == (
        None if page["total"] == 1 else "/api/sms-sandbox/messages?limit=1&offset=1"
    )
    assert (message["to"], message["template"], message["channel"]) == (
        "138****5678",
        "otp_register",
        "sms",
    )
    assert PHONE not in shown.text
    assert (refused.status_code, anonymous.status_code) == (403, 401)


def test_a_real_sender_enabled_beside_it_delivers_instead(runtime):
    from lendkit.auth import notify

    class Vendor:
        @lendkit.hookimpl
        def send_notification(self, channel, to, template, params, session, settings):
            return "vendor-1"

    runtime.pm.register(Vendor(), name="vendor")
    try:
        with runtime.sessions.begin() as session:
            sent = notify.send(
                session,
                runtime.settings,
                runtime.pm,
                channel="sms",
                to=PHONE,
                template="otp_login",
                params={"code": "123456", "minutes": "5"},
            )
    finally:
        runtime.pm.unregister(name="vendor")

    assert sent == "vendor-1"
    with runtime.read_sessions() as session:
        assert session.scalars(select(KeptMessage)).all() == []
