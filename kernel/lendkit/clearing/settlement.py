"""The daily partner settlement statement (合作机构结算单), and paying a partner.

A co-lending partner funds its share of each loan from its pool
(``fund_pool:<source>``); repayments bring its share of every component back
to that pool (``colending.repayment_settled``). Principal returned there is
the partner's capital, back in its pool. Its share of interest, penalty and
fees is *not our income*: it is credited to ``partner_payable:<source>`` when
it accrues (``colending.accrued``), and we owe it to the partner once the
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

Paying the partner (:func:`settle_partner`) posts Dr ``partner_payable`` /
Cr ``fund_pool`` *of the same source*: the cash of the partner's income sits
in its own pool (the repayment settled it there), so that is where it
leaves from; the fund-flow report shows it as that pool's "partner
settlements". A payment is limited to what is due, idempotent by the
caller's key (the bank transfer's reference), and audited.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateNotFound
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from lendkit import audit
from lendkit.clearing import ledger
from lendkit.clearing.funding import FundingSource
from lendkit.clearing.ledger import Account, JournalEntry, JournalLine, Line
from lendkit.clearing.money import ZERO, money
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = [
    "LOAN_COLUMNS",
    "SUMMARY_COLUMNS",
    "LoanDetail",
    "PartnerStatement",
    "SettlementReport",
    "due",
    "partner_settlement",
    "settle_partner",
    "to_csv",
    "to_html",
    "to_xlsx",
]

COMPONENTS = {
    "loan_principal": "principal",
    "loan_interest": "interest",
    "loan_penalty": "penalty",
    "loan_fees": "fees",
}
INCOME_RECEIVABLES = ("loan_interest", "loan_penalty", "loan_fees")
KEY_PREFIX = "partner-settlement:"


@dataclass
class LoanDetail:
    """One loan's movements for one partner on the day (the partner's parts only)."""

    source: str
    loan_id: int | None
    disbursed: Decimal = ZERO
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    penalty: Decimal = ZERO
    fees: Decimal = ZERO
    repaid: Decimal = ZERO  # settled back to the partner's pool
    accrued: Decimal = ZERO  # interest, penalty and fees credited to the payable


@dataclass
class PartnerStatement:
    source: str
    name: str
    # The day's business with the partner's loans.
    disbursed: Decimal = ZERO
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    penalty: Decimal = ZERO
    fees: Decimal = ZERO
    repaid: Decimal = ZERO
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
    def collected(self) -> Decimal:
        """Everything the borrowers paid the partner today (allocated to its parts)."""
        return self.principal + self.interest + self.penalty + self.fees

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


def _kind(code: str) -> str:
    return code.partition(":")[0]


def _qualifier(code: str) -> str:
    return code.partition(":")[2]


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


def _balances_before(session: Session, codes: list[str], day: date) -> dict[str, Decimal]:
    rows = session.execute(
        select(Account.code, func.coalesce(func.sum(JournalLine.amount), 0))
        .join(JournalLine, JournalLine.account_id == Account.id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.business_date < day, Account.code.in_(codes))
        .group_by(Account.code)
    )
    return {code: money(total) for code, total in rows}


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
    return {_qualifier(code): money(total) for code, total in session.execute(query)}


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

    opening = _balances_before(session, [*pools, *payables], business_date)
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
    day_lines = (
        select(JournalLine.entry_id)
        .join(Account, Account.id == JournalLine.account_id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.business_date == business_date, relevant)
    )
    lines = session.execute(
        select(
            JournalLine.entry_id,
            Account.code,
            JournalLine.amount,
            JournalLine.source,
            JournalLine.loan_id,
        )
        .join(Account, Account.id == JournalLine.account_id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.business_date == business_date, relevant)
        .order_by(JournalLine.id)
    ).all()
    kinds: dict[int, set[str]] = defaultdict(set)
    for entry_id, code in session.execute(
        select(JournalLine.entry_id, Account.code)
        .join(Account, Account.id == JournalLine.account_id)
        .where(JournalLine.entry_id.in_(day_lines))
    ):
        kinds[entry_id].add(_kind(code))
    reversals = set(
        session.scalars(
            select(JournalEntry.id).where(
                JournalEntry.id.in_(day_lines), JournalEntry.reverses_id.is_not(None)
            )
        )
    )

    for entry_id, code, raw, funder, loan_id in lines:
        amount = money(raw)
        kind, others = _kind(code), kinds[entry_id] - {_kind(code)}
        # The sign the line would have in the original entry (reversals net against it).
        original = -amount if entry_id in reversals else amount
        if code in pools:
            st = statements[pools[code]]
            if "channel_in_transit" in others:
                if original < 0:
                    st.disbursed -= amount
                    loan(st.source, loan_id).disbursed -= amount
                else:
                    st.repaid += amount
                    loan(st.source, loan_id).repaid += amount
            elif "partner_payable" in others:
                st.pool_paid -= amount
            elif "funding_capital" in others:
                st.capital += amount
            else:
                st.pool_other += amount
        elif code in payables:
            st = statements[payables[code]]
            if others & set(INCOME_RECEIVABLES):
                st.accrued -= amount
                loan(st.source, loan_id).accrued -= amount
            elif "fund_pool" in others:
                st.paid += amount
            else:
                st.payable_other -= amount
        elif kind in COMPONENTS and "borrower_suspense" in others and funder in statements:
            # A repayment allocated to this partner's part of a receivable (a credit).
            component = COMPONENTS[kind]
            for row in (statements[str(funder)], loan(str(funder), loan_id)):
                setattr(row, component, getattr(row, component) - amount)

    trial = dict(ledger.trial_balance(session, business_date).rows)
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
            kept = sign * ledger.balance(session, code)
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


# -- Paying the partner -------------------------------------------------------------


def settle_partner(
    session: Session,
    source: str,
    business_date: date,
    amount: Decimal,
    idempotency_key: str,
    *,
    actor: str = "system",
    note: str = "",
) -> JournalEntry:
    """Record that ``amount`` of the partner's due income was paid to it; audited.

    Posts Dr ``partner_payable:<source>`` / Cr ``fund_pool:<source>`` in the
    caller's transaction. The same key again returns the first entry; the same
    key for another amount, partner or date is ``409 idempotency_key_reused``.
    Refused: an unknown partner (``unknown_partner``), an amount that is not
    positive whole fen (``invalid_amount``), a future business date
    (``invalid_business_date``), more than :func:`due` (``settlement_exceeds_due``)
    and more than the pool holds (``insufficient_funds``, from the ledger).
    """
    from lendkit.clearing.payments import business_today

    if not idempotency_key or len(idempotency_key) > 128 - len(KEY_PREFIX):
        raise ValidationFailed(
            "an idempotency key of 1 to 100 characters is required",
            code="idempotency_key_missing",
        )
    try:
        value = money(amount)
    except (TypeError, InvalidOperation):
        raise ValidationFailed(f"amount {amount!r} is not money", code="invalid_amount") from None
    if value <= 0 or value != amount:
        raise ValidationFailed(
            f"amount {amount} must be positive, in whole fen", code="invalid_amount"
        )
    # Lock the partner: settlements of one partner are checked against what is due one at a time.
    partner = session.scalar(
        select(FundingSource)
        .where(FundingSource.code == source, FundingSource.kind == "partner")
        .with_for_update()
    )
    if partner is None:
        raise NotFoundError(f"no partner funding source {source!r}", code="unknown_partner")
    key = KEY_PREFIX + idempotency_key
    lines = [
        Line.debit(f"partner_payable:{source}", value, source=source),
        Line.credit(f"fund_pool:{source}", value, source=source),
    ]
    existing = session.scalar(select(JournalEntry).where(JournalEntry.idempotency_key == key))
    if existing is not None:
        theirs = sorted((line.account.code, line.amount) for line in existing.lines)
        ours = sorted((line.account, line.amount) for line in lines)
        if theirs != ours or existing.business_date != business_date:
            raise ConflictError(
                f"idempotency key {idempotency_key!r} was used for a different settlement",
                code="idempotency_key_reused",
            )
        return existing
    if business_date > business_today():
        raise ValidationFailed(
            f"business date {business_date} is in the future", code="invalid_business_date"
        )
    owed = due(session, source, business_date)
    if value > owed:
        raise ValidationFailed(
            f"{source} is due {owed} on {business_date}; {value} is more",
            code="settlement_exceeds_due",
        )
    entry = ledger.post(
        session,
        business_date=business_date,
        idempotency_key=key,
        cause=f"partner_settlement:{source}",
        memo=(f"paid to {source}" + (f": {note}" if note else ""))[:256],
        lines=lines,
    )
    audit.record(
        session,
        actor,
        "partner.settled",
        f"funding_source:{source}",
        amount=str(value),
        business_date=business_date.isoformat(),
        entry_id=entry.id,
        key=idempotency_key,
        note=note[:256],
    )
    return entry


# -- Output ------------------------------------------------------------------------

SUMMARY_COLUMNS = [
    "source",
    "name",
    "disbursed",
    "principal",
    "interest",
    "penalty",
    "fees",
    "collected",
    "repaid",
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
LOAN_COLUMNS = [
    "source",
    "loan_id",
    "disbursed",
    "principal",
    "interest",
    "penalty",
    "fees",
    "collected",
    "repaid",
    "accrued",
]


def _summary_row(st: PartnerStatement) -> list[Any]:
    return [
        ("yes" if st.ties else "NO") if name == "reconciled" else getattr(st, name)
        for name in SUMMARY_COLUMNS
    ]


def _loan_row(detail: LoanDetail) -> list[Any]:
    values = {
        **{name: getattr(detail, name) for name in LOAN_COLUMNS if name != "collected"},
        "collected": detail.principal + detail.interest + detail.penalty + detail.fees,
    }
    return [values[name] for name in LOAN_COLUMNS]


def _cell(value: object) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if isinstance(value, Decimal) else str(value)


def to_csv(report: SettlementReport) -> str:
    """Two tables, the partners' summaries then the loan lines, each with its
    header row, separated by an empty line; a UTF-8 byte-order mark first so
    spreadsheet programs read the Chinese names right (like the fund-flow report)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["business_date", report.business_date.isoformat()])
    writer.writerow([])
    writer.writerow(SUMMARY_COLUMNS)
    for st in report.partners:
        writer.writerow([_cell(v) for v in _summary_row(st)])
    writer.writerow([])
    writer.writerow(LOAN_COLUMNS)
    for st in report.partners:
        for detail in st.loans:
            writer.writerow([_cell(v) for v in _loan_row(detail)])
    return out.getvalue()


