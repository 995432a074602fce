"""The whole loan loop through the HTTP API, on SQLite and on PostgreSQL:
registration → real-name verification → consent → application and credit
decision → offer accepted → agreement signed → disbursement → repayment →
overdue → cure → prepayment and settlement, with every vendor a loopback
sandbox (identity, bureau, e-sign, payment gateway) and the trial balance at
zero after every step. Bad input on the way gets a bilingual 4xx and leaves
everything as it was.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
from lendkit import outbox
from lendkit.auth.cookies import SESSION_COOKIE
from lendkit.auth.testing import session_headers, staff_headers
from lendkit.clearing import ledger, payments
from lendkit.clearing.ledger import Line
from lendkit.lifecycle import eod
from lendkit.lifecycle.loan_models import Loan
from lendkit.testing import SAMPLE_PRODUCTS
from lendkit_channel_sandbox.testing import sandbox_tenant_on, wait_for
from lendkit_demo.people import demo_people
from lendkit_sms_sandbox import latest_code
from sqlalchemy import func, select

FAST_ARGON2 = {"password_time_cost": 1, "password_memory_kib": 8, "password_parallelism": 1}
PLUGINS = ("identity-sandbox", "bureau-sandbox", "channel-sandbox", "esign-sandbox", "sms-sandbox")


@pytest.fixture(params=["sqlite", "postgresql"])
def tenant(request, tmp_path):
    with sandbox_tenant_on(
        request.param,
        tmp_path / "tenant",
        plugins=PLUGINS,
        auth={**FAST_ARGON2, "otp_resend_seconds": 0},
        products=[dict(p) for p in SAMPLE_PRODUCTS],
    ) as opened:
        yield opened


class Loop:
    """The borrower's and staff's HTTP calls, checking the books after each."""

    def __init__(self, tenant) -> None:
        self.runtime = tenant.runtime
        self.http = httpx.Client(base_url=tenant.app_url, timeout=30)
        self.me: dict[str, str] = {}

    def call(self, method: str, path: str, status: int, **kwargs):
        response = self.http.request(method, path, headers=kwargs.pop("headers", self.me), **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        assert self.balanced()
        return response.json()

    def refused(self, method: str, path: str, status: int, code: str, **kwargs) -> None:
        """A bad request: the right problem, both languages, nothing changed."""
        before = self.state()
        problem = self.call(method, path, status, **kwargs)
        assert problem["code"] == code, problem
        assert re.search(r"[\u4e00-\u9fff]", problem["detail"]), "Chinese"
        assert re.search(r"[A-Za-z]{4,}", problem["detail"]), "English"
        assert self.state() == before

    def balanced(self) -> bool:
        with self.runtime.read_sessions() as session:
            return ledger.trial_balance(session).balanced

    def state(self) -> tuple[int, ...]:
        with self.runtime.read_sessions() as session:
            return tuple(
                session.scalar(select(func.count()).select_from(table))
                for table in (ledger.JournalLine, Loan, payments.PaymentOrder)
            )

    def settle(self) -> None:
        """The worker: send orders, wait for the gateway's callbacks, deliver events."""
        payments.instruct_due(self.runtime)
        with self.runtime.read_sessions() as session:
            waiting = session.scalars(
                select(payments.PaymentOrder.order_no).where(
                    payments.PaymentOrder.status.not_in(list(payments.FINAL))
                )
            ).all()
        for number in waiting:
            wait_for(lambda n=number: self.order_status(n) in payments.FINAL)
        outbox.drain(self.runtime.sessions, self.runtime.pm, self.runtime.settings.outbox)
        assert self.balanced()

    def order_status(self, number: str) -> str:
        with self.runtime.read_sessions() as session:
            return payments.order_by_no(session, number).status

    def sms_code(self, phone: str) -> str:
        with self.runtime.read_sessions() as session:
            return latest_code(session, phone)


