"""Property: any sequence of co-lending disbursements, accruals, repayments and
reversals keeps the books balanced, funders' parts whole, and pools non-negative."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lendkit.clearing import ledger, postings
from lendkit.clearing.colending import Funder, Repayment
from lendkit.clearing.ledger import JournalLine, Line, post
from lendkit.clearing.money import split
from lendkit.errors import ValidationFailed
from sqlalchemy import func, select

D = Decimal
START = date(2026, 1, 1)
cents = st.integers(min_value=1, max_value=5_000_000).map(lambda c: D(c) / 100)
own_share = st.integers(min_value=30, max_value=100).map(lambda p: D(p) / 100)


@given(amount=cents, shares=st.lists(st.integers(1, 1000), min_size=1, max_size=5))
def test_split_parts_always_add_up_to_the_fen(amount, shares):
    total = sum(shares)
    fractions = [D(s) / D(total) for s in shares[:-1]]
    fractions.append(1 - sum(fractions))
    parts = split(amount, fractions)
    assert sum(parts) == amount
    assert all(abs(p - amount * f) < D("0.01") for p, f in zip(parts, fractions, strict=True))


operation = st.one_of(
    st.tuples(st.just("disburse"), cents, own_share),
    st.tuples(st.just("accrue"), st.integers(0, 9), st.integers(1, 40)),
    st.tuples(st.just("repay"), st.integers(0, 9), st.integers(1, 100)),
    st.tuples(st.just("reverse"), st.integers(0, 10_000)),
    st.tuples(st.just("day"), st.integers(1, 31)),
)


@pytest.fixture
def books(runtime):
    return runtime


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_any_sequence_keeps_the_books_balanced(books, ops):
    runtime = books
    with runtime.sessions.begin() as session:
        session.execute(
            JournalLine.__table__.delete().where(False)
        )  # no-op: tables are append-only
    loans: list[tuple[int, list[Funder], D]] = []  # (loan id, funders, principal outstanding)
    entries: list[int] = []
    day = START
    run = uuid.uuid4().int % 10**9  # examples share one database: keys must differ
    with runtime.sessions.begin() as session:
        for source in ("own", "bank"):
            post(
                session,
                business_date=day,
                idempotency_key=f"{run}:capital:{source}",
                cause="funding",
                lines=[
                    Line.debit(f"fund_pool:{source}", D("100000000")),
                    Line.credit(f"funding_capital:{source}", D("100000000")),
                ],
            )
    for n, op in enumerate(ops):
        key = f"{run}:{n}"
        with runtime.sessions.begin() as session:
            if op[0] == "disburse":
                _, amount, own = op
                funders = [Funder("own", own)] + ([Funder("bank", 1 - own)] if own < 1 else [])
                loan_id = run * 100 + len(loans)
                e1 = post(
                    session,
                    business_date=day,
                    idempotency_key=key + "a",
                    cause=f"loan:{loan_id}",
                    lines=postings.disbursement_instructed(amount, funders, "sandbox", loan_id),
                )
                e2 = post(
                    session,
                    business_date=day,
                    idempotency_key=key + "b",
                    cause=f"loan:{loan_id}",
                    lines=postings.disbursement_confirmed(amount, funders, "sandbox", loan_id),
                )
                loans.append((loan_id, funders, amount))
                entries += [e1.id, e2.id]
            elif op[0] == "accrue" and loans:
                loan_id, funders, principal = loans[op[1] % len(loans)]
                interest = (principal * D("0.0003") * op[2]).quantize(D("0.01"))
                if interest:
                    entries.append(
                        post(
                            session,
                            business_date=day,
                            idempotency_key=key,
                            cause=f"loan:{loan_id}",
                            lines=postings.accrued("loan_interest", interest, funders, loan_id),
                        ).id
                    )
            elif op[0] == "repay" and loans:
                index = op[1] % len(loans)
                loan_id, funders, principal = loans[index]
                pay = (principal * op[2] / 100).quantize(D("0.01"))
                if pay:
                    repayment = Repayment(principal=pay)
                    steps = [("r", postings.repayment_received(pay, "sandbox", loan_id))]
                    try:
                        allocated, settled = postings.repayment(
                            session, loan_id, repayment, "sandbox"
                        )
                        steps += [("a", allocated), ("s", settled)]
                    except ValueError:
                        pass  # more than the receivable holds (a reversal emptied it)
                    for suffix, lines in steps:
                        try:
                            with session.begin_nested():
                                entries.append(
                                    post(
                                        session,
                                        business_date=day,
                                        idempotency_key=key + suffix,
                                        cause=f"loan:{loan_id}",
                                        lines=lines,
                                    ).id
                                )
                        except ValidationFailed:
                            pass  # an earlier reversal may have emptied a receivable: refused, nothing written
                    loans[index] = (loan_id, funders, principal - pay)
            elif op[0] == "reverse" and entries:
                try:
                    with session.begin_nested():
                        ledger.reverse(
                            session,
                            entries[op[1] % len(entries)],
                            business_date=day,
                            reason="property test",
                        )
                except ValidationFailed:
                    pass  # reversing would overdraw a pool or a receivable, or reverse a reversal: refused
            elif op[0] == "day":
                day += timedelta(days=op[1])

    with runtime.sessions() as session:
        result = ledger.trial_balance(session)
        assert result.balanced, result
        balances = dict(result.rows)
        for code, amount in balances.items():
            if code.startswith(("fund_pool:", "loan_")):
                assert amount >= 0, f"{code} went negative: {amount}"
        # Per loan, each funder holds its share of the principal receivable,
        # to within one fen per posting (each split rounds at the fen).
        for loan_id, funders, _ in loans:
            rows = dict(
                session.execute(
                    select(JournalLine.source, func.sum(JournalLine.amount))
                    .where(
                        JournalLine.loan_id == loan_id,
                        JournalLine.account.has(code="loan_principal"),
                    )
                    .group_by(JournalLine.source)
                ).all()
            )
            total = sum(rows.values(), D(0))
            posted = session.scalar(
                select(func.count(func.distinct(JournalLine.entry_id))).where(
                    JournalLine.loan_id == loan_id
                )
            )
            for funder in funders:
                assert (
                    abs(rows.get(funder.source, D(0)) - total * funder.share) <= D("0.01") * posted
                )
