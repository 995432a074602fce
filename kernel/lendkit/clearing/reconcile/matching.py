"""Matching a statement against our orders and the ledger; queueing the mismatches.

The match is set-based: the database merges each order's lines, joins them
to the orders and to the journal, and classifies every order; only the
mismatches come back as rows (the rest are counted), so a million-line file
costs seconds and little memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Select,
    Subquery,
    and_,
    case,
    distinct,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from lendkit.clearing import payments
from lendkit.clearing.ledger_models import Account, JournalEntry, JournalLine
from lendkit.clearing.money import ZERO, money
from lendkit.clearing.payments import PaymentOrder, Status
from lendkit.clearing.reconcile.fees import book_fees
from lendkit.clearing.reconcile.models import (
    KINDS,
    ChannelStatement,
    ChannelStatementLine,
    Kind,
    ReconException,
    ReconRun,
)
from lendkit.clearing.reconcile.resolution import close
from lendkit.clearing.reconcile.statements import INSERT_CHUNK
from lendkit.db import utcnow

__all__ = ["match"]


@dataclass(frozen=True, slots=True)
class _Finding:
    kind: Kind
    order_no: str
    payment_kind: str
    detail: str
    statement_amount: Decimal | None = None
    statement_status: str | None = None
    settled_on: date | None = None
    order_amount: Decimal | None = None
    order_status: str | None = None
    loan_id: int | None = None
    ledger_amount: Decimal | None = None


def _transit_accounts(session: Session) -> list[int]:
    """Ids of every channel's in-transit account (the chart has few accounts)."""
    rows = session.execute(select(Account.id, Account.code))
    return [id_ for id_, code in rows if code.partition(":")[0] == "channel_in_transit"]


def _result_key(order: Any) -> ColumnElement[str]:
    """The idempotency key of the entry that posted an order's result (see payments)."""
    suffix = case((order.c.kind == "disburse", literal(":confirm")), else_=literal(":receive"))
    key: ColumnElement[str] = literal("payment:") + order.c.order_no + suffix
    return key


