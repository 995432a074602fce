"""Borrowers from registration to a verified identity, through the real HTTP app on
SQLite and PostgreSQL: SMS-code registration, consents (征信业管理条例 Art. 29),
real-name checks (resident ID, bank card, mobile), the identity-verification hook
with the sandbox verifier, manual review, and state left unchanged by every 4xx."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx
import pytest
from lendkit.audit import AuditEntry
from lendkit.auth.cookies import SESSION_COOKIE
from lendkit.auth.testing import session_headers, staff_headers
from lendkit.clock import china_today
from lendkit.crypto.orm import lookup
from lendkit.db import utcnow
from lendkit.errors import ValidationFailed
from lendkit.lifecycle import borrowers, consents, identity
from lendkit.models import Borrower, Consent, KycTransition, OutboxEvent
from lendkit_sms_sandbox import latest_code
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError
from stdnum import luhn
from stdnum.cn import ric

FAST_ARGON2 = {"password_time_cost": 1, "password_memory_kib": 8, "password_parallelism": 1}
PASSWORD = "borrow2026x"
TODAY = china_today()


def with_check_digit(body):
    return body + ric.calc_check_digit(body + "0")  # stdnum wants a placeholder digit


def id_number(region="110101", born=date(1990, 3, 7), seq="123"):
    """A resident ID number with the right check digit."""
    return with_check_digit(f"{region}{born:%Y%m%d}{seq}")


def years_before(day, years):
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def card(bin_="622202", body="020011223344"):
    number = bin_ + body
    return number + luhn.calc_check_digit(number)


ALICE = {"name": "张三", "id_number": id_number(), "bank_card": card()}
BOB = {
    "name": "李四",
    "id_number": id_number("440305", date(1985, 11, 30), "456"),
    "bank_card": card("621700"),
}


@pytest.fixture
def plugins():
    """The plugins the tenant enables; a test overrides it with ``parametrize``."""
    return ["identity-sandbox", "sms-sandbox"]


@pytest.fixture(autouse=True)
def tenant(make_tenant, plugins):
    return make_tenant(plugins=plugins, auth={**FAST_ARGON2, "otp_resend_seconds": 0})


# -- helpers --------------------------------------------------------------------


def assert_problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    assert re.search(r"[\u4e00-\u9fff]", body["detail"]), "detail has Chinese"
    assert re.search(r"[A-Za-z]{4,}", body["detail"]), "detail has English"
    return body


def sms_code(runtime, phone, template="otp_register"):
    with runtime.sessions.begin() as session:
        return latest_code(session, phone, template)


def register(base, runtime, phone):
    """Register ``phone`` through the API; the borrower's id and request headers."""
    asked = httpx.post(
        f"{base}/api/auth/borrower/otp", json={"phone": phone, "purpose": "register"}
    )
    assert asked.status_code == 202, asked.text
    created = httpx.post(
        f"{base}/api/auth/borrower/register",
        json={"phone": phone, "code": sms_code(runtime, phone), "password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["kind"] == "borrower"
    assert body["borrower"]["kyc_status"] == "registered"
    assert body["borrower"]["phone"] == phone[:3] + "****" + phone[-4:]
    return body["borrower"]["id"], session_headers(created.cookies[SESSION_COOKIE])


def agree(base, headers, shown="privacy_policy", **overrides):
    """Agree to the text of purpose ``shown`` as the API serves it (``overrides``: tamper)."""
    text = {t["purpose"]: t for t in httpx.get(f"{base}/api/consents/texts").json()["items"]}[shown]
    body = {"purpose": shown, "version": text["version"], "digest": text["digest"]}
    return httpx.post(
        f"{base}/api/borrowers/me/consents", headers=headers, json={**body, **overrides}
    )


def submit(base, headers, **fields):
    return httpx.post(f"{base}/api/borrowers/me/real-name", headers=headers, json=fields)


def state(runtime, borrower_id):
    """Everything a refused request must leave as it was."""
    with runtime.sessions.begin() as session:
        b = session.get(Borrower, borrower_id)
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        return (
            (b.kyc_status, b.name, b.id_number, b.bank_card, b.card_phone, b.verified_at),
            count(KycTransition),
            count(Consent),
            count(OutboxEvent),
            count(AuditEntry),
        )


def topics(runtime):
    with runtime.sessions.begin() as session:
        return list(session.scalars(select(OutboxEvent.topic).order_by(OutboxEvent.id)))


@pytest.fixture
def alice(runtime, live_server):
    """A registered borrower who agreed to the privacy policy: (id, headers)."""
    borrower_id, headers = register(live_server, runtime, "13812345678")
    assert agree(live_server, headers).status_code == 201
    return borrower_id, headers


# -- the whole flow -------------------------------------------------------------------


def test_register_agree_submit_and_be_verified_by_the_sandbox(runtime, live_server):
    borrower_id, headers = register(live_server, runtime, "13812345678")
    status = httpx.get(f"{live_server}/api/borrowers/me/kyc", headers=headers).json()
    assert (status["status"], status["real_name"], status["verification"]) == (
        "registered",
        None,
        None,
    )

    granted = agree(live_server, headers, channel="app")
    assert granted.status_code == 201, granted.text
    verified = submit(live_server, headers, **ALICE, phone="13900001111")

    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert body["status"] == "verified"
    assert body["status_label"] == {"zh": "已实名认证", "en": "identity verified"}
    assert body["real_name"] == {
        "name": "张*",
        "id_number": "1101**********" + ALICE["id_number"][-4:],
        "bank_card": "**** " + ALICE["bank_card"][-4:],
        "card_phone": "139****1111",
    }
    assert body["card"] == {"bank_zh": "中国工商银行", "bank_en": "ICBC", "kind": "debit"}
    verification = body["verification"]
    assert verification["provider"] == "identity-sandbox"
    assert verification["stand_in"] is True
    assert "not a real identity check" in verification["label"]
    assert verification["reference"].startswith("SANDBOX-")
    assert [(h["from_status"], h["to_status"]) for h in body["history"]] == [
        (None, "registered"),
        ("registered", "verified"),
    ]
    for value in ALICE.values():
        assert value not in verified.text
    # Stored encrypted and found by blind index; events and audit rows written.
    with runtime.sessions.begin() as session:
        row = session.get(Borrower, borrower_id)
        assert (row.name, row.id_number, row.bank_card, row.card_phone) == (
            ALICE["name"],
            ALICE["id_number"],
            ALICE["bank_card"],
            "13900001111",
        )
        assert row.id_number_index == lookup(session, "id_number", ALICE["id_number"])
        raw = session.execute(
            text("SELECT id_number FROM borrower WHERE id = :id"), {"id": borrower_id}
        ).scalar_one()
        assert ALICE["id_number"].encode() not in bytes(raw)
        actions = list(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.object == f"borrower:{borrower_id}")
            )
        )
    assert topics(runtime) == [
        "borrower.registered",
        "borrower.consent_granted",
        "borrower.verified",
    ]
    assert actions == ["borrower.register", "auth.login", "consent.grant", "kyc.transition"]
    again = submit(live_server, headers, **ALICE)
    assert_problem(again, 409, "kyc_already_verified")


