"""The daily partner settlement statement (合作机构结算单).

A co-lending partner funds its share of each loan from its pool
(``fund_pool:<source>``); repayments bring its share of every component back
to that pool (``postings.repayment``). Principal returned there is
the partner's capital, back in its pool. Its share of interest, penalty and
fees is *not our income*: it is credited to ``partner_payable:<source>`` when
it accrues (``postings.accrued``), and we owe it to the partner once the
borrower has paid it.

The statement reads one business date of the journal, per partner:

* **the day's business** — the partner's part of disbursements reserved
  (net of reversals), of repayments allocated by component (principal,
  interest, penalty, fees) and of repayments settled back to its pool, with
  one detail line per loan;
* **what we owe** — ``partner_payable:<source>``: opening, accrued,
  **paid** (settlements against the payable), other, closing; and **due**,
  the income the borrowers have paid that the partner has not been paid yet
  (collected interest, penalty and fees since the beginning, less every
  settlement). The rest of the payable (``uncollected``) is accrued but not
  yet collected, and is not paid out;
* **the partner's pool** — ``fund_pool:<source>``: opening, disbursed,
  repaid, capital, paid to the partner, other, closing.

Lines are classified like the fund-flow report's: by the accounts on the
other side of their entry, a reversal like the entry it reverses. The
statement **reconciles**: both closings must equal the ledger's trial
balance of that date (and the kept balances when nothing was posted after
it), and the loan lines must add up to the totals; ``problems`` says what
does not, and the command exits 1.

Paying the partner is :mod:`lendkit.clearing.partner_payouts`; the output
(CSV, XLSX, HTML) is laid out with :mod:`lendkit.clearing.report_kit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from lendkit.clearing import report_kit
from lendkit.clearing.funding import FundingSource
from lendkit.clearing.ledger_models import Account, JournalEntry, JournalLine
from lendkit.clearing.ledger_queries import balance, trial_balance
from lendkit.clearing.money import ZERO, money
from lendkit.clearing.report_kit import COMPONENTS, LoanMoves, Table, add, kind, qualifier
from lendkit.errors import NotFoundError

if TYPE_CHECKING:
    from collections.abc import Callable

    from lendkit.runtime import Runtime

__all__ = [
    "LOAN_COLUMNS",
    "SUMMARY_COLUMNS",
    "LoanDetail",
    "PartnerStatement",
    "SettlementReport",
    "due",
    "partner_settlement",
    "to_csv",
    "to_html",
    "to_xlsx",
]

INCOME_RECEIVABLES = ("loan_interest", "loan_penalty", "loan_fees")


@dataclass
class LoanDetail(LoanMoves):
    """One loan's movements for one partner on the day (the partner's parts only;
    ``repaid``: settled back to the partner's pool)."""

    source: str
    loan_id: int | None
    repaid: Decimal = ZERO
    accrued: Decimal = ZERO  # interest, penalty and fees credited to the payable


@dataclass
class PartnerStatement(LoanMoves):
    """One partner's statement: the day's business with its loans (the fields
    of :class:`LoanMoves`), what we owe it, its pool."""

    source: str
    name: str
    repaid: Decimal = ZERO  # settled back to its pool
    # What we owe: partner_payable:<source>, a liability shown credit-positive.
    payable_opening: Decimal = ZERO
    accrued: Decimal = ZERO
    paid: Decimal = ZERO
    payable_other: Decimal = ZERO
    payable_closing: Decimal = ZERO
    due_opening: Decimal = ZERO
    due: Decimal = ZERO  # collected income not yet paid, at the end of the day
    # The partner's pool: fund_pool:<source>, an asset (debit-positive).
    pool_opening: Decimal = ZERO
    capital: Decimal = ZERO
    pool_paid: Decimal = ZERO  # left the pool to pay the partner
    pool_other: Decimal = ZERO
    pool_closing: Decimal = ZERO
    # The ledger's own balances at the end of the day, to reconcile against.
    ledger_payable: Decimal = ZERO
    ledger_pool: Decimal = ZERO
    loans: list[LoanDetail] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def income(self) -> Decimal:
        """The partner's interest, penalty and fees collected today."""
        return self.interest + self.penalty + self.fees

    @property
    def uncollected(self) -> Decimal:
        """Accrued to the partner but not yet paid by the borrowers."""
        return self.payable_closing - self.due

    @property
    def ties(self) -> bool:
        return not self.problems


@dataclass
class SettlementReport:
    business_date: date
    partners: list[PartnerStatement] = field(default_factory=list)

    @property
    def ties(self) -> bool:
        return all(p.ties for p in self.partners)

    @property
    def problems(self) -> list[str]:
        return [f"{p.source}: {problem}" for p in self.partners for problem in p.problems]


# -- Reading the journal -------------------------------------------------------------


