"""End of day on real databases: accrual, due, overdue, penalty, buckets, events,
idempotency, order of days, co-lending, and repayment curing an overdue loan."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from lendkit.clearing import funding, ledger
from lendkit.clearing.colending import Funder
from lendkit.errors import ConflictError
from lendkit.lifecycle import accrual, allocation, booking, eod, loans
from lendkit.lifecycle.loan_models import Instalment, Loan, LoanEvent
from lendkit.lifecycle.schedules import build_schedule
from lendkit.models import OutboxEvent
from lendkit.testing.factories import add_capital, borrower, disbursed_loan
from sqlalchemy import func, select

D = Decimal
START = date(2026, 1, 15)


def terms(person: int, **changes):
    values = dict(
        borrower_id=person,
        product_code="cash",
        principal=D("12000.00"),
        term=12,
        method="equal-installment",
        annual_rate=D("0.12"),
    )
    return booking.Terms(**(values | changes))


@pytest.fixture
def loan_id(runtime):
    with runtime.sessions.begin() as session:
        add_capital(session, "own", D("1000000"), START, "capital-1")
        loan = disbursed_loan(
            session, runtime, terms(borrower(session, 1)), channel="sandbox", key="L1", day=START
        )
        return loan.id


def run_days(runtime, first: date, last: date) -> list[eod.Summary]:
    summaries = []
    day = first
    while day <= last:
        summaries.append(eod.run(runtime, day))
        day += timedelta(days=1)
    return summaries


def rows(runtime, loan_id):
    with runtime.read_sessions() as session:
        return session.scalars(
            select(Instalment).where(Instalment.loan_id == loan_id).order_by(Instalment.period)
        ).all()


def owed(runtime, loan_id):
    with runtime.read_sessions() as session:
        return loans.outstanding(session, loan_id)


def balanced(runtime) -> bool:
    with runtime.read_sessions() as session:
        return ledger.trial_balance(session).balanced


def test_interest_accrues_daily_to_exactly_the_scheduled_interest(runtime, loan_id):
    schedule = build_schedule(D("12000"), 12, D("0.12"), "equal-installment", start=START)
    first = schedule.rows[0]
    run_days(runtime, START + timedelta(days=1), date(2026, 1, 16))
    assert owed(runtime, loan_id)["loan_interest"] == D("3.87")  # 120.00 × 1/31, half-up
    run_days(runtime, date(2026, 1, 17), first.due_date)
    assert owed(runtime, loan_id)["loan_interest"] == first.interest == D("120.00")
    one = rows(runtime, loan_id)[0]
    assert (one.status, one.interest_accrued) == ("due", D("120.00"))
    assert balanced(runtime)


def test_unpaid_instalment_goes_overdue_with_penalty_bucket_and_events(runtime, loan_id):
    run_days(runtime, START + timedelta(days=1), date(2026, 2, 16))
    with runtime.read_sessions() as session:
        loan = session.get(Loan, loan_id)
        assert (loan.status, loan.dpd, loan.bucket, loan.classification) == (
            "overdue",
            1,
            "M1",
            "special_mention",
        )
        topics = set(
            session.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic.like("loan.%"))).all()
        )
        kinds = session.scalars(
            select(LoanEvent.kind).where(LoanEvent.loan_id == loan_id).order_by(LoanEvent.id)
        ).all()
    assert {"loan.due_soon", "loan.overdue", "loan.bucket_changed", "loan.classified"} <= topics
    assert kinds[-3:] == ["overdue", "bucket_changed", "classified"]
    # Penalty: 946.19 overdue principal × 18 % (12 % × 1.5) ÷ 360 = 0.473… → 0.47.
    assert owed(runtime, loan_id)["loan_penalty"] == D("0.47")
    # Period 2 started accruing: 110.54 × 1/28 → 3.95.
    assert owed(runtime, loan_id)["loan_interest"] == D("123.95")
    assert balanced(runtime)


def test_dpd_walks_the_buckets_and_classification(runtime, loan_id):
    summaries = run_days(runtime, START + timedelta(days=1), date(2026, 5, 20))
    assert all(s.counts.get("loans") == 1 for s in summaries)
    with runtime.read_sessions() as session:
        loan = session.get(Loan, loan_id)
        buckets = session.scalars(
            select(LoanEvent.detail).where(
                LoanEvent.loan_id == loan_id, LoanEvent.kind == "bucket_changed"
            )
        ).all()
    assert loan.dpd == (date(2026, 5, 20) - date(2026, 2, 15)).days == 94
    assert (loan.bucket, loan.classification) == ("M3+", "substandard")
    assert [b["bucket"] for b in buckets] == ["M1", "M2", "M3", "M3+"]
    assert balanced(runtime)


def test_repayment_pays_penalty_first_and_cures(runtime, loan_id):
    run_days(runtime, START + timedelta(days=1), date(2026, 2, 16))
    with runtime.sessions.begin() as session:
        # The collected money first lands in suspense, as a confirmed collection posts it.
        ledger.post(
            session,
            business_date=date(2026, 2, 17),
            idempotency_key="collect-1",
            cause="test",
            lines=[
                ledger.Line.debit("channel_in_transit:sandbox", D("1066.66"), loan_id=loan_id),
                ledger.Line.credit("borrower_suspense", D("1066.66"), loan_id=loan_id),
            ],
        )
        paid = allocation.allocate(
            session,
            loan_id,
            D("1066.66"),
            channel="sandbox",
            idempotency_key="collect-1",
            business_date=date(2026, 2, 17),
        )
    assert paid.repayment.penalty == D("0.47")
    assert paid.repayment.interest == D("120.00")
    assert paid.repayment.principal == D("946.19")
    assert paid.credit == D("0.00")
    with runtime.read_sessions() as session:
        loan = session.get(Loan, loan_id)
        assert (loan.status, loan.dpd, loan.bucket) == ("active", 0, "M0")
    assert rows(runtime, loan_id)[0].status == "paid"
    # A retry of the same collection allocates nothing more.
    with runtime.sessions.begin() as session:
        again = allocation.allocate(
            session,
            loan_id,
            D("1066.66"),
            channel="sandbox",
            idempotency_key="collect-1",
            business_date=date(2026, 2, 17),
        )
    assert again.repayment == paid.repayment
    assert owed(runtime, loan_id)["loan_penalty"] == D("0.00")
    assert balanced(runtime)


def test_a_rerun_changes_nothing_and_days_run_in_order(runtime, loan_id):
    run_days(runtime, date(2026, 1, 16), date(2026, 1, 17))

    def journal_size():
        with runtime.read_sessions() as session:
            return session.scalar(select(func.count()).select_from(ledger.JournalLine))

    before = journal_size()
    again = eod.run(runtime, date(2026, 1, 17))
    assert again.already_done
    assert journal_size() == before
    with pytest.raises(ConflictError) as skipped:
        eod.run(runtime, date(2026, 1, 19))
    assert skipped.value.code == "eod_out_of_order"


def test_co_lent_loan_splits_every_accrual(runtime):
    with runtime.sessions.begin() as session:
        funding.add_source(session, code="bank", name="合作银行", actor="test")
        add_capital(session, "own", D("3000"), START, "c-own")
        add_capital(session, "bank", D("7000"), START, "c-bank")
        loan = disbursed_loan(
            session,
            runtime,
            terms(borrower(session, 2), principal=D("10000.00")),
            channel="sandbox",
            key="L2",
            day=START,
            funders=[Funder("own", D("0.3")), Funder("bank", D("0.7"))],
        )
    run_days(runtime, START + timedelta(days=1), date(2026, 2, 20))
    with runtime.read_sessions() as session:
        parts = dict(
            session.execute(
                select(ledger.JournalLine.source, func.sum(ledger.JournalLine.amount))
                .join(ledger.Account)
                .where(
                    ledger.JournalLine.loan_id == loan.id,
                    ledger.Account.code == "loan_interest",
                )
                .group_by(ledger.JournalLine.source)
            ).all()
        )
        total = loans.outstanding(session, loan.id)["loan_interest"]
        payable = ledger.balance(session, "partner_payable:bank")
    assert D(parts["own"]) + D(parts["bank"]) == total
    assert abs(D(parts["bank"]) - total * D("0.7")) <= D("0.01") * 40  # a fen a day at most
    assert payable == -D(parts["bank"]) - _bank_penalty(runtime, loan.id)
    assert balanced(runtime)


def _bank_penalty(runtime, loan_id):
    with runtime.read_sessions() as session:
        return D(
            session.scalar(
                select(func.coalesce(func.sum(ledger.JournalLine.amount), 0))
                .join(ledger.Account)
                .where(
                    ledger.JournalLine.loan_id == loan_id,
                    ledger.JournalLine.source == "bank",
                    ledger.Account.code == "loan_penalty",
                )
            )
        )


def test_parallel_workers_share_the_day(runtime, backend):
    if backend != "postgresql":
        pytest.skip("parallel workers are PostgreSQL's (SKIP LOCKED); SQLite runs one")
    with runtime.sessions.begin() as session:
        add_capital(session, "own", D("1000000"), START, "capital-1")
        for n in range(12):
            disbursed_loan(
                session,
                runtime,
                terms(borrower(session, n)),
                channel="sandbox",
                key=f"P{n}",
                day=START,
            )
    summary = eod.run(runtime, START + timedelta(days=1), workers=2, chunk_size=2)
    assert (summary.chunks, summary.counts["loans"], summary.counts["interest_accruals"]) == (
        6,
        12,
        12,
    )
    with runtime.read_sessions() as session:
        firsts = session.scalars(select(Instalment).where(Instalment.period == 1)).all()
        accrued = [
            accrual.recognised_interest(row, accrual.covered_through(session, row.loan_id))
            for row in firsts
        ]
        posted = [loans.outstanding(session, row.loan_id)["loan_interest"] for row in firsts]
    assert accrued == posted == [D("3.87")] * 12  # each loan once: 120.00 × 1/31


def test_classification_thresholds_are_the_tenants(make_tenant):
    from lendkit.runtime import open_runtime

    make_tenant(lifecycle={"substandard_from": 31, "doubtful_from": 61, "loss_from": 91})
    runtime = open_runtime()
    runtime.upgrade()
    try:
        with runtime.sessions.begin() as session:
            add_capital(session, "own", D("1000000"), START, "capital-1")
            loan = disbursed_loan(
                session, runtime, terms(borrower(session, 1)), channel="sandbox", key="T", day=START
            )
        run_days(runtime, START + timedelta(days=1), date(2026, 3, 20))  # 33 days past due
        with runtime.read_sessions() as session:
            found = session.get(Loan, loan.id)
            assert (found.dpd, found.bucket, found.classification) == (33, "M2", "substandard")
    finally:
        runtime.close()


def test_a_first_run_long_after_disbursement_catches_up(runtime, loan_id):
    # No end of day ran before 20 April: three instalments fell due meanwhile.
    eod.run(runtime, date(2026, 4, 20))
    schedule = build_schedule(D("12000"), 12, D("0.12"), "equal-installment", start=START)
    past = [row for row in schedule.rows if row.due_date < date(2026, 4, 20)]
    with runtime.read_sessions() as session:
        statuses = [
            r.status
            for r in session.scalars(
                select(Instalment).where(Instalment.loan_id == loan_id).order_by(Instalment.period)
            )
        ][: len(past) + 1]
        loan = session.get(Loan, loan_id)
    assert statuses == ["overdue"] * len(past) + ["pending"]
    assert loan.next_period == len(past) + 1
    assert loan.dpd == (date(2026, 4, 20) - past[0].due_date).days
    # All past interest, and the current period's to date, in one day's entry.
    assert owed(runtime, loan_id)["loan_interest"] >= sum(row.interest for row in past)
    assert balanced(runtime)
