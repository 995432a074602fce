"""The daily fund-flow report (资金流水报表): per funding source and per channel.

Everything is read from the journal of one business date, so the report
always ties to the ledger: for each fund pool and each channel account,
*opening + the day's movements = closing*, exactly, and any movement that
fits no column is shown as "other" rather than dropped.

A journal line is classified by the accounts on the *other* side of its
entry; a reversing entry is classified like the entry it reverses (its
amounts net against it).

Fund pool (``fund_pool:<source>``):

* **disbursed** — out to a channel for disbursements (reservations, net of
  reversals);
* **repaid** — back from a channel (repayments settled to the funder);
  ``principal``, ``interest``, ``penalty``, ``fees`` break down what was
  allocated to this funder's receivables that day;
* **partner settlements** — paid to the partner against its payable;
* **capital** — funds put in or taken out;
* **other** — anything else (corrections).

Channel (``channel_in_transit:<channel>``): reserved (from pools), paid out
(to borrowers), collected (from borrowers), settled (back to pools), fees
booked (the channel's fees, posted by reconciliation against
``channel_fee_expense``), other; ``channel_fees`` are the fees on the
statement of the day's latest reconciliation, for comparison: once that
reconciliation has run, the two are equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lendkit.clearing import report_kit
from lendkit.clearing.funding import FundingSource
from lendkit.clearing.ledger_models import Account
from lendkit.clearing.money import ZERO, money
from lendkit.clearing.reconcile.models import ReconRun
from lendkit.clearing.report_kit import COMPONENTS, LoanMoves, Table, add, kind, qualifier

if TYPE_CHECKING:
    from openpyxl import Workbook

    from lendkit.runtime import Runtime

__all__ = ["ChannelFlow", "FundFlow", "PoolFlow", "fund_flow", "to_csv", "to_html", "to_xlsx"]


@dataclass
class PoolFlow(LoanMoves):
    """One fund pool's day; the day's loan business in the fields of :class:`LoanMoves`."""

    source: str
    name: str
    opening: Decimal = ZERO
    repaid: Decimal = ZERO
    partner_settlements: Decimal = ZERO
    capital: Decimal = ZERO
    other: Decimal = ZERO
    closing: Decimal = ZERO

    @property
    def moved(self) -> Decimal:
        """The day's movements, net: ``closing - opening`` when it ties."""
        return self.repaid + self.capital + self.other - self.disbursed - self.partner_settlements

    @property
    def ties(self) -> bool:
        return self.opening + self.moved == self.closing


@dataclass
class ChannelFlow:
    channel: str
    opening: Decimal = ZERO
    reserved: Decimal = ZERO
    paid_out: Decimal = ZERO
    collected: Decimal = ZERO
    settled: Decimal = ZERO
    fees_booked: Decimal = ZERO
    other: Decimal = ZERO
    closing: Decimal = ZERO
    channel_fees: Decimal = ZERO

    @property
    def moved(self) -> Decimal:
        """The day's movements, net: ``closing - opening`` when it ties."""
        in_ = self.reserved + self.collected + self.other
        return in_ - self.paid_out - self.settled - self.fees_booked

    @property
    def ties(self) -> bool:
        return self.opening + self.moved == self.closing


@dataclass
class FundFlow:
    business_date: date
    pools: list[PoolFlow] = field(default_factory=list)
    channels: list[ChannelFlow] = field(default_factory=list)

    @property
    def ties(self) -> bool:
        return all(p.ties for p in self.pools) and all(c.ties for c in self.channels)


# The pool's columns named otherwise than report_kit.pool_column's movements.
POOL_MOVES = {"partner_paid": "partner_settlements"}


def fund_flow(session: Session, business_date: date) -> FundFlow:
    """The report for one business date, read from the journal."""
    opening = report_kit.balances_before(
        session,
        business_date,
        Account.code.like("fund\\_pool:%", escape="\\")
        | Account.code.like("channel\\_in\\_transit:%", escape="\\"),
    )
    day = report_kit.day_lines(session, business_date)
    names = {s.code: s.name for s in session.scalars(select(FundingSource))}
    pools: dict[str, PoolFlow] = {}
    channels: dict[str, ChannelFlow] = {}

    def pool(source: str) -> PoolFlow:
        if source not in pools:
            pools[source] = PoolFlow(source, names.get(source, source))
        return pools[source]

    def channel(name: str) -> ChannelFlow:
        if name not in channels:
            channels[name] = ChannelFlow(name)
        return channels[name]

    for code, balance in opening.items():
        (pool if kind(code) == "fund_pool" else channel)(qualifier(code)).opening = balance
    for source in names:
        pool(source)

    for entry_id, code, amount, funder, _ in day.lines:
        others = day.others(entry_id, code)
        if kind(code) == "fund_pool":
            column, sign = report_kit.pool_column(others, day.original(entry_id, amount))
            add(pool(qualifier(code)), POOL_MOVES.get(column, column), sign * amount)
        elif kind(code) == "channel_in_transit":
            movement = channel(qualifier(code))
            if "fund_pool" in others:
                if day.original(entry_id, amount) > 0:
                    movement.reserved += amount
                else:
                    movement.settled -= amount
            elif "loan_principal" in others:
                movement.paid_out -= amount
            elif "borrower_suspense" in others:
                movement.collected += amount
            elif "channel_fee_expense" in others:
                movement.fees_booked -= amount
            else:
                movement.other += amount
        elif kind(code) in COMPONENTS and "borrower_suspense" in others and funder:
            # Allocation of a repayment to this funder's receivable (a credit).
            add(pool(funder), COMPONENTS[kind(code)], -amount)

    for flow in pools.values():
        flow.closing = flow.opening + flow.moved
    fees = _channel_fees(session, business_date)
    for name, total in fees.items():
        channel(name).channel_fees = total
    for movement in channels.values():
        movement.closing = movement.opening + movement.moved
    return FundFlow(
        business_date,
        sorted(pools.values(), key=lambda p: (p.source != "own", p.source)),
        sorted(channels.values(), key=lambda c: c.channel),
    )


