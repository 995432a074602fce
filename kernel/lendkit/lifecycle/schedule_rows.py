"""A schedule's rows of monthly interest, computed in integer fen.

The conventions are :mod:`lendkit.lifecycle.schedules`'s; this module is its
period loop, kept apart because it is the hot part (a quote prices dozens
of schedules, the end of day rebuilds them by the thousand).

Inside the loop the balance is an integer of fen and the annual rate its
exact fraction ``n / d``, so a period's interest, ``balance × rate / 12``
half-up to the fen, is ``⌊(2·balance·n + 12·d) / (24·d)⌋``: the half-up
rounding of the exact product. That is what ``Decimal`` quantizing the same
product gives — 28 digits hold a balance under a trillion times a rate of a
dozen significant digits exactly — and past that only this stays exact.

Rows still hold ``Decimal`` amounts with exponent −2, equal to the last digit
to what ``Decimal`` arithmetic gave: ``FEN * n`` makes one from ``n`` fen,
and the other amounts of a row come by exact ``Decimal`` subtraction from
amounts already made, which is cheaper than converting again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from lendkit.clearing.money import FEN, ZERO

__all__ = ["Instalment", "monthly_rows"]


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
    fen: int,
    term: int,
    rate: Decimal,
    method: str,
    payment: int,
    fee: Decimal,
    dues: Sequence[date],
) -> list[Instalment]:
    """The rows of a loan of ``fen`` at ``rate``, for every method but 随借随还.

    ``payment`` is the 等额本息 payment in fen (unused by other methods);
    ``fee`` is each instalment's fee; ``dues`` the due date of each period.
    ``bullet`` is one row at period ``term`` with ``term`` months' interest.
    """
    monthly = _rate(rate)
    if method == "bullet":
        owed, interest = FEN * fen, FEN * monthly.interest(fen * term)
        return [
            _new(Instalment, (term, dues[-1], owed, interest, fee, owed + interest + fee, ZERO))
        ]
    if method == "equal-installment":
        rows = _equal_installment(fen, monthly, payment, fee, dues)
    elif method == "equal-principal":
        rows = _equal_principal(fen, term, monthly, fee, dues)
    else:
        rows = _interest_first(fen, monthly, fee, dues)
    return _clipped(fen, term, monthly, method, payment, fee, dues) if rows is None else rows


def _equal_installment(
    fen: int, monthly: _Rate, payment: int, fee: Decimal, dues: Sequence[date]
) -> list[Instalment] | None:
    """等额本息 rows, or None when a part must be clipped (then see :func:`_clipped`).

    The principal part is ``payment − interest``; no part is clipped when the
    first is not negative (later interest is no larger, the balance only
    falling) and the balance before the last row is not negative (it is the
    smallest). The loop carries ``scaled`` = ``2·n·balance + 12·d``, one
    multiplication a row fewer than the balance itself.
    """
    cent, twice_n, whole = FEN, monthly.twice_n, monthly.whole
    due = cent * payment
    paid, owed = due + fee, cent * fen
    scaled, step = fen * twice_n + monthly.half, payment * twice_n
    if payment < scaled // whole:
        return None
    rows: list[Instalment] = []
    append = rows.append  # locals: the hot loop
    for period, day in enumerate(dues[:-1], start=1):
        accrued = scaled // whole
        scaled += twice_n * accrued - step
        interest = cent * accrued
        principal = due - interest
        owed -= principal
        append(_new(Instalment, (period, day, principal, interest, fee, paid, owed)))
    if owed < 0:
        return None
    interest = cent * (scaled // whole)
    append(
        _new(Instalment, (len(dues), dues[-1], owed, interest, fee, owed + interest + fee, ZERO))
    )
    return rows


def _equal_principal(
    fen: int, term: int, monthly: _Rate, fee: Decimal, dues: Sequence[date]
) -> list[Instalment] | None:
    """等额本金 rows: ``fen ÷ term`` half-up each, the remainder last; None if clipped."""
    level = (2 * fen + term) // (2 * term)
    if level * (term - 1) > fen:  # so small a loan that the rounded parts outrun it
        return None
    cent, twice_n, whole = FEN, monthly.twice_n, monthly.whole
    part = cent * level
    part_paid, owed = part + fee, cent * fen
    scaled, step = fen * twice_n + monthly.half, level * twice_n
    rows: list[Instalment] = []
    append = rows.append
    for period, day in enumerate(dues[:-1], start=1):
        interest = cent * (scaled // whole)
        scaled -= step
        owed -= part
        append(_new(Instalment, (period, day, part, interest, fee, part_paid + interest, owed)))
    interest = cent * (scaled // whole)
    append(_new(Instalment, (term, dues[-1], owed, interest, fee, owed + interest + fee, ZERO)))
    return rows


def _interest_first(
    fen: int, monthly: _Rate, fee: Decimal, dues: Sequence[date]
) -> list[Instalment]:
    """先息后本 rows: the same interest every month, all the principal last."""
    owed, interest = FEN * fen, FEN * monthly.interest(fen)
    paid = interest + fee
    rows = [
        _new(Instalment, (period, day, ZERO, interest, fee, paid, owed))
        for period, day in enumerate(dues[:-1], start=1)
    ]
    rows.append(
        _new(Instalment, (len(dues), dues[-1], owed, interest, fee, owed + interest + fee, ZERO))
    )
    return rows


def _clipped(
    fen: int,
    term: int,
    monthly: _Rate,
    method: str,
    payment: int,
    fee: Decimal,
    dues: Sequence[date],
) -> list[Instalment]:
    """The plain loop, each part clipped into [0, balance]: for the rare loans that need it."""
    level = (2 * fen + term) // (2 * term)
    fee_fen = int(fee * 100)
    balance = fen
    rows = []
    for period, day in enumerate(dues, start=1):
        interest = monthly.interest(balance)
        if period == term:
            part = balance
        elif method == "equal-installment":
            part = min(max(payment - interest, 0), balance)
        else:  # equal-principal
            part = min(level, balance)
        balance -= part
        amounts = (part, interest, fee_fen, part + interest + fee_fen, balance)
        rows.append(Instalment(period, day, *(FEN * amount for amount in amounts)))
    return rows
