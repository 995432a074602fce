"""Pricing: the all-in annualized rate, both ways, and the tenant's cap.

PBOC Announcement 〔2021〕No. 3 asks every offer to show its annualized rate
counting all the borrower's costs (interest and fees) over the principal
actually in use. The cash flows are the net amount received at month 0
(principal − upfront fee, negative: the lender pays it out) and each
instalment's payment (fees included) at its month. Their monthly IRR, solved
in ``Decimal`` to 1e-12 and better, gives:

* ``apr_irr`` = (1 + IRR)^12 − 1 — the compound (IRR method) figure;
* ``apr_simple`` = IRR × 12 — the simple figure, to be labelled 单利.

Both are rounded half-up to 4 decimals (0.1358 is 13.58 %). The tenant's cap
(settings ``caps.annual_rate``, 24 % by default) is checked on ``apr_irr``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import TYPE_CHECKING, Any, Final

from lendkit.clock import china_today
from lendkit.errors import ValidationFailed
from lendkit.lifecycle.schedules import Method, Schedule, build_schedule

if TYPE_CHECKING:
    from lendkit.settings import Settings

__all__ = [
    "DEFAULT_RATE_CAP",
    "AnnualizedRate",
    "Quote",
    "annualized_rate",
    "annualized_rate_of",
    "check_rate_cap",
    "monthly_irr",
    "quote",
    "rate_cap_breach",
]

DEFAULT_RATE_CAP: Final = Decimal("0.24")
RATE_PLACES: Final = Decimal("0.0001")

_PRECISION: Final = 40
_TOLERANCE: Final = Decimal("1e-15")
_MAX_ITERATIONS: Final = 200


@dataclass(frozen=True, slots=True)
class AnnualizedRate:
    """An offer's all-in annualized rate; ``monthly_irr`` is unrounded."""

    monthly_irr: Decimal
    apr_irr: Decimal
    apr_simple: Decimal


def monthly_irr(outlay: Decimal, inflows: Sequence[tuple[Decimal | int, Decimal]]) -> Decimal:
    """The monthly rate r with ``outlay = Σ amount / (1 + r)^month`` over ``inflows``.

    ``outlay`` is what the borrower receives at month 0 (positive);
    ``inflows`` are (month > 0, amount ≥ 0) pairs (months may be fractional: an odd
    first period). Newton's method, kept
    inside a bisection bracket, in a 40-digit decimal context; the root is
    unique because every inflow is later than the outlay and non-negative.
    """
    if outlay <= 0:
        raise ValueError("the outlay must be positive")
    flows = [(month, amount) for month, amount in inflows if amount != 0]
    if any(month <= 0 for month, _ in flows) or any(amount < 0 for _, amount in flows):
        raise ValueError("inflows must be non-negative and come after month 0")
    if not flows:
        raise ValueError("nothing is ever paid back")
    with localcontext() as ctx:
        ctx.prec = _PRECISION

        def npv_and_slope(rate: Decimal) -> tuple[Decimal, Decimal]:
            base = 1 + rate
            value = -outlay
            slope = Decimal(0)
            for month, amount in flows:
                discounted = amount / base**month
                value += discounted
                slope -= month * discounted / base
            return value, slope

        # npv falls as the rate rises: find a bracket [low, high] around its zero.
        low, high = Decimal("-0.999999"), Decimal(1)
        while npv_and_slope(high)[0] > 0:
            low, high = high, high * 2
        rate = Decimal(0) if low < 0 < high else (low + high) / 2
        for _ in range(_MAX_ITERATIONS):
            value, slope = npv_and_slope(rate)
            if value == 0:
                break
            if value > 0:
                low = rate
            else:
                high = rate
            step = value / slope if slope else Decimal(0)
            candidate = rate - step
            if not low < candidate < high:
                candidate = (low + high) / 2
            if abs(candidate - rate) < _TOLERANCE:
                rate = candidate
                break
            rate = candidate
        return +rate


def annualized_rate_of(
    outlay: Decimal, inflows: Sequence[tuple[Decimal | int, Decimal]]
) -> AnnualizedRate:
    """The annualized rate, both ways, of money received and paid back monthly."""
    irr = monthly_irr(outlay, inflows)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        compound = (1 + irr) ** 12 - 1
        simple = irr * 12
    return AnnualizedRate(monthly_irr=irr, apr_irr=_places(compound), apr_simple=_places(simple))