def _channel_fees(session: Session, day: date) -> dict[str, Decimal]:
    """Fees on the statement of each channel's latest reconciliation of the day
    (the statement whose fees the books follow: see reconcile.book_fees)."""
    latest = (
        select(func.max(ReconRun.id))
        .where(ReconRun.business_date == day)
        .group_by(ReconRun.channel)
    )
    rows = session.execute(select(ReconRun.channel, ReconRun.fees).where(ReconRun.id.in_(latest)))
    return {name: money(total) for name, total in rows}


# -- Output ----------------------------------------------------------------------

POOL_COLUMNS = [
    "source",
    "name",
    "opening",
    "disbursed",
    "repaid",
    "principal",
    "interest",
    "penalty",
    "fees",
    "partner_settlements",
    "capital",
    "other",
    "closing",
]
CHANNEL_COLUMNS = [f.name for f in fields(ChannelFlow)]


def _tables(report: FundFlow) -> list[Table]:
    return [
        Table(
            "资金来源 Funding sources",
            POOL_COLUMNS,
            [[getattr(pool, name) for name in POOL_COLUMNS] for pool in report.pools],
        ),
        Table(
            "通道 Channels",
            CHANNEL_COLUMNS,
            [[getattr(channel, name) for name in CHANNEL_COLUMNS] for channel in report.channels],
        ),
    ]


def to_csv(report: FundFlow) -> str:
    """Two tables, funding sources then channels (see :func:`report_kit.to_csv`)."""
    return report_kit.to_csv(report.business_date, _tables(report))


def to_xlsx(report: FundFlow) -> bytes:
    """The same two tables as sheets, amounts as numbers at the fen, and a bar
    chart of each source's money out and in for the day."""

    def chart(book: Workbook) -> None:
        from openpyxl.chart import BarChart, Reference

        if not report.pools:
            return
        pools = book.worksheets[0]
        bars = BarChart()
        bars.title = f"资金流水 {report.business_date.isoformat()}"
        last = len(report.pools) + 1
        for column in ("disbursed", "repaid"):
            index = POOL_COLUMNS.index(column) + 1
            bars.add_data(
                Reference(pools, min_col=index, min_row=1, max_row=last), titles_from_data=True
            )
        bars.set_categories(Reference(pools, min_col=1, min_row=2, max_row=last))
        pools.add_chart(bars, f"A{last + 3}")

    return report_kit.to_xlsx(_tables(report), chart)


TEMPLATE = "reports/fund_flow.html"


def _chart(report: FundFlow) -> str:
    """Inline SVG: the day's money out (disbursed) and in (repaid) per funding source."""
    rows = [(p.name, p.disbursed, p.repaid) for p in report.pools]
    peak = max([abs(v) for _, out, back in rows for v in (out, back)] + [Decimal(1)])
    width, bar, left = 640, 14, 170
    height = 30 + len(rows) * (2 * bar + 14)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'role="img" aria-label="disbursed and repaid per funding source">',
        '<text x="0" y="16" font-size="12">■ disbursed 放款 <tspan fill="#1f6feb">'
        "■ repaid 回款</tspan></text>",
    ]
    y = 30
    for name, out, back in rows:
        label = _escape(name)
        parts.append(f'<text x="0" y="{y + bar}" font-size="12">{label}</text>')
        for value, colour, offset in ((out, "#b4232a", 0), (back, "#1f6feb", bar + 2)):
            length = int((abs(value) / peak) * (width - left - 90))
            parts.append(
                f'<rect x="{left}" y="{y + offset}" width="{length}" height="{bar}" '
                f'fill="{colour}"/><text x="{left + length + 4}" y="{y + offset + bar - 3}" '
                f'font-size="11">{value:,.2f}</text>'
            )
        y += 2 * bar + 14
    parts.append("</svg>")
    return "".join(parts)


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def to_html(report: FundFlow, runtime: Runtime) -> str:
    """The report as one HTML page with an inline SVG chart, laid out by
    ``templates/reports/fund_flow.html`` (a tenant may override it)."""
    return report_kit.render_html(runtime, TEMPLATE, report, chart=_chart(report))
