"""Loan steps on real databases: full prepayment, write-off with four eyes, and
recoveries after it; the books stay balanced and each funder bears its part."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from lendkit.clearing import funding, ledger, postings
from lendkit.clearing.colending import Funder
from lendkit.errors import ConflictError, ValidationFailed
from lendkit.lifecycle import booking, eod, loans, prepayment, write_off
from lendkit.lifecycle.loan_models import Instalment, Loan
from lendkit.testing.factories import add_capital, borrower, disbursed_loan
from sqlalchemy import select

D = Decimal
START = date(2026, 1, 15)


def _loan(runtime, *, funders=None, key="L1"):
    with runtime.sessions.begin() as session:
        add_capital(session, "own", D("1000000"), START, f"cap-{key}")
        if funders:
            funding.add_source(session, code="bank", name="合作银行", actor="test")
            add_capital(session, "bank", D("1000000"), START, f"cap-bank-{key}")
        return disbursed_loan(
            session,
            runtime,
            booking.Terms(
                borrower_id=borrower(session, 7),
                product_code="cash",
                principal=D("12000.00"),
                term=12,
                method="equal-installment",
                annual_rate=D("0.12"),
            ),
            channel="sandbox",
            key=key,
            day=START,
            funders=funders,
        ).id


def _days(runtime, last):
    day = START + timedelta(days=1)
    while day <= last:
        eod.run(runtime, day)
        day += timedelta(days=1)


def _collected(session, loan_id, amount, key, day):
    """The money as a confirmed collection leaves it: in the borrower's suspense."""
    ledger.post(
        session,
        business_date=day,
        idempotency_key=key,
        cause="test",
        lines=[
            ledger.Line.debit("channel_in_transit:sandbox", amount, loan_id=loan_id),
            ledger.Line.credit("borrower_suspense", amount, loan_id=loan_id),
        ],
    )


def _balanced(runtime):
    with runtime.read_sessions() as session:
        return ledger.trial_balance(session).balanced


def test_full_prepayment_pays_interest_to_date_only_and_settles(runtime):
    loan_id = _loan(runtime)
    _days(runtime, date(2026, 1, 25))  # ten days of period 1 accrued
    with runtime.sessions.begin() as session:
        due = prepayment.payoff(session, loan_id, fee_rate=D("0.01"))
    # 120.00 × 10/31 = 38.71 of interest; 1 % fee on 12,000.
    assert (due.principal, due.interest, due.fees, due.penalty) == (
        D("12000.00"),
        D("38.71"),
        D("120.00"),
        D("0.00"),
    )
    with runtime.sessions.begin() as session:
        _collected(session, loan_id, D("12200.00"), "pay-1", date(2026, 1, 26))
        with pytest.raises(ValidationFailed) as short:
            prepayment.prepay(
                session,
                loan_id,
                D("100.00"),
                channel="sandbox",
                idempotency_key="short",
                business_date=date(2026, 1, 26),
                fee_rate=D("0.01"),
            )
        assert short.value.code == "prepayment_short"
        result = prepayment.prepay(
            session,
            loan_id,
            D("12200.00"),
            channel="sandbox",
            idempotency_key="pay-1",
            business_date=date(2026, 1, 26),
            fee_rate=D("0.01"),
        )
    assert result.settled
    assert result.credit == D("41.29")  # over-payment stays the borrower's
    with runtime.read_sessions() as session:
        loan = session.get(Loan, loan_id)
        statuses = set(
            session.scalars(select(Instalment.status).where(Instalment.loan_id == loan_id))
        )
        owed = loans.outstanding(session, loan_id)
        suspense = ledger.balance(session, "borrower_suspense")
    assert loan.status == "settled"
    assert statuses == {"prepaid"}
    assert set(owed.values()) == {D("0.00")}
    assert suspense == -D("41.29")
    assert _balanced(runtime)
    # A settled loan is no longer in end of day.
    assert eod.run(runtime, date(2026, 1, 26)).counts.get("loans", 0) == 0


