"""The integer-fen period loop gives exactly the rows of plain Decimal arithmetic.

The reference below is the schedule rules written the straightforward way —
every amount a ``Decimal``, every interest ``balance × rate / 12`` quantized
half-up — as the kernel computed them before its loop moved to integer fen.
Random loans must come out the same to the last digit and exponent (rows are
compared as strings), including the rare ones whose parts are clipped.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lendkit.lifecycle import schedule_rows
from lendkit.lifecycle.schedules import METHODS, build_schedule, due_date

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def _money(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def _due(start: date, period: int, repayment_day: int | None) -> date:
    if repayment_day is None:
        return due_date(start, period)
    return due_date(start.replace(day=1), period).replace(day=repayment_day)


def reference_rows(
    principal: Decimal,
    term: int,
    rate: Decimal,
    method: str,
    *,
    start: date,
    fee: Decimal,
    day_count: int,
    repayment_day: int | None,
) -> list[tuple[str, ...]]:
    """(period, due date, principal, interest, fee, payment, balance) as strings."""

    def by_days(days: int) -> Decimal:
        return _money(principal * rate * days / day_count)

    if method == "draw-repay" or (method == "bullet" and repayment_day is not None):
        parts = [(term, principal, by_days((_due(start, term, repayment_day) - start).days))]
    elif method == "bullet":
        parts = [(term, principal, _money(principal * rate * term / 12))]
    else:
        with localcontext() as ctx:
            ctx.prec = 40
            monthly = rate / 12
            if monthly == 0:
                payment = _money(principal / term)
            else:
                payment = _money(principal * monthly / (1 - (1 + monthly) ** -term))
        level = _money(principal / term)
        parts, balance = [], principal
        for period in range(1, term + 1):
            interest = _money(balance * rate / 12)
            if period == term:
                part = balance
            elif method == "equal-installment":
                part = min(max(payment - interest, ZERO), balance)
            elif method == "equal-principal":
                part = min(level, balance)
            else:  # interest-first
                part = ZERO
            parts.append((period, part, interest))
            balance -= part
        if repayment_day is not None:  # the odd first period: interest by days
            period, part, _ = parts[0]
            parts[0] = (period, part, by_days((_due(start, 1, repayment_day) - start).days))
    rows, balance = [], principal
    for period, part, interest in parts:
        balance -= part
        amounts = (part, interest, fee, part + interest + fee, balance)
        rows.append(
            (str(period), _due(start, period, repayment_day).isoformat(), *map(str, amounts))
        )
    return rows


def _built(principal, term, rate, method, *, start, fee, day_count, repayment_day):
    schedule = build_schedule(
        principal,
        term,
        rate,
        method,
        start=start,
        instalment_fee=fee,
        day_count=day_count,
        repayment_day=repayment_day,
    )
    return [(str(r.period), r.due_date.isoformat(), *map(str, r[2:])) for r in schedule.rows]


fen = st.one_of(st.integers(1, 10_000), st.integers(1, 10**8), st.integers(1, 10**14 - 1))
rates = st.one_of(
    st.integers(0, 10**6).map(lambda n: Decimal(n).scaleb(-6)),  # 0 to 100 %, 6 places
    st.integers(0, 10**8).map(lambda n: Decimal(n).scaleb(-10)),  # small, 10 places
    st.sampled_from([Decimal("0.1440"), Decimal("0.109"), Decimal("0.2399"), Decimal("3")]),
)
terms = st.one_of(st.integers(1, 60), st.integers(1, 600))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    principal=fen.map(lambda n: Decimal(n).scaleb(-2)),
    term=terms,
    rate=rates,
    method=st.sampled_from(METHODS),
    fee=st.one_of(st.just(ZERO), st.integers(1, 100_00).map(lambda n: Decimal(n).scaleb(-2))),
    day_count=st.sampled_from((360, 365)),
    repayment_day=st.one_of(st.none(), st.integers(1, 28)),
    start_offset=st.integers(0, 4000),
)
@example(  # 等额本息 whose rounded payment outruns a small loan: parts are clipped
    principal=Decimal("0.08"),
    term=12,
    rate=Decimal("0.1440"),
    method="equal-installment",
    fee=ZERO,
    day_count=360,
    repayment_day=None,
    start_offset=0,
)
@example(  # 等额本金 so small that the rounded level part outruns the balance
    principal=Decimal("0.07"),
    term=12,
    rate=Decimal("0.24"),
    method="equal-principal",
    fee=Decimal("0.50"),
    day_count=365,
    repayment_day=5,
    start_offset=30,
)
def test_integer_fen_rows_equal_plain_decimal_rows(
    principal, term, rate, method, fee, day_count, repayment_day, start_offset
):
    terms_ = dict(
        start=date(2020, 1, 1) + timedelta(days=start_offset),
        fee=fee,
        day_count=day_count,
        repayment_day=repayment_day,
    )
    assert _built(principal, term, rate, method, **terms_) == reference_rows(
        principal, term, rate, method, **terms_
    )


@pytest.mark.parametrize(
    ("principal", "term", "method"),
    [(8, 12, "equal-installment"), (7, 12, "equal-principal")],
)
def test_the_clipped_loans_of_the_examples_do_take_the_plain_loop(principal, term, method):
    """The fast loops hand these to the plain one (so the examples above test it)."""
    rate = schedule_rows._rate(Decimal("0.1440"))
    if method == "equal-installment":
        payment = 1  # 0.08 ÷ 12 months, rounded up
        fast = schedule_rows._equal_installment(principal, term, rate, payment, 0)
    else:
        fast = schedule_rows._equal_principal(principal, term, rate, 0)
    assert fast is None


def test_a_huge_loan_at_a_many_digit_rate_is_still_exact():
    """A trillion less a fen at a rate of 12 significant digits: 28 digits still suffice."""
    terms_ = dict(start=date(2026, 1, 31), fee=ZERO, day_count=360, repayment_day=None)
    args = (Decimal("999999999999.99"), 360, Decimal("0.123456789012"))
    for method in ("equal-installment", "equal-principal"):
        assert _built(*args, method, **terms_) == reference_rows(*args, method, **terms_)
