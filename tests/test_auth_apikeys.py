"""API keys on a real server: HMAC-SM3 signatures verified, replays and stale
timestamps refused, secrets stored encrypted, keys revocable."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from lendkit.audit import AuditEntry
from lendkit.auth.signing import canonical_request, signed_headers
from lendkit.auth.testing import staff_headers
from lendkit.crypto.sm3 import hmac_sm3, sm3
from sqlalchemy import select, text

FAST_ARGON2 = {"password_time_cost": 1, "password_memory_kib": 8, "password_parallelism": 1}


@pytest.fixture
def tenant(make_tenant):
    """Cheap argon2 parameters; ask for it before ``runtime``."""
    return make_tenant(auth=FAST_ARGON2)


@pytest.fixture
def api_key(tenant, runtime, live_server):
    response = httpx.post(
        f"{live_server}/api/auth/api-keys",
        headers=staff_headers(runtime, "admin"),
        json={"name": "channel callbacks", "role": "support"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def signed_get(base, key, path, query="", **kwargs):
    headers = signed_headers(key["key_id"], key["secret"], "GET", path, query=query, **kwargs)
    return httpx.get(f"{base}{path}{'?' + query if query else ''}", headers=headers)


def problem(response, status=401):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


def test_the_canonical_request_is_as_documented():
    canonical = canonical_request(
        "get", "/api/x", "b=2&a=1&a=0&s=a b", "1767225600", "n" * 16, b'{"k":1}'
    )

    assert canonical.decode().split("\n") == [
        "LENDKIT-HMAC-SM3",
        "GET",
        "/api/x",
        "a=0&a=1&b=2&s=a%20b",
        "1767225600",
        "n" * 16,
        sm3(b'{"k":1}').hex(),
    ]
    # SM3("abc") from GB/T 32905-2016, appendix A.
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert len(hmac_sm3(b"k", b"m")) == 32


def test_signed_request_is_accepted_once_with_the_key_role(api_key, live_server):
    headers = signed_headers(api_key["key_id"], api_key["secret"], "GET", "/api/auth/me")

    first = httpx.get(f"{live_server}/api/auth/me", headers=headers)
    again = httpx.get(f"{live_server}/api/auth/me", headers=headers)

    assert first.status_code == 200, first.text
    assert first.json()["actor"] == f"apikey:{api_key['key_id']}"
    assert first.json()["role"] == "support"
    body = problem(again)
    assert (body["code"], body["reason"]) == ("unauthenticated", "nonce_replayed")
    with_query = signed_get(live_server, api_key, "/api/loans", query="limit=5")
    assert with_query.status_code == 200, with_query.text


def test_timestamp_must_be_within_five_minutes(api_key, live_server):
    for offset in (-305, 305):  # whole seconds; the server compares to its own clock
        stamp = int(time.time()) + offset
        body = problem(signed_get(live_server, api_key, "/api/auth/me", timestamp=stamp))

        assert (body["code"], body["reason"]) == ("unauthenticated", "stale_timestamp")
    stamp = int(time.time()) - 240
    assert signed_get(live_server, api_key, "/api/auth/me", timestamp=stamp).status_code == 200


def test_tampered_requests_wrong_keys_and_bad_headers_are_refused(api_key, live_server):
    headers = signed_headers(api_key["key_id"], api_key["secret"], "GET", "/api/auth/me")
    other_path = httpx.get(f"{live_server}/api/loans", headers=headers)
    headers = signed_headers(
        api_key["key_id"], api_key["secret"], "GET", "/api/loans", query="limit=5"
    )
    other_query = httpx.get(f"{live_server}/api/loans?limit=50", headers=headers)
    wrong_secret = signed_get(live_server, {**api_key, "secret": "ab" * 32}, "/api/auth/me")
    unknown_key = signed_get(
        live_server, {**api_key, "key_id": "lk_0000000000000000"}, "/api/auth/me"
    )

    for response in (other_path, other_query, wrong_secret, unknown_key):
        assert problem(response)["reason"] == "bad_signature"
    only_key = httpx.get(f"{live_server}/api/auth/me", headers={"X-Lendkit-Key": api_key["key_id"]})
    assert problem(only_key)["reason"] == "missing_signature_headers"
    headers = signed_headers(api_key["key_id"], api_key["secret"], "GET", "/api/auth/me")
    headers["X-Lendkit-Nonce"] = "short"
    assert problem(httpx.get(f"{live_server}/api/auth/me", headers=headers))["reason"] == (
        "malformed_signature_headers"
    )


def test_body_is_covered_and_permission_still_applies(api_key, runtime, live_server):
    path = "/api/staff/1/role"
    signed_body = json.dumps({"role": "finance"}).encode()
    headers = {
        **signed_headers(api_key["key_id"], api_key["secret"], "PUT", path, body=signed_body),
        "content-type": "application/json",
    }

    tampered = httpx.put(f"{live_server}{path}", headers=headers, content=b'{"role": "admin"}')
    assert problem(tampered)["reason"] == "bad_signature"
    headers = {
        **signed_headers(api_key["key_id"], api_key["secret"], "PUT", path, body=signed_body),
        "content-type": "application/json",
    }
    # Signature good, no CSRF token needed (no cookie), but support may not manage staff.
    genuine = httpx.put(f"{live_server}{path}", headers=headers, content=signed_body)
    assert problem(genuine, 403)["code"] == "forbidden"


def test_keys_are_stored_encrypted_limited_in_role_revocable_and_audited(
    api_key, runtime, live_server
):
    with runtime.engine.connect() as connection:
        raw = bytes(connection.execute(text("SELECT secret FROM auth_api_key")).scalar_one())
    assert api_key["secret"].encode() not in raw
    assert bytes.fromhex(api_key["secret"]) not in raw
    admin = staff_headers(runtime, "admin")
    for role in ("admin", "borrower", "nobody"):
        refused = httpx.post(
            f"{live_server}/api/auth/api-keys", headers=admin, json={"name": "x", "role": role}
        )
        assert problem(refused, 422)["code"] == "validation_failed"

    revoked = httpx.delete(f"{live_server}/api/auth/api-keys/{api_key['key_id']}", headers=admin)
    assert revoked.status_code == 204

    assert problem(signed_get(live_server, api_key, "/api/auth/me"))["reason"] == "bad_signature"
    with runtime.sessions.begin() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("apikey.%")).order_by(AuditEntry.id)
        ).all()
    assert [(r.action, r.object) for r in rows] == [
        ("apikey.create", f"apikey:{api_key['key_id']}"),
        ("apikey.revoke", f"apikey:{api_key['key_id']}"),
    ]