def test_write_off_needs_a_second_person_and_splits_the_loss(runtime):
    loan_id = _loan(runtime, funders=[Funder("own", D("0.3")), Funder("bank", D("0.7"))])
    _days(runtime, date(2026, 2, 20))
    day = date(2026, 2, 21)
    with runtime.sessions.begin() as session:
        with pytest.raises(ConflictError) as nothing:
            write_off.approve_write_off(session, loan_id, approved_by="risk", business_date=day)
        assert nothing.value.code == "no_write_off_request"
        write_off.request_write_off(
            session, loan_id, requested_by="collector", reason="uncontactable", business_date=day
        )
    with runtime.sessions.begin() as session:
        with pytest.raises(ConflictError) as same:
            write_off.approve_write_off(
                session, loan_id, approved_by="collector", business_date=day
            )
        assert same.value.code == "four_eyes_required"
    with runtime.sessions.begin() as session:
        owed = postings.owed_by_source(session, loan_id)["loan_principal"]
        write_off.approve_write_off(session, loan_id, approved_by="risk", business_date=day)
    with runtime.read_sessions() as session:
        assert session.get(Loan, loan_id).status == "written_off"
        assert set(loans.outstanding(session, loan_id).values()) == {D("0.00")}
        assert ledger.balance(session, "write_off") > owed["own"]  # principal + own income
        assert ledger.balance(session, "funding_capital:bank") == -D("1000000") + owed["bank"]
    assert _balanced(runtime)

    with runtime.sessions.begin() as session:
        _collected(session, loan_id, D("1000.00"), "late-1", day)
        write_off.recover(
            session,
            loan_id,
            D("1000.00"),
            channel="sandbox",
            idempotency_key="late-1",
            business_date=day,
        )
    with runtime.read_sessions() as session:
        assert ledger.balance(session, "recoveries") == -D("300.00")
        assert ledger.balance(session, "funding_capital:bank") == -D("1000000") + owed["bank"] - D(
            "700.00"
        )
    assert _balanced(runtime)


def test_the_cap_can_follow_four_times_the_lpr(make_tenant):
    from lendkit.lifecycle.pricing import annualized_rate, check_rate_cap
    from lendkit.lifecycle.schedules import build_schedule
    from lendkit.runtime import open_runtime

    make_tenant(caps={"basis": "lpr", "lpr": {"2026-01-20": "0.030", "2026-06-22": "0.0285"}})
    settings = open_runtime().settings
    offer = annualized_rate(
        build_schedule(D("10000"), 12, D("0.11"), "equal-installment", start=START)
    )
    assert offer.apr_irr == D("0.1157")
    check_rate_cap(offer, settings, on=date(2026, 3, 1))  # under 4 × 3.00 % = 12.00 %
    with pytest.raises(ValidationFailed) as above:
        check_rate_cap(offer, settings, on=date(2026, 7, 1))  # 4 × 2.85 % = 11.40 %
    assert above.value.code == "rate_above_cap"
    with pytest.raises(ValidationFailed) as unknown:
        check_rate_cap(offer, settings, on=date(2025, 12, 31))
    assert unknown.value.code == "rate_cap_unknown"


def test_disbursement_keeps_the_borrower_within_the_cap(make_tenant):
    from lendkit.clearing.payments import Payee
    from lendkit.runtime import open_runtime

    make_tenant(caps={"per_borrower": "20000.00"})
    runtime = open_runtime()
    runtime.upgrade()
    try:
        with runtime.sessions.begin() as session:
            add_capital(session, "own", D("1000000"), START, "cap")
            person = borrower(session, 9)
            terms = booking.Terms(
                borrower_id=person,
                product_code="cash",
                principal=D("12000.00"),
                term=12,
                method="equal-installment",
                annual_rate=D("0.12"),
            )
            disbursed_loan(session, runtime, terms, channel="sandbox", key="first", day=START)
            second = booking.book(
                session, runtime, terms, idempotency_key="second", business_date=START
            )
            with pytest.raises(ConflictError) as capped:
                booking.disburse(
                    session,
                    runtime,
                    second.id,
                    channel="sandbox",
                    payee=Payee("王小明", "6222020200112233445"),
                    idempotency_key="payout-2",
                )
            assert capped.value.code == "borrower_cap_exceeded"
    finally:
        runtime.close()


def test_a_loan_of_a_holiday_shifting_product_falls_due_on_working_days(runtime):
    with runtime.sessions.begin() as session:
        add_capital(session, "own", D("100000"), START, "cap-h")
        loan = disbursed_loan(
            session,
            runtime,
            booking.Terms(
                borrower_id=borrower(session, 3),
                product_code="cash",
                principal=D("3000.00"),
                term=3,
                method="equal-principal",
                annual_rate=D("0.12"),
                shift_holidays=True,
            ),
            channel="sandbox",
            key="holiday",
            day=date(2026, 9, 1),
        )
        dues = session.scalars(
            select(Instalment.due_date)
            .where(Instalment.loan_id == loan.id)
            .order_by(Instalment.period)
        ).all()
    assert dues == [date(2026, 10, 8), date(2026, 11, 2), date(2026, 12, 1)]


def test_an_allocation_order_must_name_every_step_once(runtime):
    with runtime.sessions.begin() as session, pytest.raises(ValidationFailed) as refused:
        booking.book(
            session,
            runtime,
            booking.Terms(
                borrower_id=borrower(session, 4),
                product_code="cash",
                principal=D("3000.00"),
                term=3,
                method="equal-principal",
                annual_rate=D("0.12"),
                allocation_order=("penalty", "penalty", "current_interest"),
            ),
            idempotency_key="bad-order",
            business_date=START,
        )
    assert refused.value.code == "allocation_order_invalid"
