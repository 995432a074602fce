"""The ``lendkit quote`` command: price an offer with no tenant and no database.

It prints the repayment schedule and the all-in annualized rate, both ways.
Quick to start: pricing is pure ``Decimal`` arithmetic and imports nothing
of the ORM.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

import click

from lendkit.errors import ValidationFailed
from lendkit.lifecycle.schedules import MAX_TERM_MONTHS, METHODS

if TYPE_CHECKING:
    from lendkit.lifecycle.pricing import Quote

__all__ = ["DECIMAL", "DecimalType", "quote_command"]


class DecimalType(click.ParamType[Decimal, object]):
    """A finite, non-negative decimal number, read exactly (never through a float)."""

    name = "decimal"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Decimal:
        if isinstance(value, Decimal):
            return value
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            self.fail(f"{value!r} is not a number", param, ctx)
        if not result.is_finite() or result < 0:
            self.fail(f"{value!r} must be a finite number, zero or more", param, ctx)
        return result


DECIMAL = DecimalType()


@click.command("quote")
@click.option("--principal", type=DECIMAL, required=True, help="Loan amount in CNY, e.g. 100000.")
@click.option(
    "--term",
    type=click.IntRange(1, MAX_TERM_MONTHS),
    required=True,
    help="Number of months.",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    required=True,
    help="Repayment method: 等额本息, 等额本金, 先息后本, 到期一次还本付息 or 随借随还.",
)
@click.option(
    "--annual-rate",
    type=DECIMAL,
    required=True,
    help="Contract annual rate as a fraction, e.g. 0.109 for 10.9 %.",
)
@click.option(
    "--upfront-fee",
    type=DECIMAL,
    default=Decimal("0"),
    show_default=True,
    help="Fee up front (CNY).",
)
@click.option(
    "--instalment-fee",
    type=DECIMAL,
    default=Decimal("0"),
    show_default=True,
    help="Fee added to every instalment (CNY).",
)
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Disbursement date, YYYY-MM-DD (default: today).",
)
@click.option(
    "--repayment-day",
    type=click.IntRange(1, 28),
    help="Fixed day of the month for every instalment (odd first period, by day count).",
)
@click.option("--day-count", type=click.Choice(["360", "365"]), default="360", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def quote_command(
    principal: Decimal,
    term: int,
    method: str,
    annual_rate: Decimal,
    upfront_fee: Decimal,
    instalment_fee: Decimal,
    start: object,
    repayment_day: int | None,
    day_count: str,
    as_json: bool,
) -> None:
    """Price an offer: its schedule and all-in annualized rate (no tenant needed)."""
    if annual_rate > 1:
        raise click.BadParameter(
            f"{annual_rate} is over 100 %; give the rate as a fraction, e.g. 0.109 for 10.9 %",
            param_hint="'--annual-rate'",
        )
    from lendkit.clock import china_today
    from lendkit.lifecycle.pricing import quote

    day: date = start.date() if start is not None else china_today()  # type: ignore[attr-defined]
    try:
        offer = quote(
            principal,
            term,
            annual_rate,
            method,
            start=day,
            upfront_fee=upfront_fee,
            instalment_fee=instalment_fee,
            repayment_day=repayment_day,
            day_count=int(day_count),
        )
    except ValidationFailed as exc:
        raise click.UsageError(exc.detail) from None
    if as_json:
        import json

        click.echo(json.dumps(offer.as_json(), ensure_ascii=False))
    else:
        _print_table(offer)


def _print_table(offer: Quote) -> None:
    schedule, rate = offer.schedule, offer.rate
    click.echo(
        f"{schedule.method}  principal {schedule.principal:,.2f}  term {schedule.term} months  "
        f"annual rate {schedule.annual_rate}  start {schedule.start.isoformat()}"
    )
    header = ("period", "due date", "principal", "interest", "fee", "payment", "balance")
    click.echo(f"{header[0]:>6}  {header[1]:<10}" + "".join(f" {h:>14}" for h in header[2:]))
    for row in schedule.rows:
        amounts = (row.principal, row.interest, row.fee, row.payment, row.balance)
        click.echo(
            f"{row.period:>6}  {row.due_date.isoformat():<10}"
            + "".join(f" {a:>14,.2f}" for a in amounts)
        )
    click.echo(
        f"{'total':>6}  {'':<10} {schedule.total_principal:>14,.2f} "
        f"{schedule.total_interest:>14,.2f} {schedule.total_fees - schedule.upfront_fee:>14,.2f} "
        f"{schedule.total_payment:>14,.2f}"
    )
    click.echo(f"upfront fee {schedule.upfront_fee:,.2f}; total fees {schedule.total_fees:,.2f}")
    click.echo(f"all-in annualized rate (IRR method, compound): {_percent(rate.apr_irr)}")
    click.echo(f"all-in annualized rate (单利 simple):           {_percent(rate.apr_simple)}")


def _percent(rate: Decimal) -> str:
    return f"{rate * 100:.2f} %"