def test_staff_read_a_borrowers_kyc_masked_and_a_borrower_only_his_own(runtime, live_server, alice):
    borrower_id, headers = alice
    submit(live_server, headers, **ALICE)
    other_id, other = register(live_server, runtime, "13987654321")

    seen = httpx.get(
        f"{live_server}/api/borrowers/{borrower_id}/kyc", headers=staff_headers(runtime, "support")
    )
    assert seen.status_code == 200
    assert seen.json()["real_name"]["name"] == "张*"
    consents_seen = httpx.get(
        f"{live_server}/api/borrowers/{borrower_id}/consents",
        headers=staff_headers(runtime, "support"),
    ).json()
    assert consents_seen["active"] == {
        "credit_query": False,
        "credit_report": False,
        "privacy_policy": True,
    }
    for path in ("kyc", "consents"):
        theirs = httpx.get(f"{live_server}/api/borrowers/{borrower_id}/{path}", headers=other)
        assert_problem(theirs, 404, "not_found")
        assert "张" not in theirs.text
        own = httpx.get(f"{live_server}/api/borrowers/{other_id}/{path}", headers=other)
        assert own.status_code == 200


# -- bad input: a specific 4xx, and nothing changes -------------------------------------


FUTURE = TODAY + timedelta(days=30)
UNDERAGE = years_before(TODAY, 10)


