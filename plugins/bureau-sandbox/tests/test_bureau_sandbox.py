"""The sandbox credit bureau: made-up reports that follow from the borrower id, always
marked as such, and through the kernel's application route on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from decimal import Decimal
from itertools import count

import httpx
import pytest
from lendkit.testing import (
    SAMPLE_PRODUCTS,
    add_borrower,
    borrower_headers,
    check_plugin,
    staff_headers,
)
from lendkit.types import Applicant
from lendkit_bureau_sandbox import plugin


def applicant(borrower_id):
    return Applicant(
        application_id=1,
        borrower_id=borrower_id,
        product_code="consumer-12",
        amount=Decimal("3000.00"),
        term=12,
        method="equal-installment",
        annual_income=Decimal("120000.00"),
        exposure=Decimal("0.00"),
    )


def test_the_report_follows_from_the_borrower_id_alone_and_is_marked_sandbox():
    first, again = plugin.credit_report(applicant(7)), plugin.credit_report(applicant(7))

    assert first == again
    assert first.sandbox is True
    assert first.provider == "bureau-sandbox"
    assert first.reference.startswith("SANDBOX-CR-")
    assert first.details["notice"] == "sandbox: not a real credit report"
    assert plugin.credit_report(applicant(8)) != first


def test_scores_bands_and_limits_cover_every_outcome_within_their_ranges():
    profiles = [plugin.profile(n) for n in range(1, 401)]

    assert all(450 <= p.score <= 850 for p in profiles)
    assert {p.band for p in profiles} == {"A", "B", "C", "D", "E"}
    for p in profiles:
        _low, band, limit = next(b for b in plugin.BANDS if p.score >= b[0])
        assert (p.band, p.limit) == (band, limit)
        assert p.delinquencies == (0 if p.score >= 600 else 1 if p.score >= 520 else 3)
        assert 0 <= p.debt <= Decimal("60000")
        assert p.debt == p.debt.quantize(Decimal("0.01"))
    proposal = plugin.propose_credit_limit(applicant(7))
    assert proposal.limit == plugin.profile(7).limit
    assert proposal.reasons == (f"sandbox_band_{plugin.profile(7).band.lower()}",)


def test_it_warns_on_every_use(caplog):
    with caplog.at_level(logging.WARNING):
        plugin.credit_report(applicant(7))

    assert "not a real credit report" in caplog.text


def test_it_passes_the_conformance_check(database_url):
    assert check_plugin("bureau-sandbox", database_url=database_url) == []


# -- enabled in a tenant ------------------------------------------------------------------


BAND_A = lambda p: p.band == "A"  # noqa: E731


@pytest.fixture
def enabled(make_tenant):
    return make_tenant(plugins=["bureau-sandbox"], products=SAMPLE_PRODUCTS)


def borrower_with(wanted, runtime, base):
    """A verified borrower whose sandbox profile satisfies ``wanted``, with credit-query consent."""
    for n in count():
        borrower_id = add_borrower(runtime, f"139{n:08d}", kyc_status="verified")
        if wanted(plugin.profile(borrower_id)):
            break
    headers = borrower_headers(runtime, borrower_id)
    text = next(
        t
        for t in httpx.get(f"{base}/api/consents/texts").json()["items"]
        if t["purpose"] == "credit_query"
    )
    agreed = httpx.post(
        f"{base}/api/borrowers/me/consents",
        headers=headers,
        json={"purpose": "credit_query", "version": text["version"], "digest": text["digest"]},
    )
    assert agreed.status_code == 201, agreed.text
    return borrower_id, headers


def apply(base, headers, amount="20000.00"):
    return httpx.post(
        f"{base}/api/borrowers/me/applications",
        headers=headers,
        json={
            "product_code": "consumer-12",
            "amount": amount,
            "term": 12,
            "method": "equal-installment",
            "annual_income": "300000.00",
            "idempotency_key": "sandbox-1",
        },
    )


def test_enabled_it_approves_a_band_a_borrower_and_the_decision_is_labelled(
    enabled, runtime, live_server
):
    _, headers = borrower_with(BAND_A, runtime, live_server)

    response = apply(live_server, headers)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "approved"
    record = httpx.get(
        f"{live_server}/api/applications/{body['id']}", headers=staff_headers(runtime, "admin")
    ).json()
    [decision] = record["decisions"]
    assert decision["stand_in"] is True
    assert decision["label"].startswith("沙箱征信")
    assert decision["credit_limit"] == "100000.00"
    assert decision["inputs"]["report"]["provider"] == "bureau-sandbox"


@pytest.mark.parametrize(
    ("wanted", "status"),
    [(lambda p: 520 <= p.score < 600, "review"), (lambda p: p.score < 500, "rejected")],
    ids=["score-520-599", "score-below-500"],
)
def test_enabled_low_scores_go_to_review_or_are_rejected(
    enabled, runtime, live_server, wanted, status
):
    _, headers = borrower_with(wanted, runtime, live_server)

    assert apply(live_server, headers, amount="3000.00").json()["status"] == status


@pytest.fixture
def disabled(make_tenant):
    return make_tenant(products=SAMPLE_PRODUCTS)


def test_disabled_nothing_answers_and_a_person_decides(disabled, runtime, live_server):
    _, headers = borrower_with(BAND_A, runtime, live_server)

    body = apply(live_server, headers).json()

    assert body["status"] == "review"
