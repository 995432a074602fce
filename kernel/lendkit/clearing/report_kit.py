"""What every daily report shares: the day's journal read, and tables out as CSV, XLSX, HTML.

A report is its rows, read from the journal of one business date, and its
layout: the tables it writes (:class:`Table`, named columns, one row per
record) and an HTML template under ``templates/reports/``, which a tenant
(``templates/reports/<name>.html`` beside its ``lendkit.toml``) or a plugin
overrides through the template loader chain (:mod:`lendkit.templating`).

A journal line is classified by the accounts on the *other* side of its
entry; a reversing entry like the entry it reverses (its amounts net
against it): :class:`DayLines` says both.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from lendkit.clearing.ledger_models import Account, JournalEntry, JournalLine
from lendkit.clearing.money import ZERO, money

if TYPE_CHECKING:
    from openpyxl import Workbook

    from lendkit.runtime import Runtime

__all__ = [
    "COMPONENTS",
    "Dated",
    "DayLines",
    "LoanMoves",
    "Table",
    "add",
    "balances_before",
    "day_lines",
    "kind",
    "pool_column",
    "qualifier",
    "render_html",
    "to_csv",
    "to_xlsx",
]

# A loan receivable's account kind and the component of a repayment it holds.
COMPONENTS = {
    "loan_principal": "principal",
    "loan_interest": "interest",
    "loan_penalty": "penalty",
    "loan_fees": "fees",
}


@dataclass(kw_only=True)
class LoanMoves:
    """A funder's part of the day's loan business: disbursed (net of reversals) and
    the repayments allocated to it by component. What was repaid (settled back to
    its pool) is each report's own column."""

    disbursed: Decimal = ZERO
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    penalty: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def collected(self) -> Decimal:
        """Everything the borrowers paid the funder today (allocated to its parts)."""
        return self.principal + self.interest + self.penalty + self.fees


def kind(code: str) -> str:
    """``fund_pool`` of ``fund_pool:own``."""
    return code.partition(":")[0]


def qualifier(code: str) -> str:
    """``own`` of ``fund_pool:own``."""
    return code.partition(":")[2]


def add(row: object, column: str, amount: Decimal) -> None:
    """Add ``amount`` to the row's ``column``."""
    setattr(row, column, getattr(row, column) + amount)


# -- Reading the day's journal --------------------------------------------------------


def balances_before(
    session: Session, day: date, accounts: ColumnElement[bool]
) -> dict[str, Decimal]:
    """Each account's balance (debit positive) at the start of ``day``, of the
    accounts ``accounts`` selects, from the journal's lines."""
    rows = session.execute(
        select(Account.code, func.coalesce(func.sum(JournalLine.amount), 0))
        .join(JournalLine, JournalLine.account_id == Account.id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.business_date < day, accounts)
        .group_by(Account.code)
    )
    return {code: money(total) for code, total in rows}


@dataclass(frozen=True, slots=True)
class DayLines:
    """The lines of one business date: ``(entry id, account code, amount, source,
    loan id)``, with what is needed to classify them."""

    lines: Sequence[tuple[int, str, Decimal, str | None, int | None]]
    kinds: dict[int, set[str]]  # entry id: the account kinds on its lines
    reversals: set[int]  # ids of the reversing entries among them

    def others(self, entry_id: int, code: str) -> set[str]:
        """The account kinds on the other side of the line's entry."""
        return self.kinds[entry_id] - {kind(code)}

    def original(self, entry_id: int, amount: Decimal) -> Decimal:
        """The sign the line would have in the original entry (reversals net against it)."""
        return -amount if entry_id in self.reversals else amount


def day_lines(
    session: Session, business_date: date, relevant: ColumnElement[bool] | None = None
) -> DayLines:
    """The day's lines (only those ``relevant`` selects, if given), in posting order."""
    on_the_day = JournalEntry.business_date == business_date
    where = on_the_day if relevant is None else on_the_day & relevant
    rows = session.execute(
        select(
            JournalLine.entry_id,
            Account.code,
            JournalLine.amount,
            JournalLine.source,
            JournalLine.loan_id,
        )
        .join(Account, Account.id == JournalLine.account_id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(where)
        .order_by(JournalLine.id)
    ).all()
    lines = [(entry, code, money(raw), source, loan) for entry, code, raw, source, loan in rows]
    kinds: dict[int, set[str]] = defaultdict(set)
    if relevant is None:  # every line of the day: each entry's lines are all here
        entries = select(JournalEntry.id).where(on_the_day)
        for entry_id, code, *_ in lines:
            kinds[entry_id].add(kind(code))
    else:
        entries = (
            select(JournalLine.entry_id)
            .join(Account, Account.id == JournalLine.account_id)
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(where)
        )
        for entry_id, code in session.execute(
            select(JournalLine.entry_id, Account.code)
            .join(Account, Account.id == JournalLine.account_id)
            .where(JournalLine.entry_id.in_(entries))
        ):
            kinds[entry_id].add(kind(code))
    reversals = set(
        session.scalars(
            select(JournalEntry.id).where(
                JournalEntry.id.in_(entries), JournalEntry.reverses_id.is_not(None)
            )
        )
    )
    return DayLines(lines, kinds, reversals)


def pool_column(others: set[str], original: Decimal) -> tuple[str, int]:
    """Which movement of a fund pool a line of it is, and the sign it adds with:
    ``disbursed`` (out to a channel) or ``repaid`` (back from one), ``partner_paid``
    (paid to a partner against its payable), ``capital``, ``other``."""
    if "channel_in_transit" in others:
        return ("disbursed", -1) if original < 0 else ("repaid", 1)
    if "partner_payable" in others:
        return "partner_paid", -1
    if "funding_capital" in others:
        return "capital", 1
    return "other", 1


# -- Output ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Table:
    """One table of a report: a sheet of the workbook, a block of the CSV."""

    title: str  # the sheet's name
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


def _cell(value: object) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if isinstance(value, Decimal) else str(value)


def to_csv(business_date: date, tables: Sequence[Table]) -> str:
    """The tables one after the other, each with its header row, after an empty
    line; a UTF-8 byte-order mark first so spreadsheet programs read the Chinese
    names right. Amounts at the fen."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["business_date", business_date.isoformat()])
    for table in tables:
        writer.writerow([])
        writer.writerow(table.columns)
        for row in table.rows:
            writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def to_xlsx(tables: Sequence[Table], decorate: Callable[[Workbook], None] | None = None) -> bytes:
    """One sheet a table, the header row frozen, amounts as numbers formatted to
    the fen; ``decorate`` may add to the book (a chart) before it is saved."""
    from openpyxl import Workbook

    book = Workbook()
    first = book.active
    assert first is not None
    for number, table in enumerate(tables):
        sheet = first if number == 0 else book.create_sheet()
        sheet.title = table.title
        sheet.append(list(table.columns))
        for row in table.rows:
            sheet.append(list(row))
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, Decimal):
                    cell.number_format = "#,##0.00"
        sheet.freeze_panes = "A2"
    if decorate is not None:
        decorate(book)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class Dated(Protocol):
    @property
    def business_date(self) -> date: ...


def render_html(runtime: Runtime, template: str, report: Dated, **context: Any) -> str:
    """``template`` (``reports/<name>.html``) rendered with the ``report``, its
    ``day`` (ISO date) and ``context``, looked up tenant first, then plugins,
    then the kit's ``templates/``."""
    from lendkit.templating import make_environment

    env = make_environment(runtime.settings, runtime.pm)
    day = report.business_date.isoformat()
    return env.get_template(template).render(report=report, day=day, **context)
