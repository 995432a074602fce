"""A schedule's rows, computed in integer fen and made ``Decimal`` when read.

The conventions are :mod:`lendkit.lifecycle.schedules`'s; this module is its
period loop, kept apart because it is the hot part (a quote prices dozens
of schedules, the end of day rebuilds them by the thousand).

Inside the loop the balance is an integer of fen and the annual rate its
exact fraction ``n / d``, so a period's interest, ``balance × rate / 12``
half-up to the fen, is ``⌊(2·balance·n + 12·d) / (24·d)⌋``: the half-up
rounding of the exact product. That is what ``Decimal`` quantizing the same
product gives — 28 digits hold a balance under a trillion times a rate of a
dozen significant digits exactly — and past that only this stays exact.

A schedule keeps these integers (:data:`FenRow`): they are the exact amounts,
and what a quote needs of them (totals, the cash flows of the annualized
rate) it reads from them. The ``Decimal`` rows a contract, a loan's booking
or an API response shows are made from them once, on first read
(:func:`decimal_rows`); ``FEN * n`` gives each amount with exponent −2, equal
to the last digit to what ``Decimal`` arithmetic gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from lendkit.clearing.money import FEN

__all__ = ["FenRow", "Instalment", "decimal_rows", "monthly_rows"]

# principal, interest, fee, payment, balance of one instalment, in fen.
FenRow = tuple[int, int, int, int, int]


class Instalment(NamedTuple):
    """One row of a schedule; amounts are CNY at the fen.

    ``payment`` = ``principal`` + ``interest`` + ``fee``; ``balance`` is the
    principal still owed after this instalment is paid. (A named tuple, not a
    dataclass: schedules are built by the ten thousand a second.)
    """

    period: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    payment: Decimal
    balance: Decimal

    def as_strings(self) -> dict[str, int | str]:
        """The row as JSON-ready values: amounts as decimal strings."""
        return {
            "period": self.period,
            "due_date": self.due_date.isoformat(),
            "principal": str(self.principal),
            "interest": str(self.interest),
            "fee": str(self.fee),
            "payment": str(self.payment),
            "balance": str(self.balance),
        }


# Rows are made with ``tuple.__new__``: the named tuple's own ``__new__`` is a
# Python function, which would add a third to a row's cost.
_new = tuple.__new__


def decimal_rows(rows: Sequence[FenRow], dues: Sequence[date]) -> tuple[Instalment, ...]:
    """``rows`` as :class:`Instalment` rows, the last due on the last of ``dues``.

    A schedule of fewer rows than periods (a bullet, 随借随还) has its rows
    at the end of the term: row ``i`` of ``n`` is period ``term − n + 1 + i``.
    """
    cent = FEN
    first = len(dues) - len(rows)
    fee_fen, fee = -1, cent
    paid_fen, paid = -1, cent
    # The balance by subtraction, as the loan pays it down: cheaper than converting.
    owed = cent * (rows[0][0] + rows[0][4]) if rows else cent
    made: list[Instalment] = []
    append = made.append
    for index, (principal, interest, each, payment, _) in enumerate(rows, start=first):
        if each != fee_fen:  # the same fee and payment most rows: one Decimal each
            fee_fen, fee = each, cent * each
        if payment != paid_fen:
            paid_fen, paid = payment, cent * payment
        part = cent * principal
        owed -= part
        append(_new(Instalment, (index + 1, dues[index], part, cent * interest, fee, paid, owed)))
    return tuple(made)


class _Rate(NamedTuple):
    """An annual rate ``n / d`` as the integers of the monthly interest formula."""

    twice_n: int  # 2·n
    half: int  # 12·d: half the divisor, to round half-up
    whole: int  # 24·d

    def interest(self, fen: int) -> int:
        """A month's interest on ``fen``, half-up to the fen."""
        return (fen * self.twice_n + self.half) // self.whole


@lru_cache(maxsize=256)
def _rate(rate: Decimal) -> _Rate:
    """Cached: the integer ratio costs more than the look-up, and a product has one rate."""
    numerator, denominator = rate.as_integer_ratio()
    return _Rate(2 * numerator, 12 * denominator, 24 * denominator)