def to_xlsx(report: SettlementReport) -> bytes:
    """The same two tables as sheets, amounts as numbers formatted to the fen."""
    from openpyxl import Workbook

    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "结算汇总 Summary"
    details = book.create_sheet("贷款明细 Loans")
    summary.append(SUMMARY_COLUMNS)
    for st in report.partners:
        summary.append(_summary_row(st))
    details.append(LOAN_COLUMNS)
    for st in report.partners:
        for detail in st.loans:
            details.append(_loan_row(detail))
    for sheet in (summary, details):
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, Decimal):
                    cell.number_format = "#,##0.00"
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


TEMPLATE = "reports/partner_settlement.html"
DEFAULT_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>合作机构结算单 {{ day }} · {{ tenant.display_name }}</title>
<style>
 body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2rem; }
 h1 { color: {{ tenant.primary_colour }}; font-size: 1.4rem; }
 table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
 th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }
 th:first-child, td:first-child { text-align: left; }
 .bad { color: #b4232a; font-weight: bold; }
 .due { font-size: 1.2rem; }
</style></head><body>
<h1>合作机构结算单 Partner settlement statement · {{ day }}</h1>
<p>{{ tenant.name }}</p>
{% for p in report.partners %}
<h2>{{ p.name }} ({{ p.source }})</h2>
{% if p.problems %}<p class="bad">does not reconcile with the ledger:</p>
<ul class="bad">{% for problem in p.problems %}<li>{{ problem }}</li>{% endfor %}</ul>
{% else %}<p>reconciled with the ledger 与总账核对一致</p>{% endif %}
<p class="due">due to the partner 应付未付: <strong>{{ money(p.due) }}</strong>
 (collected income 已收收益 {{ money(p.due_opening) }} + {{ money(p.income) }} − paid 已付 {{ money(p.paid) }})</p>
<table><tr><th>today 当日</th><th>disbursed 放款</th><th>principal 本金</th><th>interest 利息</th>
<th>penalty 罚息</th><th>fees 费用</th><th>collected 回收合计</th><th>repaid to pool 回款入池</th></tr>
<tr><td>{{ p.source }}</td>{% for v in (p.disbursed, p.principal, p.interest, p.penalty, p.fees,
 p.collected, p.repaid) %}<td>{{ money(v) }}</td>{% endfor %}</tr></table>
<table><tr><th>account 科目</th><th>opening 期初</th><th>in 增加</th><th>out 减少</th>
<th>other 其他</th><th>closing 期末</th><th>ledger 总账</th></tr>
<tr><td>partner_payable:{{ p.source }} 应付合作机构款</td><td>{{ money(p.payable_opening) }}</td>
<td>{{ money(p.accrued) }}</td><td>{{ money(p.paid) }}</td><td>{{ money(p.payable_other) }}</td>
<td>{{ money(p.payable_closing) }}</td><td>{{ money(p.ledger_payable) }}</td></tr>
<tr><td>fund_pool:{{ p.source }} 资金池</td><td>{{ money(p.pool_opening) }}</td>
<td>{{ money(p.repaid + p.capital) }}</td><td>{{ money(p.disbursed + p.pool_paid) }}</td>
<td>{{ money(p.pool_other) }}</td><td>{{ money(p.pool_closing) }}</td><td>{{ money(p.ledger_pool) }}</td></tr>
</table>
{% if p.loans %}<table><tr><th>loan 贷款</th><th>disbursed 放款</th><th>principal 本金</th>
<th>interest 利息</th><th>penalty 罚息</th><th>fees 费用</th><th>repaid 回款入池</th><th>accrued 计提</th></tr>
{% for d in p.loans %}<tr><td>{{ d.loan_id if d.loan_id is not none else "—" }}</td>
{% for v in (d.disbursed, d.principal, d.interest, d.penalty, d.fees, d.repaid, d.accrued) %}<td>{{ money(v) }}</td>{% endfor %}</tr>
{% endfor %}</table>{% endif %}
{% else %}<p>no partner funding sources 无合作机构</p>
{% endfor %}
</body></html>
"""


def to_html(report: SettlementReport, runtime: Runtime) -> str:
    """The statement as one HTML page; a tenant may override the layout with
    ``templates/reports/partner_settlement.html``."""
    from lendkit.templating import make_environment

    env = make_environment(runtime.settings, runtime.pm)
    try:
        template = env.get_template(TEMPLATE)
    except TemplateNotFound:
        template = env.from_string(DEFAULT_TEMPLATE)
    return template.render(
        report=report,
        day=report.business_date.isoformat(),
        money=lambda value: f"{value:,.2f}",
    )
