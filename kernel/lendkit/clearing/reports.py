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

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateNotFound
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lendkit.clearing.funding import FundingSource
from lendkit.clearing.ledger import Account, JournalEntry, JournalLine
from lendkit.clearing.money import ZERO, money
from lendkit.clearing.reconcile.models import ReconRun

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = ["ChannelFlow", "FundFlow", "PoolFlow", "fund_flow", "to_csv", "to_html", "to_xlsx"]

COMPONENTS = {
    "loan_principal": "principal",
    "loan_interest": "interest",
    "loan_penalty": "penalty",
    "loan_fees": "fees",
}


@dataclass
class PoolFlow:
    source: str
    name: str
    opening: Decimal = ZERO
    disbursed: Decimal = ZERO
    repaid: Decimal = ZERO
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    penalty: Decimal = ZERO
    fees: Decimal = ZERO
    partner_settlements: Decimal = ZERO
    capital: Decimal = ZERO
    other: Decimal = ZERO
    closing: Decimal = ZERO

    @property
    def ties(self) -> bool:
        moved = self.repaid + self.capital + self.other - self.disbursed - self.partner_settlements
        return self.opening + moved == self.closing


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
    def ties(self) -> bool:
        moved = (
            self.reserved
            + self.collected
            + self.other
            - self.paid_out
            - self.settled
            - self.fees_booked
        )
        return self.opening + moved == self.closing


@dataclass
class FundFlow:
    business_date: date
    pools: list[PoolFlow] = field(default_factory=list)
    channels: list[ChannelFlow] = field(default_factory=list)

    @property
    def ties(self) -> bool:
        return all(p.ties for p in self.pools) and all(c.ties for c in self.channels)


def _kind(code: str) -> str:
    return code.partition(":")[0]


def _qualifier(code: str) -> str:
    return code.partition(":")[2]


def _balances_before(session: Session, day: date) -> dict[str, Decimal]:
    rows = session.execute(
        select(Account.code, func.coalesce(func.sum(JournalLine.amount), 0))
        .join(JournalLine, JournalLine.account_id == Account.id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(
            JournalEntry.business_date < day,
            Account.code.like("fund\\_pool:%", escape="\\")
            | Account.code.like("channel\\_in\\_transit:%", escape="\\"),
        )
        .group_by(Account.code)
    )
    return {code: money(total) for code, total in rows}


def fund_flow(session: Session, business_date: date) -> FundFlow:
    """The report for one business date, read from the journal."""
    opening = _balances_before(session, business_date)
    lines = session.execute(
        select(JournalLine.entry_id, Account.code, JournalLine.amount, JournalLine.source)
        .join(Account, Account.id == JournalLine.account_id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.business_date == business_date)
    ).all()
    reversals = set(
        session.scalars(
            select(JournalEntry.id).where(
                JournalEntry.business_date == business_date, JournalEntry.reverses_id.is_not(None)
            )
        )
    )
    kinds: dict[int, set[str]] = defaultdict(set)
    for entry_id, code, _, _ in lines:
        kinds[entry_id].add(_kind(code))

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
        (pool if _kind(code) == "fund_pool" else channel)(_qualifier(code)).opening = balance
    for source in names:
        pool(source)

    for entry_id, code, raw, funder in lines:
        amount = money(raw)
        kind, others = _kind(code), kinds[entry_id] - {_kind(code)}
        # The sign the line would have in the original entry (reversals net against it).
        original = -amount if entry_id in reversals else amount
        if kind == "fund_pool":
            flow = pool(_qualifier(code))
            if "channel_in_transit" in others:
                if original < 0:
                    flow.disbursed -= amount
                else:
                    flow.repaid += amount
            elif "partner_payable" in others:
                flow.partner_settlements -= amount
            elif "funding_capital" in others:
                flow.capital += amount
            else:
                flow.other += amount
        elif kind == "channel_in_transit":
            movement = channel(_qualifier(code))
            if "fund_pool" in others:
                if original > 0:
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
        elif kind in COMPONENTS and "borrower_suspense" in others and funder:
            # Allocation of a repayment to this funder's receivable (a credit).
            component = COMPONENTS[kind]
            flow = pool(funder)
            setattr(flow, component, getattr(flow, component) - amount)

    for flow in pools.values():
        flow.closing = (
            flow.opening
            + flow.repaid
            + flow.capital
            + flow.other
            - flow.disbursed
            - flow.partner_settlements
        )
    fees = _channel_fees(session, business_date)
    for name, total in fees.items():
        channel(name).channel_fees = total
    for movement in channels.values():
        movement.closing = (
            movement.opening
            + movement.reserved
            + movement.collected
            + movement.other
            - movement.paid_out
            - movement.settled
            - movement.fees_booked
        )
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

POOL_COLUMNS = [f.name for f in fields(PoolFlow)]
CHANNEL_COLUMNS = [f.name for f in fields(ChannelFlow)]


def to_csv(report: FundFlow) -> str:
    """Two tables, funding sources then channels, each with its header row,
    separated by an empty line; a UTF-8 byte-order mark first so spreadsheet
    programs read the Chinese names right."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["business_date", report.business_date.isoformat()])
    writer.writerow([])
    writer.writerow(POOL_COLUMNS)
    for pool in report.pools:
        writer.writerow([_cell(getattr(pool, name)) for name in POOL_COLUMNS])
    writer.writerow([])
    writer.writerow(CHANNEL_COLUMNS)
    for channel in report.channels:
        writer.writerow([_cell(getattr(channel, name)) for name in CHANNEL_COLUMNS])
    return out.getvalue()


def to_xlsx(report: FundFlow) -> bytes:
    """The same two tables as sheets, amounts as numbers at the fen, and a bar
    chart of each source's money out and in for the day."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    book = Workbook()
    pools = book.active
    assert pools is not None
    pools.title = "资金来源 Funding sources"
    channels = book.create_sheet("通道 Channels")
    for sheet, columns, rows in (
        (pools, POOL_COLUMNS, report.pools),
        (channels, CHANNEL_COLUMNS, report.channels),
    ):
        sheet.append(columns)
        for row in rows:
            sheet.append([getattr(row, name) for name in columns])
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, Decimal):
                    cell.number_format = "#,##0.00"
        sheet.freeze_panes = "A2"
    if report.pools:
        chart = BarChart()
        chart.title = f"资金流水 {report.business_date.isoformat()}"
        last = len(report.pools) + 1
        for column in ("disbursed", "repaid"):
            index = POOL_COLUMNS.index(column) + 1
            chart.add_data(
                Reference(pools, min_col=index, min_row=1, max_row=last), titles_from_data=True
            )
        chart.set_categories(Reference(pools, min_col=1, min_row=2, max_row=last))
        pools.add_chart(chart, f"A{last + 3}")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, Decimal) else str(value)