def _places(rate: Decimal) -> Decimal:
    """``rate`` half-up to 4 decimals, with digits enough for any size of rate."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION + max(0, rate.adjusted())
        return rate.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def annualized_rate(schedule: Schedule) -> AnnualizedRate:
    """The all-in annualized rate of a schedule: upfront and instalment fees included.

    Cash flows are timed in months from disbursement; an odd first period
    counts its days as months of 365 / 12 days, the periods after it whole
    months, so the borrower's cost is neither over- nor understated.
    """
    odd = schedule.first_period_days
    if odd is None:
        timed: list[tuple[Decimal | int, Decimal]] = [
            (row.period, row.payment) for row in schedule.rows
        ]
    else:
        first = Decimal(odd) * 12 / 365
        timed = [(first + row.period - 1, row.payment) for row in schedule.rows]
    return annualized_rate_of(schedule.net_disbursed, timed)


def check_rate_cap(
    rate: AnnualizedRate, settings: Settings | None = None, on: date | None = None
) -> None:
    """Refuse an offer whose ``apr_irr`` is above the tenant's cap.

    The cap is ``settings.caps.rate_cap(on)``: the fixed ``annual_rate``
    (24 % without settings), or a multiple of the LPR in force on ``on``
    (today by default). The comparison is on the disclosed figure (4
    decimals): an offer shown at exactly the cap passes. Raises
    :class:`~lendkit.errors.ValidationFailed` with code ``rate_above_cap``
    (or ``rate_cap_unknown`` when no LPR was published by that date).
    """
    if settings is None:
        cap = DEFAULT_RATE_CAP
    else:
        try:
            cap = settings.caps.rate_cap(on or china_today())
        except LookupError as exc:
            raise ValidationFailed(
                f"上限利率未知：{exc} / the rate cap is unknown: {exc}", code="rate_cap_unknown"
            ) from None
    if rate.apr_irr > cap:
        shown, limit = _percent(rate.apr_irr), _percent(cap)
        raise ValidationFailed(
            f"综合年化利率 {shown} 超过上限 {limit} / "
            f"the all-in annualized rate {shown} is above the cap of {limit}",
            code="rate_above_cap",
        )


def rate_cap_breach(
    rate: AnnualizedRate, settings: Settings | None, *, on: date
) -> tuple[str, str] | None:
    """The Chinese and English halves of :func:`check_rate_cap`'s refusal; None within the cap.

    For callers that refuse in their own words (``rate_cap_unknown`` still raises).
    """
    try:
        check_rate_cap(rate, settings, on=on)
    except ValidationFailed as exc:
        if exc.code != "rate_above_cap":
            raise
        zh, _, en = exc.detail.partition(" / ")
        return zh, en
    return None


@dataclass(frozen=True, slots=True)
class Quote:
    """A priced offer: the schedule and its annualized rate."""

    schedule: Schedule
    rate: AnnualizedRate

    def as_json(self) -> dict[str, Any]:
        """The offer as JSON-ready values: amounts and rates as decimal strings."""
        return {
            "schedule": [row.as_strings() for row in self.schedule.rows],
            "total_interest": str(self.schedule.total_interest),
            "total_fees": str(self.schedule.total_fees),
            "apr_irr": str(self.rate.apr_irr),
            "apr_simple": str(self.rate.apr_simple),
        }


def quote(
    principal: Decimal | int | str,
    term: int,
    annual_rate: Decimal | int | str,
    method: Method | str,
    *,
    start: date,
    upfront_fee: Decimal | int | str = Decimal("0"),
    instalment_fee: Decimal | int | str = Decimal("0"),
    shift_holidays: bool = False,
    day_count: int = 360,
    repayment_day: int | None = None,
) -> Quote:
    """Build the schedule and price it (no cap check: see :func:`check_rate_cap`)."""
    schedule = build_schedule(
        principal,
        term,
        annual_rate,
        method,
        start=start,
        upfront_fee=upfront_fee,
        instalment_fee=instalment_fee,
        shift_holidays=shift_holidays,
        day_count=day_count,
        repayment_day=repayment_day,
    )
    return Quote(schedule=schedule, rate=annualized_rate(schedule))


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)} %"
