"""Every journal line the loan lifecycle posts, built here and nowhere else.

Each builder returns balanced lines (or reads, once, what the journal says
each funder is owed when the split depends on it); posting them under an
idempotency key is the caller's step. End of day's set-based accruals
(:mod:`lendkit.lifecycle.eod`) and reconciliation's fee bookings build
their own batches from :func:`accrued`'s rules.

=========================  =============================  ==============================
movement                   debit                          credit
=========================  =============================  ==============================
disbursement reserved      ``channel_in_transit:c``       ``fund_pool:s`` per funder
disbursement confirmed     ``loan_principal`` per funder  ``channel_in_transit:c``
upfront fee                ``loan_principal`` (own)       ``fee_income``
accrual                    the receivable per funder      own income / partner payable
repayment received         ``channel_in_transit:c``       ``borrower_suspense``
repayment allocated        ``borrower_suspense``          each receivable per funder
repayment settled          ``fund_pool:s`` per funder     ``channel_in_transit:c``
write-off                  ``write_off`` / the partner's  each receivable per funder
recovery                   ``borrower_suspense``          ``recoveries`` / partner capital
recovery settled           ``fund_pool:s`` per funder     ``channel_in_transit:c``
=========================  =============================  ==============================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lendkit.clearing import ledger
from lendkit.clearing.colending import OWN, Funder, Repayment, Rule, split_parts
from lendkit.clearing.ledger import JournalLine, Line
from lendkit.clearing.ledger_pg import on_driver
from lendkit.clearing.money import ZERO, money

__all__ = [
    "INCOME",
    "RECEIVABLES",
    "accrued",
    "disbursement_confirmed",
    "disbursement_instructed",
    "owed_by_source",
    "recovery",
    "repayment",
    "repayment_received",
    "upfront_fee",
    "write_off",
]

# The loan's receivable accounts, in the order a repayment's components are.
RECEIVABLES = ("loan_principal", "loan_interest", "loan_penalty", "loan_fees")
INCOME = {
    "loan_interest": "interest_income",
    "loan_penalty": "penalty_income",
    "loan_fees": "fee_income",
}


def disbursement_instructed(
    amount: Decimal, funders: Sequence[Funder], channel: str, loan_id: int
) -> list[Line]:
    """Funds leave the pools for the channel: Dr in transit / Cr each funder's pool."""
    lines = [Line.debit(f"channel_in_transit:{channel}", amount, loan_id=loan_id)]
    lines += [
        Line.credit(f"fund_pool:{source}", part, loan_id=loan_id, source=source)
        for source, part in split_parts(amount, funders)
    ]
    return lines


def disbursement_confirmed(
    amount: Decimal, funders: Sequence[Funder], channel: str, loan_id: int
) -> list[Line]:
    """The borrower has the money: Dr principal receivable per funder / Cr in transit."""
    lines = [
        Line.debit("loan_principal", part, loan_id=loan_id, source=source)
        for source, part in split_parts(amount, funders)
    ]
    return [*lines, Line.credit(f"channel_in_transit:{channel}", amount, loan_id=loan_id)]


def upfront_fee(amount: Decimal, loan_id: int) -> list[Line]:
    """Own funds only: principal the borrower owes but never received, and our income."""
    return [
        Line.debit("loan_principal", amount, loan_id=loan_id, source=OWN),
        Line.credit("fee_income", amount, loan_id=loan_id, source=OWN),
    ]


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
    for source, part in split_parts(amount, funders, rule):
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


# What each funder is owed on some of a loan's accounts, on PostgreSQL: sent
# through the driver as the ledger sends its postings (on every co-lent
# repayment, SQLAlchemy's execution cost several times the query's own time).
_OWED_PG = """
SELECT a.code, j.source, sum(j.amount)
FROM journal_line j JOIN ledger_account a ON a.id = j.account_id
WHERE j.loan_id = %(loan)s AND a.code = ANY(%(codes)s::varchar[])
GROUP BY a.code, j.source
"""


def owed_by_source(
    session: Session, loan_id: int, accounts: Iterable[str] = RECEIVABLES
) -> dict[str, dict[str, Decimal]]:
    """What the journal says each funder is owed on each of ``accounts`` (one query)."""
    codes = list(accounts)
    if session.get_bind().dialect.name == "postgresql":
        session.flush()  # the driver's SQL bypasses the session
        rows: Iterable[Sequence[Any]] = on_driver(
            session.connection(), _OWED_PG, {"loan": loan_id, "codes": codes}
        )
    else:
        rows = session.connection().execute(
            select(ledger.Account.code, JournalLine.source, func.sum(JournalLine.amount))
            .join(ledger.Account, ledger.Account.id == JournalLine.account_id)
            .where(JournalLine.loan_id == loan_id, ledger.Account.code.in_(codes))
            .group_by(ledger.Account.code, JournalLine.source)
        )
    owed: dict[str, dict[str, Decimal]] = {}
    for code, source, total in rows:
        if source is not None:
            owed.setdefault(code, {})[source] = money(total)
    return owed