def test_the_whole_loop_over_http(tenant):
    loop = Loop(tenant)
    person = demo_people(1, seed=99)[0]
    with loop.runtime.sessions.begin() as session:  # the lender's own funds
        ledger.post(
            session,
            business_date=payments.business_today(),
            idempotency_key="capital",
            cause="funding:own",
            lines=[
                Line.debit("fund_pool:own", Decimal("1000000")),
                Line.credit("funding_capital:own", Decimal("1000000")),
            ],
        )

    # Registration by SMS code.
    loop.call(
        "POST", "/api/auth/borrower/otp", 202, json={"phone": person.phone, "purpose": "register"}
    )
    created = loop.http.post(
        "/api/auth/borrower/register",
        json={
            "phone": person.phone,
            "code": loop.sms_code(person.phone),
            "password": "borrow2026x",
        },
    )
    assert created.status_code == 201, created.text
    loop.me = session_headers(created.cookies[SESSION_COOKIE])

    # Consents, as shown.
    for purpose in ("privacy_policy", "credit_query"):
        texts = {t["purpose"]: t for t in loop.call("GET", "/api/consents/texts", 200)["items"]}
        shown = texts[purpose]
        loop.call(
            "POST",
            "/api/borrowers/me/consents",
            201,
            json={"purpose": purpose, "version": shown["version"], "digest": shown["digest"]},
        )

    # Real name: a wrong check digit is refused; the right details verify.
    wrong = person.id_number[:-1] + ("0" if person.id_number[-1] != "0" else "1")
    real_name = {"name": person.name, "bank_card": person.bank_card, "phone": person.phone}
    loop.refused(
        "POST",
        "/api/borrowers/me/real-name",
        422,
        "id_number_invalid",
        json={**real_name, "id_number": wrong},
    )
    verified = loop.call(
        "POST",
        "/api/borrowers/me/real-name",
        200,
        json={**real_name, "id_number": person.id_number},
    )
    assert verified["status"] == "verified"

    # Apply; the sandbox bureau and the policy decide; staff approve if asked to.
    application = {
        "product_code": "consumer-12",
        "amount": "12000.00",
        "term": 12,
        "method": "equal-installment",
        "annual_income": "300000.00",
        "idempotency_key": "apply-000001",
    }
    loop.refused(
        "POST",
        "/api/borrowers/me/applications",
        422,
        "amount_out_of_range",
        json={**application, "amount": "500.00", "idempotency_key": "apply-000000"},
    )
    app = loop.call("POST", "/api/borrowers/me/applications", 201, json=application)
    again = loop.call("POST", "/api/borrowers/me/applications", 200, json=application)
    assert again["id"] == app["id"]  # a double submit is the same application
    if app["status"] == "review":
        app = loop.call(
            "POST",
            f"/api/applications/{app['id']}/approve",
            200,
            headers=staff_headers(loop.runtime, "risk_officer"),
            json={"reasons": ["manual_ok"], "note": "checked"},
        )
    assert app["status"] == "approved", app
    accepted = loop.call("POST", f"/api/borrowers/me/applications/{app['id']}/accept", 200)
    loan_id = accepted["loan_id"]
    assert loan_id

    # Disbursing before the agreement is signed is refused; then sign, then pay out.
    finance = staff_headers(loop.runtime, "finance")
    payout = {"idempotency_key": "payout-000001"}
    loop.refused(
        "POST",
        f"/api/loans/{loan_id}/disburse",
        409,
        "contract_not_signed",
        headers=finance,
        json=payout,
    )
    loop.http.post(f"/api/borrowers/me/loans/{loan_id}/contract/sign", headers=loop.me)
    wait_for(
        lambda: (
            loop.call("GET", f"/api/borrowers/me/loans/{loan_id}/contract", 200)["status"]
            == "signed"
        )
    )
    loop.call("POST", f"/api/loans/{loan_id}/disburse", 201, headers=finance, json=payout)
    loop.settle()
    loan = loop.call("GET", f"/api/borrowers/me/loans/{loan_id}", 200)
    assert loan["status"] == "active"
    first = loan["schedule"][0]

    # The first instalment, paid on time from the borrower's card.
    instalment = Decimal(first["principal"]) + Decimal(first["interest"]) + Decimal(first["fee"])
    loop.call(
        "POST",
        f"/api/borrowers/me/loans/{loan_id}/repayments",
        201,
        json={"amount": str(instalment), "idempotency_key": "pay-00000001"},
    )
    loop.settle()
    loan = loop.call("GET", f"/api/borrowers/me/loans/{loan_id}", 200)
    assert loan["schedule"][0]["status"] == "paid"

    # The second goes unpaid: end of day, day after day, past its due date.
    day = date.fromisoformat(loan["disbursed_on"])
    second_due = date.fromisoformat(loan["schedule"][1]["due_date"])
    while day < second_due + timedelta(days=5):
        day += timedelta(days=1)
        eod.run(loop.runtime, day)
        assert loop.balanced()
    loan = loop.call("GET", f"/api/borrowers/me/loans/{loan_id}", 200)
    assert (loan["status"], loan["dpd"], loan["bucket"]) == ("overdue", 5, "M1")
    assert Decimal(loan["outstanding"]["loan_penalty"]) > 0

    # Paying what is owed cures it; settling it early ends it.
    owed = loop.call("GET", f"/api/borrowers/me/loans/{loan_id}/payoff", 200)
    second = loan["schedule"][1]
    overdue_amount = (
        Decimal(owed["penalty"])
        + Decimal(second["principal"])
        + Decimal(second["interest"])
        + Decimal(second["fee"])
    )
    loop.call(
        "POST",
        f"/api/borrowers/me/loans/{loan_id}/repayments",
        201,
        json={"amount": str(overdue_amount), "idempotency_key": "pay-00000002"},
    )
    loop.settle()
    assert loop.call("GET", f"/api/borrowers/me/loans/{loan_id}", 200)["status"] == "active"
    loop.call(
        "POST",
        f"/api/borrowers/me/loans/{loan_id}/repayments",
        201,
        json={"prepay": True, "idempotency_key": f"settle-{uuid.uuid4().hex[:8]}"},
    )
    loop.settle()
    loan = loop.call("GET", f"/api/borrowers/me/loans/{loan_id}", 200)
    assert loan["status"] == "settled"
    assert set(loan["outstanding"].values()) == {"0.00"}
