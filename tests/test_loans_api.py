"""Loans over HTTP against the real loopback sandbox gateway, on both backends:
staff disburse, the gateway calls back, the outbox activates the loan; the
borrower repays and prepays from his card; bad requests get bilingual 4xx
and change nothing; the books balance after every step."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest
from lendkit import outbox
from lendkit.auth.testing import borrower_headers, staff_headers
from lendkit.clearing import ledger, payments
from lendkit.clearing.ledger import Line
from lendkit.lifecycle import booking, repayment
from lendkit.lifecycle.loan_models import Instalment, Loan, LoanEvent
from lendkit.testing.factories import disbursed_loan
from lendkit_channel_sandbox.testing import sandbox_tenant_on, wait_for
from lendkit_demo.people import demo_people
from sqlalchemy import select

D = Decimal


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lending_tenant(request, tmp_path_factory):
    """Payments through the sandbox gateway, agreements signed by the sandbox vendor."""
    with sandbox_tenant_on(
        request.param,
        tmp_path_factory.mktemp("lending"),
        plugins=("channel-sandbox", "esign-sandbox"),
    ) as tenant:
        yield tenant


@pytest.fixture
def tenant(lending_tenant):
    sandbox_tenant = lending_tenant
    with sandbox_tenant.runtime.sessions.begin() as session:
        ledger.post(
            session,
            business_date=payments.business_today(),
            idempotency_key=f"capital:{uuid.uuid4()}",
            cause="funding:own",
            lines=[
                Line.debit("fund_pool:own", D("1000000")),
                Line.credit("funding_capital:own", D("1000000")),
            ],
        )
    return sandbox_tenant


PEOPLE = iter(demo_people(40, seed=20261125))


def _booked(runtime) -> tuple[int, int]:
    someone = next(PEOPLE)
    with runtime.sessions.begin() as session:
        person = someone.verified_borrower()
        session.add(person)
        session.flush()
        loan = booking.book(
            session,
            runtime,
            booking.Terms(
                borrower_id=person.id,
                product_code="cash",
                principal=D("12000.00"),
                term=12,
                method="equal-installment",
                annual_rate=D("0.12"),
            ),
            idempotency_key=f"book:{uuid.uuid4()}",
            business_date=payments.business_today(),
        )
        return person.id, loan.id


def _settle(runtime) -> None:
    """The worker's jobs: send orders, wait for the callbacks, deliver events."""
    payments.instruct_due(runtime)
    with runtime.read_sessions() as session:
        pending = session.scalars(
            select(payments.PaymentOrder.order_no).where(
                payments.PaymentOrder.status.not_in(list(payments.FINAL))
            )
        ).all()
    for number in pending:
        wait_for(lambda n=number: _status(runtime, n) in payments.FINAL)
    outbox.drain(runtime.sessions, runtime.pm, runtime.settings.outbox)


def _status(runtime, number):
    with runtime.read_sessions() as session:
        return payments.order_by_no(session, number).status


def _loan(runtime, loan_id) -> Loan:
    with runtime.read_sessions() as session:
        return session.get_one(Loan, loan_id)


def _balanced(runtime) -> bool:
    with runtime.read_sessions() as session:
        return ledger.trial_balance(session).balanced