def _has_sibling(condition: Callable[[Any], ColumnElement[bool]]) -> ColumnElement[bool]:
    """The line's entry also has a line on an account matching ``condition``."""
    sibling = aliased(JournalLine)
    account = aliased(Account)
    return (
        select(sibling.id)
        .join(account, account.id == sibling.account_id)
        .where(sibling.entry_id == JournalLine.entry_id, condition(account))
        .exists()
    )


def _income_collected(session: Session, sources: list[str], before: date) -> dict[str, Decimal]:
    """Each partner's interest, penalty and fees allocated from borrowers' payments."""
    rows = session.execute(
        select(JournalLine.source, func.coalesce(func.sum(JournalLine.amount), 0))
        .join(Account, Account.id == JournalLine.account_id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(
            JournalEntry.business_date < before,
            JournalLine.source.in_(sources),
            Account.code.in_(INCOME_RECEIVABLES),
            _has_sibling(lambda a: a.code == "borrower_suspense"),
        )
        .group_by(JournalLine.source)
    )
    return {str(source): -money(total) for source, total in rows}


def _paid(session: Session, sources: list[str], before: date | None) -> dict[str, Decimal]:
    """Each partner's payable settled against a fund pool (debits: paid out)."""
    query = (
        select(Account.code, func.coalesce(func.sum(JournalLine.amount), 0))
        .join(JournalLine, JournalLine.account_id == Account.id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(
            Account.code.in_([f"partner_payable:{s}" for s in sources]),
            _has_sibling(lambda a: a.code.like("fund\\_pool:%", escape="\\")),
        )
        .group_by(Account.code)
    )
    if before is not None:
        query = query.where(JournalEntry.business_date < before)
    return {qualifier(code): money(total) for code, total in session.execute(query)}


def due(session: Session, source: str, business_date: date) -> Decimal:
    """What may be paid to ``source`` on ``business_date``: its income the borrowers
    had paid by the end of that day, less every settlement already posted (of any
    date, so that settling a past day again cannot pay twice)."""
    collected = _income_collected(session, [source], business_date + timedelta(days=1))
    return collected.get(source, ZERO) - _paid(session, [source], None).get(source, ZERO)


def _partners(session: Session, source: str | None) -> list[FundingSource]:
    query = select(FundingSource).where(FundingSource.kind == "partner").order_by(FundingSource.id)
    if source is not None:
        query = query.where(FundingSource.code == source)
    found = list(session.scalars(query))
    if source is not None and not found:
        raise NotFoundError(f"no partner funding source {source!r}", code="unknown_partner")
    return found


# The pool's columns named otherwise than report_kit.pool_column's movements.
POOL_MOVES = {"partner_paid": "pool_paid", "other": "pool_other"}


def partner_settlement(
    session: Session, business_date: date, source: str | None = None
) -> SettlementReport:
    """The statement of ``business_date`` for every partner (or one), reconciled.

    Raises :class:`NotFoundError` (``unknown_partner``) when ``source`` is not a
    partner funding source.
    """
    partners = _partners(session, source)
    report = SettlementReport(business_date)
    if not partners:
        return report
    codes = [p.code for p in partners]
    pools = {f"fund_pool:{c}": c for c in codes}
    payables = {f"partner_payable:{c}": c for c in codes}
    statements = {p.code: PartnerStatement(p.code, p.name) for p in partners}
    loans: dict[tuple[str, int | None], LoanDetail] = {}

    def loan(code: str, loan_id: int | None) -> LoanDetail:
        if (code, loan_id) not in loans:
            loans[code, loan_id] = LoanDetail(code, loan_id)
        return loans[code, loan_id]

    opening = report_kit.balances_before(
        session, business_date, Account.code.in_([*pools, *payables])
    )
    collected_before = _income_collected(session, codes, business_date)
    paid_before = _paid(session, codes, business_date)
    for code, st in statements.items():
        st.pool_opening = opening.get(f"fund_pool:{code}", ZERO)
        st.payable_opening = -opening.get(f"partner_payable:{code}", ZERO)
        st.due_opening = collected_before.get(code, ZERO) - paid_before.get(code, ZERO)

    relevant = or_(
        Account.code.in_([*pools, *payables]),
        and_(JournalLine.source.in_(codes), Account.code.in_(list(COMPONENTS))),
    )
    day = report_kit.day_lines(session, business_date, relevant)
    for entry_id, code, amount, funder, loan_id in day.lines:
        others = day.others(entry_id, code)
        if code in pools:
            st = statements[pools[code]]
            column, sign = report_kit.pool_column(others, day.original(entry_id, amount))
            add(st, POOL_MOVES.get(column, column), sign * amount)
            if column in ("disbursed", "repaid"):
                add(loan(st.source, loan_id), column, sign * amount)
        elif code in payables:
            st = statements[payables[code]]
            if others & set(INCOME_RECEIVABLES):
                st.accrued -= amount
                loan(st.source, loan_id).accrued -= amount
            elif "fund_pool" in others:
                st.paid += amount
            else:
                st.payable_other -= amount
        elif kind(code) in COMPONENTS and "borrower_suspense" in others and funder in statements:
            # A repayment allocated to this partner's part of a receivable (a credit).
            for row in (statements[str(funder)], loan(str(funder), loan_id)):
                add(row, COMPONENTS[kind(code)], -amount)

    trial = dict(trial_balance(session, business_date).rows)
    for code, st in statements.items():
        st.payable_closing = st.payable_opening + st.accrued - st.paid + st.payable_other
        st.pool_closing = (
            st.pool_opening - st.disbursed + st.repaid + st.capital - st.pool_paid + st.pool_other
        )
        st.due = st.due_opening + st.income - st.paid
        st.ledger_payable = -trial.get(f"partner_payable:{code}", ZERO)
        st.ledger_pool = trial.get(f"fund_pool:{code}", ZERO)
        st.loans = sorted(
            (d for (s, _), d in loans.items() if s == code),
            key=lambda d: (d.loan_id is None, d.loan_id or 0),
        )
        st.problems = _problems(session, st, business_date)
        report.partners.append(st)
    return report


LOAN_SUMS = ("disbursed", "principal", "interest", "penalty", "fees", "repaid", "accrued")


def _problems(session: Session, st: PartnerStatement, day: date) -> list[str]:
    """Where the statement does not agree with the ledger (empty: it reconciles)."""
    found: list[str] = []
    checks = (
        (f"partner_payable:{st.source}", st.payable_closing, st.ledger_payable, -1),
        (f"fund_pool:{st.source}", st.pool_closing, st.ledger_pool, 1),
    )
    for code, closing, trial, sign in checks:
        if closing != trial:
            found.append(f"{code}: the statement closes at {closing}, the journal at {trial}")
        if not _posted_after(session, code, day):
            kept = sign * balance(session, code)
            if kept != closing:
                found.append(f"{code}: the statement closes at {closing}, kept balance is {kept}")
    for name in LOAN_SUMS:
        total = sum((getattr(d, name) for d in st.loans), ZERO)
        if total != getattr(st, name):
            found.append(f"{name}: loan lines add up to {total}, the total is {getattr(st, name)}")
    return found


def _posted_after(session: Session, code: str, day: date) -> bool:
    later = session.scalar(
        select(JournalLine.id)
        .join(Account, Account.id == JournalLine.account_id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(Account.code == code, JournalEntry.business_date > day)
        .limit(1)
    )
    return later is not None


# -- Output ------------------------------------------------------------------------

# The day's business, as LoanMoves holds it, for a partner and for each loan.
BUSINESS_COLUMNS = ["disbursed", "principal", "interest", "penalty", "fees", "collected", "repaid"]
SUMMARY_COLUMNS = [
    "source",
    "name",
    *BUSINESS_COLUMNS,
    "payable_opening",
    "accrued",
    "paid",
    "payable_other",
    "payable_closing",
    "due_opening",
    "due",
    "uncollected",
    "pool_opening",
    "capital",
    "pool_paid",
    "pool_other",
    "pool_closing",
    "ledger_payable",
    "ledger_pool",
    "reconciled",
]
LOAN_COLUMNS = ["source", "loan_id", *BUSINESS_COLUMNS, "accrued"]


def _summary_row(st: PartnerStatement) -> list[Any]:
    return [
        ("yes" if st.ties else "NO") if name == "reconciled" else getattr(st, name)
        for name in SUMMARY_COLUMNS
    ]


def _tables(report: SettlementReport) -> list[Table]:
    """The partners' summaries, then the loan lines."""
    return [
        Table("结算汇总 Summary", SUMMARY_COLUMNS, [_summary_row(st) for st in report.partners]),
        Table(
            "贷款明细 Loans",
            LOAN_COLUMNS,
            [
                [getattr(detail, name) for name in LOAN_COLUMNS]
                for st in report.partners
                for detail in st.loans
            ],
        ),
    ]


def to_csv(report: SettlementReport) -> str:
    """Two tables, the partners' summaries then the loan lines, like the fund-flow
    report (see :func:`report_kit.to_csv`)."""
    return report_kit.to_csv(report.business_date, _tables(report))


def to_xlsx(report: SettlementReport) -> bytes:
    """The same two tables as sheets, amounts as numbers formatted to the fen."""
    return report_kit.to_xlsx(_tables(report))


TEMPLATE = "reports/partner_settlement.html"


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def to_html(report: SettlementReport, runtime: Runtime) -> str:
    """The statement as one HTML page, laid out by
    ``templates/reports/partner_settlement.html`` (a tenant may override it)."""
    return report_kit.render_html(runtime, TEMPLATE, report, money=_money)