def _differs(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[bool]:
    # Rounded: SQLite keeps NUMERIC as binary floating point.
    return func.round(a - b, 2) != 0


def _merged_lines(statement_id: int) -> Subquery:
    """One row per order: duplicate lines add up.

    Lines of one order merge as they are read in order: succeeded lines add
    up (a doubled payout shows as an amount mismatch) and carry the last
    succeeded line's kind and date; an order with no succeeded line is its
    last line.
    """
    line = ChannelStatementLine.__table__
    succeeded = line.c.status == "succeeded"
    ranked = (
        select(
            line.c.order_no,
            line.c.kind,
            line.c.amount,
            line.c.status,
            line.c.settled_on,
            func.sum(case((succeeded, line.c.amount), else_=ZERO))
            .over(partition_by=line.c.order_no)
            .label("succeeded_amount"),
            func.row_number()
            .over(
                partition_by=line.c.order_no,
                order_by=(case((succeeded, 0), else_=1), line.c.line_no.desc()),
            )
            .label("rank"),
        )
        .where(line.c.statement_id == statement_id)
        .subquery("ranked")
    )
    return (
        select(
            ranked.c.order_no,
            ranked.c.kind,
            ranked.c.status,
            ranked.c.settled_on,
            case(
                (ranked.c.status == "succeeded", ranked.c.succeeded_amount),
                else_=ranked.c.amount,
            ).label("amount"),
        )
        .where(ranked.c.rank == 1)
        .subquery("merged")
    )


def _statement_side(statement: ChannelStatement, transit: list[int]) -> Select[Any]:
    """The statement's orders that do not match, each classified.

    One pass: merged lines (in order-number order, from the index) each look
    up their order, its result entry by key (unless reversed) and that
    entry's lines in a channel account; the per-order group sums those lines
    (the other columns are one value per order, hence ``max``).
    """
    merged = _merged_lines(statement.id)
    order = PaymentOrder.__table__
    entry = JournalEntry.__table__
    line = JournalLine.__table__
    reversal = entry.alias("reversal")
    per_order = (
        select(
            merged.c.order_no,
            func.max(merged.c.kind).label("line_kind"),
            func.max(merged.c.amount).label("line_amount"),
            func.max(merged.c.status).label("line_status"),
            func.max(merged.c.settled_on).label("settled_on"),
            func.max(order.c.order_no).label("our_no"),
            func.max(order.c.kind).label("our_kind"),
            func.max(order.c.amount).label("our_amount"),
            func.max(order.c.status).label("our_status"),
            func.max(order.c.loan_id).label("loan_id"),
            func.coalesce(func.sum(func.abs(line.c.amount)), ZERO).label("booked"),
        )
        .select_from(merged)
        .outerjoin(
            order, and_(order.c.order_no == merged.c.order_no, order.c.channel == statement.channel)
        )
        .outerjoin(
            entry,
            and_(
                entry.c.idempotency_key == _result_key(order),
                ~exists().where(reversal.c.reverses_id == entry.c.id),
            ),
        )
        .outerjoin(line, and_(line.c.entry_id == entry.c.id, line.c.account_id.in_(transit)))
        .group_by(merged.c.order_no)
        .subquery("per_order")
    )
    p = per_order.c
    ok_here, ok_there = p.our_status == Status.CONFIRMED, p.line_status == "succeeded"
    finding = case(
        (p.our_no.is_(None), "missing_ours"),
        (
            or_(
                p.our_status.not_in([str(s) for s in payments.FINAL]),
                and_(ok_here, ~ok_there),
                and_(~ok_here, ok_there),
            ),
            "status_mismatch",
        ),
        (and_(ok_there, _differs(p.line_amount, p.our_amount)), "amount_mismatch"),
        (and_(ok_there, _differs(p.line_amount, p.booked)), "amount_mismatch"),
        else_="matched",
    )
    classified = select(per_order, finding.label("finding")).subquery("classified")
    c = classified.c
    # The finding, then every column of the order's row but our order number.
    wanted = [c.finding, *(c[column.name] for column in per_order.c if column.name != "our_no")]
    return select(*wanted).where(c.finding != "matched")


def _missing_theirs(statement: ChannelStatement, transit: list[int]) -> Select[Any]:
    """Orders we confirmed with that result date which the statement does not list."""
    order = PaymentOrder.__table__
    entry = JournalEntry.__table__
    line = JournalLine.__table__
    reversal = entry.alias("reversal")
    listed = ChannelStatementLine.__table__
    booked = (
        select(func.coalesce(func.sum(func.abs(line.c.amount)), ZERO))
        .select_from(entry.join(line, line.c.entry_id == entry.c.id))
        .where(
            entry.c.idempotency_key == _result_key(order),
            line.c.account_id.in_(transit),
            ~exists().where(reversal.c.reverses_id == entry.c.id),
        )
        .scalar_subquery()
    )
    return select(
        order.c.order_no, order.c.kind, order.c.amount, order.c.status, order.c.loan_id, booked
    ).where(
        order.c.channel == statement.channel,
        order.c.result_date == statement.business_date,
        order.c.status == Status.CONFIRMED,
        ~exists().where(
            listed.c.statement_id == statement.id, listed.c.order_no == order.c.order_no
        ),
    )


def _amount(value: Any) -> Decimal | None:
    return None if value is None else money(Decimal(str(value)))


def _findings(session: Session, statement: ChannelStatement) -> tuple[list[_Finding], int, Decimal]:
    """The mismatches, how many orders matched and the succeeded amount they carry."""
    transit = _transit_accounts(session)
    findings: list[_Finding] = []
    for row in session.execute(_statement_side(statement, transit)):
        kind, number, line_kind, line_amount, line_status, settled_on = row[:6]
        our_kind, our_amount, our_status, loan_id, booked = row[6:]
        line_amount, our_amount, booked = _amount(line_amount), _amount(our_amount), _amount(booked)
        if kind == "missing_ours":
            detail, booked = "no such order here", None
        elif kind == "status_mismatch":
            detail = f"channel {line_status}, we {our_status}"
        elif line_amount != our_amount:
            detail = f"channel moved {line_amount}, order is for {our_amount}"
        else:
            detail = f"ledger booked {booked}, channel moved {line_amount}"
        # _Finding's fields from statement_amount on, in their order.
        sides = (line_amount, line_status, settled_on, our_amount, our_status, loan_id, booked)
        findings.append(_Finding(kind, number, our_kind or line_kind, detail, *sides))
    # Every other order on the statement matched; the statement's succeeded
    # total is the sum of its orders' merged succeeded amounts.
    orders = session.scalar(
        select(func.count(distinct(ChannelStatementLine.order_no))).where(
            ChannelStatementLine.statement_id == statement.id
        )
    )
    matched = int(orders or 0) - len(findings)
    matched_total = statement.total_amount - sum(
        (f.statement_amount or ZERO for f in findings if f.statement_status == "succeeded"), ZERO
    )
    for number, our_kind, amount, status, loan_id, booked in session.execute(
        _missing_theirs(statement, transit)
    ):
        findings.append(
            _Finding(
                "missing_theirs",
                number,
                our_kind,
                "confirmed here, not on the channel's statement",
                settled_on=statement.business_date,
                order_amount=_amount(amount),
                order_status=status,
                loan_id=loan_id,
                ledger_amount=_amount(booked),
            )
        )
    findings.sort(key=lambda f: (KINDS.index(f.kind), f.order_no))
    return findings, matched, money(matched_total)


def match(session: Session, statement: ChannelStatement) -> ReconRun:
    """Match one imported statement against orders and ledger; queue the exceptions;
    book the channel's fees for the day (see :func:`book_fees`)."""
    started = utcnow()
    findings, matched, matched_total = _findings(session, statement)
    fees = session.scalar(
        select(func.coalesce(func.sum(ChannelStatementLine.fee), ZERO)).where(
            ChannelStatementLine.statement_id == statement.id
        )
    )
    counts = {kind: sum(1 for f in findings if f.kind == kind) for kind in KINDS}
    run = ReconRun(
        channel=statement.channel,
        business_date=statement.business_date,
        statement_id=statement.id,
        started_at=started,
        finished_at=utcnow(),
        lines=statement.line_count,
        matched=matched,
        statement_total=statement.total_amount,
        matched_total=matched_total,
        fees=money(Decimal(str(fees or 0))),
        **counts,
    )
    session.add(run)
    session.flush()
    _queue(session, run, findings)
    book_fees(session, statement.channel, statement.business_date, run.fees)
    return run


def _queue(session: Session, run: ReconRun, findings: Sequence[_Finding]) -> None:
    existing = {
        (e.kind, e.order_no): e
        for e in session.scalars(
            select(ReconException).where(
                ReconException.channel == run.channel,
                ReconException.business_date == run.business_date,
            )
        )
    }
    found = {(f.kind, f.order_no) for f in findings}
    now = utcnow()
    new = [
        {
            "channel": run.channel,
            "business_date": run.business_date,
            "kind": f.kind,
            "order_no": f.order_no,
            "payment_kind": f.payment_kind,
            "loan_id": f.loan_id,
            "statement_amount": f.statement_amount,
            "statement_status": f.statement_status,
            "order_amount": f.order_amount,
            "order_status": f.order_status,
            "ledger_amount": f.ledger_amount,
            "settled_on": f.settled_on or run.business_date,
            "detail": f.detail[:256],
            "status": "open",
            "run_id": run.id,
            "created_at": now,
        }
        for f in findings
        if (f.kind, f.order_no) not in existing
    ]
    for start in range(0, len(new), INSERT_CHUNK):
        session.execute(insert(ReconException), new[start : start + INSERT_CHUNK])
    for seen, exception in existing.items():
        if seen not in found and exception.status == "open":
            close(session, exception, "cleared", "system", f"not found again by run {run.id}", [])
    session.flush()
