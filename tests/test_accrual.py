"""Accrued interest derived from dates: hand-computed figures for the day counts
and the edge days (start, due, after due, leap years), and the day end of day
covered a loan through."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from lendkit.clearing.money import money
from lendkit.lifecycle import accrual, booking, eod, loans
from lendkit.testing.factories import add_capital, borrower, disbursed_loan

D = Decimal
NOTHING = D("0.00")
START, DUE = date(2026, 1, 15), date(2026, 2, 15)  # 31 days


@dataclass
class Row:
    start_date: date
    due_date: date
    interest: Decimal
    interest_accrued: Decimal = NOTHING
    status: str = "pending"


@pytest.mark.parametrize(
    ("through", "accrued"),
    [
        (None, "0.00"),  # no end of day yet
        (date(2026, 1, 14), "0.00"),  # before the period
        (START, "0.00"),  # the start date itself accrues nothing
        (date(2026, 1, 16), "3.87"),  # 120.00 × 1/31 = 3.8709…
        (date(2026, 1, 30), "58.06"),  # 120.00 × 15/31 = 58.0645…
        (date(2026, 2, 14), "116.13"),  # 120.00 × 30/31 = 116.1290…
        (DUE, "120.00"),  # exactly the scheduled interest on the due date
        (date(2026, 3, 1), "120.00"),  # and no more after it
    ],
)
def test_a_periods_interest_accrues_over_its_actual_days(through, accrued):
    assert accrual.accrued_interest(D("120.00"), START, DUE, through) == D(accrued)


def test_half_a_fen_rounds_up():
    start = date(2026, 3, 1)
    due = start + timedelta(days=4)
    assert accrual.accrued_interest(D("0.10"), start, due, start + timedelta(days=1)) == D("0.03")
    assert accrual.accrued_interest(D("0.10"), start, due, start + timedelta(days=3)) == D("0.08")


def test_a_leap_february_has_one_day_more():
    # 15 Feb to 15 Mar: 29 days in 2028, 28 in 2027; 14 days in, the figures differ.
    leap = accrual.accrued_interest(
        D("100.00"), date(2028, 2, 15), date(2028, 3, 15), date(2028, 2, 29)
    )
    plain = accrual.accrued_interest(
        D("100.00"), date(2027, 2, 15), date(2027, 3, 15), date(2027, 3, 1)
    )
    assert (leap, plain) == (D("48.28"), D("50.00"))  # 100 × 14/29 = 48.275…, 100 × 14/28


def test_a_period_of_no_days_accrues_all_after_its_start():
    day = date(2026, 5, 5)
    assert accrual.accrued_interest(D("9.99"), day, day, day) == D("0.00")
    assert accrual.accrued_interest(D("9.99"), day, day, day + timedelta(days=1)) == D("9.99")


def test_the_integer_figure_is_the_decimal_one():
    rng = random.Random(20261203)
    for _ in range(5000):
        days = rng.randint(1, 400)
        interest = D(rng.randint(0, 10_000_000)) / 100
        elapsed = rng.randint(1, days)
        start = date(2026, 1, 1) + timedelta(days=rng.randint(0, 2000))
        expected = money(interest * elapsed / days)
        got = accrual.accrued_interest(
            interest, start, start + timedelta(days), start + timedelta(elapsed)
        )
        assert got == expected, (interest, elapsed, days)


@pytest.mark.parametrize(
    ("balance", "rate", "day_count", "amount"),
    [
        ("10000.00", "0.18", 360, "5.00"),
        ("10000.00", "0.18", 365, "4.93"),  # 4.9315…
        ("946.19", "0.18", 360, "0.47"),  # 0.4730…
        ("250.00", "0.0072", 360, "0.01"),  # exactly half a fen: up
        ("250.00", "0.0072", 365, "0.00"),  # 0.00493…
    ],
)
def test_a_days_amount_on_a_balance_uses_the_day_count(balance, rate, day_count, amount):
    assert accrual.daily_amount(D(balance), D(rate), day_count) == D(amount)


def test_what_is_recognised_of_a_row():
    pending = Row(START, DUE, D("120.00"))
    assert accrual.recognised_interest(pending, date(2026, 1, 16)) == D("3.87")
    # A repayment recognised the whole period early: the stored floor holds.
    ahead = Row(START, DUE, D("120.00"), interest_accrued=D("120.00"))
    assert accrual.recognised_interest(ahead, date(2026, 1, 16)) == D("120.00")
    # Fallen due (or overdue): all of it, whatever the date.
    assert accrual.recognised_interest(Row(START, DUE, D("120.00"), status="overdue"), None) == D(
        "120.00"
    )
    # 随借随还: the stored running total (interest so far) is the figure.
    draw = Row(START, DUE, D("12.34"), interest_accrued=D("12.34"))
    assert accrual.recognised_interest(draw, DUE) == D("12.34")


def test_covered_through_follows_the_chunks_of_end_of_day(runtime):
    with runtime.sessions.begin() as session:
        add_capital(session, "own", D("1000000"), START, "capital-1")
        terms = booking.Terms(
            borrower_id=borrower(session, 1),
            product_code="cash",
            principal=D("12000.00"),
            term=12,
            method="equal-installment",
            annual_rate=D("0.12"),
        )
        loan = disbursed_loan(session, runtime, terms, channel="sandbox", key="A1", day=START)
    day = START + timedelta(days=1)
    with runtime.sessions.begin() as session:
        assert accrual.covered_through(session, loan.id) is None
    eod.run(runtime, day)
    with runtime.sessions.begin() as session:
        assert accrual.covered_through(session, loan.id) == day
        # The next day planned, its chunk not yet done: still the day before.
        eod.plan(session, day + timedelta(days=1))
        assert accrual.covered_through(session, loan.id) == day
    eod.run(runtime, day + timedelta(days=1))
    with runtime.sessions.begin() as session:
        assert accrual.covered_through(session, loan.id) == day + timedelta(days=1)
        # What the journal holds is what the dates say: 120.00 × 2/31.
        assert loans.outstanding(session, loan.id)["loan_interest"] == D("7.74")
