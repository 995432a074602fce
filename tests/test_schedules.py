"""Repayment schedules: golden fixtures, conventions, numpy-financial, properties.

Golden fixtures are ``tests/golden/*.toml``, one scenario per file: a comment
saying what it shows, ``[inputs]`` (the arguments of ``quote``), then
``[expected]`` totals, rates and the schedule as a whitespace-separated table
(period, due date, principal, interest, fee, payment, balance). The tables
follow the conventions of issue 5, item 3; their first rows, annuity
payments, remainders and due dates were checked by hand, and every row is
re-checked here (reconciliation to the fen, exact-fraction interest).
"""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lendkit.errors import ValidationFailed
from lendkit.lifecycle.pricing import quote
from lendkit.lifecycle.schedules import (
    METHODS,
    annuity_payment,
    build_schedule,
    due_date,
)

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.toml"))


def load(path: Path) -> tuple[dict, dict, list[list[str]]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    lines = data["expected"]["schedule"].strip().splitlines()
    assert lines[0].split() == [
        "period",
        "due_date",
        "principal",
        "interest",
        "fee",
        "payment",
        "balance",
    ]
    return data["inputs"], data["expected"], [line.split() for line in lines[1:]]


# -- Golden schedules --------------------------------------------------------


def test_there_is_a_golden_schedule_for_every_method():
    methods = {load(path)[0]["method"] for path in GOLDEN}
    assert methods == set(METHODS)


@pytest.mark.parametrize("path", GOLDEN, ids=lambda path: path.stem)
def test_golden_schedule(path):
    inputs, expected, table = load(path)

    offer = quote(**inputs)

    got = [
        [
            str(row.period),
            row.due_date.isoformat(),
            *map(str, (row.principal, row.interest, row.fee, row.payment, row.balance)),
        ]
        for row in offer.schedule.rows
    ]
    assert got == table
    assert str(offer.schedule.total_interest) == expected["total_interest"]
    assert str(offer.schedule.total_fees) == expected["total_fees"]
    assert str(offer.rate.apr_irr) == expected["apr_irr"]
    assert str(offer.rate.apr_simple) == expected["apr_simple"]


@pytest.mark.parametrize("path", GOLDEN, ids=lambda path: path.stem)
def test_golden_totals_reconcile_to_the_fen(path):
    inputs, expected, table = load(path)
    principal = Decimal(inputs["principal"])
    fee = Decimal(inputs["instalment_fee"])

    parts = [Decimal(row[2]) for row in table]
    assert sum(parts) == principal
    assert sum(Decimal(row[3]) for row in table) == Decimal(expected["total_interest"])
    assert sum(Decimal(row[4]) for row in table) + Decimal(inputs["upfront_fee"]) == Decimal(
        expected["total_fees"]
    )
    balance = principal
    for row in table:
        assert Decimal(row[4]) == fee
        assert Decimal(row[5]) == sum(Decimal(cell) for cell in row[2:5])
        balance -= Decimal(row[2])
        assert Decimal(row[6]) == balance
    assert balance == 0


# -- Conventions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "due"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 1, 31), 2, date(2026, 3, 31)),
        (date(2026, 1, 31), 3, date(2026, 4, 30)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 1, 15), 12, date(2027, 1, 15)),
        (date(2026, 12, 31), 1, date(2027, 1, 31)),
        (date(2026, 8, 30), 6, date(2027, 2, 28)),
        (date(2026, 3, 1), 0, date(2026, 3, 1)),
    ],
)
def test_due_dates_keep_the_day_of_month_clipped_to_the_month_end(start, months, due):
    assert due_date(start, months) == due


def test_interest_is_rounded_half_up_at_the_fen():
    # 1000.50 × 0.06 / 12 = 5.0025 → 5.00; 1001.00 × 0.06 / 12 = 5.005 → 5.01 (half-up)
    low = build_schedule("1000.50", 1, "0.06", "interest-first", start=date(2026, 1, 1))
    half = build_schedule("1001.00", 1, "0.06", "interest-first", start=date(2026, 1, 1))
    assert low.rows[0].interest == Decimal("5.00")
    assert half.rows[0].interest == Decimal("5.01")


