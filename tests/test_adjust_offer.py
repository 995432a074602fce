"""The adjust_offer hook, exercised by test plugins over the real HTTP app on SQLite and
PostgreSQL: a coupon lowers an offer's all-in rate, the adjustment is kept with the offer,
the loan is booked on it and its agreement shows it; a breach of the cap after adjustment
is refused and writes nothing; staff approvals adjust the same way; a failing or invalid
adjustment is dropped, recorded, and rolled back."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal

import httpx
import lendkit
import pytest
from lendkit.auth.testing import borrower_headers, staff_headers
from lendkit.lifecycle import consents, contracts
from lendkit.lifecycle.application_models import Application, ApplicationEvent
from lendkit.lifecycle.loan_models import Loan
from lendkit.lifecycle.pricing import quote
from lendkit.models import Borrower, OutboxEvent
from lendkit.testing import SAMPLE_PRODUCTS
from lendkit.types import CreditReport, LimitProposal, OfferAdjustment
from pypdf import PdfReader
from sqlalchemy import func, select
from stdnum.cn import ric

WAIVER = "新客券：免服务费、利率减一个百分点 / welcome coupon: no upfront fee, 1 point off"


class Bureau:
    """Approves every application at once: a good score and a high limit."""

    @lendkit.hookimpl
    def credit_report(self, applicant):
        return CreditReport(provider="test-bureau", reference="Q-1", score=720)

    @lendkit.hookimpl
    def propose_credit_limit(self, applicant):
        return LimitProposal("test-bureau", Decimal("100000.00"))


class Coupon:
    """A coupon plugin: waives the upfront fee and takes a point off the rate."""

    def __init__(self):
        self.seen = []

    @lendkit.hookimpl
    def adjust_offer(self, offer):
        self.seen.append(offer)
        terms = replace(
            offer.terms,
            upfront_fee=Decimal("0.00"),
            annual_rate=offer.terms.annual_rate - Decimal("0.0100"),
        )
        return OfferAdjustment(terms, "coupon_fee_waiver", WAIVER, reference="WELCOME-1")


class Surcharge:
    """A campaign gone wrong: it raises the rate far above the cap."""

    @lendkit.hookimpl
    def adjust_offer(self, offer):
        terms = replace(offer.terms, annual_rate=Decimal("0.3000"))
        return OfferAdjustment(terms, "campaign_surcharge", "活动加价 / campaign surcharge")


class Broken:
    """Writes, then fails: its write must not survive."""

    @lendkit.hookimpl
    def adjust_offer(self, offer, session):
        session.add(Borrower(phone="13700000009", kyc_status="unverified"))
        session.flush()
        raise RuntimeError("coupon service unavailable")


class Stretch:
    """Changes the borrower's term: not an offer's to change."""

    @lendkit.hookimpl
    def adjust_offer(self, offer):
        terms = replace(offer.terms, term=24)
        return OfferAdjustment(terms, "longer_term", "延长期限 / longer term")


@pytest.fixture(autouse=True)
def tenant(make_tenant):
    return make_tenant(products=SAMPLE_PRODUCTS)


def plugins(runtime, *pairs):
    for name, plugin in pairs:
        runtime.pm.register(plugin, name=name)


def borrower(runtime, n=1):
    """A verified borrower with a real name who agreed to credit queries: (id, headers)."""
    body = f"110101199003{n:05d}"
    with runtime.sessions.begin() as session:
        person = Borrower(
            phone=f"1390000{n:04d}",
            name="张三",
            id_number=body + ric.calc_check_digit(body + "0"),
            kyc_status="verified",
        )
        session.add(person)
        session.flush()
        text = consents.TEXTS["credit_query"]["2026-01"]
        consents.grant(session, person.id, "credit_query", "2026-01", text.digest, "app", "test")
        borrower_id = person.id
    return borrower_id, borrower_headers(runtime, borrower_id)


def apply(base, headers, key="k-1", amount="20000.00"):
    return httpx.post(
        f"{base}/api/borrowers/me/applications",
        headers=headers,
        json={
            "product_code": "consumer-12",
            "amount": amount,
            "term": 12,
            "method": "equal-installment",
            "annual_income": "300000.00",
            "idempotency_key": key,
        },
    )


def assert_problem(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert re.search(r"[\u4e00-\u9fff]", body["detail"]), "detail has Chinese"
    assert re.search(r"[A-Za-z]{4,}", body["detail"]), "detail has English"
    return body


def state(runtime):
    with runtime.sessions.begin() as session:
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        return count(Application), count(ApplicationEvent), count(OutboxEvent), count(Borrower)


def test_a_coupon_lowers_the_offers_rate_and_the_contract_shows_it(runtime, live_server):
    coupon = Coupon()
    plugins(runtime, ("test-bureau", Bureau()), ("test-coupon", coupon))
    _, headers = borrower(runtime)

    response = apply(live_server, headers)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "approved"
    offer = body["offer"]
    # The coupon saw the product's own offer: version 1 of consumer-12, 1 % up front.
    [seen] = coupon.seen
    assert (seen.application_id, seen.product_code, seen.product_version) == (
        body["id"],
        "consumer-12",
        1,
    )
    assert (seen.terms.annual_rate, seen.terms.upfront_fee) == (
        Decimal("0.1090"),
        Decimal("200.00"),
    )
    assert seen.apr_irr == Decimal(offer["base_apr_irr"])
    # The offer is the adjusted one, priced again: a lower all-in rate.
    assert (offer["annual_rate"], offer["upfront_fee"]) == ("0.0990", "0.00")
    assert offer["net_disbursed"] == "20000.00"
    adjusted = quote(
        "20000.00", 12, "0.0990", "equal-installment", start=date.fromisoformat(offer["start"])
    )
    assert Decimal(offer["apr_irr"]) == adjusted.rate.apr_irr
    assert Decimal(offer["apr_irr"]) < Decimal(offer["base_apr_irr"])
    [record] = offer["adjustments"]
    assert record["source"] == "test-coupon"
    assert (record["reason_code"], record["reason"], record["reference"]) == (
        "coupon_fee_waiver",
        WAIVER,
        "WELCOME-1",
    )
    assert (record["apr_before"], record["apr_after"]) == (offer["base_apr_irr"], offer["apr_irr"])
    assert record["before"]["upfront_fee"] == "200.00"
    assert record["after"]["upfront_fee"] == "0.00"
    assert offer["adjustment_errors"] == []

    # The loan is booked on the adjusted terms, and its agreement lists the adjustment.
    accepted = httpx.post(
        f"{live_server}/api/borrowers/me/applications/{body['id']}/accept", headers=headers
    )
    loan_id = accepted.json()["loan_id"]
    with runtime.sessions.begin() as session:
        loan = session.get_one(Loan, loan_id)
        assert (loan.annual_rate, loan.upfront_fee, loan.product_version) == (
            Decimal("0.099"),
            Decimal("0.00"),
            1,
        )
        contract = contracts.prepare(session, runtime, loan_id)
        pdf = contract.pdf_bytes
    words = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    flat = re.sub(r"\s+", " ", words)
    before, after = (
        f"{Decimal(r) * 100:.2f}%" for r in (record["apr_before"], record["apr_after"])
    )
    assert "test-coupon" in flat
    assert "welcome coupon: no upfront fee, 1 point off" in flat
    assert before in flat
    assert after in flat
    assert f"All-in annualized rate after the adjustments: {after}" in flat


def test_a_cap_breach_after_adjustment_is_refused_and_writes_nothing(runtime, live_server):
    plugins(
        runtime,
        ("test-bureau", Bureau()),
        ("test-coupon", Coupon()),
        ("test-surcharge", Surcharge()),
    )
    _, headers = borrower(runtime)
    before = state(runtime)

    body = assert_problem(apply(live_server, headers), 422, "rate_above_cap")

    assert "test-surcharge (campaign_surcharge)" in body["detail"]
    assert "24.00 %" in body["detail"]
    assert state(runtime) == before


def test_staff_approvals_are_adjusted_too_and_refused_above_the_cap(runtime, live_server):
    coupon = Coupon()
    plugins(runtime, ("test-coupon", coupon))
    _, headers = borrower(runtime)
    applied = apply(live_server, headers).json()  # no bureau: a person decides
    assert applied["status"] == "review"
    officer = staff_headers(runtime, "risk_officer")
    url = f"{live_server}/api/applications/{applied['id']}/approve"

    runtime.pm.register(Surcharge(), name="test-surcharge")
    refused = httpx.post(url, headers=officer, json={"reasons": ["ok"], "amount": "15000.00"})
    assert_problem(refused, 422, "rate_above_cap")
    with runtime.sessions.begin() as session:
        assert session.get_one(Application, applied["id"]).status == "review"

    runtime.pm.unregister(name="test-surcharge")
    approved = httpx.post(url, headers=officer, json={"reasons": ["ok"], "amount": "15000.00"})
    assert approved.status_code == 200, approved.text
    offer = approved.json()["offer"]
    assert coupon.seen[-1].terms.principal == Decimal("15000.00")
    assert (offer["principal"], offer["upfront_fee"], offer["annual_rate"]) == (
        "15000.00",
        "0.00",
        "0.0990",
    )
    assert [a["source"] for a in offer["adjustments"]] == ["test-coupon"]


def test_a_failing_or_invalid_adjustment_is_dropped_recorded_and_rolled_back(runtime, live_server):
    plugins(
        runtime,
        ("test-bureau", Bureau()),
        ("test-coupon", Coupon()),
        ("test-broken", Broken()),
        ("test-stretch", Stretch()),
    )
    _, headers = borrower(runtime)

    response = apply(live_server, headers)

    assert response.status_code == 201, response.text
    offer = response.json()["offer"]
    assert [a["source"] for a in offer["adjustments"]] == ["test-coupon"]
    errors = {e["source"]: e["error"] for e in offer["adjustment_errors"]}
    assert errors["test-broken"] == "RuntimeError: coupon service unavailable"
    assert errors["test-stretch"].startswith("term_or_method_changed")
    assert offer["term"] == 12
    with runtime.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Borrower)) == 1  # Broken's is gone