def monthly_rows(
    fen: int, term: int, rate: Decimal, method: str, payment: int, fee: int
) -> list[FenRow]:
    """The rows of a loan of ``fen`` at ``rate``, for every method but 随借随还.

    ``payment`` is the 等额本息 payment in fen (unused by other methods);
    ``fee`` is each instalment's fee in fen. ``bullet`` is one row, period
    ``term``, with ``term`` months' interest.
    """
    monthly = _rate(rate)
    if method == "bullet":
        interest = monthly.interest(fen * term)
        return [(fen, interest, fee, fen + interest + fee, 0)]
    if method == "equal-installment":
        rows = _equal_installment(fen, term, monthly, payment, fee)
    elif method == "equal-principal":
        rows = _equal_principal(fen, term, monthly, fee)
    else:
        rows = _interest_first(fen, term, monthly, fee)
    return _clipped(fen, term, monthly, method, payment, fee) if rows is None else rows


def _equal_installment(
    fen: int, term: int, monthly: _Rate, payment: int, fee: int
) -> list[FenRow] | None:
    """等额本息 rows, or None when a part must be clipped (then see :func:`_clipped`).

    The principal part is ``payment − interest``; no part is clipped when the
    first is not negative (later interest is no larger, the balance only
    falling) and the balance before the last row is not negative (it is the
    smallest). The loop carries ``scaled`` = ``2·n·balance + 12·d``, one
    multiplication a row fewer than the balance itself.
    """
    twice_n, whole = monthly.twice_n, monthly.whole
    paid, owed = payment + fee, fen
    scaled, step = fen * twice_n + monthly.half, payment * twice_n
    if payment < scaled // whole:
        return None
    rows: list[FenRow] = []
    append = rows.append  # locals: the hot loop
    for _ in range(term - 1):
        interest = scaled // whole
        scaled += twice_n * interest - step
        owed -= payment - interest
        append((payment - interest, interest, fee, paid, owed))
    if owed < 0:
        return None
    interest = scaled // whole
    append((owed, interest, fee, owed + interest + fee, 0))
    return rows


def _equal_principal(fen: int, term: int, monthly: _Rate, fee: int) -> list[FenRow] | None:
    """等额本金 rows: ``fen ÷ term`` half-up each, the remainder last; None if clipped."""
    level = (2 * fen + term) // (2 * term)
    if level * (term - 1) > fen:  # so small a loan that the rounded parts outrun it
        return None
    twice_n, whole = monthly.twice_n, monthly.whole
    part_paid, owed = level + fee, fen
    scaled, step = fen * twice_n + monthly.half, level * twice_n
    rows: list[FenRow] = []
    append = rows.append
    for _ in range(term - 1):
        interest = scaled // whole
        scaled -= step
        owed -= level
        append((level, interest, fee, part_paid + interest, owed))
    interest = scaled // whole
    append((owed, interest, fee, owed + interest + fee, 0))
    return rows


def _interest_first(fen: int, term: int, monthly: _Rate, fee: int) -> list[FenRow]:
    """先息后本 rows: the same interest every month, all the principal last."""
    interest = monthly.interest(fen)
    rows: list[FenRow] = [(0, interest, fee, interest + fee, fen)] * (term - 1)
    rows.append((fen, interest, fee, fen + interest + fee, 0))
    return rows


def _clipped(
    fen: int, term: int, monthly: _Rate, method: str, payment: int, fee: int
) -> list[FenRow]:
    """The plain loop, each part clipped into [0, balance]: for the rare loans that need it."""
    level = (2 * fen + term) // (2 * term)
    balance = fen
    rows: list[FenRow] = []
    for period in range(1, term + 1):
        interest = monthly.interest(balance)
        if period == term:
            part = balance
        elif method == "equal-installment":
            part = min(max(payment - interest, 0), balance)
        else:  # equal-principal
            part = min(level, balance)
        balance -= part
        rows.append((part, interest, fee, part + interest + fee, balance))
    return rows
