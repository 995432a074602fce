"""Repayment schedules: the default conventions of issue 5, item 3, exactly.

* Monthly rate = annual rate ÷ 12 (never rounded).
* Each period's interest = the balance × the monthly rate, rounded half-up to
  the fen (:func:`lendkit.clearing.money.money`).
* ``equal-installment`` (等额本息): the payment is the annuity payment rounded
  half-up to the fen; principal = payment − interest; the last period's
  principal is whatever balance remains (so its payment may differ slightly).
* ``equal-principal`` (等额本金): principal = principal ÷ n rounded half-up,
  the last period takes the remainder. (For a loan so small that the rounded
  part times n − 1 would exceed it, a part is clipped at the balance left.)
* ``interest-first`` (先息后本): interest every period, all principal in the last.
* ``bullet`` (到期一次还本付息): one payment at the end of the term of principal
  + interest for the whole term, ``principal × monthly rate × n`` rounded once.
  Its only row has ``period`` = n: a row's ``period`` is always the number of
  months from disbursement to its due date.
* ``draw-repay`` (随借随还): repay any time, interest by day count on the
  balance actually outstanding (end of day accrues it). The schedule is the
  quote's: one row at the end of the term of principal + the whole term's
  interest, ``principal × annual rate × days ÷ day_count`` (360 or 365)
  rounded once; the loan's own row starts with no interest and grows daily.
* Due dates fall on the disbursement day-of-month, clipped to the month's last
  day (a loan of 31 January is due 28 February, then 31 March).
* Fees: an upfront fee (deducted from what the borrower receives) and an
  optional fee on every instalment, included in that instalment's payment.

Amounts come in and go out as ``Decimal``; the annuity factor is computed in
a decimal context at high precision, and a float is refused wherever money
comes in. Inside the period loop (:mod:`lendkit.lifecycle.schedule_rows`)
amounts are integers of fen and the rate an exact fraction: the same half-up
results as ``Decimal`` arithmetic, several times faster (a quote prices
dozens of schedules).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import lru_cache
from typing import Final, Literal, get_args

from lendkit.clearing.money import FEN, ZERO, money
from lendkit.errors import ValidationFailed
from lendkit.lifecycle.schedule_rows import FenRow, Instalment, decimal_rows, monthly_rows
from lendkit.lifecycle.workdays import next_working_day

__all__ = [
    "MAX_AMOUNT",
    "MAX_TERM_MONTHS",
    "METHODS",
    "Instalment",
    "Method",
    "Schedule",
    "annuity_payment",
    "build_schedule",
    "due_date",
]

Method = Literal["equal-installment", "equal-principal", "interest-first", "bullet", "draw-repay"]
DAY_COUNTS: Final = (360, 365)
METHODS: Final[tuple[Method, ...]] = get_args(Method)

# 50 years: anything longer is a typo, not a loan.
MAX_TERM_MONTHS: Final = 600
# No amount (principal or fee) is a trillion CNY or more.
MAX_AMOUNT: Final = Decimal("1e12")
_MONTH_DAYS: Final = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Precision of the intermediate annuity arithmetic (far above the fen).
_PRECISION: Final = 40
# That precision as a context of its own: no context switch per call.
_WIDE: Final = Context(prec=_PRECISION)
_HUNDRED: Final = Decimal(100)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A loan's repayment schedule and the terms it was built from.

    The amounts are kept as integers of fen (``fen_rows``, exact); ``rows``
    gives them as :class:`Instalment` rows of ``Decimal``, made on first read
    (a quote reads only totals and payments, a booking every row).
    """

    principal: Decimal
    term: int
    annual_rate: Decimal
    method: Method
    start: date
    upfront_fee: Decimal
    instalment_fee: Decimal
    fen_rows: tuple[FenRow, ...]
    # Every period's due date, 1..term (a one-row schedule's row is due on the last).
    due_dates: tuple[date, ...]
    # With a fixed repayment day, the first period is odd: this many days.
    first_period_days: int | None = None
    _rows: tuple[Instalment, ...] | None = field(
        default=None, init=False, compare=False, repr=False
    )

    @property
    def rows(self) -> tuple[Instalment, ...]:
        rows = self._rows
        if rows is None:  # made once; two threads racing here make equal rows
            rows = decimal_rows(self.fen_rows, self.due_dates)
            object.__setattr__(self, "_rows", rows)
        return rows

    def _total(self, column: int) -> Decimal:
        return FEN * sum(row[column] for row in self.fen_rows)

    @property
    def total_principal(self) -> Decimal:
        return self._total(0)

    @property
    def total_interest(self) -> Decimal:
        return self._total(1)

    @property
    def total_fees(self) -> Decimal:
        """The upfront fee plus every instalment's fee."""
        return self.upfront_fee + self._total(2)

    @property
    def total_payment(self) -> Decimal:
        """What the borrower pays back in instalments (the upfront fee not included)."""
        return self._total(3)

    @property
    def net_disbursed(self) -> Decimal:
        """What the borrower actually receives: principal − upfront fee."""
        return self.principal - self.upfront_fee


