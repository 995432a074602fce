"""The sandbox identity verifier: its verdicts, always marked as proving nothing,
through the kernel's real-name route on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import date

import httpx
import pytest
from lendkit.testing import add_borrower, borrower_headers, check_plugin
from lendkit.types import IdentityClaim
from lendkit_identity_sandbox import plugin
from stdnum import luhn
from stdnum.cn import ric

BODY = "31010419850615002"
ID_NUMBER = BODY + ric.calc_check_digit(BODY + "0")
CARD = "621700" + "123456789012"
CARD += luhn.calc_check_digit(CARD)


def claim(name):
    return IdentityClaim(
        borrower_id=7,
        name=name,
        id_number=ID_NUMBER,
        bank_card=CARD,
        phone="13812345678",
        birth_date=date(1985, 6, 15),
    )


@pytest.mark.parametrize(
    ("name", "outcome", "reasons"),
    [
        ("张三", "verified", ()),
        ("张拒绝", "rejected", ("name_id_mismatch",)),
        ("王复核", "review", ("face_low_similarity",)),
    ],
)
def test_the_verdict_follows_the_name_and_is_always_marked_sandbox(name, outcome, reasons):
    verdict = plugin.verify_identity(claim(name))

    assert (verdict.outcome, verdict.reasons) == (outcome, reasons)
    assert verdict.sandbox is True
    assert verdict.provider == "identity-sandbox"
    assert verdict.reference.startswith("SANDBOX-")


def test_it_warns_on_every_use_and_logs_no_personal_data(caplog):
    with caplog.at_level(logging.WARNING):
        plugin.verify_identity(claim("张三"))

    assert "not a real identity check" in caplog.text
    logged = " ".join(str(vars(r)) for r in caplog.records)
    for value in ("张三", ID_NUMBER, CARD, "13812345678"):
        assert value not in logged
    assert ID_NUMBER not in repr(claim("张三"))


def test_it_passes_the_conformance_check(database_url):
    assert check_plugin("identity-sandbox", database_url=database_url) == []


@pytest.fixture
def enabled(make_tenant):
    return make_tenant(plugins=["identity-sandbox"])


def borrower_with_consent(runtime, base):
    borrower_id = add_borrower(runtime, "13812345678")
    headers = borrower_headers(runtime, borrower_id)
    text = next(
        t
        for t in httpx.get(f"{base}/api/consents/texts").json()["items"]
        if t["purpose"] == "privacy_policy"
    )
    agreed = httpx.post(
        f"{base}/api/borrowers/me/consents",
        headers=headers,
        json={"purpose": "privacy_policy", "version": text["version"], "digest": text["digest"]},
    )
    assert agreed.status_code == 201, agreed.text
    return headers


def submit(base, headers, name):
    response = httpx.post(
        f"{base}/api/borrowers/me/real-name",
        headers=headers,
        json={"name": name, "id_number": ID_NUMBER, "bank_card": CARD},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_enabled_it_verifies_a_borrower_and_the_kernel_labels_it(enabled, runtime, live_server):
    headers = borrower_with_consent(runtime, live_server)

    body = submit(live_server, headers, "张三")

    assert body["status"] == "verified"
    assert body["verification"]["provider"] == "identity-sandbox"
    assert body["verification"]["stand_in"] is True
    assert body["verification"]["label"] == (
        "沙箱核验，并非真实身份核验。Stand-in check: not a real identity check."
    )
    assert body["card"]["bank_zh"] == "中国建设银行"


def test_enabled_it_can_send_a_borrower_to_review(enabled, runtime, live_server):
    headers = borrower_with_consent(runtime, live_server)

    body = submit(live_server, headers, "王复核")

    assert body["status"] == "review"
    assert body["verification"]["reasons"] == ["face_low_similarity"]


def test_disabled_it_answers_nothing_and_the_kernel_asks_a_person(runtime, live_server):
    headers = borrower_with_consent(runtime, live_server)

    body = submit(live_server, headers, "张三")

    assert body["status"] == "review"
    assert body["verification"] is None
    assert body["history"][-1]["reasons"] == ["no_verifier"]