def repayment(
    session: Session,
    loan_id: int,
    paid: Repayment,
    channel: str,
    funders: Sequence[Funder] | None = None,
) -> tuple[list[Line], list[Line]]:
    """Suspense to the receivables, then the channel's money back to the funders' pools.

    Each component is shared between funders in proportion to what the
    journal says each is owed on it, not by funding share: daily accruals
    and earlier repayments each round to the fen, so shares would drift a
    fen from the receivables; this way paying a component in full clears
    every funder's part exactly, and no funder's part is ever overpaid. A
    loan of own funds alone (``funders``, when the caller has them) owes
    everything to own funds: the journal is not read. Returns the
    allocation's lines and the settlement's.
    """
    amounts = (paid.principal, paid.interest, paid.penalty, paid.fees)
    components = {a: amount for a, amount in zip(RECEIVABLES, amounts, strict=True) if amount}
    if funders is not None and [f.source for f in funders] == [OWN]:
        owed = {account: {OWN: amount} for account, amount in components.items()}
    else:
        owed = owed_by_source(session, loan_id, components)
    allocated = [Line.debit("borrower_suspense", paid.total, loan_id=loan_id)]
    pools: dict[str, Decimal] = {}
    for account, amount in components.items():
        for source, part in _split_by_owed(amount, owed.get(account, {})):
            allocated.append(Line.credit(account, part, loan_id=loan_id, source=source))
            pools[source] = pools.get(source, ZERO) + part
    return allocated, _settled(pools.items(), paid.total, channel, loan_id)


def _settled(
    parts: Iterable[tuple[str, Decimal]], total: Decimal, channel: str, loan_id: int
) -> list[Line]:
    """The channel pays out: each funder's pool gets exactly its parts back."""
    return [
        *(
            Line.debit(f"fund_pool:{source}", part, loan_id=loan_id, source=source)
            for source, part in parts
        ),
        Line.credit(f"channel_in_transit:{channel}", total, loan_id=loan_id),
    ]


def _split_by_owed(amount: Decimal, owed: dict[str, Decimal]) -> list[tuple[str, Decimal]]:
    """``amount`` in whole fen for each funder in proportion to what it is owed
    (largest remainders get the odd fen): never more than a funder is owed,
    exactly what each is owed when all of it is paid."""
    fen = {source: int(value * 100) for source, value in owed.items() if value > 0}
    total, wanted = sum(fen.values()), int(money(amount) * 100)
    if wanted > total:
        raise ValueError(f"paying {amount} of a receivable of {Decimal(total) / 100}")
    parts = {source: wanted * owed_fen // total for source, owed_fen in fen.items()}
    left = wanted - sum(parts.values())
    for source in sorted(fen, key=lambda s: (-(wanted * fen[s] % total), -fen[s], s))[:left]:
        parts[source] += 1
    return [(source, Decimal(part) / 100) for source, part in parts.items() if part]


def write_off(session: Session, loan_id: int) -> list[Line]:
    """Each funder bears its own part of what is still owed.

    Own funds' receivables go to the ``write_off`` expense; a partner's
    principal comes off its capital and its income parts off what we owe it.
    """
    owed = owed_by_source(session, loan_id)
    lines: list[Line] = []
    for account in RECEIVABLES:
        for source, amount in owed.get(account, {}).items():
            if not amount:
                continue
            if source == OWN:
                other = "write_off"
            elif account == "loan_principal":
                other = f"funding_capital:{source}"
            else:
                other = f"partner_payable:{source}"
            lines += [
                Line.debit(other, amount, loan_id=loan_id, source=source),
                Line.credit(account, amount, loan_id=loan_id, source=source),
            ]
    return lines


def recovery(
    amount: Decimal, funders: Sequence[Funder], channel: str, loan_id: int
) -> tuple[list[Line], list[Line]]:
    """Money collected after a write-off, each funder recovering by its share:
    the recovery's lines and their settlement to the funders' pools."""
    total = money(amount)
    parts = split_parts(total, funders)
    recovered = [
        Line.credit(
            "recoveries" if source == OWN else f"funding_capital:{source}",
            part,
            loan_id=loan_id,
            source=source,
        )
        for source, part in parts
    ]
    return (
        [Line.debit("borrower_suspense", total, loan_id=loan_id), *recovered],
        _settled(parts, total, channel, loan_id),
    )