def due_date(start: date, months: int) -> date:
    """``start`` moved ``months`` months on, its day clipped to the month's last day.

    Always counted from ``start`` (not from the previous due date), so a loan
    of 31 January is due 28 (or 29) February, then 31 March.
    """
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last = 29 if month == 2 and calendar.isleap(year) else _MONTH_DAYS[month]
    return date(year, month, min(start.day, last))


def annuity_payment(principal: Decimal, monthly_rate: Decimal, term: int) -> Decimal:
    """The 等额本息 payment ``P·r / (1 − (1 + r)^−n)``, rounded half-up to the fen."""
    wide = _WIDE
    if monthly_rate == 0:
        exact = wide.divide(principal, term)
    else:
        exact = wide.divide(
            wide.multiply(principal, monthly_rate), _annuity_divisor(monthly_rate, term)
        )
    return exact.quantize(FEN, ROUND_HALF_UP, wide)


@lru_cache(maxsize=1024)
def _annuity_divisor(monthly_rate: Decimal, term: int) -> Decimal:
    """``1 − (1 + r)^−n`` at 40 digits, the costly part of an annuity payment.

    Cached: it depends only on the rate and the term, which a product's
    loans share; the payment's own arithmetic around it is unchanged.
    """
    wide = _WIDE
    return wide.subtract(1, wide.power(wide.add(1, monthly_rate), -term))


@lru_cache(maxsize=256)
def _monthly_rate(annual_rate: Decimal) -> Decimal:
    """``annual_rate`` ÷ 12 at 40 digits (cached like the divisor: a product's rate)."""
    return _WIDE.divide(annual_rate, 12)


def build_schedule(
    principal: Decimal | int | str,
    term: int,
    annual_rate: Decimal | int | str,
    method: Method | str,
    *,
    start: date,
    upfront_fee: Decimal | int | str = ZERO,
    instalment_fee: Decimal | int | str = ZERO,
    shift_holidays: bool = False,
    day_count: int = 360,
    repayment_day: int | None = None,
) -> Schedule:
    """The schedule of a loan of ``principal`` disbursed on ``start``.

    With ``repayment_day`` (1–28) every instalment falls due on that day of
    the month, the first in the month after ``start``: the first period is
    odd, and its interest is by day count (balance × annual rate × days ÷
    ``day_count``) instead of a month's; a bullet's or 随借随还's whole term
    is by day count too.

    With ``shift_holidays`` a due date on a public holiday or weekend moves
    to the next working day (:mod:`lendkit.lifecycle.workdays`); amounts do
    not change (interest is monthly).

    ``annual_rate`` is a fraction (``Decimal("0.109")`` for 10.9 %). Raises
    :class:`~lendkit.errors.ValidationFailed` for terms it cannot price: a
    non-positive principal, a term outside 1..600 months, a negative rate or
    fee, an unknown method, or an upfront fee that leaves nothing to lend.
    """
    amount = _amount("principal", principal)
    if amount <= ZERO:
        raise _invalid("principal", "本金必须大于零", "the principal must be more than zero")
    if isinstance(term, bool) or not isinstance(term, int) or not 1 <= term <= MAX_TERM_MONTHS:
        raise _invalid(
            "term",
            f"期限须为 1 至 {MAX_TERM_MONTHS} 个月",
            f"the term must be 1 to {MAX_TERM_MONTHS} months",
        )
    rate = _decimal("annual_rate", annual_rate)
    if rate < ZERO:
        raise _invalid("annual_rate", "年利率不能为负", "the annual rate must not be negative")
    if method not in METHODS:
        raise _invalid(
            "method",
            f"未知的还款方式 {method!r}",
            f"unknown repayment method {method!r}; one of {', '.join(METHODS)}",
        )
    fee_upfront = _amount("upfront_fee", upfront_fee)
    fee_each = _amount("instalment_fee", instalment_fee)
    if fee_upfront < ZERO or fee_each < ZERO:
        raise _invalid("fee", "费用不能为负", "fees must not be negative")
    if fee_upfront >= amount:
        raise _invalid(
            "upfront_fee",
            "前置费用不能达到或超过本金",
            "the upfront fee must be less than the principal",
        )

    if day_count not in DAY_COUNTS:
        raise _invalid("day_count", "计息天数须为 360 或 365", "the day count must be 360 or 365")
    if repayment_day is not None and not 1 <= repayment_day <= 28:
        raise _invalid(
            "repayment_day", "还款日须为每月 1 至 28 日", "the repayment day must be 1 to 28"
        )

    dues = _due_dates(start, term, repayment_day, shift_holidays)
    first_days = None if repayment_day is None else (_due_on(start, 1, repayment_day) - start).days

    def by_days(days: int) -> Decimal:
        return money(amount * rate * days / day_count)

    fen, fee_fen = _to_fen(amount), _to_fen(fee_each)
    if method == "draw-repay" or (method == "bullet" and repayment_day is not None):
        interest = _to_fen(by_days((_due_on(start, term, repayment_day) - start).days))
        rows = [(fen, interest, fee_fen, fen + interest + fee_fen, 0)]
    else:
        if method == "equal-installment":
            payment = _to_fen(annuity_payment(amount, _monthly_rate(rate), term))
        else:
            payment = 0
        rows = monthly_rows(fen, term, rate, method, payment, fee_fen)
        if first_days is not None:  # the odd first period
            principal, _, _, _, balance = rows[0]
            interest = _to_fen(by_days(first_days))
            rows[0] = (principal, interest, fee_fen, principal + interest + fee_fen, balance)
    # Positional: ten keywords would cost a tenth of a 36-month schedule.
    fields = (
        amount,
        term,
        rate,
        method,
        start,
        fee_upfront,
        fee_each,
        tuple(rows),
        dues,
        first_days,
    )
    return Schedule(*fields)