TEMPLATE = "reports/fund_flow.html"
DEFAULT_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>资金流水报表 {{ day }} · {{ tenant.display_name }}</title>
<style>
 body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2rem; }
 h1 { color: {{ tenant.primary_colour }}; font-size: 1.4rem; }
 table { border-collapse: collapse; margin: 1rem 0 2rem; }
 th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }
 th:first-child, td:first-child { text-align: left; }
 .bad { color: #b4232a; font-weight: bold; }
</style></head><body>
<h1>资金流水报表 Daily fund flow · {{ day }}</h1>
<p>{{ tenant.name }}{% if not report.ties %} · <span class="bad">does not tie to the ledger</span>{% endif %}</p>
{{ chart | safe }}
<h2>资金来源 Funding sources</h2>
<table><tr><th>source</th><th>opening 期初</th><th>disbursed 放款</th><th>repaid 回款</th>
<th>principal 本金</th><th>interest 利息</th><th>penalty 罚息</th><th>fees 费用</th>
<th>partner 合作方结算</th><th>capital 注资</th><th>other 其他</th><th>closing 期末</th></tr>
{% for p in report.pools %}<tr><td>{{ p.name }} ({{ p.source }})</td>
{% for v in (p.opening, p.disbursed, p.repaid, p.principal, p.interest, p.penalty, p.fees,
  p.partner_settlements, p.capital, p.other, p.closing) %}<td>{{ "{:,.2f}".format(v) }}</td>{% endfor %}</tr>
{% endfor %}</table>
<h2>支付通道 Channels</h2>
<table><tr><th>channel</th><th>opening 期初</th><th>reserved 备付</th><th>paid out 放款</th>
<th>collected 代扣</th><th>settled 回款</th><th>fees booked 通道费入账</th><th>other 其他</th>
<th>closing 期末</th><th>statement fees 对账单通道费</th></tr>
{% for c in report.channels %}<tr><td>{{ c.channel }}</td>
{% for v in (c.opening, c.reserved, c.paid_out, c.collected, c.settled, c.fees_booked, c.other,
  c.closing, c.channel_fees) %}<td>{{ "{:,.2f}".format(v) }}</td>{% endfor %}</tr>
{% endfor %}</table>
</body></html>
"""


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
    """The report as one HTML page with an inline SVG chart; a tenant may override
    the layout with ``templates/reports/fund_flow.html``."""
    from lendkit.templating import make_environment

    env = make_environment(runtime.settings, runtime.pm)
    try:
        template = env.get_template(TEMPLATE)
    except TemplateNotFound:
        template = env.from_string(DEFAULT_TEMPLATE)
    context: dict[str, Any] = {
        "report": report,
        "day": report.business_date.isoformat(),
        "chart": _chart(report),
    }
    return template.render(**context)
