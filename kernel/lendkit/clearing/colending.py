"""Co-lending: which funder owns which part of every amount of a loan.

A loan is funded by one or more sources with shares summing to 1 (own
funds at least ``[caps] min_own_share``, a tenant setting). Principal and
interest split by share; penalty and fees follow the agreement (by share, or
all to own funds). Splits use :func:`lendkit.clearing.money.split`, so the
parts always add up to the fen.

The functions here only *compute* balanced lines; posting them (with an
idempotency key) is the payment flow's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from lendkit.clearing.ledger import Line
from lendkit.clearing.money import ZERO, money, split

__all__ = [
    "Agreement",
    "Funder",
    "Repayment",
    "accrued",
    "disbursement_confirmed",
    "disbursement_instructed",
    "repayment_allocated",
    "repayment_received",
    "repayment_settled",
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


def _parts(
    amount: Decimal, funders: Sequence[Funder], rule: Rule = "share"
) -> list[tuple[str, Decimal]]:
    if rule == "own":
        return [(OWN, money(amount))]
    if len(funders) == 1:  # most loans: nothing to split
        return [(funders[0].source, money(amount))]
    return [
        (f.source, part)
        for f, part in zip(funders, split(amount, [f.share for f in funders]), strict=True)
        if part
    ]


def disbursement_instructed(
    amount: Decimal, funders: Sequence[Funder], channel: str, loan_id: int
) -> list[Line]:
    """Funds leave the pools for the channel: Dr in transit / Cr each funder's pool."""
    lines = [Line.debit(f"channel_in_transit:{channel}", amount, loan_id=loan_id)]
    lines += [
        Line.credit(f"fund_pool:{source}", part, loan_id=loan_id, source=source)
        for source, part in _parts(amount, funders)
    ]
    return lines


def disbursement_confirmed(
    amount: Decimal, funders: Sequence[Funder], channel: str, loan_id: int
) -> list[Line]:
    """The borrower has the money: Dr principal receivable per funder / Cr in transit."""
    lines = [
        Line.debit("loan_principal", part, loan_id=loan_id, source=source)
        for source, part in _parts(amount, funders)
    ]
    return [*lines, Line.credit(f"channel_in_transit:{channel}", amount, loan_id=loan_id)]


INCOME = {
    "loan_interest": "interest_income",
    "loan_penalty": "penalty_income",
    "loan_fees": "fee_income",
}


def accrued(
    receivable: str,
    amount: Decimal,
    funders: Sequence[Funder],
    loan_id: int,
    rule: Rule = "share",
) -> list[Line]:
    """Interest, penalty or a fee falls due: Dr the receivable per funder; Cr own
    income, or the partner's payable for the partner's part."""
    if rule == "own" or len(funders) == 1:
        # One funder takes it all (most loans, every day of end of day): no split.
        source = OWN if rule == "own" else funders[0].source
        part = money(amount)
        income = INCOME[receivable] if source == OWN else f"partner_payable:{source}"
        return [Line(receivable, part, loan_id, source), Line(income, -part, loan_id, source)]
    lines: list[Line] = []
    for source, part in _parts(amount, funders, rule):
        lines.append(Line.debit(receivable, part, loan_id=loan_id, source=source))
        income = INCOME[receivable] if source == OWN else f"partner_payable:{source}"
        lines.append(Line.credit(income, part, loan_id=loan_id, source=source))
    return lines


def repayment_received(amount: Decimal, channel: str, loan_id: int) -> list[Line]:
    """Cash arrived at the channel, not yet allocated: Dr in transit / Cr suspense."""
    return [
        Line.debit(f"channel_in_transit:{channel}", amount, loan_id=loan_id),
        Line.credit("borrower_suspense", amount, loan_id=loan_id),
    ]


def _components(repayment: Repayment, agreement: Agreement) -> list[tuple[str, Decimal, Rule]]:
    """The non-zero components of a repayment: receivable, amount and split rule."""
    components: list[tuple[str, Decimal, Rule]] = [
        ("loan_principal", repayment.principal, "share"),
        ("loan_interest", repayment.interest, "share"),
        ("loan_penalty", repayment.penalty, agreement.penalty),
        ("loan_fees", repayment.fees, agreement.fees),
    ]
    return [c for c in components if c[1]]


def repayment_allocated(
    repayment: Repayment,
    funders: Sequence[Funder],
    loan_id: int,
    agreement: Agreement = Agreement(),
) -> list[Line]:
    """Suspense applied to the loan's receivables, each component split by funder."""
    lines = [Line.debit("borrower_suspense", repayment.total, loan_id=loan_id)]
    for account, amount, rule in _components(repayment, agreement):
        lines += [
            Line.credit(account, part, loan_id=loan_id, source=s)
            for s, part in _parts(amount, funders, rule)
        ]
    return lines


def repayment_settled(
    repayment: Repayment,
    funders: Sequence[Funder],
    channel: str,
    loan_id: int,
    agreement: Agreement = Agreement(),
) -> list[Line]:
    """The channel pays out: each funder's pool gets exactly its parts back."""
    per_source: dict[str, Decimal] = {}
    for _, amount, rule in _components(repayment, agreement):
        for source, part in _parts(amount, funders, rule):
            per_source[source] = per_source.get(source, ZERO) + part
    lines = [
        Line.debit(f"fund_pool:{s}", part, loan_id=loan_id, source=s)
        for s, part in per_source.items()
    ]
    return [*lines, Line.credit(f"channel_in_transit:{channel}", repayment.total, loan_id=loan_id)]
