"""Co-lending: which funder owns which part of every amount of a loan.

A loan is funded by one or more sources with shares summing to 1 (own
funds at least ``[caps] min_own_share``, a tenant setting). Principal and
interest split by share; penalty and fees follow the agreement (by share, or
all to own funds). Splits use :func:`lendkit.clearing.money.split`, so the
parts always add up to the fen.

The journal lines that carry these splits are built in
:mod:`lendkit.clearing.postings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from lendkit.clearing.money import ZERO, money, split

__all__ = [
    "OWN",
    "Agreement",
    "Funder",
    "Repayment",
    "split_parts",
    "validate_funders",
]

OWN = "own"
Rule = Literal["share", "own"]  # split by funder share, or all to own funds


@dataclass(frozen=True, slots=True)
class Funder:
    source: str  # funding source code; "own" for the lender's own funds
    share: Decimal


@dataclass(frozen=True, slots=True)
class Agreement:
    """How components other than principal and interest are shared."""

    penalty: Rule = "share"
    fees: Rule = "own"


@dataclass(frozen=True, slots=True)
class Repayment:
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    penalty: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.penalty + self.fees


def validate_funders(funders: Sequence[Funder], min_own_share: Decimal) -> None:
    if sum(f.share for f in funders) != 1 or any(f.share <= 0 for f in funders):
        raise ValueError("funder shares must be positive and sum to 1")
    own = sum((f.share for f in funders if f.source == OWN), ZERO)
    if own < min_own_share:
        raise ValueError(
            f"own funds must carry at least {min_own_share:.0%} of a loan, not {own:.0%}"
        )


def split_parts(
    amount: Decimal, funders: Sequence[Funder], rule: Rule = "share"
) -> list[tuple[str, Decimal]]:
    """Each funder's part of ``amount`` (by share, or all to own funds), to the fen."""
    if rule == "own":
        return [(OWN, money(amount))]
    if len(funders) == 1:  # most loans: nothing to split
        return [(funders[0].source, money(amount))]
    return [
        (f.source, part)
        for f, part in zip(funders, split(amount, [f.share for f in funders]), strict=True)
        if part
    ]
