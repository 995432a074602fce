"""The ledger for plugins: balanced entries to the accounts a plugin declares.

Part of the public plugin API. A plugin declares its accounts with the
``register_accounts`` hook and posts to them here, in the caller's
transaction (an event hook's ``session``, a route's ``db_session``)::

    from decimal import Decimal
    from lendkit import ledger

    ledger.post(
        session,
        plugin="referrals",
        key=f"rebate:{event.id}",
        memo="1 % referral rebate",
        lines=[
            ledger.debit("rebate_expense", Decimal("120.00")),
            ledger.credit(f"referral_payable:{referrer_id}", Decimal("120.00")),
        ],
    )

Accounts are named as the plugin declared them (``rebate_expense``, or
``referral_payable:<qualifier>`` for an account kept ``per`` something); the
journal keeps them as ``<plugin>.<name>``, so a plugin never reaches a
kernel account (fund pools, loan receivables, income) nor another plugin's.
The kernel's rules hold: an entry has at least two lines, each a non-zero
amount in whole fen, debits (positive) and credits (negative) summing to
zero; an account declared ``no_overdraft`` is never taken past zero. Every
entry is idempotent by ``key``: posting the same key with the same lines
again returns the first entry and posts nothing, with other lines it is
refused (409 ``ledger_key_reused``). The journal is append-only: correct a
mistake with an entry that reverses it, under a key of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

from sqlalchemy.orm import Session

from lendkit.clearing import accounts
from lendkit.clearing import ledger as journal
from lendkit.clearing.money import ZERO
from lendkit.clearing.payments import business_today
from lendkit.errors import ConflictError, ValidationFailed
from lendkit.masking import mask_text

__all__ = ["Entry", "Line", "balance", "credit", "debit", "post"]

_KEY = re.compile(r"[A-Za-z0-9._:-]{1,96}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_QUALIFIER = re.compile(r"[A-Za-z0-9_-]{1,40}")
MAX_LINES: Final = 100
MAX_MEMO: Final = 256


@dataclass(frozen=True, slots=True)
class Line:
    """One line of an entry: ``amount`` CNY, debit when positive, credit when negative,
    on the plugin's ``account`` (its name as declared, with ``:<qualifier>`` if kept per
    something)."""

    account: str
    amount: Decimal


def debit(account: str, amount: Decimal) -> Line:
    """A debit of ``amount`` (positive) to ``account``."""
    return Line(account, amount)


def credit(account: str, amount: Decimal) -> Line:
    """A credit of ``amount`` (positive) to ``account``: a line of ``-amount``."""
    return Line(account, -amount)


@dataclass(frozen=True, slots=True)
class Entry:
    """A posted entry: the journal's ``id``, the plugin's ``key``, its business date,
    memo and lines (accounts named as the plugin declared them)."""

    id: int
    key: str
    business_date: date
    memo: str
    lines: tuple[Line, ...]


def _refused(zh: str, en: str, code: str) -> ValidationFailed:
    return ValidationFailed(f"{zh} / {en}", code=code)


def _code(plugin: str, account: str) -> tuple[str, accounts.AccountKind]:
    """The journal's code of the plugin's ``account``, which it must have declared."""
    name, colon, qualifier = account.partition(":")
    kind = accounts.plugin_kind(f"{plugin}.{name}") if _NAME.fullmatch(name) else None
    if kind is None:
        raise _refused(
            f"插件 {plugin} 未声明账户 {account!r}（register_accounts）",
            f"plugin {plugin!r} declares no account {account!r} (register_accounts)",
            "ledger_account_undeclared",
        )
    if kind.per and not (colon and _QUALIFIER.fullmatch(qualifier)):
        raise _refused(
            f"账户 {name} 按{kind.per}分户，请写作 {name}:<{kind.per}>",
            f"account {name} is kept per {kind.per}: name it {name}:<{kind.per}> "
            "(1 to 40 letters, digits, _ or -)",
            "ledger_account_invalid",
        )
    if not kind.per and colon:
        raise _refused(
            f"账户 {name} 不分户，不能带“:”",
            f"account {name} takes no qualifier",
            "ledger_account_invalid",
        )
    return f"{kind.code}:{qualifier}" if kind.per else kind.code, kind


def _amount(line: Line) -> Decimal:
    amount = line.amount
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise _refused(
            "金额须为 Decimal",
            f"the amount on {line.account} must be a Decimal",
            "ledger_amount_invalid",
        )
    if amount == 0 or amount != amount.quantize(Decimal("0.01")):
        raise _refused(
            "每行金额须非零且至多两位小数",
            f"the amount on {line.account} must be non-zero, in whole fen (0.01)",
            "ledger_amount_invalid",
        )
    return amount


def post(
    session: Session,
    *,
    key: str,
    lines: Sequence[Line],
    memo: str = "",
    plugin: str,
    business_date: date | None = None,
) -> Entry:
    """Post a balanced entry to ``plugin``'s own accounts, once per ``key``.

    ``key`` (1 to 96 letters, digits or ``._:-``) is the plugin's idempotency
    key, unique within the plugin; ``business_date`` defaults to today in
    China. Returns the entry (the first one, when ``key`` was posted before
    with the same lines). Raises 422 ``unbalanced_entry``,
    ``ledger_account_undeclared``, ``ledger_account_invalid``,
    ``ledger_amount_invalid``, ``insufficient_funds`` (a ``no_overdraft``
    account), or 409 ``ledger_key_reused``; nothing is posted then, even if
    the caller catches the error and its transaction commits.
    """
    if not _KEY.fullmatch(key):
        raise _refused(
            "记账幂等键须为 1 至 96 个字母、数字或 . _ : -",
            "the key must be 1 to 96 letters, digits or . _ : -",
            "ledger_key_invalid",
        )
    if not 2 <= len(lines) <= MAX_LINES:
        raise _refused(
            f"一笔分录须有 2 至 {MAX_LINES} 行",
            f"an entry needs 2 to {MAX_LINES} lines",
            "unbalanced_entry",
        )
    posted: list[journal.Line] = []
    for line in lines:
        code, _ = _code(plugin, line.account)
        posted.append(journal.Line(code, _amount(line)))
    total = sum((line.amount for line in posted), ZERO)
    if total != ZERO:
        raise _refused(
            f"借贷不平（差额 {total}）",
            f"debits and credits do not balance (off by {total})",
            "unbalanced_entry",
        )
    try:
        # A savepoint: a refused entry (an overdraft is found after writing) leaves
        # nothing behind even when the plugin catches the error and goes on.
        with session.begin_nested():
            entry = journal.post(
                session,
                business_date=business_date or business_today(),
                idempotency_key=f"plugin:{plugin}:{key}",
                cause=f"plugin:{plugin}",
                memo=mask_text(memo)[:MAX_MEMO],
                lines=posted,
            )
    except ConflictError:
        raise ConflictError(
            f"幂等键 {key!r} 已用于另一笔分录 / the key {key!r} was used for another entry",
            code="ledger_key_reused",
        ) from None
    except ValidationFailed as exc:
        if exc.code != "insufficient_funds":
            raise
        raise _refused(
            "该分录将使不可透支的账户余额为负",
            "the entry would overdraw an account that may not be overdrawn",
            "insufficient_funds",
        ) from None
    prefix = f"{plugin}."
    return Entry(
        id=entry.id,
        key=key,
        business_date=entry.business_date,
        memo=entry.memo,
        lines=tuple(
            Line(line.account.code.removeprefix(prefix), line.amount) for line in entry.lines
        ),
    )


def balance(session: Session, *, plugin: str, account: str) -> Decimal:
    """The balance of one of ``plugin``'s accounts, positive on its normal side
    (a debit for asset and expense accounts, a credit for the others)."""
    code, kind = _code(plugin, account)
    amount = journal.balance(session, code)
    return amount if kind.debit_normal else -amount
