"""The all-in annualized rate (PBOC 〔2021〕No. 3), the cap, and `lendkit quote`."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import click
import numpy_financial as npf
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from lendkit.cli import cli
from lendkit.errors import ValidationFailed
from lendkit.lifecycle.pricing import (
    AnnualizedRate,
    annualized_rate,
    annualized_rate_of,
    check_rate_cap,
    monthly_irr,
    quote,
)
from lendkit.lifecycle.quote_cli import quote_command
from lendkit.lifecycle.schedules import METHODS, build_schedule
from lendkit.settings import Settings

PBOC_PAYMENTS = [(month, Decimal("8833.30")) for month in range(1, 13)]

# -- The PBOC example --------------------------------------------------------


def test_the_pboc_example_gives_12_80_simple_and_13_58_compound():
    rate = annualized_rate_of(Decimal("99000"), PBOC_PAYMENTS)

    assert str(rate.apr_simple) == "0.1280"
    assert str(rate.apr_irr) == "0.1358"
    assert rate.monthly_irr.quantize(Decimal("1e-7")) == Decimal("0.0106698")


def test_the_pboc_schedule_priced_from_its_contract_rate():
    # 8833.30 a month is the annuity of about 10.8957 %; the 10.9 % DOMAIN.md
    # mentions gives 8833.50, whose all-in rate rounds to 12.81 % / 13.59 %.
    offer = quote(
        "100000", 12, "0.108957", "equal-installment", start=date(2026, 1, 15), upfront_fee="1000"
    )
    assert {row.payment for row in offer.schedule.rows[:-1]} == {Decimal("8833.30")}
    assert (str(offer.rate.apr_simple), str(offer.rate.apr_irr)) == ("0.1280", "0.1358")

    at_10_9 = quote(
        "100000", 12, "0.109", "equal-installment", start=date(2026, 1, 15), upfront_fee="1000"
    )
    assert (str(at_10_9.rate.apr_simple), str(at_10_9.rate.apr_irr)) == ("0.1281", "0.1359")


# -- The IRR solver ----------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("principal", "term", "rate", "upfront", "each"),
    [
        ("100000", 12, "0.109", "1000", "0"),
        ("50000", 24, "0.18", "0", "15"),
        ("3000", 3, "0.24", "90", "2.5"),
        ("200000", 36, "0.0435", "0", "0"),
    ],
)
def test_irr_agrees_with_numpy_financial(method, principal, term, rate, upfront, each):
    schedule = build_schedule(
        principal,
        term,
        rate,
        method,
        start=date(2026, 1, 15),
        upfront_fee=upfront,
        instalment_fee=each,
    )
    flows = [0.0] * (term + 1)
    flows[0] = -float(schedule.net_disbursed)
    for row in schedule.rows:
        flows[row.period] += float(row.payment)

    ours = annualized_rate(schedule)
    theirs = npf.irr(flows)

    assert abs(float(ours.monthly_irr) - theirs) < 1e-6
    assert abs(float(ours.apr_simple) - theirs * 12) <= 0.00005 + 1e-9
    assert abs(float(ours.apr_irr) - ((1 + theirs) ** 12 - 1)) <= 0.00005 + 1e-9


def test_without_fees_the_all_in_rate_is_the_contract_rate():
    schedule = build_schedule("120000", 12, "0.12", "equal-installment", start=date(2026, 1, 1))
    assert annualized_rate(schedule).apr_simple == Decimal("0.1200")


def test_a_free_loan_costs_nothing():
    rate = annualized_rate_of(Decimal("1000"), [(1, Decimal("500")), (2, Decimal("500"))])
    assert rate.monthly_irr == 0
    assert (rate.apr_irr, rate.apr_simple) == (Decimal("0.0000"), Decimal("0.0000"))


def test_paying_back_less_than_received_is_a_negative_rate():
    rate = annualized_rate_of(Decimal("1000"), [(1, Decimal("990"))])
    assert rate.monthly_irr.quantize(Decimal("1e-12")) == Decimal("-0.010000000000")


def test_an_extreme_fee_still_prices():
    schedule = build_schedule(
        "100000", 600, "1", "equal-installment", start=date(2026, 1, 1), upfront_fee="99999.99"
    )
    assert annualized_rate(schedule).apr_irr > 1000


@pytest.mark.parametrize(
    ("outlay", "inflows"),
    [
        (Decimal("0"), [(1, Decimal("1"))]),
        (Decimal("100"), []),
        (Decimal("100"), [(0, Decimal("101"))]),
        (Decimal("100"), [(1, Decimal("-1"))]),
    ],
)
def test_cash_flows_without_a_rate_are_refused(outlay, inflows):
    with pytest.raises(ValueError):  # noqa: PT011 - any reason will do
        monthly_irr(outlay, inflows)


@settings(max_examples=100, deadline=None)
@given(
    principal=st.decimals(min_value="100", max_value="1000000", places=2),
    term=st.integers(min_value=1, max_value=60),
    rate=st.decimals(min_value="0", max_value="0.36", places=4),
    method=st.sampled_from(METHODS),
    fee_share=st.decimals(min_value="0", max_value="0.2", places=3),
)
def test_the_irr_zeroes_the_cash_flows(principal, term, rate, method, fee_share):
    upfront = (principal * fee_share).quantize(Decimal("0.01"))
    schedule = build_schedule(
        principal, term, rate, method, start=date(2026, 1, 31), upfront_fee=upfront
    )
    irr = annualized_rate(schedule).monthly_irr
    npv = -schedule.net_disbursed + sum(
        row.payment / (1 + irr) ** row.period for row in schedule.rows
    )
    assert abs(npv) < Decimal("1e-6")
    if upfront == 0 and rate > 0:
        assert irr >= 0


# -- The cap -----------------------------------------------------------------


def offer_at(apr_irr: str) -> AnnualizedRate:
    return AnnualizedRate(Decimal("0"), Decimal(apr_irr), Decimal("0"))


def test_the_default_cap_is_24_percent_on_the_compound_rate():
    check_rate_cap(offer_at("0.2400"))
    with pytest.raises(ValidationFailed) as caught:
        check_rate_cap(offer_at("0.2401"))
    assert caught.value.code == "rate_above_cap"
    assert "超过上限 24.00 %" in caught.value.detail
    assert "above the cap of 24.00 %" in caught.value.detail


def test_the_cap_comes_from_the_tenant_settings():
    tenant = Settings(caps={"annual_rate": "0.18"})  # type: ignore[arg-type]
    check_rate_cap(offer_at("0.1800"), tenant)
    with pytest.raises(ValidationFailed, match=r"above the cap of 18\.00 %"):
        check_rate_cap(offer_at("0.1801"), tenant)


def test_a_compound_rate_above_the_cap_is_refused_though_the_simple_one_is_not():
    offer = quote("10000", 12, "0.22", "equal-installment", start=date(2026, 1, 1))
    assert offer.rate.apr_simple <= Decimal("0.24") < offer.rate.apr_irr
    with pytest.raises(ValidationFailed):
        check_rate_cap(offer.rate)


# -- lendkit quote -----------------------------------------------------------

QUOTE = [
    "--principal",
    "100000",
    "--term",
    "12",
    "--method",
    "equal-installment",
    "--annual-rate",
    "0.109",
    "--upfront-fee",
    "1000",
    "--start",
    "2026-01-15",
]


def test_quote_json_is_one_object_with_strings():
    result = CliRunner().invoke(quote_command, [*QUOTE, "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"schedule", "total_interest", "total_fees", "apr_irr", "apr_simple"}
    assert data["schedule"][0] == {
        "period": 1,
        "due_date": "2026-02-15",
        "principal": "7925.17",
        "interest": "908.33",
        "fee": "0.00",
        "payment": "8833.50",
        "balance": "92074.83",
    }
    assert len(data["schedule"]) == 12
    assert data["schedule"][-1]["balance"] == "0.00"
    assert (data["total_interest"], data["total_fees"]) == ("6002.04", "1000.00")
    assert (data["apr_irr"], data["apr_simple"]) == ("0.1359", "0.1281")


def test_quote_reproduces_the_pboc_example(lendkit_cli):
    args = [*QUOTE, "--json"]
    args[args.index("0.109")] = "0.108957"
    result = lendkit_cli("quote", *args)

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schedule"][0]["payment"] == "8833.30"
    assert (data["apr_simple"], data["apr_irr"]) == ("0.1280", "0.1358")


def test_quote_instalment_fees_count_in_the_rate():
    result = CliRunner().invoke(quote_command, [*QUOTE, "--instalment-fee", "10", "--json"])
    data = json.loads(result.output)
    assert data["schedule"][0]["fee"] == "10.00"
    assert data["schedule"][0]["payment"] == "8843.50"
    assert data["total_fees"] == "1120.00"
    assert data["apr_irr"] > "0.1359"


def test_quote_prints_a_table_by_default():
    result = CliRunner().invoke(quote_command, QUOTE)

    assert result.exit_code == 0, result.output
    assert "2027-01-15" in result.output
    assert "8,833.54" in result.output
    assert "13.59 %" in result.output
    assert "单利" in result.output


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"--principal": "abc"}, "is not a number"),
        ({"--principal": "-1"}, "zero or more"),
        ({"--principal": "0"}, "more than zero"),
        ({"--principal": "100.001"}, "fen"),
        ({"--principal": "1e400"}, "less than"),
        ({"--term": "0"}, "--term"),
        ({"--method": "balloon"}, "--method"),
        ({"--annual-rate": "10.9"}, "as a fraction"),
        ({"--annual-rate": "inf"}, "finite"),
        ({"--upfront-fee": "100000"}, "less than the principal"),
        ({"--start": "2026-02-30"}, "--start"),
    ],
)
def test_quote_bad_input_is_a_usage_error(changes, message):
    args = list(QUOTE)
    for option, value in changes.items():
        args[args.index(option) + 1] = value

    result = CliRunner().invoke(quote_command, args)

    assert result.exit_code == 2
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_quote_is_a_builtin_command():
    with click.Context(cli, info_name="lendkit") as ctx:
        assert "quote" in cli.list_commands(ctx)
        assert cli.get_command(ctx, "quote") is quote_command
