"""Loan products a plugin brings and the ledger accounts it posts to."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    pass

__all__ = [
    "ALLOCATION_ORDER",
    "AccountSpec",
    "AccountType",
    "ProductSpec",
]


# The default order a repayment pays in (issue 5); a product may reorder it.
ALLOCATION_ORDER: tuple[str, ...] = (
    "penalty",
    "overdue_interest",
    "overdue_principal",
    "current_interest",
    "current_principal",
)


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """A loan product a plugin offers; the lifecycle prices and books it.

    Amounts are CNY as ``Decimal``; ``annual_rate`` is a fraction
    (``Decimal("0.109")`` for 10.9 %).
    """

    code: str
    name: str
    min_amount: Decimal
    max_amount: Decimal
    terms_months: tuple[int, ...]
    annual_rate: Decimal
    repayment_methods: tuple[str, ...]
    upfront_fee_rate: Decimal = Decimal("0")
    description: str = ""
    instalment_fee: Decimal = Decimal("0")  # CNY on every instalment
    penalty_multiplier: Decimal = Decimal("1.5")  # penalty rate = annual rate × this, capped
    grace_days: int = 0  # days after a due date before an instalment is overdue
    day_count: Literal[360, 365] = 360  # the year of day-count interest (penalty)
    shift_holidays: bool = False  # due dates off public holidays (next working day)
    repayment_day: int | None = None  # a fixed day of the month (1-28): odd first period
    # What a repayment pays first: each step of ALLOCATION_ORDER once (fees go with interest).
    allocation_order: tuple[str, ...] = ALLOCATION_ORDER


# -- The public ledger (the register_accounts hook and lendkit.ledger) --------

AccountType = Literal["asset", "liability", "equity", "income", "expense"]


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account a plugin posts to through :mod:`lendkit.ledger`.

    ``name`` is the account's name within the plugin (lower-case letters,
    digits and ``_``, e.g. ``marketing_expense``); the ledger keeps it as
    ``<plugin>.<name>``, so it can never be a kernel account. ``per`` says
    that the account is kept once per something and names it, e.g.
    ``"borrower"``: postings then name ``referral_payable:<borrower id>``
    (a qualifier of letters, digits, ``_`` or ``-``). ``type`` decides the
    side its balance normally lies on: a debit for asset and expense
    accounts, a credit for the others; ``normal`` overrides it for a contra
    account. With ``no_overdraft``, a posting that would take the balance
    past zero against its normal side is refused, as for the kernel's fund
    pools.
    """

    name: str
    type: AccountType
    name_zh: str
    name_en: str
    per: str | None = None
    normal: Literal["debit", "credit"] | None = None
    no_overdraft: bool = False

    @property
    def debit_normal(self) -> bool:
        if self.normal is not None:
            return self.normal == "debit"
        return self.type in ("asset", "expense")
