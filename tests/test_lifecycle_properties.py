"""Random lives of two loans — one own-funded, one co-lent 30/70 — through
days passing (end of day), repayments of any amount, part and full
prepayments: after every step the trial balance is zero, no receivable is
negative for any loan or funder, the funders' principal adds up to what the
schedule still asks, and a refused step changes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lendkit.clearing import funding, ledger, postings
from lendkit.clearing.colending import Funder
from lendkit.crypto.keys import write_master_key
from lendkit.errors import LendkitError
from lendkit.lifecycle import allocation, booking, eod, loans, prepayment
from lendkit.lifecycle.loan_models import Instalment
from lendkit.runtime import open_runtime
from lendkit.settings import Settings
from lendkit.testing.factories import add_capital, borrower, disbursed_loan
from sqlalchemy import func, select

D = Decimal
START = date(2026, 1, 15)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("days"), st.integers(1, 40)),
        st.tuples(st.just("repay"), st.integers(0, 1), st.integers(1, 400_000)),
        st.tuples(st.just("prepay"), st.integers(0, 1)),
        st.tuples(st.just("part"), st.integers(0, 1), st.integers(1, 300_000), st.booleans()),
    ),
    min_size=1,
    max_size=10,
)


def _check(runtime, loan_ids) -> None:
    with runtime.read_sessions() as session:
        assert ledger.trial_balance(session).balanced
        for loan_id in loan_ids:
            for owed in postings.owed_by_source(session, loan_id).values():
                assert all(v >= 0 for v in owed.values())
            scheduled = session.scalar(
                select(
                    func.coalesce(func.sum(Instalment.principal - Instalment.paid_principal), 0)
                ).where(Instalment.loan_id == loan_id, Instalment.status.in_(loans.OPEN_ROWS))
            )
            assert loans.receivable(session, loan_id, "loan_principal") == D(scheduled)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=steps)
def test_random_lives_keep_the_books_whole(plan):
    with TemporaryDirectory() as folder:
        root = Path(folder)
        write_master_key(root / "keys" / "master.key")
        runtime = open_runtime(Settings(root=root, database={"url": f"sqlite:///{root}/t.db"}))
        runtime.upgrade()
        try:
            _live(runtime, plan)
        finally:
            runtime.close()


def _live(runtime, plan) -> None:
    with runtime.sessions.begin() as session:
        funding.add_source(session, code="bank", name="合作银行", actor="test")
        add_capital(session, "own", D("1000000"), START, "cap-own")
        add_capital(session, "bank", D("1000000"), START, "cap-bank")
        ids = [
            disbursed_loan(
                session,
                runtime,
                booking.Terms(
                    borrower_id=borrower(session, n),
                    product_code="cash",
                    principal=D("12000.00"),
                    term=6,
                    method=method,
                    annual_rate=D("0.15"),
                    grace_days=3 * n,
                ),
                channel="sandbox",
                key=f"L{n}",
                day=START,
                funders=[Funder("own", D("0.3")), Funder("bank", D("0.7"))] if n else None,
            ).id
            for n, method in enumerate(("equal-installment", "equal-principal"))
        ]
    _check(runtime, ids)
    day = START
    for n, step in enumerate(plan):
        if step[0] == "days":
            for _ in range(step[1]):
                day += timedelta(days=1)
                eod.run(runtime, day)
        else:
            loan_id, key = ids[step[1]], f"pay-{n}"
            with runtime.sessions.begin() as session:
                before = loans.outstanding(session, loan_id)
            try:
                with runtime.sessions.begin() as session:
                    amount = (
                        prepayment.payoff(session, loan_id).total
                        if step[0] == "prepay"
                        else D(step[2]) / 100
                    )
                    if amount <= 0:
                        continue
                    ledger.post(
                        session,
                        business_date=day,
                        idempotency_key=key,
                        cause="test",
                        lines=[
                            ledger.Line.debit(
                                "channel_in_transit:sandbox", amount, loan_id=loan_id
                            ),
                            ledger.Line.credit("borrower_suspense", amount, loan_id=loan_id),
                        ],
                    )
                    common = {"channel": "sandbox", "idempotency_key": key, "business_date": day}
                    if step[0] == "repay":
                        allocation.allocate(session, loan_id, amount, **common)
                    elif step[0] == "prepay":
                        prepayment.prepay(session, loan_id, amount, **common)
                    else:
                        mode = "shorten" if step[3] else "reduce"
                        prepayment.prepay_part(session, loan_id, amount, mode=mode, **common)
            except LendkitError:
                # Refused (settled, overdue, out of range…): nothing may have changed.
                with runtime.sessions.begin() as session:
                    assert loans.outstanding(session, loan_id) == before
        _check(runtime, ids)
