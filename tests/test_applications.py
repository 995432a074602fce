"""Credit applications through the real HTTP app on SQLite and PostgreSQL: submit with
an idempotency key, the automatic decision or the review queue, staff approving and
rejecting with reason codes (audited), priced offers that expire, the borrower
accepting, per-borrower caps — and every refusal a bilingual problem that changes
nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import httpx
import lendkit
import pytest
from lendkit.audit import AuditEntry
from lendkit.auth.testing import borrower_headers, staff_headers
from lendkit.db import utcnow
from lendkit.errors import ConflictError, ValidationFailed
from lendkit.lifecycle import (
    application_caps,
    application_input,
    applications,
    booking,
    consents,
)
from lendkit.lifecycle.application_models import Application, ApplicationEvent, CreditDecision
from lendkit.models import Borrower, OutboxEvent
from lendkit.registry import jobs
from lendkit.runtime import open_runtime
from lendkit.testing import SAMPLE_PRODUCTS
from lendkit.types import CreditReport, LimitProposal
from sqlalchemy import func, select, update
from sqlalchemy.exc import DatabaseError

CONSUMER = {
    "product_code": "consumer-12",
    "amount": "20000.00",
    "term": 12,
    "method": "equal-installment",
    "annual_income": "200000.00",
}


class Bureau:
    """A bureau and limit engine for tests: ``score`` and ``limit`` decide the outcome."""

    def __init__(self, score=720, limit="100000.00", fail=False):
        self.score, self.limit, self.fail, self.calls = score, Decimal(limit), fail, 0

    @lendkit.hookimpl
    def credit_report(self, applicant):
        self.calls += 1
        if self.fail:
            raise ConnectionError("bureau unreachable")
        return CreditReport(provider="test-bureau", reference="Q-1", score=self.score)

    @lendkit.hookimpl
    def propose_credit_limit(self, applicant):
        return LimitProposal("test-bureau", self.limit)


@pytest.fixture
def caps():
    """Extra ``[caps]`` settings; a test overrides it with ``parametrize``."""
    return {}


@pytest.fixture(autouse=True)
def tenant(make_tenant, caps):
    config = make_tenant(products=SAMPLE_PRODUCTS)
    if caps:
        # The products were saved under the caps in force then; the caps changed after.
        seeded = open_runtime()
        seeded.upgrade()
        seeded.close()
        config = make_tenant(products=SAMPLE_PRODUCTS, caps=caps)
    return config


@pytest.fixture
def bureau(runtime):
    plugin = Bureau()
    runtime.pm.register(plugin, name="test-bureau")
    return plugin


# -- helpers --------------------------------------------------------------------------


def assert_problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    assert re.search(r"[\u4e00-\u9fff]", body["detail"]), "detail has Chinese"
    assert re.search(r"[A-Za-z]{4,}", body["detail"]), "detail has English"
    return body


def add_borrower(runtime, base, phone="13900000001", *, kyc="verified", consent=True):
    """A borrower (verified unless told) who agreed to credit queries: (id, headers)."""
    with runtime.sessions.begin() as session:
        person = Borrower(phone=phone, kyc_status=kyc)
        session.add(person)
        session.flush()
        borrower_id = person.id
    headers = borrower_headers(runtime, borrower_id)
    if consent:
        text = {t["purpose"]: t for t in httpx.get(f"{base}/api/consents/texts").json()["items"]}
        agreed = httpx.post(
            f"{base}/api/borrowers/me/consents",
            headers=headers,
            json={
                "purpose": "credit_query",
                "version": text["credit_query"]["version"],
                "digest": text["credit_query"]["digest"],
            },
        )
        assert agreed.status_code == 201, agreed.text
    return borrower_id, headers


def apply(base, headers, key="k-1", **fields):
    return httpx.post(
        f"{base}/api/borrowers/me/applications",
        headers=headers,
        json={**CONSUMER, "idempotency_key": key, **fields},
    )


def state(runtime):
    """Everything a refused request must leave as it was."""
    with runtime.sessions.begin() as session:
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        return (
            [(a.id, a.status, a.accepted_at) for a in session.scalars(select(Application))],
            count(ApplicationEvent),
            count(CreditDecision),
            count(OutboxEvent),
            count(AuditEntry),
        )


def topics(runtime):
    with runtime.sessions.begin() as session:
        return [
            t
            for t in session.scalars(select(OutboxEvent.topic).order_by(OutboxEvent.id))
            if t.startswith("application.")
        ]


def audit_rows(runtime, action):
    with runtime.sessions.begin() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def review(base, runtime, bureau, headers, **fields):
    """Submit an application the bureau sends to a person; its id."""
    bureau.score = 550  # the review band
    response = apply(base, headers, **fields)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "review"
    return response.json()["id"]


# -- automatic decisions -----------------------------------------------------------


def test_a_good_applicant_is_approved_at_once_with_a_priced_offer(runtime, live_server, bureau):
    _, headers = add_borrower(runtime, live_server)

    response = apply(live_server, headers)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "approved"
    offer = body["offer"]
    assert offer["amount"] == offer["principal"] == "20000.00"
    assert offer["annual_rate"] == "0.1090"
    assert offer["upfront_fee"] == "200.00"  # consumer-12: 1 % up front
    assert offer["net_disbursed"] == "19800.00"
    assert Decimal("0.10") < Decimal(offer["apr_irr"]) < Decimal("0.24")
    assert Decimal(offer["apr_simple"]) < Decimal(offer["apr_irr"])
    assert len(offer["schedule"]) == 12
    assert offer["expired"] is False
    expires = offer["expires_at"]
    with runtime.sessions.begin() as session:
        app = session.get(Application, body["id"])
        assert app.offer_expires_at - app.offered_at == timedelta(days=7)
        assert app.offer_expires_at.isoformat() == expires
    assert topics(runtime) == ["application.submitted", "application.approved"]
    [approved] = audit_rows(runtime, "application.approved")
    assert approved.actor == "system:credit"
    listed = httpx.get(f"{live_server}/api/borrowers/me/applications", headers=headers).json()[
        "items"
    ]
    assert [a["id"] for a in listed] == [body["id"]]


@pytest.mark.parametrize(
    ("score", "limit", "status"),
    [(450, "100000.00", "rejected"), (720, "10000.00", "rejected"), (550, "100000.00", "review")],
)
def test_the_bureau_and_the_limit_decide(runtime, live_server, bureau, score, limit, status):
    _, headers = add_borrower(runtime, live_server)
    bureau.score, bureau.limit = score, Decimal(limit)

    body = apply(live_server, headers).json()

    assert body["status"] == status
    assert body["offer"] is None
    assert topics(runtime) == ["application.submitted", f"application.{status}"]


def test_a_bureau_that_raises_sends_the_application_to_review(runtime, live_server, bureau):
    _, headers = add_borrower(runtime, live_server)
    bureau.fail = True
    admin = staff_headers(runtime, "admin")

    body = apply(live_server, headers).json()

    assert body["status"] == "review"
    record = httpx.get(f"{live_server}/api/applications/{body['id']}", headers=admin).json()
    [decision] = record["decisions"]
    assert decision["outcome"] == "review"
    assert decision["trace"][0] == {
        "hook": "credit_report",
        "plugin": "test-bureau",
        "result": None,
        "error": "ConnectionError: bureau unreachable",
    }
    assert "credit_report_error" in [r["code"] for r in decision["reasons"]]


# -- refusals at submission: specific, bilingual, and nothing changes ----------------


def test_without_a_credit_query_consent_no_bureau_is_asked(runtime, live_server, bureau):
    _, headers = add_borrower(runtime, live_server, consent=False)
    before = state(runtime)

    assert_problem(apply(live_server, headers), 403, "consent_required")

    assert bureau.calls == 0
    assert state(runtime) == before


def test_an_unverified_borrower_cannot_apply(runtime, live_server, bureau):
    _, headers = add_borrower(runtime, live_server, kyc="registered")
    before = state(runtime)

    assert_problem(apply(live_server, headers), 403, "kyc_required")

    assert bureau.calls == 0
    assert state(runtime) == before


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"product_code": "no-such"}, "invalid_product"),
        ({"amount": "999.99"}, "amount_out_of_range"),
        ({"amount": "200000.01"}, "amount_out_of_range"),
        ({"term": 5}, "term_not_offered"),
        ({"method": "bullet"}, "method_not_offered"),
        ({"amount": 20000.5}, "invalid_amount"),  # a float is not money
        ({"amount": "12.345"}, "invalid_amount"),
        ({"amount": "lots"}, "invalid_amount"),
        ({"term": "12"}, "invalid_term"),
        ({"annual_income": "0"}, "invalid_annual_income"),
        ({"annual_income": None}, "invalid_annual_income"),
    ],
)
def test_bad_input_gets_a_specific_422_and_changes_nothing(
    runtime, live_server, bureau, fields, code
):
    _, headers = add_borrower(runtime, live_server)
    before = state(runtime)

    assert_problem(apply(live_server, headers, **fields), 422, code)

    assert state(runtime) == before
    assert bureau.calls == 0


@pytest.mark.parametrize("key", ["", "a b", "k" * 97])
def test_a_bad_idempotency_key_is_the_one_400_of_every_route(runtime, live_server, bureau, key):
    _, headers = add_borrower(runtime, live_server)
    before = state(runtime)

    problem = assert_problem(
        apply(live_server, headers, idempotency_key=key), 400, "idempotency_key_invalid"
    )

    assert [e["field"] for e in problem["errors"]] == ["idempotency_key"]
    assert state(runtime) == before
    assert bureau.calls == 0


def test_a_body_that_is_not_an_object_is_refused_in_both_languages(runtime, live_server):
    _, headers = add_borrower(runtime, live_server)

    response = httpx.post(
        f"{live_server}/api/borrowers/me/applications", headers=headers, json=[1, 2]
    )

    assert_problem(response, 422, "invalid_body")


def test_the_idempotency_key_may_come_in_a_header(runtime, live_server, bureau):
    _, headers = add_borrower(runtime, live_server)

    response = httpx.post(
        f"{live_server}/api/borrowers/me/applications",
        headers={**headers, "Idempotency-Key": "hdr-1"},
        json=CONSUMER,
    )

    assert response.status_code == 201, response.text
    with runtime.sessions.begin() as session:
        assert session.get(Application, response.json()["id"]).idempotency_key == "hdr-1"


def test_a_double_submit_returns_the_first_and_a_reused_key_is_refused(
    runtime, live_server, bureau
):
    _, headers = add_borrower(runtime, live_server)
    first = apply(live_server, headers, key="same")
    after_first = state(runtime)

    again = apply(live_server, headers, key="same")

    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert state(runtime) == after_first
    assert bureau.calls == 1
    assert_problem(
        apply(live_server, headers, key="same", amount="25000.00"), 409, ("idempotency_key_reused")
    )
    assert state(runtime) == after_first


def test_a_second_open_application_for_the_same_product_is_409(runtime, live_server, bureau):
    _, headers = add_borrower(runtime, live_server)
    assert apply(live_server, headers, key="one").json()["status"] == "approved"
    before = state(runtime)

    assert_problem(apply(live_server, headers, key="two"), 409, "application_open")
    assert state(runtime) == before

    # Another product is another matter.
    other = apply(
        live_server,
        headers,
        key="three",
        product_code="business-bullet",
        amount="10000.00",
        method="interest-first",
    )
    assert other.status_code == 201, other.text


def test_after_a_rejection_the_borrower_may_apply_again(runtime, live_server, bureau):
    _, headers = add_borrower(runtime, live_server)
    bureau.score = 450
    assert apply(live_server, headers, key="one").json()["status"] == "rejected"
    bureau.score = 720

    assert apply(live_server, headers, key="two").json()["status"] == "approved"


@pytest.mark.parametrize("caps", [{"annual_rate": "0.10"}])
def test_an_offer_above_the_rate_cap_is_refused(runtime, live_server, bureau):
    _, headers = add_borrower(runtime, live_server)
    before = state(runtime)

    body = assert_problem(apply(live_server, headers), 422, "rate_above_cap")

    assert "10.00 %" in body["detail"]
    assert state(runtime) == before


# -- per-borrower caps -----------------------------------------------------------------


def book_loan(runtime, borrower_id, principal, status="active"):
    """A loan of ``principal`` booked by the lifecycle, moved to ``status``."""
    with runtime.sessions.begin() as session:
        loan = booking.book(
            session,
            runtime,
            booking.Terms(
                borrower_id=borrower_id,
                product_code="business-bullet",
                principal=Decimal(principal),
                term=12,
                method="interest-first",
                annual_rate=Decimal("0.1440"),
            ),
            idempotency_key=f"loan-{borrower_id}-{principal}-{status}",
            business_date=utcnow().date(),
        )
        loan.status = status
        return loan.id


BIG = {"product_code": "business-bullet", "method": "interest-first", "term": 12}


def test_the_per_borrower_cap_counts_outstanding_loans(runtime, live_server, bureau):
    borrower_id, headers = add_borrower(runtime, live_server)
    book_loan(runtime, borrower_id, "150000.00", "active")
    book_loan(runtime, borrower_id, "90000.00", "settled")  # paid off: does not count
    before = state(runtime)

    body = assert_problem(
        apply(live_server, headers, **BIG, amount="160000.00", annual_income="9000000.00"),
        422,
        "borrower_cap_exceeded",
    )

    assert "310,000.00" in body["detail"]
    assert "150,000.00" in body["detail"]  # what is left
    assert state(runtime) == before
    assert bureau.calls == 0


def test_the_household_cap_is_the_borrower_alone_for_now(runtime, live_server, bureau):
    _, headers = add_borrower(runtime, live_server)

    assert_problem(
        apply(live_server, headers, **BIG, amount="200000.01", annual_income="9000000.00"),
        422,
        "household_cap_exceeded",
    )


def test_the_income_cap_counts_open_offers_until_they_expire(runtime, live_server, bureau):
    borrower_id, headers = add_borrower(runtime, live_server)
    # A third of 90,000 is 29,997: the first offer takes 20,000 of it.
    first = apply(live_server, headers, key="one", annual_income="90000.00").json()
    assert first["status"] == "approved"
    second = dict(BIG, amount="10000.00", annual_income="90000.00")
    before = state(runtime)

    body = assert_problem(
        apply(live_server, headers, key="two", **second), 422, ("income_cap_exceeded")
    )
    assert "30,000.00" in body["detail"]
    assert state(runtime) == before

    with runtime.sessions.begin() as session:
        assert application_caps.exposure(session, borrower_id) == Decimal("20000.00")
        session.execute(
            update(Application)
            .where(Application.id == first["id"])
            .values(offer_expires_at=utcnow() - timedelta(seconds=1))
        )
        assert application_caps.exposure(session, borrower_id) == Decimal("0.00")
    assert apply(live_server, headers, key="two", **second).status_code == 201


def test_caps_function_counts_applications_offers_and_loans(runtime):
    with runtime.sessions.begin() as session:
        person = Borrower(phone="13900000009", kyc_status="verified")
        session.add(person)
        session.flush()
        borrower_id = person.id
    book_loan(runtime, borrower_id, "10000.00", "booked")
    book_loan(runtime, borrower_id, "20000.00", "overdue")
    book_loan(runtime, borrower_id, "40000.00", "written_off")
    with runtime.sessions.begin() as session:
        assert application_caps.exposure(session, borrower_id) == Decimal("30000.00")
        application_caps.check_caps(
            session, runtime.settings, borrower_id, Decimal("170000.00"), Decimal("900000")
        )
        with pytest.raises(ValidationFailed) as refused:
            application_caps.check_caps(
                session, runtime.settings, borrower_id, Decimal("170000.01"), Decimal("900000")
            )
        assert refused.value.code == "household_cap_exceeded"


# -- manual review by staff ------------------------------------------------------------


def test_staff_approve_from_the_queue_for_less_with_reasons_audited(runtime, live_server, bureau):
    _, headers = add_borrower(runtime, live_server)
    application_id = review(live_server, runtime, bureau, headers)
    officer = staff_headers(runtime, "risk_officer", "wang")

    queue = httpx.get(f"{live_server}/api/applications/reviews", headers=officer).json()["items"]
    assert [item["id"] for item in queue] == [application_id]
    assert queue[0]["reasons"] == [
        {"code": "score_in_review_band", "outcome": "review", "source": "policy"}
    ]
    approved = httpx.post(
        f"{live_server}/api/applications/{application_id}/approve",
        headers=officer,
        json={"reasons": ["income_verified"], "note": "called 13812345678", "amount": "15000.00"},
    )

    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved"
    assert body["offer"]["amount"] == "15000.00"
    assert body["offer"]["upfront_fee"] == "150.00"
    last = body["history"][-1]
    assert (last["from_status"], last["to_status"], last["actor"]) == (
        "review",
        "approved",
        "staff:wang",
    )
    assert last["reasons"] == ["income_verified"]
    assert "13812345678" not in last["note"]
    [audited] = audit_rows(runtime, "application.approved")
    assert audited.actor == "staff:wang"
    assert audited.details["reasons"] == ["income_verified"]
    assert topics(runtime)[-1] == "application.approved"
    assert (
        httpx.get(f"{live_server}/api/applications/reviews", headers=officer).json()["items"] == []
    )
    mine = httpx.get(
        f"{live_server}/api/borrowers/me/applications/{application_id}", headers=headers
    ).json()
    assert mine["status"] == "approved"
    assert "decisions" not in mine  # the decision record is for staff


def test_staff_reject_with_reason_codes_and_a_decided_application_stays_decided(
    runtime, live_server, bureau
):
    _, headers = add_borrower(runtime, live_server)
    application_id = review(live_server, runtime, bureau, headers)
    officer = staff_headers(runtime, "risk_officer")
    url = f"{live_server}/api/applications/{application_id}"
    before = state(runtime)

    assert_problem(httpx.post(f"{url}/reject", headers=officer, json={}), 422, "reasons_required")
    assert_problem(
        httpx.post(f"{url}/reject", headers=officer, json={"reasons": ["Bad Code"]}),
        422,
        "reasons_invalid",
    )
    assert_problem(
        httpx.post(f"{url}/approve", headers=officer, json={"amount": "25000.00"}),
        422,
        "amount_above_requested",
    )
    assert state(runtime) == before

    rejected = httpx.post(
        f"{url}/reject", headers=officer, json={"reasons": ["income_unverifiable"]}
    )

    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    [audited] = audit_rows(runtime, "application.rejected")
    assert audited.details["reasons"] == ["income_unverifiable"]
    decided = state(runtime)
    assert_problem(httpx.post(f"{url}/approve", headers=officer), 409, "application_not_in_review")
    assert_problem(
        httpx.post(f"{url}/reject", headers=officer, json={"reasons": ["x"]}),
        409,
        "application_not_in_review",
    )
    assert state(runtime) == decided


def test_only_reviewers_work_the_queue_and_borrowers_see_only_their_own(
    runtime, live_server, bureau
):
    _, headers = add_borrower(runtime, live_server)
    _, other = add_borrower(runtime, live_server, phone="13900000002")
    application_id = review(live_server, runtime, bureau, headers)

    support = staff_headers(runtime, "support")
    assert_problem(
        httpx.get(f"{live_server}/api/applications/reviews", headers=support), 403, "forbidden"
    )
    assert_problem(
        httpx.get(f"{live_server}/api/applications/{application_id}", headers=headers),
        403,
        "forbidden",
    )
    assert_problem(
        httpx.get(f"{live_server}/api/borrowers/me/applications/{application_id}", headers=other),
        404,
        "not_found",
    )
    assert_problem(
        httpx.post(
            f"{live_server}/api/borrowers/me/applications/{application_id}/accept", headers=other
        ),
        404,
        "not_found",
    )


# -- offers: accept, expire -------------------------------------------------------------


def test_the_borrower_accepts_an_open_offer_once(runtime, live_server, bureau):
    _, headers = add_borrower(runtime, live_server)
    application_id = apply(live_server, headers).json()["id"]
    url = f"{live_server}/api/borrowers/me/applications/{application_id}/accept"

    accepted = httpx.post(url, headers=headers)

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["offer"]["accepted_at"] is not None
    after = state(runtime)
    again = httpx.post(url, headers=headers)
    assert again.status_code == 200
    assert again.json() == accepted.json()
    assert state(runtime) == after
    assert topics(runtime)[-1] == "application.accepted"


def test_an_expired_offer_cannot_be_accepted_and_the_job_marks_it(runtime, live_server, bureau):
    _, headers = add_borrower(runtime, live_server)
    application_id = apply(live_server, headers).json()["id"]
    with runtime.sessions.begin() as session:
        session.execute(
            update(Application)
            .where(Application.id == application_id)
            .values(offer_expires_at=utcnow() - timedelta(minutes=1))
        )
    before = state(runtime)

    assert_problem(
        httpx.post(
            f"{live_server}/api/borrowers/me/applications/{application_id}/accept",
            headers=headers,
        ),
        409,
        "offer_expired",
    )

    assert state(runtime) == before
    mine = httpx.get(
        f"{live_server}/api/borrowers/me/applications/{application_id}", headers=headers
    ).json()
    assert (mine["status"], mine["offer"]["expired"]) == ("expired", True)

    [job] = [j for j in jobs(runtime.pm) if j.name == "application-offers"]
    assert job.run(runtime, utcnow()) == 1
    assert job.run(runtime, utcnow()) == 0
    assert topics(runtime)[-1] == "application.expired"
    with runtime.sessions.begin() as session:
        assert session.get(Application, application_id).status == "expired"
    assert_problem(
        httpx.post(
            f"{live_server}/api/borrowers/me/applications/{application_id}/accept",
            headers=headers,
        ),
        409,
        "offer_expired",
    )


def test_offers_expire_after_seven_days_exactly(runtime, bureau):
    with runtime.sessions.begin() as session:
        person = Borrower(phone="13900000003", kyc_status="verified")
        session.add(person)
        session.flush()
        borrower_id = person.id
        text = consents.TEXTS["credit_query"]["2026-01"]
        consents.grant(session, borrower_id, "credit_query", "2026-01", text.digest, "app", "t")
    start = utcnow()
    with runtime.sessions.begin() as session:
        submission = application_input.parse_submission({**CONSUMER, "idempotency_key": "k"})
        result = applications.submit(
            session, runtime.pm, runtime.settings, borrower_id, submission, actor="t", now=start
        )
        application_id = result.application.id
    late = start + timedelta(days=7)
    with runtime.sessions.begin() as session:
        with pytest.raises(ConflictError) as expired:
            applications.accept(session, borrower_id, application_id, actor="t", now=late)
        assert expired.value.code == "offer_expired"
    with runtime.sessions.begin() as session:
        app = applications.accept(
            session, borrower_id, application_id, actor="t", now=late - timedelta(seconds=1)
        )
        assert app.status == "accepted"


def test_the_history_is_append_only(runtime, live_server, bureau):
    _, headers = add_borrower(runtime, live_server)
    apply(live_server, headers)

    with pytest.raises(DatabaseError), runtime.sessions.begin() as session:
        session.execute(update(ApplicationEvent).values(actor="someone else"))
    with pytest.raises(DatabaseError), runtime.sessions.begin() as session:
        session.execute(ApplicationEvent.__table__.delete())