def test_an_exact_half_fen_rounds_up_even_when_the_monthly_rate_repeats():
    # 60.00 × 0.109 / 12 = 0.545 exactly, though 0.109 / 12 = 0.0090833… never ends.
    schedule = build_schedule("60.00", 2, "0.109", "interest-first", start=date(2026, 1, 1))
    assert schedule.rows[0].interest == Decimal("0.55")
    bullet = build_schedule("180.00", 3, "0.109", "bullet", start=date(2026, 1, 1))
    assert bullet.rows[0].interest == Decimal("4.91")  # 4.905 exactly


def half_up(value: Fraction) -> Decimal:
    cents = value * 100
    whole = cents.numerator // cents.denominator
    if cents - whole >= Fraction(1, 2):
        whole += 1
    return Decimal(whole) / 100


@settings(max_examples=300, deadline=None)
@given(
    principal=st.decimals(min_value="0.01", max_value="99999999.99", places=2),
    rate=st.decimals(min_value="0", max_value="0.36", places=6),
    term=st.integers(min_value=1, max_value=36),
    method=st.sampled_from(METHODS),
)
def test_interest_is_exactly_the_balance_times_rate_over_12_half_up(principal, rate, term, method):
    schedule = build_schedule(principal, term, rate, method, start=date(2026, 1, 1))
    if method == "bullet":
        (row,) = schedule.rows
        assert row.interest == half_up(Fraction(principal) * Fraction(rate) * term / 12)
        return
    if method == "draw-repay":  # by day count, over the whole term
        (row,) = schedule.rows
        days = (row.due_date - date(2026, 1, 1)).days
        assert row.interest == half_up(Fraction(principal) * Fraction(rate) * days / 360)
        return
    balance = principal
    for row in schedule.rows:
        assert row.interest == half_up(Fraction(balance) * Fraction(rate) / 12)
        balance = row.balance


def test_equal_installment_pays_the_rounded_annuity_and_the_last_period_the_rest():
    schedule = build_schedule("100000", 12, "0.109", "equal-installment", start=date(2026, 1, 15))

    assert {row.payment for row in schedule.rows[:-1]} == {Decimal("8833.50")}
    assert schedule.rows[-1].principal == schedule.rows[-2].balance
    for row in schedule.rows[:-1]:
        assert row.principal == row.payment - row.interest


def test_bullet_interest_is_the_whole_term_rounded_once():
    # 10000.01 × 0.1 / 12 × 7 = 583.33391… → 583.33
    schedule = build_schedule("10000.01", 7, "0.1", "bullet", start=date(2026, 1, 10))
    (row,) = schedule.rows
    assert (row.period, row.due_date) == (7, date(2026, 8, 10))
    assert (row.principal, row.interest, row.balance) == (
        Decimal("10000.01"),
        Decimal("583.33"),
        Decimal("0.00"),
    )


def test_zero_rate_spreads_the_principal():
    schedule = build_schedule("1000", 3, "0", "equal-installment", start=date(2026, 1, 1))
    assert [row.payment for row in schedule.rows] == [
        Decimal("333.33"),
        Decimal("333.33"),
        Decimal("333.34"),
    ]


@pytest.mark.parametrize("method", ["equal-principal", "equal-installment"])
def test_a_tiny_loan_never_repays_more_than_it_owes(method):
    # 0.05 / 10 = 0.005 rounds up to 0.01: the parts stop once the balance is 0.
    schedule = build_schedule("0.05", 10, "0.36", method, start=date(2026, 1, 1))
    assert [row.principal for row in schedule.rows] == [Decimal("0.01")] * 5 + [Decimal("0.00")] * 5
    assert min(row.balance for row in schedule.rows) == Decimal("0.00")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"principal": "0"}, "invalid_principal"),
        ({"principal": "-5"}, "invalid_principal"),
        ({"principal": "100.001"}, "invalid_principal"),
        ({"principal": "1e12"}, "invalid_principal"),
        ({"principal": "NaN"}, "invalid_principal"),
        ({"principal": "lots"}, "invalid_principal"),
        ({"term": 0}, "invalid_term"),
        ({"term": 601}, "invalid_term"),
        ({"annual_rate": "-0.01"}, "invalid_annual_rate"),
        ({"method": "balloon"}, "invalid_method"),
        ({"upfront_fee": "-1"}, "invalid_fee"),
        ({"instalment_fee": "-1"}, "invalid_fee"),
        ({"upfront_fee": "1000"}, "invalid_upfront_fee"),
    ],
)
def test_bad_terms_are_refused_in_chinese_and_english(changes, code):
    arguments = {
        "principal": "1000",
        "term": 12,
        "annual_rate": "0.1",
        "method": "equal-installment",
        **changes,
    }
    with pytest.raises(ValidationFailed) as caught:
        build_schedule(**arguments, start=date(2026, 1, 1))
    assert caught.value.code == code
    zh, en = caught.value.detail.split(" / ", 1)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh)
    assert en.isascii()