def test_disburse_repay_and_prepay_over_http(tenant):
    runtime, base = tenant.runtime, tenant.app_url
    person, loan_id = _booked(runtime)
    finance, me = staff_headers(runtime, "finance"), borrower_headers(runtime, person)
    with httpx.Client(base_url=base) as http:
        # A support agent may read but not pay out.
        refused = http.post(
            f"/api/loans/{loan_id}/disburse",
            json={"idempotency_key": "payout-0001"},
            headers=staff_headers(runtime, "support"),
        )
        assert refused.status_code == 403
        unsigned = http.post(
            f"/api/loans/{loan_id}/disburse",
            json={"idempotency_key": "payout-0001"},
            headers=finance,
        )
        assert (unsigned.status_code, unsigned.json()["code"]) == (409, "contract_not_signed")
        assert "尚未签署" in unsigned.json()["detail"]
        assert "not signed" in unsigned.json()["detail"]
        assert _loan(runtime, loan_id).status == "booked"
        signing = http.post(f"/api/borrowers/me/loans/{loan_id}/contract/sign", headers=me)
        assert signing.status_code in (200, 202), signing.text
        wait_for(
            lambda: (
                http.get(f"/api/borrowers/me/loans/{loan_id}/contract", headers=me).json()["status"]
                == "signed"
            )
        )
        sent = http.post(
            f"/api/loans/{loan_id}/disburse",
            json={"idempotency_key": "payout-0001"},
            headers=finance,
        )
        assert sent.status_code == 201, sent.text
        assert sent.json()["status"] == "reserved"
        assert _loan(runtime, loan_id).status == "disbursing"
        _settle(runtime)
        assert _loan(runtime, loan_id).status == "active"
        assert _balanced(runtime)

        mine = http.get(f"/api/borrowers/me/loans/{loan_id}", headers=me).json()
        first = mine["schedule"][0]
        assert (len(mine["schedule"]), first["principal"], first["interest"]) == (
            12,
            "946.19",
            "120.00",
        )
        assert mine["outstanding"]["loan_principal"] == "12000.00"
        other = borrower_headers(runtime, _booked(runtime)[0])
        assert http.get(f"/api/borrowers/me/loans/{loan_id}", headers=other).status_code == 404

        for body, code in (
            ({"amount": 1066.19, "idempotency_key": "pay-0000001"}, "amount_invalid"),
            ({"amount": "10.001", "idempotency_key": "pay-0000001"}, "amount_invalid"),
            ({"amount": "99999.00", "idempotency_key": "pay-0000001"}, "amount_above_outstanding"),
        ):
            bad = http.post(f"/api/borrowers/me/loans/{loan_id}/repayments", json=body, headers=me)
            assert bad.status_code == 422, bad.text
            problem = bad.json()
            assert problem["code"] == code
            assert " / " in problem["detail"]  # Chinese, then English
        for keyless in ({"amount": "100.00"}, {"amount": "100.00", "idempotency_key": "a b"}):
            bad = http.post(
                f"/api/borrowers/me/loans/{loan_id}/repayments", json=keyless, headers=me
            )
            assert (bad.status_code, bad.json()["code"]) == (400, "idempotency_key_invalid")
        paying = {"amount": "1066.19", "idempotency_key": "pay-0000001"}
        order = http.post(f"/api/borrowers/me/loans/{loan_id}/repayments", json=paying, headers=me)
        again = http.post(f"/api/borrowers/me/loans/{loan_id}/repayments", json=paying, headers=me)
        assert (order.status_code, again.status_code) == (201, 200)
        assert order.json()["order_no"] == again.json()["order_no"]
        _settle(runtime)
        mine = http.get(f"/api/borrowers/me/loans/{loan_id}", headers=me).json()
        assert mine["schedule"][0]["status"] == "paid"
        assert mine["outstanding"]["loan_principal"] == "11053.81"
        assert _balanced(runtime)

        payoff = http.get(f"/api/borrowers/me/loans/{loan_id}/payoff", headers=me).json()
        assert payoff["principal"] == "11053.81"
        settle = http.post(
            f"/api/borrowers/me/loans/{loan_id}/repayments",
            json={"prepay": True, "idempotency_key": "settle-00001"},
            headers=me,
        )
        assert settle.status_code == 201, settle.text
        assert settle.json()["amount"] == payoff["total"]
        _settle(runtime)
        assert _loan(runtime, loan_id).status == "settled"
        record = http.get(f"/api/loans/{loan_id}", headers=finance).json()
        assert [e["kind"] for e in record["history"]][-3:] == [
            "repaid",
            "prepayment_requested",
            "prepaid",
        ]
        done = http.post(
            f"/api/borrowers/me/loans/{loan_id}/repayments",
            json={"amount": "1.00", "idempotency_key": "late-000001"},
            headers=me,
        )
        assert (done.status_code, done.json()["code"]) == (409, "loan_not_repayable")
    assert _balanced(runtime)


def test_a_part_prepayment_is_applied_by_its_orders_purpose(tenant):
    """The one path: the order carries its purpose and option; when the money
    arrives the loan is reamortized from the order alone."""
    runtime = tenant.runtime
    key = f"part-{uuid.uuid4()}"
    with runtime.sessions.begin() as session:
        person = next(PEOPLE).verified_borrower()
        session.add(person)
        session.flush()
        loan_id = disbursed_loan(
            session,
            runtime,
            booking.Terms(
                borrower_id=person.id,
                product_code="cash",
                principal=D("12000.00"),
                term=12,
                method="equal-installment",
                annual_rate=D("0.12"),
            ),
            channel="sandbox",
            key=f"book:{uuid.uuid4()}",
            day=payments.business_today(),
        ).id
    for attempt in (True, False):  # a retry returns the first order
        with runtime.sessions.begin() as session:
            order, created = repayment.repay(
                session,
                runtime,
                loan_id,
                channel="sandbox",
                idempotency_key=key,
                amount=D("4066.19"),  # this instalment (1,066.19) and 3,000.00 of principal
                purpose="part_prepayment",
                reamortize="reduce",
            )
            assert created is attempt
            assert (order.purpose, order.reamortize) == ("part_prepayment", "reduce")
    _settle(runtime)
    with runtime.read_sessions() as session:
        kinds = session.scalars(
            select(LoanEvent.kind).where(LoanEvent.loan_id == loan_id).order_by(LoanEvent.id)
        ).all()
        assert list(kinds[-3:]) == ["prepayment_requested", "repaid", "reamortized"]
        rows = session.scalars(
            select(Instalment).where(Instalment.loan_id == loan_id).order_by(Instalment.period)
        ).all()
        assert (rows[0].status, len(rows)) == ("paid", 12)
        assert rows[1].paid_principal == D("3000.00")
    assert _balanced(runtime)