def wrong_check_digit(number):
    return number[:-1] + ("0" if number[-1] != "0" else "1")


BAD_INPUTS = {
    "wrong check digit": (
        {"id_number": wrong_check_digit(ALICE["id_number"])},
        "id_number_invalid",
        "id_number",
    ),
    "17 digits": ({"id_number": ALICE["id_number"][:-1]}, "id_number_invalid", "id_number"),
    "old 15-digit number": ({"id_number": "110101900307123"}, "id_number_invalid", "id_number"),
    "birth date in the future": (
        {"id_number": id_number(born=FUTURE)},
        "id_birth_date_in_future",
        "id_number",
    ),
    "impossible birth date": (
        {"id_number": with_check_digit("11010119900231123")},
        "id_birth_date_invalid",
        "id_number",
    ),
    "bad region": ({"id_number": id_number(region="999999")}, "id_region_invalid", "id_number"),
    "under 18": ({"id_number": id_number(born=UNDERAGE)}, "id_underage", "id_number"),
    "invalid card": ({"bank_card": "6000123412341234"}, "bank_card_invalid", "bank_card"),
    "card too short": ({"bank_card": "62220202001"}, "bank_card_invalid", "bank_card"),
    "card of a known bank failing Luhn": (
        {"bank_card": ALICE["bank_card"][:-1] + str((int(ALICE["bank_card"][-1]) + 1) % 10)},
        "bank_card_unconfirmed",
        "bank_card",
    ),
    "bad phone": ({"phone": "12345678901"}, "phone_invalid", "phone"),
    "latin name": ({"name": "Zhang San"}, "name_invalid", "name"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_real_name_input_gets_its_own_422_and_changes_nothing(
    runtime, live_server, alice, case
):
    borrower_id, headers = alice
    change, code, field = BAD_INPUTS[case]
    before = state(runtime, borrower_id)

    response = submit(live_server, headers, **{**ALICE, **change})

    body = assert_problem(response, 422, code)
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    assert state(runtime, borrower_id) == before


def test_every_bad_field_is_listed_at_once(runtime, live_server, alice):
    borrower_id, headers = alice
    before = state(runtime, borrower_id)

    response = submit(
        live_server,
        headers,
        name="张三",
        id_number=id_number(born=FUTURE),
        bank_card="1234",
        phone="999",
    )

    body = assert_problem(response, 422, "id_birth_date_in_future")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("id_number", "id_birth_date_in_future"),
        ("bank_card", "bank_card_invalid"),
        ("phone", "phone_invalid"),
    ]
    assert all(re.search(r"[\u4e00-\u9fff]", e["detail"]) for e in body["errors"])
    assert state(runtime, borrower_id) == before


def test_a_card_of_a_known_bank_failing_luhn_is_accepted_once_confirmed(
    runtime, live_server, alice
):
    _, headers = alice
    odd = ALICE["bank_card"][:-1] + str((int(ALICE["bank_card"][-1]) + 1) % 10)

    response = submit(live_server, headers, **{**ALICE, "bank_card": odd}, card_confirmed=True)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "verified"
    assert [w["code"] for w in response.json()["warnings"]] == ["card_check_digit_unconfirmed"]


def test_without_the_privacy_consent_nothing_is_processed(runtime, live_server):
    borrower_id, headers = register(live_server, runtime, "13812345678")
    before = state(runtime, borrower_id)

    response = submit(live_server, headers, **ALICE)

    assert assert_problem(response, 403, "consent_required")["detail"].count("privacy_policy") == 1
    assert state(runtime, borrower_id) == before


def test_one_id_number_one_account(runtime, live_server, alice):
    _, headers = alice
    assert submit(live_server, headers, **ALICE).json()["status"] == "verified"
    bob_id, bob = register(live_server, runtime, "13987654321")
    assert agree(live_server, bob).status_code == 201
    before = state(runtime, bob_id)

    # The same number typed differently (lower-case x, spaces) is the same number.
    same = ALICE["id_number"].lower()
    response = submit(live_server, bob, **{**BOB, "id_number": f" {same[:6]} {same[6:]} "})

    assert_problem(response, 409, "id_number_registered")
    assert state(runtime, bob_id) == before


def test_registration_refusals_leave_no_borrower(runtime, live_server):
    bad_phone = httpx.post(
        f"{live_server}/api/auth/borrower/register",
        json={"phone": "1381234", "code": "123456"},
    )
    assert assert_problem(bad_phone, 422, "phone_invalid")["errors"][0]["field"] == "phone"
    httpx.post(
        f"{live_server}/api/auth/borrower/otp",
        json={"phone": "13812345678", "purpose": "register"},
    )
    code = sms_code(runtime, "13812345678")
    wrong = httpx.post(
        f"{live_server}/api/auth/borrower/register",
        json={"phone": "13812345678", "code": f"{(int(code) + 1) % 10**6:06d}"},
    )
    assert_problem(wrong, 401, "invalid_credentials")
    weak = httpx.post(
        f"{live_server}/api/auth/borrower/register",
        json={"phone": "13812345678", "code": code, "password": "short"},
    )
    assert_problem(weak, 422, "weak_password")
    with runtime.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Borrower)) == 0
    assert topics(runtime) == []

    register(live_server, runtime, "13812345678")
    httpx.post(
        f"{live_server}/api/auth/borrower/otp",
        json={"phone": "13812345678", "purpose": "register"},
    )
    twice = httpx.post(
        f"{live_server}/api/auth/borrower/register",
        json={"phone": "13812345678", "code": sms_code(runtime, "13812345678")},
    )
    assert_problem(twice, 409, "phone_registered")
    with runtime.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Borrower)) == 1
    # The registered borrower signs in with his password.
    signed_in = httpx.post(
        f"{live_server}/api/auth/borrower/login",
        json={"phone": "138 1234 5678", "password": PASSWORD},
    )
    assert signed_in.status_code == 200, signed_in.text