def _due_on(start: date, period: int, repayment_day: int | None) -> date:
    """Period ``period``'s due date: :func:`due_date`, or on ``repayment_day``."""
    if repayment_day is None:
        return due_date(start, period)
    return due_date(start.replace(day=1), period).replace(day=repayment_day)


@lru_cache(maxsize=256)
def _due_dates(
    start: date, term: int, repayment_day: int | None, shift_holidays: bool
) -> tuple[date, ...]:
    """Every period's due date, 1..``term``, moved off holidays if asked.

    Cached: all the quotes and loans of a day share their start date and a
    few terms, and the holiday look-up is the slowest step of a schedule.
    """
    day = start.day if repayment_day is None else repayment_day
    year, month = start.year, start.month
    dues = []
    for _ in range(term):  # month by month: what due_date() gives, a step at a time
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if day > 28:
            last = 29 if month == 2 and calendar.isleap(year) else _MONTH_DAYS[month]
            dues.append(date(year, month, min(day, last)))
        else:
            dues.append(date(year, month, day))
    return tuple(map(next_working_day, dues)) if shift_holidays else tuple(dues)


def _to_fen(value: Decimal) -> int:
    """A whole-fen ``Decimal`` as an integer number of fen (exact)."""
    return int(value * _HUNDRED)


_LABELS: Final = {
    "principal": "本金",
    "annual_rate": "年利率",
    "upfront_fee": "前置费用",
    "instalment_fee": "每期费用",
}


def _decimal(name: str, value: Decimal | int | str) -> Decimal:
    if type(value) is Decimal:  # the usual case; a Decimal is immutable, no copy needed
        result = value
    elif isinstance(value, float | bool):
        raise TypeError(f"{name} is never a float; pass a Decimal, int or str")
    else:
        try:
            result = Decimal(value)
        except ArithmeticError:
            raise _invalid(
                name, f"{_LABELS[name]}不是数字", f"{name} is not a number: {value!r}"
            ) from None
    if not result.is_finite():
        raise _invalid(name, f"{_LABELS[name]}须为有限数", f"{name} must be a finite number")
    return result


def _amount(name: str, value: Decimal | int | str) -> Decimal:
    """A money amount: a finite number with at most two decimals (whole fen)."""
    if value is ZERO:  # the fees' default
        return ZERO
    result = _decimal(name, value)
    if abs(result) >= MAX_AMOUNT:
        raise _invalid(
            name, f"{_LABELS[name]}金额过大", f"{name} must be less than {int(MAX_AMOUNT):,}"
        )
    whole = result.quantize(FEN, ROUND_HALF_UP)  # = money(), without its checks
    if result != whole:
        raise _invalid(
            name, f"{_LABELS[name]}最多两位小数", f"{name} must be a whole number of fen (0.01)"
        )
    return whole


def _invalid(field: str, zh: str, en: str) -> ValidationFailed:
    return ValidationFailed(f"{zh} / {en}", code=f"invalid_{field}")
