"""The chart of accounts, as data.

An account code is a kind, optionally qualified by a funding source or a
channel: ``fund_pool:own``, ``channel_in_transit:sandbox``,
``loan_principal``. Amounts on journal lines are signed: a debit is
positive, a credit negative. Asset and expense accounts normally carry debit
balances; liability, equity and income accounts credit balances.

Plugins add kinds of their own (the ``register_accounts`` hook), named
``<plugin>.<name>``: the dot keeps them apart from the kernel's kinds, which
have none, so a plugin's account can never be one of the kernel's. The
runtime registers them when it opens (:func:`register_plugin_kinds`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "CHART",
    "AccountKind",
    "AccountType",
    "account_code",
    "describe",
    "is_plugin_kind",
    "kind_of",
    "plugin_kind",
    "register_plugin_kinds",
]


@dataclass(frozen=True, slots=True)
class AccountKind:
    """A kind of account in the chart: its code, names, type and the rules it keeps."""

    code: str
    name_zh: str
    name_en: str
    type: AccountType
    per: str | None = None  # "source" or "channel": one account each
    # A posting that would take the balance below zero is refused.
    no_overdraft: bool = False
    # ...and that holds for each loan's part (its lines with that loan id) and
    # for the part without a loan: so the whole never goes below zero either,
    # and postings for different loans do not wait for each other.
    by_loan: bool = False
    # A contra account's side, when it is not the type's (plugins' accounts only).
    normal_debit: bool | None = None

    @property
    def debit_normal(self) -> bool:
        if self.normal_debit is not None:
            return self.normal_debit
        return self.type in (AccountType.ASSET, AccountType.EXPENSE)


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"


CHART: tuple[AccountKind, ...] = (
    AccountKind(
        "fund_pool", "资金池", "Fund pool", AccountType.ASSET, per="source", no_overdraft=True
    ),
    AccountKind(
        "channel_in_transit", "通道在途资金", "Channel in transit", AccountType.ASSET, per="channel"
    ),
    AccountKind(
        "loan_principal",
        "应收贷款本金",
        "Loans receivable: principal",
        AccountType.ASSET,
        no_overdraft=True,
        by_loan=True,
    ),
    AccountKind(
        "loan_interest",
        "应收利息",
        "Loans receivable: interest",
        AccountType.ASSET,
        no_overdraft=True,
        by_loan=True,
    ),
    AccountKind(
        "loan_penalty",
        "应收罚息",
        "Loans receivable: penalty",
        AccountType.ASSET,
        no_overdraft=True,
        by_loan=True,
    ),
    AccountKind(
        "loan_fees",
        "应收费用",
        "Loans receivable: fees",
        AccountType.ASSET,
        no_overdraft=True,
        by_loan=True,
    ),
    AccountKind("interest_income", "利息收入", "Interest income", AccountType.INCOME),
    AccountKind("penalty_income", "罚息收入", "Penalty income", AccountType.INCOME),
    AccountKind("fee_income", "手续费收入", "Fee income", AccountType.INCOME),
    AccountKind(
        "borrower_suspense",
        "借款人溢缴款",
        "Borrower overpayment / suspense",
        AccountType.LIABILITY,
    ),
    AccountKind(
        "partner_payable", "应付合作机构款", "Partner payable", AccountType.LIABILITY, per="source"
    ),
    AccountKind(
        "funding_capital", "资金来源", "Funding provided", AccountType.EQUITY, per="source"
    ),
    AccountKind("marketing_expense", "营销费用", "Marketing expense", AccountType.EXPENSE),
    # What payment channels charge us (their statements' fee column), booked by
    # reconciliation against the channel's account; see reconcile.book_fees.
    AccountKind("channel_fee_expense", "通道手续费", "Channel fees", AccountType.EXPENSE),
    AccountKind("write_off", "贷款核销", "Write-off", AccountType.EXPENSE),
    AccountKind("recoveries", "核销后收回", "Recoveries after write-off", AccountType.INCOME),
)
_BY_CODE = {kind.code: kind for kind in CHART}
# Kinds the enabled plugins declare, "<plugin>.<name>" -> kind (register_plugin_kinds).
_PLUGIN_KINDS: dict[str, AccountKind] = {}


def is_plugin_kind(kind: str) -> bool:
    """Whether ``kind`` (an account code without its qualifier) is named like a plugin's."""
    return "." in kind


def register_plugin_kinds(kinds: Iterable[AccountKind]) -> None:
    """Add plugins' kinds to the chart of this process (declared again: replaced)."""
    for kind in kinds:
        if not is_plugin_kind(kind.code):
            raise ValueError(f"plugin account kind {kind.code!r} is not <plugin>.<name>")
        _PLUGIN_KINDS[kind.code] = kind


def plugin_kind(kind: str) -> AccountKind | None:
    """The plugin's kind ``<plugin>.<name>`` (no qualifier), if an enabled plugin declares it."""
    return _PLUGIN_KINDS.get(kind)


def describe(code: str) -> AccountKind | None:
    """The kind of ``code``, or None for one nobody declares now (a disabled plugin's)."""
    try:
        return kind_of(code)
    except ValueError:
        return None


def kind_of(code: str) -> AccountKind:
    """The kind of an account code such as ``fund_pool:own``."""
    kind, _, qualifier = code.partition(":")
    found = _BY_CODE.get(kind) or _PLUGIN_KINDS.get(kind)
    if found is None:
        raise ValueError(f"unknown account {code!r}")
    if bool(qualifier) != bool(found.per):
        need = f"a {found.per} after ':'" if found.per else "no qualifier"
        raise ValueError(f"account {code!r}: {kind} takes {need}")
    return found


def account_code(kind: str, qualifier: str | None = None) -> str:
    code = f"{kind}:{qualifier}" if qualifier else kind
    kind_of(code)
    return code