# -- the verifier's other answers ---------------------------------------------------------


def test_a_rejection_releases_the_id_number_and_the_borrower_may_try_again(
    runtime, live_server, alice
):
    borrower_id, headers = alice

    rejected = submit(live_server, headers, **{**ALICE, "name": "张拒绝"})

    assert rejected.status_code == 200, rejected.text
    body = rejected.json()
    assert (body["status"], body["real_name"]) == ("rejected", None)
    assert body["verification"]["reasons"] == ["name_id_mismatch"]
    # Someone else may now use the number (its owner, say); the attempt stays linked.
    bob_id, bob = register(live_server, runtime, "13987654321")
    agree(live_server, bob)
    assert submit(live_server, bob, **ALICE).json()["status"] == "verified"
    with runtime.sessions.begin() as session:
        index = lookup(session, "id_number", ALICE["id_number"])
        linked = session.scalars(
            select(KycTransition.borrower_id).where(KycTransition.id_number_index == index)
        ).all()
    assert sorted(linked) == sorted([borrower_id, bob_id])
    retry = submit(live_server, headers, **BOB)
    assert retry.json()["status"] == "verified"
    assert "borrower.rejected" in topics(runtime)


def test_review_goes_to_staff_who_decide_once(runtime, live_server, alice):
    borrower_id, headers = alice
    review = submit(live_server, headers, **{**ALICE, "name": "王复核"})
    assert review.json()["status"] == "review"
    assert_problem(submit(live_server, headers, **ALICE), 409, "kyc_in_review")
    officer = staff_headers(runtime, "risk_officer")
    assert_problem(
        httpx.get(f"{live_server}/api/kyc/reviews", headers=staff_headers(runtime, "support")),
        403,
        "forbidden",
    )

    queue = httpx.get(f"{live_server}/api/kyc/reviews", headers=officer).json()["items"]

    assert [(q["borrower_id"], q["reasons"], q["name"]) for q in queue] == [
        (borrower_id, ["face_low_similarity"], "王**")
    ]
    url = f"{live_server}/api/kyc/reviews/{queue[0]['review_id']}"
    assert_problem(
        httpx.post(url, headers=officer, json={"decision": "approved"}), 422, "decision_invalid"
    )
    decided = httpx.post(
        url,
        headers=officer,
        json={"decision": "verified", "reasons": ["id_photo_checked"], "note": "证件照片一致"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "verified"
    assert decided.json()["history"][-1] | {"id": 0, "occurred_at": ""} == {
        "id": 0,
        "from_status": "review",
        "to_status": "verified",
        "actor": "staff:test-risk_officer",
        "provider": None,
        "reference": None,
        "stand_in": False,
        "reasons": ["id_photo_checked"],
        "note": "证件照片一致",
        "occurred_at": "",
    }
    before = state(runtime, borrower_id)
    again = httpx.post(url, headers=officer, json={"decision": "rejected"})
    assert_problem(again, 409, "review_closed")
    assert state(runtime, borrower_id) == before
    assert httpx.get(f"{live_server}/api/kyc/reviews", headers=officer).json()["items"] == []


@pytest.mark.parametrize("plugins", [["sms-sandbox"]])  # codes, but no identity verifier
def test_with_no_verifier_a_borrower_goes_to_review_never_to_verified(runtime, live_server, alice):
    _, headers = alice

    response = submit(live_server, headers, **ALICE)

    assert response.json()["status"] == "review"
    assert response.json()["history"][-1]["reasons"] == ["no_verifier"]


def test_a_verifier_that_raises_sends_the_borrower_to_review(runtime, live_server, alice):
    import lendkit

    class Broken:
        @lendkit.hookimpl(tryfirst=True)
        def verify_identity(self, claim):
            raise RuntimeError(f"vendor down for {claim.id_number}")

    runtime.pm.register(Broken(), name="broken-verifier")
    _, headers = alice

    response = submit(live_server, headers, **ALICE)

    assert response.json()["status"] == "review"
    assert response.json()["history"][-1]["reasons"] == ["verifier_error"]


# -- consents ---------------------------------------------------------------------------


def test_consents_are_recorded_as_shown_idempotent_and_revocable(runtime, live_server):
    borrower_id, headers = register(live_server, runtime, "13812345678")
    before = state(runtime, borrower_id)
    assert_problem(agree(live_server, headers, digest="00" * 32), 422, "consent_text_mismatch")
    assert_problem(agree(live_server, headers, version="1999-01"), 422, "consent_version_unknown")
    assert_problem(agree(live_server, headers, channel="fax"), 422, "consent_channel_invalid")
    assert_problem(agree(live_server, headers, purpose="ads"), 422, "consent_purpose_unknown")
    assert state(runtime, borrower_id) == before

    first = agree(live_server, headers, "credit_query", channel="h5")
    repeat = agree(live_server, headers, "credit_query", channel="h5")

    assert (first.status_code, repeat.status_code) == (201, 200)
    assert first.json() == repeat.json()
    shown = {
        t["purpose"]: t for t in httpx.get(f"{live_server}/api/consents/texts").json()["items"]
    }
    assert first.json()["digest"] == consents.digest_of(shown["credit_query"]["text"])
    with runtime.sessions.begin() as session:
        assert (
            consents.require_consent(session, borrower_id, "credit_query").id == first.json()["id"]
        )

    revoked = httpx.post(
        f"{live_server}/api/borrowers/me/consents/credit_query/revoke", headers=headers
    )
    again = httpx.post(
        f"{live_server}/api/borrowers/me/consents/credit_query/revoke", headers=headers
    )

    assert [c["id"] for c in revoked.json()["revoked"]] == [first.json()["id"]]
    assert again.json() == {"revoked": []}
    mine = httpx.get(f"{live_server}/api/borrowers/me/consents", headers=headers).json()
    assert mine["active"]["credit_query"] is False
    assert [(c["purpose"], c["channel"], c["active"]) for c in mine["consents"]] == [
        ("credit_query", "h5", False)
    ]
    with runtime.sessions.begin() as session:
        with pytest.raises(consents.ConsentRequired) as refused:
            consents.require_consent(session, borrower_id, "credit_query")
        assert (refused.value.status, refused.value.code) == (403, "consent_required")
        with pytest.raises(consents.ConsentRequired):
            consents.require_consent(session, borrower_id, "credit_report")
    assert topics(runtime)[-2:] == ["borrower.consent_granted", "borrower.consent_revoked"]
    # Granting again after a revocation adds a row; the old one stays revoked.
    assert agree(live_server, headers, "credit_query").status_code == 201
    with runtime.sessions.begin() as session:
        rows = consents.history(session, borrower_id)
    assert [(r.purpose, r.revoked_at is None) for r in rows] == [
        ("credit_query", False),
        ("credit_query", True),
    ]


def test_the_database_refuses_to_rewrite_consents_and_kyc_history(runtime, live_server, alice):
    _, headers = alice
    submit(live_server, headers, **ALICE)
    refusals = [
        "UPDATE consent SET purpose = 'credit_query'",
        "UPDATE consent SET text_digest = 'forged'",
        "DELETE FROM consent",
        # A second active grant of the same text (two identical requests at once).
        "INSERT INTO consent (borrower_id, purpose, text_version, text_digest, channel,"
        " granted_at) SELECT borrower_id, purpose, text_version, text_digest, channel,"
        " granted_at FROM consent",
        "UPDATE kyc_transition SET to_status = 'verified'",
        "DELETE FROM kyc_transition",
    ]
    for statement in refusals:
        with pytest.raises(DatabaseError), runtime.engine.begin() as connection:
            connection.execute(text(statement))
    # Revoking is the one change allowed, and only once.
    now = utcnow()
    with runtime.engine.begin() as connection:
        connection.execute(text("UPDATE consent SET revoked_at = :now"), {"now": now})
    with pytest.raises(DatabaseError), runtime.engine.begin() as connection:
        connection.execute(text("UPDATE consent SET revoked_at = NULL"))
    with runtime.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(KycTransition)) == 2


# -- the validators on their own -----------------------------------------------------------


def test_id_number_checks_in_order_and_what_they_return():
    checked = identity.check_id_number(" " + ALICE["id_number"].lower() + " ", TODAY)
    assert (checked.number, checked.birth_date, checked.region, checked.sex) == (
        ALICE["id_number"],
        date(1990, 3, 7),
        "北京市东城区",
        "M",
    )
    eighteen_today = id_number(born=years_before(TODAY, 18))
    assert identity.check_id_number(eighteen_today, TODAY).number == eighteen_today
    eighteen_tomorrow = id_number(born=years_before(TODAY, 18) + timedelta(days=1))
    with pytest.raises(identity.InvalidIdentity) as young:
        identity.check_id_number(eighteen_tomorrow, TODAY)
    assert young.value.code == "id_underage"
    tomorrow = id_number(born=TODAY + timedelta(days=1))
    with pytest.raises(identity.InvalidIdentity) as future:
        identity.check_id_number(tomorrow, TODAY)
    assert future.value.code == "id_birth_date_in_future"
    assert isinstance(future.value, ValidationFailed)


def test_card_hints_and_phone_normalization():
    assert identity.card_hint(card("622848")).bank_en == "Agricultural Bank of China"
    assert identity.card_hint("9999999999999999") is None
    credit = identity.check_bank_card(card("622575", "0011223344"))
    assert (credit.hint.kind, credit.warnings) == ("credit", ("credit_card",))
    assert identity.check_bank_card("6222 0202 0011 2233 44" + ALICE["bank_card"][-1]).luhn_valid
    assert identity.check_phone("+86 138-1234-5678") == "13812345678"
    for bad in ("12812345678", "1381234567", "138123456789"):
        with pytest.raises(identity.InvalidIdentity):
            identity.check_phone(bad)
    assert identity.check_name("买买提•艾力") == "买买提·艾力"


def test_kyc_transitions_follow_the_state_machine():
    assert borrowers.TRANSITIONS["verified"] == frozenset()
    assert "verified" not in borrowers.TRANSITIONS[None]
    assert borrowers.TRANSITIONS["review"] == {"verified", "rejected"}