def test_floats_are_never_money():
    with pytest.raises(TypeError):
        build_schedule(1000.0, 12, "0.1", "bullet", start=date(2026, 1, 1))  # type: ignore[arg-type]


# -- numpy-financial cross-check --------------------------------------------


@pytest.mark.parametrize(
    ("principal", "term", "rate"),
    [
        ("100000", 12, "0.109"),
        ("50000", 6, "0.18"),
        ("1234.56", 4, "0.0999"),
        ("300000", 36, "0.24"),
        ("8888.88", 24, "0.0365"),
        ("1000000", 360, "0.049"),
    ],
)
def test_annuity_payment_agrees_with_numpy_financial(principal, term, rate):
    ours = annuity_payment(Decimal(principal), Decimal(rate) / 12, term)
    theirs = npf.pmt(float(rate) / 12, term, -float(principal))
    assert abs(float(ours) - theirs) <= 0.005 + 1e-9
    schedule = build_schedule(principal, term, rate, "equal-installment", start=date(2026, 1, 1))
    assert abs(float(schedule.rows[-1].payment) - theirs) <= 0.01 * term


# -- Properties --------------------------------------------------------------

amounts = st.decimals(min_value="0.01", max_value="99999999.99", places=2)
rates = st.decimals(min_value="0", max_value="0.36", places=4)
terms = st.integers(min_value=1, max_value=360)
starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@settings(max_examples=300, deadline=None)
@given(
    principal=amounts,
    term=terms,
    rate=rates,
    method=st.sampled_from(METHODS),
    start=starts,
    fee=st.decimals(min_value="0", max_value="100", places=2),
)
def test_any_schedule_repays_the_principal_exactly(principal, term, rate, method, start, fee):
    schedule = build_schedule(principal, term, rate, method, start=start, instalment_fee=fee)

    assert sum(row.principal for row in schedule.rows) == principal
    assert schedule.rows[-1].balance == Decimal("0.00")
    assert schedule.rows[-1].due_date == due_date(start, term)
    previous = start
    for row in schedule.rows:
        for amount in (row.principal, row.interest, row.fee, row.payment, row.balance):
            assert amount >= 0
            assert amount == amount.quantize(Decimal("0.01"))
        assert row.payment == row.principal + row.interest + row.fee
        assert row.due_date > previous
        previous = row.due_date


def test_due_dates_can_keep_off_public_holidays():
    D = Decimal
    # Disbursed 1 September 2026: due 1 October (National Day, 国庆节) moves to the
    # first working day after the holiday (8 October, per the State Council's notice);
    # amounts are unchanged.
    plain = build_schedule(D("12000"), 3, D("0.12"), "equal-installment", start=date(2026, 9, 1))
    shifted = build_schedule(
        D("12000"), 3, D("0.12"), "equal-installment", start=date(2026, 9, 1), shift_holidays=True
    )
    assert [r.due_date for r in plain.rows] == [
        date(2026, 10, 1),
        date(2026, 11, 1),
        date(2026, 12, 1),
    ]
    assert [r.due_date for r in shifted.rows] == [
        date(2026, 10, 8),
        date(2026, 11, 2),  # 1 November is a Sunday
        date(2026, 12, 1),
    ]
    assert [r.payment for r in shifted.rows] == [r.payment for r in plain.rows]
